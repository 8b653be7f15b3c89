"""A GPT-2-style decoder in plain torch, with the KV-cache interface standard ONNX exporters write.

forward(input_ids, attention_mask, position_ids, past) -> (logits, presents) where
  input_ids, position_ids: int64 [batch, seq]; attention_mask: int64 [batch, past_len + seq]
  (1 = attend, 0 = padding); past / presents: per layer (key, value), float32
  [batch, heads, len, head_dim]. Query i sits at slot past_len + i and sees slots <= its own that
  the mask keeps, exactly as Hugging Face GPT-2 / Llama exports behave.
"""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GptConfig:
    vocab_size: int
    n_positions: int = 512
    n_embd: int = 192
    n_layer: int = 4
    n_head: int = 6

    def to_dict(self) -> dict:
        return asdict(self)


class Block(nn.Module):
    def __init__(self, cfg: GptConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.head_dim = cfg.n_embd // cfg.n_head
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x, bias, past_k, past_v):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q = q.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim)) + bias
        y = F.softmax(att, dim=-1) @ v
        y = y.transpose(1, 2).reshape(b, t, c)
        x = x + self.c_proj(y)
        x = x + self.proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))
        return x, k, v


class Gpt(nn.Module):
    def __init__(self, cfg: GptConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.n_positions, cfg.n_embd)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.apply(self._init)
        for blk in self.blocks:
            nn.init.normal_(blk.c_proj.weight, std=0.02 / math.sqrt(2 * cfg.n_layer))
            nn.init.normal_(blk.proj.weight, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, input_ids, attention_mask, position_ids, past=None):
        b, t = input_ids.shape
        total = attention_mask.shape[1]
        past_len = total - t
        # Additive bias [b, 1, t, total]: causal over slots, and padding slots masked out.
        q_slot = torch.arange(t, device=input_ids.device).unsqueeze(1) + past_len
        k_slot = torch.arange(total, device=input_ids.device).unsqueeze(0)
        causal = k_slot <= q_slot
        keep = causal.unsqueeze(0) & (attention_mask.unsqueeze(1) > 0)
        bias = torch.where(keep, 0.0, -1e9).unsqueeze(1).to(torch.float32)
        x = self.wte(input_ids) + self.wpe(position_ids)
        presents = []
        for i, blk in enumerate(self.blocks):
            pk, pv = (past[i] if past is not None else (None, None))
            x, k, v = blk(x, bias, pk, pv)
            presents.append((k, v))
        logits = self.ln_f(x) @ self.wte.weight.t()
        return logits, presents

    def loss(self, ids):
        """Next-token cross-entropy over a [batch, seq+1] block of ids."""
        inp, tgt = ids[:, :-1], ids[:, 1:]
        b, t = inp.shape
        mask = torch.ones(b, t, dtype=torch.long)
        pos = torch.arange(t).unsqueeze(0).expand(b, t)
        logits, _ = self(inp, mask, pos)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))


class OnnxWrapper(nn.Module):
    """Flat signature for torch.onnx.export: past_key_values.N.key/value in, present.N.* out."""

    def __init__(self, model: Gpt):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *flat_past):
        past = [(flat_past[2 * i], flat_past[2 * i + 1]) for i in range(len(flat_past) // 2)]
        logits, presents = self.model(input_ids, attention_mask, position_ids, past)
        out = [logits]
        for k, v in presents:
            out += [k, v]
        return tuple(out)


def export_onnx(model: Gpt, path: str) -> None:
    cfg = model.cfg
    hd = cfg.n_embd // cfg.n_head
    b, t, p = 2, 3, 1
    ids = torch.randint(0, cfg.vocab_size, (b, t))
    mask = torch.ones(b, p + t, dtype=torch.long)
    pos = torch.arange(p, p + t).unsqueeze(0).expand(b, t).contiguous()
    past = []
    in_names = ["input_ids", "attention_mask", "position_ids"]
    out_names = ["logits"]
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "total_sequence"},
            "position_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"}}
    for i in range(cfg.n_layer):
        for kind in ("key", "value"):
            past.append(torch.randn(b, cfg.n_head, p, hd))
            name = f"past_key_values.{i}.{kind}"
            in_names.append(name)
            axes[name] = {0: "batch", 2: "past_sequence"}
            oname = f"present.{i}.{kind}"
            out_names.append(oname)
            axes[oname] = {0: "batch", 2: "total_sequence"}
    torch.onnx.export(OnnxWrapper(model).eval(), (ids, mask, pos, *past), path, input_names=in_names,
                      output_names=out_names, dynamic_axes=axes, opset_version=17, do_constant_folding=True)


def hf_config(cfg: GptConfig, eos_id: int, bos_id: int, pad_id: int) -> dict:
    """The Hugging Face GPT-2 config.json fields the text server reads."""
    return {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": cfg.vocab_size,
        "n_positions": cfg.n_positions, "n_embd": cfg.n_embd, "n_layer": cfg.n_layer, "n_head": cfg.n_head,
        "bos_token_id": bos_id, "eos_token_id": eos_id, "pad_token_id": pad_id,
    }
