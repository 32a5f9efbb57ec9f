"""Image preprocessing built from an inference package's ``PreProcess.transform_ops``.

Supported operators (the ones PaddleX's multi-label predictor understands):

- ``ResizeImage``: ``size`` (an int, or ``[width, height]``) resizes to exactly that
  size; ``resize_short`` scales the short side to that length, keeping the aspect
  ratio. ``interpolation``: nearest, bilinear (linear), bicubic (cubic), area (box),
  lanczos, hamming; default bilinear. ``backend``: ``pil`` (default in our exports
  and the official packages) resizes with Pillow, which anti-aliases when shrinking;
  ``cv2`` (PaddleX's default when no backend is named) is reproduced without OpenCV:
  nearest and bilinear follow OpenCV's sampling (pixel centres, no anti-aliasing;
  bilinear within one grey level of ``cv2.resize``, which uses fixed-point weights),
  area uses Pillow's box filter (what ``INTER_AREA`` computes when shrinking), and
  bicubic/lanczos fall back to Pillow's filters.
- ``NormalizeImage``: ``(pixel * scale - mean) / std`` per RGB channel, float32.
- ``ToCHWImage``: HWC to CHW.
- ``CropImage``: ``size`` (an int, or ``[width, height]``): the centre crop of
  PaddleX's single-label predictor (``x = (w - cw) // 2``); multi-label packages
  ignore it, as PaddleX's multi-label predictor does (``crop=False``).
- ``DecodeImage`` is accepted and ignored (decoding is done before preprocessing,
  always to RGB).

Any other operator is refused with a :class:`~mlcls_cli.errors.ConfigError`.
Input images are RGB (PIL images, or uint8 HWC arrays in RGB order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from mlcls_cli.errors import ConfigError

SUPPORTED_OPS = ("ResizeImage", "NormalizeImage", "ToCHWImage", "CropImage", "DecodeImage")
IGNORED_OPS = ("DecodeImage",)

_PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
    "lanczos": Image.Resampling.LANCZOS,
    "hamming": Image.Resampling.HAMMING,
}
_ALIASES = {
    "linear": "bilinear",
    "cubic": "bicubic",
    "box": "area",
    "lanczos4": "lanczos",
    "antialias": "lanczos",
}


def _interp_name(value: Any, where: str) -> str:
    if value is None:
        return "bilinear"
    name = str(value).strip().lower()
    name = name.removeprefix("cv2.").removeprefix("inter_")
    name = _ALIASES.get(name, name)
    if name not in _PIL_FILTERS:
        raise ConfigError(
            f"{where}: unknown interpolation {value!r}",
            hint="use one of nearest, bilinear, bicubic, area, lanczos, hamming",
        )
    return name


@dataclass(frozen=True)
class ResizeOp:
    """``ResizeImage``: an exact ``(width, height)`` or a short-side length."""

    size: tuple[int, int] | None
    resize_short: int | None
    interpolation: str
    backend: str

    def target(self, width: int, height: int) -> tuple[int, int]:
        """The output ``(width, height)`` for an input of that size."""
        if self.size is not None:
            return self.size
        assert self.resize_short is not None
        ratio = self.resize_short / min(width, height)
        return max(1, round(width * ratio)), max(1, round(height * ratio))

    def __call__(self, image: Image.Image | np.ndarray) -> Image.Image | np.ndarray:
        """Resize a PIL image or an RGB uint8 array; returns the same kind it was given."""
        if isinstance(image, Image.Image):
            w, h = image.size
        else:
            h, w = image.shape[:2]
        tw, th = self.target(w, h)
        if (tw, th) == (w, h):
            return image
        if self.backend == "cv2" and self.interpolation in ("bilinear", "nearest"):
            arr = np.asarray(image)
            resize = _cv2_bilinear if self.interpolation == "bilinear" else _cv2_nearest
            return resize(arr, tw, th)
        pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
        out = pil.resize((tw, th), _PIL_FILTERS[self.interpolation])
        return out if isinstance(image, Image.Image) else np.asarray(out)


def _axis(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's INTER_LINEAR source indices and weights along one axis (pixel-centre aligned)."""
    pos = (np.arange(dst, dtype=np.float64) + 0.5) * (src / dst) - 0.5
    lo = np.floor(pos).astype(np.int64)
    frac = (pos - lo).astype(np.float32)
    below = lo < 0
    lo[below], frac[below] = 0, 0.0
    above = lo >= src - 1
    lo[above], frac[above] = src - 1, 0.0
    return lo, np.minimum(lo + 1, src - 1), frac


def _cv2_bilinear(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize as ``cv2.resize(INTER_LINEAR)`` computes it (no anti-aliasing)."""
    y0, y1, fy = _axis(arr.shape[0], height)
    x0, x1, fx = _axis(arr.shape[1], width)
    src = arr.astype(np.float32)
    shape = (-1, 1, 1) if arr.ndim == 3 else (-1, 1)
    rows = src[y0] * (1.0 - fy).reshape(shape) + src[y1] * fy.reshape(shape)
    shape = (1, -1, 1) if arr.ndim == 3 else (1, -1)
    out = rows[:, x0] * (1.0 - fx).reshape(shape) + rows[:, x1] * fx.reshape(shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _cv2_nearest(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-neighbour resize as ``cv2.resize(INTER_NEAREST)`` samples it."""
    ys = np.minimum(np.floor(np.arange(height) * (arr.shape[0] / height)).astype(np.int64), arr.shape[0] - 1)
    xs = np.minimum(np.floor(np.arange(width) * (arr.shape[1] / width)).astype(np.int64), arr.shape[1] - 1)
    return arr[ys][:, xs]


@dataclass(frozen=True)
class NormalizeOp:
    """``NormalizeImage``: per-channel ``x * scale / std - mean / std`` (float32)."""

    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def alpha(self) -> np.ndarray:
        """Per-channel multiplier ``scale / std``."""
        return (np.float32(self.scale) / np.asarray(self.std, dtype=np.float32)).astype(np.float32)

    @property
    def beta(self) -> np.ndarray:
        """Per-channel offset ``-mean / std``."""
        return (-np.asarray(self.mean, dtype=np.float32) / np.asarray(self.std, dtype=np.float32)).astype(
            np.float32
        )


def _number(value: Any, where: str) -> float:
    if isinstance(value, str):
        # the PaddleClas config spells scale as "1.0/255.0"; the exporter evaluates it, but be lenient
        parts = value.split("/")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
        if len(nums) == 2 and nums[1] != 0:
            return nums[0] / nums[1]
        if len(nums) == 1:
            return nums[0]
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    return float(value)


def _triple(value: Any, default: Sequence[float], where: str) -> tuple[float, float, float]:
    if value is None:
        value = default
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ConfigError(f"{where} must be a list of 3 numbers, got {value!r}")
    out = tuple(_number(v, where) for v in value)
    return out  # type: ignore[return-value]


def _resize_op(params: Mapping[str, Any], where: str) -> ResizeOp:
    size, short = params.get("size"), params.get("resize_short")
    backend = str(params.get("backend") or "cv2").lower()
    if backend not in ("cv2", "pil"):
        raise ConfigError(f"{where}: unknown backend {backend!r}", hint="use pil or cv2")
    interp = _interp_name(params.get("interpolation"), where)
    if short is not None:
        if isinstance(short, bool) or not isinstance(short, int) or short < 1:
            raise ConfigError(f"{where}: resize_short must be a positive integer, got {short!r}")
        return ResizeOp(None, int(short), interp, backend)
    if size is None:
        raise ConfigError(f"{where} needs size or resize_short")
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        wh = (size, size)
    elif (
        isinstance(size, (list, tuple))
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        wh = (int(size[0]), int(size[1]))
    else:
        raise ConfigError(f"{where}: size must be a positive integer or [width, height], got {size!r}")
    return ResizeOp(wh, None, interp, backend)


@dataclass(frozen=True)
class CropOp:
    """``CropImage``: the centre ``(width, height)`` of the image."""

    size: tuple[int, int]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Crop an RGB uint8 HWC array; raises ValueError when it is smaller than the crop."""
        height, width = image.shape[:2]
        cw, ch = self.size
        if width < cw or height < ch:
            raise ValueError(f"the {width}x{height} image is smaller than the {cw}x{ch} crop")
        x, y = (width - cw) // 2, (height - ch) // 2
        return image[y : y + ch, x : x + cw]


def _crop_op(params: Mapping[str, Any], where: str) -> CropOp:
    size = params.get("size")
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return CropOp((size, size))
    if (
        isinstance(size, (list, tuple))
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        return CropOp((int(size[0]), int(size[1])))
    raise ConfigError(f"{where}: size must be a positive integer or [width, height], got {size!r}")


def _normalize_op(params: Mapping[str, Any], where: str) -> NormalizeOp:
    channels = params.get("channel_num", 3)
    if channels not in (None, 3):
        raise ConfigError(f"{where}: channel_num {channels!r} is not supported", hint="RGB models use 3")
    order = str(params.get("order") or "").lower()
    if order not in ("", "hwc", "chw"):
        raise ConfigError(f"{where}: unknown order {order!r}", hint="use '' (HWC), hwc or chw")
    return NormalizeOp(
        scale=_number(params.get("scale", 1.0 / 255.0), f"{where}.scale"),
        mean=_triple(params.get("mean"), (0.485, 0.456, 0.406), f"{where}.mean"),
        std=_triple(params.get("std"), (0.229, 0.224, 0.225), f"{where}.std"),
    )


class Preprocessor:
    """Turns an RGB image into the model's input tensor, as the package's ``inference.yml`` says."""

    def __init__(self, transform_ops: Sequence[Any], *, crop: bool = False) -> None:
        if not isinstance(transform_ops, (list, tuple)):
            raise ConfigError(
                "inference.yml PreProcess.transform_ops must be a list of operators",
                hint="re-export the model",
            )
        self.resizes: list[ResizeOp] = []
        self.crop: CropOp | None = None
        self.normalize: NormalizeOp | None = None
        self.to_chw = False
        for i, entry in enumerate(transform_ops):
            where = f"inference.yml PreProcess.transform_ops[{i}]"
            if not isinstance(entry, Mapping) or len(entry) != 1:
                raise ConfigError(f"{where} must be a mapping with one operator name, got {entry!r}")
            name, params = next(iter(entry.items()))
            params = params or {}
            if not isinstance(params, Mapping):
                raise ConfigError(f"{where}: the parameters of {name} must be a mapping, got {params!r}")
            where = f"{where} ({name})"
            if name == "ResizeImage":
                self.resizes.append(_resize_op(params, where))
            elif name == "NormalizeImage":
                self.normalize = _normalize_op(params, where)
            elif name == "ToCHWImage":
                self.to_chw = True
            elif name == "CropImage":
                op = _crop_op(params, where)
                if crop:
                    self.crop = op
            elif name in IGNORED_OPS:
                continue
            else:
                raise ConfigError(
                    f"{where}: unsupported preprocessing operator {name!r}",
                    hint=f"mlcls supports {', '.join(SUPPORTED_OPS)}",
                )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, crop: bool = False) -> Preprocessor:
        """Build from a parsed ``inference.yml`` (``crop``: apply its CropImage, as single-label packages do)."""
        pre = config.get("PreProcess") or {}
        if not isinstance(pre, Mapping) or "transform_ops" not in pre:
            raise ConfigError(
                "inference.yml has no PreProcess.transform_ops", hint="re-export the model with mlcls"
            )
        return cls(pre["transform_ops"], crop=crop)

    @property
    def output_size(self) -> tuple[int, int] | None:
        """``(width, height)`` of every output when it is fixed (a crop, or a last resize to a size), else None."""
        if self.crop is not None:
            return self.crop.size
        if self.resizes and self.resizes[-1].size is not None:
            return self.resizes[-1].size
        return None

    def output_size_square(self) -> int | tuple[int, int] | None:
        """:attr:`output_size` as one int when square."""
        size = self.output_size
        if size is None:
            return None
        return size[0] if size[0] == size[1] else size

    def resize(self, image: Image.Image | np.ndarray) -> np.ndarray:
        """Apply the resize steps and the crop; returns an RGB uint8 HWC array."""
        out: Image.Image | np.ndarray = image
        if isinstance(out, Image.Image) and out.mode != "RGB":
            out = out.convert("RGB")
        for op in self.resizes:
            out = op(out)
        pixels = np.asarray(out, dtype=np.uint8)
        return self.crop(pixels) if self.crop is not None else pixels

    def finish(self, pixels: np.ndarray) -> np.ndarray:
        """Normalize and lay out an RGB uint8 HWC array as the model input (float32)."""
        if self.normalize is None:
            out = pixels.astype(np.float32)
            return np.ascontiguousarray(out.transpose(2, 0, 1)) if self.to_chw else out
        alpha, beta = self.normalize.alpha, self.normalize.beta
        h, w = pixels.shape[:2]
        if self.to_chw:
            out = np.empty((3, h, w), dtype=np.float32)
            for c in range(3):
                np.multiply(pixels[:, :, c], alpha[c], out=out[c], dtype=np.float32)
                out[c] += beta[c]
            return out
        out = pixels.astype(np.float32)
        out *= alpha
        out += beta
        return out

    def __call__(self, image: Image.Image | np.ndarray) -> np.ndarray:
        """Resize, normalize and lay out one RGB image (PIL or uint8 HWC array)."""
        return self.finish(self.resize(image))


__all__ = ["IGNORED_OPS", "SUPPORTED_OPS", "CropOp", "NormalizeOp", "Preprocessor", "ResizeOp"]
