#!/usr/bin/python3
"""Trains `shapes-diffusion`, the image service's default model, and writes it in the latent-diffusion
ONNX layout (text_encoder/, unet/, vae_decoder/, tokenizer/, scheduler/, model_index.json).

Stages, each bounded by wall-clock seconds (the machine is shared; the budgets keep it to ~40 min on
one thread, TORCH_THREADS):
  1. render the data set (shapes.py): 30,000 training scenes, 2,000 held out
  2. a quick attribute classifier (CLS_SECONDS) for the progress readout of stage 5 only; the model
     card's judge is trained separately, by a fixed step count, in judge.py
  3. the latent space: PCA of 4x4 RGB patches, RGB 32x32 <-> latent 12x8x8; latents scaled to unit
     variance (scaling_factor), as Stable Diffusion scales its VAE latents; then the decoder's small
     residual refinement (REFINE_SECONDS), trained from PCA reconstructions back to the renders
  4. the text encoder + UNet, epsilon prediction, 10% prompt dropout (classifier-free guidance), EMA
  5. export ONNX, then sample prompts with DDIM + CFG and score them with the quick classifier
RESUME_SECONDS=N continues the generator from checkpoint.pt for N more seconds and re-exports it;
REFINE_DECODER=1 trains only the decoder refinement of checkpoint.pt's model and re-exports it.
Run offline on CPU (Debian python3-torch, python3-onnx, python3-numpy):
    /usr/bin/python3 tools/train-image/train.py                       # stages 1-5
    RESUME_SECONDS=900 /usr/bin/python3 tools/train-image/train.py    # optional: train the generator longer
    /usr/bin/python3 tools/train-image/judge.py                       # the card's judge and figures
    npx tsx tools/train-image/render-samples.ts                       # samples through the service's loop
"""
from __future__ import annotations

import copy
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import diffusion  # noqa: E402
import shapes  # noqa: E402
from export import export_all  # noqa: E402
from models import AttributeClassifier, PatchPca, TextEncoder, UNet, VaeDecoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NAME = os.environ.get("MODEL_NAME", "shapes-diffusion")
OUT = Path(os.environ.get("OUT_DIR", ROOT / "models" / NAME))
THREADS = int(os.environ.get("TORCH_THREADS", "1"))
N_TRAIN = int(os.environ.get("N_TRAIN", "30000"))
CLS_SECONDS = float(os.environ.get("CLS_SECONDS", "30"))
PCA_COMPONENTS = 12
BATCH = 48
DIFF_SECONDS = float(os.environ.get("DIFF_SECONDS", "2280"))
REFINE_SECONDS = float(os.environ.get("REFINE_SECONDS", "150"))
EVAL_PROMPTS = int(os.environ.get("EVAL_PROMPTS", "240"))
SEED = 20240601


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


def train_classifier(x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor) -> tuple[AttributeClassifier, dict]:
    clf = AttributeClassifier(len(shapes.COLOUR_NAMES), len(shapes.SHAPES), 3, len(shapes.POSITION_NAMES))
    opt = torch.optim.AdamW(clf.parameters(), 2e-3, weight_decay=1e-4)
    start, step = time.time(), 0
    while time.time() - start < CLS_SECONDS:
        idx = torch.randint(0, len(x), (64,))
        loss = classifier_loss(clf, augment(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            log(f"classifier step {step} loss {loss.item():.4f}")
    clf.eval()
    acc = judge(clf, xt, yt)
    acc.update(steps=step, seconds=round(time.time() - start, 1))
    log(f"classifier held-out accuracy {acc}")
    return clf, acc


def augment(x: torch.Tensor) -> torch.Tensor:
    # Small brightness jitter and noise so the judge does not rely on the renderer's exact pixels.
    b = x * torch.empty(len(x), 1, 1, 1).uniform_(0.85, 1.1) + torch.randn_like(x) * 0.03
    return b.clamp(0, 1)


def classifier_loss(clf: AttributeClassifier, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    heads = clf.split(clf(x))
    loss = sum(F.cross_entropy(heads[i], y[:, i]) for i in range(3))
    has_pos = y[:, 3] >= 0
    if has_pos.any():
        loss = loss + F.cross_entropy(heads[3][has_pos], y[has_pos, 3])
    return loss


@torch.no_grad()
def judge(clf: AttributeClassifier, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Per-attribute accuracy (position over images whose prompt names one) and all-attributes-correct."""
    heads = clf.split(torch.cat([clf(x[i:i + 256]) for i in range(0, len(x), 256)]))
    ok = [(h.argmax(1) == y[:, i]) for i, h in enumerate(heads)]
    has_pos = y[:, 3] >= 0
    all_ok = ok[0] & ok[1] & ok[2] & (ok[3] | ~has_pos)
    return {
        "colour": round(ok[0].float().mean().item(), 4),
        "shape": round(ok[1].float().mean().item(), 4),
        "count": round(ok[2].float().mean().item(), 4),
        "position": round(ok[3][has_pos].float().mean().item(), 4) if has_pos.any() else None,
        "all": round(all_ok.float().mean().item(), 4),
        "images": len(x),
    }


def fit_patch_pca(x: torch.Tensor) -> tuple[PatchPca, dict]:
    """Principal components of 4x4 RGB patches (values in [-1, 1]) over 5,000 training images."""
    start = time.time()
    img = x[:5000] * 2 - 1
    p = img.permute(0, 2, 3, 1).reshape(-1, 8, 4, 8, 4, 3).permute(0, 1, 3, 2, 4, 5).reshape(-1, 48).double()
    mean = p.mean(0)
    _, s, vt = torch.linalg.svd(p - mean, full_matrices=False)
    explained = float((s[:PCA_COMPONENTS] ** 2).sum() / (s ** 2).sum())
    pca = PatchPca(vt[:PCA_COMPONENTS].float(), mean.float())
    return pca, {"components": PCA_COMPONENTS, "explained_variance": round(explained, 4), "seconds": round(time.time() - start, 1)}


def train_refiner(dec: VaeDecoder, x: torch.Tensor, seconds: float = REFINE_SECONDS) -> dict:
    """Trains the decoder's residual refinement: PCA reconstruction -> rendered image (L1, images in [-1, 1]).

    The latents get a little noise (up to 7% of their spread) so the refinement also holds for the
    generator's slightly imperfect latents. Only `dec.refine` changes; the latent space stays fixed."""
    params = list(dec.refine.parameters())
    opt = torch.optim.AdamW(params, 2e-3, weight_decay=1e-4)
    std = float(dec.encode(x[:500] * 2 - 1).std())
    dec.train()
    start, step, losses = time.time(), 0, []
    while (elapsed := time.time() - start) < seconds:
        for g in opt.param_groups:
            g["lr"] = 2e-3 * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * elapsed / seconds)))
        img = x[torch.randint(0, len(x), (64,))] * 2 - 1
        with torch.no_grad():
            z = dec.encode(img)
            z = z + torch.randn_like(z) * torch.rand(len(z), 1, 1, 1) * 0.07 * std
        loss = F.l1_loss(dec.unclamped(z), img)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        losses.append(loss.item())
        if step % 200 == 0:
            log(f"decoder refinement step {step} L1 {np.mean(losses[-200:]):.4f}")
    dec.eval()
    return {"steps": step, "seconds": round(time.time() - start, 1), "batch": 64,
            "final_l1": round(float(np.mean(losses[-200:])), 5),
            "parameters": sum(p.numel() for p in params)}


CHECKPOINT = ROOT / "tools" / "train-image" / "checkpoint.pt"


def load_checkpoint() -> tuple[dict, np.ndarray, torch.Tensor, VaeDecoder]:
    """checkpoint.pt, the training renders (their tokens, and the images as a tensor) and the checkpoint's decoder."""
    ck = torch.load(CHECKPOINT)
    images, tokens, _, _ = shapes.dataset(N_TRAIN, SEED)
    return ck, tokens, to_tensor(images), VaeDecoder.from_state(ck["dec"])


def update_metrics(t0: float, change) -> None:
    """Applies `change` to training-metrics.json and adds this run's wall time (since `t0`) to the total."""
    path = OUT / "training-metrics.json"
    metrics = json.loads(path.read_text())
    change(metrics)
    metrics["training_seconds_total"] = round(metrics["training_seconds_total"] + time.time() - t0, 1)
    path.write_text(json.dumps(metrics, indent=2) + "\n")


def refine_decoder() -> None:
    """REFINE_DECODER=1: trains the decoder refinement of the model in checkpoint.pt and re-exports it.

    The generator is untouched (same latent space); the judge's figures then come from judge.py."""
    t0 = time.time()
    ck, _, x, dec = load_checkpoint()
    stats = train_refiner(dec, x)
    text = TextEncoder(len(shapes.VOCAB), shapes.MAX_TOKENS)
    text.load_state_dict(ck["text"])
    unet = UNet(48, 96, 96)
    unet.load_state_dict(ck["unet"])
    text.eval()
    unet.eval()
    export_all(OUT, text, unet, dec, ck["scale"])
    torch.save({**ck, "dec": dec.state_dict()}, CHECKPOINT)

    def record(metrics: dict) -> None:
        metrics["latent_space"]["refinement"] = stats
        metrics["parameters"]["vae_decoder"] = sum(p.numel() for p in dec.parameters())
    update_metrics(t0, record)
    log(f"decoder refined {stats}")


def train_diffusion(latents: torch.Tensor, tokens: torch.Tensor, init: dict | None = None,
                    seconds: float = DIFF_SECONDS, peak_lr: float = 2e-3) -> tuple[TextEncoder, UNet, dict]:
    text = TextEncoder(len(shapes.VOCAB), shapes.MAX_TOKENS)
    unet = UNet(48, 96, 96)
    if init is not None:  # resume from a checkpoint's (EMA) weights
        text.load_state_dict(init["text"])
        unet.load_state_dict(init["unet"])
    params = [*text.parameters(), *unet.parameters()]
    opt = torch.optim.AdamW(params, peak_lr, weight_decay=1e-4)
    ema_text, ema_unet = copy.deepcopy(text), copy.deepcopy(unet)
    ema_params = [*ema_text.parameters(), *ema_unet.parameters()]
    ac = diffusion.alphas_cumprod()
    empty = torch.tensor(shapes.tokenize(""))
    start, step, losses = time.time(), 0, []
    while (elapsed := time.time() - start) < seconds:
        # Linear warm-up, then a cosine decay over the wall-clock budget.
        frac = elapsed / seconds
        lr = peak_lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, len(latents), (BATCH,))
        z0, tok = latents[idx], tokens[idx].clone()
        drop = torch.rand(len(idx)) < 0.1
        tok[drop] = empty
        t = torch.randint(0, 1000, (len(idx),))
        noise = torch.randn_like(z0)
        a = ac[t].reshape(-1, 1, 1, 1)
        zt = a.sqrt() * z0 + (1 - a).sqrt() * noise
        loss = F.mse_loss(unet(zt, t.float(), text(tok)), noise)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        decay = min(0.995, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema_params, params):
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
        losses.append(loss.item())
        if step % 200 == 0:
            log(f"diffusion step {step} loss {np.mean(losses[-200:]):.4f} lr {lr:.2e}")
    ema_text.eval()
    ema_unet.eval()
    return ema_text, ema_unet, {"steps": step, "seconds": round(time.time() - start, 1), "peak_lr": peak_lr,
                                "final_loss": round(float(np.mean(losses[-200:])), 5), "batch": BATCH}


def resume(seconds: float) -> None:
    """Continues the generator from checkpoint.pt for `seconds` more (RESUME_SECONDS), then exports it."""
    t0 = time.time()
    ck, tokens, x, dec = load_checkpoint()
    with torch.no_grad():
        z = torch.cat([dec.encode(x[i:i + 1000] * 2 - 1) for i in range(0, len(x), 1000)])
    text, unet, stats = train_diffusion(z * ck["scale"], torch.from_numpy(tokens), init=ck, seconds=seconds, peak_lr=1e-3)
    export_all(OUT, text, unet, dec, ck["scale"])
    write_samples(text, unet, dec, ck["scale"])
    torch.save({**ck, "text": text.state_dict(), "unet": unet.state_dict()}, CHECKPOINT)
    update_metrics(t0, lambda metrics: metrics.setdefault("diffusion_resumed", []).append(stats))
    log(f"resumed {stats}")


def eval_scenes(n: int) -> list[shapes.Scene]:
    rng = random.Random(SEED + 7)
    return [shapes.random_scene(rng) for _ in range(n)]


@torch.no_grad()
def generate(text, unet, dec, scale, scenes, steps=25, guidance=4.0, seed=1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    uncond = torch.tensor([shapes.tokenize("")])
    out = []
    for i in range(0, len(scenes), 32):
        tok = torch.tensor([shapes.tokenize(s.prompt()) for s in scenes[i:i + 32]])
        z = diffusion.ddim_sample(unet, text, tok, uncond, steps, guidance, gen)
        out.append((dec(z / scale) + 1) / 2)
    return torch.cat(out).clamp(0, 1)


SAMPLE_PROMPTS = ["a red circle", "a blue square on the left", "two yellow triangles", "three green circles",
                  "a purple triangle at the top", "a white square in the center", "two red squares",
                  "a green circle on the right"]


def write_samples(text, unet, dec, scale) -> None:
    """Sample PNGs (DDIM 25, cfg 4, seed 1) straight from torch; the TS service's own are in the card."""
    gen = torch.Generator().manual_seed(1)
    tok = torch.tensor([shapes.tokenize(p) for p in SAMPLE_PROMPTS])
    z = diffusion.ddim_sample(unet, text, tok, torch.tensor([shapes.tokenize("")]), 25, 4.0, gen)
    with torch.no_grad():
        img = ((dec(z / scale) + 1) / 2).clamp(0, 1)
    (OUT / "samples").mkdir(exist_ok=True)
    for p, im in zip(SAMPLE_PROMPTS, img):
        rgb = (im.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
        shapes.write_png(str(OUT / "samples" / ("torch-" + p.replace(" ", "-") + ".png")), rgb)


def main() -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    t0 = time.time()
    log(f"rendering {N_TRAIN} + 2000 scenes")
    images, tokens, lab, _ = shapes.dataset(N_TRAIN, SEED)
    test_images, _, test_lab, _ = shapes.dataset(2000, SEED + 1)
    x, y = to_tensor(images), torch.from_numpy(lab)
    render_s = time.time() - t0
    clf, clf_acc = train_classifier(x, y, to_tensor(test_images), torch.from_numpy(test_lab))
    pca, ae_stats = fit_patch_pca(x)
    dec = pca.decoder()
    ae_stats["refinement"] = train_refiner(dec, x)
    with torch.no_grad():
        z = torch.cat([pca.encode(x[i:i + 1000] * 2 - 1) for i in range(0, len(x), 1000)])
        rec = (dec(z[:2000]) + 1) / 2
    scale = float(1.0 / z.std())
    ae_stats["reconstruction_mae_0_255"] = round(float((rec - x[:2000]).abs().mean() * 255), 3)
    ae_stats["reconstruction_classifier"] = judge(clf, rec, y[:2000])
    log(f"latent space {ae_stats}; scaling_factor {scale:.5f}")
    text, unet, diff_stats = train_diffusion(z * scale, torch.from_numpy(tokens))
    train_s = time.time() - t0
    export_all(OUT, text, unet, dec, scale)
    scenes = eval_scenes(EVAL_PROMPTS)
    results = {}
    for guidance in (1.0, 4.0):
        gen = generate(text, unet, dec, scale, scenes, guidance=guidance)
        results[f"ddim25_cfg{guidance:g}"] = judge(clf, gen, torch.tensor([shapes.labels(s) for s in scenes]))
        log(f"generated-image accuracy (DDIM 25, cfg {guidance}): {results[f'ddim25_cfg{guidance:g}']}")
    write_samples(text, unet, dec, scale)
    metrics = {
        "model": NAME, "seed": SEED, "threads": THREADS, "train_scenes": N_TRAIN,
        "render_seconds": round(render_s, 1), "training_seconds_total": round(train_s, 1),
        "classifier": clf_acc, "latent_space": ae_stats, "scaling_factor": scale, "diffusion": diff_stats,
        "parameters": {"text_encoder": sum(p.numel() for p in text.parameters()),
                       "unet": sum(p.numel() for p in unet.parameters()),
                       "vae_decoder": sum(p.numel() for p in dec.parameters()),
                       "classifier": sum(p.numel() for p in clf.parameters())},
        "generated_accuracy": results, "eval_prompts": EVAL_PROMPTS,
    }
    (OUT / "training-metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    torch.save({"text": text.state_dict(), "unet": unet.state_dict(), "dec": dec.state_dict(), "clf": clf.state_dict(),
                "scale": scale}, CHECKPOINT)
    log(f"done in {time.time() - t0:.0f} s -> {OUT}")


if __name__ == "__main__":
    torch.set_num_threads(THREADS)
    if os.environ.get("RESUME_SECONDS"):
        resume(float(os.environ["RESUME_SECONDS"]))
    elif os.environ.get("REFINE_DECODER"):
        refine_decoder()
    else:
        main()
