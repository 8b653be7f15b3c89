"""Held-out check of the exported voice against its teacher, end to end (ONNX graph, Griffin-Lim included).

    /usr/bin/python3 tools/train-voice/evaluate.py prepare     # held-out ids -> data/eval.json
    node tools/train-voice/render.mjs                           # the .onnx in onnxruntime-node -> data/eval-audio.bin
    /usr/bin/python3 tools/train-voice/evaluate.py score       # metrics -> models/<voice>/training-metrics.json ("end_to_end")

Free-running output has its own durations, so frames are matched to the teacher's by DTW before the
L1 of log-mels is taken, and each output is matched to the nearest of all held-out teacher sentences of
its speaker (sentence identification: a crude, listener-free check that the content is there). Two
references frame the L1: the teacher's own mel put through the same
Griffin-Lim (the vocoder's floor: the best this pipeline can do), and the output compared with a
different held-out sentence of similar length (what an unintelligible result scores).
"""
import json
import random
import sys
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vocoder  # noqa: E402
from dataset import log_mel  # noqa: E402
from train import DATA, NAME, OUT, SEED  # noqa: E402

COUNT = 24


def held_out(items: list[dict]) -> list[dict]:
    """The split train.py uses (same seed, same order of calls)."""
    rng = random.Random(SEED)
    texts = sorted({it["text"] for it in items})
    rng.shuffle(texts)
    held = set(texts[: max(20, len(texts) // 20)])
    test = [it for it in items if it["text"] in held]
    return random.Random(7).sample(test, min(COUNT, len(test)))


def dtw_l1(a: np.ndarray, b: np.ndarray) -> float:
    """Mean L1 per bin along the cheapest monotonic alignment of frames a [N, 80] and b [M, 80]."""
    cost = np.abs(a[:, None, :] - b[None, :, :]).mean(axis=2).tolist()
    n, m = len(cost), len(cost[0])
    inf = float("inf")
    prev_acc, prev_steps = [0.0] + [inf] * m, [0] * (m + 1)
    for i in range(1, n + 1):
        acc, steps, row = [inf] * (m + 1), [0] * (m + 1), cost[i - 1]
        for j in range(1, m + 1):
            best, s = prev_acc[j - 1], prev_steps[j - 1]
            if prev_acc[j] < best:
                best, s = prev_acc[j], prev_steps[j]
            if acc[j - 1] < best:
                best, s = acc[j - 1], steps[j - 1]
            acc[j], steps[j] = best + row[j - 1], s + 1
        prev_acc, prev_steps = acc, steps
    return prev_acc[m] / prev_steps[m]


def prepare() -> None:
    data = torch.load(DATA / "dataset.pt")
    rows = [{"text": it["text"], "lang": it["lang"], "speaker": it["speaker"], "ids": it["ids"].tolist(),
             "frames": int(it["mel"].shape[0])} for it in held_out(data["items"])]
    (DATA / "eval.json").write_text(json.dumps({"model": str(OUT / f"{NAME}.onnx"), "vocoder": str(DATA / "griffin-lim.onnx"),
                                                "rows": rows}, ensure_ascii=False))
    onnx.save(vocoder.build(), str(DATA / "griffin-lim.onnx"))
    mels = np.concatenate([it["mel"].float().numpy() for it in held_out(data["items"])]).astype(np.float32)
    mels.tofile(DATA / "eval-mels.bin")
    print("wrote", DATA / "eval.json", len(rows), "rows")


def score() -> None:
    data = torch.load(DATA / "dataset.pt")
    items = held_out(data["items"])
    raw = np.fromfile(DATA / "eval-audio.bin", dtype=np.float32)
    lengths = json.loads((DATA / "eval-lengths.json").read_text())
    gl = np.fromfile(DATA / "eval-gl.bin", dtype=np.float32)
    gl_lengths = json.loads((DATA / "eval-gl-lengths.json").read_text())
    out, gl_out, at, gat = [], [], 0, 0
    for n, g in zip(lengths, gl_lengths):
        out.append(raw[at : at + n])
        gl_out.append(gl[gat : gat + g])
        at += n
        gat += g
    model, floor, wrong, ratio = [], [], [], []
    order = sorted(range(len(items)), key=lambda i: items[i]["mel"].shape[0])
    for rank, i in enumerate(order):
        teacher = items[i]["mel"].float().numpy()
        mine = log_mel(out[i]).numpy()
        model.append(dtw_l1(mine, teacher))
        floor.append(dtw_l1(log_mel(gl_out[i]).numpy(), teacher))
        other = items[order[rank + 1 if rank + 1 < len(order) else rank - 1]]["mel"].float().numpy()
        wrong.append(dtw_l1(mine, other))
        ratio.append(mine.shape[0] / teacher.shape[0])
    # identification: is the output nearest (DTW) to its own sentence among all held-out teachers of the speaker?
    hits = 0
    for i, it in enumerate(items):
        mine = log_mel(out[i]).numpy()
        cands = [j for j, other in enumerate(items) if other["speaker"] == it["speaker"]]
        best = min(cands, key=lambda j: dtw_l1(mine, items[j]["mel"].float().numpy()))
        hits += items[best]["text"] == it["text"]
    result = {"utterances": len(items), "dtw_mel_l1": round(float(np.mean(model)), 4),
              "sentence_identification": f"{hits}/{len(items)}",
              "griffin_lim_floor_dtw_mel_l1": round(float(np.mean(floor)), 4),
              "different_sentence_dtw_mel_l1": round(float(np.mean(wrong)), 4),
              "duration_ratio_mean": round(float(np.mean(ratio)), 3),
              "by_language": {lang: round(float(np.mean([m for m, it in zip(model, items) if it["lang"] == lang])), 4)
                              for lang in ("en", "zh")}}
    metrics_path = OUT / "training-metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    metrics["end_to_end"] = result
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    {"prepare": prepare, "score": score}[sys.argv[1]]()
