"""Noise schedule and DDIM sampling in torch, with the same conventions as the TypeScript schedulers
(diffusers' `scaled_linear` betas, `leading` timestep spacing with `steps_offset`, eta = 0)."""
from __future__ import annotations

import torch

CONFIG = {
    "_class_name": "DDIMScheduler",
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "clip_sample": False,
    "timestep_spacing": "leading",
}


def alphas_cumprod() -> torch.Tensor:
    c = CONFIG
    betas = torch.linspace(c["beta_start"] ** 0.5, c["beta_end"] ** 0.5, c["num_train_timesteps"], dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0).float()


@torch.no_grad()
def ddim_sample(unet, text_encoder, tokens: torch.Tensor, uncond: torch.Tensor, steps: int, guidance: float,
                gen: torch.Generator, latent_shape=(12, 8, 8)) -> torch.Tensor:
    """Samples latents [B, *latent_shape] for token ids [B,16] with classifier-free guidance."""
    ac = alphas_cumprod()
    n = tokens.shape[0]
    ratio = CONFIG["num_train_timesteps"] // steps
    timesteps = [i * ratio + CONFIG["steps_offset"] for i in reversed(range(steps))]
    ctx = text_encoder(torch.cat([uncond.expand(n, -1), tokens]))
    x = torch.randn((n, *latent_shape), generator=gen)
    for t in timesteps:
        eps_u, eps_c = unet(torch.cat([x, x]), torch.full((2 * n,), float(t)), ctx).chunk(2)
        eps = eps_u + guidance * (eps_c - eps_u)
        a = ac[t]
        prev = t - ratio
        a_prev = ac[prev] if prev >= 0 else ac[0]
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return x
