"""The output folder rules without training: the lock, earlier runs, --overwrite and --resume auto."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlcls_cli.config import Config, resolve_config
from mlcls_cli.engine.rundir import (
    LOCK_FILE,
    PREVIOUS_RUN,
    claim_output,
    earlier_run,
    lock_output,
    overwrite_earlier_run,
)
from mlcls_cli.engine.trainer import plan_training
from mlcls_cli.errors import ExitCode, OutputBusyError, UsageError
from tests.conftest import SAMPLE_DATASET


def _fake_run(out: Path, epochs: tuple[int, ...] = (1, 2)) -> None:
    """The files a finished training and an `mlcls eval` leave (contents do not matter here)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("train_result.json", "train.log", "metrics.jsonl", "config.yaml", "label_dict.txt"):
        (out / name).write_text(name)
    for name in ("evaluate_result.json", "pr_curves.png", "thresholds.json"):
        (out / name).write_text(name)
    for folder in ("best_model", "latest", *(f"epoch_{e}" for e in epochs)):
        (out / folder).mkdir()
        (out / folder / f"{folder}.pdparams").write_text(folder)
        (out / folder / f"{folder}.pdstates").write_text(folder)
    (out / "best_model" / "inference").mkdir()
    (out / "best_model" / "inference" / "inference.yml").write_text("pkg")
    (out / ".latest.save-abc123").mkdir(exist_ok=True)  # left by a save that was killed
    (out / "log").mkdir(exist_ok=True)
    (out / "log" / "workerlog.0").write_text("worker")


def _user_files(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "notes.txt").write_text("mine")
    (out / "check_dataset_result.json").write_text("{}")
    (out / "check_dataset").mkdir()
    (out / "check_dataset" / "histogram.png").write_text("png")
    (out / "log").mkdir(exist_ok=True)
    (out / "log" / "my.txt").write_text("mine too")


def test_earlier_run_markers(tmp_path: Path) -> None:
    assert earlier_run(tmp_path / "missing") == []
    _user_files(tmp_path)
    (tmp_path / "config.yaml").write_text("a config the user keeps there")
    assert earlier_run(tmp_path) == []  # check's outputs and other files are no run
    (tmp_path / "epoch_10").mkdir()
    (tmp_path / "epoch_9").mkdir()
    (tmp_path / "train.log").write_text("")
    assert earlier_run(tmp_path) == ["train.log", "epoch_9", "epoch_10"]


def test_overwrite_keeps_the_best_model_and_records_and_touches_nothing_else(tmp_path: Path) -> None:
    _fake_run(tmp_path)
    _user_files(tmp_path)
    cleared = overwrite_earlier_run(tmp_path)
    previous = tmp_path / PREVIOUS_RUN
    assert (previous / "best_model" / "inference" / "inference.yml").read_text() == "pkg"
    for name in ("train_result.json", "train.log", "metrics.jsonl", "config.yaml", "evaluate_result.json"):
        assert (previous / name).read_text() == name
    assert sorted(cleared.deleted) == ["epoch_1/", "epoch_2/", "latest/", "log/workerlog.0"]
    assert earlier_run(tmp_path) == []
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [
        ".latest.save-abc123",
        "check_dataset",
        "check_dataset_result.json",
        "log",
        "notes.txt",
        PREVIOUS_RUN,
    ]
    assert (tmp_path / "log" / "my.txt").read_text() == "mine too"

    # a second --overwrite replaces what the first one kept
    _fake_run(tmp_path, epochs=(7,))
    (tmp_path / "train.log").write_text("second run")
    overwrite_earlier_run(tmp_path)
    assert (previous / "train.log").read_text() == "second run"
    assert not (previous / "epoch_1").exists() and not (tmp_path / "epoch_7").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{PREVIOUS_RUN}")]


def test_claim_refuses_an_earlier_run_and_removes_killed_saves(tmp_path: Path) -> None:
    _fake_run(tmp_path)
    with pytest.raises(UsageError) as info:
        claim_output(tmp_path, continuing=False, overwrite=False)
    assert "holds an earlier training run (train_result.json" in info.value.message
    hint = info.value.hint or ""
    assert "--resume auto" in hint and "--output" in hint and "--overwrite" in hint
    assert (tmp_path / "epoch_1").is_dir()  # nothing touched
    lock_output(tmp_path).release()  # and the lock was released

    lock = claim_output(tmp_path, continuing=True, overwrite=False)  # a resume continues the run
    lock.release()
    assert (tmp_path / "epoch_1").is_dir() and not (tmp_path / ".latest.save-abc123").exists()


def test_lock_excludes_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    first = lock_output(tmp_path)
    try:
        with pytest.raises(OutputBusyError) as info:
            lock_output(tmp_path)
        assert info.value.exit_code == ExitCode.BUSY == 75
        assert "in use by another training (pid" in info.value.message
        assert "another --output" in (info.value.hint or "")
    finally:
        first.release()
    lock_output(tmp_path).release()


def test_a_lock_file_left_by_a_killed_process_does_not_block(tmp_path: Path) -> None:
    code = (
        "import os, sys; from mlcls_cli.engine.rundir import lock_output; "
        "lock_output(sys.argv[1]); os.kill(os.getpid(), 9)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] > 0  # the file is still there
    lock_output(tmp_path).release()


# --------------------------------------------------------------------------- planning


def _cfg(out: Path, *extra: str) -> Config:
    return resolve_config(
        "PP-LCNet_x1_0_ML",
        overrides=[f"Global.output={out}", "Global.device=cpu", "Train.pretrain_weight_path=null", *extra],
    )


def test_plan_refuses_a_new_run_into_an_earlier_one(tmp_path: Path) -> None:
    _fake_run(tmp_path)
    with pytest.raises(UsageError, match="holds an earlier training run") as info:
        plan_training(_cfg(tmp_path), SAMPLE_DATASET)
    assert info.value.exit_code == 2
    plan = plan_training(_cfg(tmp_path), SAMPLE_DATASET, overwrite=True)[0]
    assert plan.overwrite and (tmp_path / "epoch_1").is_dir()  # planning clears nothing


@pytest.mark.paddle
def test_plan_resume_auto_rules(tmp_path: Path) -> None:
    import paddle

    _fake_run(tmp_path)
    paddle.save({"epoch": 1, "model_name": "PP-LCNet_x1_0_ML"}, str(tmp_path / "latest" / "latest.pdstates"))
    plan = plan_training(_cfg(tmp_path, "Train.resume_path=auto"), SAMPLE_DATASET)[0]
    assert plan.resume == str(tmp_path / "latest" / "latest")
    with pytest.raises(UsageError, match="--overwrite would delete the checkpoint"):
        plan_training(_cfg(tmp_path, "Train.resume_path=auto"), SAMPLE_DATASET, overwrite=True)

    crashed = tmp_path / "crashed"  # a run killed before its first checkpoint
    crashed.mkdir()
    (crashed / "train.log").write_text("")
    with pytest.raises(UsageError, match="no checkpoint to continue") as info:
        plan_training(_cfg(crashed, "Train.resume_path=auto"), SAMPLE_DATASET)
    assert "--overwrite" in (info.value.hint or "")

    # a checkpoint from elsewhere starts a new run here: the folder must be free (or --overwrite)
    with pytest.raises(UsageError, match="holds an earlier training run"):
        plan_training(_cfg(crashed, f"Train.resume_path={tmp_path / 'latest'}"), SAMPLE_DATASET)


def test_plan_and_launch_refuse_a_busy_folder(tmp_path: Path) -> None:
    from mlcls_cli.engine.distributed import run_launched

    lock = lock_output(tmp_path)
    try:
        with pytest.raises(OutputBusyError):
            plan_training(_cfg(tmp_path), SAMPLE_DATASET)
        with pytest.raises(OutputBusyError):  # before any worker starts
            run_launched({"resume": None, "overwrite": False}, output_dir=tmp_path, nproc=2)
    finally:
        lock.release()
    assert not (tmp_path / ".mlcls_dist").exists()
