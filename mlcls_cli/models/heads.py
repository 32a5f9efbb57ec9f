"""Classifier heads shared by the backbone families: the task decides the head, the backbone stays the same.

A convolutional backbone ends in three layers named as PaddleClas names them,
``avg_pool``, ``flatten`` and ``fc``; :func:`make_head` returns them for one head kind:

* ``"linear"`` (single-label, PaddleClas's classifier): global average pooling, flatten, ``Linear``;
* ``"ml_decoder"`` (multi-label): identities and an :class:`~mlcls_cli.models.ml_decoder.MLDecoder`
  over the whole feature map, which needs the spatial positions;
* ``None``: identities only, so the network returns what a head would receive.

Whatever the backbone does between ``avg_pool`` and ``flatten`` (PP-LCNet's ``last_conv``
and dropout, for instance) runs for both heads: pooled to 1x1 for the linear head, on
every position for the ML-Decoder.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import paddle
from paddle import nn

#: Single-label: global average pool, flatten, one linear layer (softmax scores).
LINEAR = "linear"
#: Multi-label: an ML-Decoder over the feature map (sigmoid scores).
ML_DECODER = "ml_decoder"
HEAD_KINDS = (LINEAR, ML_DECODER)


class Head(NamedTuple):
    """The last three layers of a convolutional classifier."""

    avg_pool: nn.Layer
    flatten: nn.Layer
    fc: nn.Layer


def check_head_kind(kind: str | None) -> None:
    """Raise ``ValueError`` unless ``kind`` is one of :data:`HEAD_KINDS` or None."""
    if kind is not None and kind not in HEAD_KINDS:
        raise ValueError(f"unknown head {kind!r}; choose one of {', '.join(HEAD_KINDS)} (or None)")


def make_head(
    kind: str | None,
    in_channels: int,
    class_num: int,
    *,
    fc_weight_attr: paddle.ParamAttr | None = None,
    **decoder_kwargs: Any,
) -> Head:
    """The ``avg_pool``, ``flatten`` and ``fc`` layers of head ``kind`` for ``in_channels`` features.

    ``fc_weight_attr`` sets the linear layer's weight initialisation (each family keeps
    PaddleClas's); ``decoder_kwargs`` go to the ML-Decoder (e.g. ``query_num``).
    """
    check_head_kind(kind)
    if decoder_kwargs and kind != ML_DECODER:
        raise TypeError(
            f"options {sorted(decoder_kwargs)} apply to the ML-Decoder head only, not to {kind!r}"
        )
    if kind == LINEAR:
        return Head(
            nn.AdaptiveAvgPool2D(1),
            nn.Flatten(start_axis=1, stop_axis=-1),
            nn.Linear(in_channels, class_num, weight_attr=fc_weight_attr),
        )
    if kind == ML_DECODER:
        from mlcls_cli.models.ml_decoder import MLDecoder

        return Head(
            nn.Identity(),
            nn.Identity(),
            MLDecoder(class_num=class_num, in_channels=in_channels, **decoder_kwargs),
        )
    return Head(nn.Identity(), nn.Identity(), nn.Identity())


__all__ = ["HEAD_KINDS", "LINEAR", "ML_DECODER", "Head", "check_head_kind", "make_head"]
