"""Builds the training set: phoneme ids, per-id durations (frames) and log-mel targets from the teacher.

Alignment: the teacher reports each phoneme's IPA and start sample; the phoneme string the service will
feed (from the `espeak-ng` program) is matched to those phonemes character by character
(difflib). A phoneme's frames go to its matched characters; pauses go to the comma, sentence mark or
word space between the phonemes around them; leading silence to `^`, trailing to `$`. Stress marks,
tone numbers and pad ids get 0 frames (the model still sees them as context).
"""
import difflib
import unicodedata

import numpy as np
import torch

from teacher import SAMPLE_RATE

N_FFT, HOP, N_MELS, F_MAX = 1024, 256, 80, 8000.0
PAD, BOS, EOS = "_", "^", "$"
PUNCT = [" ", "!", "'", ",", "-", ".", ":", ";", "?"]


def mel_basis() -> np.ndarray:
    """Slaney-style triangular mel filters [N_MELS, N_FFT // 2 + 1], area-normalized."""
    def hz_to_mel(f): return 2595.0 * np.log10(1.0 + f / 700.0)
    def mel_to_hz(m): return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(F_MAX), N_MELS + 2))
    fb = np.zeros((N_MELS, len(freqs)), dtype=np.float64)
    for m in range(N_MELS):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        fb[m] = np.maximum(0, np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)))
        fb[m] *= 2.0 / (hi - lo)
    return fb.astype(np.float32)


_WINDOW = torch.hann_window(N_FFT, periodic=True)
_MEL = torch.from_numpy(mel_basis())


def magnitudes(audio: np.ndarray) -> torch.Tensor:
    """|STFT| [frames, bins], frames centred at t * HOP with zero padding (as the ONNX vocoder frames)."""
    x = torch.from_numpy(audio)
    spec = torch.stft(x, N_FFT, HOP, N_FFT, _WINDOW, center=True, pad_mode="constant", return_complex=True)
    return spec.abs().T


def log_mel(audio: np.ndarray) -> torch.Tensor:
    return torch.log(torch.clamp(magnitudes(audio) @ _MEL.T, min=1e-5))


def align(ipa: str, events: list[tuple[str, int]], n_frames: int) -> tuple[list[int], float]:
    """Frames per character of `^ + ipa + $` and the fraction of teacher phoneme characters matched."""
    chars = [BOS] + list(ipa) + [EOS]
    starts = [min(n_frames, round(s / HOP)) for _, s in events]
    ends = starts[1:] + [n_frames]
    ev_chars, owner = [], []
    for k, (name, _) in enumerate(events):
        for ch in name:
            ev_chars.append(ch)
            owner.append(k)
    match = {}
    sm = difflib.SequenceMatcher(None, chars, ev_chars, autojunk=False)
    for a, b, size in sm.get_matching_blocks():
        for i in range(size):
            match[a + i] = owner[b + i]
    by_event: dict[int, list[int]] = {}
    for ci, k in match.items():
        by_event.setdefault(k, []).append(ci)
    dur = [0] * len(chars)
    dur[0] += starts[0] if starts else n_frames
    last_ci = 0
    for k, (name, _) in enumerate(events):
        frames = max(0, ends[k] - starts[k])
        if name and k in by_event:
            cis = sorted(by_event[k])
            share = np.diff(np.round(np.linspace(0, frames, len(cis) + 1)).astype(int))
            for ci, f in zip(cis, share):
                dur[ci] += int(f)
            last_ci = cis[-1]
            continue
        # a pause (or an unmatched phoneme): the boundary mark after the last matched character
        nxt = next((min(by_event[j]) for j in range(k + 1, len(events)) if events[j][0] and j in by_event), len(chars) - 1)
        between = range(last_ci + 1, nxt)
        target = next((i for i in between if chars[i] in ",.?!;:"), None)
        if target is None:
            target = next((i for i in between if chars[i] == " "), None)
        if target is None:
            target = nxt if nxt == len(chars) - 1 else last_ci
        dur[target] += frames
    assert sum(dur) == n_frames, (sum(dur), n_frames)
    matched = len(match) / max(1, len(ev_chars))
    return dur, matched


def to_ids(chars_dur: list[int], ipa: str, id_map: dict[str, list[int]]) -> tuple[list[int], list[int]]:
    """Piper's id layout: ^ _ p1 _ p2 _ ... pn _ $ with durations moved along (pads get 0)."""
    chars = [BOS] + list(ipa) + [EOS]
    ids, durs = [], []
    for i, (ch, d) in enumerate(zip(chars, chars_dur)):
        if ch not in id_map:
            continue
        ids.extend(id_map[ch])
        durs.append(d)
        durs.extend([0] * (len(id_map[ch]) - 1))
        if ch != EOS:
            ids.extend(id_map[PAD])
            durs.append(0)
    return ids, durs


def build_id_map(ipas: list[str]) -> dict[str, list[int]]:
    symbols = [PAD, BOS, EOS] + PUNCT
    extra = sorted({ch for ipa in ipas for ch in unicodedata.normalize("NFD", ipa)} - set(symbols))
    return {ch: [i] for i, ch in enumerate(symbols + extra)}
