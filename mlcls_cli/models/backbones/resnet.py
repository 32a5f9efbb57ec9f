"""ResNet50 ("vb" variant) with an ML-Decoder head: the ``ResNet50_ML`` zoo model.

Layer and parameter names follow the official PaddleClas checkpoints
(``stem.0``, ``blocks.0..15``, ``conv0/conv1/conv2/short``, ``fc``) so that an
official ``.pdparams`` loads with ``set_state_dict`` unchanged. "vb" means a
7x7 stem, the stride on the 3x3 convolution of a bottleneck and a strided 1x1
projection shortcut (no average-pool shortcut as in "vd").
"""

from __future__ import annotations

import paddle
from paddle import nn

#: (bottleneck width, number of blocks, stride of the first block) per stage.
RESNET50_STAGES: tuple[tuple[int, int, int], ...] = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))
EXPANSION = 4
FEATURE_CHANNELS = 2048


class ConvBNLayer(nn.Layer):
    """Convolution without bias, batch norm, optional ReLU (keys ``conv.weight``, ``bn.*``).

    PaddleClas' version also owns an average-pool used only by the "vd" variant; it
    holds no parameters, so it is left out without changing the state dict.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            bias_attr=False,
        )
        self.bn = nn.BatchNorm2D(out_channels)
        self.act = nn.ReLU() if act else None

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``act(bn(conv(x)))``."""
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x


class BottleneckBlock(nn.Layer):
    """1x1 reduce, 3x3 (strided), 1x1 expand, plus an identity or 1x1 projection shortcut."""

    def __init__(self, in_channels: int, width: int, stride: int, project: bool) -> None:
        super().__init__()
        out_channels = width * EXPANSION
        self.conv0 = ConvBNLayer(in_channels, width, 1)
        self.conv1 = ConvBNLayer(width, width, 3, stride=stride)
        self.conv2 = ConvBNLayer(width, out_channels, 1, act=False)
        self.short = ConvBNLayer(in_channels, out_channels, 1, stride=stride, act=False) if project else None
        self.relu = nn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``relu(main(x) + shortcut(x))``."""
        y = self.conv2(self.conv1(self.conv0(x)))
        shortcut = self.short(x) if self.short is not None else x
        return self.relu(y + shortcut)


class ResNet50(nn.Layer):
    """ResNet50-vb whose feature map ``[B, 2048, H/32, W/32]`` feeds ``fc`` directly.

    ``avg_pool`` and ``flatten`` are identities (the ML-Decoder head wants the
    spatial map); ``fc`` is the given head, or an identity when ``head`` is None
    (the backbone then returns the feature map).
    """

    def __init__(self, head: nn.Layer | None = None) -> None:
        super().__init__()
        self.stem = nn.Sequential(ConvBNLayer(3, 64, 7, stride=2))
        self.max_pool = nn.MaxPool2D(kernel_size=3, stride=2, padding=1)
        blocks: list[nn.Layer] = []
        in_channels = 64
        for width, depth, stride in RESNET50_STAGES:
            for i in range(depth):
                blocks.append(BottleneckBlock(in_channels, width, stride if i == 0 else 1, project=i == 0))
                in_channels = width * EXPANSION
        self.blocks = nn.Sequential(*blocks)
        self.avg_pool = nn.Identity()
        self.flatten = nn.Identity()
        self.fc = head if head is not None else nn.Identity()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the head's output (logits ``[B, num_classes]``) for images ``[B, 3, H, W]``."""
        x = self.blocks(self.max_pool(self.stem(x)))
        return self.fc(self.flatten(self.avg_pool(x)))


def build_resnet50_ml(num_classes: int = 80) -> nn.Layer:
    """Build ``ResNet50_ML``: ResNet50-vb with an ML-Decoder head (one query per class)."""
    from mlcls_cli.models.ml_decoder import MLDecoder

    head = MLDecoder(class_num=num_classes, in_channels=FEATURE_CHANNELS, query_num=num_classes)
    return ResNet50(head=head)
