"""Writes a trained `shapes-diffusion` in the latent-diffusion ONNX layout common exporters produce:

    model_index.json, serving.json (this platform's limits and defaults)
    text_encoder/model.onnx   input_ids int32 [batch, 16] -> last_hidden_state float32 [batch, 16, 64]
    unet/model.onnx           sample [batch, 12, h, w], timestep float32 [batch], encoder_hidden_states
                              [batch, 16, 64] -> out_sample [batch, 4, h, w] (epsilon)
    vae_decoder/model.onnx    latent_sample [batch, 12, h, w] -> sample [batch, 3, 4h, 4w] in [-1, 1]
                              (the patch-PCA decoder: 1x1 conv, PixelShuffle(4), clamp)
    tokenizer/vocab.json, tokenizer/tokenizer_config.json (word level)
    scheduler/scheduler_config.json, */config.json
    eval/labels.json (the heads of the judge judge.py writes to eval/attribute_classifier.onnx)
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

import diffusion
import shapes

OPSET = 14


def _json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def _onnx(module: torch.nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], axes: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(module, args, str(path), input_names=inputs, output_names=outputs, dynamic_axes=axes,
                      opset_version=OPSET, do_constant_folding=True)


def export_all(out: Path, text, unet, dec, scale: float) -> None:
    """Writes the generator's parts and configs; the judge (eval/attribute_classifier.onnx) is judge.py's."""
    out.mkdir(parents=True, exist_ok=True)
    ids = torch.tensor([shapes.tokenize("a red circle")] * 2, dtype=torch.int32)
    _onnx(text, (ids,), out / "text_encoder" / "model.onnx", ["input_ids"], ["last_hidden_state"],
          {"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}})
    ctx = text(ids)
    _onnx(unet, (torch.randn(2, 12, 8, 8), torch.tensor([999.0, 1.0]), ctx), out / "unet" / "model.onnx",
          ["sample", "timestep", "encoder_hidden_states"], ["out_sample"],
          {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep": {0: "batch"},
           "encoder_hidden_states": {0: "batch"}, "out_sample": {0: "batch", 2: "height", 3: "width"}})
    _onnx(dec, (torch.randn(2, 12, 8, 8),), out / "vae_decoder" / "model.onnx", ["latent_sample"], ["sample"],
          {"latent_sample": {0: "batch", 2: "height", 3: "width"}, "sample": {0: "batch", 2: "height", 3: "width"}})
    _json(out / "eval" / "labels.json", {
        "input": "image float32 [batch, 3, 32, 32], RGB in [0, 1]",
        "heads": [{"name": "colour", "labels": shapes.COLOUR_NAMES}, {"name": "shape", "labels": shapes.SHAPES},
                  {"name": "count", "labels": ["1", "2", "3"]}, {"name": "position", "labels": shapes.POSITION_NAMES}],
    })
    _json(out / "model_index.json", {
        "_class_name": "OnnxStableDiffusionPipeline",
        "_diffusers_version": "0.21.0",
        "text_encoder": ["onnxruntime", "OnnxRuntimeModel"],
        "unet": ["onnxruntime", "OnnxRuntimeModel"],
        "vae_decoder": ["onnxruntime", "OnnxRuntimeModel"],
        "tokenizer": ["aigc", "WordLevelTokenizer"],
        "scheduler": ["diffusers", "DDIMScheduler"],
    })
    _json(out / "scheduler" / "scheduler_config.json", diffusion.CONFIG)
    _json(out / "text_encoder" / "config.json", {"hidden_size": 64, "max_position_embeddings": shapes.MAX_TOKENS,
                                                 "vocab_size": len(shapes.VOCAB)})
    _json(out / "unet" / "config.json", {"sample_size": 8, "in_channels": 12, "out_channels": 12, "cross_attention_dim": 64})
    # block_out_channels has 3 entries: the latent is 4x smaller per axis (vae scale factor 2 ** (3 - 1) = 4).
    _json(out / "vae_decoder" / "config.json", {"latent_channels": 12, "out_channels": 3, "sample_size": 32,
                                                "block_out_channels": [16, 32, 64], "scaling_factor": scale})
    _json(out / "tokenizer" / "vocab.json", shapes.VOCAB)
    _json(out / "tokenizer" / "tokenizer_config.json", {
        "tokenizer_class": "WordLevelTokenizer", "model_max_length": shapes.MAX_TOKENS, "do_lower_case": True,
        "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
    })
    _json(out / "serving.json", {
        "defaultSize": 32, "minSize": 32, "maxSize": 64, "sizeMultiple": 8, "defaultSteps": 25, "maxSteps": 100,
        "defaultGuidanceScale": 4.0, "maxGuidanceScale": 20.0, "maxImages": 8, "defaultScheduler": "ddim",
    })
