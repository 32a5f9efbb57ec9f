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
    plan = _plan(
        dataset, tmp_path, "Train.epochs_iters=2", "Train.keep_epoch_checkpoints=0", "Train.warmup_steps=5"
    )
    Trainer(plan).fit()
    # the banner states the warm-up the schedule really has
    assert (
        "warmup 1 epoch(s) (Train.warmup_steps=5, capped to half the run)"
        in (tmp_path / "train.log").read_text()
    )
    assert not list(tmp_path.glob("epoch_*"))
    assert (tmp_path / "latest" / "latest.pdstates").is_file()
    models = json.loads((tmp_path / "train_result.json").read_text())["models"]
    assert all(models[f"last_{i}"] == {} for i in range(1, 6))


# --------------------------------------------------------------------------- resuming with other settings


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("finished")
    made = make_dataset(root / "ds", classes=3, train=4, val=3)
    out = root / "out"
    Trainer(_plan(made.root, out, "Train.epochs_iters=1")).fit()
    return made.root, out


def _resume(dataset: Path, out: Path, *extra: str) -> TrainPlan:
    return _plan(dataset, out, "Train.epochs_iters=2", "Train.resume_path=auto", *extra)


def test_resume_with_the_same_settings_is_accepted(finished: tuple[Path, Path]) -> None:
    dataset, out = finished
    assert _resume(dataset, out).resume == str(out / "latest" / "latest")


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (("Global.model=PP-HGNetV2-B0_ML",), "model PP-LCNet_x1_0_ML (checkpoint) vs PP-HGNetV2-B0_ML"),
        (("Train.image_size=32",), "image size 16 vs 32"),
    ],
)
def test_resume_with_another_model_or_size_is_refused(
    finished: tuple[Path, Path], extra: tuple[str, ...], says: str
) -> None:
    from mlcls_cli.errors import ConfigError

    dataset, out = finished
    with pytest.raises(ConfigError, match="it was trained with other settings") as info:
        _resume(dataset, out, *extra)
    assert says in info.value.message and info.value.exit_code == 78
    assert str(out / "config.yaml") in (info.value.hint or "")


def test_resume_on_another_dataset_is_refused(finished: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    from mlcls_cli.errors import ConfigError

    dataset, out = finished
    moved = tmp_path / "moved"
    shutil.copytree(dataset, moved)
    assert _resume(moved, out).resume  # the same lists in another folder are the same dataset

    lines = (moved / "train.txt").read_text().splitlines()
    (moved / "train.txt").write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(ConfigError, match=r"train\.txt has 5 samples, the checkpoint's had 4"):
        _resume(moved, out)
    (moved / "train.txt").write_text("\n".join([lines[0].replace("1,0,0", "1,1,0"), *lines[1:]]) + "\n")
    with pytest.raises(ConfigError, match=r"train\.txt lists other images or labels"):
        _resume(moved, out)
    (moved / "train.txt").write_text("\n".join(lines) + "\n")
    (moved / "label.txt").write_text("0 cat\n1 dog\n2 cow\n")
    with pytest.raises(ConfigError, match=r"class names differ \(car->cow\)") as info:
        _resume(moved, out)
    assert "Train.pretrain_weight_path=" in (info.value.hint or "")
