"""MobileNetV1 (x0.25 .. x1.0) for single-label classification, PaddleClas state_dict layout.

A 3x3 stride-2 stem and thirteen depthwise-separable blocks (3x3 depthwise, then 1x1
pointwise, each followed by batch norm and ReLU), global average pooling and a linear
``fc``. Keys (``conv.*``, ``blocks.<i>.depthwise_conv.*``, ``blocks.<i>.pointwise_conv.*``,
``fc.*``) match PaddleClas's ``legendary_models/mobilenet_v1.py``, so the official
``MobileNetV1*_pretrained.pdparams`` load unchanged.
"""

from __future__ import annotations

import paddle
from paddle import nn

#: Width multipliers with PaddleX's names ``MobileNetV1_<key>``.
SCALES: dict[str, float] = {"x0_25": 0.25, "x0_5": 0.5, "x0_75": 0.75, "x1_0": 1.0}

STEM_CHANNELS = 32
#: (input width, output width, stride of the depthwise conv) of the 13 blocks, before scaling.
BLOCKS: tuple[tuple[int, int, int], ...] = (
    (32, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 256, 2),
    (256, 256, 1),
    (256, 512, 2),
    *((512, 512, 1),) * 5,
    (512, 1024, 2),
    (1024, 1024, 1),
)


class ConvBNReLU(nn.Layer):
    """Convolution (no bias, He-normal init), batch norm, ReLU (keys ``conv.weight``, ``bn.*``)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingNormal()),
            bias_attr=False,
        )
        self.bn = nn.BatchNorm2D(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``relu(bn(conv(x)))``."""
        return self.relu(self.bn(self.conv(x)))


class DepthwiseSeparable(nn.Layer):
    """3x3 depthwise conv (carrying the stride) then 1x1 pointwise conv, each with BN and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.depthwise_conv = ConvBNReLU(in_channels, in_channels, 3, stride=stride, groups=in_channels)
        self.pointwise_conv = ConvBNReLU(in_channels, out_channels, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Apply the depthwise and the pointwise convolution."""
        return self.pointwise_conv(self.depthwise_conv(x))


class MobileNetV1(nn.Layer):
    """MobileNetV1 at width ``scale``: float32 NCHW images -> logits ``[N, num_classes]``."""

    def __init__(self, num_classes: int = 1000, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.conv = ConvBNReLU(3, int(STEM_CHANNELS * scale), 3, stride=2)
        self.blocks = nn.Sequential(
            *(DepthwiseSeparable(int(cin * scale), int(cout * scale), stride) for cin, cout, stride in BLOCKS)
        )
        self.out_channels = int(BLOCKS[-1][1] * scale)
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(
            self.out_channels,
            num_classes,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingNormal()),
        )

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the last feature map ``[N, 1024 * scale, H/32, W/32]``."""
        return self.blocks(self.conv(x))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return logits ``[N, num_classes]``."""
        return self.fc(self.flatten(self.avg_pool(self.forward_features(x))))


def build_mobilenet_v1(num_classes: int, variant: str = "x1_0") -> MobileNetV1:
    """Build MobileNetV1 ``variant`` (a key of :data:`SCALES`) with ``num_classes`` outputs."""
    if variant not in SCALES:
        raise ValueError(f"unknown MobileNetV1 variant {variant!r}; choose one of {', '.join(SCALES)}")
    return MobileNetV1(num_classes, SCALES[variant])


__all__ = ["BLOCKS", "SCALES", "DepthwiseSeparable", "MobileNetV1", "build_mobilenet_v1"]
