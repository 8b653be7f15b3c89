"""The networks of `shapes-diffusion`, in plain torch, written so they export to ONNX cleanly.

- `PatchPca`: the "VAE": each 4x4 RGB patch (48 values) <-> its 12 leading principal components, so
  RGB 32x32 <-> latent 12x8x8 (spatial factor 4). Fitted in closed form (SVD), not trained; only the
  decoder ships (`vae_decoder/`: a 1x1 convolution, PixelShuffle and a clamp).
- `TextEncoder`: word embeddings + learned positions + two pre-norm self-attention blocks ->
  `last_hidden_state` [B, 16, 64] (the CLIP text encoder's role).
- `UNet`: epsilon prediction at 8x8 -> 4x4 -> 8x8 with residual blocks modulated (FiLM) by the timestep
  embedding plus the mean text state, and cross-attention to the text states at both resolutions.
- `AttributeClassifier`: the separate judge, a small CNN with heads for colour, shape, count, position.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

LATENT_CHANNELS = 12
TEXT_DIM = 64


class PatchPca(nn.Module):
    """Linear latent space over 4x4 patches: encode = PixelUnshuffle + projection, decode = its transpose."""

    def __init__(self, components: torch.Tensor, mean: torch.Tensor) -> None:
        # components [k, 48] and mean [48] index patch values as (dy, dx, c); PixelShuffle wants (c, dy, dx).
        super().__init__()
        k = components.shape[0]
        order = torch.tensor([dy * 12 + dx * 3 + c for c in range(3) for dy in range(4) for dx in range(4)])
        self.register_buffer("basis", components[:, order].clone())  # [k, 48] in (c, dy, dx) order
        self.register_buffer("mean", mean[order].clone())
        self.k = k

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        p = F.pixel_unshuffle(x, 4)  # [B, 48, 8, 8], channel (c, dy, dx)
        return torch.einsum("bphw,kp->bkhw", p - self.mean.reshape(1, -1, 1, 1), self.basis)

    def decoder(self) -> "VaeDecoder":
        return VaeDecoder(self.basis, self.mean)


class VaeDecoder(nn.Module):
    """latent_sample [B,12,h,w] (already divided by scaling_factor) -> sample [B,3,4h,4w] in [-1, 1]."""

    def __init__(self, basis: torch.Tensor, mean: torch.Tensor) -> None:
        super().__init__()
        self.proj = nn.Conv2d(basis.shape[0], 48, 1)
        with torch.no_grad():
            self.proj.weight.copy_(basis.t().reshape(48, -1, 1, 1))
            self.proj.bias.copy_(mean)

    def forward(self, latent_sample: torch.Tensor) -> torch.Tensor:
        return torch.clamp(F.pixel_shuffle(self.proj(latent_sample), 4), -1.0, 1.0)


class Attention(nn.Module):
    """Multi-head attention from plain matmuls (exports to basic ONNX ops)."""

    def __init__(self, dim: int, context_dim: int, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(context_dim, dim, bias=False)
        self.v = nn.Linear(context_dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q = self.q(x).reshape(b, n, h, d // h).transpose(1, 2)
        k = self.k(context).reshape(b, -1, h, d // h).transpose(1, 2)
        v = self.v(context).reshape(b, -1, h, d // h).transpose(1, 2)
        w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // h), dim=-1)
        return self.out((w @ v).transpose(1, 2).reshape(b, n, d))


class TextEncoder(nn.Module):
    def __init__(self, vocab: int, max_tokens: int, dim: int = TEXT_DIM, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(1, max_tokens, dim) * 0.02)
        self.blocks = nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(nn.ModuleDict({
                "n1": nn.LayerNorm(dim), "attn": Attention(dim, dim),
                "n2": nn.LayerNorm(dim), "mlp": nn.Sequential(nn.Linear(dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim)),
            }))
        self.final = nn.LayerNorm(dim)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(input_ids.long()) + self.pos
        for blk in self.blocks:
            y = blk["n1"](x)
            x = x + blk["attn"](y, y)
            x = x + blk["mlp"](blk["n2"](x))
        return self.final(x)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float().reshape(-1, 1) * freqs.reshape(1, -1)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=-1)


def coordinate_planes(sample: torch.Tensor) -> torch.Tensor:
    """[B, 2, h, w]: x and y of each cell centre in [-1, 1], computed from the input's shape."""
    b, _, h, w = sample.shape
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1
    grid = torch.stack([xs.reshape(1, -1).expand(h, w), ys.reshape(-1, 1).expand(h, w)])
    return grid.unsqueeze(0).expand(b, 2, h, w)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb: int) -> None:
        super().__init__()
        self.n1 = nn.GroupNorm(8, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(emb, cout * 2)
        self.n2 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.n2(h) * (1 + scale) + shift
        h = self.c2(F.silu(h))
        return self.skip(x) + h


class CrossAttnBlock(nn.Module):
    def __init__(self, ch: int, context_dim: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(8, ch)
        self.attn = Attention(ch, context_dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        y = self.norm(x).reshape(b, c, hh * ww).transpose(1, 2)
        y = self.attn(y, context).transpose(1, 2).reshape(b, c, hh, ww)
        return x + y


class UNet(nn.Module):
    """(sample [B,4,h,w], timestep [B] float, encoder_hidden_states [B,16,64]) -> out_sample (epsilon)."""

    def __init__(self, ch: int = 64, ch2: int = 128, emb: int = 128) -> None:
        super().__init__()
        self.ch = ch
        self.time = nn.Sequential(nn.Linear(ch, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.text = nn.Linear(TEXT_DIM, emb)
        self.cin = nn.Conv2d(LATENT_CHANNELS, ch, 3, padding=1)
        # Where each latent cell is (x, y in [-1, 1]): convolutions alone barely know, and prompts
        # name positions. Zero-initialised, so adding it to a trained model changes nothing at first.
        self.coords = nn.Conv2d(2, ch, 3, padding=1)
        nn.init.zeros_(self.coords.weight)
        nn.init.zeros_(self.coords.bias)
        # The prompt's say over where things go: per-channel gains of the x and y planes from the
        # (timestep + text) embedding, so "on the left" can tilt features towards the left directly.
        self.where = nn.Linear(emb, ch * 2)
        nn.init.zeros_(self.where.weight)
        nn.init.zeros_(self.where.bias)
        self.d1 = ResBlock(ch, ch, emb)
        self.a1 = CrossAttnBlock(ch, TEXT_DIM)
        self.down = nn.Conv2d(ch, ch2, 3, stride=2, padding=1)
        self.m1 = ResBlock(ch2, ch2, emb)
        self.ma = CrossAttnBlock(ch2, TEXT_DIM)
        self.m2 = ResBlock(ch2, ch2, emb)
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(ch2, ch, 3, padding=1))
        self.u1 = ResBlock(ch * 2, ch, emb)
        self.a2 = CrossAttnBlock(ch, TEXT_DIM)
        self.u2 = ResBlock(ch, ch, emb)
        self.nout = nn.GroupNorm(8, ch)
        self.cout = nn.Conv2d(ch, LATENT_CHANNELS, 3, padding=1)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        ctx = encoder_hidden_states
        emb = self.time(timestep_embedding(timestep, self.ch)) + self.text(ctx.mean(dim=1))
        emb = F.silu(emb)
        planes = coordinate_planes(sample)
        gx, gy = self.where(emb)[:, :, None, None].chunk(2, dim=1)
        h0 = self.cin(sample) + self.coords(planes) + gx * planes[:, 0:1] + gy * planes[:, 1:2]
        h1 = self.a1(self.d1(h0, emb), ctx)
        h = self.down(h1)
        h = self.m2(self.ma(self.m1(h, emb), ctx), emb)
        h = self.up(h)
        h = self.u1(torch.cat([h, h1], dim=1), emb)
        h = self.u2(self.a2(h, ctx), emb)
        return self.cout(F.silu(self.nout(h)))


class AttributeClassifier(nn.Module):
    """RGB [B,3,32,32] in [0,1] -> logits for colour (6), shape (3), count (3), position (5)."""

    def __init__(self, colours: int, shapes: int, counts: int, positions: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        )
        self.sizes = [colours, shapes, counts, positions]
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, sum(self.sizes)))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image))

    def split(self, logits: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(logits, self.sizes, dim=1))
