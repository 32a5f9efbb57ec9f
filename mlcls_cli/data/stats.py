"""Dataset statistics for ``mlcls check``: per-class counts, label cardinality, imbalance, image sizes.

Pure Python (no paddle, no numpy needed): inputs are multi-hot vectors per split
and image sizes read from headers.
"""

from __future__ import annotations

import statistics as pystats
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

Vector = Sequence[int]


def class_counts(vectors: Iterable[Vector], num_classes: int) -> list[int]:
    """Positives per class: how many vectors have a 1 at each position (extra positions ignored)."""
    counts = [0] * num_classes
    for vec in vectors:
        for i, value in enumerate(vec[:num_classes]):
            if value == 1:
                counts[i] += 1
    return counts


def imbalance_ratio(counts: Sequence[int]) -> float | None:
    """Largest over smallest non-zero class count, or None when no class has a positive."""
    nonzero = [c for c in counts if c > 0]
    if not nonzero:
        return None
    return round(max(nonzero) / min(nonzero), 3)


def split_statistics(vectors: Sequence[Vector], num_classes: int) -> dict[str, object]:
    """Summary of one split: samples, positives, cardinality, density, negatives, imbalance."""
    counts = class_counts(vectors, num_classes)
    per_sample = [sum(1 for v in vec if v == 1) for vec in vectors]
    n = len(vectors)
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
    combos: Counter[tuple[int, ...]] = Counter(
        tuple(i for i, v in enumerate(vec) if v == 1) for vec in vectors
    )
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
    num_classes = len(names)
    per_split = {split: split_statistics(vecs, num_classes) for split, vecs in splits.items()}
    counts = {split: class_counts(vecs, num_classes) for split, vecs in splits.items()}
    per_class = [
        {"id": i, "name": name, **{split: counts[split][i] for split in splits}}
        for i, name in enumerate(names)
    ]
    every = [vec for vecs in splits.values() for vec in vecs]
    return {
        "num_classes": num_classes,
        "samples": {split: len(vecs) for split, vecs in splits.items()},
        "splits": per_split,
        "imbalance_ratio": per_split.get("train", {}).get("imbalance_ratio"),
        "per_class": per_class,
        "image_size": size_statistics(image_sizes),
        "top_label_combinations": top_combinations(every, names, top),
    }


__all__ = [
    "class_counts",
    "compute_statistics",
    "imbalance_ratio",
    "size_statistics",
    "split_statistics",
    "top_combinations",
]
