"""The networks of `shapes-diffusion`, in plain torch, written so they export to ONNX cleanly.

- `PatchPca`: the "VAE": each 4x4 RGB patch (48 values) <-> its 12 leading principal components, so
  RGB 32x32 <-> latent 12x8x8 (spatial factor 4). Fitted in closed form (SVD), not trained; only the
  decoder ships (`vae_decoder/`: a 1x1 convolution, PixelShuffle, a small learned residual
  refinement at pixel resolution and a clamp).
- `TextEncoder`: word embeddings + learned positions + two pre-norm self-attention blocks ->
  `last_hidden_state` [B, 16, 64] (the CLIP text encoder's role).
- `UNet`: epsilon prediction at 8x8 -> 4x4 -> 8x8 with residual blocks modulated (FiLM) by the timestep
  embedding plus the mean text state, and cross-attention to the text states at both resolutions;
  coordinate features (computed in the graph) enter the first convolution, every cross-attention
  query and a prompt-dependent spatial shift in every residual block, so position words can act.
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
    """latent_sample [B,12,h,w] (already divided by scaling_factor) -> sample [B,3,4h,4w] in [-1, 1].

    The patch-PCA reconstruction (1x1 convolution, PixelShuffle) plus a small residual refinement:
    4 convolutions at pixel resolution, trained to turn the reconstruction back into the rendered
    image (12 components per 4x4 patch round off corners, so triangles read as circles). The last
    convolution starts at zero, so an untrained refinement is the plain PCA decoder, and the
    latent space (the encoder) stays the fixed projection: nothing here can collapse."""

    def __init__(self, basis: torch.Tensor, mean: torch.Tensor, width: int = 32) -> None:
        super().__init__()
        self.proj = nn.Conv2d(basis.shape[0], 48, 1)
        with torch.no_grad():
            self.proj.weight.copy_(basis.t().reshape(48, -1, 1, 1))
            self.proj.bias.copy_(mean)
        self.refine = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.SiLU(),
            nn.Conv2d(width, 3, 3, padding=1),
        )
        nn.init.zeros_(self.refine[-1].weight)
        nn.init.zeros_(self.refine[-1].bias)

    @staticmethod
    def from_state(state: dict) -> "VaeDecoder":
        """Rebuilds a decoder from its state dict; one saved before the refinement existed decodes as plain PCA."""
        dec = VaeDecoder(state["proj.weight"].reshape(48, -1).t(), state["proj.bias"])
        missing, unexpected = dec.load_state_dict(state, strict=False)
        assert not unexpected and all(k.startswith("refine.") for k in missing), (missing, unexpected)
        return dec.eval()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """RGB [B,3,H,W] in [-1, 1] -> unscaled latents [B,12,H/4,W/4] (the PCA projection the decoder inverts)."""
        basis = self.proj.weight.reshape(48, -1).t()
        return torch.einsum("bphw,kp->bkhw", F.pixel_unshuffle(x, 4) - self.proj.bias.reshape(1, -1, 1, 1), basis)

    def unclamped(self, latent_sample: torch.Tensor) -> torch.Tensor:
        base = F.pixel_shuffle(self.proj(latent_sample), 4)
        return base + self.refine(base)

    def forward(self, latent_sample: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.unclamped(latent_sample), -1.0, 1.0)


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


COORD_FEATURES = 10


def coordinate_features(x: torch.Tensor) -> torch.Tensor:
    """[1, COORD_FEATURES, h, w]: where each cell of `x` ([B, C, h, w]) is, computed from its shape.

    The x and y of each cell centre in [-1, 1] and their sines and cosines at two frequencies, so
    one linear map can pick out the left or right edge (x), the top or bottom (y) or the middle
    (cos(pi x) + cos(pi y)). Computed inside the graph (Range, Sin, Cos), not an input, and valid
    for any latent size."""
    h, w = x.shape[-2], x.shape[-1]
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1
    gx, gy = xs.reshape(1, -1).expand(h, w), ys.reshape(-1, 1).expand(h, w)
    feats = [gx, gy]
    for k in (1.0, 2.0):
        feats += [torch.cos(math.pi * k * gx), torch.cos(math.pi * k * gy),
                  torch.sin(math.pi * k * gx), torch.sin(math.pi * k * gy)]
    return torch.stack(feats).unsqueeze(0)


class ResBlock(nn.Module):
    """Residual block with FiLM from the (timestep + text) embedding, plus a spatial shift: the
    embedding picks a per-channel mix of the coordinate features, so the prompt can raise features
    on the left, at the top or in the centre directly (a per-pixel, prompt-dependent bias)."""

    def __init__(self, cin: int, cout: int, emb: int) -> None:
        super().__init__()
        self.n1 = nn.GroupNorm(8, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(emb, cout * 2)
        self.where = nn.Linear(emb, cout * COORD_FEATURES)
        self.n2 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor, pe: torch.Tensor) -> torch.Tensor:
        h = self.c1(F.silu(self.n1(x)))
        b, c, hh, ww = h.shape
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        mix = self.where(emb).reshape(b, c, COORD_FEATURES)
        spatial = (mix @ pe.reshape(COORD_FEATURES, hh * ww)).reshape(b, c, hh, ww)
        h = self.n2(h) * (1 + scale) + shift + spatial
        h = self.c2(F.silu(h))
        return self.skip(x) + h


class CrossAttnBlock(nn.Module):
    """Cross-attention from image cells to the text states, with the cell's coordinate features
    added to its query: a query then says where the cell is, so "left" can be attended from the
    left cells only (content-only queries are the same everywhere at high noise)."""

    def __init__(self, ch: int, context_dim: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(8, ch)
        self.pos = nn.Linear(COORD_FEATURES, ch)
        self.attn = Attention(ch, context_dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, pe: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        y = self.norm(x).reshape(b, c, hh * ww).transpose(1, 2)
        y = y + self.pos(pe.reshape(COORD_FEATURES, hh * ww).transpose(0, 1)).unsqueeze(0)
        y = self.attn(y, context).transpose(1, 2).reshape(b, c, hh, ww)
        return x + y


class UNet(nn.Module):
    """(sample [B,12,h,w], timestep [B] float, encoder_hidden_states [B,16,64]) -> out_sample (epsilon).

    Position words steer the layout through three routes built in from the start: coordinate
    features concatenated to the input of the first convolution, coordinate features added to every
    cross-attention query, and a prompt-dependent spatial shift in every residual block."""

    def __init__(self, ch: int = 64, ch2: int = 128, emb: int = 128) -> None:
        super().__init__()
        self.ch = ch
        self.time = nn.Sequential(nn.Linear(ch, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.text = nn.Linear(TEXT_DIM, emb)
        self.cin = nn.Conv2d(LATENT_CHANNELS + COORD_FEATURES, ch, 3, padding=1)
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
        pe = coordinate_features(sample)
        h0 = self.cin(torch.cat([sample, pe.expand(sample.shape[0], -1, -1, -1)], dim=1))
        h1 = self.a1(self.d1(h0, emb, pe), ctx, pe)
        h = self.down(h1)
        pe2 = coordinate_features(h)
        h = self.m2(self.ma(self.m1(h, emb, pe2), ctx, pe2), emb, pe2)
        h = self.up(h)
        h = self.u1(torch.cat([h, h1], dim=1), emb, pe)
        h = self.u2(self.a2(h, ctx, pe), emb, pe)
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
