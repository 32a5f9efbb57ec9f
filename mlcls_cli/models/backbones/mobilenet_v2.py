"""MobileNetV2 (x0.25 .. x2.0) for single-label classification, PaddleClas state_dict layout.

A 3x3 stride-2 stem, seven stages of inverted residual blocks (1x1 expansion, 3x3
depthwise, linear 1x1 projection; ReLU6 after the first two), a 1x1 conv to 1280
channels (1280 x scale above x1.0), global average pooling and a linear ``out``.

The keys follow PaddleClas's ``model_zoo/mobilenet_v2.py`` (``conv1``, ``conv2`` ..
``conv8`` with ``_first_block`` and ``conv<i>_<j>``, ``conv9``, ``out``). PaddleClas also
gives every parameter a fixed global name (``conv1_1_weights`` ...), so that two of its
MobileNetV2 cannot live in one process; here parameters are named structurally only,
which changes nothing in the ``state_dict`` and lets any number of models coexist.
"""

from __future__ import annotations

import paddle
import paddle.nn.functional as F
from paddle import nn

#: Width multipliers with PaddleX's names ``MobileNetV2_<key>``.
SCALES: dict[str, float] = {"x0_25": 0.25, "x0_5": 0.5, "x1_0": 1.0, "x1_5": 1.5, "x2_0": 2.0}

STEM_CHANNELS = 32
LAST_CHANNELS = 1280
#: Per stage ``conv2`` .. ``conv8``: expansion factor, output width (before scaling), blocks, first stride.
STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class ConvBN(nn.Layer):
    """Convolution (no bias), batch norm, ReLU6 unless ``act`` is False (keys ``_conv``, ``_batch_norm``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        self._conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            bias_attr=False,
        )
        self._batch_norm = nn.BatchNorm2D(out_channels)
        self.act = act

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``relu6(bn(conv(x)))`` (or ``bn(conv(x))`` without the activation)."""
        x = self._batch_norm(self._conv(x))
        return F.relu6(x) if self.act else x


class InvertedResidual(nn.Layer):
    """1x1 expansion, 3x3 depthwise (with the stride), linear 1x1 projection; optional identity shortcut."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, expansion: int, shortcut: bool
    ) -> None:
        super().__init__()
        mid_channels = in_channels * expansion
        self._expand_conv = ConvBN(in_channels, mid_channels, 1)
        self._bottleneck_conv = ConvBN(mid_channels, mid_channels, 3, stride=stride, groups=mid_channels)
        self._linear_conv = ConvBN(mid_channels, out_channels, 1, act=False)
        self.shortcut = shortcut

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the block's output, plus ``x`` when the block has a shortcut."""
        y = self._linear_conv(self._bottleneck_conv(self._expand_conv(x)))
        return x + y if self.shortcut else y


class InvertedResidualStage(nn.Layer):
    """``num_blocks`` inverted residuals: ``_first_block`` (stride, new width), then ``<name>_2`` ...

    Only the later blocks add their input back.
    """

    def __init__(
        self,
        name: str,
        in_channels: int,
        out_channels: int,
        num_blocks: int,
        stride: int,
        expansion: int,
    ) -> None:
        super().__init__()
        self._first_block = InvertedResidual(in_channels, out_channels, stride, expansion, shortcut=False)
        self._rest = [
            self.add_sublayer(
                f"{name}_{j}", InvertedResidual(out_channels, out_channels, 1, expansion, shortcut=True)
            )
            for j in range(2, num_blocks + 1)
        ]

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Apply the stage's blocks in order."""
        x = self._first_block(x)
        for block in self._rest:
            x = block(x)
        return x


class MobileNetV2(nn.Layer):
    """MobileNetV2 at width ``scale``: float32 NCHW images -> logits ``[N, num_classes]``."""

    def __init__(self, num_classes: int = 1000, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        in_channels = int(STEM_CHANNELS * scale)
        self.conv1 = ConvBN(3, in_channels, 3, stride=2)
        self.stage_names: list[str] = []
        for index, (expansion, width, num_blocks, stride) in enumerate(STAGES, start=2):
            name = f"conv{index}"
            out_channels = int(width * scale)
            setattr(
                self,
                name,
                InvertedResidualStage(name, in_channels, out_channels, num_blocks, stride, expansion),
            )
            self.stage_names.append(name)
            in_channels = out_channels
        self.out_channels = int(LAST_CHANNELS * scale) if scale > 1.0 else LAST_CHANNELS
        self.conv9 = ConvBN(in_channels, self.out_channels, 1)
        self.pool2d_avg = nn.AdaptiveAvgPool2D(1)
        self.out = nn.Linear(self.out_channels, num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the ``conv9`` feature map ``[N, out_channels, H/32, W/32]`` (after ReLU6)."""
        x = self.conv1(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
        return self.conv9(x)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return logits ``[N, num_classes]``."""
        return self.out(paddle.flatten(self.pool2d_avg(self.forward_features(x)), start_axis=1))


def build_mobilenet_v2(num_classes: int, variant: str = "x1_0") -> MobileNetV2:
    """Build MobileNetV2 ``variant`` (a key of :data:`SCALES`) with ``num_classes`` outputs."""
    if variant not in SCALES:
        raise ValueError(f"unknown MobileNetV2 variant {variant!r}; choose one of {', '.join(SCALES)}")
    return MobileNetV2(num_classes, SCALES[variant])


__all__ = [
    "SCALES",
    "STAGES",
    "InvertedResidual",
    "InvertedResidualStage",
    "MobileNetV2",
    "build_mobilenet_v2",
]
