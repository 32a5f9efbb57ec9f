"""Training losses: the asymmetric loss (ASL) of the ML-Decoder recipe and smoothed cross-entropy.

Per element, with ``p = sigmoid(logit)`` and a 0/1 target ``y``:
``p_neg = min(1 - p + clip, 1)`` (probability shifting of easy negatives),
``pt = p`` if ``y = 1`` else ``p_neg``, the focal weight
``w = (1 - pt) ** (gamma_pos * y + gamma_neg * (1 - y))`` (computed without gradient
when ``disable_focal_loss_grad``), and ``loss = -log(max(pt, eps)) * w``; summed over
batch and classes (``reduction="sum"``, the recipe's default), or averaged.

Same formula and defaults as PaddleClas ``MultiLabelAsymmetricLoss``; the one
difference is that float16/bfloat16 logits are cast to float32 first, so the loss
is computed in full precision under AMP.
"""

from __future__ import annotations

import paddle
from paddle import nn

_REDUCTIONS = ("sum", "mean", "none")


class AsymmetricLoss(nn.Layer):
    """Asymmetric loss for multi-label classification; ``forward(logits, targets)`` returns a scalar."""

    def __init__(
        self,
        gamma_pos: float = 0.0,
        gamma_neg: float = 4.0,
        clip: float = 0.05,
        eps: float = 1e-8,
        disable_focal_loss_grad: bool = True,
        reduction: str = "sum",
    ) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(_REDUCTIONS)}, got {reduction!r}")
        self.gamma_pos = float(gamma_pos)
        self.gamma_neg = float(gamma_neg)
        self.clip = float(clip) if clip else 0.0
        self.eps = float(eps)
        self.disable_focal_loss_grad = bool(disable_focal_loss_grad)
        self.reduction = reduction

    def _focal_weight(self, p_pos: paddle.Tensor, p_neg: paddle.Tensor, y: paddle.Tensor) -> paddle.Tensor:
        pt = p_pos * y + p_neg * (1.0 - y)
        gamma = self.gamma_pos * y + self.gamma_neg * (1.0 - y)
        return paddle.pow(1.0 - pt, gamma)

    def forward(self, logits: paddle.Tensor, targets: paddle.Tensor) -> paddle.Tensor:
        """Loss of ``logits`` [B, K] against 0/1 ``targets`` [B, K] (a scalar unless reduction is none)."""
        x = logits.astype("float32") if logits.dtype in (paddle.float16, paddle.bfloat16) else logits
        y = targets.astype(x.dtype)
        p_pos = nn.functional.sigmoid(x)
        p_neg = 1.0 - p_pos
        if self.clip > 0:
            p_neg = paddle.clip(p_neg + self.clip, max=1.0)
        loss = y * paddle.log(paddle.clip(p_pos, min=self.eps)) + (1.0 - y) * paddle.log(
            paddle.clip(p_neg, min=self.eps)
        )
        if self.gamma_pos > 0 or self.gamma_neg > 0:
            if self.disable_focal_loss_grad:
                with paddle.no_grad():
                    weight = self._focal_weight(p_pos.detach(), p_neg.detach(), y)
            else:
                weight = self._focal_weight(p_pos, p_neg, y)
            loss = loss * weight
        loss = -loss
        if self.reduction == "sum":
            return loss.sum()
        if self.reduction == "mean":
            return loss.mean()
        return loss


class SmoothedCrossEntropy(nn.Layer):
    """Softmax cross-entropy with label smoothing, mean over the batch (PaddleClas ``CELoss``).

    ``targets`` are class ids [B] (int) or soft targets [B, C] (Mixup/CutMix); with
    ``epsilon`` > 0 the target becomes ``(1 - epsilon) * target + epsilon / C``, on top of
    any mixing, as PaddleClas does. Low-precision logits are cast to float32 first.
    """

    def __init__(self, epsilon: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= float(epsilon) < 1.0:
            raise ValueError(f"label smoothing must be in [0, 1), got {epsilon}")
        self.epsilon = float(epsilon)

    def forward(self, logits: paddle.Tensor, targets: paddle.Tensor) -> paddle.Tensor:
        """Mean loss of ``logits`` [B, C] against class ids [B] or soft targets [B, C]."""
        x = logits.astype("float32") if logits.dtype in (paddle.float16, paddle.bfloat16) else logits
        classes = int(x.shape[-1])
        if targets.ndim == x.ndim and int(targets.shape[-1]) == classes and "float" in str(targets.dtype):
            target = targets.astype(x.dtype)
        else:
            target = nn.functional.one_hot(targets.reshape([-1]).astype("int64"), classes).astype(x.dtype)
        if self.epsilon > 0:
            target = target * (1.0 - self.epsilon) + self.epsilon / classes
        return -(target * nn.functional.log_softmax(x, axis=-1)).sum(axis=-1).mean()
