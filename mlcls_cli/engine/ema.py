"""Exponential moving average (EMA) of a model's weights, as in the training recipe.

After every optimizer step, :meth:`ModelEMA.update` blends every floating-point
``state_dict`` entry (parameters and norm statistics) as
``ema = d * ema + (1 - d) * current`` and copies integer entries. Evaluation swaps
the averaged weights in with :meth:`ModelEMA.applied_to`.

The recipe's decay is 0.9997. By default the decay warms up as in timm,
``d = decay * (1 - exp(-updates / warmup_tau))`` with ``warmup_tau = 2000``, so the
average follows the model early on and is useful even for short fine-tunes (with a
fixed 0.9997, a 300-step run keeps ~91% of the initial weights). This is the one
difference from PaddleClas, whose EMA uses the fixed decay; ``warmup=False`` gives
exactly that. The update count is :attr:`ModelEMA.updates`; save and restore it
with the weights for an exact resume.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import paddle

__all__ = ["ModelEMA"]


def _is_float(t: paddle.Tensor) -> bool:
    return t.dtype in (paddle.float16, paddle.bfloat16, paddle.float32, paddle.float64)


class ModelEMA:
    """A shadow copy of a model's ``state_dict`` kept as a moving average of its weights."""

    def __init__(
        self,
        model: paddle.nn.Layer,
        decay: float = 0.9997,
        *,
        warmup: bool = True,
        warmup_tau: float = 2000.0,
        updates: int = 0,
    ) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        if warmup and warmup_tau <= 0:
            raise ValueError(f"warmup_tau must be > 0, got {warmup_tau}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.warmup_tau = float(warmup_tau)
        self.updates = int(updates)
        with paddle.no_grad():
            self._shadow: dict[str, paddle.Tensor] = {
                k: v.detach().clone() for k, v in model.state_dict().items()
            }
        for v in self._shadow.values():
            v.stop_gradient = True

    def current_decay(self, updates: int | None = None) -> float:
        """The decay applied by the update number ``updates`` (default: the next one)."""
        n = self.updates + 1 if updates is None else int(updates)
        if not self.warmup:
            return self.decay
        return self.decay * (1.0 - math.exp(-n / self.warmup_tau))

    def update(self, model: paddle.nn.Layer) -> None:
        """Blend the model's current weights into the average (call after each optimizer step)."""
        d = self.current_decay(self.updates + 1)
        self.updates += 1
        weights: dict[paddle.dtype, paddle.Tensor] = {}
        with paddle.no_grad():
            for key, value in model.state_dict().items():
                shadow = self._shadow.get(key)
                if shadow is None:
                    raise KeyError(f"EMA has no entry {key!r}: was the model changed after creating the EMA?")
                if _is_float(shadow):
                    src = value if value.dtype == shadow.dtype else value.astype(shadow.dtype)
                    if shadow.dtype not in weights:
                        weights[shadow.dtype] = paddle.to_tensor(
                            1.0 - d, dtype=shadow.dtype, place=shadow.place
                        )
                    # shadow += (1 - d) * (src - shadow), i.e. d * shadow + (1 - d) * src, in one in-place op
                    # (a tensor weight: about half the time of a python-float one or of scale_ + add_)
                    shadow.lerp_(src, weights[shadow.dtype])
                else:
                    paddle.assign(value, output=shadow)

    def state_dict(self) -> dict[str, paddle.Tensor]:
        """The averaged weights, keyed like the model's ``state_dict`` (shared, do not modify)."""
        return dict(self._shadow)

    def set_state_dict(self, state: dict[str, paddle.Tensor]) -> None:
        """Replace the averaged weights (e.g. from a checkpoint); keys must match the model's."""
        missing = sorted(set(self._shadow) - set(state))
        unexpected = sorted(set(state) - set(self._shadow))
        if missing or unexpected:
            raise KeyError(
                f"EMA state does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        with paddle.no_grad():
            for key, value in state.items():
                shadow = self._shadow[key]
                tensor = value if isinstance(value, paddle.Tensor) else paddle.to_tensor(value)
                if list(tensor.shape) != list(shadow.shape):
                    raise ValueError(
                        f"EMA entry {key!r} has shape {list(tensor.shape)}, expected {list(shadow.shape)}"
                    )
                paddle.assign(tensor.astype(shadow.dtype), output=shadow)

    def copy_to(self, model: paddle.nn.Layer) -> None:
        """Load the averaged weights into ``model`` (values are copied)."""
        model.set_state_dict(self._shadow)

    @contextmanager
    def applied_to(self, model: paddle.nn.Layer) -> Iterator[paddle.nn.Layer]:
        """Within the block ``model`` holds the averaged weights; its own are restored afterwards."""
        with paddle.no_grad():
            backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.copy_to(model)
        try:
            yield model
        finally:
            model.set_state_dict(backup)
