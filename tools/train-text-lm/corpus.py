"""Training text for the platform's default text models, read from Debian packages (offline).

Sources (named with their licences in each model card):
  fortunes-zh  (GPL-3.0+): /usr/share/games/fortunes/{tang300,song100,chinese}
               Tang poems, Song ci, and Chinese sayings and quotations.
  fortunes-min (BSD-4-Clause style, see /usr/share/doc/fortunes-min/copyright):
               /usr/share/games/fortunes/{fortunes,literature,riddles}, English fortunes.
Entries are separated by `%` lines; ANSI colour codes in fortunes-zh are removed.
Every 20th entry of each file is held out for evaluation.
"""
import re
from pathlib import Path

FORTUNES = Path("/usr/share/games/fortunes")
SOURCES = {
    "tang300": ("fortunes-zh", "GPL-3.0+"),
    "song100": ("fortunes-zh", "GPL-3.0+"),
    "chinese": ("fortunes-zh", "GPL-3.0+"),
    "fortunes": ("fortunes-min", "BSD"),
    "literature": ("fortunes-min", "BSD"),
    "riddles": ("fortunes-min", "BSD"),
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
HOLD_OUT_EVERY = 20


def load_entries(name: str) -> list[str]:
    path = FORTUNES / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: apt-get install -y fortunes-zh fortunes-min")
    text = ANSI.sub("", path.read_text(encoding="utf-8", errors="replace"))
    entries = [e.strip("\n") for e in re.split(r"\n%\n", text)]
    return [e.strip() for e in entries if e.strip()]


def split_corpus() -> tuple[list[str], list[str], dict]:
    """Returns (train entries, held-out entries, per-source statistics)."""
    train: list[str] = []
    held: list[str] = []
    stats = {}
    for name, (package, licence) in SOURCES.items():
        entries = load_entries(name)
        tr = [e for i, e in enumerate(entries) if i % HOLD_OUT_EVERY != HOLD_OUT_EVERY - 1]
        ho = [e for i, e in enumerate(entries) if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1]
        train += tr
        held += ho
        stats[name] = {"package": package, "licence": licence, "entries": len(entries), "chars": sum(len(e) for e in entries)}
    return train, held, stats
