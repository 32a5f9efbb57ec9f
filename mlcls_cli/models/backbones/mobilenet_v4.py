"""MobileNetV4 (conv small/medium/large, hybrid medium/large) for single-label classification.

A 3x3 stride-2 stem, then a sequence of four block types: plain conv-BN-act layers,
a fused "edge" residual (k x k expansion, 1x1 projection), universal inverted
bottlenecks (UIB: optional depthwise conv before the 1x1 expansion, optional depthwise
conv after it, linear 1x1 projection) and, in the hybrids, mobile multi-query attention
(several query heads sharing one key and one value, which can be downsampled by a
strided depthwise conv). The head is global average pooling, a 1x1 conv-BN-act to 1280
channels, flatten and a linear ``classifier``. The hybrids scale each UIB and attention
branch by a learnt ``layer_scale.gamma`` before the residual addition.

Keys and forward follow PaddleClas's ``legendary_models/mobilenet_v4.py`` (the official
``MobileNetV4_*_pretrained.pdparams`` load unchanged), including two of its details:
attention scores are scaled by ``query_dim ** -0.5`` (all heads together, not one head's
width), and stochastic depth on a plain conv layer (``drop_path_rate * i / len(blocks)``
for block ``i`` during training) drops that layer's whole output, as there is no shortcut.
PaddleClas builds a classifier dropout (``drop_rate``) but never calls it, so there is none
here: training and inference both go straight from the pooled features to the classifier.
"""

from __future__ import annotations

from typing import NamedTuple

import paddle
import paddle.nn.functional as F
from paddle import nn

LAST_CHANNELS = 1280
LAYER_SCALE_INIT = 1e-5


class Conv(NamedTuple):
    """A conv-BN-act layer."""

    out: int
    kernel: int
    stride: int


class Edge(NamedTuple):
    """An edge residual: k x k conv to ``mid`` channels (with the stride), 1x1 projection to ``out``."""

    out: int
    mid: int
    kernel: int
    stride: int


class UIB(NamedTuple):
    """A universal inverted bottleneck; a kernel of 0 leaves that depthwise conv out."""

    out: int
    mid: int
    start_kernel: int
    mid_kernel: int
    stride: int


class MQA(NamedTuple):
    """Multi-query attention: ``heads`` query heads of width ``kv_dim``, one key and value (strided)."""

    out: int
    kv_dim: int
    kernel: int
    heads: int
    kv_stride: int


BlockSpec = Conv | Edge | UIB | MQA


class Arch(NamedTuple):
    """One variant: stem width, activation, layer scale or not, blocks, PaddleX's training drop-path rate."""

    stem: int
    act: str
    layer_scale: bool
    blocks: tuple[BlockSpec, ...]
    drop_path_rate: float


_STAGE4 = (Conv(960, 1, 1),)

_CONV_SMALL = (
    Conv(32, 3, 2),
    Conv(32, 1, 1),
    Conv(96, 3, 2),
    Conv(64, 1, 1),
    UIB(96, 192, 5, 5, 2),
    *(UIB(96, 192, 0, 3, 1),) * 4,
    UIB(96, 384, 3, 0, 1),
    UIB(128, 576, 3, 3, 2),
    UIB(128, 512, 5, 5, 1),
    UIB(128, 512, 0, 5, 1),
    UIB(128, 384, 0, 5, 1),
    *(UIB(128, 512, 0, 3, 1),) * 2,
    *_STAGE4,
)

_CONV_MEDIUM = (
    Edge(48, 128, 3, 2),
    UIB(80, 192, 3, 5, 2),
    UIB(80, 160, 3, 3, 1),
    UIB(160, 480, 3, 5, 2),
    *(UIB(160, 640, 3, 3, 1),) * 2,
    UIB(160, 640, 3, 5, 1),
    UIB(160, 640, 3, 3, 1),
    UIB(160, 640, 3, 0, 1),
    UIB(160, 320, 0, 0, 1),
    UIB(160, 640, 3, 0, 1),
    UIB(256, 960, 5, 5, 2),
    UIB(256, 1024, 5, 5, 1),
    *(UIB(256, 1024, 3, 5, 1),) * 2,
    UIB(256, 1024, 0, 0, 1),
    UIB(256, 1024, 3, 0, 1),
    UIB(256, 512, 3, 5, 1),
    UIB(256, 1024, 5, 5, 1),
    *(UIB(256, 1024, 0, 0, 1),) * 2,
    UIB(256, 512, 5, 0, 1),
    *_STAGE4,
)

_CONV_LARGE = (
    Edge(48, 96, 3, 2),
    UIB(96, 192, 3, 5, 2),
    UIB(96, 384, 3, 3, 1),
    UIB(192, 384, 3, 5, 2),
    *(UIB(192, 768, 3, 3, 1),) * 3,
    UIB(192, 768, 3, 5, 1),
    *(UIB(192, 768, 5, 3, 1),) * 5,
    UIB(192, 768, 3, 0, 1),
    UIB(512, 768, 5, 5, 2),
    *(UIB(512, 2048, 5, 5, 1),) * 3,
    UIB(512, 2048, 5, 0, 1),
    UIB(512, 2048, 5, 3, 1),
    *(UIB(512, 2048, 5, 0, 1),) * 2,
    UIB(512, 2048, 5, 3, 1),
    UIB(512, 2048, 5, 5, 1),
    *(UIB(512, 2048, 5, 0, 1),) * 3,
    *_STAGE4,
)


def _interleave(attention: MQA, uibs: tuple[UIB, ...]) -> tuple[BlockSpec, ...]:
    """``attention, uib`` pairs, one per UIB: the hybrids' attention blocks each precede a UIB."""
    return tuple(block for uib in uibs for block in (attention, uib))


_HYBRID_MEDIUM = (
    Edge(48, 128, 3, 2),
    UIB(80, 192, 3, 5, 2),
    UIB(80, 160, 3, 3, 1),
    UIB(160, 480, 3, 5, 2),
    UIB(160, 320, 0, 0, 1),
    UIB(160, 640, 3, 3, 1),
    UIB(160, 640, 3, 5, 1),
    *_interleave(
        MQA(160, 64, 3, 4, 2),
        (UIB(160, 640, 3, 3, 1), UIB(160, 640, 3, 0, 1), UIB(160, 640, 3, 3, 1), UIB(160, 640, 3, 0, 1)),
    ),
    UIB(256, 960, 5, 5, 2),
    UIB(256, 1024, 5, 5, 1),
    *(UIB(256, 1024, 3, 5, 1),) * 2,
    UIB(256, 512, 0, 0, 1),
    UIB(256, 512, 3, 5, 1),
    UIB(256, 512, 0, 0, 1),
    UIB(256, 1024, 0, 0, 1),
    *_interleave(
        MQA(256, 64, 3, 4, 1),
        (UIB(256, 1024, 3, 0, 1), UIB(256, 1024, 5, 5, 1), UIB(256, 1024, 5, 0, 1), UIB(256, 1024, 5, 0, 1)),
    ),
    *_STAGE4,
)

_HYBRID_LARGE = (
    Edge(48, 96, 3, 2),
    UIB(96, 192, 3, 5, 2),
    UIB(96, 384, 3, 3, 1),
    UIB(192, 384, 3, 5, 2),
    *(UIB(192, 768, 3, 3, 1),) * 3,
    UIB(192, 768, 3, 5, 1),
    *(UIB(192, 768, 5, 3, 1),) * 2,
    *_interleave(
        MQA(192, 48, 3, 8, 2),
        (*(UIB(192, 768, 5, 3, 1),) * 3, UIB(192, 768, 3, 0, 1)),
    ),
    UIB(512, 768, 5, 5, 2),
    *(UIB(512, 2048, 5, 5, 1),) * 3,
    UIB(512, 2048, 5, 0, 1),
    UIB(512, 2048, 5, 3, 1),
    *(UIB(512, 2048, 5, 0, 1),) * 2,
    UIB(512, 2048, 5, 3, 1),
    UIB(512, 2048, 5, 5, 1),
    *_interleave(MQA(512, 64, 3, 8, 1), (UIB(512, 2048, 5, 0, 1),) * 4),
    *_STAGE4,
)

#: Variant -> architecture. The drop-path rates are those of PaddleX's training configs.
ARCHS: dict[str, Arch] = {
    "conv_small": Arch(32, "relu", False, _CONV_SMALL, 0.03),
    "conv_medium": Arch(32, "relu", False, _CONV_MEDIUM, 0.1),
    "conv_large": Arch(24, "relu", False, _CONV_LARGE, 0.35),
    "hybrid_medium": Arch(32, "relu", True, _HYBRID_MEDIUM, 0.1),
    "hybrid_large": Arch(24, "gelu", True, _HYBRID_LARGE, 0.1),
}


def drop_path(x: paddle.Tensor, prob: float, training: bool) -> paddle.Tensor:
    """Stochastic depth: in training, zero each sample with probability ``prob`` and rescale the rest."""
    if prob == 0.0 or not training:
        return x
    keep = 1.0 - prob
    mask = paddle.floor(keep + paddle.rand([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype))
    return x / keep * mask


class DropPath(nn.Layer):
    """:func:`drop_path` as a layer (identity in eval mode)."""

    def __init__(self, prob: float) -> None:
        super().__init__()
        self.prob = prob

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``x``, dropped per sample in training."""
        return drop_path(x, self.prob, self.training)


def _no_decay() -> paddle.ParamAttr:
    # PaddleClas exempts batch-norm scales and shifts from L2 weight decay.
    return paddle.ParamAttr(regularizer=paddle.regularizer.L2Decay(0.0))


def _batch_norm(channels: int) -> nn.BatchNorm2D:
    return nn.BatchNorm2D(channels, weight_attr=_no_decay(), bias_attr=_no_decay())


def _activation(name: str) -> nn.Layer:
    if name == "relu":
        return nn.ReLU()
    if name == "gelu":
        return nn.GELU()  # exact (erf) GELU
    raise ValueError(f"unsupported activation {name!r}")


class ConvBnAct(nn.Layer):
    """Convolution (no bias), batch norm, optional activation, optional drop path (keys ``conv``, ``bn``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        act: str | None = None,
        drop_path_rate: float = 0.0,
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
        self.bn = _batch_norm(out_channels)
        self.act = _activation(act) if act is not None else None
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else None

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``act(bn(conv(x)))``, dropped per sample in training when a drop-path rate is set."""
        x = self.bn(self.conv(x))
        if self.act is not None:
            x = self.act(x)
        if self.drop_path is not None:
            x = self.drop_path(x)
        return x


class LayerScale2D(nn.Layer):
    """Per-channel learnt scale of an NCHW tensor (key ``gamma``)."""

    def __init__(self, channels: int, init_value: float = LAYER_SCALE_INIT) -> None:
        super().__init__()
        self.gamma = self.create_parameter(
            [channels], default_initializer=nn.initializer.Constant(init_value)
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``x * gamma`` per channel."""
        return x * self.gamma.reshape([1, -1, 1, 1])


class _Residual(nn.Layer):
    """Shared tail of the residual blocks: optional layer scale, then ``x + drop_path(branch)``."""

    def _init_residual(
        self, shortcut: bool, out_channels: int, layer_scale: bool, drop_path_rate: float
    ) -> None:
        self.shortcut = shortcut
        self.layer_scale = LayerScale2D(out_channels) if layer_scale else None
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else None

    def _finish(self, x: paddle.Tensor, branch: paddle.Tensor) -> paddle.Tensor:
        if self.layer_scale is not None:
            branch = self.layer_scale(branch)
        if not self.shortcut:
            return branch
        if self.drop_path is not None:
            branch = self.drop_path(branch)
        return x + branch


class EdgeResidual(_Residual):
    """k x k conv-BN-act expansion (with the stride), 1x1 conv-BN projection (``conv_exp``, ``conv_pwl``)."""

    def __init__(self, in_channels: int, spec: Edge, act: str, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.conv_exp = ConvBnAct(in_channels, spec.mid, spec.kernel, stride=spec.stride, act=act)
        self.conv_pwl = ConvBnAct(spec.mid, spec.out, 1)
        shortcut = spec.stride == 1 and in_channels == spec.out
        self._init_residual(shortcut, spec.out, False, drop_path_rate)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the block's output (plus ``x`` when stride and width allow a shortcut)."""
        return self._finish(x, self.conv_pwl(self.conv_exp(x)))


class UniversalInvertedResidual(_Residual):
    """Optional depthwise conv, 1x1 expansion, optional depthwise conv (with the stride), 1x1 projection.

    Keys ``dw_start``, ``pw_exp``, ``dw_mid``, ``pw_proj`` and, in the hybrids, ``layer_scale``.
    """

    def __init__(
        self, in_channels: int, spec: UIB, act: str, layer_scale: bool, drop_path_rate: float = 0.0
    ) -> None:
        super().__init__()
        self.dw_start = (
            ConvBnAct(in_channels, in_channels, spec.start_kernel, groups=in_channels)
            if spec.start_kernel
            else None
        )
        self.pw_exp = ConvBnAct(in_channels, spec.mid, 1, act=act)
        self.dw_mid = (
            ConvBnAct(spec.mid, spec.mid, spec.mid_kernel, stride=spec.stride, groups=spec.mid, act=act)
            if spec.mid_kernel
            else None
        )
        self.pw_proj = ConvBnAct(spec.mid, spec.out, 1)
        shortcut = spec.stride == 1 and in_channels == spec.out
        self._init_residual(shortcut, spec.out, layer_scale, drop_path_rate)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the block's output (plus ``x`` when stride and width allow a shortcut)."""
        y = self.dw_start(x) if self.dw_start is not None else x
        y = self.pw_exp(y)
        if self.dw_mid is not None:
            y = self.dw_mid(y)
        return self._finish(x, self.pw_proj(y))


class MobileAttention(_Residual):
    """Batch norm, then multi-query attention over all positions, a 1x1 output projection and the residual.

    Each of ``heads`` query heads (``heads * kv_dim`` query channels, head-major) attends to
    one shared key and value of ``kv_dim`` channels, computed from the input or, when
    ``kv_stride`` > 1, from strided depthwise conv-BN copies of it (``key_down_proj``,
    ``value_down_proj``).
    """

    def __init__(self, in_channels: int, spec: MQA, layer_scale: bool, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.heads = spec.heads
        self.kv_dim = spec.kv_dim
        self.query_dim = spec.heads * spec.kv_dim
        # PaddleClas scales by the full query width, not one head's; trained weights expect it.
        self.scale = self.query_dim**-0.5
        self.norm = _batch_norm(in_channels)
        self.query_proj = nn.Conv2D(in_channels, self.query_dim, 1, bias_attr=False)
        if spec.kv_stride > 1:
            self.key_down_proj = ConvBnAct(
                in_channels, in_channels, spec.kernel, stride=spec.kv_stride, groups=in_channels
            )
            self.value_down_proj = ConvBnAct(
                in_channels, in_channels, spec.kernel, stride=spec.kv_stride, groups=in_channels
            )
        else:
            self.key_down_proj = None
            self.value_down_proj = None
        self.key_proj = nn.Conv2D(in_channels, spec.kv_dim, 1, bias_attr=False)
        self.value_proj = nn.Conv2D(in_channels, spec.kv_dim, 1, bias_attr=False)
        self.proj = nn.Conv2D(self.query_dim, spec.out, 1, bias_attr=False)
        self._init_residual(in_channels == spec.out, spec.out, layer_scale, drop_path_rate)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``x`` plus the (layer-scaled) attention output, same shape as ``x``."""
        y = self.norm(x)
        height, width = y.shape[2], y.shape[3]
        # [N, heads, HW, kv_dim]; query channel h * kv_dim + j belongs to head h.
        q = self.query_proj(y).reshape([0, self.heads, self.kv_dim, -1]).transpose([0, 1, 3, 2])
        k_in = self.key_down_proj(y) if self.key_down_proj is not None else y
        v_in = self.value_down_proj(y) if self.value_down_proj is not None else y
        k = self.key_proj(k_in).flatten(2).unsqueeze(1)  # [N, 1, kv_dim, M]
        v = self.value_proj(v_in).flatten(2).transpose([0, 2, 1]).unsqueeze(1)  # [N, 1, M, kv_dim]
        attn = F.softmax(paddle.matmul(q * self.scale, k), axis=-1)  # [N, heads, HW, M]
        out = paddle.matmul(attn, v).transpose([0, 1, 3, 2])  # [N, heads, kv_dim, HW]
        out = out.reshape([0, self.query_dim, height, width])
        return self._finish(x, self.proj(out))


class MobileNetV4(nn.Layer):
    """MobileNetV4 ``variant`` (a key of :data:`ARCHS`): float32 NCHW images -> logits ``[N, num_classes]``.

    ``drop_path_rate`` (stochastic depth, training only) defaults to the variant's rate in
    PaddleX's training config; block ``i`` of ``n`` gets ``drop_path_rate * i / n``.
    """

    def __init__(
        self, num_classes: int = 1000, variant: str = "conv_small", drop_path_rate: float | None = None
    ) -> None:
        super().__init__()
        arch = ARCHS[variant]
        rate = arch.drop_path_rate if drop_path_rate is None else drop_path_rate
        self.variant = variant
        self.conv_stem = ConvBnAct(3, arch.stem, 3, stride=2, act=arch.act)
        blocks: list[nn.Layer] = []
        width = arch.stem
        count = len(arch.blocks)
        for i, spec in enumerate(arch.blocks):
            block_rate = rate * i / count
            if isinstance(spec, Conv):
                block: nn.Layer = ConvBnAct(
                    width, spec.out, spec.kernel, stride=spec.stride, act=arch.act, drop_path_rate=block_rate
                )
            elif isinstance(spec, Edge):
                block = EdgeResidual(width, spec, arch.act, block_rate)
            elif isinstance(spec, UIB):
                block = UniversalInvertedResidual(width, spec, arch.act, arch.layer_scale, block_rate)
            else:
                block = MobileAttention(width, spec, arch.layer_scale, block_rate)
            blocks.append(block)
            width = spec.out
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = width
        self.global_pool = nn.AdaptiveAvgPool2D(1)
        self.conv_head = ConvBnAct(width, LAST_CHANNELS, 1, act=arch.act)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(LAST_CHANNELS, num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the last block's feature map ``[N, 960, H/32, W/32]``."""
        return self.blocks(self.conv_stem(x))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return logits ``[N, num_classes]``."""
        x = self.conv_head(self.global_pool(self.forward_features(x)))
        return self.classifier(self.flatten(x))


def build_mobilenet_v4(
    num_classes: int, variant: str = "conv_small", drop_path_rate: float | None = None
) -> MobileNetV4:
    """Build MobileNetV4 ``variant`` (a key of :data:`ARCHS`) with ``num_classes`` outputs."""
    if variant not in ARCHS:
        raise ValueError(f"unknown MobileNetV4 variant {variant!r}; choose one of {', '.join(ARCHS)}")
    return MobileNetV4(num_classes, variant, drop_path_rate)


__all__ = [
    "ARCHS",
    "MQA",
    "UIB",
    "Arch",
    "Conv",
    "DropPath",
    "Edge",
    "EdgeResidual",
    "MobileAttention",
    "MobileNetV4",
    "UniversalInvertedResidual",
    "build_mobilenet_v4",
    "drop_path",
]
