#!/usr/bin/python3
"""Trains the attribute classifier (the judge of the model card) on freshly rendered scenes and
scores `shapes-diffusion`'s generated images with it.

Separate from the generator: its own rendered data (another seed), its own network
(models.AttributeClassifier), a fixed step count. It loads the generator from the checkpoint
train.py leaves (tools/train-image/checkpoint.pt), samples EVAL_PROMPTS prompts of the grammar with
DDIM (25 steps) at guidance 1 and 4, and writes per-attribute accuracy into training-metrics.json,
the judge to eval/attribute_classifier.onnx (the image service's spec judges its own output with it).

    /usr/bin/python3 tools/train-image/judge.py      # after train.py
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import shapes  # noqa: E402
from export import OPSET, _json  # noqa: E402
from models import AttributeClassifier, TextEncoder, UNet, VaeDecoder  # noqa: E402
from train import ROOT, augment, classifier_loss, eval_scenes, generate, judge, log, to_tensor  # noqa: E402

NAME = os.environ.get("MODEL_NAME", "shapes-diffusion")
OUT = Path(os.environ.get("OUT_DIR", ROOT / "models" / NAME))
STEPS = int(os.environ.get("JUDGE_STEPS", "900"))
N_TRAIN = int(os.environ.get("JUDGE_TRAIN", "20000"))
EVAL_PROMPTS = int(os.environ.get("EVAL_PROMPTS", "300"))
SEED = 777


def main() -> None:
    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    torch.manual_seed(SEED)
    t0 = time.time()
    cache = ROOT / "tools" / "train-image" / "judge.pt"
    shipped = OUT / "eval" / "attribute_classifier.onnx"
    if cache.exists():  # trained already (the judge does not depend on the generator)
        saved = torch.load(cache)
        clf = AttributeClassifier(len(shapes.COLOUR_NAMES), len(shapes.SHAPES), 3, len(shapes.POSITION_NAMES))
        clf.load_state_dict(saved["clf"])
        clf.eval()
        held_out, judge_s = saved["held_out"], saved["seconds"]
    elif shipped.exists() and not os.environ.get("RETRAIN_JUDGE"):
        # The judge the model folder already ships: reusing it keeps every model's figures comparable.
        clf = load_shipped_judge(shipped)
        earlier = json.loads((OUT / "training-metrics.json").read_text())["judge"]
        held_out, judge_s = earlier["held_out_rendered"], earlier["seconds"]
        torch.save({"clf": clf.state_dict(), "held_out": held_out, "seconds": judge_s}, cache)
    else:
        clf, held_out, judge_s = train_judge(t0)
        torch.save({"clf": clf.state_dict(), "held_out": held_out, "seconds": judge_s}, cache)
    if os.environ.get("JUDGE_ONLY"):
        return
    evaluate(clf, held_out, judge_s, t0)


def load_shipped_judge(path: Path) -> AttributeClassifier:
    """The classifier in eval/attribute_classifier.onnx, back in torch (its initialisers are the state dict)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    clf = AttributeClassifier(len(shapes.COLOUR_NAMES), len(shapes.SHAPES), 3, len(shapes.POSITION_NAMES))
    clf.load_state_dict(weights)
    return clf.eval()


def train_judge(t0: float):
    images, _, lab, _ = shapes.dataset(N_TRAIN, SEED)
    test_images, _, test_lab, _ = shapes.dataset(2000, SEED + 1)
    x, y = to_tensor(images), torch.from_numpy(lab)
    clf = AttributeClassifier(len(shapes.COLOUR_NAMES), len(shapes.SHAPES), 3, len(shapes.POSITION_NAMES))
    opt = torch.optim.AdamW(clf.parameters(), 2e-3, weight_decay=1e-4)
    for step in range(STEPS):
        idx = torch.randint(0, len(x), (64,))
        loss = classifier_loss(clf, augment(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % 100 == 0:
            log(f"judge step {step + 1} loss {loss.item():.4f}")
    clf.eval()
    held_out = judge(clf, to_tensor(test_images), torch.from_numpy(test_lab))
    judge_s = time.time() - t0
    log(f"judge held-out accuracy on rendered scenes {held_out}")
    return clf, held_out, round(judge_s, 1)


def evaluate(clf, held_out: dict, judge_s: float, t0: float) -> None:

    ck = torch.load(ROOT / "tools" / "train-image" / "checkpoint.pt")
    text = TextEncoder(len(shapes.VOCAB), shapes.MAX_TOKENS)
    text.load_state_dict(ck["text"])
    unet = UNet(48, 96, 96)
    unet.load_state_dict(ck["unet"])
    decoder = VaeDecoder.from_state(ck["dec"])
    text.eval()
    unet.eval()
    scenes = eval_scenes(EVAL_PROMPTS)
    labels = torch.tensor([shapes.labels(s) for s in scenes])
    generated = {}
    for guidance in (1.0, 4.0):
        imgs = generate(text, unet, decoder, ck["scale"], scenes, guidance=guidance)
        generated[f"ddim25_cfg{guidance:g}"] = judge(clf, imgs, labels)
        log(f"generated-image accuracy (DDIM 25, guidance {guidance}): {generated[f'ddim25_cfg{guidance:g}']}")

    (OUT / "eval").mkdir(parents=True, exist_ok=True)
    torch.onnx.export(clf, (torch.rand(2, 3, 32, 32),), str(OUT / "eval" / "attribute_classifier.onnx"), input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=OPSET)
    metrics_path = OUT / "training-metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    metrics["judge"] = {"steps": STEPS, "batch": 64, "train_scenes": N_TRAIN, "seed": SEED, "seconds": judge_s,
                        "parameters": sum(p.numel() for p in clf.parameters()), "held_out_rendered": held_out}
    metrics["generated_accuracy"] = generated
    metrics["eval_prompts"] = EVAL_PROMPTS
    metrics.pop("classifier", None)
    _json(metrics_path, metrics)
    log(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
