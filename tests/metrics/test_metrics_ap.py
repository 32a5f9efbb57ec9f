"""Average precision and mAP: hand-computed cases, ties, missing classes, brute force, invariances."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from mlcls_cli.metrics import (
    average_precision,
    average_precision_per_class,
    mean_average_precision,
    sigmoid,
)


def test_hand_computed_single_class() -> None:
    # Ranking (score desc): 0.9 P, 0.8 N, 0.7 P, 0.6 N, 0.5 P.
    # Precision at the positives' ranks: 1/1, 2/3, 3/5 -> AP = (1 + 2/3 + 3/5) / 3 = 34/45.
    ap = average_precision([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 1])
    assert ap == pytest.approx(34 / 45, abs=1e-12)


def test_order_of_rows_does_not_matter_without_ties() -> None:
    # Same data as above, rows shuffled: AP depends on the ranking only.
    ap = average_precision([0.6, 0.5, 0.9, 0.7, 0.8], [0, 1, 1, 1, 0])
    assert ap == pytest.approx(34 / 45, abs=1e-12)


def test_scikit_learn_documentation_example() -> None:
    # y=[0,0,1,1], s=[0.1,0.4,0.35,0.8]: ranking 0.8 P, 0.4 N, 0.35 P, 0.1 N
    # -> precisions 1/1 and 2/3 -> AP = 5/6 (scikit-learn's documented 0.83).
    assert average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(5 / 6, abs=1e-12)


MM_SCORES = np.array([[0.9, 0.8, 0.3, 0.2], [0.1, 0.2, 0.2, 0.1], [0.7, 0.5, 0.9, 0.3], [0.8, 0.1, 0.1, 0.2]])
MM_TARGETS = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0]])


def test_mmpretrain_anchor_and_class_without_positive_is_excluded() -> None:
    # class 0: 0.9 P, 0.8 P -> AP 1
    # class 1: 0.8 P, 0.5 N, 0.2 P -> (1 + 2/3)/2 = 5/6
    # class 2: 0.9 P first -> AP 1
    # class 3: no positive -> nan, left out of the mean
    ap = average_precision_per_class(MM_SCORES, MM_TARGETS)
    assert ap[:3] == pytest.approx([1.0, 5 / 6, 1.0], abs=1e-12)
    assert math.isnan(ap[3])
    assert mean_average_precision(MM_SCORES, MM_TARGETS) == pytest.approx((1 + 5 / 6 + 1) / 3, abs=1e-12)
    # mmpretrain's doctest reports 70.833: it counts class 3 as AP 0 and averages over 4 classes.
    assert np.nansum(ap) / 4 * 100 == pytest.approx(70.8333, abs=1e-3)


def test_all_correct_is_one_and_reversed_ranking() -> None:
    targets = np.array([[1], [1], [0], [0], [0]])
    assert mean_average_precision([[5.0], [4.0], [3.0], [2.0], [1.0]], targets) == 1.0
    # Reversed: the 2 positives are ranked 4th and 5th -> (1/4 + 2/5) / 2 = 13/40.
    assert mean_average_precision([[1.0], [2.0], [3.0], [4.0], [5.0]], targets) == pytest.approx(13 / 40)


def test_ties_stable_and_group_differ_and_match_hand_values() -> None:
    scores = [0.9, 0.5, 0.5, 0.1]
    # stable: tied rows keep input order -> 0.9 N, 0.5 P (row 1), 0.5 N (row 2), 0.1 P
    #   precisions 1/2 and 2/4 -> AP = 1/2
    assert average_precision(scores, [0, 1, 0, 1]) == pytest.approx(0.5)
    # swap the tied rows: 0.9 N, 0.5 N, 0.5 P, 0.1 P -> 1/3 and 2/4 -> 5/12
    assert average_precision(scores, [0, 0, 1, 1]) == pytest.approx(5 / 12)
    # group (scikit-learn): the 0.5 pair is one step reaching rank 3 with 1 hit -> precision 1/3 for its
    #   positive, then 2/4 -> AP = 5/12 whichever row holds the positive.
    assert average_precision(scores, [0, 1, 0, 1], ties="group") == pytest.approx(5 / 12)
    assert average_precision(scores, [0, 0, 1, 1], ties="group") == pytest.approx(5 / 12)


def test_ties_all_equal_scores() -> None:
    # Every score equal: group mode gives the positive rate (one step, precision 2/4);
    # stable mode ranks in input order: positives at ranks 1 and 3 -> (1 + 2/3)/2 = 5/6.
    scores, targets = [0.3, 0.3, 0.3, 0.3], [1, 0, 1, 0]
    assert average_precision(scores, targets, ties="group") == pytest.approx(0.5)
    assert average_precision(scores, targets) == pytest.approx(5 / 6)


def test_no_positive_anywhere_gives_nan() -> None:
    assert math.isnan(mean_average_precision([[0.2, 0.9], [0.1, 0.4]], [[0, 0], [0, 0]]))
    assert np.isnan(average_precision_per_class([[0.2, 0.9], [0.1, 0.4]], [[0, 0], [0, 0]])).all()


def test_class_with_only_positives_is_one() -> None:
    assert mean_average_precision([[0.1], [0.7]], [[1], [1]]) == 1.0


def _brute_force_ap(scores: np.ndarray, targets: np.ndarray, ties: str) -> float:
    """AP from its definition with explicit loops, no sorting.

    stable: rank of row i = rows with a higher score + tied rows at or before i.
    group: rank of row i = rows with a score >= s_i (the whole tie group counts).
    AP = mean over positives of (positives ranked at or above) / rank.
    """
    n = len(scores)
    positives = [i for i in range(n) if targets[i] == 1]
    if not positives:
        return float("nan")

    def above(i: int, j: int) -> bool:  # is row j ranked at or above row i?
        if ties == "group":
            return scores[j] >= scores[i]
        return scores[j] > scores[i] or (scores[j] == scores[i] and j <= i)

    total = 0.0
    for i in positives:
        rank = sum(1 for j in range(n) if above(i, j))
        hits = sum(1 for j in positives if above(i, j))
        total += hits / rank
    return total / len(positives)


def _delta_recall_ap(scores: np.ndarray, targets: np.ndarray) -> float:
    """AP = sum_n (R_n - R_(n-1)) * P_n over the stable descending ranking, written out step by step."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # Python's sort is stable
    n_pos = int(sum(targets))
    tp, prev_recall, ap = 0, 0.0, 0.0
    for rank, i in enumerate(order, start=1):
        tp += int(targets[i])
        recall = tp / n_pos
        ap += (recall - prev_recall) * (tp / rank)
        prev_recall = recall
    return ap


@pytest.mark.parametrize("seed", range(40))
def test_agrees_with_brute_force_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(1, 30)), int(rng.integers(1, 6))
    # Rounded scores create many ties; sparse targets leave some classes without positives.
    scores = np.round(rng.random((n, c)), int(rng.integers(1, 3)))
    targets = (rng.random((n, c)) < rng.uniform(0.05, 0.6)).astype(int)
    for ties in ("stable", "group"):
        got = average_precision_per_class(scores, targets, ties=ties)
        want = np.array([_brute_force_ap(scores[:, k], targets[:, k], ties) for k in range(c)])
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    for k in range(c):
        if targets[:, k].any():
            stable = average_precision(scores[:, k], targets[:, k])
            assert stable == pytest.approx(_delta_recall_ap(scores[:, k], targets[:, k]), abs=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_without_ties_both_modes_agree(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    scores = rng.normal(size=(50, 7))
    targets = (rng.random((50, 7)) < 0.3).astype(int)
    assert mean_average_precision(scores, targets) == pytest.approx(
        mean_average_precision(scores, targets, ties="group"), abs=1e-12
    )


@pytest.mark.parametrize("seed", range(10))
def test_invariant_to_monotone_transforms(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    logits = rng.normal(scale=3.0, size=(60, 5))
    targets = (rng.random((60, 5)) < 0.4).astype(int)
    expected = mean_average_precision(logits, targets)
    assert mean_average_precision(sigmoid(logits), targets) == pytest.approx(expected, abs=1e-12)
    assert mean_average_precision(3.0 * logits + 1.0, targets) == pytest.approx(expected, abs=1e-12)
    assert mean_average_precision(logits.astype(np.float32), targets) == pytest.approx(expected, abs=1e-12)


def test_float32_sigmoid_saturation_creates_ties() -> None:
    # Logits 20 (positive, row 0) and 30 (negative, row 1): ranked on logits the negative comes first
    # (AP 1/2); in float32 both sigmoids are exactly 1.0, a tie kept in input order (AP 1).
    logits = np.array([[20.0], [30.0]], dtype=np.float32)
    targets = [[1], [0]]
    assert mean_average_precision(logits, targets) == pytest.approx(0.5)
    probs = sigmoid(logits)
    assert probs.dtype == np.float32 and probs[0, 0] == probs[1, 0] == 1.0
    assert mean_average_precision(probs, targets) == 1.0


def test_integer_and_boolean_inputs() -> None:
    # Ranking 3 P, 2 N, 1 P -> (1/1 + 2/3) / 2 = 5/6.
    assert mean_average_precision([[3], [1], [2]], np.array([[True], [True], [False]])) == pytest.approx(
        5 / 6
    )
    assert mean_average_precision([[3], [1], [2]], [[1.0], [1.0], [0.0]]) == pytest.approx(5 / 6)


@pytest.mark.parametrize(
    ("scores", "targets", "message"),
    [
        ([[0.1, 0.2]], [[1, 0], [0, 1]], "shape"),
        ([[0.1, 0.2]], [[1, 2]], "binary"),
        ([[0.1, 0.2]], [[1, -1]], "binary"),
        ([[0.1, 0.2]], [[1, 0.5]], "binary"),
        ([[0.1, float("nan")]], [[1, 0]], "NaN"),
        ([0.1, 0.2], [1, 0], "2-D"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "empty"),
        ([["a", "b"]], [[1, 0]], "numeric"),
    ],
)
def test_invalid_input_raises_clear_value_error(scores, targets, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mean_average_precision(scores, targets)


def test_unknown_ties_mode() -> None:
    with pytest.raises(ValueError, match="ties must be one of"):
        mean_average_precision([[0.1]], [[1]], ties="average")  # type: ignore[arg-type]


def test_single_class_function_rejects_matrices() -> None:
    with pytest.raises(ValueError, match="1-D"):
        average_precision([[0.1]], [[1]])


def test_nan_position_is_reported() -> None:
    with pytest.raises(ValueError, match="row 1, class 0"):
        mean_average_precision([[0.1], [float("nan")]], [[1], [0]])


def test_import_does_not_load_paddle() -> None:
    code = "import sys, mlcls_cli.metrics; sys.exit(1 if 'paddle' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
