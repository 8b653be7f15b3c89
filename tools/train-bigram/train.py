#!/usr/bin/env python3
"""Trains `bigram-fortunes`, the platform's smallest text model, and exports it to ONNX.

A byte-level bigram language model: logits[t] = log P(byte[t+1] | byte[t]), estimated by
maximum likelihood with add-k smoothing over a training corpus (counting is the closed-form
maximum-likelihood fit of a bigram model). The ONNX graph is one Gather from a 256x256 table, so
it runs anywhere onnxruntime does and exercises the whole serving path at almost no cost.

Data: the fortune, literature and riddles files of Debian's `fortunes-min` package (BSD fortune(6)
databases; see /usr/share/doc/fortunes-min/copyright). 90% of fortunes train, 10% are held out.

Run offline (Debian packages only):
    apt-get install -y fortunes-min python3-numpy python3-onnx
    /usr/bin/python3 tools/train-bigram/train.py
"""
import json
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "models" / "bigram-fortunes"
SOURCES = [Path("/usr/share/games/fortunes") / name for name in ("fortunes", "literature", "riddles")]
SMOOTHING = 0.01
VOCAB = 256


def load_fortunes() -> list[bytes]:
    entries: list[bytes] = []
    for path in SOURCES:
        text = path.read_bytes().decode("utf-8", errors="replace")
        entries += [e.strip().encode("utf-8") for e in text.split("\n%\n") if e.strip()]
    return entries


def count_bigrams(entries: list[bytes]) -> np.ndarray:
    counts = np.zeros((VOCAB, VOCAB), dtype=np.float64)
    for entry in entries:
        data = np.frombuffer(entry, dtype=np.uint8)
        np.add.at(counts, (data[:-1], data[1:]), 1.0)
    return counts


def bits_per_byte(log_probs: np.ndarray, entries: list[bytes]) -> float:
    total, n = 0.0, 0
    for entry in entries:
        data = np.frombuffer(entry, dtype=np.uint8)
        total -= float(log_probs[data[:-1], data[1:]].sum())
        n += len(data) - 1
    return total / n / np.log(2)


def export(log_probs: np.ndarray, path: Path) -> None:
    table = numpy_helper.from_array(log_probs.astype(np.float32), name="bigram_log_probs")
    node = helper.make_node("Gather", ["bigram_log_probs", "input_ids"], ["logits"], axis=0)
    graph = helper.make_graph(
        [node],
        "bigram_fortunes",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence", VOCAB])],
        initializer=[table],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="aigc-tools/train-bigram")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def sample(log_probs: np.ndarray, prompt: str, n: int, rng: np.random.Generator) -> str:
    out = bytearray(prompt.encode())
    for _ in range(n):
        p = np.exp(log_probs[out[-1]])
        out.append(int(rng.choice(VOCAB, p=p / p.sum())))
    return out.decode("utf-8", errors="replace")


def main() -> None:
    started = time.time()
    entries = load_fortunes()
    rng = np.random.default_rng(20261130)
    order = rng.permutation(len(entries))
    cut = int(len(entries) * 0.9)
    train = [entries[i] for i in order[:cut]]
    held_out = [entries[i] for i in order[cut:]]

    counts = count_bigrams(train) + SMOOTHING
    log_probs = np.log(counts / counts.sum(axis=1, keepdims=True))
    export(log_probs, OUT / "1" / "model.onnx")
    seconds = time.time() - started

    metrics = {
        "train_entries": len(train),
        "held_out_entries": len(held_out),
        "train_bytes": sum(len(e) for e in train),
        "train_bits_per_byte": round(bits_per_byte(log_probs, train), 4),
        "held_out_bits_per_byte": round(bits_per_byte(log_probs, held_out), 4),
        "uniform_bits_per_byte": 8.0,
        "parameters": VOCAB * VOCAB,
        "training_seconds": round(seconds, 2),
        "samples": [sample(log_probs, p, 60, np.random.default_rng(7)) for p in ("The ", "A man ")],
    }
    (OUT / "training-metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(metrics, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
