"""StarNet (S1 .. S4) for single-label classification, PaddleClas state_dict layout.

A stride-2 3x3 conv-BN-ReLU6 stem (32 channels) and four stages, each a stride-2 3x3
conv-BN downsampler (``stages.i.0``) followed by star blocks (``stages.i.1..``). A star
block mixes space with a 7x7 depthwise conv-BN, expands channels 4x along two parallel
1x1 convs ``f1`` and ``f2``, multiplies ``relu6(f1)`` by ``f2`` element-wise (the "star"
operation), projects back with a 1x1 conv-BN ``g`` and a 7x7 depthwise conv
(``dwconv2``, no BN), and adds the result to its input through stochastic depth.
The head is BatchNorm (``norm``), global average pooling and ``head`` (Linear).
All convolutions have biases.
"""

from __future__ import annotations

from typing import NamedTuple

import paddle
from paddle import nn

from mlcls_cli.models.backbones.drop_path import DropPath, drop_path_rates

STEM_CHANNELS = 32
MLP_RATIO = 4


class VariantSpec(NamedTuple):
    """A StarNet size: width of the first stage (doubling per stage), blocks per stage, and training drop-path rate."""

    base_dim: int
    depths: tuple[int, int, int, int]
    drop_path_rate: float


#: Registry variant -> architecture (PaddleClas ``StarNet_<variant>``); the drop-path rates are those of
#: PaddleClas's (and so PaddleX's) training configs.
VARIANTS: dict[str, VariantSpec] = {
    "S1": VariantSpec(24, (2, 2, 8, 3), 0.0),
    "S2": VariantSpec(32, (1, 2, 6, 2), 0.01),
    "S3": VariantSpec(32, (2, 2, 8, 4), 0.01),
    "S4": VariantSpec(32, (3, 3, 12, 5), 0.02),
}


class ConvBN(nn.Layer):
    """Convolution with bias (``conv``), optionally followed by BatchNorm (``bn``); no activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        with_bn: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=(kernel_size - 1) // 2,
            groups=groups,
        )
        self.bn = nn.BatchNorm2D(out_channels) if with_bn else None

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Apply the convolution and, if present, the batch norm."""
        x = self.conv(x)
        return x if self.bn is None else self.bn(x)


class StarBlock(nn.Layer):
    """``x + drop_path(dwconv2(g(relu6(f1(y)) * f2(y))))`` with ``y = dwconv(x)``."""

    def __init__(self, dim: int, mlp_ratio: int = MLP_RATIO, drop_path: float = 0.0) -> None:
        super().__init__()
        hidden = mlp_ratio * dim
        self.dwconv = ConvBN(dim, dim, 7, groups=dim)
        self.f1 = ConvBN(dim, hidden, with_bn=False)
        self.f2 = ConvBN(dim, hidden, with_bn=False)
        self.g = ConvBN(hidden, dim)
        self.dwconv2 = ConvBN(dim, dim, 7, groups=dim, with_bn=False)
        self.act = nn.ReLU6()
        self.drop_path = DropPath(drop_path)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the block output, same shape as ``x`` ``[B, C, H, W]``."""
        y = self.dwconv(x)
        y = self.act(self.f1(y)) * self.f2(y)
        return x + self.drop_path(self.dwconv2(self.g(y)))


class StarNet(nn.Layer):
    """StarNet ``variant`` mapping float32 NCHW images to logits ``[B, num_classes]``.

    ``drop_path_rate`` defaults to the variant's training rate (0 for S1).
    """

    def __init__(
        self, variant: str = "S1", num_classes: int = 1000, drop_path_rate: float | None = None
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown StarNet variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        spec = VARIANTS[variant]
        self.variant = variant
        rate = spec.drop_path_rate if drop_path_rate is None else drop_path_rate
        rates = iter(drop_path_rates(rate, sum(spec.depths)))
        self.stem = nn.Sequential(ConvBN(3, STEM_CHANNELS, 3, stride=2), nn.ReLU6())
        stages = []
        in_channels = STEM_CHANNELS
        for i, depth in enumerate(spec.depths):
            dim = spec.base_dim * 2**i
            blocks = [StarBlock(dim, MLP_RATIO, next(rates)) for _ in range(depth)]
            stages.append(nn.Sequential(ConvBN(in_channels, dim, 3, stride=2), *blocks))
            in_channels = dim
        self.stages = nn.LayerList(stages)
        self.num_features = in_channels
        self.norm = nn.BatchNorm2D(in_channels)
        self.avgpool = nn.AdaptiveAvgPool2D(1)
        self.head = nn.Linear(
            in_channels, num_classes, bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0))
        )

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the pooled feature ``[B, C4]`` the head sees (BatchNorm before the pooling)."""
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.avgpool(self.norm(x)).flatten(1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return logits ``[B, num_classes]`` for images ``[B, 3, H, W]``."""
        return self.head(self.forward_features(x))


def build_starnet(num_classes: int, variant: str = "S1", drop_path_rate: float | None = None) -> StarNet:
    """Build StarNet ``variant`` (``S1`` .. ``S4``); ``drop_path_rate`` defaults to the variant's training rate."""
    return StarNet(variant=variant, num_classes=num_classes, drop_path_rate=drop_path_rate)


__all__ = ["VARIANTS", "ConvBN", "StarBlock", "StarNet", "build_starnet"]
