"""The ML-Decoder classification head (PaddleClas layout, state_dict compatible).

Class queries attend to the backbone's feature map through one transformer
decoder layer without self-attention; a grouped 1x1 convolution then turns each
query's embedding into its class logit(s). The output is raw logits.
"""

from __future__ import annotations

import math

import paddle
import paddle.nn.functional as F
from paddle import nn


class CrossAttention(nn.Layer):
    """Multi-head attention of ``query`` over ``memory`` (keys and values from the same tensor)."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        # Registration order fixes the state_dict order: q, k, v, out.
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.attn_dropout = nn.Dropout(dropout, mode="upscale_in_train")

    def _split_heads(self, x: paddle.Tensor) -> paddle.Tensor:
        # [B, L, E] -> [B, heads, L, head_dim]; feature index = head * head_dim + d
        x = x.reshape([0, 0, self.num_heads, self.head_dim])
        return x.transpose([0, 2, 1, 3])

    def forward(self, query: paddle.Tensor, memory: paddle.Tensor) -> paddle.Tensor:
        """Attend ``query`` [B, Lq, E] over ``memory`` [B, Lm, E]; returns [B, Lq, E]."""
        q = self._split_heads(self.q_proj(query)) * (self.head_dim**-0.5)
        k = self._split_heads(self.k_proj(memory))
        v = self._split_heads(self.v_proj(memory))
        # ``@`` rather than paddle.matmul: only ``@`` also traces for the legacy .pdmodel export (paddle 3.3)
        weights = F.softmax(q @ k.transpose([0, 1, 3, 2]), axis=-1)
        weights = self.attn_dropout(weights)
        out = (weights @ v).transpose([0, 2, 1, 3])
        out = out.reshape([0, 0, self.embed_dim])
        return self.out_proj(out)


class QueryDecoderLayer(nn.Layer):
    """A post-norm transformer decoder layer whose self-attention is an identity.

    The identity keeps its residual connection, so the first step is
    ``norm1(tgt + dropout(tgt))``, i.e. ``norm1(2 * tgt)`` at inference.
    """

    def __init__(self, embed_dim: int, num_heads: int, mlp_hidden_dim: int, dropout: float) -> None:
        super().__init__()
        self.cross_attn = CrossAttention(embed_dim, num_heads, dropout)
        self.linear1 = nn.Linear(embed_dim, mlp_hidden_dim)
        self.dropout = nn.Dropout(dropout, mode="upscale_in_train")
        self.linear2 = nn.Linear(mlp_hidden_dim, embed_dim)
        self.norm1 = nn.LayerNorm(embed_dim, epsilon=1e-5)
        self.norm2 = nn.LayerNorm(embed_dim, epsilon=1e-5)
        self.norm3 = nn.LayerNorm(embed_dim, epsilon=1e-5)
        self.dropout1 = nn.Dropout(dropout, mode="upscale_in_train")
        self.dropout2 = nn.Dropout(dropout, mode="upscale_in_train")
        self.dropout3 = nn.Dropout(dropout, mode="upscale_in_train")

    def forward(self, tgt: paddle.Tensor, memory: paddle.Tensor) -> paddle.Tensor:
        """Update the queries ``tgt`` [B, Q, E] from ``memory`` [B, L, E]."""
        tgt = self.norm1(tgt + self.dropout1(tgt))
        tgt = self.norm2(tgt + self.dropout2(self.cross_attn(tgt, memory)))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(ffn))


class QueryDecoder(nn.Layer):
    """A stack of :class:`QueryDecoderLayer` under ``layers`` (no final norm)."""

    def __init__(
        self, depth: int, embed_dim: int, num_heads: int, mlp_hidden_dim: int, dropout: float
    ) -> None:
        super().__init__()
        self.layers = nn.LayerList(
            [QueryDecoderLayer(embed_dim, num_heads, mlp_hidden_dim, dropout) for _ in range(depth)]
        )

    def forward(self, tgt: paddle.Tensor, memory: paddle.Tensor) -> paddle.Tensor:
        """Run every layer in turn."""
        for layer in self.layers:
            tgt = layer(tgt, memory)
        return tgt


class MLDecoder(nn.Layer):
    """ML-Decoder head: features ``[B, C, H, W]`` (or ``[B, C, L]`` / ``[B, D]``) to logits ``[B, class_num]``.

    Parameter names, shapes and order equal PaddleClas' ``MLDecoder`` so its
    ``.pdparams`` load unchanged. ``query_pos_embed`` is frozen but saved.
    """

    def __init__(
        self,
        class_num: int = 80,
        in_channels: int = 2048,
        query_num: int | None = None,
        embed_dim: int = 768,
        depth: int = 1,
        num_heads: int = 8,
        mlp_hidden_dim: int = 2048,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if class_num < 1:
            raise ValueError(f"class_num must be >= 1, got {class_num}")
        query_num = class_num if query_num is None else max(1, min(int(query_num), class_num))
        self.class_num = class_num
        self.in_channels = in_channels
        self.query_num = query_num
        self.embed_dim = embed_dim
        self.group_factor = math.ceil(class_num / query_num)

        self.input_proj = nn.Conv2D(in_channels, embed_dim, kernel_size=1)
        self.query_pos_embed = nn.Embedding(query_num, embed_dim)
        self.query_pos_embed.weight.stop_gradient = True
        self.decoder = QueryDecoder(depth, embed_dim, num_heads, mlp_hidden_dim, dropout)
        self.group_conv = nn.Conv2D(
            query_num * embed_dim,
            query_num * self.group_factor,
            kernel_size=1,
            groups=query_num,
            weight_attr=paddle.ParamAttr(initializer=nn.initializer.XavierNormal()),
            bias_attr=paddle.ParamAttr(initializer=nn.initializer.Constant(0.0)),
        )

    def _as_feature_map(self, x: paddle.Tensor) -> paddle.Tensor:
        if x.ndim == 4:
            return x
        if x.ndim == 3:
            return x.unsqueeze(-1)
        if x.ndim == 2:
            if x.shape[1] % self.in_channels:
                raise ValueError(
                    f"a 2-D input needs a multiple of {self.in_channels} features, got {x.shape[1]}"
                )
            return x.reshape([0, self.in_channels, -1, 1])
        raise ValueError(f"MLDecoder expects a 2-D, 3-D or 4-D input, got {x.ndim}-D")

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        """Return the logits ``[B, class_num]`` for the features ``x``."""
        x = self._as_feature_map(x)
        memory = F.relu(self.input_proj(x)).flatten(2).transpose([0, 2, 1])  # [B, H*W, E]
        tgt = self.query_pos_embed.weight.unsqueeze(0).expand([memory.shape[0], -1, -1])
        out = self.decoder(tgt, memory)  # [B, Q, E]
        out = out.reshape([0, self.query_num * self.embed_dim, 1, 1])
        logits = self.group_conv(out).flatten(1)  # [B, Q * g]
        return logits[:, : self.class_num]
