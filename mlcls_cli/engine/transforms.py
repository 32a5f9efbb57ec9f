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

import math
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


# --------------------------------------------------------------------------- single-label (ClsDataset)


def random_resized_crop_box(
    width: int,
    height: int,
    rng: np.random.Generator | random.Random | Rng,
    *,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0),
) -> tuple[int, int, int, int]:
    """PaddleClas ``RandCropImage``'s box ``(left, top, width, height)``: one draw, no retry loop.

    The aspect ratio is ``sqrt(uniform(ratio))`` applied to both sides; the area fraction is
    uniform in ``scale`` with both ends clamped to what fits the image at that aspect.
    """
    r = Rng(rng)
    aspect = math.sqrt(ratio[0] + (ratio[1] - ratio[0]) * r.random())
    w_unit, h_unit = aspect, 1.0 / aspect
    bound = min((width / height) / (w_unit**2), (height / width) / (h_unit**2))
    lo, hi = min(scale[0], bound), min(scale[1], bound)
    area = width * height * (lo + (hi - lo) * r.random())
    side = math.sqrt(area)
    w = max(1, min(width, int(side * w_unit)))
    h = max(1, min(height, int(side * h_unit)))
    return r.integer(0, width - w), r.integer(0, height - h), w, h


def random_erasing(
    chw: np.ndarray,
    rng: np.random.Generator | random.Random | Rng,
    *,
    probability: float,
    area: tuple[float, float] = (0.02, 1.0 / 3.0),
    aspect: tuple[float, float] = (0.3, 1.0 / 0.3),
    attempts: int = 10,
) -> np.ndarray:
    """PaddleClas ``RandomErasing`` (pixel mode) on a normalised CHW array: one box of N(0, 1) noise.

    With ``probability`` a box of area fraction uniform in ``area`` and log-uniform aspect
    in ``aspect`` is filled with standard-normal values; up to ``attempts`` draws until one fits.
    """
    r = Rng(rng)
    if probability <= 0 or r.random() >= probability:
        return chw
    _, height, width = chw.shape
    log_lo, log_hi = math.log(aspect[0]), math.log(aspect[1])
    for _ in range(attempts):
        target = height * width * (area[0] + (area[1] - area[0]) * r.random())
        ratio = math.exp(log_lo + (log_hi - log_lo) * r.random())
        h = round(math.sqrt(target * ratio))
        w = round(math.sqrt(target / ratio))
        if 0 < h < height and 0 < w < width:
            top, left = r.integer(0, height - h), r.integer(0, width - w)
            noise = np.random.default_rng(r.integer(0, 2**31 - 1)).standard_normal((chw.shape[0], h, w))
            out = chw.copy()
            out[:, top : top + h, left : left + w] = noise.astype(chw.dtype)
            return out
    return chw


class ClsTrainTransform:
    """Single-label training: random resized crop -> flip -> RandAugment -> normalise -> RandomErasing.

    PaddleClas's ImageNet recipe (``RandCropImage``, ``RandFlipImage``, ``TimmAutoAugment``,
    ``NormalizeImage``, ``RandomErasing``) with every draw taken from the generator passed
    in. ``interpolation`` is ``bilinear`` (OpenCV's arithmetic, PaddleClas's default
    resampler) or ``bicubic`` (PIL). The RandAugment is mlcls's RandAugmentV4 with the
    recipe's magnitude as its largest magnitude index, not a port of timm's policy.
    """

    def __init__(
        self,
        image_size: int,
        *,
        interpolation: str = "bilinear",
        flip: bool = True,
        randaugment: int | None = None,
        random_erasing: float = 0.0,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        from mlcls_cli.inference.preprocess import ResizeOp

        if not 0.0 < crop_scale[0] <= crop_scale[1] <= 1.0:
            raise ValueError(f"crop scale must satisfy 0 < min <= max <= 1, got {crop_scale}")
        self.crop_scale = (float(crop_scale[0]), float(crop_scale[1]))

        if interpolation not in ("bilinear", "bicubic"):
            raise ValueError(f"interpolation must be bilinear or bicubic, got {interpolation!r}")
        self.image_size = _check_size(image_size)
        backend = "cv2" if interpolation == "bilinear" else "pil"
        self.resize = ResizeOp((self.image_size, self.image_size), None, interpolation, backend)
        self.flip = bool(flip)
        self.augment = RandAugmentV4(max_index=int(randaugment)) if randaugment else None
        self.erasing = float(random_erasing or 0.0)
        self.normalize = Normalize(mean, std)

    def __call__(self, img: Image.Image, rng: np.random.Generator | random.Random | Rng) -> np.ndarray:
        """Transform one image with the random draws taken from ``rng``."""
        r = Rng(rng)
        img = img.convert("RGB")
        left, top, w, h = random_resized_crop_box(*img.size, r, scale=self.crop_scale)
        out = np.asarray(self.resize(np.asarray(img)[top : top + h, left : left + w]))
        if self.flip and r.random() < 0.5:
            out = out[:, ::-1]
        pil = Image.fromarray(np.ascontiguousarray(out))
        if self.augment is not None:
            pil = self.augment(pil, r)
        chw = self.normalize(pil)
        return random_erasing(chw, r, probability=self.erasing) if self.erasing else chw


class ClsEvalTransform:
    """Single-label evaluation: the inference package's own preprocessing (resize short side, centre crop).

    Built from the same ``inference.yml`` operators :func:`mlcls_cli.models.export.export_model`
    writes for this model and size, and run by the predictor's preprocessor, so evaluating
    ``.pdparams`` and predicting with the exported package see identical inputs.
    """

    def __init__(self, model_name: str, image_size: int) -> None:
        from mlcls_cli.inference.preprocess import Preprocessor
        from mlcls_cli.models.export import preprocessing_ops

        self.image_size = _check_size(image_size)
        self.preprocess = Preprocessor(preprocessing_ops(model_name, self.image_size), crop=True)

    def __call__(self, img: Image.Image) -> np.ndarray:
        """Transform one image to a (3, size, size) float32 array."""
        return self.preprocess(img.convert("RGB"))
