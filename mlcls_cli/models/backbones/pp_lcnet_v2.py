"""PP-LCNetV2 (small, base, large), PaddleClas state_dict layout, with either head.

A stem (3x3 conv, one depthwise-separable block) and four stages of depthwise-separable
blocks. In the last two stages the depthwise convolution is re-parameterisable: while
training it is a sum of batch-normed depthwise branches of decreasing kernel size
(5, 3, 1; no 1x1 branch when strided) followed by ReLU, and :meth:`PPLCNetV2.re_parameterize`
folds them into the single biased convolution ``dw_conv`` that PaddleClas also keeps in the
state_dict (unused until folded). Stage 3 splits the pointwise convolution in two and has a
squeeze-and-excitation gate (a plain sigmoid); stage 4 adds a residual where the shape allows.

The single-label head is PaddleClas's: global average pool, the 1x1 ``last_conv`` to 1280
channels, ReLU, ``Dropout(p=0.2, mode="downscale_in_infer")`` (x0.8 at inference),
flatten, ``fc`` Linear.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import paddle
import paddle.nn.functional as F
from paddle import nn

from mlcls_cli.models.backbones.pp_lcnet import make_divisible
from mlcls_cli.models.heads import LINEAR, check_head_kind, make_head
from mlcls_cli.models.layers import Sigmoid

CLASS_EXPAND = 1280
DROPOUT_PROB = 0.2


class StageSpec(NamedTuple):
    """One stage at scale 1: input width (output is twice that), depthwise kernel and block options."""

    in_channels: int
    kernel_size: int
    split_pw: bool
    use_rep: bool
    use_se: bool
    use_shortcut: bool


STAGES: tuple[StageSpec, ...] = (
    StageSpec(64, 3, split_pw=False, use_rep=False, use_se=False, use_shortcut=False),
    StageSpec(128, 3, split_pw=False, use_rep=False, use_se=False, use_shortcut=False),
    StageSpec(256, 5, split_pw=True, use_rep=True, use_se=True, use_shortcut=False),
    StageSpec(512, 5, split_pw=False, use_rep=True, use_se=False, use_shortcut=True),
)

#: variant -> (width scale, blocks per stage), as PaddleClas's ``PPLCNetV2_<variant>``.
VARIANTS: dict[str, tuple[float, tuple[int, int, int, int]]] = {
    "small": (0.75, (2, 2, 4, 2)),
    "base": (1.0, (2, 2, 6, 2)),
    "large": (1.25, (2, 2, 8, 2)),
}


class ConvBNLayer(nn.Layer):
    """Conv (no bias, ``same`` padding) -> BatchNorm, then ReLU when ``act``."""

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
        self.bn = nn.BatchNorm2D(
            out_channels,
            weight_attr=paddle.ParamAttr(regularizer=paddle.regularizer.L2Decay(0.0)),
            bias_attr=paddle.ParamAttr(regularizer=paddle.regularizer.L2Decay(0.0)),
        )
        self.act = nn.ReLU() if act else None

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Apply conv, batch norm and the activation if any."""
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x


class SEModule(nn.Layer):
    """Squeeze-and-excitation with a /4 bottleneck and a sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channels, channels // reduction, kernel_size=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2D(channels // reduction, channels, kernel_size=1)
        self.sigmoid = Sigmoid()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Rescale the channels of ``x`` by a gate computed from its global mean."""
        return x * self.sigmoid(self.conv2(self.relu(self.conv1(self.avg_pool(x)))))


class RepDepthwiseSeparable(nn.Layer):
    """Depthwise conv (re-parameterisable or plain), optional SE, pointwise conv(s), optional residual."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        kernel_size: int = 3,
        split_pw: bool = False,
        use_rep: bool = False,
        use_se: bool = False,
        use_shortcut: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.use_rep = use_rep
        self.is_repped = False
        self.use_shortcut = use_shortcut and stride == 1 and in_channels == out_channels
        if use_rep:
            branch_sizes = [k for k in range(kernel_size, 0, -2) if k > 1 or stride == 1]
            self.dw_conv_list = nn.LayerList(
                [
                    ConvBNLayer(in_channels, in_channels, k, stride=stride, groups=in_channels, act=False)
                    for k in branch_sizes
                ]
            )
            # The folded convolution (see re_parameterize); saved in the state_dict either way.
            self.dw_conv = nn.Conv2D(
                in_channels,
                in_channels,
                kernel_size,
                stride=stride,
                padding=(kernel_size - 1) // 2,
                groups=in_channels,
            )
        else:
            self.dw_conv = ConvBNLayer(
                in_channels, in_channels, kernel_size, stride=stride, groups=in_channels
            )
        self.act = nn.ReLU()
        self.se = SEModule(in_channels) if use_se else None
        self.split_pw = split_pw
        if split_pw:
            self.pw_conv_1 = ConvBNLayer(in_channels, out_channels // 2, 1)
            self.pw_conv_2 = ConvBNLayer(out_channels // 2, out_channels, 1)
        else:
            self.pw_conv = ConvBNLayer(in_channels, out_channels, 1)

    def _depthwise(self, x: paddle.Tensor) -> paddle.Tensor:
        if not self.use_rep:
            return self.dw_conv(x)  # conv, BN and ReLU
        if self.is_repped:
            return self.act(self.dw_conv(x))
        y = self.dw_conv_list[0](x)
        for branch in self.dw_conv_list[1:]:
            y = y + branch(x)
        return self.act(y)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Apply the block to ``x`` ``[B, C_in, H, W]``."""
        y = self._depthwise(x)
        if self.se is not None:
            y = self.se(y)
        y = self.pw_conv_2(self.pw_conv_1(y)) if self.split_pw else self.pw_conv(y)
        return y + x if self.use_shortcut else y

    @paddle.no_grad()
    def re_parameterize(self) -> None:
        """Fold the batch-normed depthwise branches into ``dw_conv`` (same output in eval mode)."""
        if not self.use_rep or self.is_repped:
            return
        kernel = paddle.zeros_like(self.dw_conv.weight)
        bias = paddle.zeros_like(self.dw_conv.bias)
        for branch in self.dw_conv_list:
            bn = branch.bn
            scale = bn.weight / paddle.sqrt(bn._variance + bn._epsilon)
            pad = (self.kernel_size - branch.conv.weight.shape[-1]) // 2
            weight = F.pad(branch.conv.weight, [pad, pad, pad, pad]) if pad else branch.conv.weight
            kernel = kernel + weight * scale.reshape([-1, 1, 1, 1])
            bias = bias + bn.bias - bn._mean * scale
        self.dw_conv.weight.set_value(kernel)
        self.dw_conv.bias.set_value(bias)
        self.is_repped = True


class PPLCNetV2(nn.Layer):
    """PP-LCNetV2 ``variant`` (``"small"``, ``"base"``, ``"large"``) ending in ``head``.

    ``"linear"`` (see :mod:`mlcls_cli.models.heads`) is PaddleClas's single-label classifier,
    ``"ml_decoder"`` an ML-Decoder over the last feature map (``decoder_kwargs`` go to it),
    None no classifier (the model returns the ``last_conv`` features after activation and dropout).
    """

    def __init__(
        self,
        variant: str = "base",
        class_num: int = 1000,
        head: str | None = LINEAR,
        dropout_prob: float = DROPOUT_PROB,
        **decoder_kwargs: Any,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown PP-LCNetV2 variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        check_head_kind(head)
        scale, depths = VARIANTS[variant]
        self.variant = variant
        self.class_num = class_num
        self.head_kind = head
        stem_channels = make_divisible(32 * scale)
        self.stem = nn.Sequential(
            ConvBNLayer(3, stem_channels, 3, stride=2),
            RepDepthwiseSeparable(stem_channels, make_divisible(64 * scale), stride=1, kernel_size=3),
        )
        stages = []
        for spec, depth in zip(STAGES, depths, strict=True):
            in_channels = make_divisible(spec.in_channels * scale)
            out_channels = make_divisible(spec.in_channels * 2 * scale)
            blocks = [
                RepDepthwiseSeparable(
                    in_channels if i == 0 else out_channels,
                    out_channels,
                    stride=2 if i == 0 else 1,
                    kernel_size=spec.kernel_size,
                    split_pw=spec.split_pw,
                    use_rep=spec.use_rep,
                    use_se=spec.use_se,
                    use_shortcut=spec.use_shortcut,
                )
                for i in range(depth)
            ]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.LayerList(stages)
        self.last_conv = nn.Conv2D(out_channels, CLASS_EXPAND, kernel_size=1, bias_attr=False)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(p=dropout_prob, mode="downscale_in_infer")
        self.avg_pool, self.flatten, self.fc = make_head(head, CLASS_EXPAND, class_num, **decoder_kwargs)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the stage-4 feature map ``[B, C4, H/32, W/32]`` for images ``[B, 3, H, W]``."""
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return logits ``[B, class_num]`` for float32 NCHW images."""
        x = self.avg_pool(self.forward_features(x))
        x = self.dropout(self.act(self.last_conv(x)))
        return self.fc(self.flatten(x))

    def re_parameterize(self) -> None:
        """Fold every re-parameterisable block for inference (eval-mode output unchanged)."""
        for layer in self.sublayers():
            if isinstance(layer, RepDepthwiseSeparable):
                layer.re_parameterize()


def build_pp_lcnet_v2(num_classes: int = 1000, variant: str = "base") -> PPLCNetV2:
    """Build the single-label ``PP-LCNetV2_<variant>`` (``"small"``, ``"base"`` or ``"large"``)."""
    return PPLCNetV2(variant, class_num=num_classes, head=LINEAR)
