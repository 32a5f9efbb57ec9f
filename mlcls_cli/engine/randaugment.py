"""RandAugmentV4, the "custom RandAugment" of the ML-Decoder recipe, on PIL images.

One call draws a policy: a uniformly random *pair* of (operation, magnitude index)
from 15 operations x indices 1..9, and applies each half of the pair with
probability 0.5. Magnitudes come from a 10-step range per operation (index 0 would
be the identity and is never drawn). Geometric operations fill uncovered pixels
with grey (128, 128, 128).

Difference from PaddleClas: every random draw comes from the generator passed to
:meth:`RandAugmentV4.__call__` (PaddleClas uses the global ``random`` and
``numpy.random`` modules), so augmentation is reproducible per sample. The "cutout"
operation blanks a square of half-size 0-20 px whatever the input size, as PaddleClas
does: scaling it by ``size / 448`` made no measurable difference at 64 px
(``benchmarks/bench_recipe.py``, RESULTS.md), so mlcls keeps PaddleClas's behaviour.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

FILL = (128, 128, 128)
#: The 15 operations, in the order of the original implementation.
OPS = (
    "shearX",
    "shearY",
    "translateX",
    "translateY",
    "rotate",
    "color",
    "posterize",
    "solarize",
    "contrast",
    "sharpness",
    "brightness",
    "autocontrast",
    "equalize",
    "invert",
    "cutout",
)


def _steps(start: float, stop: float) -> list[float]:
    return [float(v) for v in np.linspace(start, stop, 10)]


#: Magnitude for each (operation, index 0..9).
RANGES: dict[str, list[float]] = {
    "shearX": _steps(0.0, 0.3),
    "shearY": _steps(0.0, 0.3),
    "translateX": _steps(0.0, 150 / 331),
    "translateY": _steps(0.0, 150 / 331),
    "rotate": _steps(0.0, 30.0),
    "color": _steps(0.0, 0.9),
    "posterize": [float(v) for v in np.round(np.linspace(8, 4, 10))],
    "solarize": _steps(256.0, 0.0),
    "contrast": _steps(0.0, 0.9),
    "sharpness": _steps(0.0, 0.9),
    "brightness": _steps(0.0, 0.9),
    "autocontrast": [0.0] * 10,
    "equalize": [0.0] * 10,
    "invert": [0.0] * 10,
    "cutout": [float(v) for v in np.round(np.linspace(0, 20, 10))],
}


class Rng:
    """The few draws augmentation needs, over a ``numpy.random.Generator`` or a ``random.Random``."""

    def __init__(self, rng: np.random.Generator | random.Random | Rng) -> None:
        if isinstance(rng, Rng):
            rng = rng.source
        if not isinstance(rng, (np.random.Generator, random.Random)):
            raise TypeError(f"expected numpy.random.Generator or random.Random, got {type(rng).__name__}")
        self.source = rng

    def random(self) -> float:
        """A float in [0, 1)."""
        return float(self.source.random())

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high] (both ends included)."""
        if isinstance(self.source, np.random.Generator):
            return int(self.source.integers(low, high + 1))
        return self.source.randint(low, high)

    def sign(self) -> int:
        """-1 or +1 with equal probability."""
        return 1 if self.integer(0, 1) else -1


def _affine(img: Image.Image, coeffs: tuple[float, ...], resample: int) -> Image.Image:
    return img.transform(img.size, Image.Transform.AFFINE, coeffs, resample, fillcolor=FILL)


def _enhance(kind: type[ImageEnhance._Enhance]) -> Callable[[Image.Image, float, Rng], Image.Image]:
    def apply(img: Image.Image, magnitude: float, rng: Rng) -> Image.Image:
        return kind(img).enhance(1.0 + magnitude * rng.sign())

    return apply


def _cutout(img: Image.Image, magnitude: float, rng: Rng) -> Image.Image:
    width, height = img.size
    half = round(magnitude)
    if half <= 0:
        return img
    cy = rng.integer(0, height)
    cx = rng.integer(0, width)
    arr = np.array(img)
    arr[max(0, cy - half) : min(height, cy + half), max(0, cx - half) : min(width, cx + half)] = 0
    return Image.fromarray(arr)


_BICUBIC = Image.Resampling.BICUBIC
_NEAREST = Image.Resampling.NEAREST

OPERATIONS: dict[str, Callable[[Image.Image, float, Rng], Image.Image]] = {
    "shearX": lambda img, m, rng: _affine(img, (1, m * rng.sign(), 0, 0, 1, 0), _BICUBIC),
    "shearY": lambda img, m, rng: _affine(img, (1, 0, 0, m * rng.sign(), 1, 0), _BICUBIC),
    "translateX": lambda img, m, rng: _affine(img, (1, 0, m * img.size[0] * rng.sign(), 0, 1, 0), _NEAREST),
    "translateY": lambda img, m, rng: _affine(img, (1, 0, 0, 0, 1, m * img.size[1] * rng.sign()), _NEAREST),
    # counter-clockwise only, as in the original
    "rotate": lambda img, m, rng: img.rotate(m, resample=_NEAREST, fillcolor=FILL),
    "color": _enhance(ImageEnhance.Color),
    "posterize": lambda img, m, rng: ImageOps.posterize(img, int(m)),
    "solarize": lambda img, m, rng: ImageOps.solarize(img, m),
    "contrast": _enhance(ImageEnhance.Contrast),
    "sharpness": _enhance(ImageEnhance.Sharpness),
    "brightness": _enhance(ImageEnhance.Brightness),
    "autocontrast": lambda img, m, rng: ImageOps.autocontrast(img),
    "equalize": lambda img, m, rng: ImageOps.equalize(img),
    "invert": lambda img, m, rng: ImageOps.invert(img),
    "cutout": _cutout,
}


def apply_op(
    img: Image.Image, name: str, index: int, rng: np.random.Generator | random.Random | Rng
) -> Image.Image:
    """Apply operation ``name`` at magnitude index ``index`` (0..9) to an RGB image."""
    if name not in OPERATIONS:
        raise ValueError(f"unknown RandAugment operation {name!r}")
    if not 0 <= index <= 9:
        raise ValueError(f"magnitude index must be 0..9, got {index}")
    return OPERATIONS[name](img, RANGES[name][index], Rng(rng))


class RandAugmentV4:
    """Apply a random pair of (operation, magnitude index), each with probability ``prob``."""

    def __init__(self, prob: float = 0.5, ops: tuple[str, ...] = OPS, max_index: int = 9) -> None:
        unknown = [name for name in ops if name not in OPERATIONS]
        if unknown:
            raise ValueError(f"unknown RandAugment operations: {', '.join(unknown)}")
        self.prob = prob
        self.ops = tuple(ops)
        self.max_index = max_index

    def draw(self, rng: np.random.Generator | random.Random | Rng) -> list[tuple[str, int, bool]]:
        """Draw one policy: two (operation, magnitude index, applied?) triples."""
        r = Rng(rng)
        policy = []
        for _ in range(2):
            name = self.ops[r.integer(0, len(self.ops) - 1)]
            index = r.integer(1, self.max_index)
            policy.append((name, index, False))
        return [(name, index, r.random() < self.prob) for name, index, _ in policy]

    def __call__(self, img: Image.Image, rng: np.random.Generator | random.Random | Rng) -> Image.Image:
        """Return ``img`` (RGB) augmented by one randomly drawn policy."""
        r = Rng(rng)
        for name, index, applied in self.draw(r):
            if applied:
                img = OPERATIONS[name](img, RANGES[name][index], r)
        return img
