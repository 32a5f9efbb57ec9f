"""Image transforms of the training recipe, in numpy and PIL only (no paddle).

Eval: RGB, resize to exactly ``size x size`` (PIL bilinear, aspect not kept), scale
by 1/255, normalise with the ImageNet mean/std, HWC -> CHW float32. This is the same
arithmetic as the exported ``inference.yml`` (ResizeImage with the PIL backend,
NormalizeImage, ToCHWImage), so evaluating a ``.pdparams`` and predicting with the
exported package see identical inputs.

Train: the same resize, then Cutout (one square hole of side ``size // 2``, centre
uniform in the image, clipped at the borders, filled with one random RGB colour),
then :class:`~mlcls_cli.engine.randaugment.RandAugmentV4`, then the same
normalisation. Differences from PaddleClas: all randomness comes from the
generator passed in (PaddleClas uses the global ``random``/``numpy.random``), and the
Cutout side scales with the input size (224 at the recipe's 448).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from mlcls_cli.engine.randaugment import RandAugmentV4, Rng
from mlcls_cli.errors import DatasetError
from mlcls_cli.models.registry import IMAGENET_MEAN, IMAGENET_STD
from mlcls_cli.utils.images import MISSING, ImageReadError, open_image


def load_image(path: str | Path) -> Image.Image:
    """Open a dataset image as an RGB PIL image with its EXIF orientation applied (the shared opener)."""
    p = Path(path)
    try:
        return open_image(p)
    except ImageReadError as exc:
        if exc.kind == MISSING:
            raise DatasetError(
                f"image {p} does not exist",
                hint="the list file names an image that is missing; run `mlcls check` on the dataset",
            ) from None
        raise DatasetError(
            f"cannot use image {p}: {exc.reason}",
            hint="the file is corrupt, too large or not an image; replace or remove it, then run `mlcls check`",
        ) from None


def resize(img: Image.Image, image_size: int) -> Image.Image:
    """Resize to exactly ``image_size x image_size`` with PIL bilinear (aspect ratio not kept)."""
    if img.size == (image_size, image_size):
        return img
    return img.resize((image_size, image_size), Image.Resampling.BILINEAR)


class Normalize:
    """uint8 HWC RGB -> float32 CHW: ``(x / 255 - mean) / std``, contiguous."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        if len(mean) != 3 or len(std) != 3:
            raise ValueError("mean and std need 3 values (R, G, B)")
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, 1, 3)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, 1, 3)
        self.scale = np.float32(1.0 / 255.0)

    def __call__(self, img: Image.Image | np.ndarray) -> np.ndarray:
        """Normalise one RGB image and return it as a (3, H, W) float32 array."""
        arr = np.asarray(img)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"expected an RGB image (H, W, 3), got shape {arr.shape}")
        out = (arr.astype(np.float32) * self.scale - self.mean) / self.std
        return np.ascontiguousarray(out.transpose(2, 0, 1))


def apply_cutout(
    img: Image.Image, length: int, rng: np.random.Generator | random.Random | Rng
) -> Image.Image:
    """Fill one ``length``-sided square (centre uniform, clipped at borders) with a random RGB colour."""
    r = Rng(rng)
    width, height = img.size
    if length <= 0:
        return img
    cy = r.integer(0, height - 1)
    cx = r.integer(0, width - 1)
    half = length // 2
    colour = [r.integer(0, 255) for _ in range(3)]
    arr = np.array(img)
    arr[max(0, cy - half) : min(height, cy + half), max(0, cx - half) : min(width, cx + half)] = colour
    return Image.fromarray(arr)


def _check_size(image_size: int) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    return int(image_size)


class EvalTransform:
    """Resize (PIL bilinear) + normalise + CHW float32; a picklable callable taking a PIL image."""

    def __init__(
        self, image_size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
    ) -> None:
        self.image_size = _check_size(image_size)
        self.normalize = Normalize(mean, std)

    def __call__(self, img: Image.Image) -> np.ndarray:
        """Transform one image to a (3, size, size) float32 array."""
        return self.normalize(resize(img.convert("RGB"), self.image_size))


class TrainTransform:
    """Resize -> Cutout -> RandAugmentV4 -> normalise -> CHW; a picklable callable ``(image, rng)``."""

    def __init__(
        self,
        image_size: int,
        *,
        cutout: bool = True,
        randaugment: bool = True,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.image_size = _check_size(image_size)
        self.normalize = Normalize(mean, std)
        self.augment = RandAugmentV4() if randaugment else None
        self.cutout_length = self.image_size // 2 if cutout else 0

    def __call__(self, img: Image.Image, rng: np.random.Generator | random.Random | Rng) -> np.ndarray:
        """Transform one image with the random draws taken from ``rng``."""
        r = Rng(rng)
        out = resize(img.convert("RGB"), self.image_size)
        if self.cutout_length:
            out = apply_cutout(out, self.cutout_length, r)
        if self.augment is not None:
            out = self.augment(out, r)
        return self.normalize(out)


def build_eval_transform(
    image_size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> EvalTransform:
    """The eval/inference transform: resize (PIL bilinear) + normalise + CHW float32."""
    return EvalTransform(image_size, mean, std)


def build_train_transform(
    image_size: int,
    *,
    cutout: bool = True,
    randaugment: bool = True,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> TrainTransform:
    """The training transform: resize -> Cutout -> RandAugmentV4 -> normalise -> CHW float32.

    The returned callable takes the image and the random generator that drives every
    random choice (``numpy.random.Generator`` or ``random.Random``).
    """
    return TrainTransform(image_size, cutout=cutout, randaugment=randaugment, mean=mean, std=std)
