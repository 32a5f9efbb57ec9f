"""ResNet 18 .. 200 in PaddleClas's "vb" and "vd" versions, PaddleClas state_dict layout, with either head.

Layer and parameter names follow the official PaddleClas checkpoints (``stem.N``,
``blocks.0..``, ``conv0/conv1[/conv2]/short``, ``fc``) so that an official ``.pdparams``
loads with ``set_state_dict`` unchanged.

* "vb" (ResNet18 .. ResNet152, and ``ResNet50_ML``): a 7x7 stride-2 stem; a bottleneck
  strides its 3x3 convolution; a projection shortcut is a strided 1x1 convolution.
* "vd" (``ResNet*_vd``): a stem of three 3x3 convolutions (32, 32, 64 channels, the first
  strided); a downsampling projection shortcut average-pools (2x2, stride 2) before an
  unstrided 1x1 convolution.

ResNet18/34 use the two-convolution basic block, the others the bottleneck. Every stage's
first block has a projection shortcut, even the first stage's where the shape does not change.
The single-label models end in global average pooling and a ``Linear``; ``ResNet50_ML`` feeds
the stride-32 feature map to an ML-Decoder.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import paddle
from paddle import nn

from mlcls_cli.models.heads import LINEAR, ML_DECODER, check_head_kind, make_head


class DepthSpec(NamedTuple):
    """Block type and the number of blocks in each of the four stages."""

    bottleneck: bool
    blocks: tuple[int, int, int, int]


DEPTHS: dict[int, DepthSpec] = {
    18: DepthSpec(False, (2, 2, 2, 2)),
    34: DepthSpec(False, (3, 4, 6, 3)),
    50: DepthSpec(True, (3, 4, 6, 3)),
    101: DepthSpec(True, (3, 4, 23, 3)),
    152: DepthSpec(True, (3, 8, 36, 3)),
    200: DepthSpec(True, (3, 12, 48, 3)),
}

#: The PaddleClas/PaddleX models: variant -> (depth, vd).
VARIANTS: dict[str, tuple[int, bool]] = {
    **{str(d): (d, False) for d in (18, 34, 50, 101, 152)},
    **{f"{d}_vd": (d, True) for d in (18, 34, 50, 101, 152, 200)},
}

#: Inner width of each stage's blocks (the bottleneck's output is 4x wider).
STAGE_WIDTHS = (64, 128, 256, 512)
EXPANSION = 4


class ConvBNLayer(nn.Layer):
    """Convolution without bias, batch norm, optional ReLU (keys ``conv.weight``, ``bn.*``).

    With ``avg_down`` (the "vd" shortcut) a 2x2 average pool with ``stride`` (Paddle
    ``SAME`` padding, padded cells not counted) replaces the convolution's stride.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        act: bool = True,
        avg_down: bool = False,
    ) -> None:
        super().__init__()
        self.pool = (
            nn.AvgPool2D(kernel_size=2, stride=stride, padding="SAME", ceil_mode=True) if avg_down else None
        )
        self.conv = nn.Conv2D(
            in_channels,
            out_channels,
            kernel_size,
            stride=1 if avg_down else stride,
            padding=(kernel_size - 1) // 2,
            bias_attr=False,
        )
        self.bn = nn.BatchNorm2D(out_channels)
        self.act = nn.ReLU() if act else None

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``act(bn(conv(pool(x))))``."""
        if self.pool is not None:
            x = self.pool(x)
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x


def _shortcut(
    in_channels: int, out_channels: int, stride: int, project: bool, avg_down: bool
) -> nn.Layer | None:
    if not project:
        return None
    return ConvBNLayer(in_channels, out_channels, 1, stride=stride, act=False, avg_down=avg_down)


class BasicBlock(nn.Layer):
    """Two 3x3 convolutions (the first strided) plus an identity or projection shortcut."""

    def __init__(
        self, in_channels: int, width: int, stride: int, project: bool, avg_down: bool = False
    ) -> None:
        super().__init__()
        self.conv0 = ConvBNLayer(in_channels, width, 3, stride=stride)
        self.conv1 = ConvBNLayer(width, width, 3, act=False)
        self.short = _shortcut(in_channels, width, stride, project, avg_down)
        self.relu = nn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``relu(main(x) + shortcut(x))``."""
        y = self.conv1(self.conv0(x))
        shortcut = self.short(x) if self.short is not None else x
        return self.relu(y + shortcut)


class BottleneckBlock(nn.Layer):
    """1x1 reduce, 3x3 (strided), 1x1 expand, plus an identity or projection shortcut."""

    def __init__(
        self, in_channels: int, width: int, stride: int, project: bool, avg_down: bool = False
    ) -> None:
        super().__init__()
        out_channels = width * EXPANSION
        self.conv0 = ConvBNLayer(in_channels, width, 1)
        self.conv1 = ConvBNLayer(width, width, 3, stride=stride)
        self.conv2 = ConvBNLayer(width, out_channels, 1, act=False)
        self.short = _shortcut(in_channels, out_channels, stride, project, avg_down)
        self.relu = nn.ReLU()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``relu(main(x) + shortcut(x))``."""
        y = self.conv2(self.conv1(self.conv0(x)))
        shortcut = self.short(x) if self.short is not None else x
        return self.relu(y + shortcut)


class ResNet(nn.Layer):
    """ResNet ``variant`` (a key of :data:`VARIANTS`) ending in ``head`` (see :mod:`mlcls_cli.models.heads`).

    ``"linear"`` is PaddleClas's single-label classifier, ``"ml_decoder"`` the multi-label
    head over the stride-32 feature map (``decoder_kwargs`` go to
    :class:`~mlcls_cli.models.ml_decoder.MLDecoder`), None no classifier (the model returns
    that feature map).
    """

    def __init__(
        self, variant: str = "50", class_num: int = 1000, head: str | None = LINEAR, **decoder_kwargs: Any
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown ResNet variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        check_head_kind(head)
        depth, vd = VARIANTS[variant]
        spec = DEPTHS[depth]
        self.variant = variant
        self.class_num = class_num
        self.head_kind = head
        self.feature_channels = STAGE_WIDTHS[-1] * (EXPANSION if spec.bottleneck else 1)
        bound = 1.0 / math.sqrt(self.feature_channels)
        fc_init = (
            paddle.ParamAttr(initializer=nn.initializer.Uniform(-bound, bound)) if head == LINEAR else None
        )
        # The head is created first (registered last): a seeded ResNet50_ML draws its initial
        # weights in the same order as before the backbone was shared.
        avg_pool, flatten, fc = make_head(
            head, self.feature_channels, class_num, fc_weight_attr=fc_init, **decoder_kwargs
        )
        stem = [(3, 32, 3, 2), (32, 32, 3, 1), (32, 64, 3, 1)] if vd else [(3, 64, 7, 2)]
        self.stem = nn.Sequential(*[ConvBNLayer(cin, cout, k, stride=s) for cin, cout, k, s in stem])
        self.max_pool = nn.MaxPool2D(kernel_size=3, stride=2, padding=1)
        block_type = BottleneckBlock if spec.bottleneck else BasicBlock
        expansion = EXPANSION if spec.bottleneck else 1
        blocks: list[nn.Layer] = []
        in_channels = 64
        for stage, (width, count) in enumerate(zip(STAGE_WIDTHS, spec.blocks, strict=True)):
            for i in range(count):
                first = i == 0
                stride = 2 if first and stage > 0 else 1
                # vd pools in every projection shortcut but the very first block's (stride 1 there).
                avg_down = vd and first and stage > 0
                blocks.append(block_type(in_channels, width, stride, project=first, avg_down=avg_down))
                in_channels = width * expansion
        self.blocks = nn.Sequential(*blocks)
        self.avg_pool, self.flatten, self.fc = avg_pool, flatten, fc

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the head's output (logits ``[B, class_num]``) for images ``[B, 3, H, W]``."""
        x = self.blocks(self.max_pool(self.stem(x)))
        return self.fc(self.flatten(self.avg_pool(x)))


class ResNet50(ResNet):
    """ResNet50-vb without a classifier: returns the feature map ``[B, 2048, H/32, W/32]``."""

    def __init__(self) -> None:
        super().__init__("50", head=None)


def build_resnet(num_classes: int = 1000, variant: str = "50") -> ResNet:
    """Build the single-label ``ResNet<variant>`` (``"18"`` .. ``"152"``, ``"18_vd"`` .. ``"200_vd"``)."""
    return ResNet(variant, class_num=num_classes, head=LINEAR)


def build_resnet50_ml(num_classes: int = 80) -> ResNet:
    """Build ``ResNet50_ML``: ResNet50-vb with an ML-Decoder head (one query per class)."""
    return ResNet("50", class_num=num_classes, head=ML_DECODER, query_num=num_classes)
