"""Metrics of hard predictions: at a threshold, at top-k, and from a 0/1 prediction matrix.

Inputs are PROBABILITIES (sigmoid already applied; see :func:`sigmoid`).

Prediction rule: class k is predicted for a sample when ``prob > t_k``
(strict, as PaddleX's ``MultiLabelThreshOutput``). The comparison is done in
the probabilities' own float dtype, the threshold being rounded to it, as
numpy does when PaddleX compares float32 outputs with a Python float.
Top-k keeps at most the k highest-scored classes of each sample (equal scores:
the lower class id first) and, when a threshold is given, only those that also
pass it (the ML-GCN "top-3" protocol).

With, per class k, ``TP_k`` correct predictions, ``Np_k`` predictions and
``Ng_k`` ground-truth positives (the support):

- precision_k = TP_k / Np_k, and **0 when the class has no prediction**;
- recall_k = TP_k / Ng_k, **nan when the class has no positive**;
- f1_k = 2 TP_k / (Np_k + Ng_k) (the harmonic mean of the two), nan when the
  class has no positive;
- CP, CR and ``macro_F1`` are the means of precision_k, recall_k and f1_k over
  the classes **with at least one positive** (the same classes as mAP); a
  class with positives but no prediction counts with precision 0;
- CF1 = 2 CP CR / (CP + CR), the harmonic mean of CP and CR, as defined in
  Chen et al., "Multi-Label Image Recognition with Graph Convolutional
  Networks" (ML-GCN), CVPR 2019, arXiv:1904.03582, and used by the papers that
  compare with it. It is not ``macro_F1`` (scikit-learn's
  ``f1_score(average="macro")``, which also averages over every class);
- OP = sum TP / sum Np (0 when nothing is predicted), OR = sum TP / sum Ng,
  OF1 = 2 OP OR / (OP + OR) (micro averages over **all** classes, so false
  positives of classes without positives do count here);
- hamming loss = fraction of wrong (sample, class) cells; subset accuracy =
  fraction of samples whose whole label set is exactly right; label
  cardinality = mean number of true labels per sample.

Every value is a fraction in [0, 1]; a harmonic mean of two zeros is 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Union

import numpy as np

from mlcls_cli.metrics._validate import as_pair, as_probabilities, as_targets

ThresholdLike = Union[float, Sequence[float], np.ndarray, Mapping[Any, Any]]


def sigmoid(logits: Any) -> np.ndarray:
    """Return the logistic sigmoid of ``logits`` without overflow; float inputs keep their dtype."""
    x = np.asarray(logits)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])  # x < 0 here, so exp cannot overflow
    out[~pos] = e / (1.0 + e)
    return out


def _threshold_value(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"threshold {where} must be a number, got {value!r}")
    v = float(value)
    if not (0.0 <= v <= 1.0):
        raise ValueError(f"threshold {where} must be within [0, 1] (a probability), got {v}")
    return v


def _class_index(key: Any, num_classes: int) -> int:
    if isinstance(key, bool):
        raise ValueError(f"invalid class key {key!r} in the threshold mapping")
    is_id = isinstance(key, (int, np.integer)) or (isinstance(key, str) and key.strip().isdigit())
    if not is_id:
        raise ValueError(
            f"invalid class key {key!r} in the threshold mapping: use class ids such as 0 or '0'"
        )
    idx = int(key)
    if not 0 <= idx < num_classes:
        raise ValueError(
            f"class id {idx} in the threshold mapping is out of range (num_classes={num_classes})"
        )
    return idx


def resolve_thresholds(threshold: ThresholdLike, num_classes: int) -> np.ndarray:
    """Return one threshold per class (float64, shape (num_classes,)) from any accepted form.

    Accepted: a number (all classes); a sequence or array of length
    ``num_classes``; the PaddleX dict ``{"default": x, <id>: y, ...}`` (ids as
    ints or digit strings); or a ``thresholds.json`` object (``"default"`` plus
    ``"per_class"``). Every value must be within [0, 1]. Raises ValueError.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    if isinstance(threshold, Mapping):
        if threshold.get("default") is None:
            raise ValueError("a threshold mapping needs a 'default' value for the classes it does not list")
        out = np.full(num_classes, _threshold_value(threshold["default"], "'default'"), dtype=np.float64)
        if "per_class" in threshold:
            per_class = threshold["per_class"]
            if not isinstance(per_class, Mapping):
                raise ValueError("'per_class' must map class ids to thresholds")
        else:
            per_class = {k: v for k, v in threshold.items() if k != "default"}
        for key, value in per_class.items():
            idx = _class_index(key, num_classes)
            out[idx] = _threshold_value(value, f"of class {idx}")
        return out
    if isinstance(threshold, (Real, np.number)) and not isinstance(threshold, (bool, np.bool_)):
        return np.full(num_classes, _threshold_value(threshold, "value"), dtype=np.float64)
    if isinstance(threshold, (str, bytes, bool, np.bool_)) or threshold is None:
        raise ValueError(f"unsupported threshold {threshold!r}: use a number, a per-class list or a mapping")
    arr = np.asarray(threshold)
    if arr.ndim != 1 or arr.shape[0] != num_classes:
        raise ValueError(f"a per-class threshold list must have {num_classes} values, got shape {arr.shape}")
    return np.array(
        [_threshold_value(v.item(), f"of class {i}") for i, v in enumerate(arr)], dtype=np.float64
    )


def _binarize(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    return probs > thresholds.astype(probs.dtype)[None, :]


def binarize(probs: Any, threshold: ThresholdLike = 0.5) -> np.ndarray:
    """Return the bool prediction matrix ``probs > threshold`` (strict), per class when given per class."""
    p = as_probabilities(probs)
    return _binarize(p, resolve_thresholds(threshold, p.shape[1]))


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _top_k(probs: np.ndarray, k: int, thresholds: np.ndarray | None) -> np.ndarray:
    k = min(k, probs.shape[1])
    order = np.argsort(-probs.astype(np.float64), axis=1, kind="stable")[:, :k]
    mask = np.zeros(probs.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    if thresholds is not None:
        mask &= _binarize(probs, thresholds)
    return mask


def top_k_mask(probs: Any, k: int, threshold: ThresholdLike | None = None) -> np.ndarray:
    """Return the bool matrix of each sample's k highest-scored classes (all classes when k exceeds them).

    Equal scores are broken by the lower class id. With ``threshold``, a class
    among the top k is kept only when ``prob > threshold`` too.
    """
    p = as_probabilities(probs)
    k = _check_k(k)
    thresholds = None if threshold is None else resolve_thresholds(threshold, p.shape[1])
    return _top_k(p, k, thresholds)


def _ratio(num: float, den: float, when_zero: float) -> float:
    return num / den if den else when_zero


def _harmonic(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return float("nan")
    return 2.0 * a * b / (a + b) if a + b > 0 else 0.0


def _nanmean(values: np.ndarray) -> float:
    valid = ~np.isnan(values)
    return float(values[valid].mean()) if valid.any() else float("nan")


@dataclass(frozen=True)
class ThresholdMetrics:
    """Per-class counts and rates, and the aggregate scores, of one 0/1 prediction matrix."""

    tp: np.ndarray
    predicted: np.ndarray
    support: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    CP: float
    CR: float
    CF1: float
    OP: float
    OR: float
    OF1: float
    macro_F1: float
    hamming_loss: float
    subset_accuracy: float
    label_cardinality: float
    predicted_cardinality: float
    num_samples: int

    def summary(self) -> dict[str, float]:
        """Return the aggregate scores ``CP, CR, CF1, OP, OR, OF1, macro_F1`` as plain floats (nan kept)."""
        return {
            "CP": self.CP,
            "CR": self.CR,
            "CF1": self.CF1,
            "OP": self.OP,
            "OR": self.OR,
            "OF1": self.OF1,
            "macro_F1": self.macro_F1,
        }


def _metrics(pred: np.ndarray, truth: np.ndarray) -> ThresholdMetrics:
    tp = (pred & truth).sum(axis=0, dtype=np.int64)
    n_pred = pred.sum(axis=0, dtype=np.int64)
    n_true = truth.sum(axis=0, dtype=np.int64)
    has_pos = n_true > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(n_pred > 0, tp / np.maximum(n_pred, 1), 0.0)
        recall = np.where(has_pos, tp / np.maximum(n_true, 1), np.nan)
        f1 = np.where(has_pos, 2.0 * tp / np.maximum(n_pred + n_true, 1), np.nan)
    cp = float(precision[has_pos].mean()) if has_pos.any() else float("nan")
    cr = _nanmean(recall)
    sum_tp, sum_pred, sum_true = int(tp.sum()), int(n_pred.sum()), int(n_true.sum())
    op = _ratio(sum_tp, sum_pred, 0.0)
    o_r = _ratio(sum_tp, sum_true, float("nan"))
    return ThresholdMetrics(
        tp=tp,
        predicted=n_pred,
        support=n_true,
        precision=precision,
        recall=recall,
        f1=f1,
        CP=cp,
        CR=cr,
        CF1=_harmonic(cp, cr),
        OP=op,
        OR=o_r,
        OF1=2.0 * sum_tp / (sum_pred + sum_true) if sum_true else float("nan"),
        macro_F1=_nanmean(f1),
        hamming_loss=float((pred != truth).mean()),
        subset_accuracy=float((pred == truth).all(axis=1).mean()),
        label_cardinality=float(truth.sum(axis=1).mean()),
        predicted_cardinality=float(pred.sum(axis=1).mean()),
        num_samples=int(pred.shape[0]),
    )


def metrics_from_predictions(predictions: Any, targets: Any) -> ThresholdMetrics:
    """Return the metrics of a 0/1 prediction matrix against 0/1 targets of the same shape."""
    pred = as_targets(predictions, name="predictions")
    if pred.shape[0] == 0 or pred.shape[1] == 0:
        raise ValueError(f"predictions are empty (shape {pred.shape})")
    return _metrics(pred, as_targets(targets, pred.shape))


def threshold_metrics(probs: Any, targets: Any, threshold: ThresholdLike = 0.5) -> ThresholdMetrics:
    """Return the metrics of predicting ``probs > threshold`` (a number, per-class list or mapping)."""
    p, y = as_pair(probs, targets, probabilities=True)
    return _metrics(_binarize(p, resolve_thresholds(threshold, p.shape[1])), y)


def top_k_metrics(
    probs: Any, targets: Any, k: int = 3, threshold: ThresholdLike | None = 0.5
) -> ThresholdMetrics:
    """Return the metrics of predicting each sample's top-k classes that also pass ``threshold``.

    ``threshold=None`` predicts exactly k classes per sample (as mmpretrain's
    ``topk``); the default 0.5 follows the ML-GCN top-3 protocol.
    """
    p, y = as_pair(probs, targets, probabilities=True)
    k = _check_k(k)
    thresholds = None if threshold is None else resolve_thresholds(threshold, p.shape[1])
    return _metrics(_top_k(p, k, thresholds), y)


def hamming_loss(predictions: Any, targets: Any) -> float:
    """Return the fraction of (sample, class) cells where the 0/1 prediction differs from the target."""
    return metrics_from_predictions(predictions, targets).hamming_loss


def subset_accuracy(predictions: Any, targets: Any) -> float:
    """Return the fraction of samples whose predicted label set equals the true one (exact match)."""
    return metrics_from_predictions(predictions, targets).subset_accuracy


def label_cardinality(targets: Any) -> float:
    """Return the mean number of positive labels per sample."""
    y = as_targets(targets)
    if y.shape[0] == 0:
        raise ValueError("targets are empty: no samples")
    return float(y.sum(axis=1).mean())
