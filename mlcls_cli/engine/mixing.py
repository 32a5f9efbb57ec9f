"""Mixup and CutMix on a training batch (PaddleClas ``MixupOperator``, ``CutmixOperator``, ``OpSampler``).

:func:`draw_mix` takes every random choice of one batch (which operator, the mixing
weight, the partner permutation, the CutMix box) from a generator seeded by
(seed, epoch, batch, rank), so a resumed run mixes exactly as an uninterrupted one;
:func:`apply_mix` applies the draw to the paddle tensors and returns soft targets.
With both operators enabled, each batch picks one with probability 1/2, as PaddleX's
recipes configure ``OpSampler``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MixDraw", "apply_mix", "draw_mix", "mix_rng"]


@dataclass(frozen=True)
class MixDraw:
    """One batch's mixing: ``kind`` (mixup or cutmix), weight ``lam`` of the batch's own targets, partners."""

    kind: str
    lam: float
    permutation: tuple[int, ...]
    box: tuple[int, int, int, int] | None = None  # CutMix (top, bottom, left, right), in pixels


def mix_rng(seed: int, epoch: int, batch: int, rank: int = 0) -> np.random.Generator:
    """The generator of the mixing draw of one batch of one rank."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(epoch), int(batch), int(rank), 0x4D58])


def draw_mix(
    rng: np.random.Generator,
    batch_size: int,
    height: int,
    width: int,
    *,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
) -> MixDraw | None:
    """Draw one batch's mixing, or None when both operators are off."""
    kinds = [k for k, a in (("mixup", mixup_alpha), ("cutmix", cutmix_alpha)) if a > 0]
    if not kinds or batch_size < 1:
        return None
    kind = kinds[int(rng.integers(len(kinds)))] if len(kinds) > 1 else kinds[0]
    alpha = mixup_alpha if kind == "mixup" else cutmix_alpha
    lam = float(rng.beta(alpha, alpha))
    permutation = tuple(int(i) for i in rng.permutation(batch_size))
    if kind == "mixup":
        return MixDraw(kind, lam, permutation)
    cut = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy, cx = int(rng.integers(height)), int(rng.integers(width))
    top, bottom = int(np.clip(cy - cut_h // 2, 0, height)), int(np.clip(cy + cut_h // 2, 0, height))
    left, right = int(np.clip(cx - cut_w // 2, 0, width)), int(np.clip(cx + cut_w // 2, 0, width))
    lam = 1.0 - (bottom - top) * (right - left) / float(height * width)  # the area actually pasted
    return MixDraw(kind, lam, permutation, (top, bottom, left, right))


def apply_mix(images: Any, labels: Any, draw: MixDraw, num_classes: int) -> tuple[Any, Any]:
    """Mix a batch of paddle tensors (images [B,3,H,W], class ids [B]); returns (images, soft targets [B,C])."""
    import paddle

    index = paddle.to_tensor(np.asarray(draw.permutation, dtype=np.int64))
    onehot = paddle.nn.functional.one_hot(labels.reshape([-1]).astype("int64"), num_classes).astype("float32")
    targets = onehot * draw.lam + paddle.gather(onehot, index) * (1.0 - draw.lam)
    partners = paddle.gather(images, index)
    if draw.kind == "mixup":
        return images * draw.lam + partners * (1.0 - draw.lam), targets
    assert draw.box is not None
    top, bottom, left, right = draw.box
    mixed = images.clone()
    if bottom > top and right > left:
        mixed[:, :, top:bottom, left:right] = partners[:, :, top:bottom, left:right]
    return mixed, targets
