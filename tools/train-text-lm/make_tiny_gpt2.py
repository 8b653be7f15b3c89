#!/usr/bin/python3
"""Builds `tiny-gpt2`, the test model of services/text: a GPT-2-layout export with a GPT-2-style
byte-level BPE tokenizer.json, served by the text service from its config.json alone.

A 2-layer, width-32 decoder (gpt.py) trained for a few hundred steps on one repeated sentence, so
greedy decoding continues it exactly: a broken KV cache, mask or position_ids breaks the
continuation. Seeded; writes services/text/test/models/tiny-gpt2/{tokenizer.json,1/model.onnx}
(config.json beside them is hand-written).

    /usr/bin/python3 tools/train-text-lm/make_tiny_gpt2.py
"""
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpt import Gpt, GptConfig, export_onnx  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "services" / "text" / "test" / "models" / "tiny-gpt2"
TEXT = "the quick brown fox jumps over the lazy dog. "
MERGES = [("t", "h"), ("th", "e"), ("Ġ", "the")]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def build() -> tuple[dict, dict[str, int]]:
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    eos = "<|endoftext|>"
    vocab[eos] = len(vocab)
    spec = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab[eos], "content": eos, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": [f"{a} {b}" for a, b in MERGES]},
    }
    return spec, vocab


def encode(text: str, vocab: dict[str, int]) -> list[int]:
    """Byte-level BPE for this text: words are ' ?letters' or punctuation, as GPT-2's regex splits them."""
    import re
    b2u = bytes_to_unicode()
    ids: list[int] = []
    for word in re.findall(r" ?[a-z]+| ?[^\sa-z]+|\s+", text):
        parts = [b2u[b] for b in word.encode()]
        for a, b in MERGES:
            i = 0
            while i < len(parts) - 1:
                if parts[i] == a and parts[i + 1] == b:
                    parts[i : i + 2] = [a + b]
                else:
                    i += 1
        ids += [vocab[p] for p in parts]
    return ids


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    spec, vocab = build()
    ids = encode(TEXT * 8, vocab)
    cfg = GptConfig(vocab_size=len(vocab), n_positions=64, n_embd=32, n_layer=2, n_head=2)
    model = Gpt(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    data = torch.tensor(ids)
    for step in range(300):
        starts = torch.randint(0, len(ids) - 49, (8,))
        loss = model.loss(torch.stack([data[s : s + 49] for s in starts]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"final loss {loss.item():.4f}")
    OUT.joinpath("1").mkdir(parents=True, exist_ok=True)
    (OUT / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False))
    model.eval()
    export_onnx(model, str(OUT / "1" / "model.onnx"))
    print("wrote", OUT, (OUT / "1" / "model.onnx").stat().st_size, "bytes")


if __name__ == "__main__":
    main()
