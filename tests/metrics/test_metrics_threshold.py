"""Threshold and top-k metrics: strict `>`, hand-computed aggregates, zero-division rules, threshold forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlcls_cli.metrics import (
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

# The one-hot example of mmpretrain's MultiLabelMetric doctest (5 samples, 4 classes).
PRED = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 1, 0, 0]])
TRUE = np.array([[1, 1, 0, 0], [0, 0, 1, 0], [1, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0]])


def test_hand_computed_metrics_from_predictions() -> None:
    m = metrics_from_predictions(PRED, TRUE)
    # per class (TP, Np, Ng): c0 (1, 2, 4), c1 (1, 4, 2), c2 (1, 1, 2), c3 (0, 0, 0)
    assert m.tp.tolist() == [1, 1, 1, 0]
    assert m.predicted.tolist() == [2, 4, 1, 0]
    assert m.support.tolist() == [4, 2, 2, 0]
    # precision TP/Np: 1/2, 1/4, 1/1, and 0 for c3 (no prediction)
    np.testing.assert_allclose(m.precision, [0.5, 0.25, 1.0, 0.0])
    # recall TP/Ng: 1/4, 1/2, 1/2, nan for c3 (no positive)
    np.testing.assert_allclose(m.recall, [0.25, 0.5, 0.5, np.nan])
    # f1 = 2TP/(Np+Ng): 2/6, 2/6, 2/3, nan
    np.testing.assert_allclose(m.f1, [1 / 3, 1 / 3, 2 / 3, np.nan])
    # CP, CR, macro_F1 average the 3 classes with positives; CF1 = 2 CP CR / (CP + CR)
    cp, cr = (0.5 + 0.25 + 1.0) / 3, (0.25 + 0.5 + 0.5) / 3
    # OP = 3/7, OR = 3/8, OF1 = 2*3/(7+8)
    assert m.summary() == {
        "CP": pytest.approx(cp),
        "CR": pytest.approx(cr),
        "CF1": pytest.approx(2 * cp * cr / (cp + cr)),
        "OP": pytest.approx(3 / 7),
        "OR": pytest.approx(3 / 8),
        "OF1": pytest.approx(6 / 15),
        "macro_F1": pytest.approx((1 / 3 + 1 / 3 + 2 / 3) / 3),
    }
    # wrong cells per row: 0, 3, 2, 2, 2 -> 9/20; exact rows: only row 0 -> 1/5
    assert m.hamming_loss == pytest.approx(9 / 20)
    assert m.subset_accuracy == pytest.approx(1 / 5)
    # true labels per row 2,1,3,1,1 -> 8/5; predicted 2,2,1,1,1 -> 7/5
    assert m.label_cardinality == pytest.approx(8 / 5)
    assert m.predicted_cardinality == pytest.approx(7 / 5)
    # mmpretrain's doctest (43.75, 31.25, 33.33) averages the same per-class values over all 4 classes.
    assert np.nansum(m.precision) / 4 == pytest.approx(0.4375)
    assert np.nansum(m.recall) / 4 == pytest.approx(0.3125)
    assert np.nansum(m.f1) / 4 == pytest.approx(1 / 3)


def test_convenience_functions() -> None:
    assert hamming_loss(PRED, TRUE) == pytest.approx(9 / 20)
    assert subset_accuracy(PRED, TRUE) == pytest.approx(1 / 5)
    assert label_cardinality(TRUE) == pytest.approx(8 / 5)


def test_threshold_is_strictly_greater() -> None:
    probs = np.array([[0.5, 0.5000001, 0.4999999]])
    assert binarize(probs, 0.5).tolist() == [[False, True, False]]
    # per class: 0.5 > 0.4 yes; 0.5000001 > 0.5000001 no; 0.4999999 > 0 yes
    assert binarize(probs, [0.4, 0.5000001, 0.0]).tolist() == [[True, False, True]]
    assert binarize([[1.0]], 1.0).tolist() == [[False]]
    assert binarize([[0.0]], 0.0).tolist() == [[False]]


def test_threshold_is_compared_in_the_probabilities_dtype() -> None:
    # float32(0.3) is slightly above 0.3 in float64; compared in float32 (as PaddleX does with a
    # Python float) the values are equal, so the strict rule rejects it.
    probs = np.array([[0.3]], dtype=np.float32)
    assert float(probs[0, 0]) > 0.3
    assert binarize(probs, 0.3).tolist() == [[False]]
    assert binarize(probs.astype(np.float64), 0.3).tolist() == [[True]]


def test_threshold_metrics_uses_the_strict_rule() -> None:
    probs = [[0.5, 0.7], [0.6, 0.5]]
    targets = [[1, 1], [1, 0]]
    m = threshold_metrics(probs, targets, 0.5)
    # predicted: row0 -> class 1 only (0.5 is not > 0.5); row1 -> class 0 only
    assert m.tp.tolist() == [1, 1] and m.predicted.tolist() == [1, 1]
    assert m.recall.tolist() == [0.5, 1.0]
    assert m.subset_accuracy == 0.5  # row 1 exact, row 0 misses class 0


def test_per_class_threshold_forms_give_the_same_metrics() -> None:
    rng = np.random.default_rng(3)
    probs = rng.random((40, 3))
    targets = (rng.random((40, 3)) < 0.4).astype(int)
    as_list = threshold_metrics(probs, targets, [0.2, 0.5, 0.8])
    as_paddlex = threshold_metrics(probs, targets, {"default": 0.5, 0: 0.2, "2": 0.8})
    as_document = threshold_metrics(probs, targets, {"default": 0.5, "per_class": {"0": 0.2, "2": 0.8}})
    for other in (as_paddlex, as_document):
        assert other.summary() == as_list.summary()
        assert other.tp.tolist() == as_list.tp.tolist()


@pytest.mark.parametrize("seed", range(15))
def test_aggregates_match_explicit_loops(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 25)), int(rng.integers(1, 6))
    probs = np.round(rng.random((n, c)), 1)
    targets = (rng.random((n, c)) < 0.35).astype(int)
    m = threshold_metrics(probs, targets, 0.5)
    tp = [sum(1 for i in range(n) if probs[i, k] > 0.5 and targets[i, k]) for k in range(c)]
    npred = [sum(1 for i in range(n) if probs[i, k] > 0.5) for k in range(c)]
    ng = [int(targets[:, k].sum()) for k in range(c)]
    evaluated = [k for k in range(c) if ng[k] > 0]
    prec = [tp[k] / npred[k] if npred[k] else 0.0 for k in evaluated]
    rec = [tp[k] / ng[k] for k in evaluated]
    got = m.summary()
    if evaluated:
        assert got["CP"] == pytest.approx(sum(prec) / len(prec))
        assert got["CR"] == pytest.approx(sum(rec) / len(rec))
    else:
        assert math.isnan(got["CP"]) and math.isnan(got["CR"])
    assert got["OP"] == pytest.approx(sum(tp) / sum(npred) if sum(npred) else 0.0)
    wrong = sum(1 for i in range(n) for k in range(c) if (probs[i, k] > 0.5) != bool(targets[i, k]))
    assert m.hamming_loss == pytest.approx(wrong / (n * c))


def test_zero_division_class_with_positives_but_no_prediction_counts_as_zero() -> None:
    # class 0 predicted perfectly; class 1 has a positive and no prediction -> precision 0, recall 0
    m = metrics_from_predictions([[1, 0], [0, 0]], [[1, 1], [0, 0]])
    assert m.precision.tolist() == [1.0, 0.0]
    assert m.recall.tolist() == [1.0, 0.0]
    assert m.f1.tolist() == [1.0, 0.0]
    assert m.CP == 0.5 and m.CR == 0.5 and m.CF1 == 0.5
    assert m.macro_F1 == 0.5


def test_zero_division_class_without_positives_is_outside_macro_but_inside_micro() -> None:
    # class 1 has no positive but one false positive
    m = metrics_from_predictions([[1, 1], [0, 0]], [[1, 0], [0, 0]])
    assert m.precision.tolist() == [1.0, 0.0]
    assert math.isnan(m.recall[1]) and math.isnan(m.f1[1])
    assert m.CP == 1.0 and m.CR == 1.0 and m.CF1 == 1.0  # macro: class 0 only
    assert m.OP == 0.5 and m.OR == 1.0  # micro: the false positive of class 1 counts
    assert m.summary()["OF1"] == pytest.approx(2 / 3)


def test_zero_division_nothing_predicted_and_nothing_true() -> None:
    nothing_predicted = metrics_from_predictions([[0, 0]], [[1, 0]])
    assert nothing_predicted.OP == 0.0 and nothing_predicted.OR == 0.0 and nothing_predicted.OF1 == 0.0
    assert nothing_predicted.CP == 0.0 and nothing_predicted.CF1 == 0.0
    nothing_true = metrics_from_predictions([[1, 0]], [[0, 0]])
    for value in (nothing_true.CP, nothing_true.CR, nothing_true.CF1, nothing_true.OR, nothing_true.OF1):
        assert math.isnan(value)
    assert nothing_true.OP == 0.0
    assert nothing_true.hamming_loss == 0.5 and nothing_true.subset_accuracy == 0.0


def test_top_k_mask_and_tie_break() -> None:
    probs = np.array([[0.9, 0.8, 0.7, 0.6], [0.5, 0.7, 0.7, 0.1]])
    assert top_k_mask(probs, 2).tolist() == [[True, True, False, False], [False, True, True, False]]
    # equal scores 0.7 / 0.7: the lower class id wins
    assert top_k_mask(probs, 1).tolist() == [[True, False, False, False], [False, True, False, False]]
    # with a threshold, the top-k must also pass it (strictly)
    assert top_k_mask(probs, 2, 0.8).tolist() == [[True, False, False, False], [False, False, False, False]]
    # k above the number of classes keeps every class
    assert top_k_mask(probs, 10).all()


def test_top_k_metrics_hand_computed() -> None:
    probs = np.array([[0.9, 0.8, 0.3], [0.2, 0.6, 0.7]])
    targets = np.array([[1, 0, 1], [0, 1, 1]])
    # top-1 without threshold: row0 -> c0 (correct), row1 -> c2 (correct): TP 2, Np 2, Ng 4
    m = top_k_metrics(probs, targets, k=1, threshold=None)
    assert (m.OP, m.OR) == (1.0, 0.5)
    # top-2 with 0.5: row0 -> c0, c1 (c1 wrong); row1 -> c2, c1 (both right): TP 3, Np 4, Ng 4
    m2 = top_k_metrics(probs, targets, k=2, threshold=0.5)
    assert (m2.OP, m2.OR) == (0.75, 0.75)
    assert m2.predicted_cardinality == 2.0
    # top-2 with a high threshold keeps only 0.9 and 0.8 of row 0
    m3 = top_k_metrics(probs, targets, k=2, threshold=0.75)
    assert m3.predicted.tolist() == [1, 1, 0]


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "2"])
def test_invalid_k(k) -> None:
    with pytest.raises(ValueError, match="k must be a positive integer"):
        top_k_metrics([[0.1, 0.2]], [[0, 1]], k=k)


def test_threshold_metrics_refuse_logits() -> None:
    with pytest.raises(ValueError, match="apply sigmoid"):
        threshold_metrics([[2.5, -1.0]], [[1, 0]])


def test_resolve_threshold_forms() -> None:
    assert resolve_thresholds(0.3, 3).tolist() == [0.3, 0.3, 0.3]
    assert resolve_thresholds(1, 2).tolist() == [1.0, 1.0]
    assert resolve_thresholds(np.float32(0.25), 2).tolist() == [0.25, 0.25]
    assert resolve_thresholds([0.1, 0.2], 2).tolist() == [0.1, 0.2]
    assert resolve_thresholds(np.array([0.1, 0.2]), 2).tolist() == [0.1, 0.2]
    assert resolve_thresholds({"default": 0.5, 1: 0.7, "2": 0.1}, 3).tolist() == [0.5, 0.7, 0.1]
    assert resolve_thresholds({"default": 0.4, "per_class": {"0": 0.9}, "metric": "f1"}, 2).tolist() == [
        0.9,
        0.4,
    ]


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        ({"1": 0.7}, "default"),
        ({"default": None}, "default"),
        ({"default": 0.5, "x": 0.7}, "invalid class key"),
        ({"default": 0.5, 3: 0.7}, "out of range"),
        ({"default": 0.5, True: 0.7}, "invalid class key"),
        ({"default": 0.5, "per_class": [0.1]}, "per_class"),
        ({"default": 1.5}, "within"),
        ({"default": 0.5, 0: "0.7"}, "number"),
        ([0.1, 0.2, 0.3], "2 values"),
        ([0.1, -0.2], "within"),
        (float("nan"), "within"),
        (True, "unsupported"),
        ("0.5", "unsupported"),
        (None, "unsupported"),
    ],
)
def test_resolve_threshold_errors(threshold, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_thresholds(threshold, 2)


def test_sigmoid_is_stable_and_keeps_float_dtype() -> None:
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over="raise", under="ignore"):
        y = sigmoid(x)
    assert y[2] == 0.5 and y[0] == 0.0 and y[-1] == 1.0
    np.testing.assert_allclose(sigmoid(-x), 1.0 - y, atol=1e-15)
    assert sigmoid(x.astype(np.float32)).dtype == np.float32
    assert sigmoid([0, 1]).dtype == np.float64
    assert sigmoid(np.array([[0.0, 2.0]])).shape == (1, 2)
    assert sigmoid(np.log(3.0)) == pytest.approx(0.75)


def test_prediction_matrix_must_be_binary() -> None:
    with pytest.raises(ValueError, match="predictions must be binary"):
        metrics_from_predictions([[0.7, 0.0]], [[1, 0]])
