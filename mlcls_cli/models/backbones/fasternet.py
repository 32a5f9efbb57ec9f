"""FasterNet (T0, T1, T2, S, M, L) for single-label classification, PaddleClas state_dict layout.

A 4x4 stride-4 patch embedding (conv without bias + BatchNorm) feeds four stages of
FasterNet blocks; between stages a 2x2 stride-2 conv + BatchNorm doubles the width
(``stages`` alternates blocks and merging layers: ``stages.0``, ``stages.1`` (merge),
``stages.2``, ...). A block mixes space with a *partial convolution* (a 3x3 conv on
the first quarter of the channels, the rest passed through untouched), then applies a
1x1 conv (2x expansion), BatchNorm, activation (GELU for T0/T1, ReLU otherwise) and a
1x1 conv back, added to the input through stochastic depth. The head is global average
pooling, a 1x1 conv to 1280 channels with the activation (``avgpool_pre_head``) and
``head`` (Linear). No convolution has a bias.
"""

from __future__ import annotations

from typing import NamedTuple

import paddle
from paddle import nn

from mlcls_cli.models.backbones.clip_vit import gelu
from mlcls_cli.models.backbones.drop_path import DropPath, drop_path_rates

FEATURE_DIM = 1280
MLP_RATIO = 2
#: The partial convolution covers ``1 / N_DIV`` of a block's channels.
N_DIV = 4
#: Paddle momentum (weight of the running statistics) of the patch embedding's BatchNorm: PaddleClas sets 0.1
#: there, so in training that layer's running statistics follow the current batch closely. Others keep 0.9.
PATCH_NORM_MOMENTUM = 0.1


class VariantSpec(NamedTuple):
    """A FasterNet size: first-stage width (doubling per stage), blocks per stage, drop-path rate, activation."""

    embed_dim: int
    depths: tuple[int, int, int, int]
    drop_path_rate: float
    act: str


#: Registry variant -> architecture (PaddleClas ``FasterNet_<variant>``; the rates are PaddleClas's defaults,
#: which its training configs keep).
VARIANTS: dict[str, VariantSpec] = {
    "T0": VariantSpec(40, (1, 2, 8, 2), 0.0, "gelu"),
    "T1": VariantSpec(64, (1, 2, 8, 2), 0.02, "gelu"),
    "T2": VariantSpec(96, (1, 2, 8, 2), 0.05, "relu"),
    "S": VariantSpec(128, (1, 2, 13, 2), 0.1, "relu"),
    "M": VariantSpec(144, (3, 4, 18, 3), 0.2, "relu"),
    "L": VariantSpec(192, (3, 4, 18, 3), 0.3, "relu"),
}


class GELU(nn.Layer):
    """Exact (erf) GELU as a layer (one that also traces under the legacy static graph)."""

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return gelu(x)


def _activation(name: str) -> nn.Layer:
    return GELU() if name == "gelu" else nn.ReLU()


def _conv(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0
) -> nn.Conv2D:
    return nn.Conv2D(
        in_channels,
        out_channels,
        kernel_size,
        stride=stride,
        padding=padding,
        weight_attr=paddle.ParamAttr(initializer=nn.initializer.TruncatedNormal(std=0.02)),
        bias_attr=False,
    )


class PartialConv(nn.Layer):
    """3x3 convolution on the first ``dim // n_div`` channels; the other channels pass through unchanged."""

    def __init__(self, dim: int, n_div: int = N_DIV) -> None:
        super().__init__()
        self.dim_conv = dim // n_div
        self.dim_untouched = dim - self.dim_conv
        self.partial_conv3 = _conv(self.dim_conv, self.dim_conv, 3, padding=1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``concat(conv(x[:, :d]), x[:, d:])`` along channels."""
        head, rest = paddle.split(x, [self.dim_conv, self.dim_untouched], axis=1)
        return paddle.concat([self.partial_conv3(head), rest], axis=1)


class FasterNetBlock(nn.Layer):
    """``x + drop_path(mlp(partial_conv(x)))``, the MLP being 1x1 conv, BN, activation, 1x1 conv."""

    def __init__(self, dim: int, act: str, drop_path: float = 0.0) -> None:
        super().__init__()
        hidden = int(dim * MLP_RATIO)
        # Created before ``spatial_mixing`` (which runs first) so that the state_dict order is PaddleClas's.
        self.mlp = nn.Sequential(
            _conv(dim, hidden, 1), nn.BatchNorm2D(hidden), _activation(act), _conv(hidden, dim, 1)
        )
        self.spatial_mixing = PartialConv(dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the block output, same shape as ``x`` ``[B, C, H, W]``."""
        return x + self.drop_path(self.mlp(self.spatial_mixing(x)))


class FasterNetStage(nn.Layer):
    """A run of :class:`FasterNetBlock` of one width (``blocks``)."""

    def __init__(self, dim: int, act: str, drop_paths: list[float]) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(FasterNetBlock(dim, act, p) for p in drop_paths))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Run the blocks."""
        return self.blocks(x)


class PatchEmbed(nn.Layer):
    """Non-overlapping 4x4 patches: conv without bias (``proj``) then BatchNorm (``norm``)."""

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.proj = _conv(3, out_channels, 4, stride=4)
        self.norm = nn.BatchNorm2D(out_channels, momentum=PATCH_NORM_MOMENTUM)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``[B, C, H/4, W/4]``."""
        return self.norm(self.proj(x))


class PatchMerging(nn.Layer):
    """2x2 stride-2 conv without bias (``reduction``) doubling the width, then BatchNorm (``norm``)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.reduction = _conv(in_channels, 2 * in_channels, 2, stride=2)
        self.norm = nn.BatchNorm2D(2 * in_channels)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``[B, 2C, H/2, W/2]``."""
        return self.norm(self.reduction(x))


class FasterNet(nn.Layer):
    """FasterNet ``variant`` mapping float32 NCHW images to logits ``[B, num_classes]``.

    ``drop_path_rate`` defaults to the variant's training rate (0 for T0).
    """

    def __init__(
        self, variant: str = "T0", num_classes: int = 1000, drop_path_rate: float | None = None
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown FasterNet variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        spec = VARIANTS[variant]
        self.variant = variant
        rate = spec.drop_path_rate if drop_path_rate is None else drop_path_rate
        rates = drop_path_rates(rate, sum(spec.depths))
        dims = [spec.embed_dim * 2**i for i in range(len(spec.depths))]
        self.patch_embed = PatchEmbed(dims[0])
        layers: list[nn.Layer] = []
        start = 0
        for i, (dim, depth) in enumerate(zip(dims, spec.depths, strict=True)):
            if i > 0:
                layers.append(PatchMerging(dims[i - 1]))
            layers.append(FasterNetStage(dim, spec.act, rates[start : start + depth]))
            start += depth
        self.stages = nn.Sequential(*layers)
        self.num_features = dims[-1]
        self.avgpool_pre_head = nn.Sequential(
            nn.AdaptiveAvgPool2D(1), _conv(dims[-1], FEATURE_DIM, 1), _activation(spec.act)
        )
        self.head = nn.Linear(
            FEATURE_DIM,
            num_classes,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.TruncatedNormal(std=0.02)),
            bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)),
        )

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the 1280-wide feature ``[B, 1280]`` the head sees."""
        x = self.stages(self.patch_embed(x))
        return self.avgpool_pre_head(x).flatten(1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return logits ``[B, num_classes]`` for images ``[B, 3, H, W]``."""
        return self.head(self.forward_features(x))


def build_fasternet(num_classes: int, variant: str = "T0", drop_path_rate: float | None = None) -> FasterNet:
    """Build FasterNet ``variant`` (``T0``, ``T1``, ``T2``, ``S``, ``M``, ``L``)."""
    return FasterNet(variant=variant, num_classes=num_classes, drop_path_rate=drop_path_rate)


__all__ = ["VARIANTS", "FasterNet", "FasterNetBlock", "PartialConv", "build_fasternet"]
