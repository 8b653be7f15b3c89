"""The acoustic model: phoneme ids -> durations -> log-mel frames, non-autoregressive and mask-exact.

Encoder: id + speaker embeddings, 4 residual conv blocks (k=5). Duration predictor: 2 convs -> log(1+frames).
Length regulator: a [frames x ids] 0/1 matrix built from cumulative durations (so it exports to ONNX as
CumSum/Range/comparisons/MatMul), plus each frame's relative position inside its phoneme. Decoder: 5
residual dilated conv blocks (k=3, dilations 1,2,4,8,1) -> 80 log-mel bins. Every layer re-applies the padding mask, so a row's
result does not depend on the other rows of a batch (batched == unbatched).

Noise is deterministic: an integer hash of the position (exact in ONNX int64 arithmetic), scaled by
`noise_w` (log-durations) and `noise_scale` (log-mel), so the same input always gives the same audio.
"""
import torch
from torch import nn

D_NOISE_W, D_NOISE_SCALE = 0.25, 0.1


class ConvBlock(nn.Module):
    def __init__(self, d: int, k: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(d, d, k, padding=dilation * (k - 1) // 2, dilation=dilation)
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # x [B, T, d], mask [B, T, 1]
        y = torch.relu(self.conv((x * mask).transpose(1, 2))).transpose(1, 2)
        return self.norm(x + y) * mask


def hash_noise(index: torch.Tensor) -> torch.Tensor:
    """Uniform noise in [-1, 1) from int64 positions; exact integer arithmetic (two LCG rounds)."""
    h = (index * 1103515245 + 12345) % 2147483648
    h = (h * 1103515245 + 12345) % 2147483648
    return (h // 256).to(torch.float32) / 4194304.0 - 1.0


class AcousticModel(nn.Module):
    def __init__(self, n_symbols: int, n_speakers: int, d: int = 96, n_mels: int = 80) -> None:
        super().__init__()
        self.embed = nn.Embedding(n_symbols, d)
        self.speaker = nn.Embedding(n_speakers, d)
        self.encoder = nn.ModuleList([ConvBlock(d, 5) for _ in range(4)])
        self.dur1 = nn.Conv1d(d, d, 3, padding=1)
        self.dur2 = nn.Conv1d(d, d, 3, padding=1)
        self.dur_out = nn.Linear(d, 1)
        self.frame_in = nn.Linear(d + 2, d)
        self.decoder = nn.ModuleList([ConvBlock(d, 3, dil) for dil in (1, 2, 4, 8, 1)])
        self.mel_out = nn.Linear(d, n_mels)

    def encode(self, ids, lengths, sid):
        t = ids.shape[1]
        mask = (torch.arange(t, device=ids.device)[None, :] < lengths[:, None]).to(torch.float32)[:, :, None]
        h = (self.embed(ids) + self.speaker(sid)[:, None, :]) * mask
        for block in self.encoder:
            h = block(h, mask)
        g = torch.relu(self.dur1((h * mask).transpose(1, 2)))
        g = torch.relu(self.dur2((g.transpose(1, 2) * mask).transpose(1, 2))).transpose(1, 2)
        log_dur = self.dur_out(g).squeeze(2) * mask.squeeze(2)
        return h, mask, log_dur

    def decode(self, h, durations, sid):
        """Expands ids to frames by `durations` [B, T] (float, whole numbers); returns log-mel and frame mask."""
        ends = torch.cumsum(durations, dim=1)
        starts = ends - durations
        total = ends[:, -1]
        frames = torch.max(total).to(torch.int64)
        t = torch.arange(frames, device=h.device).to(torch.float32)[None, :, None]  # [1, F, 1]
        w = ((t >= starts[:, None, :]) & (t < ends[:, None, :])).to(torch.float32)  # [B, F, T]
        x = torch.bmm(w, h)
        start_f = torch.bmm(w, starts[:, :, None])
        dur_f = torch.bmm(w, durations[:, :, None])
        rel = (t - start_f) / torch.clamp(dur_f, min=1.0)
        fmask = (t < total[:, None, None]).to(torch.float32)
        x = self.frame_in(torch.cat([x, rel, torch.log1p(dur_f)], dim=2)) + self.speaker(sid)[:, None, :]
        x = x * fmask
        for block in self.decoder:
            x = block(x, fmask)
        return self.mel_out(x) * fmask, fmask.squeeze(2)

    def forward(self, ids, lengths, sid, durations):
        h, mask, log_dur = self.encode(ids, lengths, sid)
        mel, fmask = self.decode(h, durations.to(torch.float32), sid)
        return mel, fmask, log_dur, mask.squeeze(2)


class Synthesizer(nn.Module):
    """The exported front half: Piper's inputs -> log-mel [B, F, 80], frame mask [B, F], sample counts [B]."""

    def __init__(self, model: AcousticModel, hop: int) -> None:
        super().__init__()
        self.model, self.hop = model, hop

    def forward(self, input, input_lengths, scales, sid):  # noqa: A002 (Piper's input name)
        noise_scale, length_scale, noise_w = scales[0], scales[1], scales[2]
        h, mask, log_dur = self.model.encode(input, input_lengths, sid)
        pos = torch.arange(input.shape[1], device=input.device)[None, :].expand(input.shape[0], -1)
        log_dur = log_dur + noise_w * D_NOISE_W * hash_noise(pos + 7919)
        dur = torch.round(torch.clamp(torch.exp(log_dur) - 1.0, min=0.0) * length_scale) * mask.squeeze(2)
        dur = torch.clamp(dur, max=400.0)
        # at least one frame per row, so every utterance has a body
        empty = (dur.sum(dim=1, keepdim=True) < 1).to(torch.float32)
        dur = torch.cat([dur[:, :1] + empty, dur[:, 1:]], dim=1)
        mel, fmask = self.model.decode(h, dur, sid)
        f = torch.arange(mel.shape[1], device=mel.device)[None, :, None]
        m = torch.arange(mel.shape[2], device=mel.device)[None, None, :]
        mel = mel + noise_scale * D_NOISE_SCALE * hash_noise(f * 131 + m) * fmask[:, :, None]
        lengths = fmask.sum(dim=1).to(torch.int64) * self.hop
        return mel, fmask, lengths
