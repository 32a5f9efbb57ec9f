"""Early stopping (``Train.early_stop_patience``): the run ends after that many epochs without a new best.

An unreachable ``Train.early_stop_min_delta`` (mAP cannot rise by 1.0) makes every
evaluation after the first one "no improvement", so the epoch the run ends at is known in
advance, while ``best_model`` still follows the best score. The small learnable dataset
reaches mAP 1.0 within a few epochs at a low learning rate and stays there: those ties do
not count as improvements. Without a patience the run goes to its last epoch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlcls_cli.config import resolve_config
from mlcls_cli.engine.trainer import Trainer, plan_training
from tests.datasets import make_learnable_dataset

pytestmark = [pytest.mark.paddle]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_learnable_dataset(tmp_path_factory.mktemp("ds") / "ds", train=12, val=8, size=16).root


def _train(dataset: Path, out: Path, *extra: str) -> dict[str, Any]:
    cfg = resolve_config(
        "SmallCNN_ML",
        overrides=[
            f"Global.output={out}",
            "Global.device=cpu",
            "Train.image_size=16",
            "Train.epochs_iters=8",
            "Train.batch_size=4",
            "Train.warmup_steps=0",
            "Train.cutout=false",
            "Train.randaugment=false",
            "Train.ema_decay=null",
            "Train.keep_epoch_checkpoints=0",
            *extra,
        ],
    )
    return Trainer(plan_training(cfg, dataset)[0]).fit()


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_a_run_without_improvement_stops_after_the_patience(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = _train(dataset, out, "Train.early_stop_patience=2", "Train.early_stop_min_delta=1.0")
    records = _records(out)
    evals = [r for r in records if r["type"] == "eval"]
    assert [r["epoch"] for r in evals] == [1, 2, 3]
    stops = [r for r in records if r.get("event") == "early_stop"]
    assert [r["epoch"] for r in stops] == [3]
    assert summary["stopped_early"] is True
    assert (summary["epochs_run"], summary["epochs"]) == (3, 8)
    best = max(evals, key=lambda r: (r["MultiLabelMAP"], r["epoch"]))  # a tie refreshes best_model
    assert summary["best"]["epoch"] == best["epoch"]
    assert (out / "best_model" / "inference" / "inference.yml").is_file()
    assert "early stopping after epoch 3" in (out / "train.log").read_text()


def test_a_tie_with_the_best_is_not_an_improvement(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = _train(dataset, out, "Train.early_stop_patience=3", "Train.learning_rate=0.0005")
    evals = [(r["epoch"], r["MultiLabelMAP"]) for r in _records(out) if r["type"] == "eval"]
    top = max(score for _, score in evals)
    first_top = min(epoch for epoch, score in evals if score == top)
    assert summary["stopped_early"] is True
    assert summary["epochs_run"] == first_top + 3  # the ties after first_top do not reset the patience
    assert summary["best"]["epoch"] == evals[-1][0]  # but they do refresh best_model (PaddleClas's >=)


def test_patience_counts_epochs_across_sparse_evaluations(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = _train(
        dataset,
        out,
        "Train.early_stop_patience=3",
        "Train.early_stop_min_delta=1.0",
        "Train.eval_interval=2",
    )
    evals = [r["epoch"] for r in _records(out) if r["type"] == "eval"]
    assert evals == [2, 4, 6]  # epoch 6 is the first evaluation 3 or more epochs after the best (2)
    assert summary["epochs_run"] == 6


def test_without_patience_the_run_goes_to_the_end(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = _train(dataset, out, "Train.epochs_iters=3", "Train.early_stop_min_delta=1.0")
    assert summary["stopped_early"] is False and summary["epochs_run"] == 3
    assert not [r for r in _records(out) if r.get("event") == "early_stop"]


def test_training_curves_are_drawn_from_the_metrics(dataset: Path, tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "out"
    summary = _train(dataset, out, "Train.epochs_iters=2", "Train.log_interval=1")
    path = Path(summary["training_curves"])
    assert path == out / "training_curves.png"
    with Image.open(path) as picture:
        assert picture.format == "PNG" and picture.width > 1000
        colours = picture.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # lines and text, not a blank canvas
