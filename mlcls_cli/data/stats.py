"""Dataset statistics for ``mlcls check``: per-class counts, label cardinality, imbalance, image sizes.

Pure Python (no paddle, no numpy needed). The core works on each sample's positive
class ids (an MLClsDataset sample has any number, a ClsDataset sample exactly one),
so both dataset types share it and no one-hot vector is ever stored per sample;
the vector functions (``class_counts``, ``split_statistics``, ``compute_statistics``)
are thin adapters for multi-hot vectors.
"""

from __future__ import annotations

import statistics as pystats
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

Vector = Sequence[int]
Positives = Sequence[int]  # the class ids of one sample


def positives_of(vector: Vector) -> tuple[int, ...]:
    """The class ids a multi-hot vector marks with 1."""
    return tuple(i for i, value in enumerate(vector) if value == 1)


def counts_by_class(items: Iterable[Positives], num_classes: int) -> list[int]:
    """Samples per class from each sample's class ids (ids outside 0..K-1 ignored)."""
    counts = [0] * num_classes
    for ids in items:
        for c in ids:
            if 0 <= c < num_classes:
                counts[c] += 1
    return counts


def class_counts(vectors: Iterable[Vector], num_classes: int) -> list[int]:
    """Positives per class: how many vectors have a 1 at each position (extra positions ignored)."""
    return counts_by_class((positives_of(vec[:num_classes]) for vec in vectors), num_classes)


def imbalance_ratio(counts: Sequence[int]) -> float | None:
    """Largest over smallest non-zero class count, or None when no class has a positive."""
    nonzero = [c for c in counts if c > 0]
    if not nonzero:
        return None
    return round(max(nonzero) / min(nonzero), 3)


def split_statistics(vectors: Sequence[Vector], num_classes: int) -> dict[str, object]:
    """Summary of one split: samples, positives, cardinality, density, negatives, imbalance."""
    return split_statistics_ids([positives_of(vec) for vec in vectors], num_classes)


def single_label_split_statistics(class_ids: Sequence[int], num_classes: int) -> dict[str, object]:
    """Summary of one single-label split: samples, imbalance, empty classes, share of the largest class.

    ``largest_class_share`` is the accuracy of always answering the most frequent class:
    the score a model must beat.
    """
    counts = [0] * num_classes
    for c in class_ids:
        if 0 <= c < num_classes:
            counts[c] += 1
    n = len(class_ids)
    return {
        "samples": n,
        "imbalance_ratio": imbalance_ratio(counts),
        "largest_class_share": round(max(counts) / n, 4) if n and counts else 0.0,
        "classes_without_samples": [i for i, c in enumerate(counts) if c == 0],
    }


def split_statistics_ids(items: Sequence[Positives], num_classes: int) -> dict[str, object]:
    """:func:`split_statistics` from each sample's positive class ids."""
    counts = counts_by_class(items, num_classes)
    per_sample = [len(ids) for ids in items]
    n = len(items)
    cardinality = sum(per_sample) / n if n else 0.0
    return {
        "samples": n,
        "positives": sum(per_sample),
        "label_cardinality": round(cardinality, 4),
        "label_density": round(cardinality / num_classes, 4) if num_classes else 0.0,
        "max_labels_per_sample": max(per_sample, default=0),
        "negatives": sum(1 for p in per_sample if p == 0),
        "imbalance_ratio": imbalance_ratio(counts),
        "classes_without_positives": [i for i, c in enumerate(counts) if c == 0],
    }


def size_statistics(sizes: Iterable[tuple[int, int]]) -> dict[str, object]:
    """Min/median/max of image widths and heights."""
    pairs = list(sizes)
    if not pairs:
        return {"images": 0, "width": None, "height": None}

    def summary(values: list[int]) -> dict[str, float | int]:
        median = pystats.median(values)
        return {
            "min": min(values),
            "median": int(median) if median == int(median) else median,
            "max": max(values),
        }

    return {
        "images": len(pairs),
        "width": summary([w for w, _ in pairs]),
        "height": summary([h for _, h in pairs]),
    }


def top_combinations(
    vectors: Iterable[Vector], names: Sequence[str], top: int = 5
) -> list[dict[str, object]]:
    """The ``top`` most frequent label sets (as class names), most frequent first."""
    return top_combinations_ids((positives_of(vec) for vec in vectors), names, top)


def top_combinations_ids(
    items: Iterable[Positives], names: Sequence[str], top: int = 5
) -> list[dict[str, object]]:
    """:func:`top_combinations` from each sample's positive class ids."""
    combos: Counter[tuple[int, ...]] = Counter(tuple(ids) for ids in items)
    ranked = sorted(combos.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [
        {"labels": [names[i] if i < len(names) else str(i) for i in combo], "count": count}
        for combo, count in ranked
    ]


def compute_statistics(
    names: Sequence[str],
    splits: Mapping[str, Sequence[Vector]],
    image_sizes: Iterable[tuple[int, int]] = (),
    top: int = 5,
) -> dict[str, object]:
    """All statistics of a dataset: per class, per split, image sizes and common label sets.

    ``names`` gives the class count and order; ``splits`` maps ``train``/``val`` to
    their valid label vectors.
    """
    ids = {split: [positives_of(vec) for vec in vecs] for split, vecs in splits.items()}
    return compute_statistics_ids(names, ids, image_sizes, top)


def compute_statistics_ids(
    names: Sequence[str],
    splits: Mapping[str, Sequence[Positives]],
    image_sizes: Iterable[tuple[int, int]] = (),
    top: int = 5,
    *,
    single_label: bool = False,
) -> dict[str, object]:
    """:func:`compute_statistics` from each sample's positive class ids.

    With ``single_label`` every sample has exactly one id: the per-split block is
    :func:`single_label_split_statistics` and there are no label combinations.
    """
    num_classes = len(names)
    counts = {split: counts_by_class(items, num_classes) for split, items in splits.items()}
    if single_label:
        per_split = {
            split: single_label_split_statistics([ids[0] for ids in items if ids], num_classes)
            for split, items in splits.items()
        }
    else:
        per_split = {split: split_statistics_ids(items, num_classes) for split, items in splits.items()}
    per_class = [
        {"id": i, "name": name, **{split: counts[split][i] for split in splits}}
        for i, name in enumerate(names)
    ]
    result: dict[str, object] = {
        "num_classes": num_classes,
        "samples": {split: len(items) for split, items in splits.items()},
        "splits": per_split,
        "imbalance_ratio": per_split.get("train", {}).get("imbalance_ratio"),
        "per_class": per_class,
        "image_size": size_statistics(image_sizes),
    }
    if not single_label:
        every = [ids for items in splits.values() for ids in items]
        result["top_label_combinations"] = top_combinations_ids(every, names, top)
    return result


__all__ = [
    "class_counts",
    "compute_statistics",
    "compute_statistics_ids",
    "counts_by_class",
    "imbalance_ratio",
    "positives_of",
    "single_label_split_statistics",
    "size_statistics",
    "split_statistics",
    "split_statistics_ids",
    "top_combinations",
    "top_combinations_ids",
]
