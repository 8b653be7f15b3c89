"""The teacher: eSpeak NG (Debian's `espeak-ng` program and its `libespeak-ng1` library).

Phonemes come from the `espeak-ng` program with exactly the flags the audio service uses at run time
(`-q --ipa -v <voice>`, text on stdin), so the voice is trained on the phoneme strings it will be fed.
Audio and phoneme timing come from the same library through ctypes: synthesis with phoneme events in
IPA (`espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_PHONEME_IPA`) reports the sample at which each
phoneme starts, which gives the durations the acoustic model learns (no aligner needed).
"""
import ctypes
import re
import subprocess
import unicodedata

import numpy as np

SAMPLE_RATE = 22050
_LANG_SWITCH = re.compile(r"\([a-z][a-z-]*\)")
_TERMINAL = {".": ".", "?": "?", "!": "!", "。": ".", "？": "?", "！": "!", "…": "."}


def phonemize(text: str, voice: str) -> str:
    """IPA of one sentence as the audio service builds it (see services/audio/src/phonemizer.ts)."""
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", voice], input=text.encode("utf-8"),
                         capture_output=True, check=True).stdout.decode("utf-8")
    clauses = [_LANG_SWITCH.sub("", line).strip() for line in out.split("\n")]
    clauses = [c for c in clauses if c]
    stripped = text.rstrip()
    terminal = _TERMINAL.get(stripped[-1], ".") if stripped else "."
    return unicodedata.normalize("NFD", ", ".join(clauses) + terminal)


class _Id(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _Id)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class Teacher:
    """Synthesizes text with eSpeak NG, returning float audio and (ipa phoneme, start sample) events."""

    def __init__(self) -> None:
        self._lib = ctypes.CDLL("libespeak-ng.so.1")
        rate = self._lib.espeak_Initialize(2, 0, None, 0x0001 | 0x0002)  # SYNCHRONOUS; phoneme events in IPA
        assert rate == SAMPLE_RATE, rate
        self._audio: list[int] = []
        self._events: list[tuple[str, int]] = []
        self._cb = _CALLBACK(self._on_audio)
        self._lib.espeak_SetSynthCallback(self._cb)

    def _on_audio(self, wav, n, events) -> int:
        if wav and n > 0:
            self._audio.extend(wav[:n])
        i = 0
        while events[i].type != 0:
            if events[i].type == 7:  # espeakEVENT_PHONEME
                name = events[i].id.string.decode("utf-8", "replace")
                self._events.append((unicodedata.normalize("NFD", name), events[i].sample))
            i += 1
        return 0

    def synthesize(self, text: str, voice: str) -> tuple[np.ndarray, list[tuple[str, int]]]:
        self._audio, self._events = [], []
        assert self._lib.espeak_SetVoiceByName(voice.encode()) == 0, voice
        data = text.encode("utf-8")
        self._lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None)
        self._lib.espeak_Synchronize()
        return np.asarray(self._audio, dtype=np.float32) / 32768.0, list(self._events)
