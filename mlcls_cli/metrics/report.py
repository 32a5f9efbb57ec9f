"""The evaluation report behind ``mlcls eval``, one-shot or fed batch by batch.

The report is JSON-ready (plain ints, floats, strings, lists; ``None`` where a
value is undefined, never nan), every rate a fraction in [0, 1]::

    {"schema": "mlcls.eval/1", "unit": "fraction", "num_samples": N, "num_classes": C,
     "MultiLabelMAP": 0.78, "ap_variant": "non_interpolated", "ties": "stable",
     "input": "logits" | "probabilities",
     "at_threshold": {"threshold": 0.5, "CP", "CR", "CF1", "OP", "OR", "OF1", "macro_F1",
                      "predicted_cardinality"},
     "at_top_k": {"k": 3, "threshold": 0.5, ...same keys...},
     "hamming_loss", "subset_accuracy", "label_cardinality",
     "num_classes_evaluated": C - len(classes_without_positives),
     "classes_without_positives": [names],
     "per_class": [{"id", "name", "support", "ap", "precision", "recall", "f1", "threshold"}, ...]}

``threshold`` inside ``at_threshold``/``at_top_k`` is the common value, or
``None`` when classes have different thresholds (each ``per_class`` entry
carries its own). ``hamming_loss`` and ``subset_accuracy`` are measured at the
threshold. ``MultiLabelMAP`` is PaddleX's metric (see :mod:`.ap`), computed on
the probabilities; the other definitions are in :mod:`.threshold`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlcls_cli.metrics._validate import as_pair, as_probabilities, as_scores, as_targets
from mlcls_cli.metrics.ap import Ties, _ap_matrix, average_precision_per_class, mean_of_valid
from mlcls_cli.metrics.threshold import (
    ThresholdLike,
    ThresholdMetrics,
    _binarize,
    _check_k,
    _metrics,
    _top_k,
    resolve_thresholds,
    sigmoid,
)

EVAL_SCHEMA = "mlcls.eval/1"


def _num(value: float) -> float | None:
    """A plain float, or None for nan."""
    v = float(value)
    return None if math.isnan(v) else v


def _common(thresholds: np.ndarray) -> float | None:
    return float(thresholds[0]) if np.all(thresholds == thresholds[0]) else None


def _aggregate(m: ThresholdMetrics) -> dict[str, float | None]:
    out = {key: _num(value) for key, value in m.summary().items()}
    out["predicted_cardinality"] = m.predicted_cardinality
    return out


def _label_names(label_names: Sequence[str] | None, num_classes: int) -> list[str]:
    if label_names is None:
        return [str(i) for i in range(num_classes)]
    names = [str(n) for n in label_names]
    if len(names) != num_classes:
        raise ValueError(f"{len(names)} label names given for {num_classes} classes")
    return names


def _is_logits(scores: np.ndarray, from_logits: bool | None) -> bool:
    if from_logits is None:
        return bool(scores.min() < 0 or scores.max() > 1)
    return bool(from_logits)


def evaluation_report(
    scores_or_probs: Any,
    targets: Any,
    *,
    label_names: Sequence[str] | None,
    threshold: ThresholdLike = 0.5,
    top_k: int | None = 3,
    from_logits: bool | None = None,
    ties: Ties = "stable",
) -> dict[str, Any]:
    """Return the full evaluation report (layout in the module docstring) for one split.

    ``scores_or_probs`` (num_samples, num_classes) are logits when
    ``from_logits`` is True, probabilities when False; ``None`` guesses: any
    value outside [0, 1] means logits (pass it explicitly when you know).
    ``label_names`` may be None (names become the ids). ``threshold`` is a
    number, a per-class list or a mapping (see ``resolve_thresholds``);
    ``top_k=None`` leaves ``at_top_k`` out (None). Raises ValueError on bad input.
    """
    scores, truth = as_pair(scores_or_probs, targets)
    logits = _is_logits(scores, from_logits)
    probs = sigmoid(scores) if logits else as_probabilities(scores)
    num_samples, num_classes = probs.shape
    names = _label_names(label_names, num_classes)
    thresholds = resolve_thresholds(threshold, num_classes)
    k = None if top_k is None else _check_k(top_k)

    ap = _ap_matrix(probs, truth, ties)
    at_thr = _metrics(_binarize(probs, thresholds), truth)
    at_top_k: dict[str, Any] | None = None
    if k is not None:
        at_top_k = {
            "k": k,
            "threshold": _common(thresholds),
            **_aggregate(_metrics(_top_k(probs, k, thresholds), truth)),
        }
    missing = [i for i in range(num_classes) if at_thr.support[i] == 0]
    per_class = [
        {
            "id": i,
            "name": names[i],
            "support": int(at_thr.support[i]),
            "ap": _num(ap[i]),
            "precision": _num(at_thr.precision[i]),
            "recall": _num(at_thr.recall[i]),
            "f1": _num(at_thr.f1[i]),
            "threshold": float(thresholds[i]),
        }
        for i in range(num_classes)
    ]
    return {
        "schema": EVAL_SCHEMA,
        "unit": "fraction",
        "num_samples": int(num_samples),
        "num_classes": int(num_classes),
        "MultiLabelMAP": _num(mean_of_valid(ap)),
        "ap_variant": "non_interpolated",
        "ties": ties,
        "input": "logits" if logits else "probabilities",
        "at_threshold": {"threshold": _common(thresholds), **_aggregate(at_thr)},
        "at_top_k": at_top_k,
        "hamming_loss": at_thr.hamming_loss,
        "subset_accuracy": at_thr.subset_accuracy,
        "label_cardinality": at_thr.label_cardinality,
        "num_classes_evaluated": num_classes - len(missing),
        "classes_without_positives": [names[i] for i in missing],
        "per_class": per_class,
    }


class MetricAccumulator:
    """Collect (scores, targets) batch by batch, then compute what the one-shot functions give on the whole set.

    Scores are kept in memory (num_samples x num_classes, in their dtype) because
    AP needs the full ranking; batches are concatenated in the order received,
    which is the order ties keep with ``ties="stable"``.
    """

    def __init__(self, num_classes: int, *, from_logits: bool | None = None) -> None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.from_logits = from_logits
        self.reset()

    def reset(self) -> None:
        """Forget every batch received so far."""
        self._scores: list[np.ndarray] = []
        self._targets: list[np.ndarray] = []
        self._count = 0

    @property
    def num_samples(self) -> int:
        """Number of samples received so far."""
        return self._count

    def update(self, scores: Any, targets: Any) -> None:
        """Add one batch: ``scores`` (logits or probabilities) and 0/1 ``targets``, shape (batch, num_classes)."""
        s = as_scores(scores)
        if s.shape[1] != self.num_classes:
            raise ValueError(
                f"batch scores have {s.shape[1]} classes, the accumulator expects {self.num_classes}"
            )
        y = as_targets(targets, s.shape)
        self._scores.append(np.array(s, copy=True))
        self._targets.append(np.array(y, copy=True))
        self._count += s.shape[0]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Return every (scores, targets) row received, concatenated in order."""
        if not self._count:
            raise ValueError("no samples have been added to the accumulator")
        return np.concatenate(self._scores, axis=0), np.concatenate(self._targets, axis=0)

    def average_precision_per_class(self, *, ties: Ties = "stable") -> np.ndarray:
        """Return the AP of each class over all batches (nan for classes without positives)."""
        return average_precision_per_class(*self.arrays(), ties=ties)

    def mean_average_precision(self, *, ties: Ties = "stable") -> float:
        """Return mAP over all batches (nan when no class has a positive)."""
        return mean_of_valid(self.average_precision_per_class(ties=ties))

    def compute(
        self,
        *,
        label_names: Sequence[str] | None = None,
        threshold: ThresholdLike = 0.5,
        top_k: int | None = 3,
        ties: Ties = "stable",
    ) -> dict[str, Any]:
        """Return :func:`evaluation_report` over all batches."""
        scores, targets = self.arrays()
        return evaluation_report(
            scores,
            targets,
            label_names=label_names,
            threshold=threshold,
            top_k=top_k,
            from_logits=self.from_logits,
            ties=ties,
        )
