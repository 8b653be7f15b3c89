"""The prompt grammar and the renderer of the `shapes-diffusion` training data.

Every image is drawn from a prompt of the grammar

    <count> <colour> <shape>[s] [<position>]

count: a | one | two | three; colour: red | green | blue | yellow | purple | white;
shape: circle | square | triangle; position (single objects only): on the left | on the right |
at the top | at the bottom | in the center. Objects of one image share colour and shape; without a
position they are scattered anywhere without overlapping. Images are 32x32 RGB on black, drawn 4x
supersampled with numpy and box-filtered down (anti-aliased edges).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

SIZE = 32
SUPER = 4
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 90, 235),
    "yellow": (235, 215, 40),
    "purple": (155, 60, 205),
    "white": (240, 240, 240),
}
COLOUR_NAMES = list(COLOURS)
SHAPES = ["circle", "square", "triangle"]
COUNT_WORDS = {1: ["a", "one"], 2: ["two"], 3: ["three"]}
POSITIONS = {
    # name: (phrase, x range, y range) of the object centre, in pixels; the regions do not overlap.
    "left": ("on the left", (6, 10), (11, 21)),
    "right": ("on the right", (22, 26), (11, 21)),
    "top": ("at the top", (11, 21), (6, 10)),
    "bottom": ("at the bottom", (11, 21), (22, 26)),
    "center": ("in the center", (14, 18), (14, 18)),
}
POSITION_NAMES = list(POSITIONS)
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
WORDS = ["a", "one", "two", "three", *COLOUR_NAMES, *SHAPES, *[s + "s" for s in SHAPES],
         "on", "the", "left", "right", "at", "top", "bottom", "in", "center"]
VOCAB = {w: i for i, w in enumerate(SPECIALS + WORDS)}
MAX_TOKENS = 16


@dataclass(frozen=True)
class Scene:
    """One prompt's attributes; `position` is None when the prompt names none."""

    colour: str
    shape: str
    count: int
    position: str | None

    def prompt(self, rng: random.Random | None = None) -> str:
        count = COUNT_WORDS[self.count][0 if rng is None else rng.randrange(len(COUNT_WORDS[self.count]))]
        noun = self.shape if self.count == 1 else self.shape + "s"
        text = f"{count} {self.colour} {noun}"
        return text if self.position is None else f"{text} {POSITIONS[self.position][0]}"


def random_scene(rng: random.Random) -> Scene:
    count = rng.choice([1, 1, 2, 3])
    position = rng.choice([None, *POSITION_NAMES]) if count == 1 else None
    return Scene(rng.choice(COLOUR_NAMES), rng.choice(SHAPES), count, position)


def tokenize(text: str) -> list[int]:
    """Word-level ids: <bos> words <eos>, padded with <pad> to MAX_TOKENS (as the TS tokenizer does)."""
    ids = [VOCAB["<bos>"]] + [VOCAB.get(w, VOCAB["<unk>"]) for w in text.lower().split()][: MAX_TOKENS - 2]
    ids.append(VOCAB["<eos>"])
    return ids + [VOCAB["<pad>"]] * (MAX_TOKENS - len(ids))


_S = SIZE * SUPER
_YY, _XX = np.mgrid[0:_S, 0:_S].astype(np.float32) + 0.5


def _mask(shape: str, cx: float, cy: float, r: float) -> np.ndarray:
    cx, cy, r = cx * SUPER, cy * SUPER, r * SUPER
    if shape == "circle":
        return (_XX - cx) ** 2 + (_YY - cy) ** 2 <= r * r
    if shape == "square":
        h = r * 0.85
        return (np.abs(_XX - cx) <= h) & (np.abs(_YY - cy) <= h)
    # upward triangle inscribed in the circle of radius r*1.3
    R = r * 1.3
    top, base = cy - R, cy + R * 0.5
    half = (base - top) / np.sqrt(3.0)
    inside_y = (_YY >= top) & (_YY <= base)
    return inside_y & (np.abs(_XX - cx) <= (_YY - top) / (base - top) * half)


def render(scene: Scene, rng: random.Random) -> np.ndarray:
    """Draws a scene as uint8 [32, 32, 3]."""
    img = np.zeros((_S, _S, 3), np.float32)
    base = np.array(COLOURS[scene.colour], np.float32)
    placed: list[tuple[float, float, float]] = []
    for _ in range(scene.count):
        for _attempt in range(200):
            r = rng.uniform(4.0, 5.5) if scene.count == 1 else rng.uniform(3.5, 4.5)
            if scene.position is not None:
                _, (x0, x1), (y0, y1) = POSITIONS[scene.position]
                cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
            else:
                cx, cy = rng.uniform(r + 1, SIZE - r - 1), rng.uniform(r + 1.5, SIZE - r - 1)
            if all((cx - px) ** 2 + (cy - py) ** 2 > (r + pr + 2) ** 2 for px, py, pr in placed):
                break
        placed.append((cx, cy, r))
        colour = np.clip(base + np.array([rng.uniform(-15, 15) for _ in range(3)], np.float32), 0, 255)
        img[_mask(scene.shape, cx, cy, r)] = colour
    small = img.reshape(SIZE, SUPER, SIZE, SUPER, 3).mean(axis=(1, 3))
    return np.clip(small + 0.5, 0, 255).astype(np.uint8)


def labels(scene: Scene) -> tuple[int, int, int, int]:
    """Classifier targets: colour, shape, count-1, position (-1 when unspecified)."""
    pos = -1 if scene.position is None else POSITION_NAMES.index(scene.position)
    return COLOUR_NAMES.index(scene.colour), SHAPES.index(scene.shape), scene.count - 1, pos


def dataset(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Scene]]:
    """n rendered images (uint8 [n,32,32,3]), token ids [n,16], labels [n,4] and their scenes."""
    rng = random.Random(seed)
    scenes = [random_scene(rng) for _ in range(n)]
    images = np.stack([render(s, rng) for s in scenes])
    tokens = np.array([tokenize(s.prompt(rng)) for s in scenes], np.int64)
    lab = np.array([labels(s) for s in scenes], np.int64)
    return images, tokens, lab, scenes


def write_png(path: str, rgb: np.ndarray) -> None:
    """Minimal PNG writer (no PIL needed): 8-bit RGB, one zlib stream."""
    import struct
    import zlib

    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
