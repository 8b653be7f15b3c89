"""Trains the default voice `espeak-distilled` and exports it as a Piper-style voice.

Run offline on CPU (Debian packages only):
    apt-get install -y espeak-ng fortunes-min fortunes-zh python3-torch python3-onnx python3-numpy
    /usr/bin/python3 tools/train-voice/make_dataset.py     # teacher corpus -> tools/train-voice/data/
    /usr/bin/python3 tools/train-voice/train.py            # TRAIN_MINUTES=22 by default, 1 thread
    /usr/bin/python3 tools/train-voice/train.py --export-only   # re-export data/acoustic.pt

Writes models/espeak-distilled/{espeak-distilled.onnx, espeak-distilled.onnx.json, training-metrics.json}.
"""
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vocoder  # noqa: E402
from dataset import HOP, N_FFT, N_MELS  # noqa: E402
from model import AcousticModel, Synthesizer  # noqa: E402
from teacher import SAMPLE_RATE  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NAME = os.environ.get("VOICE_NAME", "espeak-distilled")
OUT = ROOT / "models" / NAME
DATA = Path(os.environ.get("VOICE_DATA", HERE / "data"))
MINUTES = float(os.environ.get("TRAIN_MINUTES", "22"))
THREADS = int(os.environ.get("TORCH_THREADS", "1"))
FRAMES_PER_BATCH = 2000
LR = 3e-3
SEED = 1234


def batches(items: list[dict], rng: random.Random) -> list[list[dict]]:
    """Length-sorted minibatches of about FRAMES_PER_BATCH frames, in random order."""
    ordered = sorted(items, key=lambda it: (it["mel"].shape[0], rng.random()))
    out, cur, longest = [], [], 0
    for it in ordered:
        longest = max(longest, it["mel"].shape[0])
        if cur and longest * (len(cur) + 1) > FRAMES_PER_BATCH:
            out.append(cur)
            cur, longest = [], it["mel"].shape[0]
        cur.append(it)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def collate(batch: list[dict]):
    t = max(len(it["ids"]) for it in batch)
    f = max(it["mel"].shape[0] for it in batch)
    ids = torch.zeros(len(batch), t, dtype=torch.long)
    durs = torch.zeros(len(batch), t, dtype=torch.long)
    mel = torch.zeros(len(batch), f, N_MELS)
    for i, it in enumerate(batch):
        ids[i, : len(it["ids"])] = it["ids"]
        durs[i, : len(it["ids"])] = it["durations"]
        mel[i, : it["mel"].shape[0]] = it["mel"].float()
    lengths = torch.tensor([len(it["ids"]) for it in batch])
    sid = torch.tensor([it["speaker"] for it in batch])
    return ids, lengths, sid, durs, mel


def losses(model: AcousticModel, batch):
    ids, lengths, sid, durs, mel = batch
    pred, fmask, log_dur, mask = model(ids, lengths, sid, durs)
    n_frames = fmask.sum() * N_MELS
    mel_l1 = (torch.abs(pred - mel) * fmask[:, :, None]).sum() / n_frames
    dur_mse = (((log_dur - torch.log1p(durs.float())) ** 2) * mask).sum() / mask.sum()
    return mel_l1, dur_mse


@torch.no_grad()
def evaluate(model: AcousticModel, items: list[dict]) -> dict:
    """Held-out mel L1 with the teacher's durations, duration error, and a mean-mel baseline."""
    model.eval()
    l1 = dur_err = frames = ids_n = base = 0.0
    mean_mel = torch.cat([it["mel"].float() for it in items]).mean(0)
    total_pred = total_true = 0.0
    for i in range(0, len(items), 16):
        batch = collate(items[i : i + 16])
        ids, lengths, sid, durs, mel = batch
        pred, fmask, log_dur, mask = model(ids, lengths, sid, durs)
        l1 += (torch.abs(pred - mel) * fmask[:, :, None]).sum().item()
        base += (torch.abs(mean_mel - mel) * fmask[:, :, None]).sum().item()
        frames += fmask.sum().item()
        pd = torch.round(torch.clamp(torch.expm1(log_dur), min=0)) * mask
        dur_err += (torch.abs(pd - durs.float()) * mask).sum().item()
        ids_n += mask.sum().item()
        total_pred += pd.sum().item()
        total_true += durs.sum().item()
    model.train()
    return {"mel_l1": l1 / (frames * N_MELS), "mean_mel_baseline_l1": base / (frames * N_MELS),
            "duration_mae_frames": dur_err / ids_n, "total_length_ratio": total_pred / total_true}


def export(model: AcousticModel, data: dict, metrics: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    model.eval()
    front = Synthesizer(model, HOP)
    ids = torch.tensor([[1, 0, 20, 0, 21, 0, 2], [1, 0, 22, 0, 2, 0, 0]])
    args = (ids, torch.tensor([7, 5]), torch.tensor([0.667, 1.0, 0.8]), torch.tensor([0, 1]))
    tmp = DATA / "acoustic.onnx"
    torch.onnx.export(front, args, str(tmp), opset_version=17,
                      input_names=["input", "input_lengths", "scales", "sid"],
                      output_names=["mel", "frame_mask", "output_lengths"],
                      dynamic_axes={"input": {0: "batch", 1: "phonemes"}, "input_lengths": {0: "batch"},
                                    "sid": {0: "batch"}, "mel": {0: "batch", 1: "frames"},
                                    "frame_mask": {0: "batch", 1: "frames"}, "output_lengths": {0: "batch"}})
    acoustic = onnx.load(str(tmp))
    acoustic.ir_version = 8
    merged = onnx.compose.merge_models(acoustic, vocoder.build(), io_map=[("mel", "mel"), ("frame_mask", "frame_mask")])
    # keep Piper's output first: output [B, 1, samples], then output_lengths [B]
    outs = sorted(merged.graph.output, key=lambda o: o.name != "output")
    del merged.graph.output[:]
    merged.graph.output.extend(outs)
    onnx.checker.check_model(merged)
    onnx.save(merged, str(OUT / f"{NAME}.onnx"))
    config = {
        "audio": {"sample_rate": SAMPLE_RATE, "quality": "low"},
        "espeak": {"voice": data["voices"]["en"]},
        "language": {"code": "en_US"},
        "inference": {"noise_scale": 0.333, "length_scale": 1.0, "noise_w": 0.333},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": data["id_map"],
        "num_symbols": len(data["id_map"]),
        "num_speakers": len(data["variants"]),
        "speaker_id_map": {("default" if not v else v.lstrip("+")): i for i, v in enumerate(data["variants"])},
        "dataset": NAME,
        "piper_version": "1.0.0",
        # extensions read by the aigc audio service (ignored by Piper)
        "aigc": {"espeak_voices": data["voices"], "batchable": True, "output_lengths": "output_lengths",
                 "hop_length": HOP, "n_fft": N_FFT, "griffin_lim_iterations": vocoder.ITERATIONS,
                 "metrics": metrics},
    }
    (OUT / f"{NAME}.onnx.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n")


def export_only() -> None:
    """Re-exports the trained weights (data/acoustic.pt) with the current vocoder graph and config."""
    data = torch.load(DATA / "dataset.pt")
    model = AcousticModel(len(data["id_map"]), len(data["variants"]))
    model.load_state_dict(torch.load(DATA / "acoustic.pt"))
    path = OUT / "training-metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    export(model, data, {k: v for k, v in metrics.items() if k not in ("log", "onnx_bytes", "end_to_end")})
    print("re-exported", OUT)


def main() -> None:
    torch.manual_seed(SEED)
    torch.set_num_threads(THREADS)
    rng = random.Random(SEED)
    data = torch.load(DATA / "dataset.pt")
    items = data["items"]
    texts = sorted({it["text"] for it in items})
    rng.shuffle(texts)
    held = set(texts[: max(20, len(texts) // 20)])
    train = [it for it in items if it["text"] not in held]
    test = [it for it in items if it["text"] in held]
    model = AcousticModel(len(data["id_map"]), len(data["variants"]))
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=1e-6)
    t0, cpu0, step, epoch, log = time.time(), time.process_time(), 0, 0, []
    deadline = t0 + MINUTES * 60
    while time.time() < deadline:
        epoch += 1
        for batch in batches(train, rng):
            if time.time() >= deadline:
                break
            frac = (time.time() - t0) / (MINUTES * 60)
            for group in opt.param_groups:
                group["lr"] = LR * min(1.0, (step + 1) / 200) * (0.5 * (1 + math.cos(math.pi * min(1.0, frac))) * 0.95 + 0.05)
            mel_l1, dur_mse = losses(model, collate(batch))
            opt.zero_grad()
            (mel_l1 + dur_mse).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 100 == 0:
                torch.save(model.state_dict(), DATA / "acoustic.pt")  # --export-only works at any time
            if step % 50 == 0:
                entry = {"step": step, "epoch": epoch, "minutes": round((time.time() - t0) / 60, 2),
                         "mel_l1": round(mel_l1.item(), 4), "dur_mse": round(dur_mse.item(), 4)}
                log.append(entry)
                print(json.dumps(entry), flush=True)
        print(json.dumps({"epoch": epoch, **evaluate(model, test)}), flush=True)
    train_minutes = (time.time() - t0) / 60
    held_out = evaluate(model, test)
    metrics = {"held_out": {k: round(v, 4) for k, v in held_out.items()},
               "train": {k: round(v, 4) for k, v in evaluate(model, train[:400]).items()},
               "train_minutes": round(train_minutes, 1), "train_cpu_minutes": round((time.process_time() - cpu0) / 60, 1), "steps": step, "epochs": epoch, "threads": THREADS,
               "parameters": params, "train_utterances": len(train), "held_out_utterances": len(test),
               "held_out_sentences": len(held)}
    print(json.dumps(metrics), flush=True)
    torch.save(model.state_dict(), DATA / "acoustic.pt")
    export(model, data, metrics)
    size = (OUT / f"{NAME}.onnx").stat().st_size
    metrics["onnx_bytes"] = size
    (OUT / "training-metrics.json").write_text(json.dumps({**metrics, "log": log}, indent=2) + "\n")
    print("wrote", OUT, size, "bytes")


if __name__ == "__main__":
    export_only() if "--export-only" in sys.argv else main()
