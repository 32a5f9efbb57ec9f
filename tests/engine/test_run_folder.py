"""The output folder of a training run: checkpoint retention and the train_result.json entries that point there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlcls_cli.config import resolve_config
from mlcls_cli.engine.trainer import Trainer, TrainPlan, plan_training
from tests.datasets import make_dataset

pytestmark = [pytest.mark.paddle, pytest.mark.slow]


def _plan(dataset: Path, out: Path, *extra: str) -> TrainPlan:
    cfg = resolve_config(
        "PP-LCNet_x1_0_ML",
        overrides=[
            f"Global.output={out}",
            "Global.device=cpu",
            "Train.pretrain_weight_path=null",
            "Train.image_size=16",
            "Train.batch_size=4",
            "Train.warmup_steps=0",
            "Train.learning_rate=0.001",
            *extra,
        ],
    )
    return plan_training(cfg, dataset)[0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("ds") / "ds", classes=3, train=4, val=3).root


def _result_paths(out: Path) -> list[str]:
    models = json.loads((out / "train_result.json").read_text())["models"]
    return [v for entry in models.values() for k, v in entry.items() if k.startswith("pd")]


def test_only_the_newest_epoch_checkpoints_are_kept(dataset: Path, tmp_path: Path) -> None:
    Trainer(_plan(dataset, tmp_path, "Train.epochs_iters=5", "Train.keep_epoch_checkpoints=2")).fit()
    assert sorted(p.name for p in tmp_path.glob("epoch_*")) == ["epoch_4", "epoch_5"]
    assert (tmp_path / "latest" / "latest.pdparams").is_file()
    assert (tmp_path / "best_model" / "best_model.pdparams").is_file()
    models = json.loads((tmp_path / "train_result.json").read_text())["models"]
    assert [models[f"last_{i}"].get("epoch") for i in range(1, 6)] == [5, 4, None, None, None]
    paths = _result_paths(tmp_path)
    assert paths and all((tmp_path / p).is_file() for p in paths)  # no entry points at a deleted folder
    # epoch_5 is the checkpoint latest/ held at the end of epoch 5
    for tag in ("pdparams", "pdopt", "pdema", "pdstates", "info.json"):
        assert (tmp_path / "epoch_5" / f"epoch_5.{tag}").read_bytes() == (
            tmp_path / "latest" / f"latest.{tag}"
        ).read_bytes(), tag
    assert "deleted epoch_1" in (tmp_path / "train.log").read_text()


def test_save_interval_and_keeping_every_checkpoint(dataset: Path, tmp_path: Path) -> None:
    Trainer(
        _plan(
            dataset,
            tmp_path,
            "Train.epochs_iters=4",
            "Train.save_interval=2",
            "Train.keep_epoch_checkpoints=null",
            "Train.eval_interval=2",
        )
    ).fit()
    assert sorted(p.name for p in tmp_path.glob("epoch_*")) == ["epoch_2", "epoch_4"]


def test_zero_keeps_no_epoch_checkpoint(dataset: Path, tmp_path: Path) -> None:
    Trainer(_plan(dataset, tmp_path, "Train.epochs_iters=2", "Train.keep_epoch_checkpoints=0")).fit()
    assert not list(tmp_path.glob("epoch_*"))
    assert (tmp_path / "latest" / "latest.pdstates").is_file()
    models = json.loads((tmp_path / "train_result.json").read_text())["models"]
    assert all(models[f"last_{i}"] == {} for i in range(1, 6))
