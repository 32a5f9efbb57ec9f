"""Deterministic weights and inputs, so that a model of ours and PaddleClas's can be compared on one forward.

:func:`fill` gives every floating-point entry of a ``state_dict`` values that depend only
on its key and shape (a generator seeded by the key's CRC-32), so two implementations with
the same keys receive the same weights; integer buffers (Swin's ``relative_position_index``)
keep the values the model computed. :func:`golden_input` is the fixed batch.
``make_goldens.py`` (beside this file) runs PaddleClas on them once, with a PaddleClas
checkout, and stores the logits in ``golden/<Model>.npz``; the tests run ours and compare.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def deterministic_array(key: str, shape: tuple[int, ...], gain: float = 1.0) -> np.ndarray:
    """The value of entry ``key``: random weights (variance ``gain / fan_in``), norm scales near 1, sane statistics."""
    rng = np.random.default_rng(zlib.crc32(key.encode("utf-8")))
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "_variance":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if leaf == "_mean":
        return (0.1 * rng.standard_normal(shape)).astype(np.float32)
    if len(shape) <= 1:
        base = 1.0 if leaf in ("weight", "gamma", "scale") else 0.0  # norm scales near 1, biases near 0
        return (base + 0.1 * rng.standard_normal(shape)).astype(np.float32)
    fan_in = shape[0] if len(shape) == 2 else int(np.prod(shape[1:]))  # paddle Linear weights are [in, out]
    return (rng.standard_normal(shape) * np.sqrt(gain / max(fan_in, 1))).astype(np.float32)


def fill(model: Any, gain: float = 1.0) -> None:
    """Set every floating-point ``state_dict`` entry of a paddle model to :func:`deterministic_array`.

    ``gain`` scales the variance of the weights: deep random networks either fade to a
    constant output or blow up, so each golden records the gain that keeps its logits
    of moderate size and different between the two images of :func:`golden_input`.
    """
    state = {}
    for key, value in model.state_dict().items():
        if "float" in str(value.dtype):
            state[key] = deterministic_array(key, tuple(int(d) for d in value.shape), gain)
    model.set_state_dict(state)


def golden_input(size: int | tuple[int, int], batch: int = 2) -> np.ndarray:
    """The fixed float32 batch ``[batch, 3, H, W]`` every golden is computed on."""
    height, width = (size, size) if isinstance(size, int) else size
    return np.random.default_rng(20261203).standard_normal((batch, 3, height, width)).astype(np.float32)


def load_golden(model_name: str) -> dict[str, np.ndarray]:
    """The stored PaddleClas logits, with the input size, class count and weight gain they were made with."""
    with np.load(GOLDEN_DIR / f"{model_name}.npz") as data:
        return {k: data[k] for k in data.files}
