"""MobileNetV3 large and small (x0.35 .. x1.25) for single-label classification, PaddleClas layout.

A 3x3 stride-2 hard-swish stem, the searched inverted residual blocks (1x1 expansion,
k x k depthwise, optional squeeze-and-excitation, linear 1x1 projection), a 1x1 conv to
960 (large) or 576 (small) channels, then the head: global average pooling, ``last_conv``
(1x1 to 1280, no bias), hard-swish, ``Dropout(0.2, "downscale_in_infer")`` (so features
are multiplied by 0.8 at inference), flatten, linear ``fc``.

Keys follow PaddleClas's ``legendary_models/mobilenet_v3.py`` so the official
``MobileNetV3_*_pretrained.pdparams`` load unchanged. The SE gate is PaddleClas's
hard sigmoid ``clip(0.2 x + 0.5, 0, 1)``, not Paddle's default slope of 1/6.
"""

from __future__ import annotations

from typing import NamedTuple

import paddle
import paddle.nn.functional as F
from paddle import nn

#: Width multipliers with PaddleX's names ``MobileNetV3_<size>_<key>``.
SCALES: dict[str, float] = {"x0_35": 0.35, "x0_5": 0.5, "x0_75": 0.75, "x1_0": 1.0, "x1_25": 1.25}

STEM_CHANNELS = 16
LAST_CHANNELS = 1280
DROPOUT_PROB = 0.2


class BlockSpec(NamedTuple):
    """One inverted residual block before scaling."""

    kernel: int
    mid: int
    out: int
    se: bool
    act: str  # "relu" or "hardswish"
    stride: int


def _blocks(*rows: tuple[int, int, int, bool, str, int]) -> tuple[BlockSpec, ...]:
    return tuple(BlockSpec(*row) for row in rows)


_RE, _HS = "relu", "hardswish"

#: size -> (blocks, width of the conv before the head).
ARCHS: dict[str, tuple[tuple[BlockSpec, ...], int]] = {
    "large": (
        _blocks(
            (3, 16, 16, False, _RE, 1),
            (3, 64, 24, False, _RE, 2),
            (3, 72, 24, False, _RE, 1),
            (5, 72, 40, True, _RE, 2),
            (5, 120, 40, True, _RE, 1),
            (5, 120, 40, True, _RE, 1),
            (3, 240, 80, False, _HS, 2),
            (3, 200, 80, False, _HS, 1),
            (3, 184, 80, False, _HS, 1),
            (3, 184, 80, False, _HS, 1),
            (3, 480, 112, True, _HS, 1),
            (3, 672, 112, True, _HS, 1),
            (5, 672, 160, True, _HS, 2),
            (5, 960, 160, True, _HS, 1),
            (5, 960, 160, True, _HS, 1),
        ),
        960,
    ),
    "small": (
        _blocks(
            (3, 16, 16, True, _RE, 2),
            (3, 72, 24, False, _RE, 2),
            (3, 88, 24, False, _RE, 1),
            (5, 96, 40, True, _HS, 2),
            (5, 240, 40, True, _HS, 1),
            (5, 240, 40, True, _HS, 1),
            (5, 120, 48, True, _HS, 1),
            (5, 144, 48, True, _HS, 1),
            (5, 288, 96, True, _HS, 2),
            (5, 576, 96, True, _HS, 1),
            (5, 576, 96, True, _HS, 1),
        ),
        576,
    ),
}

#: Variant names ``<size>_<scale>`` accepted by :func:`build_mobilenet_v3`.
VARIANTS: tuple[str, ...] = tuple(f"{size}_{scale}" for size in ARCHS for scale in SCALES)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``, never below 90 %)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _no_decay() -> paddle.ParamAttr:
    # PaddleClas exempts batch-norm scales and shifts from L2 weight decay.
    return paddle.ParamAttr(regularizer=paddle.regularizer.L2Decay(0.0))


def _activation(name: str | None) -> nn.Layer | None:
    if name is None:
        return None
    if name == "relu":
        return nn.ReLU()
    if name == "hardswish":
        return nn.Hardswish()
    raise ValueError(f"unsupported activation {name!r}")


class ConvBNLayer(nn.Layer):
    """Convolution (no bias), batch norm, optional activation (keys ``conv.weight``, ``bn.*``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        act: str | None = None,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            bias_attr=False,
        )
        self.bn = nn.BatchNorm2D(out_channels, weight_attr=_no_decay(), bias_attr=_no_decay())
        self.act = _activation(act)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``act(bn(conv(x)))``."""
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x


class SEModule(nn.Layer):
    """Squeeze-and-excitation with a /4 bottleneck and the hard-sigmoid gate ``clip(0.2 x + 0.5, 0, 1)``."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channels, channels // reduction, 1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2D(channels // reduction, channels, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Rescale the channels of ``x`` by a gate computed from its global mean."""
        gate = self.conv2(self.relu(self.conv1(self.avg_pool(x))))
        return x * F.hardsigmoid(gate, slope=0.2, offset=0.5)


class ResidualUnit(nn.Layer):
    """1x1 expansion, k x k depthwise (carrying the stride), optional SE, linear 1x1 projection.

    The input is added back when the stride is 1 and the width is unchanged.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        use_se: bool,
        act: str,
    ) -> None:
        super().__init__()
        self.shortcut = stride == 1 and in_channels == out_channels
        self.expand_conv = ConvBNLayer(in_channels, mid_channels, 1, act=act)
        self.bottleneck_conv = ConvBNLayer(
            mid_channels, mid_channels, kernel_size, stride=stride, groups=mid_channels, act=act
        )
        self.mid_se = SEModule(mid_channels) if use_se else None
        self.linear_conv = ConvBNLayer(mid_channels, out_channels, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the block's output, plus ``x`` when the block has a shortcut."""
        y = self.bottleneck_conv(self.expand_conv(x))
        if self.mid_se is not None:
            y = self.mid_se(y)
        y = self.linear_conv(y)
        return x + y if self.shortcut else y


class MobileNetV3(nn.Layer):
    """MobileNetV3 ``size`` ("large" or "small") at width ``scale``: images -> logits ``[N, num_classes]``."""

    def __init__(
        self,
        num_classes: int = 1000,
        size: str = "large",
        scale: float = 1.0,
        dropout_prob: float = DROPOUT_PROB,
    ) -> None:
        super().__init__()
        blocks, squeeze = ARCHS[size]
        self.scale = scale
        width = make_divisible(STEM_CHANNELS * scale)
        self.conv = ConvBNLayer(3, width, 3, stride=2, act="hardswish")
        units = []
        for spec in blocks:
            out = make_divisible(spec.out * scale)
            units.append(
                ResidualUnit(
                    width, make_divisible(spec.mid * scale), out, spec.kernel, spec.stride, spec.se, spec.act
                )
            )
            width = out
        self.blocks = nn.Sequential(*units)
        self.out_channels = make_divisible(squeeze * scale)
        self.last_second_conv = ConvBNLayer(width, self.out_channels, 1, act="hardswish")
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.last_conv = nn.Conv2D(self.out_channels, LAST_CHANNELS, 1, bias_attr=False)
        self.hardswish = nn.Hardswish()
        self.dropout = nn.Dropout(p=dropout_prob, mode="downscale_in_infer")
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(LAST_CHANNELS, num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the ``last_second_conv`` feature map ``[N, out_channels, H/32, W/32]``."""
        return self.last_second_conv(self.blocks(self.conv(x)))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return logits ``[N, num_classes]``."""
        x = self.hardswish(self.last_conv(self.avg_pool(self.forward_features(x))))
        return self.fc(self.flatten(self.dropout(x)))


def build_mobilenet_v3(num_classes: int, variant: str = "large_x1_0") -> MobileNetV3:
    """Build MobileNetV3 ``variant`` (one of :data:`VARIANTS`, e.g. ``"small_x0_75"``) for ``num_classes``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown MobileNetV3 variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    size, _, scale = variant.partition("_")
    return MobileNetV3(num_classes, size, SCALES[scale])


__all__ = [
    "ARCHS",
    "SCALES",
    "VARIANTS",
    "BlockSpec",
    "MobileNetV3",
    "ResidualUnit",
    "SEModule",
    "build_mobilenet_v3",
    "make_divisible",
]
