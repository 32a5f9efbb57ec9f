"""Average precision per class and mean average precision (PaddleClas ``MultiLabelMAP``, ``integral``).

Definition (non-interpolated AP): for class k, rank the samples by score,
highest first; with ``Ng_k`` positives, ``AP_k = (1/Ng_k) * sum over the
positives of precision at the positive's rank``, where precision at rank r is
(positives among the first r) / r. There is no precision envelope (unlike
VOC). ``mAP`` is the mean of ``AP_k`` over the classes that have at least one
positive; classes without positives are left out (their AP is nan), exactly
as PaddleClas does. Values are fractions in [0, 1], not percents.

Only the order of the scores matters, so logits and probabilities give the same
AP as long as the sigmoid does not create ties (float32 sigmoid saturates to
1.0 above a logit of about 17).

Ties (equal scores in one class):

- ``ties="stable"`` (default, PaddleClas-compatible): tied samples keep their
  input order (the earlier sample is ranked first) and each one is its own
  step of the curve. PaddleClas also uses a stable sort and does not group
  ties, so without ties the numbers are identical. With ties, PaddleClas
  keeps batches in order but orders tied samples inside one evaluation batch
  by a reversed, not necessarily stable ``np.argsort`` (for small batches: the
  later sample first), which cannot be replayed from the concatenated arrays;
  only ties that mix positives and negatives change the AP, and they are rare
  with continuous scores.
- ``ties="group"``: a group of tied samples is one step (all are counted as
  retrieved together), as in scikit-learn's ``average_precision_score``.
  This does not depend on the sample order.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from mlcls_cli.metrics._validate import as_pair

Ties = Literal["stable", "group"]
TIES_MODES: tuple[str, ...] = ("stable", "group")

# Columns are processed in blocks so that a large (samples x classes) matrix
# needs only a few temporary copies of this many elements.
_BLOCK_ELEMENTS = 4_000_000


def _check_ties(ties: str) -> None:
    if ties not in TIES_MODES:
        raise ValueError(f"ties must be one of {', '.join(TIES_MODES)}, got {ties!r}")


def _ap_block(scores: np.ndarray, targets: np.ndarray, ties: str) -> np.ndarray:
    """AP of each column of validated (N, c) scores and bool targets; nan where a column has no positive."""
    n = scores.shape[0]
    # float64 holds every float16/32 value exactly, so ties are neither created nor broken;
    # negating gives a descending order that a stable sort keeps in input order for ties.
    key = -scores.astype(np.float64)
    order = np.argsort(key, axis=0, kind="stable")
    hits = np.take_along_axis(targets, order, axis=0)
    cum_hits = np.cumsum(hits, axis=0, dtype=np.int64)
    if ties == "group":
        sorted_key = np.take_along_axis(key, order, axis=0)
        is_last = np.ones(hits.shape, dtype=bool)
        is_last[:-1] = sorted_key[:-1] != sorted_key[1:]
        # For each position, the index of the last row of its tie group: the smallest
        # group end at or below it (a reverse running minimum).
        ends = np.where(is_last, np.arange(n)[:, None], n)
        ends = np.minimum.accumulate(ends[::-1], axis=0)[::-1]
        precision = np.take_along_axis(cum_hits, ends, axis=0) / (ends + 1.0)
    else:
        precision = cum_hits / np.arange(1.0, n + 1.0)[:, None]
    n_pos = cum_hits[-1]
    total = np.where(hits, precision, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_pos > 0, total / n_pos, np.nan)


def _ap_matrix(scores: np.ndarray, targets: np.ndarray, ties: str) -> np.ndarray:
    """AP per column of validated inputs, computed in column blocks."""
    _check_ties(ties)
    n, c = scores.shape
    step = max(1, _BLOCK_ELEMENTS // max(n, 1))
    out = np.empty(c, dtype=np.float64)
    for start in range(0, c, step):
        stop = min(c, start + step)
        out[start:stop] = _ap_block(scores[:, start:stop], targets[:, start:stop], ties)
    return out


def average_precision_per_class(scores: Any, targets: Any, *, ties: Ties = "stable") -> np.ndarray:
    """Return the non-interpolated AP of every class, shape (num_classes,), nan for classes without positives.

    ``scores`` (logits or probabilities) and ``targets`` (0/1) have shape
    (num_samples, num_classes). ``ties`` is ``"stable"`` (PaddleClas) or
    ``"group"`` (scikit-learn); see the module docstring. Raises ValueError on
    a shape mismatch, non-binary targets or NaN scores.
    """
    s, y = as_pair(scores, targets)
    return _ap_matrix(s, y, ties)


def average_precision(scores: Any, targets: Any, *, ties: Ties = "stable") -> float:
    """Return the AP of one class from 1-D ``scores`` and 0/1 ``targets``; nan when there is no positive."""
    s = np.asarray(scores)
    y = np.asarray(targets)
    if s.ndim != 1 or y.ndim != 1:
        raise ValueError(f"scores and targets must be 1-D for one class, got shapes {s.shape} and {y.shape}")
    return float(average_precision_per_class(s[:, None], y[:, None], ties=ties)[0])


def mean_of_valid(ap: np.ndarray) -> float:
    """Return the mean of the non-nan entries of ``ap``, or nan when every entry is nan."""
    valid = ~np.isnan(ap)
    return float(ap[valid].mean()) if valid.any() else float("nan")


def mean_average_precision(scores: Any, targets: Any, *, ties: Ties = "stable") -> float:
    """Return mAP as a fraction in [0, 1]: the mean AP over the classes that have at least one positive.

    This is PaddleClas/PaddleX ``MultiLabelMAP`` with ``map_type: integral``.
    Classes without positives are excluded from the mean; if no class has a
    positive the result is ``nan`` (there is nothing to rank). ``scores`` may be
    logits or probabilities (only their order is used). Raises ValueError on a
    shape mismatch, non-binary targets or NaN scores.
    """
    return mean_of_valid(average_precision_per_class(scores, targets, ties=ties))
