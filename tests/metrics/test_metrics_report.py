"""The evaluation report and the batch accumulator."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from mlcls_cli.metrics import (
    EVAL_SCHEMA,
    MetricAccumulator,
    evaluation_report,
    mean_average_precision,
    sigmoid,
    threshold_metrics,
    top_k_metrics,
)

SCORES = np.array([[0.9, 0.8, 0.3, 0.2], [0.1, 0.2, 0.2, 0.1], [0.7, 0.5, 0.9, 0.3], [0.8, 0.1, 0.1, 0.2]])
TARGETS = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]])
NAMES = ["cat", "dog", "bird", "fish"]


def _plain(obj) -> bool:
    """True when obj is made only of JSON-native Python types (no numpy scalars)."""
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_plain(v) for v in obj)
    return obj is None or type(obj) in (int, float, str, bool)


def test_report_layout_and_hand_values() -> None:
    report = evaluation_report(SCORES, TARGETS, label_names=NAMES)
    assert report["schema"] == EVAL_SCHEMA and report["unit"] == "fraction"
    assert report["num_samples"] == 4 and report["num_classes"] == 4
    # AP per class 1, 5/6, 1, (none) -> mAP over the 3 classes with positives = 17/18
    assert report["MultiLabelMAP"] == pytest.approx(17 / 18)
    assert report["classes_without_positives"] == ["fish"]
    assert report["num_classes_evaluated"] == 3
    assert report["input"] == "probabilities" and report["ties"] == "stable"
    assert report["ap_variant"] == "non_interpolated"
    first, last = report["per_class"][0], report["per_class"][3]
    assert list(first) == ["id", "name", "support", "ap", "precision", "recall", "f1", "threshold"]
    # class 0 at 0.5: predicted rows 0, 2, 3 (0.9, 0.7, 0.8), true rows 0, 3 -> P 2/3, R 1, F1 4/5
    assert first == {
        "id": 0,
        "name": "cat",
        "support": 2,
        "ap": 1.0,
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "threshold": 0.5,
    }
    assert last["ap"] is None and last["recall"] is None and last["f1"] is None and last["support"] == 0
    at = report["at_threshold"]
    m = threshold_metrics(SCORES, TARGETS, 0.5)
    assert at["threshold"] == 0.5
    for key in ("CP", "CR", "CF1", "OP", "OR", "OF1", "macro_F1"):
        assert at[key] == pytest.approx(getattr(m, key))
    assert report["hamming_loss"] == m.hamming_loss and report["subset_accuracy"] == m.subset_accuracy
    # 2 wrong cells out of 16 (class 0 row 2 predicted, class 1 row 1 missed) -> 1/8; rows 1 and 2 wrong
    assert report["hamming_loss"] == pytest.approx(1 / 8) and report["subset_accuracy"] == 0.5
    assert report["label_cardinality"] == pytest.approx(5 / 4)
    top = report["at_top_k"]
    mk = top_k_metrics(SCORES, TARGETS, k=3, threshold=0.5)
    assert top["k"] == 3 and top["threshold"] == 0.5
    assert top["OF1"] == pytest.approx(mk.OF1)


def test_report_is_json_serialisable_without_nan() -> None:
    targets = TARGETS.copy()
    targets[:, 1] = 0  # a second class without positives
    report = evaluation_report(SCORES, targets, label_names=NAMES, threshold=[0.5, 0.4, 0.6, 0.5])
    text = json.dumps(report, allow_nan=False)
    assert json.loads(text) == report
    assert _plain(report)


def test_no_positive_anywhere_gives_null_metrics() -> None:
    report = evaluation_report(SCORES, np.zeros_like(TARGETS), label_names=NAMES)
    assert report["MultiLabelMAP"] is None
    assert report["at_threshold"]["CP"] is None and report["at_threshold"]["OF1"] is None
    assert report["classes_without_positives"] == NAMES
    json.dumps(report, allow_nan=False)


def test_logits_are_detected_and_thresholded_after_sigmoid() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=2.0, size=(30, 5))
    targets = (rng.random((30, 5)) < 0.4).astype(int)
    report = evaluation_report(logits, targets, label_names=None)
    assert report["input"] == "logits"
    assert [c["name"] for c in report["per_class"]] == ["0", "1", "2", "3", "4"]
    expected = threshold_metrics(sigmoid(logits), targets, 0.5)
    assert report["at_threshold"]["OF1"] == pytest.approx(expected.OF1)
    assert report["MultiLabelMAP"] == pytest.approx(mean_average_precision(logits, targets))
    explicit = evaluation_report(logits, targets, label_names=None, from_logits=True)
    assert explicit == report


def test_map_is_ranked_on_probabilities_like_paddleclas() -> None:
    # float32 sigmoid saturates: 20 and 30 both give 1.0, a tie kept in input order (see test_metrics_ap).
    logits = np.array([[20.0], [30.0]], dtype=np.float32)
    report = evaluation_report(logits, [[1], [0]], label_names=["x"], from_logits=True)
    assert report["MultiLabelMAP"] == mean_average_precision(sigmoid(logits), [[1], [0]]) == 1.0


def test_probabilities_flag_refuses_logits() -> None:
    with pytest.raises(ValueError, match="apply sigmoid"):
        evaluation_report([[2.0, -1.0]], [[1, 0]], label_names=["a", "b"], from_logits=False)


def test_per_class_thresholds_and_no_top_k() -> None:
    report = evaluation_report(
        SCORES, TARGETS, label_names=NAMES, threshold={"default": 0.5, "1": 0.1}, top_k=None
    )
    assert report["at_threshold"]["threshold"] is None
    assert [c["threshold"] for c in report["per_class"]] == [0.5, 0.1, 0.5, 0.5]
    assert report["at_top_k"] is None
    # class 1 at 0.1: predicted rows 0, 1, 2 (0.8, 0.2, 0.5), true rows 0, 1 -> P 2/3, R 1
    assert report["per_class"][1]["precision"] == pytest.approx(2 / 3)
    assert report["per_class"][1]["recall"] == 1.0


def test_group_ties_reach_the_report() -> None:
    scores = np.array([[0.9], [0.5], [0.5], [0.1]])
    targets = np.array([[0], [1], [0], [1]])
    # values from test_metrics_ap: stable 1/2, group 5/12
    assert evaluation_report(scores, targets, label_names=["a"])["MultiLabelMAP"] == pytest.approx(0.5)
    grouped = evaluation_report(scores, targets, label_names=["a"], ties="group")
    assert grouped["MultiLabelMAP"] == pytest.approx(5 / 12) and grouped["ties"] == "group"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_names": ["a", "b"]}, "2 label names given for 4 classes"),
        ({"label_names": NAMES, "top_k": 0}, "k must be"),
        ({"label_names": NAMES, "threshold": 2.0}, "within"),
        ({"label_names": NAMES, "ties": "mean"}, "ties must be one of"),
    ],
)
def test_report_argument_errors(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluation_report(SCORES, TARGETS, **kwargs)


@pytest.mark.parametrize("seed", range(8))
def test_accumulator_equals_one_shot(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, c = 57, 6
    logits = np.round(rng.normal(scale=2.0, size=(n, c)), 1).astype(np.float32)  # ties on purpose
    targets = (rng.random((n, c)) < 0.3).astype(int)
    targets[:, 5] = 0  # one class without positives
    acc = MetricAccumulator(c, from_logits=True)
    bounds = [0, *sorted(rng.choice(np.arange(1, n), size=4, replace=False).tolist()), n]
    for lo, hi in itertools.pairwise(bounds):
        acc.update(logits[lo:hi], targets[lo:hi])
    assert acc.num_samples == n
    names = [f"c{i}" for i in range(c)]
    for ties in ("stable", "group"):
        one_shot = evaluation_report(
            logits, targets, label_names=names, threshold=0.4, top_k=2, from_logits=True, ties=ties
        )
        assert acc.compute(label_names=names, threshold=0.4, top_k=2, ties=ties) == one_shot
        assert acc.mean_average_precision(ties=ties) == mean_average_precision(logits, targets, ties=ties)


def test_accumulator_copies_batches_and_resets() -> None:
    acc = MetricAccumulator(2)
    scores = np.array([[0.9, 0.1], [0.2, 0.8]])
    targets = np.array([[1, 0], [0, 1]])
    acc.update(scores, targets)
    scores[:] = 0.5  # the caller reuses its buffer
    targets[:] = 0
    assert acc.mean_average_precision() == 1.0
    acc.reset()
    assert acc.num_samples == 0
    with pytest.raises(ValueError, match="no samples"):
        acc.compute()


def test_accumulator_checks_batches() -> None:
    acc = MetricAccumulator(3)
    with pytest.raises(ValueError, match="expects 3"):
        acc.update([[0.1, 0.2]], [[1, 0]])
    with pytest.raises(ValueError, match="shape"):
        acc.update([[0.1, 0.2, 0.3]], [[1, 0]])
    with pytest.raises(ValueError, match="NaN"):
        acc.update([[0.1, math.nan, 0.3]], [[1, 0, 0]])
    assert acc.num_samples == 0
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match="num_classes"):
            MetricAccumulator(bad)  # type: ignore[arg-type]
