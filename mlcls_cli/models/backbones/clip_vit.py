"""CLIP vision transformers (ViT-B/16, ViT-L/14), PaddleClas state_dict layout, with either head.

The zoo models: the single-label ``CLIP_vit_base_patch16_224`` and
``CLIP_vit_large_patch14_224`` (ImageNet fine-tuned, a ``Linear`` head ``head.fc_head``)
and the multi-label ``CLIP_vit_base_patch16_448_ML`` (ViT-B/16 run at 448 px with an
ML-Decoder head). Parameter names follow the official PaddleClas checkpoints
(``pos_embed``, ``cls_token``, ``proj``, ``patch_embed.proj``, ``ln_pre``, ``blocks.N``,
``norm``, ``head``). Behaviour that matters for matching the official weights:

* the position-embedding grid (trained at 224 px) is resized bicubically to the input's
  patch grid on every forward;
* a LayerNorm (``ln_pre``) precedes the encoder; the MLP uses exact (erf) GELU;
* the head receives one final-normed token: for ViT-B/16 the *first patch token*, not the
  class token (PaddleClas drops the class token, then takes token 0 of the rest), for
  ViT-L/14 the class token;
* ``proj`` (the CLIP image projection) is unused but kept so the official
  state dict loads without leftovers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import paddle
from paddle import nn
from paddle.framework import in_dynamic_or_pir_mode
from paddle.nn import functional as F

from mlcls_cli.models.heads import LINEAR, ML_DECODER, check_head_kind


class ViTSpec(NamedTuple):
    """One CLIP image tower: patch size, width, depth, heads, the checkpoint's position grid and the head's token."""

    patch_size: int
    embed_dim: int
    depth: int
    num_heads: int
    pos_grid: int  # side of the position-embedding grid in the checkpoint (224 / patch size)
    head_token: int  # index of the encoder output token the head reads: 0 the class token, 1 the first patch


VARIANTS: dict[str, ViTSpec] = {
    "base_patch16_224": ViTSpec(16, 768, 12, 12, 14, head_token=1),
    "large_patch14_224": ViTSpec(14, 1024, 24, 16, 16, head_token=0),
}

MLP_RATIO = 4
PROJ_DIM = 512
LN_EPS = 1e-5
SQRT_HALF = 0.7071067811865476
#: PaddleClas scales the single-label head's initial weights by this (``head_init_scale``).
HEAD_INIT_SCALE = 0.001


def _trunc_normal(std: float = 0.02) -> paddle.ParamAttr:
    return paddle.ParamAttr(initializer=nn.initializer.TruncatedNormal(std=std))


def _linear(in_features: int, out_features: int) -> nn.Linear:
    return nn.Linear(
        in_features,
        out_features,
        weight_attr=_trunc_normal(),
        bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)),
    )


def gelu(x: paddle.Tensor) -> paddle.Tensor:
    """Exact (erf) GELU that also traces under the legacy static graph."""
    if in_dynamic_or_pir_mode():
        return F.gelu(x, approximate=False)
    # paddle 3.3 has no legacy-graph gelu kernel binding; erf has one.
    return 0.5 * x * (1.0 + paddle.erf(x * SQRT_HALF))


class PatchEmbed(nn.Layer):
    """Non-overlapping ``patch_size`` patches projected to ``embed_dim`` channels (conv without bias)."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2D(3, embed_dim, patch_size, stride=patch_size, bias_attr=False)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the patch map ``[B, D, ceil(H/p), ceil(W/p)]``; zero-pads right/bottom as needed."""
        h, w = x.shape[2], x.shape[3]
        pad_h = (-h) % self.patch_size
        pad_w = (-w) % self.patch_size
        if pad_h or pad_w:
            x = F.pad(x, [0, pad_w, 0, pad_h], mode="constant", value=0.0, data_format="NCHW")
        return self.proj(x)


class Attention(nn.Layer):
    """Multi-head self-attention with a fused qkv projection (split as [3][heads][head_dim])."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = _linear(dim, dim * 3)
        self.proj = _linear(dim, dim)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the attended tokens, same shape as ``x`` ``[B, N, dim]``."""
        n, dim = x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape([-1, n, 3, self.num_heads, self.head_dim]).transpose([2, 0, 3, 1, 4])
        q, k, v = qkv[0], qkv[1], qkv[2]
        # The ``@`` operator, not paddle.matmul: in paddle 3.3 only ``@`` also traces under the
        # legacy (pre-PIR) static graph that the .pdmodel export uses.
        attn = F.softmax((q * self.scale) @ k.transpose([0, 1, 3, 2]), axis=-1)
        out = (attn @ v).transpose([0, 2, 1, 3]).reshape([-1, n, dim])
        return self.proj(out)


class Mlp(nn.Layer):
    """Two linear layers with exact GELU between them."""

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = dim * MLP_RATIO if hidden is None else hidden
        self.fc1 = _linear(dim, hidden)
        self.fc2 = _linear(hidden, dim)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``fc2(gelu(fc1(x)))``."""
        return self.fc2(gelu(self.fc1(x)))


class Block(nn.Layer):
    """Pre-norm transformer encoder block."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, epsilon=LN_EPS)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, epsilon=LN_EPS)
        self.mlp = Mlp(dim)

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return ``x`` after the attention and MLP residual branches."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def resize_pos_embed(pos_embed: paddle.Tensor, grid_h: int, grid_w: int) -> paddle.Tensor:
    """Return ``pos_embed`` ``[1, 1 + g*g, D]`` with its g x g grid bicubically resized to ``grid_h x grid_w``.

    The class-token entry is kept as is; the resize runs in float32 with
    ``align_corners=False``.
    """
    dim = pos_embed.shape[-1]
    side = round((pos_embed.shape[1] - 1) ** 0.5)
    cls_pos = pos_embed[:, :1]
    grid = pos_embed[:, 1:].astype("float32").reshape([1, side, side, dim]).transpose([0, 3, 1, 2])
    grid = F.interpolate(grid, size=[grid_h, grid_w], mode="bicubic", align_corners=False)
    # flatten-then-transpose (not transpose-then-reshape): oneDNN's operator+reshape fusion in
    # paddle.inference 3.3 mis-types the latter when it feeds a concat.
    grid = grid.flatten(2).transpose([0, 2, 1]).astype(pos_embed.dtype)
    return paddle.concat([cls_pos, grid], axis=1)


class LinearHead(nn.Layer):
    """PaddleClas's single-label ViT head: one ``Linear`` named ``fc_head`` on the normed token."""

    def __init__(self, embed_dim: int, class_num: int, init_scale: float = HEAD_INIT_SCALE) -> None:
        super().__init__()
        self.fc_head = nn.Linear(
            embed_dim,
            class_num,
            weight_attr=_trunc_normal(0.02 * init_scale),
            bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)),
        )

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the logits ``[B, class_num]`` for the token ``[B, embed_dim]``."""
        return self.fc_head(x)


def make_token_head(
    kind: str | None, embed_dim: int, class_num: int, **decoder_kwargs: Any
) -> nn.Layer | None:
    """The head of ``kind`` for one ``[B, embed_dim]`` token (see :mod:`mlcls_cli.models.heads`); None for None."""
    check_head_kind(kind)
    if decoder_kwargs and kind != ML_DECODER:
        raise TypeError(
            f"options {sorted(decoder_kwargs)} apply to the ML-Decoder head only, not to {kind!r}"
        )
    if kind == LINEAR:
        return LinearHead(embed_dim, class_num)
    if kind == ML_DECODER:
        from mlcls_cli.models.ml_decoder import MLDecoder

        return MLDecoder(class_num=class_num, in_channels=embed_dim, **decoder_kwargs)
    return None


class CLIPVisionTransformer(nn.Layer):
    """The CLIP image tower ``variant`` (a key of :data:`VARIANTS`) feeding ``head`` with one normed token.

    Both tasks hand the head the same ``[B, embed_dim]`` vector (no pooling choice to make),
    so the head is a layer given here: :class:`LinearHead` for the single-label models, an
    ML-Decoder for the multi-label one (see :func:`make_token_head`). With ``head=None`` the
    model returns that vector. ``depth`` overrides the number of blocks (for tests).
    """

    def __init__(
        self, variant: str = "base_patch16_224", head: nn.Layer | None = None, depth: int | None = None
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown CLIP ViT variant {variant!r}; choose one of {', '.join(VARIANTS)}")
        spec = VARIANTS[variant]
        self.variant = variant
        self.head_token = spec.head_token
        dim = spec.embed_dim
        # Parameter creation order is the checkpoint's key order.
        self.pos_embed = self.create_parameter(
            [1, spec.pos_grid * spec.pos_grid + 1, dim],
            default_initializer=nn.initializer.TruncatedNormal(std=0.02),
        )
        self.cls_token = self.create_parameter(
            [1, 1, dim], default_initializer=nn.initializer.TruncatedNormal(std=0.02)
        )
        # CLIP's image-text projection: unused here, kept because the official weights hold it.
        self.proj = self.create_parameter(
            [dim, PROJ_DIM], default_initializer=nn.initializer.Normal(std=dim**-0.5)
        )
        self.patch_embed = PatchEmbed(spec.patch_size, dim)
        self.ln_pre = nn.LayerNorm(dim, epsilon=LN_EPS)
        self.blocks = nn.LayerList(
            [Block(dim, spec.num_heads) for _ in range(spec.depth if depth is None else depth)]
        )
        self.norm = nn.LayerNorm(dim, epsilon=LN_EPS)
        self.head = head if head is not None else nn.Identity()

    def forward_tokens(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return all encoder output tokens ``[B, 1 + h*w, D]`` (class token first), before ``norm``."""
        patches = self.patch_embed(x)
        grid_h, grid_w = patches.shape[2], patches.shape[3]
        tokens = patches.flatten(2).transpose([0, 2, 1])
        # Broadcast against a [B, 1, D] slice: keeps the batch dimension dynamic when exported
        # and traces in both graph formats (expand_as has no legacy binding, zeros_like warns in PIR).
        cls = tokens[:, :1] * 0.0 + self.cls_token.astype(tokens.dtype)
        tokens = paddle.concat([cls, tokens], axis=1)
        tokens = tokens + resize_pos_embed(self.pos_embed, grid_h, grid_w).astype(tokens.dtype)
        tokens = self.ln_pre(tokens)
        for block in self.blocks:
            tokens = block(tokens)
        return tokens

    def forward_features(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the feature the head sees: ``norm`` of one output token, ``[B, D]``."""
        tokens = self.forward_tokens(x)
        # ViT-B/16: index 1 = the first patch token once the class token (index 0) is dropped, as
        # the official model does; the released weights were trained this way. ViT-L/14: index 0.
        return self.norm(tokens[:, self.head_token])

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the head's output (logits ``[B, num_classes]``) for images ``[B, 3, H, W]``."""
        return self.head(self.forward_features(x))


def build_clip_vit_cls(num_classes: int = 1000, variant: str = "base_patch16_224") -> CLIPVisionTransformer:
    """Build the single-label ``CLIP_vit_<variant>`` (``"base_patch16_224"`` or ``"large_patch14_224"``)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown CLIP ViT variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    head = make_token_head(LINEAR, VARIANTS[variant].embed_dim, num_classes)
    return CLIPVisionTransformer(variant, head=head)


def build_clip_vit_base_patch16_448_ml(num_classes: int = 80) -> CLIPVisionTransformer:
    """Build ``CLIP_vit_base_patch16_448_ML``: CLIP ViT-B/16 with an ML-Decoder head (one query per class)."""
    variant = "base_patch16_224"
    head = make_token_head(ML_DECODER, VARIANTS[variant].embed_dim, num_classes, query_num=num_classes)
    return CLIPVisionTransformer(variant, head=head)
