"""PP-HGNetV2 (B0 .. B6), PaddleClas state_dict layout, with either head.

One network for both tasks: the single-label models ``PP-HGNetV2-B*`` end as PaddleClas's
``PPHGNetV2`` does (global average pool, the 1x1 ``last_conv`` to 2048 channels, ReLU, the
learnable affine ``lab`` for B0-B3, a dropout with p=0, flatten, ``fc`` Linear); the
multi-label ``PP-HGNetV2-B*_ML`` models skip the pooling, so their ML-Decoder sees the
``last_conv`` feature map (2048 channels, stride 32) after ReLU (and ``lab``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import paddle
import paddle.nn.functional as F
from paddle import nn

from mlcls_cli.models.heads import LINEAR, ML_DECODER, check_head_kind, make_head

CLASS_EXPAND = 2048
#: Learning-rate multiplier of the learnable affine blocks (PaddleClas ``lab_lr``).
LAB_LR = 0.01


class StageSpec(NamedTuple):
    """One stage: channels, block count and block type."""

    in_channels: int
    mid_channels: int
    out_channels: int
    num_blocks: int
    downsample: bool
    light_block: bool
    kernel_size: int
    layer_num: int


class VariantSpec(NamedTuple):
    """A PP-HGNetV2 size: stem widths ``(in, mid, out)``, whether it uses ``lab``, and its four stages."""

    stem: tuple[int, int, int]
    use_lab: bool
    stages: tuple[StageSpec, StageSpec, StageSpec, StageSpec]


def _s(*values: Any) -> StageSpec:
    return StageSpec(*values)


VARIANTS: dict[str, VariantSpec] = {
    "B0": VariantSpec(
        (3, 16, 16),
        True,
        (
            _s(16, 16, 64, 1, False, False, 3, 3),
            _s(64, 32, 256, 1, True, False, 3, 3),
            _s(256, 64, 512, 2, True, True, 5, 3),
            _s(512, 128, 1024, 1, True, True, 5, 3),
        ),
    ),
    "B1": VariantSpec(
        (3, 24, 32),
        True,
        (
            _s(32, 32, 64, 1, False, False, 3, 3),
            _s(64, 48, 256, 1, True, False, 3, 3),
            _s(256, 96, 512, 2, True, True, 5, 3),
            _s(512, 192, 1024, 1, True, True, 5, 3),
        ),
    ),
    "B2": VariantSpec(
        (3, 24, 32),
        True,
        (
            _s(32, 32, 96, 1, False, False, 3, 4),
            _s(96, 64, 384, 1, True, False, 3, 4),
            _s(384, 128, 768, 3, True, True, 5, 4),
            _s(768, 256, 1536, 1, True, True, 5, 4),
        ),
    ),
    "B3": VariantSpec(
        (3, 24, 32),
        True,
        (
            _s(32, 32, 128, 1, False, False, 3, 5),
            _s(128, 64, 512, 1, True, False, 3, 5),
            _s(512, 128, 1024, 3, True, True, 5, 5),
            _s(1024, 256, 2048, 1, True, True, 5, 5),
        ),
    ),
    "B4": VariantSpec(
        (3, 32, 48),
        False,
        (
            _s(48, 48, 128, 1, False, False, 3, 6),
            _s(128, 96, 512, 1, True, False, 3, 6),
            _s(512, 192, 1024, 3, True, True, 5, 6),
            _s(1024, 384, 2048, 1, True, True, 5, 6),
        ),
    ),
    "B5": VariantSpec(
        (3, 32, 64),
        False,
        (
            _s(64, 64, 128, 1, False, False, 3, 6),
            _s(128, 128, 512, 2, True, False, 3, 6),
            _s(512, 256, 1024, 5, True, True, 5, 6),
            _s(1024, 512, 2048, 2, True, True, 5, 6),
        ),
    ),
    "B6": VariantSpec(
        (3, 48, 96),
        False,
        (
            _s(96, 96, 192, 2, False, False, 3, 6),
            _s(192, 192, 512, 3, True, False, 3, 6),
            _s(512, 384, 1024, 6, True, True, 5, 6),
            _s(1024, 768, 2048, 3, True, True, 5, 6),
        ),
    ),
}


class LearnableAffineBlock(nn.Layer):
    """``y = scale * x + bias`` with scalar learnable ``scale`` (init 1) and ``bias`` (init 0)."""

    def __init__(self, lr_mult: float = LAB_LR) -> None:
        super().__init__()
        self.scale = self.create_parameter(
            shape=[1],
            attr=paddle.ParamAttr(learning_rate=lr_mult),
            default_initializer=nn.initializer.Constant(1.0),
        )
        self.bias = self.create_parameter(
            shape=[1],
            attr=paddle.ParamAttr(learning_rate=lr_mult),
            default_initializer=nn.initializer.Constant(0.0),
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Scale and shift ``x``."""
        return self.scale * x + self.bias


class SamePad2x2(nn.Layer):
    """Zero or -inf padding of one column right and one row bottom (TensorFlow SAME for k=2, s=1)."""

    def __init__(self, value: float = 0.0) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Pad ``x`` [B, C, H, W] to [B, C, H+1, W+1]."""
        return F.pad(x, [0, 1, 0, 1], mode="constant", value=self.value, data_format="NCHW")


class ConvBNAct(nn.Layer):
    """Conv (no bias) -> BatchNorm, then ReLU (and ``lab``) when ``use_act``.

    ``same_2x2`` pads one pixel right and bottom before an unpadded conv
    (the stem's 2x2 convolutions); otherwise padding is ``(k - 1) // 2``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        use_act: bool = True,
        use_lab: bool = False,
        same_2x2: bool = False,
    ) -> None:
        super().__init__()
        self.pad = SamePad2x2() if same_2x2 else None
        self.conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=0 if same_2x2 else (kernel_size - 1) // 2,
            groups=groups,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingNormal()),
            bias_attr=False,
        )
        self.bn = nn.BatchNorm2D(
            out_channels,
            weight_attr=paddle.ParamAttr(regularizer=paddle.regularizer.L2Decay(0.0)),
            bias_attr=paddle.ParamAttr(regularizer=paddle.regularizer.L2Decay(0.0)),
        )
        self.act = nn.ReLU() if use_act else None
        # lab only exists after an activation: use_act=False never creates one.
        self.lab = LearnableAffineBlock() if use_act and use_lab else None

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Apply (pad,) conv, batch norm, and the activation (+ lab) if any."""
        if self.pad is not None:
            x = self.pad(x)
        x = self.bn(self.conv(x))
        if self.act is not None:
            x = self.act(x)
        if self.lab is not None:
            x = self.lab(x)
        return x


class LightConvBNAct(nn.Layer):
    """1x1 conv + BN without activation, then a k x k depthwise ConvBNAct with ReLU (+ lab)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, use_lab: bool = False) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(in_channels, out_channels, 1, use_act=False, use_lab=use_lab)
        self.conv2 = ConvBNAct(out_channels, out_channels, kernel_size, groups=out_channels, use_lab=use_lab)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Apply the pointwise then the depthwise convolution."""
        return self.conv2(self.conv1(x))


class StemBlock(nn.Layer):
    """Stride-4 stem: conv s2, a max-pool branch and a two-conv 2x2 branch concatenated, conv s2, 1x1 conv."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, use_lab: bool = False) -> None:
        super().__init__()
        self.stem1 = ConvBNAct(in_channels, mid_channels, 3, stride=2, use_lab=use_lab)
        self.stem2a = ConvBNAct(mid_channels, mid_channels // 2, 2, use_lab=use_lab, same_2x2=True)
        self.stem2b = ConvBNAct(mid_channels // 2, mid_channels, 2, use_lab=use_lab, same_2x2=True)
        self.stem3 = ConvBNAct(mid_channels * 2, mid_channels, 3, stride=2, use_lab=use_lab)
        self.stem4 = ConvBNAct(mid_channels, out_channels, 1, use_lab=use_lab)
        self.pool_pad = SamePad2x2(value=float("-inf"))
        self.pool = nn.MaxPool2D(kernel_size=2, stride=1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the stem features at 1/4 of the input size."""
        x = self.stem1(x)
        branch = self.stem2b(self.stem2a(x))
        pooled = self.pool(self.pool_pad(x))
        x = paddle.concat([pooled, branch], axis=1)
        return self.stem4(self.stem3(x))


class HGV2Block(nn.Layer):
    """``layer_num`` chained convs whose outputs (and the input) are concatenated, then squeezed and excited."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        kernel_size: int,
        layer_num: int,
        identity: bool,
        light_block: bool,
        use_lab: bool,
    ) -> None:
        super().__init__()
        self.identity = identity
        layers = []
        for i in range(layer_num):
            cin = in_channels if i == 0 else mid_channels
            if light_block:
                layers.append(LightConvBNAct(cin, mid_channels, kernel_size, use_lab=use_lab))
            else:
                layers.append(ConvBNAct(cin, mid_channels, kernel_size, use_lab=use_lab))
        self.layers = nn.LayerList(layers)
        total = in_channels + layer_num * mid_channels
        self.aggregation_squeeze_conv = ConvBNAct(total, out_channels // 2, 1, use_lab=use_lab)
        self.aggregation_excitation_conv = ConvBNAct(out_channels // 2, out_channels, 1, use_lab=use_lab)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Aggregate the chained features; add the input back when ``identity``."""
        outputs = [x]
        y = x
        for layer in self.layers:
            y = layer(y)
            outputs.append(y)
        y = self.aggregation_excitation_conv(self.aggregation_squeeze_conv(paddle.concat(outputs, axis=1)))
        return y + x if self.identity else y


class HGV2Stage(nn.Layer):
    """Optional depthwise stride-2 downsample (no activation), then ``num_blocks`` HGV2 blocks."""

    def __init__(self, spec: StageSpec, use_lab: bool) -> None:
        super().__init__()
        c_in = spec.in_channels
        self.downsample = (
            ConvBNAct(c_in, c_in, 3, stride=2, groups=c_in, use_act=False, use_lab=use_lab)
            if spec.downsample
            else None
        )
        self.blocks = nn.Sequential(
            *[
                HGV2Block(
                    c_in if i == 0 else spec.out_channels,
                    spec.mid_channels,
                    spec.out_channels,
                    spec.kernel_size,
                    spec.layer_num,
                    identity=i > 0,
                    light_block=spec.light_block,
                    use_lab=use_lab,
                )
                for i in range(spec.num_blocks)
            ]
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Downsample (if any) and run the blocks."""
        if self.downsample is not None:
            x = self.downsample(x)
        return self.blocks(x)


class PPHGNetV2(nn.Layer):
    """PP-HGNetV2 ``variant`` (``"B0"`` .. ``"B6"``) ending in ``head`` (see :mod:`mlcls_cli.models.heads`).

    ``"linear"`` is PaddleClas's single-label classifier, ``"ml_decoder"`` the multi-label head
    over the last feature map (``decoder_kwargs`` go to :class:`~mlcls_cli.models.ml_decoder.MLDecoder`),
    None no classifier (the model returns the ``last_conv`` features after activation).
    """

    def __init__(
        self,
        variant: str = "B0",
        class_num: int = 1000,
        head: str | None = LINEAR,
        dropout_prob: float = 0.0,
        **decoder_kwargs: Any,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown PP-HGNetV2 variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        check_head_kind(head)
        spec = VARIANTS[variant]
        self.variant = variant
        self.class_num = class_num
        self.head_kind = head
        self.use_lab = spec.use_lab
        self.stem = StemBlock(*spec.stem, use_lab=spec.use_lab)
        self.stages = nn.LayerList([HGV2Stage(stage, spec.use_lab) for stage in spec.stages])
        self.last_conv = nn.Conv2D(spec.stages[-1].out_channels, CLASS_EXPAND, kernel_size=1, bias_attr=False)
        self.act = nn.ReLU()
        self.lab = LearnableAffineBlock() if spec.use_lab else None
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
        x = self.act(self.last_conv(self.avg_pool(self.forward_features(x))))
        if self.lab is not None:
            x = self.lab(x)
        return self.fc(self.flatten(self.dropout(x)))


def build_pp_hgnetv2(num_classes: int = 1000, variant: str = "B0") -> PPHGNetV2:
    """Build the single-label ``PP-HGNetV2-<variant>`` (``"B0"`` .. ``"B6"``)."""
    return PPHGNetV2(variant=variant.upper(), class_num=num_classes, head=LINEAR)


def build_pp_hgnetv2_ml(variant: str = "B0", class_num: int = 80, **decoder_kwargs: Any) -> PPHGNetV2:
    """Build PP-HGNetV2 ``variant`` (``"B0"`` .. ``"B6"``) with an ML-Decoder head."""
    return PPHGNetV2(variant=variant.upper(), class_num=class_num, head=ML_DECODER, **decoder_kwargs)
