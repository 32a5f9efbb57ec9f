"""Single-label metrics against hand-computed cases and a brute-force check."""

from __future__ import annotations

import numpy as np
import pytest

from mlcls_cli.metrics.single_label import (
    classification_report,
    confusion_matrix,
    most_confused,
    per_class_metrics,
    softmax,
    top_k_accuracy,
    top_k_indices,
)

SCORES = np.array(
    [
        [0.7, 0.2, 0.1],  # true 0, top1 0
        [0.1, 0.3, 0.6],  # true 1, top1 2, top2 {2, 1}
        [0.2, 0.5, 0.3],  # true 2, top1 1, top2 {1, 2}
        [0.1, 0.1, 0.8],  # true 2, top1 2
    ]
)
LABELS = np.array([0, 1, 2, 2])


def test_top_k_by_hand() -> None:
    assert top_k_accuracy(SCORES, LABELS, 1) == 0.5
    assert top_k_accuracy(SCORES, LABELS, 2) == 1.0
    assert top_k_accuracy(SCORES, LABELS, 5) == 1.0  # fewer classes than k: 1.0, as PaddleClas
    assert np.isnan(top_k_accuracy(np.zeros((0, 3)), np.zeros(0), 1))


def test_ties_go_to_the_lower_class_id() -> None:
    tied = np.array([[0.5, 0.5, 0.0]])
    assert top_k_indices(tied, 2).tolist() == [[0, 1]]
    assert top_k_accuracy(tied, np.array([1]), 1) == 0.0


def test_brute_force_agreement() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((200, 7))
    labels = rng.integers(0, 7, 200)
    for k in (1, 3, 5):
        expected = np.mean([labels[i] in np.argsort(-scores[i])[:k] for i in range(200)])
        assert top_k_accuracy(scores, labels, k) == pytest.approx(expected)


def test_confusion_and_per_class() -> None:
    matrix = confusion_matrix(np.array([0, 2, 1, 2]), LABELS, 3)
    assert matrix.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    per = per_class_metrics(matrix)
    assert per["precision"].tolist() == [1.0, 0.0, 0.5]
    assert per["recall"].tolist() == [1.0, 0.0, 0.5]
    assert per["f1"].tolist() == [1.0, 0.0, 0.5]
    assert per["support"].tolist() == [1, 1, 2]
    pairs = most_confused(matrix, ["a", "b", "c"])
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [("b", "c", 1), ("c", "b", 1)]
    assert pairs[1]["share_of_true"] == 0.5


def test_report_and_classes_without_samples() -> None:
    scores = np.vstack([SCORES, [[0.0, 0.0, 1.0]]])[:, :3]
    report = classification_report(
        np.hstack([scores, np.zeros((5, 1))]), np.array([0, 1, 2, 2, 2]), list("abcd"), top_k=2
    )
    assert report["top1"] == pytest.approx(0.6) and report["top2"] == 1.0 and report["samples"] == 5
    assert report["classes_without_samples"] == ["d"]
    assert report["macro"]["recall"] == pytest.approx((1.0 + 0.0 + 2 / 3) / 3)  # d (no samples) left out
    assert report["confusion_matrix"][2] == [0, 1, 2, 0]
    with pytest.raises(ValueError, match="class ids"):
        classification_report(SCORES, np.array([0, 1, 2, 3]), list("abc"))


def test_softmax_is_stable() -> None:
    probs = softmax(np.array([[1000.0, 0.0], [0.0, 0.0]]))
    assert probs[0].tolist() == [1.0, 0.0] and probs[1].tolist() == [0.5, 0.5]
