"""Dataset statistics: counts, cardinality, density, imbalance, sizes and label combinations."""

from __future__ import annotations

from mlcls_cli.data.stats import (
    class_counts,
    compute_statistics,
    imbalance_ratio,
    size_statistics,
    split_statistics,
    top_combinations,
)

TRAIN = [(1, 0, 0), (1, 1, 0), (1, 1, 0), (0, 0, 0), (1, 0, 0)]
VAL = [(0, 1, 0), (0, 0, 0)]


def test_class_counts_and_imbalance() -> None:
    assert class_counts(TRAIN, 3) == [4, 2, 0]
    assert imbalance_ratio([4, 2, 0]) == 2.0
    assert imbalance_ratio([0, 0]) is None
    assert imbalance_ratio([3, 9, 1]) == 9.0


def test_split_statistics() -> None:
    s = split_statistics(TRAIN, 3)
    assert s["samples"] == 5
    assert s["positives"] == 6
    assert s["label_cardinality"] == 1.2
    assert s["label_density"] == 0.4
    assert s["max_labels_per_sample"] == 2
    assert s["negatives"] == 1
    assert s["imbalance_ratio"] == 2.0
    assert s["classes_without_positives"] == [2]


def test_empty_split() -> None:
    s = split_statistics([], 3)
    assert s["samples"] == 0 and s["label_cardinality"] == 0.0 and s["imbalance_ratio"] is None
    assert s["classes_without_positives"] == [0, 1, 2]


def test_size_statistics_median() -> None:
    s = size_statistics([(10, 5), (30, 7), (20, 9), (40, 1)])
    assert s["images"] == 4
    assert s["width"] == {"min": 10, "median": 25.0, "max": 40}
    assert s["height"] == {"min": 1, "median": 6.0, "max": 9}
    assert size_statistics([]) == {"images": 0, "width": None, "height": None}


def test_top_combinations_ranked_by_count_then_ids() -> None:
    combos = top_combinations(TRAIN + VAL, ["a", "b", "c"], top=3)
    assert combos == [
        {"labels": [], "count": 2},
        {"labels": ["a"], "count": 2},
        {"labels": ["a", "b"], "count": 2},
    ]
    assert top_combinations(TRAIN, ["a", "b", "c"], top=1) == [{"labels": ["a"], "count": 2}]


def test_compute_statistics_shape() -> None:
    stats = compute_statistics(["a", "b", "c"], {"train": TRAIN, "val": VAL}, [(8, 6)])
    assert stats["num_classes"] == 3
    assert stats["samples"] == {"train": 5, "val": 2}
    assert stats["per_class"] == [
        {"id": 0, "name": "a", "train": 4, "val": 0},
        {"id": 1, "name": "b", "train": 2, "val": 1},
        {"id": 2, "name": "c", "train": 0, "val": 0},
    ]
    assert stats["imbalance_ratio"] == 2.0
    assert stats["splits"]["val"]["negatives"] == 1
    assert stats["image_size"]["images"] == 1
    assert stats["top_label_combinations"][0]["count"] == 2
