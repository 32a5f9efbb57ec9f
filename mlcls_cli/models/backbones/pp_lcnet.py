"""PP-LCNet (all scales x0.25 .. x2.5), PaddleClas state_dict layout, with either head.

One network for both tasks: the single-label models ``PP-LCNet_x*`` end as PaddleClas's
``PPLCNet`` does (global average pool, the 1x1 ``last_conv`` to 1280 channels, Hardswish,
a ``downscale_in_infer`` dropout that scales by 0.8 at inference, flatten, ``fc`` Linear);
the multi-label ``PP-LCNet_x1_0_ML`` keeps ``last_conv``, Hardswish and dropout but skips the
pooling, so its ML-Decoder sees the full 1280-channel map at stride 32.
"""

from __future__ import annotations

from typing import Any

import paddle
from paddle import nn

from mlcls_cli.models.heads import LINEAR, ML_DECODER, check_head_kind, make_head

#: Scales with PaddleClas/PaddleX names ``PPLCNet_x<key>``.
SCALES: dict[str, float] = {
    "x0_25": 0.25,
    "x0_35": 0.35,
    "x0_5": 0.5,
    "x0_75": 0.75,
    "x1_0": 1.0,
    "x1_5": 1.5,
    "x2_0": 2.0,
    "x2_5": 2.5,
}

# Per stage, one row per block: kernel, in, out, stride, use_se (unscaled widths).
_BLOCKS: dict[str, list[tuple[int, int, int, int, bool]]] = {
    "blocks2": [(3, 16, 32, 1, False)],
    "blocks3": [(3, 32, 64, 2, False), (3, 64, 64, 1, False)],
    "blocks4": [(3, 64, 128, 2, False), (3, 128, 128, 1, False)],
    "blocks5": [(3, 128, 256, 2, False)] + [(5, 256, 256, 1, False)] * 5,
    "blocks6": [(5, 256, 512, 2, True), (5, 512, 512, 1, True)],
}

CLASS_EXPAND = 1280
DROPOUT_PROB = 0.2


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` (at least ``divisor``, never below 90 %)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ConvBNLayer(nn.Layer):
    """Conv (no bias) -> BatchNorm -> Hardswish; ``same`` padding for odd kernels."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1
    ):
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
        self.hardswish = nn.Hardswish()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Apply conv, batch norm and Hardswish."""
        return self.hardswish(self.bn(self.conv(x)))


class SEModule(nn.Layer):
    """Squeeze-and-excitation with a /4 bottleneck and a Hardsigmoid gate."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2D(1)
        self.conv1 = nn.Conv2D(channels, channels // reduction, kernel_size=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2D(channels // reduction, channels, kernel_size=1)
        self.hardsigmoid = nn.Hardsigmoid()

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Rescale the channels of ``x`` by a gate computed from its global mean."""
        gate = self.hardsigmoid(self.conv2(self.relu(self.conv1(self.avg_pool(x)))))
        return x * gate


class DepthwiseSeparable(nn.Layer):
    """Depthwise k x k conv (optional SE) then pointwise 1x1 conv; no residual."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int, use_se: bool
    ) -> None:
        super().__init__()
        self.dw_conv = ConvBNLayer(in_channels, in_channels, kernel_size, stride=stride, groups=in_channels)
        self.se = SEModule(in_channels) if use_se else None
        self.pw_conv = ConvBNLayer(in_channels, out_channels, 1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Apply the depthwise conv, the SE gate if any, and the pointwise conv."""
        x = self.dw_conv(x)
        if self.se is not None:
            x = self.se(x)
        return self.pw_conv(x)


class PPLCNet(nn.Layer):
    """PP-LCNet at ``scale`` ending in ``head`` (see :mod:`mlcls_cli.models.heads`).

    ``"linear"`` is PaddleClas's single-label classifier, ``"ml_decoder"`` the multi-label head
    over the last feature map (``decoder_kwargs`` go to :class:`~mlcls_cli.models.ml_decoder.MLDecoder`),
    None no classifier (the model returns the ``last_conv`` features after activation and dropout).
    """

    def __init__(
        self,
        scale: float = 1.0,
        class_num: int = 1000,
        head: str | None = LINEAR,
        dropout_prob: float = DROPOUT_PROB,
        **decoder_kwargs: Any,
    ) -> None:
        super().__init__()
        check_head_kind(head)
        self.scale = scale
        self.class_num = class_num
        self.head_kind = head
        self.conv1 = ConvBNLayer(3, make_divisible(16 * scale), 3, stride=2)
        for stage, rows in _BLOCKS.items():
            blocks = [
                DepthwiseSeparable(make_divisible(cin * scale), make_divisible(cout * scale), k, s, se)
                for k, cin, cout, s, se in rows
            ]
            setattr(self, stage, nn.Sequential(*blocks))
        last_channels = make_divisible(_BLOCKS["blocks6"][-1][2] * scale)
        self.last_conv = nn.Conv2D(last_channels, CLASS_EXPAND, kernel_size=1, bias_attr=False)
        self.act = nn.Hardswish()
        self.dropout = nn.Dropout(p=dropout_prob, mode="downscale_in_infer")
        self.avg_pool, self.flatten, self.fc = make_head(head, CLASS_EXPAND, class_num, **decoder_kwargs)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the ``blocks6`` feature map ``[B, C6, H/32, W/32]`` for images ``[B, 3, H, W]``."""
        x = self.conv1(x)
        for stage in _BLOCKS:
            x = getattr(self, stage)(x)
        return x

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return logits ``[B, class_num]`` for float32 NCHW images."""
        x = self.avg_pool(self.forward_features(x))
        x = self.dropout(self.act(self.last_conv(x)))
        return self.fc(self.flatten(x))


def _scale(scale: str | float) -> float:
    if isinstance(scale, str):
        if scale not in SCALES:
            raise ValueError(f"unknown PP-LCNet scale {scale!r}; choose one of {', '.join(SCALES)}")
        return SCALES[scale]
    return float(scale)


def build_pp_lcnet(num_classes: int = 1000, variant: str = "x1_0") -> PPLCNet:
    """Build the single-label ``PP-LCNet_<variant>`` (``variant`` a key of :data:`SCALES`)."""
    return PPLCNet(scale=_scale(variant), class_num=num_classes, head=LINEAR)


def build_pp_lcnet_ml(scale: str | float = "x1_0", class_num: int = 80, **decoder_kwargs: Any) -> PPLCNet:
    """Build PP-LCNet with an ML-Decoder head at ``scale`` (a key of :data:`SCALES` or a float)."""
    return PPLCNet(scale=_scale(scale), class_num=class_num, head=ML_DECODER, **decoder_kwargs)
