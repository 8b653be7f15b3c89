#!/usr/bin/python3
"""Trains `fortunes-gpt`, the text service's default generative model, and exports it to ONNX.

A GPT-2-style decoder (4 layers, width 128, 4 heads, learned positions up to 256) over a character
vocabulary with byte fallback, trained on Chinese poetry and sayings (fortunes-zh) and English
fortunes (fortunes-min), with the poems repeated 4x; see corpus.py. Exported with the KV-cache layout standard exporters write
(input_ids, attention_mask, position_ids, past_key_values.N.key/value -> logits, present.N.key/value),
then checked against torch by onnxruntime-node (verify-onnx.mjs).

Run offline on CPU (Debian packages only; 15 CPU-minutes on one thread, at most 40 minutes wall,
whichever comes first; the learning-rate schedule follows that budget):
    apt-get install -y fortunes-zh fortunes-min python3-torch python3-onnx python3-numpy
    /usr/bin/python3 tools/train-text-lm/train.py            # TRAIN_MINUTES=15, TRAIN_WALL_MINUTES=40, TORCH_THREADS=1
"""
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
import tokenizer_json as tj  # noqa: E402
from gpt import Gpt, GptConfig, export_onnx, hf_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NAME = os.environ.get("MODEL_NAME", "fortunes-gpt")
OUT = ROOT / "models" / NAME
MINUTES = float(os.environ.get("TRAIN_MINUTES", "15"))
# On a shared machine the process gets a fraction of a core: the budget is CPU time, capped in wall time.
WALL_MINUTES = float(os.environ.get("TRAIN_WALL_MINUTES", "40"))
THREADS = int(os.environ.get("TORCH_THREADS", "1"))
SEQ = 256
BATCH = 8
LR = 3e-3
SEED = 1234


def blocks(ids: list[int], rng: random.Random, n: int) -> torch.Tensor:
    starts = [rng.randrange(0, len(ids) - SEQ - 1) for _ in range(n)]
    return torch.tensor([ids[s : s + SEQ + 1] for s in starts], dtype=torch.long)


@torch.no_grad()
def evaluate(model: Gpt, ids: list[int]) -> float:
    model.eval()
    total, count = 0.0, 0
    for s in range(0, len(ids) - SEQ - 1, SEQ):
        x = torch.tensor([ids[s : s + SEQ + 1]], dtype=torch.long)
        total += model.loss(x).item() * SEQ
        count += SEQ
    model.train()
    return total / count


@torch.no_grad()
def sample(model: Gpt, tok: tj.CharTokenizer, prompt: str, n: int, temperature: float, gen: torch.Generator) -> str:
    model.eval()
    ids = tok.encode(prompt)
    x = torch.tensor([ids])
    logits, past = model(x, torch.ones_like(x), torch.arange(len(ids)).unsqueeze(0))
    out = list(ids)
    for _ in range(n):
        probs = torch.softmax(logits[0, -1] / temperature, dim=-1)
        nxt = int(torch.multinomial(probs, 1, generator=gen))
        if nxt == tok.eos:
            break
        out.append(nxt)
        pos = len(out) - 1
        logits, past = model(torch.tensor([[nxt]]), torch.ones(1, len(out), dtype=torch.long), torch.tensor([[pos]]), past)
    model.train()
    return tok.decode(out)


def main() -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    train, held, stats = corpus.split_corpus()
    spec = tj.tokenizer_json(tj.build_vocab(train, max_chars=4000, min_count=4))
    tok = tj.CharTokenizer(spec)
    join = lambda entries: [i for e in entries for i in tok.encode(e) + [tok.eos]]  # noqa: E731
    # Poetry is 4% of the text; repeat it so the model learns its forms, not only the sayings.
    poetry = set(corpus.load_entries("tang300") + corpus.load_entries("song100"))
    train = train + [e for e in train if e in poetry] * 3
    rng.shuffle(train)
    train_ids, held_ids = join(train), join(held)
    cfg = GptConfig(vocab_size=len(tok), n_positions=SEQ, n_embd=128, n_layer=4, n_head=4)
    model = Gpt(cfg)
    params = sum(p.numel() for p in model.parameters())
    print(f"vocab {len(tok)}, params {params:,}, train tokens {len(train_ids):,}, held-out tokens {len(held_ids):,}", flush=True)

    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.1)
    start, cpu_start = time.time(), time.process_time()
    step, curve = 0, []
    while True:
        elapsed = time.time() - start
        frac = max((time.process_time() - cpu_start) / (MINUTES * 60), elapsed / (WALL_MINUTES * 60))
        if frac >= 1:
            break
        warm = min(1.0, (step + 1) / 100)
        lr = LR * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        loss = model.loss(blocks(train_ids, rng, BATCH))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 10 == 0:
            print(f"step {step} t={elapsed:.0f}s lr={lr:.2e} loss={loss.item():.3f}", flush=True)
        if step % 50 == 0:
            curve.append({"step": step, "seconds": round(elapsed), "cpu_seconds": round(time.process_time() - cpu_start), "train_loss": round(loss.item(), 4)})
    train_seconds = time.time() - start
    train_cpu_seconds = time.process_time() - cpu_start
    held_loss = evaluate(model, held_ids)
    train_loss = evaluate(model, train_ids[: len(held_ids)])
    print(f"held-out loss {held_loss:.4f} nats/token, train {train_loss:.4f}", flush=True)

    OUT.joinpath("1").mkdir(parents=True, exist_ok=True)
    tj.write(spec, OUT / "tokenizer.json")
    model.eval()
    export_onnx(model, str(OUT / "1" / "model.onnx"))
    (OUT / "hf-config.json").write_text(json.dumps(hf_config(cfg, tok.eos, tok.bos, tok.pad), indent=2) + "\n")

    gen = torch.Generator().manual_seed(7)
    prompts = ["床前明月光，", "春风", "《秋夜》\n作者：", "The ", "A man "]
    samples = [{"prompt": p, "temperature": 0.8, "text": sample(model, tok, p, 60, 0.8, gen)} for p in prompts]
    for s in samples:
        print(repr(s["text"]), flush=True)

    # Fixture for verify-onnx.mjs: torch logits for a prefill + one cached decode step.
    ids = tok.encode("床前明月光，疑是")
    with torch.no_grad():
        x = torch.tensor([ids])
        logits, past = model(x, torch.ones_like(x), torch.arange(len(ids)).unsqueeze(0))
        nxt = torch.tensor([[tok.encode("地")[0]]])
        logits2, _ = model(nxt, torch.ones(1, len(ids) + 1, dtype=torch.long), torch.tensor([[len(ids)]]), past)
    fixture = {"ids": ids, "next": int(nxt[0, 0]), "layers": cfg.n_layer, "heads": cfg.n_head, "headDim": cfg.n_embd // cfg.n_head,
               "prefillLast": logits[0, -1].tolist(), "decode": logits2[0, -1].tolist()}
    fixture_path = Path("/tmp") / f"{NAME}-verify.json"
    fixture_path.write_text(json.dumps(fixture))
    check = subprocess.run(["node", str(Path(__file__).parent / "verify-onnx.mjs"), str(OUT / "1" / "model.onnx"), str(fixture_path)],
                           cwd=ROOT, capture_output=True, text=True)
    print(check.stdout, check.stderr, flush=True)
    if check.returncode != 0:
        raise SystemExit("ONNX output differs from torch")
    max_diff = json.loads(check.stdout.strip().splitlines()[-1])["maxAbsDiff"]

    metrics = {
        "model": NAME, "parameters": params, "vocab_size": len(tok), "config": cfg.to_dict(),
        "data": stats, "train_tokens": len(train_ids), "held_out_tokens": len(held_ids),
        "held_out_loss_nats_per_token": round(held_loss, 4), "train_loss_nats_per_token": round(train_loss, 4),
        "held_out_perplexity": round(math.exp(held_loss), 2), "steps": step, "batch": BATCH, "seq": SEQ,
        "train_seconds": round(train_seconds), "train_cpu_seconds": round(train_cpu_seconds), "torch_threads": THREADS, "cpu": os.cpu_count(),
        "onnx_max_abs_logit_diff": max_diff, "samples": samples, "curve": curve,
        "onnx_bytes": (OUT / "1" / "model.onnx").stat().st_size,
    }
    (OUT / "training-metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
    print("wrote", OUT, flush=True)


if __name__ == "__main__":
    main()
