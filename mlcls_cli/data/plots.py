"""The class histogram of ``mlcls check``: train and val images per class, as a PNG.

matplotlib is imported lazily and used through its object API with the Agg canvas,
so no global backend is switched and no display is needed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mlcls_cli.utils.figures import font_families, save_png

HISTOGRAM_DPI = 150
MAX_FIGURE_WIDTH = 40.0  # inches; keeps very large label sets from producing giant PNGs
ANNOTATE_MAX_CLASSES = 20
TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"


def figure_width(num_classes: int) -> float:
    """Figure width in inches: grows with the class count, between 8 and :data:`MAX_FIGURE_WIDTH`."""
    return min(MAX_FIGURE_WIDTH, max(8.0, 2.0 + 0.28 * num_classes))


def class_histogram(
    names: Sequence[str],
    train_counts: Sequence[int],
    val_counts: Sequence[int],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> Path:
    """Draw train/val bars per class, sorted by train count (descending), and save a PNG atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    order = sorted(range(len(names)), key=lambda i: -train_counts[i])  # stable: ties keep label order
    labels = [names[i] for i in order]
    train = [train_counts[i] for i in order]
    val = [val_counts[i] for i in order]
    k = len(labels)
    families = font_families("".join(labels) + (title or ""))

    fig = Figure(figsize=(figure_width(k), 5.5 if k > 20 else 5.0), dpi=HISTOGRAM_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = list(range(k))
    width = 0.4
    bars_train = ax.bar([x - width / 2 for x in xs], train, width, label="train", color=TRAIN_COLOR)
    bars_val = ax.bar([x + width / 2 for x in xs], val, width, label="val", color=VAL_COLOR)
    if k <= ANNOTATE_MAX_CLASSES:
        ax.bar_label(bars_train, fontsize=8, padding=1)
        ax.bar_label(bars_val, fontsize=8, padding=1)
    tick_size = 10 if k <= 40 else 8 if k <= 120 else 6
    ax.set_xticks(xs)
    if k <= 300:
        ax.set_xticklabels(
            labels, rotation=90 if k > 8 else 30, ha="center" if k > 8 else "right", fontsize=tick_size
        )
        for tick in ax.get_xticklabels():
            tick.set_fontfamily(families)
    else:
        ax.set_xticklabels([])
    ax.set_xlim(-0.6, k - 0.4)
    ax.margins(y=0.08)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("class", fontsize=12)
    ax.set_ylabel("images", fontsize=12)
    if title:
        ax.set_title(title, fontsize=13, fontfamily=families)
    ax.legend(loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)

    return save_png(fig, path, HISTOGRAM_DPI)


__all__ = ["class_histogram", "figure_width"]
