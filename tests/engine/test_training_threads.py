"""Math threads of CPU training: the usable cores shared out among a node's processes, or MLCLS_CPU_THREADS."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcls_cli.engine.device import training_threads
from mlcls_cli.errors import UsageError


@pytest.fixture
def eight_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLCLS_CPU_THREADS", raising=False)
    monkeypatch.setattr("mlcls_cli.inference.backends.base.default_threads", lambda: 8)


@pytest.mark.usefixtures("eight_cores")
@pytest.mark.parametrize(("processes", "threads"), [(1, 8), (2, 4), (3, 2), (8, 1), (16, 1)])
def test_the_cores_are_shared_out_among_the_processes(processes: int, threads: int) -> None:
    assert training_threads(processes) == threads


@pytest.mark.usefixtures("eight_cores")
def test_the_environment_sets_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCLS_CPU_THREADS", "3")
    assert training_threads(1) == training_threads(4) == 3
    monkeypatch.setenv("MLCLS_CPU_THREADS", "0")
    with pytest.raises(UsageError):
        training_threads(1)


@pytest.mark.paddle
def test_a_cpu_training_runs_with_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from paddle.base import core

    from mlcls_cli.config import resolve_config
    from mlcls_cli.engine.trainer import Trainer, plan_training
    from tests.datasets import make_learnable_dataset

    monkeypatch.setenv("MLCLS_CPU_THREADS", "2")
    dataset = make_learnable_dataset(tmp_path / "ds", train=8, val=4, size=16).root
    cfg = resolve_config(
        "SmallCNN_ML",
        overrides=[f"Global.output={tmp_path / 'out'}", "Global.device=cpu", "Train.image_size=16",
                   "Train.epochs_iters=1", "Train.batch_size=4", "Train.keep_epoch_checkpoints=0"],
    )  # fmt: skip
    trainer = Trainer(plan_training(cfg, dataset)[0])
    trainer.fit()
    assert trainer.cpu_threads == 2
    assert "math threads 2" in (tmp_path / "out" / "train.log").read_text()
    core.set_num_threads(1)  # leave the test process as paddle starts it
