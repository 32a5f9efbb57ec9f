"""Multi-label classification metrics, numpy only (no paddle, no scikit-learn).

- :mod:`.ap`: per-class average precision and mAP, PaddleClas/PaddleX
  ``MultiLabelMAP`` (``integral``, non-interpolated); classes without
  positives are left out of the mean; ties ``"stable"`` (PaddleClas) or
  ``"group"`` (scikit-learn).
- :mod:`.threshold`: predictions at a threshold (strict ``prob > t``, global
  or per class) or at top-k, per-class precision/recall/F1/support, CP, CR,
  CF1, OP, OR, OF1, hamming loss, subset accuracy, label cardinality, and
  :func:`sigmoid`; the zero-division rules are spelled out there.
- :mod:`.tuning`: per-class thresholds maximising F1, ``thresholds.json`` read
  and write, and conversion to PaddleX's ``{"default": x, id: y}`` form.
- :mod:`.report`: the ``mlcls eval`` report and :class:`MetricAccumulator` for
  batch-by-batch evaluation.

Every metric is a fraction in [0, 1] (multiply by 100 only for display).
"""

from __future__ import annotations

from mlcls_cli.metrics.ap import (
    TIES_MODES,
    Ties,
    average_precision,
    average_precision_per_class,
    mean_average_precision,
)
from mlcls_cli.metrics.report import EVAL_SCHEMA, MetricAccumulator, evaluation_report
from mlcls_cli.metrics.threshold import (
    ThresholdLike,
    ThresholdMetrics,
    binarize,
    hamming_loss,
    label_cardinality,
    metrics_from_predictions,
    resolve_thresholds,
    sigmoid,
    subset_accuracy,
    threshold_metrics,
    top_k_mask,
    top_k_metrics,
)
from mlcls_cli.metrics.tuning import (
    DEFAULT_THRESHOLD,
    THRESHOLDS_SCHEMA,
    load_thresholds,
    save_thresholds,
    thresholds_document,
    thresholds_to_paddlex,
    tune_thresholds,
    validate_thresholds,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "EVAL_SCHEMA",
    "THRESHOLDS_SCHEMA",
    "TIES_MODES",
    "MetricAccumulator",
    "ThresholdLike",
    "ThresholdMetrics",
    "Ties",
    "average_precision",
    "average_precision_per_class",
    "binarize",
    "evaluation_report",
    "hamming_loss",
    "label_cardinality",
    "load_thresholds",
    "mean_average_precision",
    "metrics_from_predictions",
    "resolve_thresholds",
    "save_thresholds",
    "sigmoid",
    "subset_accuracy",
    "threshold_metrics",
    "thresholds_document",
    "thresholds_to_paddlex",
    "top_k_mask",
    "top_k_metrics",
    "tune_thresholds",
    "validate_thresholds",
]
