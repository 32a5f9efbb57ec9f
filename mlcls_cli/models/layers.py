"""Small layers shared by several backbones that must also trace into the legacy (pre-PIR) static graph.

``mlcls export --legacy`` writes ``inference.pdmodel``; in paddle 3.3 some operators
(sigmoid among them) are bound for dygraph and PIR only and fail while tracing it.
"""

from __future__ import annotations

import paddle
from paddle import nn
from paddle.framework import in_dynamic_or_pir_mode
from paddle.nn import functional as F


def sigmoid(x: paddle.Tensor) -> paddle.Tensor:
    """``1 / (1 + exp(-x))``, also in the legacy static graph (as ``softmax([0, x])[1]`` there)."""
    if in_dynamic_or_pir_mode():
        return F.sigmoid(x)
    pair = paddle.concat([paddle.zeros_like(x).unsqueeze(-1), x.unsqueeze(-1)], axis=-1)
    return F.softmax(pair, axis=-1)[..., 1]


class Sigmoid(nn.Layer):
    """:func:`sigmoid` as a layer (no parameters), a drop-in for ``nn.Sigmoid``."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``sigmoid(x)``."""
        return sigmoid(x)


__all__ = ["Sigmoid", "sigmoid"]
