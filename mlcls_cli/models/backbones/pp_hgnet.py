"""PP-HGNet (tiny, small, base), PaddleClas state_dict layout, with either head.

PP-HGNetV2's predecessor: a three-conv stem and a 3x3 max-pool, then four stages of HG
blocks. A block chains ``layer_num`` 3x3 convolutions, concatenates their outputs with its
input, aggregates them with one 1x1 convolution and gates the channels with ESE (a 1x1
convolution of the global mean and a sigmoid); every block but a stage's first adds its
input back. Stages 2-4 start with a depthwise stride-2 convolution without activation.

The single-label head is PaddleClas's: global average pool, the 1x1 ``last_conv`` to 2048
channels, ReLU, a ``downscale_in_infer`` dropout (p=0.2 for base, so x0.8 at inference;
p=0 for tiny and small), flatten, ``fc`` Linear.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import paddle
from paddle import nn

from mlcls_cli.models.backbones.pp_hgnet_v2 import ConvBNAct
from mlcls_cli.models.heads import LINEAR, check_head_kind, make_head
from mlcls_cli.models.layers import Sigmoid

CLASS_EXPAND = 2048


class StageSpec(NamedTuple):
    """One stage: channels, number of blocks and whether it starts by downsampling."""

    in_channels: int
    mid_channels: int
    out_channels: int
    num_blocks: int
    downsample: bool


class VariantSpec(NamedTuple):
    """A PP-HGNet size: stem widths, convolutions per block, the four stages and the head's dropout."""

    stem: tuple[int, int, int]
    layer_num: int
    stages: tuple[StageSpec, StageSpec, StageSpec, StageSpec]
    dropout_prob: float


VARIANTS: dict[str, VariantSpec] = {
    "tiny": VariantSpec(
        (48, 48, 96),
        5,
        (
            StageSpec(96, 96, 224, 1, False),
            StageSpec(224, 128, 448, 1, True),
            StageSpec(448, 160, 512, 2, True),
            StageSpec(512, 192, 768, 1, True),
        ),
        0.0,
    ),
    "small": VariantSpec(
        (64, 64, 128),
        6,
        (
            StageSpec(128, 128, 256, 1, False),
            StageSpec(256, 160, 512, 1, True),
            StageSpec(512, 192, 768, 2, True),
            StageSpec(768, 224, 1024, 1, True),
        ),
        0.0,
    ),
    "base": VariantSpec(
        (96, 96, 160),
        7,
        (
            StageSpec(160, 192, 320, 1, False),
            StageSpec(320, 224, 640, 2, True),
            StageSpec(640, 256, 960, 3, True),
            StageSpec(960, 288, 1280, 2, True),
        ),
        0.2,
    ),
}


def _kaiming_conv(in_channels: int, out_channels: int, bias: bool) -> nn.Conv2D:
    return nn.Conv2D(
        in_channels,
        out_channels,
        kernel_size=1,
        weight_attr=paddle.ParamAttr(initializer=nn.initializer.KaimingNormal()),
        bias_attr=None if bias else False,
    )


class ESEModule(nn.Layer):
    """Effective squeeze-and-excitation: a sigmoid gate from a 1x1 convolution of the global mean."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv = _kaiming_conv(channels, channels, bias=True)
        self.sigmoid = Sigmoid()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Rescale the channels of ``x``."""
        return x * self.sigmoid(self.conv(self.avg_pool(x)))


class HGBlock(nn.Layer):
    """``layer_num`` chained 3x3 convs, concatenated with the input, aggregated (1x1), gated (ESE)."""

    def __init__(
        self, in_channels: int, mid_channels: int, out_channels: int, layer_num: int, identity: bool
    ) -> None:
        super().__init__()
        self.identity = identity
        self.layers = nn.LayerList(
            [ConvBNAct(in_channels if i == 0 else mid_channels, mid_channels, 3) for i in range(layer_num)]
        )
        self.aggregation_conv = ConvBNAct(in_channels + layer_num * mid_channels, out_channels, 1)
        self.att = ESEModule(out_channels)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Aggregate the chained features; add the input back when ``identity``."""
        outputs = [x]
        y = x
        for layer in self.layers:
            y = layer(y)
            outputs.append(y)
        y = self.att(self.aggregation_conv(paddle.concat(outputs, axis=1)))
        return y + x if self.identity else y


class HGStage(nn.Layer):
    """Optional depthwise stride-2 downsample (no activation), then the HG blocks."""

    def __init__(self, spec: StageSpec, layer_num: int) -> None:
        super().__init__()
        c_in = spec.in_channels
        self.downsample = (
            ConvBNAct(c_in, c_in, 3, stride=2, groups=c_in, use_act=False) if spec.downsample else None
        )
        self.blocks = nn.Sequential(
            *[
                HGBlock(
                    c_in if i == 0 else spec.out_channels,
                    spec.mid_channels,
                    spec.out_channels,
                    layer_num,
                    identity=i > 0,
                )
                for i in range(spec.num_blocks)
            ]
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Downsample (if any) and run the blocks."""
        if self.downsample is not None:
            x = self.downsample(x)
        return self.blocks(x)


class PPHGNet(nn.Layer):
    """PP-HGNet ``variant`` (``"tiny"``, ``"small"``, ``"base"``) ending in ``head``.

    ``"linear"`` (see :mod:`mlcls_cli.models.heads`) is PaddleClas's single-label classifier,
    ``"ml_decoder"`` an ML-Decoder over the last feature map (``decoder_kwargs`` go to it),
    None no classifier (the model returns the ``last_conv`` features after activation and
    dropout). ``dropout_prob`` defaults to the variant's.
    """

    def __init__(
        self,
        variant: str = "tiny",
        class_num: int = 1000,
        head: str | None = LINEAR,
        dropout_prob: float | None = None,
        **decoder_kwargs: Any,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown PP-HGNet variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        check_head_kind(head)
        spec = VARIANTS[variant]
        self.variant = variant
        self.class_num = class_num
        self.head_kind = head
        widths = (3, *spec.stem)
        self.stem = nn.Sequential(
            *[
                ConvBNAct(widths[i], widths[i + 1], 3, stride=2 if i == 0 else 1)
                for i in range(len(spec.stem))
            ]
        )
        self.pool = nn.MaxPool2D(kernel_size=3, stride=2, padding=1)
        self.stages = nn.LayerList([HGStage(stage, spec.layer_num) for stage in spec.stages])
        self.last_conv = _kaiming_conv(spec.stages[-1].out_channels, CLASS_EXPAND, bias=False)
        self.act = nn.ReLU()
        p = spec.dropout_prob if dropout_prob is None else dropout_prob
        self.dropout = nn.Dropout(p=p, mode="downscale_in_infer")
        self.avg_pool, self.flatten, self.fc = make_head(head, CLASS_EXPAND, class_num, **decoder_kwargs)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the stage-4 feature map ``[B, C4, H/32, W/32]`` for images ``[B, 3, H, W]``."""
        x = self.pool(self.stem(x))
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return logits ``[B, class_num]`` for float32 NCHW images."""
        x = self.avg_pool(self.forward_features(x))
        x = self.dropout(self.act(self.last_conv(x)))
        return self.fc(self.flatten(x))


def build_pp_hgnet(num_classes: int = 1000, variant: str = "tiny") -> PPHGNet:
    """Build the single-label ``PP-HGNet_<variant>`` (``"tiny"``, ``"small"`` or ``"base"``)."""
    return PPHGNet(variant, class_num=num_classes, head=LINEAR)
