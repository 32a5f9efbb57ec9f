"""Stochastic depth (``DropPath``) for residual branches, as PaddleClas's modern families use it.

In training, each sample's branch output is kept with probability ``1 - p`` and then
divided by ``1 - p`` (so its expectation is unchanged), or zeroed; in evaluation it is
the identity. The per-block rates grow linearly from 0 to the network's rate.
"""

from __future__ import annotations

import paddle
from paddle import nn


def drop_path_rates(rate: float, count: int) -> list[float]:
    """``count`` rates spaced evenly from 0 to ``rate`` (both included), one per block in network order."""
    if count <= 1:
        return [0.0] * count
    return [rate * i / (count - 1) for i in range(count)]


class DropPath(nn.Layer):
    """Zero the whole input of a sample with probability ``p`` in training (survivors scaled by ``1/(1-p)``)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``x`` unchanged in eval mode (or with ``p == 0``), else ``x * mask / (1 - p)`` per sample."""
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        shape = [x.shape[0]] + [1] * (x.ndim - 1)
        mask = paddle.floor(keep + paddle.rand(shape, dtype=x.dtype))
        return x / keep * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


__all__ = ["DropPath", "drop_path_rates"]
