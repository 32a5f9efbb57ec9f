"""SmallCNN: mlcls's own small convolutional network for small images (not a PaddleX/PaddleClas model).

Three blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pooling (32, 64 and 128
channels), then a global max pool and one linear layer: about 0.1 million parameters,
a few million multiply-adds per 64 px image. It learns from scratch on a few hundred
small images, where the zoo's large backbones and the ML-Decoder head memorise the
training set instead; mlcls uses it for the offline quick start, demos and tests.
There are no official weights: train it with ``--no-pretrained`` or from a checkpoint
of your own.
"""

from __future__ import annotations

import paddle
from paddle import nn

#: Output channels of the three blocks.
CHANNELS = (32, 64, 128)


class ConvBlock(nn.Layer):
    """3x3 convolution (no bias), batch norm, ReLU, then a 2x2 max pool halving each side."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2D(in_channels, out_channels, 3, padding=1, bias_attr=False)
        self.bn = nn.BatchNorm2D(out_channels)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool2D(2, 2)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.pool(self.act(self.bn(self.conv(x))))


class SmallCNN(nn.Layer):
    """The backbone: three :class:`ConvBlock` and a global max pool; ``[N, 3, H, W]`` -> ``[N, 128]``."""

    def __init__(self, channels: tuple[int, ...] = CHANNELS) -> None:
        super().__init__()
        widths = (3, *channels)
        self.blocks = nn.Sequential(*(ConvBlock(widths[i], widths[i + 1]) for i in range(len(channels))))
        self.pool = nn.AdaptiveMaxPool2D(1)
        self.out_channels = channels[-1]

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.pool(self.blocks(x)).flatten(1)


class SmallCNNClassifier(nn.Layer):
    """SmallCNN with a linear head: ``[N, 3, H, W]`` images -> ``[N, num_classes]`` logits."""

    def __init__(self, num_classes: int, channels: tuple[int, ...] = CHANNELS) -> None:
        super().__init__()
        self.backbone = SmallCNN(channels)
        self.fc = nn.Linear(self.backbone.out_channels, num_classes)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.fc(self.backbone(x))


def build_small_cnn(num_classes: int) -> SmallCNNClassifier:
    """SmallCNN with ``num_classes`` outputs (logits; the task decides sigmoid or softmax)."""
    return SmallCNNClassifier(num_classes)


__all__ = ["CHANNELS", "ConvBlock", "SmallCNN", "SmallCNNClassifier", "build_small_cnn"]
