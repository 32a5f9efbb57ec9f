"""ConvNeXt (tiny, small, base, large) for single-label classification, PaddleClas state_dict layout.

A 4x4 patchify stem and three 2x2 downsampling convolutions, each paired with a
channels-first LayerNorm (``downsample_layers.i``), feed four stages of ConvNeXt
blocks (``stages.i.j``): 7x7 depthwise conv, LayerNorm over channels, a 4x inverted
MLP (``pwconv1``/``pwconv2`` as Linear layers on channels-last tensors) with exact
GELU, a per-channel layer scale ``gamma`` and stochastic depth on the residual branch.
The head is global average pooling, a final LayerNorm (``norm``) and ``head`` (Linear).
Every LayerNorm uses epsilon 1e-6. The ``_224`` and ``_384`` variants share the
architecture; they differ only in the resolution their weights were trained at.
"""

from __future__ import annotations

from typing import NamedTuple

import paddle
from paddle import nn

from mlcls_cli.models.backbones.clip_vit import gelu
from mlcls_cli.models.backbones.drop_path import DropPath, drop_path_rates

LN_EPS = 1e-6
#: Stochastic depth rate of PaddleClas's (and so PaddleX's) ConvNeXt training configs.
DROP_PATH_RATE = 0.1
#: Initial value of the per-block layer scale ``gamma``.
LAYER_SCALE_INIT = 1e-6


class VariantSpec(NamedTuple):
    """A ConvNeXt size: blocks per stage and channels per stage."""

    depths: tuple[int, int, int, int]
    dims: tuple[int, int, int, int]


_TINY = VariantSpec((3, 3, 9, 3), (96, 192, 384, 768))
_SMALL = VariantSpec((3, 3, 27, 3), (96, 192, 384, 768))
_BASE = VariantSpec((3, 3, 27, 3), (128, 256, 512, 1024))
_LARGE = VariantSpec((3, 3, 27, 3), (192, 384, 768, 1536))

#: Registry variant -> architecture (PaddleClas ``ConvNeXt_<variant>``).
VARIANTS: dict[str, VariantSpec] = {
    "tiny": _TINY,
    "small": _SMALL,
    "base_224": _BASE,
    "base_384": _BASE,
    "large_224": _LARGE,
    "large_384": _LARGE,
}


def _trunc_normal() -> paddle.ParamAttr:
    return paddle.ParamAttr(initializer=nn.initializer.TruncatedNormal(std=0.02))


def _zeros() -> paddle.ParamAttr:
    return paddle.ParamAttr(initializer=nn.initializer.Constant(0.0))


def _conv(in_channels: int, out_channels: int, kernel_size: int, **kwargs: int) -> nn.Conv2D:
    return nn.Conv2D(
        in_channels, out_channels, kernel_size, weight_attr=_trunc_normal(), bias_attr=_zeros(), **kwargs
    )


def _linear(in_features: int, out_features: int) -> nn.Linear:
    return nn.Linear(in_features, out_features, weight_attr=_trunc_normal(), bias_attr=_zeros())


class LayerNorm2D(nn.Layer):
    """LayerNorm over the channel axis of an NCHW tensor (biased variance), with ``weight`` and ``bias``."""

    def __init__(self, channels: int, epsilon: float = LN_EPS) -> None:
        super().__init__()
        self.weight = self.create_parameter([channels], default_initializer=nn.initializer.Constant(1.0))
        self.bias = self.create_parameter([channels], default_initializer=nn.initializer.Constant(0.0))
        self.epsilon = epsilon

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Normalise each pixel's channel vector, then scale and shift per channel."""
        mean = x.mean(axis=1, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(axis=1, keepdim=True)
        # ``** 0.5`` rather than paddle.sqrt, which has no legacy static-graph binding in paddle 3.3.
        x = centred / (var + self.epsilon) ** 0.5
        return x * self.weight.reshape([1, -1, 1, 1]) + self.bias.reshape([1, -1, 1, 1])


class ConvNeXtBlock(nn.Layer):
    """``x + drop_path(gamma * pwconv2(gelu(pwconv1(norm(dwconv(x))))))`` with the MLP on channels-last data."""

    def __init__(self, dim: int, drop_path: float = 0.0) -> None:
        super().__init__()
        self.gamma = self.create_parameter(
            [dim], default_initializer=nn.initializer.Constant(LAYER_SCALE_INIT)
        )
        self.dwconv = _conv(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, epsilon=LN_EPS)
        self.pwconv1 = _linear(dim, 4 * dim)
        self.pwconv2 = _linear(4 * dim, dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the block output, same shape as ``x`` ``[B, C, H, W]``."""
        y = self.dwconv(x).transpose([0, 2, 3, 1])
        y = self.pwconv2(gelu(self.pwconv1(self.norm(y))))
        y = (self.gamma * y).transpose([0, 3, 1, 2])
        return x + self.drop_path(y)


class ConvNeXt(nn.Layer):
    """ConvNeXt ``variant`` mapping float32 NCHW images to logits ``[B, num_classes]``."""

    def __init__(
        self, variant: str = "tiny", num_classes: int = 1000, drop_path_rate: float = DROP_PATH_RATE
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown ConvNeXt variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        depths, dims = VARIANTS[variant]
        self.variant = variant
        self.num_features = dims[-1]
        stem = nn.Sequential(_conv(3, dims[0], 4, stride=4), LayerNorm2D(dims[0]))
        downsamples = [
            nn.Sequential(LayerNorm2D(dims[i]), _conv(dims[i], dims[i + 1], 2, stride=2)) for i in range(3)
        ]
        self.downsample_layers = nn.LayerList([stem, *downsamples])
        rates = iter(drop_path_rates(drop_path_rate, sum(depths)))
        self.stages = nn.LayerList(
            [
                nn.Sequential(*(ConvNeXtBlock(dim, next(rates)) for _ in range(depth)))
                for depth, dim in zip(depths, dims, strict=True)
            ]
        )
        self.norm = nn.LayerNorm(dims[-1], epsilon=LN_EPS)
        self.head = _linear(dims[-1], num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the pooled, normalised feature ``[B, C4]`` the head sees."""
        # Indexing rather than zip(..., strict=True), which paddle.jit.to_static cannot convert.
        for i in range(len(self.stages)):
            x = self.stages[i](self.downsample_layers[i](x))
        return self.norm(x.mean(axis=[2, 3]))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return logits ``[B, num_classes]`` for images ``[B, 3, H, W]``."""
        return self.head(self.forward_features(x))


def build_convnext(
    num_classes: int, variant: str = "tiny", drop_path_rate: float = DROP_PATH_RATE
) -> ConvNeXt:
    """Build ConvNeXt ``variant`` (``tiny``, ``small``, ``base_224``, ``base_384``, ``large_224``, ``large_384``)."""
    return ConvNeXt(variant=variant, num_classes=num_classes, drop_path_rate=drop_path_rate)


__all__ = ["VARIANTS", "ConvNeXt", "ConvNeXtBlock", "LayerNorm2D", "build_convnext"]
