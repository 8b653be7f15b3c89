"""Builds a Hugging Face `tokenizer.json`: character vocabulary with byte fallback (Llama-style).

The model is a BPE with no merges: every character in the vocabulary is one token, and any other
character falls back to its UTF-8 bytes (`<0xNN>` tokens), so every input encodes and every id
sequence decodes. Classical Chinese has no spaces and thousands of distinct characters; one token
per character is what a BPE trained on this little text would converge to anyway.
"""
import json
from collections import Counter

SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def build_vocab(texts: list[str], max_chars: int, min_count: int) -> list[str]:
    counts = Counter()
    for t in texts:
        counts.update(t)
    chars = [c for c, n in counts.most_common() if n >= min_count][:max_chars]
    # Printable ASCII is always present so English prompts never need byte fallback.
    for code in range(32, 127):
        if chr(code) not in chars:
            chars.append(chr(code))
    if "\n" not in chars:
        chars.append("\n")
    return chars


def tokenizer_json(chars: list[str]) -> dict:
    vocab: dict[str, int] = {}
    for s in SPECIALS:
        vocab[s] = len(vocab)
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for c in chars:
        if c not in vocab:
            vocab[c] = len(vocab)
    added = [
        {"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
        for s in SPECIALS
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": "<unk>",
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [],
        },
    }


class CharTokenizer:
    """Python twin of the tokenizer.json above, used for training (same ids by construction)."""

    def __init__(self, spec: dict):
        self.vocab: dict[str, int] = spec["model"]["vocab"]
        self.eos = self.vocab["</s>"]
        self.bos = self.vocab["<s>"]
        self.pad = self.vocab["<pad>"]

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for c in text:
            i = self.vocab.get(c)
            if i is not None:
                ids.append(i)
            else:
                ids.extend(self.vocab[f"<0x{b:02X}>"] for b in c.encode("utf-8"))
        return ids

    def decode(self, ids: list[int]) -> str:
        inv = {i: s for s, i in self.vocab.items()}
        out = bytearray()
        for i in ids:
            s = inv[i]
            if s.startswith("<0x") and len(s) == 6:
                out.append(int(s[3:5], 16))
            elif s in SPECIALS:
                continue
            else:
                out.extend(s.encode("utf-8"))
        return out.decode("utf-8", errors="replace")


def write(spec: dict, path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False)
