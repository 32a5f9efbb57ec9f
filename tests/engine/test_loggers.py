"""Experiment loggers of `mlcls train`: each library's own reader gets back exactly what metrics.jsonl holds.

The runs are tiny (SmallCNN_ML from scratch on examples/sample_dataset, 32 px, 2 epochs
of 9 batches, a few seconds each). TensorBoard's event files are read with TensorBoard's
``EventAccumulator`` (what its UI reads, purging included), VisualDL's with its
``LogReader``, MLflow's file store with ``MlflowClient``. TensorBoard and VisualDL store
scalars as float32, so their values are compared with the float32 of metrics.jsonl's;
MLflow stores doubles and must match exactly.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from mlcls_cli.config import resolve_config
from mlcls_cli.engine import loggers as lg
from mlcls_cli.errors import ConfigError, UsageError
from tests.conftest import SAMPLE_CLS_DATASET, SAMPLE_DATASET

RUN_ARGS = [
    "--device", "cpu", "--epochs", "2", "--batch-size", "8", "--image-size", "32",
    "-o", "Train.log_interval=3", "--no-pretrained",
]  # fmt: skip
CURVES = {
    "train": ("loss", "lr", "images_per_s"),
    "epoch": ("images_per_s",),
}


@pytest.fixture
def mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No tracking URI or experiment of the user's; no telemetry from tests."""
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # what mlcls sets (and restored after the test)


def _records(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _expected(records: list[dict[str, Any]], kind: str, key: str) -> list[tuple[int, float]]:
    """``(step, value)`` of ``key`` in the records of type ``kind`` (nulls left out)."""
    return [(r["step"], r[key]) for r in records if r["type"] == kind and r.get(key) is not None]


def _as_float32(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(step, float(np.float32(value))) for step, value in points]


def _all_curves(records: list[dict[str, Any]], metric: str) -> dict[str, list[tuple[int, float]]]:
    """Every curve a logger must hold, from metrics.jsonl: ``{"train/loss": [(step, value), ...], ...}``."""
    wanted = {f"{kind}/{key}": _expected(records, kind, key) for kind, keys in CURVES.items() for key in keys}
    for key in (metric, f"{metric}_ema", "score", "best"):
        wanted[f"eval/{key}"] = _expected(records, "eval", key)
    done = next(r for r in records if r.get("event") == "done")
    wanted[f"best/{metric}"] = [(done["step"], done["best"])]
    wanted["best/epoch"] = [(done["step"], float(done["best_epoch"]))]
    assert all(wanted.values()), wanted
    return wanted


def _config(out: Path) -> dict[str, Any]:
    return yaml.safe_load((out / "config.yaml").read_text())


def _tensorboard_scalars(logdir: Path) -> tuple[Any, dict[str, list[tuple[int, float]]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc, {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _visualdl_reader(out: Path) -> Any:
    from visualdl import LogReader

    name = json.loads((out / "train_result.json").read_text())["visualdl_log"]
    assert name.startswith("vdl/vdlrecords.") and [p.name for p in (out / "vdl").iterdir()] == [name[4:]]
    return LogReader(file_path=str(out / name))


def _visualdl_scalars(reader: Any) -> dict[str, list[tuple[int, float]]]:
    tags = reader.get_tags()["scalar"]
    return {tag: [(v.id, v.value) for v in reader.get_data("scalar", tag)] for tag in tags}


def _mlflow_run(out: Path) -> tuple[Any, Any]:
    from mlflow.tracking import MlflowClient

    saved = json.loads((out / "mlflow_run.json").read_text())
    assert saved["tracking_uri"] == (out / "mlruns").resolve().as_uri()
    client = MlflowClient(tracking_uri=saved["tracking_uri"])
    return client, client.get_run(saved["run_id"])


def _mlflow_curves(client: Any, run: Any) -> dict[str, list[tuple[int, float]]]:
    return {
        key: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)]
        for key in run.data.metrics
    }


# --------------------------------------------------------------------------- without training


def test_global_loggers_is_a_validated_list() -> None:
    def loggers(*overrides: str) -> Any:
        return resolve_config("SmallCNN_ML", overrides=list(overrides)).get("Global.loggers")

    assert loggers() is None
    assert loggers("Global.loggers=[TensorBoard, mlflow]") == ["tensorboard", "mlflow"]
    assert loggers("Global.loggers=visualdl,tensorboard,visualdl") == ["visualdl", "tensorboard"]
    assert loggers("Global.loggers=[]") == []
    with pytest.raises(
        ConfigError, match=r"Global.loggers must be a list of any of visualdl, tensorboard, mlflow"
    ):
        loggers("Global.loggers=[tensorboard, wandb]")
    with pytest.raises(ConfigError, match=r"Global.loggers"):
        loggers("Global.loggers={a: 1}")


def test_logger_option_values() -> None:
    assert lg.parse_logger_names(["tensorboard,MLflow", "tensorboard"]) == ["tensorboard", "mlflow"]
    assert lg.parse_logger_names(None) == []
    with pytest.raises(UsageError, match="unknown --logger 'wandb'"):
        lg.parse_logger_names(["wandb"])


def test_logger_names_complete_in_the_shell() -> None:
    from tests.test_completions import _complete

    assert _complete("mlcls train --logger t") == ["tensorboard"]
    assert set(_complete("mlcls train --logger ")) == {"visualdl", "tensorboard", "mlflow"}


def test_records_map_to_curves_and_final_metrics() -> None:
    train = {"type": "train", "epoch": 1, "iter": 3, "iters": 9, "step": 3, "loss": 2.5, "lr": 1e-3,
             "images_per_s": 40.0, "time": 1.0}  # fmt: skip
    assert lg.curves(train) == {"train/loss": 2.5, "train/lr": 1e-3, "train/images_per_s": 40.0}
    evaluation = {"type": "eval", "epoch": 1, "step": 9, "top1": 0.5, "top1_ema": None, "top5": 1.0,
                  "score": 0.5, "weights": "raw", "best": 0.5, "best_epoch": 1, "time": 2.0}  # fmt: skip
    assert lg.curves(evaluation) == {"eval/top1": 0.5, "eval/top5": 1.0, "eval/score": 0.5, "eval/best": 0.5}
    assert lg.curves({"type": "eval", "step": 9, "MultiLabelMAP": float("nan")}) == {}
    epoch = {"type": "epoch", "epoch": 1, "step": 9, "images": 72, "seconds": 0.5, "images_per_s": 144.0}
    assert lg.curves(epoch) == {"epoch/images_per_s": 144.0}
    assert lg.curves({"type": "event", "event": "start", "step": 0}) == {}
    done = {"type": "event", "event": "done", "step": 18, "best": 0.75, "best_epoch": 2}
    assert lg.final_metrics(done, "MultiLabelMAP") == {"best/MultiLabelMAP": 0.75, "best/epoch": 2.0}
    assert lg.final_metrics({**done, "best": float("nan")}, "top1") == {"best/epoch": 2.0}


def test_config_becomes_flat_hyperparameters() -> None:
    text = "Global:\n  model: M\n  loggers: [tensorboard]\nTrain:\n  lr: 0.1\n  amp: true\n  path: null\n  x: {}\n"
    assert lg.flat_config(text) == {
        "Global.model": "M",
        "Global.loggers": '["tensorboard"]',
        "Train.lr": 0.1,
        "Train.amp": True,
        "Train.path": "null",
        "Train.x": "{}",
    }


@pytest.mark.parametrize(("name", "module"), [("visualdl", "visualdl"), ("tensorboard", "tensorboardX"), ("mlflow", "mlflow")])  # fmt: skip
def test_a_missing_library_exits_69_before_training_naming_the_extra(
    name: str, module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["train", str(SAMPLE_DATASET), "--model", "SmallCNN_ML", *RUN_ARGS, "-O", str(out), "--logger", name],
    )
    assert result.exit_code == 69, result.output
    assert f"--logger {name} needs the Python package {module}" in result.output
    assert f'pip install "mlcls[{name}]"' in result.output
    assert not out.exists()  # refused before anything was written


def test_a_missing_library_named_in_the_config_exits_69_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["train", str(SAMPLE_DATASET), "--model", "SmallCNN_ML", *RUN_ARGS, "-O", str(out),
         "-o", "Global.loggers=[tensorboard]"],
    )  # fmt: skip
    assert result.exit_code == 69, result.output
    assert 'pip install "mlcls[tensorboard]"' in result.output


def test_an_unknown_logger_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["train", str(SAMPLE_DATASET), "--model", "SmallCNN_ML", "-O", str(tmp_path), "--logger", "wandb"],
    )
    assert result.exit_code == 2, result.output
    assert "unknown --logger 'wandb'" in result.output


def test_overwrite_keeps_the_logger_folders_with_the_earlier_run(tmp_path: Path) -> None:
    from mlcls_cli.engine.rundir import PREVIOUS_RUN, overwrite_earlier_run

    (tmp_path / "train_result.json").write_text("{}")
    for folder in ("vdl", "tensorboard", "mlruns"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "log").write_text(folder)
    (tmp_path / "mlflow_run.json").write_text("{}")
    overwrite_earlier_run(tmp_path)
    for name in ("vdl/log", "tensorboard/log", "mlflow_run.json"):
        assert (tmp_path / PREVIOUS_RUN / name).is_file(), name
        assert not (tmp_path / name).exists(), name
    assert (tmp_path / "mlruns" / "log").read_text() == "mlruns"  # a store of many runs stays in place


class _Broken(lg.ExperimentLogger):
    name = "tensorboard"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self, info: lg.RunInfo) -> None:
        self.calls.append("start")

    def record(self, record: dict[str, Any]) -> None:
        self.calls.append("record")
        raise OSError(28, "No space left on device")

    def finish(self, final: dict[str, float], step: int) -> None:
        self.calls.append("finish")

    def close(self, status: str) -> None:
        self.calls.append(f"close {status}")


class _Kept(_Broken):
    name = "mlflow"

    def record(self, record: dict[str, Any]) -> None:
        self.calls.append("record")


def test_a_failing_logger_is_reported_once_and_switched_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken, kept, lines = _Broken(), _Kept(), []
    hub = lg.ExperimentLoggers(
        [broken, kept], output_dir=tmp_path, model_name="M", metric="top1", config_text="", log=lines.append
    )
    train = {"type": "train", "step": 1, "loss": 1.0}
    for record in (
        {"type": "event", "event": "start", "step": 0},
        train,
        {**train, "step": 2},
        {"type": "event", "event": "done", "step": 2, "best": 0.5, "best_epoch": 1},
    ):
        hub.record(record)
    hub.close()
    assert broken.calls == ["start", "record", "close FAILED"]  # closed once, at its failure
    assert kept.calls == ["start", "record", "record", "finish", "close FINISHED"]
    assert len(lines) == 1 and "the tensorboard logger failed (OSError" in lines[0]
    assert capsys.readouterr().err.count("tensorboard logger failed") == 1


def test_the_plan_carries_the_loggers_to_launched_workers() -> None:
    from mlcls_cli.engine.trainer import TrainPlan

    plan = TrainPlan("SmallCNN_ML", "ds", "out", ["a"], 1, 1, 0.1, 0, 32, loggers=["tensorboard", "mlflow"])
    assert TrainPlan.from_dict(json.loads(json.dumps(plan.to_dict()))).loggers == ["tensorboard", "mlflow"]


# --------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def ml_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A multi-label run with the three loggers at once (as `mlcls train --logger ... --logger ...`)."""
    out = tmp_path_factory.mktemp("loggers") / "out"
    with pytest.MonkeyPatch.context() as mp:
        for var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_ALLOW_FILE_STORE"):
            mp.delenv(var, raising=False)
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        mp.setenv("MLCLS_NO_PROGRESS", "1")
        result = CliRunner().invoke(
            app,
            ["train", str(SAMPLE_DATASET), "--model", "SmallCNN_ML", *RUN_ARGS, "-O", str(out),
             "--logger", "visualdl", "--logger", "tensorboard,mlflow", "--json"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output[-3000:]
        # MLflow 3 refuses a file store unless asked: mlcls asks in its own process
        assert os.environ.get("MLFLOW_ALLOW_FILE_STORE") == "true"
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
    assert "Warning" not in result.stderr, result.stderr  # the libraries stay quiet
    assert "experiment logs: visualdl --logdir" in result.stderr
    yield out


@pytest.mark.paddle
@pytest.mark.slow
def test_tensorboard_holds_the_curves_config_and_final_metrics(ml_run: Path) -> None:
    from tensorboard.plugins.hparams import plugin_data_pb2

    records = _records(ml_run)
    acc, scalars = _tensorboard_scalars(ml_run / "tensorboard")
    wanted = _all_curves(records, "MultiLabelMAP")
    assert set(scalars) == set(wanted) | {"eval/MultiLabelMAP_ema"}
    for tag, points in wanted.items():
        assert scalars[tag] == _as_float32(points), tag
    config = (ml_run / "config.yaml").read_text()
    text = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert text == f"```yaml\n{config}```"

    hp_acc, hp_scalars = _tensorboard_scalars(ml_run / "tensorboard" / "hparams")
    assert hp_scalars["best/MultiLabelMAP"] == _as_float32(wanted["best/MultiLabelMAP"])
    content = hp_acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["Train.learning_rate"].number_value == _config(ml_run)["Train"]["learning_rate"]
    assert hparams["Global.model"].string_value == "SmallCNN_ML"
    assert hparams["Global.loggers"].string_value == '["visualdl", "tensorboard", "mlflow"]'


@pytest.mark.paddle
@pytest.mark.slow
def test_visualdl_holds_the_curves_config_and_final_metrics(ml_run: Path) -> None:
    records = _records(ml_run)
    reader = _visualdl_reader(ml_run)
    scalars = _visualdl_scalars(reader)
    wanted = _all_curves(records, "MultiLabelMAP")
    assert set(scalars) == set(wanted) | {"eval/MultiLabelMAP_ema"}
    for tag, points in wanted.items():
        assert scalars[tag] == _as_float32(points), tag
    config = (ml_run / "config.yaml").read_text()
    assert reader.get_data("text", "config")[0].text.encoded_text_string == config
    hparam = reader.get_data("hyper_parameters", "hparam")[0].hparam
    values = {info.name: info for info in hparam.hparamInfos}
    assert values["Global.model"].string_value == "SmallCNN_ML"
    assert values["Train.epochs_iters"].int_value == 2
    assert {m.name for m in hparam.metricInfos} >= {"eval/MultiLabelMAP", "best/MultiLabelMAP"}


@pytest.mark.paddle
@pytest.mark.slow
def test_mlflow_holds_the_curves_params_config_and_final_metrics(ml_run: Path, mlflow_env: None) -> None:
    records = _records(ml_run)
    client, run = _mlflow_run(ml_run)
    assert run.info.status == "FINISHED"
    history = _mlflow_curves(client, run)
    wanted = _all_curves(records, "MultiLabelMAP")
    assert set(history) == set(wanted) | {"eval/MultiLabelMAP_ema"}
    for key, points in wanted.items():
        assert history[key] == points, key  # doubles: exactly metrics.jsonl's values
    assert run.data.params["Train.learning_rate"] == str(_config(ml_run)["Train"]["learning_rate"])
    assert run.data.params["Train.cutout"] == "true"
    assert run.data.params["Global.model"] == "SmallCNN_ML"
    assert client.get_experiment(run.info.experiment_id).name == "mlcls"
    local = client.download_artifacts(run.info.run_id, "config.yaml", str(ml_run / "dl"))
    assert Path(local).read_text() == (ml_run / "config.yaml").read_text()


@pytest.mark.paddle
@pytest.mark.slow
def test_single_label_runs_log_top1_and_top5(tmp_path: Path, mlflow_env: None) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["train", str(SAMPLE_CLS_DATASET), "--model", "SmallCNN", *RUN_ARGS, "-O", str(out),
         "-o", "Global.loggers=[tensorboard]"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output[-3000:]
    records = _records(out)
    _, scalars = _tensorboard_scalars(out / "tensorboard")
    for key in ("top1", "top5"):
        assert scalars[f"eval/{key}"] == _as_float32(_expected(records, "eval", key)), key
    if any(r.get("top1_ema") is not None for r in records):
        assert scalars["eval/top1_ema"] == _as_float32(_expected(records, "eval", "top1_ema"))
    done = next(r for r in records if r.get("event") == "done")
    assert scalars["best/top1"] == [(done["step"], float(np.float32(done["best"])))]


def _plan(out: Path, *extra: str) -> Any:
    from mlcls_cli.engine.trainer import plan_training

    cfg = resolve_config(
        "SmallCNN_ML",
        overrides=[
            f"Global.output={out}",
            "Global.device=cpu",
            "Train.pretrain_weight_path=null",
            "Train.image_size=32",
            "Train.epochs_iters=3",
            "Train.batch_size=8",
            "Train.log_interval=3",
            *extra,
        ],
    )
    return plan_training(cfg, SAMPLE_DATASET)[0]


@pytest.mark.paddle
@pytest.mark.slow
def test_a_resumed_run_continues_the_same_curves(tmp_path: Path, mlflow_env: None) -> None:
    from mlcls_cli.engine.trainer import Trainer

    three = "Global.loggers=[visualdl, tensorboard, mlflow]"
    with pytest.raises(KeyboardInterrupt):  # stopped after epoch 1 (Ctrl-C does the same)
        Trainer(_plan(tmp_path, three), hooks=[lambda t, epoch: t.request_stop("test")]).fit()
    client, run = _mlflow_run(tmp_path)
    assert run.info.status == "KILLED"
    first_run_id = run.info.run_id
    stopped = max(r["step"] for r in _records(tmp_path))

    # what a run killed (kill -9) later in epoch 2 leaves past the checkpoint: points the resume drops
    orphan = {"type": "train", "epoch": 2, "iter": 3, "iters": 9, "step": stopped + 3, "loss": 999.0,
              "lr": 1.0, "images_per_s": 1.0, "time": 1.0}  # fmt: skip
    with open(tmp_path / "metrics.jsonl", "a") as fh:
        fh.write(json.dumps(orphan) + "\n")
    from tensorboardX import SummaryWriter
    from visualdl import LogWriter

    # (named as mlcls names its files, so that it sorts before the resumed run's file as the killed run's would)
    with SummaryWriter(str(tmp_path / "tensorboard"), filename_suffix=f".{time.time_ns()}") as writer:
        writer.add_scalar("train/loss", 999.0, stopped + 3)
    with LogWriter(logdir=str(tmp_path / "vdl")) as writer:
        writer.add_scalar("train/loss", 999.0, stopped + 3)

    summary = Trainer(_plan(tmp_path, three, "Train.resume_path=auto")).fit()
    assert summary["resumed_from"]
    records = _records(tmp_path)
    assert [r["event"] for r in records if r["type"] == "event"] == ["start", "interrupted", "resume", "done"]
    wanted = _all_curves(records, "MultiLabelMAP")
    assert [s for s, _ in wanted["train/loss"]] == [3, 6, 9, 12, 15, 18, 21, 24, 27]

    _, scalars = _tensorboard_scalars(tmp_path / "tensorboard")  # the orphan point is purged
    vdl = _visualdl_scalars(_visualdl_reader(tmp_path))  # rewritten from metrics.jsonl: one file
    for tag, points in wanted.items():
        assert scalars[tag] == _as_float32(points), tag
        assert vdl[tag] == _as_float32(points), tag

    client, run = _mlflow_run(tmp_path)
    assert run.info.run_id == first_run_id and run.info.status == "FINISHED"  # the same run goes on
    history = _mlflow_curves(client, run)
    for key, points in wanted.items():
        assert history[key] == points, key


@pytest.mark.paddle
@pytest.mark.slow
def test_a_logger_failing_mid_run_does_not_stop_training(
    tmp_path: Path, mlflow_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tensorboardX import SummaryWriter

    from mlcls_cli.engine.trainer import Trainer

    real = SummaryWriter.add_scalar
    calls = {"n": 0}

    def add_scalar(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 4:  # a disk that fills up during the second logged step
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SummaryWriter, "add_scalar", add_scalar)
    summary = Trainer(_plan(tmp_path, "Global.loggers=[tensorboard, mlflow]")).fit()
    assert summary["done_flag"] is True and (tmp_path / "best_model" / "inference").is_dir()
    assert calls["n"] == 5  # switched off after its failure
    log = (tmp_path / "train.log").read_text()
    assert log.count("the tensorboard logger failed (OSError: [Errno 28] No space left on device)") == 1
    client, run = _mlflow_run(tmp_path)  # the other logger went on to the end
    assert run.info.status == "FINISHED"
    assert _mlflow_curves(client, run)["train/loss"] == _expected(_records(tmp_path), "train", "loss")


@pytest.mark.paddle
@pytest.mark.slow
def test_two_cpu_processes_log_once_through_the_plan(tmp_path: Path, mlflow_env: None) -> None:
    """The launched workers get the loggers in their plan; only rank 0 writes (one event file, one run)."""
    import subprocess

    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "mlcls_cli", "train", str(SAMPLE_DATASET), "--model", "SmallCNN_ML", *RUN_ARGS,
         "--nproc", "2", "-O", str(out), "--logger", "tensorboard", "--logger", "mlflow"],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = _records(out)
    assert len(list((out / "tensorboard").glob("events.out.tfevents.*"))) == 1
    _, scalars = _tensorboard_scalars(out / "tensorboard")
    assert scalars["train/loss"] == _as_float32(_expected(records, "train", "loss"))
    client, run = _mlflow_run(out)
    assert len(client.search_runs([run.info.experiment_id])) == 1
    assert _mlflow_curves(client, run)["eval/MultiLabelMAP"] == _expected(records, "eval", "MultiLabelMAP")
