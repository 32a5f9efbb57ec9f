"""Input checks shared by the metric functions (private).

Every public metric takes array-likes (numpy arrays, lists, or anything with
``__array__`` such as a paddle Tensor) and raises :class:`ValueError` with the
offending shape or position when they cannot be used.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _where(mask: np.ndarray) -> str:
    """Describe the first True position of a 2-D mask as ``row i, class k``."""
    row, col = (int(v) for v in np.argwhere(mask)[0])
    return f"row {row}, class {col}"


def as_scores(scores: Any, name: str = "scores") -> np.ndarray:
    """Return ``scores`` as a 2-D floating array (floats keep their dtype); reject NaN and bad shapes."""
    arr = np.asarray(scores)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_samples, num_classes), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}): need at least one sample and one class")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    nan = np.isnan(arr)
    if nan.any():
        raise ValueError(f"{name} contain NaN ({int(nan.sum())} values, first at {_where(nan)})")
    return arr


def as_probabilities(probs: Any, name: str = "probs") -> np.ndarray:
    """Like :func:`as_scores`, and every value must lie in [0, 1] (sigmoid already applied)."""
    arr = as_scores(probs, name)
    outside = (arr < 0) | (arr > 1)
    if outside.any():
        raise ValueError(
            f"{name} must be probabilities in [0, 1], got values from {float(arr.min()):g} to "
            f"{float(arr.max()):g} (first outside at {_where(outside)}); apply sigmoid() to logits first"
        )
    return arr


def as_targets(targets: Any, shape: tuple[int, ...] | None = None, name: str = "targets") -> np.ndarray:
    """Return ``targets`` as a 2-D bool array; values must be 0 or 1 and the shape must match ``shape``."""
    arr = np.asarray(targets)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_samples, num_classes), got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} have shape {arr.shape} but the scores have shape {shape}")
    if arr.dtype == np.bool_:
        return arr
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name} must be a numeric 0/1 array, got dtype {arr.dtype}")
    bad = (arr != 0) & (arr != 1)  # NaN compares unequal to both, so it is caught here too
    if bad.any():
        value = arr[tuple(np.argwhere(bad)[0])]
        raise ValueError(
            f"{name} must be binary (0 or 1), found {value!r} at {_where(bad)}; "
            "ignore labels such as -1 are not supported"
        )
    return arr == 1


def as_pair(scores: Any, targets: Any, *, probabilities: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (scores, targets) pair of equal shape; ``probabilities`` also checks the [0, 1] range."""
    s = as_probabilities(scores) if probabilities else as_scores(scores)
    return s, as_targets(targets, s.shape)
