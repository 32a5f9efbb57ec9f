"""Per-class decision thresholds: tune them for F1 on a split, and store them in ``thresholds.json``.

``thresholds.json`` (schema ``mlcls.thresholds/1``)::

    {"schema": "mlcls.thresholds/1", "metric": "f1", "default": 0.5,
     "per_class": {"0": 0.4213, "1": 0.5, ...},
     "label_names": ["person", "bicycle", ...], "num_classes": 80,
     "classes_without_positives": [7], ...optional metadata...}

``per_class`` keys are class ids (strings, as JSON requires); a class that is
not listed uses ``default``. Values are probabilities compared with the
strict ``prob > t`` rule. ``label_names`` lets a reader refuse a file tuned for
another label list. :func:`thresholds_to_paddlex` turns the object into the
dict PaddleX's ``predict(threshold=...)`` accepts: ``{"default": x, <int id>: y}``.
A bare PaddleX-form dict (``{"default": 0.5, "3": 0.7}``) is read as well.

Tuning overfits a small validation split: the thresholds are only as good as
the number of positives each class has there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlcls_cli.errors import ConfigError, InputMissingError
from mlcls_cli.metrics._validate import as_pair
from mlcls_cli.metrics.threshold import resolve_thresholds
from mlcls_cli.utils.atomic import atomic_write_json

THRESHOLDS_SCHEMA = "mlcls.thresholds/1"
DEFAULT_THRESHOLD = 0.5


def _separating_threshold(high: np.floating, low: np.floating) -> float:
    """A short decimal t with ``high > t > low`` (else t = low), true in the scores' dtype and in float64.

    Starting from the midpoint rounded to 4 decimals keeps the stored value
    readable (0.775, not 0.7749999999999999) and away from both scores; two
    neighbouring float values leave no room, and then ``t = low`` still splits
    them under the strict ``prob > t`` rule.
    """
    dtype = type(high)
    hi, lo = float(high), float(low)
    mid = (hi + lo) / 2.0
    for decimals in range(4, 18):
        t = round(mid, decimals)
        if lo < t < hi and low < dtype(t) < high:
            return t
    return lo


def _tune_on_scores(scores: np.ndarray, truth: np.ndarray, n_pos: int) -> tuple[float, float]:
    """Best (F1, threshold) over the cuts between consecutive distinct scores of one class."""
    order = np.argsort(-scores.astype(np.float64), kind="stable")
    s = scores[order]
    cum_tp = np.cumsum(truth[order], dtype=np.int64)
    last = np.ones(s.shape[0], dtype=bool)  # last row of each group of equal scores
    last[:-1] = s[:-1] != s[1:]
    upper = s[last]  # distinct scores, descending; cut j predicts the groups 0..j
    f1 = 2.0 * cum_tp[last] / (np.flatnonzero(last) + 1 + n_pos)
    # No threshold >= 0 selects a group at exactly 0 with the strict rule.
    f1[upper <= 0] = 0.0
    best = int(np.argmax(f1))  # the first maximum: the fewest predictions, the highest threshold
    if f1[best] <= 0:
        return 0.0, float("nan")
    low = upper[best + 1] if best + 1 < upper.shape[0] else upper.dtype.type(0)
    return float(f1[best]), _separating_threshold(upper[best], low)


def _tune_on_grid(scores: np.ndarray, truth: np.ndarray, n_pos: int, grid: np.ndarray) -> tuple[float, float]:
    """Best (F1, threshold) over the grid values for one class."""
    cut = grid.astype(scores.dtype)
    ascending = np.sort(scores)
    pos_ascending = np.sort(scores[truth])
    n_predicted = scores.shape[0] - np.searchsorted(ascending, cut, side="right")
    tp = n_pos - np.searchsorted(pos_ascending, cut, side="right")
    f1 = 2.0 * tp / (n_predicted + n_pos)
    best = float(f1.max())
    return best, float(grid[f1 == best].max())  # equal F1: the highest threshold


def _check_grid(grid: Any) -> np.ndarray:
    values = np.unique(np.asarray(grid, dtype=np.float64).ravel())
    if values.size == 0 or not np.all((values >= 0.0) & (values <= 1.0)):
        raise ValueError("grid must hold at least one threshold, every one within [0, 1]")
    return values


def tune_thresholds(
    probs: Any,
    targets: Any,
    *,
    grid: Sequence[float] | np.ndarray | None = None,
    default: float = DEFAULT_THRESHOLD,
) -> np.ndarray:
    """Return the per-class threshold (float64, shape (num_classes,)) that maximises F1 on this split.

    Without ``grid`` every cut of the class's ranking is tried (between two
    consecutive distinct scores, and below the lowest one), and the chosen
    threshold is the midpoint of the cut rounded to 4 or more decimals while it
    still separates the two scores; with ``grid`` only the grid values are
    tried. Predictions use the strict ``prob > t`` rule. Equal best F1: the
    highest threshold wins (fewest predictions). Classes without positives,
    and classes where no candidate reaches an F1 above 0, get ``default``.
    ``probs`` must be probabilities; ``targets`` 0/1. Raises ValueError.
    """
    p, y = as_pair(probs, targets, probabilities=True)
    default = float(resolve_thresholds(default, 1)[0])
    grid_values = None if grid is None else _check_grid(grid)
    out = np.full(p.shape[1], default, dtype=np.float64)
    for k in range(p.shape[1]):
        n_pos = int(y[:, k].sum())
        if n_pos == 0:
            continue
        if grid_values is None:
            best_f1, thr = _tune_on_scores(p[:, k], y[:, k], n_pos)
        else:
            best_f1, thr = _tune_on_grid(p[:, k], y[:, k], n_pos, grid_values)
        if best_f1 > 0:
            out[k] = thr
    return out


def thresholds_document(
    thresholds: Any,
    *,
    label_names: Sequence[str],
    default: float = DEFAULT_THRESHOLD,
    metric: str = "f1",
    classes_without_positives: Sequence[int] = (),
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the ``thresholds.json`` object for per-class ``thresholds`` (one per label name)."""
    names = [str(n) for n in label_names]
    values = resolve_thresholds(thresholds, len(names))
    doc: dict[str, Any] = {
        "schema": THRESHOLDS_SCHEMA,
        "metric": metric,
        "default": float(resolve_thresholds(default, 1)[0]),
        "per_class": {str(i): float(v) for i, v in enumerate(values)},
        "label_names": names,
        "num_classes": len(names),
        "classes_without_positives": [int(i) for i in classes_without_positives],
    }
    for key, value in (metadata or {}).items():
        doc.setdefault(key, value)
    return doc


def save_thresholds(
    path: str | os.PathLike[str],
    thresholds: Any,
    *,
    label_names: Sequence[str],
    default: float = DEFAULT_THRESHOLD,
    metric: str = "f1",
    classes_without_positives: Sequence[int] = (),
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``thresholds.json`` atomically and return the object written (see :func:`thresholds_document`)."""
    doc = thresholds_document(
        thresholds,
        label_names=label_names,
        default=default,
        metric=metric,
        classes_without_positives=classes_without_positives,
        metadata=metadata,
    )
    atomic_write_json(path, doc)
    return doc


def validate_thresholds(obj: Any, *, label_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Check a thresholds object (mlcls schema or PaddleX dict form); return it; raise ValueError if unusable.

    With ``label_names``, a file that records different label names is refused.
    """
    if not isinstance(obj, Mapping):
        raise ValueError(f"a thresholds object must be a JSON object, got {type(obj).__name__}")
    schema = obj.get("schema")
    if schema is not None and schema != THRESHOLDS_SCHEMA:
        raise ValueError(f"unsupported thresholds schema {schema!r} (this version reads {THRESHOLDS_SCHEMA})")
    file_names = obj.get("label_names")
    if file_names is not None and (
        not isinstance(file_names, list) or not all(isinstance(n, str) for n in file_names)
    ):
        raise ValueError("'label_names' must be a list of strings")
    if (
        label_names is not None
        and file_names is not None
        and list(file_names) != [str(n) for n in label_names]
    ):
        raise ValueError(
            f"the thresholds were tuned for other labels ({len(file_names)} names, first {file_names[:3]}) "
            f"than the model's ({len(label_names)} names, first {list(label_names)[:3]})"
        )
    if file_names is not None:
        num_classes = len(file_names)
    elif label_names is not None:
        num_classes = len(label_names)
    else:
        num_classes = _max_class_id(obj) + 1
    if "num_classes" in obj and obj["num_classes"] != num_classes:
        raise ValueError(f"'num_classes' is {obj['num_classes']!r} but {num_classes} classes are named")
    resolve_thresholds(obj, max(num_classes, 1))
    return dict(obj)


def _max_class_id(obj: Mapping[str, Any]) -> int:
    per_class = obj.get("per_class", {k: v for k, v in obj.items() if k != "default"})
    if not isinstance(per_class, Mapping):
        return 0  # resolve_thresholds reports the bad 'per_class'
    ids = [int(k) for k in per_class if isinstance(k, (int, str)) and str(k).strip().isdigit()]
    return max(ids, default=0)


def load_thresholds(
    path: str | os.PathLike[str], *, label_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Read and check a ``thresholds.json`` file; raise InputMissingError or ConfigError for a bad file."""
    file = Path(path)
    if not file.is_file():
        raise InputMissingError(
            f"thresholds file not found: {file}",
            hint="a threshold that is not a number, a list or a mapping is read as the path of a "
            "thresholds.json; create one with `mlcls eval --tune-thresholds`",
        )
    try:
        obj = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"cannot read thresholds file {file}: {exc}",
            hint='it must be a JSON object such as {"default": 0.5}',
        ) from exc
    try:
        return validate_thresholds(obj, label_names=label_names)
    except ValueError as exc:
        raise ConfigError(
            f"invalid thresholds file {file}: {exc}",
            hint='expected {"default": 0.5, "per_class": {"0": 0.4, ...}, "label_names": [...]}',
        ) from exc


def thresholds_to_paddlex(obj: Mapping[str, Any]) -> dict[Any, float]:
    """Return the PaddleX ``threshold`` dict ``{"default": x, <int id>: y, ...}`` for a thresholds object.

    Accepts the mlcls schema (``default`` + ``per_class``) or a dict already in
    PaddleX form with digit-string keys. Values become Python floats (PaddleX
    rejects ints); raises ValueError for an unusable object.
    """
    if not isinstance(obj, Mapping) or obj.get("default") is None:
        raise ValueError("a thresholds object needs a 'default' value")
    per_class = obj["per_class"] if "per_class" in obj else {k: v for k, v in obj.items() if k != "default"}
    num_classes = _max_class_id(obj) + 1
    values = resolve_thresholds(obj, num_classes)  # validates every key and value
    out: dict[Any, float] = {"default": float(resolve_thresholds(obj["default"], 1)[0])}
    for key in per_class:
        idx = int(key)
        out[idx] = float(values[idx])
    return out
