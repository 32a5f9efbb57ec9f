"""Optimizer and learning-rate schedule of the training recipe.

AdamW (beta1 0.9, beta2 0.999, eps 1e-8, decoupled weight decay 1e-4) where every
1-D parameter (biases, norm weights, learnable-affine scale/bias) gets no decay and
frozen parameters (``stop_gradient=True``, e.g. the ML-Decoder query embedding) are
left out; per-parameter learning-rate multipliers (``ParamAttr(learning_rate=...)``)
apply as usual. Single-label recipes may choose Momentum (0.9) with PaddleClas's L2
decay on every parameter instead (:mod:`mlcls_cli.engine.recipes`). :class:`LRSchedule` is stepped once per iteration: linear warmup from
``warmup_start_lr`` to ``learning_rate``, then a cosine to ``eta_min`` (or the peak rate
kept, ``constant``), computed in
closed form from the iteration count, so a restored schedule continues exactly.

Differences from PaddleClas: when the warmup would cover the whole run
(``warmup_epochs >= epochs``) it is shortened to the first half of the run so the
cosine still anneals (PaddleClas would end training at the top of the warmup);
and the schedule is one closed-form function rather than a chain of two schedulers.
"""

from __future__ import annotations

import math
from typing import Any

import paddle
from paddle.optimizer.lr import LRScheduler

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "LRSchedule",
    "build_optimizer",
    "no_decay_names",
    "trainable_parameters",
]

OPTIMIZERS = ("adamw", "momentum")
SCHEDULES = ("cosine", "constant")


class LRSchedule(LRScheduler):
    """Per-iteration linear warmup then cosine decay (or a constant rate); ``step()`` after every optimizer step.

    Iteration ``t`` (``last_epoch``, counted from 0) uses
    ``warmup_start_lr + (learning_rate - warmup_start_lr) * t / W`` for ``t < W`` and
    ``eta_min + (learning_rate - eta_min) * (1 + cos(pi * (t - W) / T)) / 2`` afterwards
    (``eta_min`` from ``t >= W + T``), with ``W`` the warmup and ``T`` the cosine iterations.
    """

    def __init__(
        self,
        learning_rate: float,
        *,
        epochs: int,
        iters_per_epoch: int,
        warmup_epochs: int,
        warmup_start_lr: float = 1e-6,
        eta_min: float = 1e-10,
        kind: str = "cosine",
        last_epoch: int = -1,
    ) -> None:
        if kind not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")
        self.kind = kind
        if epochs < 1 or iters_per_epoch < 1:
            raise ValueError(f"epochs and iters_per_epoch must be >= 1, got {epochs} and {iters_per_epoch}")
        if warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {warmup_epochs}")
        self.peak_lr = float(learning_rate)
        self.warmup_start_lr = float(warmup_start_lr)
        self.eta_min = float(eta_min)
        self.epochs = int(epochs)
        self.iters_per_epoch = int(iters_per_epoch)
        self.warmup_epochs = int(warmup_epochs)
        self.total_iters = self.epochs * self.iters_per_epoch
        warmup = self.warmup_epochs * self.iters_per_epoch
        if self.warmup_epochs >= self.epochs and warmup > 0:
            warmup = self.total_iters // 2
        self.warmup_iters = warmup
        self.cosine_iters = self.total_iters - warmup
        super().__init__(learning_rate=float(learning_rate), last_epoch=last_epoch)

    def lr_at(self, iteration: int) -> float:
        """The learning rate used by iteration ``iteration`` (0-based)."""
        t = max(0, int(iteration))
        if t < self.warmup_iters:
            return self.warmup_start_lr + (self.peak_lr - self.warmup_start_lr) * t / self.warmup_iters
        if self.cosine_iters <= 0 or self.kind == "constant":
            return self.peak_lr
        progress = min(1.0, (t - self.warmup_iters) / self.cosine_iters)
        return self.eta_min + (self.peak_lr - self.eta_min) * (1.0 + math.cos(math.pi * progress)) / 2.0

    def get_lr(self) -> float:
        """The learning rate of the current iteration (``last_epoch``)."""
        return self.lr_at(self.last_epoch)

    def state_keys(self) -> None:
        """Save the iteration, the current lr and the schedule's shape."""
        self.keys = ["last_epoch", "last_lr", "warmup_iters", "total_iters"]

    def set_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from a saved iteration; the lr is recomputed for this schedule's shape.

        With the same settings this reproduces the saved schedule exactly; with a longer
        run (more epochs) it continues on the new, stretched curve.
        """
        if "last_epoch" not in state_dict:
            raise RuntimeError("learning-rate state has no 'last_epoch'; is it from another scheduler?")
        self.last_epoch = int(state_dict["last_epoch"])
        self.last_lr = self.get_lr()

    set_dict = set_state_dict


def trainable_parameters(model: paddle.nn.Layer) -> list[paddle.Tensor]:
    """The parameters of ``model`` that receive gradients (``stop_gradient`` is False)."""
    return [p for p in model.parameters() if not p.stop_gradient]


def no_decay_names(params: list[paddle.Tensor]) -> set[str]:
    """Names of the 1-D parameters, which get no weight decay."""
    return {p.name for p in params if len(p.shape) == 1}


def build_optimizer(
    model: paddle.nn.Layer,
    *,
    learning_rate: float,
    epochs: int,
    iters_per_epoch: int,
    warmup_epochs: int,
    weight_decay: float = 1e-4,
    warmup_start_lr: float = 1e-6,
    eta_min: float = 1e-10,
    optimizer: str = "adamw",
    schedule: str = "cosine",
) -> tuple[paddle.optimizer.Optimizer, LRSchedule]:
    """AdamW (no decay on 1-D parameters) or Momentum (0.9, L2 decay on all, as PaddleClas) and its schedule.

    The optimizer's ``state_dict()`` includes the schedule (key ``LR_Scheduler``), so
    restoring the optimizer restores the schedule too. Two paddle facts matter for resume:
    that state is keyed by generated parameter/accumulator names (``linear_0.w_0_moment1_0``),
    so build the model and optimizer, and run the steps, inside a fresh
    ``paddle.utils.unique_name.guard()`` to get the same names in every run, even several
    runs in one process; and it holds the live accumulator tensors, so save or copy it at once.
    """
    params = trainable_parameters(model)
    if not params:
        raise ValueError("the model has no trainable parameters")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    lr_schedule = LRSchedule(
        learning_rate,
        epochs=epochs,
        iters_per_epoch=iters_per_epoch,
        warmup_epochs=warmup_epochs,
        warmup_start_lr=warmup_start_lr,
        eta_min=eta_min,
        kind=schedule,
    )
    if optimizer == "momentum":
        momentum = paddle.optimizer.Momentum(
            learning_rate=lr_schedule,
            momentum=0.9,
            parameters=params,
            weight_decay=paddle.regularizer.L2Decay(weight_decay) if weight_decay else None,
        )
        return momentum, lr_schedule
    skip = no_decay_names(params)
    adamw = paddle.optimizer.AdamW(
        learning_rate=lr_schedule,
        beta1=0.9,
        beta2=0.999,
        epsilon=1e-8,
        parameters=params,
        weight_decay=weight_decay,
        apply_decay_param_fun=lambda name: name not in skip,
    )
    return adamw, lr_schedule
