"""The PNG plots of ``mlcls eval``: per-class precision-recall curves, an AP bar chart, a confusion matrix.

matplotlib is imported lazily and drawn through its object API on an Agg canvas
(no global backend switch, no display). Files are written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlcls_cli.utils.figures import font_families, save_png

DPI = 120
MAX_CURVES = 25  # a 5x5 grid; with more classes the most frequent ones are drawn


def pr_curve(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interpolated precision-recall curve of one class: (recall, precision) as step points.

    One point per recall level that a positive reaches (scores ranked descending,
    ties in input order, as the AP ranks them), preceded by recall 0. Precision at
    recall r is the best precision at any recall >= r, so the curve never rises; the
    point at recall 0 carries the first level's precision. Drawn as a step that holds
    each precision up to its recall (``where="pre"``). Empty when there is no positive.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    hits = np.asarray(truth)[order] > 0
    n_pos = int(hits.sum())
    if n_pos == 0:
        return np.zeros(0), np.zeros(0)
    tp = np.cumsum(hits)
    precision = (tp / np.arange(1, len(hits) + 1))[hits]
    recall = tp[hits] / n_pos
    interpolated = np.maximum.accumulate(precision[::-1])[::-1]
    return np.concatenate([[0.0], recall]), np.concatenate([interpolated[:1], interpolated])


def pr_curves(
    probs: np.ndarray, targets: np.ndarray, names: Sequence[str], path: str | os.PathLike[str]
) -> Path:
    """Draw one precision-recall panel per class (the :data:`MAX_CURVES` most frequent when there are more)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from mlcls_cli.metrics import average_precision_per_class

    probs = np.asarray(probs)
    targets = np.asarray(targets)
    support = targets.sum(axis=0)
    ap = average_precision_per_class(probs, targets)
    classes = sorted(range(len(names)), key=lambda i: (-support[i], i))[:MAX_CURVES]
    cols = min(5, max(1, int(np.ceil(np.sqrt(len(classes))))))
    rows = int(np.ceil(len(classes) / cols))
    fig = Figure(figsize=(2.8 * cols, 2.6 * rows + 0.4), dpi=DPI)
    FigureCanvasAgg(fig)
    families = font_families("".join(names[i] for i in classes))
    shown = "" if len(classes) == len(names) else f" ({len(classes)} most frequent of {len(names)} classes)"
    fig.suptitle(f"precision-recall per class (interpolated precision){shown}", fontsize=11)
    for slot, cls in enumerate(classes):
        ax = fig.add_subplot(rows, cols, slot + 1)
        if support[cls] > 0:
            recall, precision = pr_curve(probs[:, cls], targets[:, cls])
            ax.step(recall, precision, where="pre", color="#1f77b4")
            ax.fill_between(recall, precision, step="pre", alpha=0.15, color="#1f77b4")
            label = f"AP {ap[cls]:.3f}"
        else:
            ax.text(0.5, 0.5, "no positives", ha="center", va="center", fontsize=9, color="#888888")
            label = "AP n/a"
        ax.set_title(f"{names[cls]} ({label}, n={int(support[cls])})", fontsize=8, fontfamily=families)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if slot % cols == 0:
            ax.set_ylabel("precision", fontsize=8)
        if slot >= len(classes) - cols:
            ax.set_xlabel("recall", fontsize=8)
    return save_png(fig, path, DPI)


def ap_bar_chart(per_class: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Draw per-class AP as horizontal bars, best first; classes without positives are listed as n/a."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = sorted(per_class, key=lambda r: (r["ap"] is None, -(r["ap"] or 0.0), r["id"]))
    names = [str(r["name"]) for r in rows]
    values = [r["ap"] or 0.0 for r in rows]
    k = len(rows)
    fig = Figure(figsize=(8.0, min(60.0, max(2.5, 0.28 * k + 1.2))), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ys = np.arange(k)
    colors = ["#2ca02c" if r["ap"] is not None else "#bbbbbb" for r in rows]
    ax.barh(ys, values, color=colors)
    for y, r in zip(ys, rows, strict=True):
        text = "n/a (no positives)" if r["ap"] is None else f"{r['ap']:.3f}"
        ax.text(min((r["ap"] or 0.0) + 0.01, 0.9), y, text, va="center", fontsize=7 if k > 40 else 8)
    ax.set_yticks(ys)
    ax.set_yticklabels(names, fontsize=6 if k > 60 else 8)
    for tick in ax.get_yticklabels():
        tick.set_fontfamily(font_families("".join(names)))
    ax.invert_yaxis()
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("average precision")
    valid = [r["ap"] for r in rows if r["ap"] is not None]
    mean = float(np.mean(valid)) if valid else float("nan")
    ax.set_title(f"AP per class (mAP {mean:.4f} over {len(valid)} classes with positives)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return save_png(fig, path, DPI)


MAX_MATRIX_CLASSES = 50  # beyond this the matrix shows the classes with the most errors


def confusion_matrix_plot(
    matrix: np.ndarray, names: Sequence[str], path: str | os.PathLike[str], *, normalize: bool = True
) -> Path:
    """Draw a confusion matrix (true classes as rows) as a heat map, each row normalised to its support.

    With more than 50 classes, the 50 with the most misclassified images are drawn.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=np.float64)
    keep = np.arange(counts.shape[0])
    title = "confusion matrix (rows: true class, normalised per row)" if normalize else "confusion matrix"
    if len(keep) > MAX_MATRIX_CLASSES:
        errors = counts.sum(axis=1) - np.diag(counts)
        keep = np.sort(np.argsort(-errors, kind="stable")[:MAX_MATRIX_CLASSES])
        title += f", the {MAX_MATRIX_CLASSES} classes with the most errors"
    counts = counts[np.ix_(keep, keep)]
    shown = [str(names[i]) for i in keep]
    support = counts.sum(axis=1, keepdims=True)
    values = np.divide(counts, support, out=np.zeros_like(counts), where=support > 0) if normalize else counts
    k = len(keep)
    side = min(30.0, max(4.0, 0.35 * k + 2.5))
    fig = Figure(figsize=(side + 1.0, side), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if k <= 20:
        for t in range(k):
            for p in range(k):
                if counts[t, p]:
                    text = f"{values[t, p]:.2f}" if normalize else str(int(counts[t, p]))
                    colour = "white" if values[t, p] > 0.6 * (values.max() or 1.0) else "black"
                    ax.text(p, t, text, ha="center", va="center", fontsize=7, color=colour)
    ticks = np.arange(k)
    font = font_families("".join(shown))
    ax.set_xticks(ticks)
    ax.set_xticklabels(shown, rotation=90, fontsize=6 if k > 30 else 8, fontfamily=font)
    ax.set_yticks(ticks)
    ax.set_yticklabels(shown, fontsize=6 if k > 30 else 8, fontfamily=font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    return save_png(fig, path, DPI)


def training_curves(records: Sequence[dict[str, Any]], metric: str, path: str | os.PathLike[str]) -> Path:
    """Draw a run's ``metrics.jsonl`` records: training loss, learning rate, and the raw and EMA metric per epoch.

    The x axis is in epochs (a logged step at iteration i of n in epoch e sits at e - 1 + i/n).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    train = [r for r in records if r.get("type") == "train" and r.get("iters")]
    evals = [r for r in records if r.get("type") == "eval"]
    x_train = [r["epoch"] - 1 + r["iter"] / r["iters"] for r in train]
    fig = Figure(figsize=(13.0, 3.8), dpi=DPI)
    FigureCanvasAgg(fig)
    loss_ax, lr_ax, metric_ax = (fig.add_subplot(1, 3, i) for i in (1, 2, 3))
    loss_ax.plot(x_train, [r["loss"] for r in train], color="#d62728", linewidth=1.2)
    loss_ax.set_title("training loss (mean over each log interval)", fontsize=10)
    lr_ax.plot(x_train, [r["lr"] for r in train], color="#9467bd", linewidth=1.2)
    lr_ax.set_title("learning rate", fontsize=10)
    lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    epochs = [r["epoch"] for r in evals]
    raw = [_nan(r.get(metric)) for r in evals]
    ema = [_nan(r.get(f"{metric}_ema")) for r in evals]
    metric_ax.plot(epochs, raw, marker="o", markersize=3, color="#1f77b4", label="model")
    if any(not np.isnan(v) for v in ema):
        metric_ax.plot(epochs, ema, marker="s", markersize=3, color="#2ca02c", label="EMA")
    best = [(r["best_epoch"], r["best"]) for r in evals if r.get("best") is not None and r.get("best_epoch")]
    if best:
        epoch, value = best[-1]
        metric_ax.scatter([epoch], [value], s=80, facecolors="none", edgecolors="#ff7f0e", zorder=3)
        metric_ax.annotate(f"best {value:.4f}", (epoch, value), textcoords="offset points", xytext=(0, 8),
                           ha="center", fontsize=8, color="#ff7f0e")  # fmt: skip
    metric_ax.margins(y=0.15)  # room for the "best" label above the top point
    metric_ax.set_title(f"validation {metric}", fontsize=10)
    if epochs:
        metric_ax.legend(fontsize=8, loc="lower right")
    for ax in (loss_ax, lr_ax, metric_ax):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    if not train:
        loss_ax.text(0.5, 0.5, "no training records", ha="center", va="center", transform=loss_ax.transAxes)
    return save_png(fig, path, DPI)


def _nan(value: Any) -> float:
    return float("nan") if value is None else float(value)
