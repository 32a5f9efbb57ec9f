"""Experiment tracking for ``mlcls train``: VisualDL, TensorBoard (through tensorboardX) and MLflow.

The trainer writes every record of a run (a logged training step, an evaluation, an
epoch, an event) to ``metrics.jsonl`` through :meth:`RunFiles.metric
<mlcls_cli.engine.outputs.RunFiles.metric>`. :func:`attach_loggers` adds an
:class:`ExperimentLoggers` to its listeners, which hands each record, as written, to
the loggers the run asked for (``--logger`` / ``Global.loggers``): their numbers are
those of ``metrics.jsonl``. Only the main process (rank 0) logs.

What each logger records, at the run's global step (the x axis of every curve):

- ``train/loss``, ``train/lr``, ``train/images_per_s`` at each logged step;
- ``eval/<metric>`` and ``eval/<metric>_ema`` (``MultiLabelMAP`` for multi-label
  models, ``top1`` for single-label ones, with ``eval/top5``), ``eval/score`` (the
  better of the two) and ``eval/best`` (the best so far) at each evaluation;
- ``epoch/images_per_s`` at the last step of each epoch;
- ``best/<metric>`` and ``best/epoch`` when the run completes;
- the resolved config (``config.yaml``'s text): as hyper-parameters (dotted keys such as
  ``Train.learning_rate``; MLflow params) and as text (VisualDL and TensorBoard) or the
  artifact ``config.yaml`` (MLflow).

Where: ``<output>/vdl/`` (VisualDL, PaddleX's folder name; ``train_result.json``'s
``visualdl_log`` names the file), ``<output>/tensorboard/``, and for MLflow the tracking
URI in ``MLFLOW_TRACKING_URI``, else a file store in ``<output>/mlruns/`` (experiment
``MLFLOW_EXPERIMENT_NAME``, else ``mlcls``). MLflow 3 refuses its file store unless
``MLFLOW_ALLOW_FILE_STORE`` is true: for a local store mlcls sets it (when unset) in its
own process, and the MLflow UI needs it too.

Resume (``--resume``): the curves go on at the step of the checkpoint, and the points
that a killed run logged past that checkpoint (``metrics.jsonl`` drops them) disappear:
TensorBoard purges them (``purge_step``); VisualDL's file is written anew from
``metrics.jsonl``; MLflow continues the same run (its id is in ``<output>/mlflow_run.json``)
and keeps such points, since MLflow cannot delete them. A logger that has nothing of the
earlier part (e.g. added on resume) is given ``metrics.jsonl``'s earlier records first.

A logger that fails during the run (a full disk, a tracking server gone) is reported once,
in a warning and in ``train.log``, and is off for the rest of the run; training goes on.
A library that is not installed is refused before training starts (exit 69) with the pip
extra to install (:func:`require_loggers`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcls_cli import console
from mlcls_cli.engine.outputs import read_records
from mlcls_cli.errors import ExitCode, MlclsError, UsageError

#: Logger name -> (module imported, pip extra of mlcls that installs it).
LOGGERS: dict[str, tuple[str, str]] = {
    "visualdl": ("visualdl", "visualdl"),
    "tensorboard": ("tensorboardX", "tensorboard"),
    "mlflow": ("mlflow", "mlflow"),
}
VDL_DIR = "vdl"
TENSORBOARD_DIR = "tensorboard"
MLRUNS_DIR = "mlruns"
MLFLOW_RUN_FILE = "mlflow_run.json"
#: How to look at each logger's records, for ``--help``, README and the start message.
VIEW_COMMANDS = {
    "visualdl": "visualdl --logdir {out}/vdl",
    "tensorboard": "tensorboard --logdir {out}/tensorboard",
    "mlflow": "MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri {out}/mlruns",
}
# record fields that are bookkeeping, not curves
_NOT_CURVES = frozenset(
    {"type", "event", "epoch", "iter", "iters", "step", "time", "best_epoch", "weights", "images", "seconds"}
)


class LoggerUnavailableError(MlclsError):
    """The library of a requested logger is not installed or cannot be imported (exit 69)."""

    exit_code = ExitCode.UNAVAILABLE


def install_hint(name: str) -> str:
    """The pip command that installs logger ``name``'s library."""
    return f'pip install "mlcls[{LOGGERS[name][1]}]"'


def parse_logger_names(values: Iterable[str] | None) -> list[str]:
    """Logger names from ``--logger`` values (each may hold several, comma-separated); UsageError (2) for others."""
    names: list[str] = []
    for value in values or ():
        for part in str(value).split(","):
            word = part.strip().lower()
            if not word:
                continue
            if word not in LOGGERS:
                raise UsageError(f"unknown --logger {part.strip()!r}", hint=f"use {', '.join(LOGGERS)}")
            if word not in names:
                names.append(word)
    return names


def require_loggers(names: Sequence[str]) -> list[str]:
    """Import each logger's library now; LoggerUnavailableError (69) naming the pip extra when one is missing.

    Returns ``names`` as a list, so a plan can hold it.
    """
    for name in names:
        if name not in LOGGERS:
            raise UsageError(f"unknown logger {name!r}", hint=f"use {', '.join(LOGGERS)}")
        module = LOGGERS[name][0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(module)
        except ImportError:
            raise LoggerUnavailableError(
                f"--logger {name} needs the Python package {module}, which is not installed",
                hint=f"install it with `{install_hint(name)}`, or train without --logger {name}",
            ) from None
        except Exception as exc:  # an installed library that breaks on import (a version clash)
            raise LoggerUnavailableError(
                f"--logger {name}: {module} is installed but cannot be imported: {type(exc).__name__}: {exc}",
                hint=f"reinstall it with `{install_hint(name)}`, or train without --logger {name}",
            ) from None
    return list(names)


# --------------------------------------------------------------------------- what is logged


def curves(record: dict[str, Any]) -> dict[str, float]:
    """The curve values of a ``metrics.jsonl`` record: ``{"train/loss": ..., "eval/top1": ...}`` (none for events).

    Bookkeeping fields (step, epoch, time, ...) and missing values (null, NaN) are left out.
    """
    kind = record.get("type")
    if kind not in ("train", "eval", "epoch"):
        return {}
    out: dict[str, float] = {}
    for key, value in record.items():
        if key in _NOT_CURVES or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            out[f"{kind}/{key}"] = float(value)
    return out


def final_metrics(record: dict[str, Any], metric: str) -> dict[str, float]:
    """``{"best/<metric>": ..., "best/epoch": ...}`` from the run's ``done`` event (the metric left out if NaN)."""
    out: dict[str, float] = {}
    best = record.get("best")
    if isinstance(best, (int, float)) and not isinstance(best, bool) and math.isfinite(best):
        out[f"best/{metric}"] = float(best)
    if isinstance(record.get("best_epoch"), int):
        out["best/epoch"] = float(record["best_epoch"])
    return out


def flat_config(config_text: str) -> dict[str, bool | int | float | str]:
    """The resolved config as ``{"Train.learning_rate": 0.0001, ...}``: scalars kept, null and lists as text."""
    import yaml

    data = yaml.safe_load(config_text) if config_text else None
    out: dict[str, bool | int | float | str] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                walk(value, name + ".")
            elif isinstance(value, (bool, int, float, str)):
                out[name] = value
            else:
                out[name] = "null" if value is None else json.dumps(value, ensure_ascii=False, default=str)

    if isinstance(data, dict):
        walk(data, "")
    return out


@dataclass
class RunInfo:
    """What a logger is told of the run when it starts."""

    output_dir: Path
    model_name: str
    metric: str  # the metric that selects best_model: MultiLabelMAP or top1
    config_text: str  # the resolved config, as config.yaml holds it
    resumed: bool = False
    step: int = 0  # the global step the run starts (or resumes) at
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier metrics.jsonl records (a resume)

    @property
    def hparams(self) -> dict[str, bool | int | float | str]:
        """The config as flat hyper-parameters."""
        return flat_config(self.config_text)


class ExperimentLogger:
    """One experiment tracker. Subclasses import their library in :meth:`start`, never at module level."""

    name = ""

    def start(self, info: RunInfo) -> None:
        """Open the log for a run that starts (or resumes) at ``info.step``; record the config."""
        raise NotImplementedError

    def record(self, record: dict[str, Any]) -> None:
        """Record one ``metrics.jsonl`` record of type train, eval or epoch."""
        raise NotImplementedError

    def finish(self, final: dict[str, float], step: int) -> None:
        """The run completed: record its final metrics (``best/<metric>``, ``best/epoch``) at ``step``."""
        raise NotImplementedError

    def close(self, status: str) -> None:
        """Flush and close; ``status`` is FINISHED, KILLED (interrupted, resumable) or FAILED."""
        raise NotImplementedError


def _replayed(history: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    return (r for r in history if r.get("type") in ("train", "eval", "epoch"))


class VisualDLLogger(ExperimentLogger):
    """VisualDL's ``LogWriter`` in ``<output>/vdl`` (PaddleX's folder); a resume rewrites the file."""

    name = "visualdl"

    def __init__(self) -> None:
        self.writer: Any = None
        self.file: Path | None = None

    def start(self, info: RunInfo) -> None:
        """Open a new record file (a resume first deletes the old ones and replays ``info.history``)."""
        from visualdl import LogWriter

        logdir = info.output_dir / VDL_DIR
        if info.resumed and logdir.is_dir():
            for old in logdir.glob("vdlrecords.*.log"):
                old.unlink()
        self.writer = LogWriter(logdir=str(logdir), flush_secs=30)
        self.file = Path(self.writer.file_name)
        hparams = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in info.hparams.items()}
        self.writer.add_hparams(
            hparams, [f"eval/{info.metric}", f"eval/{info.metric}_ema", f"best/{info.metric}"]
        )
        self.writer.add_text("config", info.config_text, step=info.step)
        for record in _replayed(info.history):
            self.record(record)

    def record(self, record: dict[str, Any]) -> None:
        """Add each curve value as a scalar at the record's step (its wall time when it has one)."""
        walltime = round(record["time"] * 1000) if isinstance(record.get("time"), (int, float)) else None
        for tag, value in curves(record).items():
            self.writer.add_scalar(tag, value, int(record["step"]), walltime=walltime)

    def finish(self, final: dict[str, float], step: int) -> None:
        """Add the final metrics as scalars at ``step``."""
        for tag, value in final.items():
            self.writer.add_scalar(tag, value, step)

    def close(self, status: str) -> None:
        """Flush and close the record file."""
        if self.writer is not None:
            self.writer.close()


class TensorBoardLogger(ExperimentLogger):
    """tensorboardX's ``SummaryWriter`` in ``<output>/tensorboard`` (readable by TensorBoard, no torch needed)."""

    name = "tensorboard"

    def __init__(self) -> None:
        self.writer: Any = None
        self.hparams: dict[str, bool | int | float | str] = {}

    def start(self, info: RunInfo) -> None:
        """Open an event file; a resume purges the points past ``info.step`` (or replays history into a new folder)."""
        from tensorboardX import SummaryWriter

        logdir = info.output_dir / TENSORBOARD_DIR
        earlier = logdir.is_dir() and any(logdir.glob("events.out.tfevents.*"))
        purge = info.step + 1 if info.resumed and earlier else None
        # the file name has the second it was opened in: a suffix keeps two of one second apart (and in order)
        self.writer = SummaryWriter(
            logdir=str(logdir), purge_step=purge, flush_secs=30, filename_suffix=f".{time.time_ns()}"
        )
        self.hparams = info.hparams
        self.writer.add_text("config", "```yaml\n" + info.config_text + "```", global_step=info.step)
        if info.resumed and not earlier:
            for record in _replayed(info.history):
                self.record(record)

    def record(self, record: dict[str, Any]) -> None:
        """Add each curve value as a scalar at the record's step (its wall time when it has one); flush each epoch."""
        walltime = float(record["time"]) if isinstance(record.get("time"), (int, float)) else None
        for tag, value in curves(record).items():
            self.writer.add_scalar(tag, value, int(record["step"]), walltime=walltime)
        if record.get("type") != "train":
            self.writer.flush()  # on disk before the epoch's checkpoint: a killed run loses no point a resume keeps

    def finish(self, final: dict[str, float], step: int) -> None:
        """Add the final metrics as scalars, and the config with them to TensorBoard's HParams (run ``hparams``)."""
        for tag, value in final.items():
            self.writer.add_scalar(tag, value, step)
        self.writer.add_hparams(self.hparams, dict(final), name="hparams", global_step=step)

    def close(self, status: str) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.writer.close()


def _is_local_store(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file:")


class MLflowLogger(ExperimentLogger):
    """An MLflow run through ``MlflowClient``: ``MLFLOW_TRACKING_URI``, else a file store in ``<output>/mlruns``."""

    name = "mlflow"

    def __init__(self) -> None:
        self.client: Any = None
        self.run_id: str | None = None

    def start(self, info: RunInfo) -> None:
        """Continue the run of ``mlflow_run.json`` on a resume, else create one; log params and config.yaml."""
        uri = os.environ.get("MLFLOW_TRACKING_URI") or (info.output_dir / MLRUNS_DIR).resolve().as_uri()
        if _is_local_store(uri):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 refuses file stores otherwise
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        self.client = client = MlflowClient(tracking_uri=uri)
        record_file = info.output_dir / MLFLOW_RUN_FILE
        run = self._earlier_run(record_file, uri) if info.resumed else None
        params = info.hparams
        if run is not None:
            self.run_id = run.info.run_id
            client.update_run(self.run_id, status="RUNNING")
            params = {k: v for k, v in params.items() if k not in run.data.params}  # params cannot change
        else:
            name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "mlcls"
            experiment = client.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
            self.run_id = client.create_run(
                experiment_id,
                run_name=f"{info.model_name} {info.output_dir.name}",
                tags={"mlcls.model": info.model_name, "mlcls.output": str(info.output_dir)},
            ).info.run_id
            record_file.write_text(
                json.dumps({"tracking_uri": uri, "experiment_id": experiment_id, "run_id": self.run_id})
                + "\n",
                encoding="utf-8",
            )
        items = [
            Param(k, (str(v).lower() if isinstance(v, bool) else str(v))[:500]) for k, v in params.items()
        ]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
            client.log_batch(self.run_id, params=items[i : i + 100])
        client.log_text(self.run_id, info.config_text, "config.yaml")
        if run is None:
            for record in _replayed(info.history):
                self.record(record)

    def _earlier_run(self, record_file: Path, uri: str) -> Any:
        """The run that ``mlflow_run.json`` names, when it is in this tracking store; else None."""
        try:
            saved = json.loads(record_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict) or saved.get("tracking_uri") != uri or not saved.get("run_id"):
            return None
        try:
            return self.client.get_run(str(saved["run_id"]))
        except Exception:  # deleted, or another store: a new run
            return None

    def _log(self, values: dict[str, float], step: int, stamp: float | None) -> None:
        from mlflow.entities import Metric

        millis = round((stamp if stamp is not None else time.time()) * 1000)
        metrics = [Metric(key, value, millis, step) for key, value in values.items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def record(self, record: dict[str, Any]) -> None:
        """Log each curve value as a metric at the record's step."""
        stamp = float(record["time"]) if isinstance(record.get("time"), (int, float)) else None
        self._log(curves(record), int(record["step"]), stamp)

    def finish(self, final: dict[str, float], step: int) -> None:
        """Log the final metrics at ``step``."""
        self._log(final, step, None)

    def close(self, status: str) -> None:
        """End the run with ``status`` (FINISHED, KILLED or FAILED)."""
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)


_CLASSES: dict[str, type[ExperimentLogger]] = {
    "visualdl": VisualDLLogger,
    "tensorboard": TensorBoardLogger,
    "mlflow": MLflowLogger,
}


# --------------------------------------------------------------------------- the fan-out


class ExperimentLoggers:
    """Hands the records of a run to its loggers; a logger that raises is reported once and switched off."""

    def __init__(
        self,
        loggers: Sequence[ExperimentLogger],
        *,
        output_dir: str | os.PathLike[str],
        model_name: str,
        metric: str,
        config_text: str,
        metrics_path: str | os.PathLike[str] | None = None,
        log: Callable[[str], None] | None = None,
        on_visualdl_file: Callable[[str], None] | None = None,
    ) -> None:
        """``log`` also receives each failure (for ``train.log``); ``on_visualdl_file`` the VisualDL file's path."""
        self.loggers = list(loggers)
        self.output_dir = Path(output_dir)
        self.model_name = model_name
        self.metric = metric
        self.config_text = config_text
        self.metrics_path = Path(metrics_path) if metrics_path else None
        self.log = log
        self.on_visualdl_file = on_visualdl_file
        self.failed: set[str] = set()
        self.started = False
        self.status = "FAILED"  # until a done or interrupted event says otherwise

    @property
    def active(self) -> list[ExperimentLogger]:
        """The loggers that have not failed."""
        return [lg for lg in self.loggers if lg.name not in self.failed]

    def _call(self, logger: ExperimentLogger, method: str, *args: Any) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore"
                )  # the libraries' deprecation chatter is not the user's concern
                getattr(logger, method)(*args)
        except Exception as exc:
            self.failed.add(logger.name)
            message = (
                f"the {logger.name} logger failed ({type(exc).__name__}: {exc}); it is off for the rest of "
                "this run, training goes on (metrics.jsonl has every record)"
            )
            console.warn(message)
            if self.log is not None:
                with contextlib.suppress(Exception):
                    self.log(f"warning: {message}")
            if method != "close":
                with contextlib.suppress(Exception), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    logger.close("FAILED")

    def _history(self, current: dict[str, Any]) -> list[dict[str, Any]]:
        """The records of ``metrics.jsonl`` before ``current`` (the last line, just written)."""
        if self.metrics_path is None:
            return []
        records = read_records(self.metrics_path)
        if records and records[-1] == current:
            records.pop()
        return records

    def record(self, record: dict[str, Any]) -> None:
        """The listener of :class:`~mlcls_cli.engine.outputs.RunFiles`: route one record to the loggers."""
        kind, event = record.get("type"), record.get("event")
        if kind == "event" and event in ("start", "resume"):
            self._start(record)
        elif not self.started:
            return
        elif kind == "event" and event == "done":
            final = final_metrics(record, self.metric)
            for logger in self.active:
                self._call(logger, "finish", final, int(record.get("step", 0)))
            self.status = "FINISHED"
        elif kind == "event" and event == "interrupted":
            self.status = "KILLED"
        elif curves(record):
            for logger in self.active:
                self._call(logger, "record", record)

    def _start(self, record: dict[str, Any]) -> None:
        resumed = record.get("event") == "resume"
        info = RunInfo(
            output_dir=self.output_dir,
            model_name=self.model_name,
            metric=self.metric,
            config_text=self.config_text,
            resumed=resumed,
            step=int(record.get("step", 0)),
            history=self._history(record) if resumed else [],
        )
        for logger in self.active:
            self._call(logger, "start", info)
        self.started = True
        views = []
        for logger in self.active:
            if isinstance(logger, VisualDLLogger) and logger.file is not None and self.on_visualdl_file:
                with contextlib.suppress(ValueError):
                    self.on_visualdl_file(
                        logger.file.resolve().relative_to(self.output_dir.resolve()).as_posix()
                    )
            views.append(view_command(logger.name, self.output_dir))
        if views:
            console.info("experiment logs: " + "; ".join(views))

    def close(self) -> None:
        """Close every logger (MLflow ends its run as FINISHED, KILLED after Ctrl-C, else FAILED)."""
        if not self.started:
            return
        for logger in self.active:
            self._call(logger, "close", self.status)
        self.started = False


def view_command(name: str, output_dir: str | os.PathLike[str]) -> str:
    """The shell command that shows logger ``name``'s records of the run in ``output_dir``."""
    if name == "mlflow" and os.environ.get("MLFLOW_TRACKING_URI"):
        return f"MLflow run in {os.environ['MLFLOW_TRACKING_URI']}"
    return VIEW_COMMANDS[name].format(out=output_dir)


def build_loggers(names: Sequence[str]) -> list[ExperimentLogger]:
    """One logger object per name (nothing imported yet)."""
    return [_CLASSES[name]() for name in names]


def attach_loggers(plan: Any, files: Any, result: Any, *, metric: str) -> ExperimentLoggers | None:
    """Create the loggers of ``plan.loggers`` and listen to ``files`` (a RunFiles); None when there are none.

    ``result`` (the run's TrainResult) gets the VisualDL file as ``visualdl_log``, as PaddleX records it.
    """
    if not plan.loggers:
        return None

    def visualdl_file(path: str) -> None:
        result.data["visualdl_log"] = path

    hub = ExperimentLoggers(
        build_loggers(plan.loggers),
        output_dir=plan.output_dir,
        model_name=plan.model_name,
        metric=metric,
        config_text=plan.config_text,
        metrics_path=files.metrics_path,
        log=files.log,
        on_visualdl_file=visualdl_file,
    )
    files.listeners.append(hub.record)
    return hub
