"""`mlcls train` / `mlcls eval` through the CLI: exit codes in real subprocesses, Ctrl-C, NaN, broken data, offline."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from tests.datasets import make_dataset

TINY = ["--no-pretrained", "--device", "cpu", "--image-size", "32", "--batch-size", "2"]


def _mlcls(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcls_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_the_options() -> None:
    runner = CliRunner()
    train = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert train.exit_code == 0
    for option in (
        "--model",
        "--epochs",
        "--batch-size",
        "--lr",
        "--device",
        "--output",
        "--resume",
        "--image-size",
        "--nproc",
        "--no-pretrained",
        "--json",
    ):
        assert option in train.output
    evaluate = runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "200"})
    assert evaluate.exit_code == 0
    for option in (
        "--weights",
        "--model",
        "--threshold",
        "--top-k",
        "--tune-thresholds",
        "--split",
        "--json",
    ):
        assert option in evaluate.output


def test_train_help_shows_the_defaults_the_model_configs_give() -> None:
    from mlcls_cli.config import resolve_config
    from mlcls_cli.models.registry import MODELS

    for name, info in MODELS.items():  # the help text is built from the registry: it must equal the configs
        cfg = resolve_config(name)
        assert cfg.get("Train.epochs_iters") == info.epochs, name
        assert cfg.get("Train.batch_size") == info.batch_size, name
        assert cfg.get("Train.learning_rate") == pytest.approx(info.learning_rate), name
    text = " ".join(CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "300"}).output.split())
    assert "Train.epochs_iters. [default: from the model's config: 20 (30 for SmallCNN_ML, SmallCNN)]" in text
    # 90 models: batch size and learning rate name the quick-start model and point at get-config
    assert (
        "[default: from the model's config: 32 for PP-LCNet_x1_0_ML; each model's own: `mlcls get-config"
        in text
    )
    assert "0.0001 for PP- LCNet_x1_0_ML; each model's own" in text


def _summary(out: str) -> dict:
    return {
        "model_name": "PP-LCNet_x1_0_ML",
        "best": {
            "MultiLabelMAP": 0.91234,
            "epoch": 3,
            "weights": "ema",
            "pdparams": f"{out}/best_model/best_model.pdparams",
            "inference_dir": f"{out}/best_model/inference",
        },
        "last": {"epoch": 4, "MultiLabelMAP": 0.9, "MultiLabelMAP_ema": None},
        "epochs": 4,
        "image_size": 32,
        "device": "cpu",
        "nproc": 1,
        "train_seconds": 12.34,
        "images_per_s": 56.7,
        "train_result": f"{out}/train_result.json",
    }


def test_train_summary_is_key_value_lines_with_whole_paths_off_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlcls_cli.cli.train import render_summary

    out = "/a/rather/long/output/folder/" + "x" * 60
    render_summary(_summary(out))
    lines = capsys.readouterr().out.splitlines()
    assert "best MultiLabelMAP: 0.9123 (epoch 3, ema weights)" in lines
    assert "last MultiLabelMAP: 0.9000 model, - EMA (epoch 4)" in lines
    assert f"best weights: {out}/best_model/best_model.pdparams" in lines
    assert f"inference package: {out}/best_model/inference" in lines
    assert f"train_result.json: {out}/train_result.json" in lines
    assert all(": " in line for line in lines) and not any("\u2026" in line for line in lines)


def test_train_summary_on_a_narrow_terminal_keeps_paths_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from mlcls_cli import console
    from mlcls_cli.cli.train import render_summary

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=80, soft_wrap=True, color_system=None)
    monkeypatch.setitem(console._consoles, "out", terminal)
    out = "/a/rather/long/output/folder/" + "x" * 60
    render_summary(_summary(out))
    text = screen.getvalue()
    assert "training done" in text and "0.9123 (epoch 3, ema weights)" in text  # the table
    assert f"best weights: {out}/best_model/best_model.pdparams\n" in text  # whole, on one line
    assert f"inference package: {out}/best_model/inference\n" in text
    assert "\u2026" not in text


def test_broken_dataset_exits_65_pointing_at_check(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=4, val=2)
    made.set_list_line("val", 1, "images/img_00004.png\t1,0")  # wrong vector length
    proc = _mlcls("train", str(made.root), *TINY, "-O", str(tmp_path / "out"))
    assert proc.returncode == 65, proc.stderr
    assert "val.txt:1" in proc.stderr and "mlcls check" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_offline_without_cached_weights_exits_69_and_names_no_pretrained(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=4, val=2)
    proc = _mlcls(
        "train", str(made.root), "--device", "cpu", "-O", str(tmp_path / "out"), env={"MLCLS_OFFLINE": "1"}
    )
    assert proc.returncode == 69, proc.stderr
    assert "--no-pretrained" in proc.stderr


def test_missing_weights_exit_66(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=4, val=2)
    proc = _mlcls("eval", str(made.root), "--weights", str(tmp_path / "none.pdparams"), "--device", "cpu")
    assert proc.returncode == 66, proc.stderr
    assert "weights not found" in proc.stderr


@pytest.mark.paddle
def test_nan_loss_exits_70_with_a_lower_lr_hint(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=6, val=3)
    out = tmp_path / "out"
    proc = _mlcls(
        "train",
        str(made.root),
        *TINY,
        "--lr",
        "1e6",
        "--epochs",
        "2",
        "-O",
        str(out),
        "-o",
        "Train.warmup_steps=0",
    )
    assert proc.returncode == 70, proc.stderr
    assert "the loss became nan" in proc.stderr and "lower the learning rate" in proc.stderr
    assert proc.stderr.count("the loss became") == 1
    result = json.loads((out / "train_result.json").read_text())
    assert result["done_flag"] is False and result["err_type"] == "TrainingError"


@pytest.mark.slow
@pytest.mark.paddle
def test_ctrl_c_saves_latest_exits_130_and_resume_finishes(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=12, val=3)
    out = tmp_path / "out"
    args = [
        "train",
        str(made.root),
        *TINY,
        "--epochs",
        "3",
        "-O",
        str(out),
        "--lr",
        "0.001",
        "-o",
        "Train.log_interval=1",
        "-o",
        "Train.save_interval=10",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcls_cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    metrics = out / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.is_file() and '"type": "train"' in metrics.read_text():
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "--resume auto" in err
    info = json.loads((out / "latest" / "latest.info.json").read_text())
    assert info["weights"] == "raw"
    assert (out / "latest" / "latest.pdstates").is_file() and (out / "latest" / "latest.pdopt").is_file()
    assert json.loads((out / "train_result.json").read_text())["done_flag"] is False

    resumed = CliRunner().invoke(app, [*args, "--resume", "auto", "--json"])
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads(resumed.stdout)
    assert summary["resumed_from"].endswith("latest")
    assert json.loads((out / "train_result.json").read_text())["done_flag"] is True
    steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
    train_steps = [
        s for s, line in zip(steps, metrics.read_text().splitlines(), strict=True) if '"train"' in line
    ]
    assert train_steps == list(range(1, 19))  # 3 epochs x 6 batches, each step logged exactly once
    shutil.rmtree(out)


@pytest.mark.slow
@pytest.mark.paddle
def test_a_second_training_into_a_running_folder_exits_75_and_a_killed_one_does_not_block(
    tmp_path: Path,
) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=12, val=3)
    out = tmp_path / "out"
    args = ["train", str(made.root), *TINY, "-O", str(out)]
    first = subprocess.Popen(
        [sys.executable, "-m", "mlcls_cli", *args, "--epochs", "500", "-o", "Train.log_interval=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        metrics = out / "metrics.jsonl"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if metrics.is_file() and '"type": "train"' in metrics.read_text():
                break
            time.sleep(0.2)
        assert first.poll() is None, first.communicate()[1][-2000:]
        for extra in ([], ["--overwrite"]):  # --overwrite never clears a folder a training is using
            second = _mlcls(*args, "--epochs", "1", *extra)
            assert second.returncode == 75, second.stderr[-2000:]
            assert f"is in use by another training (pid {first.pid}" in second.stderr
            assert "another --output" in second.stderr and "Traceback" not in second.stderr
        assert first.poll() is None  # the first run goes on
        log = (out / "train.log").read_text()
        assert log.count("mlcls ") == 1  # one banner: the second run wrote nothing there
    finally:
        first.kill()  # SIGKILL: the lock goes with the process, its file stays
        first.communicate()
    assert (out / ".mlcls_train.lock").is_file()
    third = _mlcls(*args, "--epochs", "1", "--overwrite", "--json")
    assert third.returncode == 0, third.stderr[-2000:]
    assert (out / "previous_run" / "train.log").is_file()  # the killed run's records are kept


@pytest.mark.slow
@pytest.mark.paddle
def test_a_new_run_into_an_earlier_one_is_refused_until_overwrite(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=4, val=2)
    out = tmp_path / "out"
    args = ["train", str(made.root), *TINY, "-O", str(out), "--json"]
    first = CliRunner().invoke(app, [*args, "--epochs", "2"])
    assert first.exit_code == 0, first.output
    (out / "evaluate_result.json").write_text("{}")  # as `mlcls eval` leaves it
    (out / "notes.txt").write_text("mine")

    refused = _mlcls(*args, "--epochs", "1")
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert "holds an earlier training run" in refused.stderr and "epoch_2/" in refused.stderr
    for way in ("--resume auto", "--output", "--overwrite"):
        assert way in refused.stderr

    again = CliRunner().invoke(app, [*args, "--epochs", "1", "--overwrite"])
    assert again.exit_code == 0, again.output
    assert not (out / "epoch_2").exists() and not (out / "evaluate_result.json").exists()  # nothing stale
    assert sorted(p.name for p in out.glob("epoch_*")) == ["epoch_1"]
    assert json.loads((out / "train_result.json").read_text())["models"]["last_2"] == {}
    assert (out / "notes.txt").read_text() == "mine"
    previous = out / "previous_run"
    assert (previous / "best_model" / "inference" / "inference.yml").is_file()
    assert (previous / "evaluate_result.json").is_file() and (previous / "train_result.json").is_file()
    shutil.rmtree(out)


@pytest.mark.paddle
def test_pretrained_weights_of_another_model_exit_78_before_anything_is_written(tmp_path: Path) -> None:
    from mlcls_cli.models import build_model
    from mlcls_cli.models.weights import save_weights

    made = make_dataset(tmp_path / "ds", classes=3, train=4, val=2)
    weights = save_weights(build_model("PP-LCNet_x1_0_ML", 3), tmp_path / "lcnet.pdparams")
    out = tmp_path / "out"
    proc = _mlcls(
        "train", str(made.root), "--model", "PP-HGNetV2-B0_ML", "--device", "cpu", "--image-size", "32",
        "-O", str(out), "-o", f"Train.pretrain_weight_path={weights}",
    )  # fmt: skip
    assert proc.returncode == 78, proc.stderr[-2000:]
    assert "do not fit PP-HGNetV2-B0_ML" in proc.stderr and "backbone entries are missing" in proc.stderr
    assert "--no-pretrained" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists() or not any(out.iterdir())
