"""Single-label classification metrics, numpy only: top-k accuracy, confusion matrix, per-class P/R/F1.

``top_k_accuracy`` counts an image as right when its true class is among the ``k``
highest scores (ties broken by the lower class id, deterministically); with fewer than
``k`` classes it is 1.0, as PaddleClas's ``TopkAcc`` reports it. The confusion matrix
has true classes as rows and predicted (top-1) classes as columns. Precision, recall
and F1 of a class with nothing to measure are 0 (and the class is listed in the
report). Every value is a fraction in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "classification_report",
    "confusion_matrix",
    "most_confused",
    "per_class_metrics",
    "softmax",
    "top_k_accuracy",
    "top_k_indices",
]


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if scores.ndim != 2:
        raise ValueError(f"scores must be [N, C], got shape {scores.shape}")
    if scores.shape[0] != labels.shape[0]:
        raise ValueError(f"{scores.shape[0]} score rows but {labels.shape[0]} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(f"labels must be class ids in 0..{scores.shape[1] - 1}")
    return scores, labels


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed stably in float64."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` highest-scoring class ids per row, best first (ties: lower id first)."""
    scores = np.asarray(scores)
    k = min(int(k), scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")
    return order[:, :k]


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """The share of rows whose true class is among the ``k`` best; 1.0 when there are fewer than ``k`` classes."""
    scores, labels = _check(scores, labels)
    if labels.size == 0:
        return float("nan")
    if scores.shape[1] < k:
        return 1.0
    hits = (top_k_indices(scores, k) == labels[:, None]).any(axis=1)
    return float(hits.mean())


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[true class, predicted class]`` (int64, ``num_classes`` x ``num_classes``)."""
    predicted = np.asarray(predicted).astype(np.int64).reshape(-1)
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class_metrics(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix (0 where undefined)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def most_confused(matrix: np.ndarray, names: Sequence[str], top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` off-diagonal cells, largest first: which true class was taken for which, how often."""
    matrix = np.asarray(matrix)
    support = matrix.sum(axis=1)
    pairs = [
        (int(matrix[t, p]), t, p)
        for t in range(matrix.shape[0])
        for p in range(matrix.shape[1])
        if t != p and matrix[t, p] > 0
    ]
    pairs.sort(key=lambda item: (-item[0], item[1], item[2]))
    return [
        {
            "true": names[t],
            "predicted": names[p],
            "count": count,
            "share_of_true": round(count / support[t], 6) if support[t] else None,
        }
        for count, t, p in pairs[:top]
    ]


def classification_report(
    scores: np.ndarray, labels: np.ndarray, names: Sequence[str], *, top_k: int = 5
) -> dict[str, Any]:
    """Top-1 and top-k accuracy, per-class precision/recall/F1/support (top-1 predictions), their
    macro and support-weighted means, the confusion matrix and the most confused pairs."""
    scores, labels = _check(scores, labels)
    num_classes = scores.shape[1]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} names for {num_classes} classes")
    predicted = top_k_indices(scores, 1)[:, 0] if labels.size else np.zeros(0, dtype=np.int64)
    matrix = confusion_matrix(predicted, labels, num_classes)
    per = per_class_metrics(matrix)
    support = per["support"]
    present = support > 0
    weights = support / support.sum() if support.sum() else np.zeros_like(support, dtype=float)

    def mean(values: np.ndarray) -> float | None:
        return float(values[present].mean()) if present.any() else None

    return {
        "top1": top_k_accuracy(scores, labels, 1),
        f"top{top_k}": top_k_accuracy(scores, labels, top_k),
        "k": top_k,
        "samples": int(labels.size),
        "per_class": [
            {
                "id": i,
                "name": names[i],
                "precision": float(per["precision"][i]),
                "recall": float(per["recall"][i]),
                "f1": float(per["f1"][i]),
                "support": int(support[i]),
            }
            for i in range(num_classes)
        ],
        "macro": {key: mean(per[key]) for key in ("precision", "recall", "f1")},
        "weighted": {key: float((per[key] * weights).sum()) for key in ("precision", "recall", "f1")},
        "classes_without_samples": [names[i] for i in range(num_classes) if not present[i]],
        "confusion_matrix": matrix.tolist(),
        "most_confused": most_confused(matrix, names),
    }
