"""Swin Transformer (tiny, small, base, large; 224 px window 7 and 384 px window 12), PaddleClas state_dict layout.

Non-overlapping 4x4 patches are embedded (conv with bias, then LayerNorm: ``patch_embed``)
and pass through four stages (``layers.i``) of Swin blocks; each stage but the last ends
with patch merging (``downsample``: the four pixels of every 2x2 neighbourhood
concatenated, LayerNorm, a bias-free Linear halving the width). A block is pre-norm
window attention then a 4x GELU MLP, both residual through stochastic depth. Attention
runs inside non-overlapping ``window x window`` windows with a learned relative-position
bias (``relative_position_bias_table`` indexed by the int64 buffer
``relative_position_index``, which is saved in the state_dict); every second block
cyclically shifts the map by half a window first, and an attention mask (-100 between
tokens that come from different regions of the unshifted map) keeps the shifted windows
from mixing distant regions. The head is LayerNorm (``norm``), the mean over tokens and
``head`` (Linear). LayerNorm epsilon is 1e-5 throughout.

Behaviour kept from PaddleClas, since the published weights are run with it:

* the shift is applied in every odd block, also in the last stage where the map is a
  single window (224 px: 7x7 with window 7; 384 px: 12x12 with window 12);
* inputs whose patch grid (or a stage's map) is not a multiple of the window (or patch)
  size are zero-padded bottom/right, and when only one side needs it, the other side
  still gets a whole extra window (or patch) of padding (see :func:`padding_to_multiple`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import paddle
from paddle import nn
from paddle.nn import functional as F

from mlcls_cli.models.backbones.clip_vit import gelu
from mlcls_cli.models.backbones.drop_path import DropPath, drop_path_rates

PATCH_SIZE = 4
MLP_RATIO = 4
LN_EPS = 1e-5
#: Attention logit added between tokens of different regions in a shifted window.
MASK_VALUE = -100.0


class VariantSpec(NamedTuple):
    """A Swin size: embedding width (doubling per stage), blocks and heads per stage, window, drop-path rate."""

    embed_dim: int
    depths: tuple[int, int, int, int]
    num_heads: tuple[int, int, int, int]
    window_size: int
    drop_path_rate: float


#: Registry variant -> architecture (PaddleClas ``SwinTransformer_<variant>``; the rates are PaddleClas's
#: defaults, which its and PaddleX's training configs keep).
VARIANTS: dict[str, VariantSpec] = {
    "tiny_patch4_window7_224": VariantSpec(96, (2, 2, 6, 2), (3, 6, 12, 24), 7, 0.2),
    "small_patch4_window7_224": VariantSpec(96, (2, 2, 18, 2), (3, 6, 12, 24), 7, 0.3),
    "base_patch4_window7_224": VariantSpec(128, (2, 2, 18, 2), (4, 8, 16, 32), 7, 0.5),
    "base_patch4_window12_384": VariantSpec(128, (2, 2, 18, 2), (4, 8, 16, 32), 12, 0.5),
    "large_patch4_window7_224": VariantSpec(192, (2, 2, 18, 2), (6, 12, 24, 48), 7, 0.1),
    "large_patch4_window12_384": VariantSpec(192, (2, 2, 18, 2), (6, 12, 24, 48), 12, 0.1),
}


def _trunc_normal() -> paddle.ParamAttr:
    return paddle.ParamAttr(initializer=nn.initializer.TruncatedNormal(std=0.02))


def _linear(in_features: int, out_features: int, bias: bool = True) -> nn.Linear:
    bias_attr = paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)) if bias else False
    return nn.Linear(in_features, out_features, weight_attr=_trunc_normal(), bias_attr=bias_attr)


def padding_to_multiple(height: int, width: int, multiple: int) -> tuple[int, int]:
    """Bottom and right zero padding PaddleClas gives a ``height x width`` map before cutting it in ``multiple`` tiles.

    Nothing when both sides are multiples; otherwise each side gets ``multiple - side % multiple``,
    which is a whole extra ``multiple`` for a side that already was one.
    """
    if height % multiple == 0 and width % multiple == 0:
        return 0, 0
    return multiple - height % multiple, multiple - width % multiple


def _pad_bottom_right(x: paddle.Tensor, pad_h: int, pad_w: int, data_format: str) -> paddle.Tensor:
    """Zero-pad the bottom of H and the right of W of an NCHW or NHWC tensor."""
    # Always the [left, right, top, bottom(, front, back)] form, and NHWC as a 5-D NCDHW tensor: in
    # paddle.inference 3.3 on CPU the oneDNN kernels of the other forms crash or fail (full per-axis
    # pad list, NHWC data format).
    if data_format == "NCHW":
        return F.pad(x, [0, pad_w, 0, pad_h], mode="constant", value=0.0, data_format="NCHW")
    padded = F.pad(
        x.unsqueeze(1), [0, 0, 0, pad_w, 0, pad_h], mode="constant", value=0.0, data_format="NCDHW"
    )
    return padded.squeeze(1)


def relative_position_index(window_size: int) -> np.ndarray:
    """``[N, N]`` int64 (``N = window_size**2``): row of the bias table for each (query, key) pair of a window."""
    rows, cols = np.meshgrid(np.arange(window_size), np.arange(window_size), indexing="ij")
    rows, cols = rows.reshape(-1), cols.reshape(-1)
    d_row = rows[:, None] - rows[None, :] + window_size - 1
    d_col = cols[:, None] - cols[None, :] + window_size - 1
    return (d_row * (2 * window_size - 1) + d_col).astype(np.int64)


@lru_cache(maxsize=32)
def shifted_window_mask(height: int, width: int, window_size: int, shift: int) -> np.ndarray:
    """``[num_windows, N, N]`` float32 additive mask of the windows of a ``height x width`` map shifted by ``shift``.

    0 between two tokens of the same region of the unshifted map, :data:`MASK_VALUE` otherwise;
    windows in row-major order, as :func:`window_partition` cuts them.
    """
    region = np.zeros((height, width), dtype=np.int64)
    bands = (slice(0, -window_size), slice(-window_size, -shift), slice(-shift, None))
    label = 0
    for row_band in bands:
        for col_band in bands:
            region[row_band, col_band] = label
            label += 1
    windows = region.reshape(height // window_size, window_size, width // window_size, window_size)
    windows = windows.transpose(0, 2, 1, 3).reshape(-1, window_size * window_size)
    same = windows[:, None, :] == windows[:, :, None]
    mask = np.where(same, 0.0, MASK_VALUE).astype(np.float32)
    mask.setflags(write=False)  # shared by the cache
    return mask


def cyclic_shift(x: paddle.Tensor, shift: int) -> paddle.Tensor:
    """``paddle.roll(x, (shift, shift), axis=(1, 2))`` for ``[B, H, W, C]``, from split and concat.

    paddle 3.3 has no legacy static-graph binding for ``roll``; split and concat trace in both formats.
    """
    for axis in (1, 2):
        size = x.shape[axis]
        kept = size - shift % size
        if kept != size:
            head, tail = paddle.split(x, [kept, size - kept], axis=axis)
            x = paddle.concat([tail, head], axis=axis)
    return x


def window_partition(x: paddle.Tensor, window_size: int) -> paddle.Tensor:
    """``[B, H, W, C]`` -> ``[B * num_windows, window_size**2, C]``, windows in row-major order per image."""
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    x = x.reshape([-1, height // window_size, window_size, width // window_size, window_size, channels])
    return x.transpose([0, 1, 3, 2, 4, 5]).flatten(3, 4).flatten(0, 2)


def window_reverse(windows: paddle.Tensor, window_size: int, height: int, width: int) -> paddle.Tensor:
    """Inverse of :func:`window_partition`: ``[B * num_windows, window_size**2, C]`` -> ``[B, H, W, C]``."""
    channels = windows.shape[-1]
    x = windows.reshape([-1, height // window_size, width // window_size, window_size, window_size, channels])
    return x.transpose([0, 1, 3, 2, 4, 5]).reshape([-1, height, width, channels])


class WindowAttention(nn.Layer):
    """Multi-head self-attention inside each window, with a learned relative-position bias per head."""

    def __init__(self, dim: int, window_size: int, num_heads: int) -> None:
        super().__init__()
        self.window_size = window_size
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        # Parameter, buffer, then the Linear layers: PaddleClas's state_dict order.
        self.relative_position_bias_table = self.create_parameter(
            [(2 * window_size - 1) ** 2, num_heads],
            default_initializer=nn.initializer.TruncatedNormal(std=0.02),
        )
        self.register_buffer(
            "relative_position_index", paddle.to_tensor(relative_position_index(window_size))
        )
        self.qkv = _linear(dim, 3 * dim)
        self.proj = _linear(dim, dim)

    def relative_position_bias(self) -> paddle.Tensor:
        """``[heads, N, N]`` bias added to the attention logits of every window."""
        n = self.window_size * self.window_size
        bias = paddle.gather(self.relative_position_bias_table, self.relative_position_index.reshape([-1]))
        return bias.reshape([n, n, self.num_heads]).transpose([2, 0, 1])

    def forward(self, x: paddle.Tensor, mask: paddle.Tensor | None = None) -> paddle.Tensor:
        """Attend within windows ``x`` ``[B * num_windows, N, C]``; ``mask`` is ``[num_windows, N, N]`` or None."""
        n, dim = x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape([-1, n, 3, self.num_heads, self.head_dim]).transpose([2, 0, 3, 1, 4])
        q, k, v = qkv[0], qkv[1], qkv[2]
        # ``@`` rather than paddle.matmul: only the operator also traces under the legacy static graph.
        attn = (q * self.scale) @ k.transpose([0, 1, 3, 2]) + self.relative_position_bias().unsqueeze(0)
        if mask is not None:
            num_windows = mask.shape[0]
            attn = attn.reshape([-1, num_windows, self.num_heads, n, n]) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.reshape([-1, self.num_heads, n, n])
        out = (F.softmax(attn, axis=-1) @ v).transpose([0, 2, 1, 3]).reshape([-1, n, dim])
        return self.proj(out)


class Mlp(nn.Layer):
    """``fc2(gelu(fc1(x)))`` with exact GELU."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = _linear(dim, hidden)
        self.fc2 = _linear(hidden, dim)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Apply the two Linear layers with GELU between them."""
        return self.fc2(gelu(self.fc1(x)))


class SwinBlock(nn.Layer):
    """Pre-norm (shifted) window attention and MLP, each added back through stochastic depth."""

    def __init__(
        self, dim: int, num_heads: int, window_size: int, shift: int, drop_path: float = 0.0
    ) -> None:
        super().__init__()
        self.window_size = window_size
        self.shift = shift
        self.norm1 = nn.LayerNorm(dim, epsilon=LN_EPS)
        self.attn = WindowAttention(dim, window_size, num_heads)
        self.norm2 = nn.LayerNorm(dim, epsilon=LN_EPS)
        self.mlp = Mlp(dim, dim * MLP_RATIO)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: paddle.Tensor, height: int, width: int) -> paddle.Tensor:
        """Return the block output for tokens ``x`` ``[B, height * width, C]`` (same shape)."""
        window, shift = self.window_size, self.shift
        channels = x.shape[-1]
        y = self.norm1(x).reshape([-1, height, width, channels])
        pad_h, pad_w = padding_to_multiple(height, width, window)
        if pad_h or pad_w:
            y = _pad_bottom_right(y, pad_h, pad_w, "NHWC")
        padded_h, padded_w = height + pad_h, width + pad_w
        mask = None
        if shift:
            y = cyclic_shift(y, -shift)
            mask = paddle.to_tensor(shifted_window_mask(padded_h, padded_w, window, shift)).astype(y.dtype)
        y = window_reverse(self.attn(window_partition(y, window), mask), window, padded_h, padded_w)
        if shift:
            y = cyclic_shift(y, shift)
        if pad_h or pad_w:
            y = y[:, :height, :width, :]
        x = x + self.drop_path(y.reshape([-1, height * width, channels]))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Layer):
    """Halve the map: concatenate each 2x2 neighbourhood (4C), LayerNorm, bias-free Linear to 2C."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.reduction = _linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, epsilon=LN_EPS)

    def forward(self, x: paddle.Tensor, height: int, width: int) -> paddle.Tensor:
        """``[B, height * width, C]`` -> ``[B, ceil(height/2) * ceil(width/2), 2C]`` (odd sides zero-padded)."""
        channels = x.shape[-1]
        x = x.reshape([-1, height, width, channels])
        if height % 2 or width % 2:
            x = _pad_bottom_right(x, height % 2, width % 2, "NHWC")
        # Order (row, col) = (0, 0), (1, 0), (0, 1), (1, 1): the layout of the released reduction weights.
        x = paddle.concat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], axis=-1)
        x = x.reshape([-1, ((height + 1) // 2) * ((width + 1) // 2), 4 * channels])
        return self.reduction(self.norm(x))


class SwinStage(nn.Layer):
    """Swin blocks of one width (unshifted and shifted alternately), then optional patch merging."""

    def __init__(
        self, dim: int, num_heads: int, window_size: int, drop_paths: list[float], downsample: bool
    ) -> None:
        super().__init__()
        self.blocks = nn.LayerList(
            [
                SwinBlock(dim, num_heads, window_size, 0 if i % 2 == 0 else window_size // 2, rate)
                for i, rate in enumerate(drop_paths)
            ]
        )
        self.downsample = PatchMerging(dim) if downsample else None

    def forward(self, x: paddle.Tensor, height: int, width: int) -> tuple[paddle.Tensor, int, int]:
        """Return the tokens and the map size after the stage."""
        for block in self.blocks:
            x = block(x, height, width)
        if self.downsample is not None:
            x = self.downsample(x, height, width)
            height, width = (height + 1) // 2, (width + 1) // 2
        return x, height, width


class PatchEmbed(nn.Layer):
    """4x4 patches (conv with bias, ``proj``) flattened to tokens, then LayerNorm (``norm``)."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2D(3, embed_dim, PATCH_SIZE, stride=PATCH_SIZE)
        self.norm = nn.LayerNorm(embed_dim, epsilon=LN_EPS)

    def forward(self, x: paddle.Tensor) -> tuple[paddle.Tensor, int, int]:
        """Return tokens ``[B, h * w, C]`` and the patch grid ``h, w``."""
        pad_h, pad_w = padding_to_multiple(x.shape[2], x.shape[3], PATCH_SIZE)
        if pad_h or pad_w:
            x = _pad_bottom_right(x, pad_h, pad_w, "NCHW")
        x = self.proj(x)
        height, width = x.shape[2], x.shape[3]
        return self.norm(x.flatten(2).transpose([0, 2, 1])), height, width


class SwinTransformer(nn.Layer):
    """Swin Transformer ``variant`` mapping float32 NCHW images to logits ``[B, num_classes]``.

    ``drop_path_rate`` defaults to the variant's training rate.
    """

    def __init__(
        self,
        variant: str = "tiny_patch4_window7_224",
        num_classes: int = 1000,
        drop_path_rate: float | None = None,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(
                f"unknown SwinTransformer variant {variant!r}; choose one of {', '.join(VARIANTS)}"
            )
        spec = VARIANTS[variant]
        self.variant = variant
        self.window_size = spec.window_size
        rate = spec.drop_path_rate if drop_path_rate is None else drop_path_rate
        rates = drop_path_rates(rate, sum(spec.depths))
        self.patch_embed = PatchEmbed(spec.embed_dim)
        stages = []
        start = 0
        for i, (depth, heads) in enumerate(zip(spec.depths, spec.num_heads, strict=True)):
            stages.append(
                SwinStage(
                    spec.embed_dim * 2**i,
                    heads,
                    spec.window_size,
                    rates[start : start + depth],
                    downsample=i < len(spec.depths) - 1,
                )
            )
            start += depth
        self.layers = nn.LayerList(stages)
        self.num_features = spec.embed_dim * 2 ** (len(spec.depths) - 1)
        self.norm = nn.LayerNorm(self.num_features, epsilon=LN_EPS)
        self.head = _linear(self.num_features, num_classes)

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the feature ``[B, C4]`` the head sees: the mean of the normalised last-stage tokens."""
        x, height, width = self.patch_embed(x)
        for stage in self.layers:
            x, height, width = stage(x, height, width)
        return self.norm(x).mean(axis=1)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return logits ``[B, num_classes]`` for images ``[B, 3, H, W]``."""
        return self.head(self.forward_features(x))


def build_swin_transformer(
    num_classes: int, variant: str = "tiny_patch4_window7_224", drop_path_rate: float | None = None
) -> SwinTransformer:
    """Build Swin Transformer ``variant`` (e.g. ``tiny_patch4_window7_224``, ``base_patch4_window12_384``)."""
    return SwinTransformer(variant=variant, num_classes=num_classes, drop_path_rate=drop_path_rate)


__all__ = [
    "VARIANTS",
    "PatchMerging",
    "SwinBlock",
    "SwinTransformer",
    "WindowAttention",
    "build_swin_transformer",
    "cyclic_shift",
    "padding_to_multiple",
    "relative_position_index",
    "shifted_window_mask",
    "window_partition",
    "window_reverse",
]
