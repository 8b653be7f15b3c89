"""Training sentences: English from Debian's fortunes-min, Chinese from fortunes-zh (both offline).

English: `fortunes`, `literature`, `riddles` (BSD fortune(6) databases) and the license texts in
/usr/share/common-licenses (Debian base-files), split into sentences of 3-16 plain words. Chinese: the `chinese` database of fortunes-zh (modern Chinese sayings and the Debian code
of conduct), split at sentence punctuation into runs of 4-20 Han characters (commas kept).
"""
import random
import re
from pathlib import Path

FORTUNES = Path("/usr/share/games/fortunes")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EN_OK = re.compile(r"^[A-Za-z][A-Za-z ,;:'-]*[A-Za-z][.?!]?$")
_HAN = re.compile(r"^[\u4e00-\u9fff，、]+$")


def _entries(name: str) -> list[str]:
    text = _ANSI.sub("", (FORTUNES / name).read_text(encoding="utf-8", errors="ignore"))
    return [e.strip() for e in text.split("\n%\n") if e.strip()]


def english(limit: int, seed: int) -> list[str]:
    seen, out = set(), []
    bodies = []
    for name in ("fortunes", "literature", "riddles"):
        for entry in _entries(name):
            bodies.append(" ".join(ln.strip() for ln in entry.split("\n") if not ln.strip().startswith("--")))
    for lic in sorted(Path("/usr/share/common-licenses").glob("*")):
        if lic.is_file():
            bodies.append(lic.read_text(encoding="utf-8", errors="ignore"))
    for body in bodies:
        for s in re.split(r"(?<=[.?!])\s+", re.sub(r"\s+", " ", body)):
            s = re.sub(r"^[QA]: ", "", s.strip().strip('"'))
            words = s.split()
            if 3 <= len(words) <= 16 and _EN_OK.match(s) and s.lower() not in seen:
                seen.add(s.lower())
                out.append(s if s[-1] in ".?!" else s + ".")
    random.Random(seed).shuffle(out)
    return out[:limit]


def chinese(limit: int, seed: int) -> list[str]:
    seen, out = set(), []
    for entry in _entries("chinese"):
        lines = [ln.strip() for ln in entry.split("\n") if ln.strip() and not ln.strip().startswith("--")]
        body = "".join(lines)
        for s in re.split(r"(?<=[。！？；])", body):
            core = s.rstrip("。！？；")
            if 4 <= len(core) <= 20 and _HAN.match(core) and core not in seen:
                seen.add(core)
                out.append(core + ("。" if not s.endswith(("！", "？")) else s[-1]))
    random.Random(seed).shuffle(out)
    return out[:limit]


if __name__ == "__main__":
    en, zh = english(100000, 1), chinese(100000, 1)
    print(len(en), len(zh))
    print(en[:5], zh[:5])
