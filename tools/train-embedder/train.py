#!/usr/bin/python3
"""Trains `fortunes-embed`, the text service's default sentence-embedding model, and exports it to ONNX.

A 2-layer transformer encoder (width 128, 4 heads, learned positions up to 64) over the same
character vocabulary as fortunes-gpt (tools/train-text-lm/tokenizer_json.py), masked mean pooling
and L2 normalisation. Trained contrastively (InfoNCE with in-batch negatives, temperature 0.05):
the two halves of one fortune entry (two lines of a poem, two sentences of a saying) are a positive
pair; every other entry in the batch is a negative. Data: corpus.py (fortunes-zh, GPL-3.0+;
fortunes-min, BSD), every 20th entry held out.

ONNX: input_ids, attention_mask int64 [batch, seq] -> embedding float32 [batch, 128], opset 17.

Run offline on CPU:
    /usr/bin/python3 tools/train-embedder/train.py   # TRAIN_MINUTES=8 CPU minutes, TRAIN_WALL_MINUTES=25
"""
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train-text-lm"))
import corpus  # noqa: E402
import tokenizer_json as tj  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "models" / "fortunes-embed"
MINUTES = float(os.environ.get("TRAIN_MINUTES", "8"))
# On a shared machine the process gets a fraction of a core: the budget is CPU time, capped in wall time.
WALL_MINUTES = float(os.environ.get("TRAIN_WALL_MINUTES", "25"))
THREADS = int(os.environ.get("TORCH_THREADS", "1"))
MAX_LEN = 64
DIM = 128
BATCH = 64
SEED = 99


class Encoder(nn.Module):
    def __init__(self, vocab: int):
        super().__init__()
        self.tok = nn.Embedding(vocab, DIM)
        self.pos = nn.Embedding(MAX_LEN, DIM)
        layer = nn.TransformerEncoderLayer(DIM, 4, 4 * DIM, dropout=0.1, batch_first=True, activation="gelu")
        self.layers = nn.TransformerEncoder(layer, 2)
        self.norm = nn.LayerNorm(DIM)

    def forward(self, input_ids, attention_mask):
        pos = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.tok(input_ids) + self.pos(pos)
        x = self.layers(x, src_key_padding_mask=attention_mask == 0)
        x = self.norm(x)
        m = attention_mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        return F.normalize(pooled, dim=-1)


def halves(entry: str, rng: random.Random) -> tuple[str, str] | None:
    lines = [l.strip() for l in entry.splitlines() if l.strip()]
    if len(lines) >= 2:
        cut = rng.randrange(1, len(lines))
        a, b = "\n".join(lines[:cut]), "\n".join(lines[cut:])
    else:
        text = lines[0] if lines else ""
        if len(text) < 8:
            return None
        cut = rng.randrange(len(text) // 3, 2 * len(text) // 3)
        a, b = text[:cut], text[cut:]
    return a[-MAX_LEN:], b[:MAX_LEN]


def batchify(tok: tj.CharTokenizer, texts: list[str]):
    ids = [tok.encode(t)[:MAX_LEN] or [tok.pad] for t in texts]
    n = max(len(i) for i in ids)
    x = torch.full((len(ids), n), tok.pad, dtype=torch.long)
    m = torch.zeros((len(ids), n), dtype=torch.long)
    for r, i in enumerate(ids):
        x[r, : len(i)] = torch.tensor(i)
        m[r, : len(i)] = 1
    return x, m


def info_nce(model, tok, pairs):
    a, b = zip(*pairs)
    ea, eb = model(*batchify(tok, list(a))), model(*batchify(tok, list(b)))
    logits = ea @ eb.t() / 0.05
    target = torch.arange(len(pairs))
    loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
    acc = (logits.argmax(1) == target).float().mean().item()
    return loss, acc


@torch.no_grad()
def evaluate(model, tok, pairs):
    model.eval()
    losses, accs = [], []
    for s in range(0, len(pairs) - BATCH + 1, BATCH):
        loss, acc = info_nce(model, tok, pairs[s : s + BATCH])
        losses.append(loss.item())
        accs.append(acc)
    model.train()
    return sum(losses) / len(losses), sum(accs) / len(accs)


def main() -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    train, held, stats = corpus.split_corpus()
    spec = tj.tokenizer_json(tj.build_vocab(train, max_chars=4000, min_count=4))
    tok = tj.CharTokenizer(spec)
    held_pairs = [p for p in (halves(e, random.Random(i)) for i, e in enumerate(held)) if p]
    model = Encoder(len(tok))
    params = sum(p.numel() for p in model.parameters())
    untrained = evaluate(model, tok, held_pairs)
    print(f"params {params:,}; untrained held-out loss {untrained[0]:.3f} top-1 {untrained[1]:.3f}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    start, cpu_start, step = time.time(), time.process_time(), 0
    while (frac := max((time.process_time() - cpu_start) / (MINUTES * 60), (time.time() - start) / (WALL_MINUTES * 60))) < 1:
        elapsed = time.time() - start
        for g in opt.param_groups:
            g["lr"] = 1e-3 * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        pairs = [p for p in (halves(e, rng) for e in rng.sample(train, BATCH + 8)) if p][:BATCH]
        loss, acc = info_nce(model, tok, pairs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            print(f"step {step} t={elapsed:.0f}s loss={loss.item():.3f} acc={acc:.2f}", flush=True)
    seconds = time.time() - start
    cpu_seconds = time.process_time() - cpu_start
    model.eval()
    held_loss, held_acc = evaluate(model, tok, held_pairs)
    print(f"held-out loss {held_loss:.3f} top-1 {held_acc:.3f}", flush=True)

    OUT.joinpath("1").mkdir(parents=True, exist_ok=True)
    tj.write(spec, OUT / "tokenizer.json")
    x, m = batchify(tok, ["床前明月光", "The fool doth think he is wise"])
    torch.onnx.export(model, (x, m), str(OUT / "1" / "model.onnx"), input_names=["input_ids", "attention_mask"],
                      output_names=["embedding"], opset_version=17,
                      dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "embedding": {0: "batch"}})
    examples = ["床前明月光，疑是地上霜。", "举头望明月，低头思故乡。", "Debian 是一个自由的操作系统。", "A fool and his money are soon parted."]
    with torch.no_grad():
        e = model(*batchify(tok, examples))
    sims = (e @ e.t()).tolist()
    metrics = {
        "model": "fortunes-embed", "parameters": params, "dim": DIM, "max_len": MAX_LEN, "vocab_size": len(tok), "data": stats,
        "held_out_pairs": len(held_pairs), "held_out_info_nce": round(held_loss, 4), "held_out_top1_in_batch_of_64": round(held_acc, 4),
        "untrained_info_nce": round(untrained[0], 4), "untrained_top1": round(untrained[1], 4), "steps": step, "batch": BATCH,
        "train_seconds": round(seconds), "train_cpu_seconds": round(cpu_seconds), "torch_threads": THREADS, "example_texts": examples,
        "example_cosine": [[round(v, 3) for v in row] for row in sims], "onnx_bytes": (OUT / "1" / "model.onnx").stat().st_size,
    }
    (OUT / "training-metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
    print("wrote", OUT, flush=True)


if __name__ == "__main__":
    main()
