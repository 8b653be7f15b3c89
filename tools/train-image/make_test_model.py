#!/usr/bin/python3
"""Builds `tiny-sd`, a random-weight test model in the Stable Diffusion ONNX layout with the
conventions the default model does not use, so the image service's specs cover them:

- tokenizer/vocab.json + merges.txt (CLIP byte-level BPE), `input_ids` int64 [batch, 8]
- unet `timestep` an int64 scalar (one timestep per call), 4 latent channels, outputs `out_sample`
- vae_decoder upsampling 2x (block_out_channels of length 2), scaling_factor 0.18215
- no serving.json: limits come from unet/config.json sample_size (8 -> 16 px) and the defaults
- scheduler_config.json of Stable Diffusion 1.x (PNDMScheduler class name, scaled_linear)

    /usr/bin/python3 tools/train-image/make_test_model.py   # writes services/image/test/models/tiny-sd
"""
import json
from pathlib import Path

import torch
import torch.nn as nn

OUT = Path(__file__).resolve().parents[2] / "services" / "image" / "test" / "models" / "tiny-sd"
WORDS = ["a", "red", "circle", "blue"]


def clip_vocab() -> tuple[dict, list[str]]:
    chars = sorted({c for w in WORDS for c in w})
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    merges = []
    for w in WORDS:
        parts = list(w[:-1]) + [w[-1] + "</w>"]
        while len(parts) > 1:
            merges.append(f"{parts[0]} {parts[1]}")
            parts = [parts[0] + parts[1]] + parts[2:]
            vocab.setdefault(parts[0], len(vocab))
    return vocab, list(dict.fromkeys(merges))


class Text(nn.Module):
    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 16)
        self.pos = nn.Parameter(torch.randn(1, 8, 16) * 0.1)

    def forward(self, input_ids):
        return torch.tanh(self.embed(input_ids) + self.pos)


class Unet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.ctx = nn.Linear(16, 4)

    def forward(self, sample, timestep, encoder_hidden_states):
        t = (timestep.float() / 1000.0).reshape(1, 1, 1, 1)
        c = self.ctx(encoder_hidden_states.mean(dim=1))[:, :, None, None]
        return torch.tanh(self.conv(sample) * (1 + t) + c)


class Decoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, latent_sample):
        return torch.tanh(self.conv(nn.functional.interpolate(latent_sample, scale_factor=2.0, mode="nearest")))


def main() -> None:
    torch.manual_seed(7)
    vocab, merges = clip_vocab()
    for d in ["text_encoder", "unet", "vae_decoder", "tokenizer", "scheduler"]:
        (OUT / d).mkdir(parents=True, exist_ok=True)
    ids = torch.zeros(2, 8, dtype=torch.long)
    text = Text(len(vocab)).eval()
    torch.onnx.export(text, (ids,), str(OUT / "text_encoder" / "model.onnx"), input_names=["input_ids"],
                      output_names=["last_hidden_state"], dynamic_axes={"input_ids": {0: "batch"}, "last_hidden_state": {0: "batch"}},
                      opset_version=14)
    torch.onnx.export(Unet().eval(), (torch.randn(2, 4, 8, 8), torch.tensor(10, dtype=torch.long), text(ids)),
                      str(OUT / "unet" / "model.onnx"), input_names=["sample", "timestep", "encoder_hidden_states"],
                      output_names=["out_sample"], opset_version=14,
                      dynamic_axes={"sample": {0: "batch", 2: "h", 3: "w"}, "encoder_hidden_states": {0: "batch"}, "out_sample": {0: "batch", 2: "h", 3: "w"}})
    torch.onnx.export(Decoder().eval(), (torch.randn(1, 4, 8, 8),), str(OUT / "vae_decoder" / "model.onnx"),
                      input_names=["latent_sample"], output_names=["sample"], opset_version=14,
                      dynamic_axes={"latent_sample": {0: "batch", 2: "h", 3: "w"}, "sample": {0: "batch", 2: "H", 3: "W"}})
    w = lambda p, v: (OUT / p).write_text(json.dumps(v, indent=2) + "\n")  # noqa: E731
    w("tokenizer/vocab.json", vocab)
    (OUT / "tokenizer" / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    w("tokenizer/tokenizer_config.json", {"model_max_length": 8, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                                          "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"})
    w("scheduler/scheduler_config.json", {"_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
                                          "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "set_alpha_to_one": False,
                                          "steps_offset": 1, "skip_prk_steps": True})
    w("unet/config.json", {"sample_size": 8, "in_channels": 4, "out_channels": 4})
    w("vae_decoder/config.json", {"block_out_channels": [8, 8], "scaling_factor": 0.18215, "latent_channels": 4})
    w("model_index.json", {"_class_name": "OnnxStableDiffusionPipeline", "text_encoder": ["onnxruntime", "OnnxRuntimeModel"],
                           "unet": ["onnxruntime", "OnnxRuntimeModel"], "vae_decoder": ["onnxruntime", "OnnxRuntimeModel"],
                           "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "PNDMScheduler"]})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
