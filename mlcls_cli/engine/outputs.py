"""The files a training run leaves in ``Global.output`` besides the checkpoints.

- ``train_result.json``: PaddleX's record of the run (keys and update rules of
  PaddleClas ``save_result``), with two corrections: ``label_dict`` names the
  copied ``label_dict.txt`` (PaddleX leaves it ``""``), and inference paths appear
  only once the package exists (``pdmodel`` is ``inference.json``, Paddle 3's graph
  file). Paths are relative to the output folder, as in PaddleX. Each model entry
  also carries its ``epoch``.
- ``train.log``: a plain-text log of the run (appended to on resume).
- ``metrics.jsonl``: one JSON object per logged step, evaluation and epoch, each
  with the global ``step``; a resume drops the records past its checkpoint. Each
  record is also handed to the listeners of :class:`RunFiles` (the experiment
  loggers of :mod:`mlcls_cli.engine.loggers`), after it is written.
- ``config.yaml`` (the resolved config) and ``label_dict.txt`` (the dataset's label.txt).

Every file is replaced atomically, except the two append-only logs, which grow
one complete line per write.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mlcls_cli.errors import IOFailure
from mlcls_cli.models.export import CONFIG_FILE, ONNX_FILE, PARAMS_FILE
from mlcls_cli.utils.atomic import atomic_write_json, atomic_write_text

TRAIN_RESULT = "train_result.json"
TRAIN_LOG = "train.log"
METRICS_LOG = "metrics.jsonl"
CONFIG_YAML = "config.yaml"
LABEL_DICT = "label_dict.txt"
INFERENCE_DIR = "inference"
CURVES_FILE = "training_curves.png"
LAST_SLOTS = 5


def _append_line(path: Path, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        raise IOFailure(f"cannot write {path}: {exc.strerror or exc}", hint="check free disk space") from exc


class RunFiles:
    """Writer of ``train.log``, ``metrics.jsonl``, ``config.yaml`` and ``label_dict.txt`` in one output folder."""

    def __init__(self, output_dir: str | os.PathLike[str]) -> None:
        self.output_dir = Path(output_dir)
        self.log_path = self.output_dir / TRAIN_LOG
        self.metrics_path = self.output_dir / METRICS_LOG
        #: Called with each record :meth:`metric` wrote; a listener must not raise.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def prepare(self) -> None:
        """Create the output folder."""
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IOFailure(
                f"cannot create the output folder {self.output_dir}: {exc.strerror or exc}",
                hint="choose another --output",
            ) from exc

    def write_config(self, text: str) -> None:
        """Write the resolved config as ``config.yaml``."""
        atomic_write_text(self.output_dir / CONFIG_YAML, text)

    def write_label_dict(self, names: Sequence[str]) -> None:
        """Write ``label_dict.txt`` in label.txt's ``<id> <name>`` form."""
        atomic_write_text(self.output_dir / LABEL_DICT, "".join(f"{i} {n}\n" for i, n in enumerate(names)))

    def log(self, message: str) -> None:
        """Append one timestamped line (or several) to ``train.log``."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        for line in message.splitlines() or [""]:
            _append_line(self.log_path, f"[{stamp}] {line}")

    def metric(self, record: dict[str, Any]) -> None:
        """Append one JSON record to ``metrics.jsonl``, then hand each listener the record as written."""
        text = json.dumps(record, ensure_ascii=False, default=_plain)
        _append_line(self.metrics_path, text)
        for listener in self.listeners:
            listener(json.loads(text))  # the values of the line, not what was passed in

    def read_metrics(self) -> list[dict[str, Any]]:
        """The records of ``metrics.jsonl`` in order (see :func:`read_records`)."""
        return read_records(self.metrics_path)

    def prune_metrics(self, last_step: int) -> int:
        """Drop the ``metrics.jsonl`` records with a ``step`` beyond ``last_step``; returns how many were dropped."""
        if not self.metrics_path.is_file():
            return 0
        kept: list[str] = []
        dropped = 0
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                step = json.loads(line).get("step", 0)
            except (ValueError, AttributeError):
                dropped += 1  # a torn line from a killed run
                continue
            if isinstance(step, int) and step > last_step:
                dropped += 1
            else:
                kept.append(line)
        if dropped:
            atomic_write_text(self.metrics_path, "".join(line + "\n" for line in kept))
        return dropped


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The JSON records of a ``metrics.jsonl`` in order; none when it is missing, a torn line is skipped."""
    target = Path(path)
    if not target.is_file():
        return []
    records: list[dict[str, Any]] = []
    for line in target.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _plain(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def inference_entry(prefix: str) -> dict[str, str]:
    """The inference-package keys of a ``train_result.json`` model entry for ``<prefix>/inference``."""
    base = f"{prefix}/{INFERENCE_DIR}"
    return {
        "inference_config": f"{base}/{CONFIG_FILE}",
        "pdmodel": f"{base}/inference.json",
        "pdiparams": f"{base}/{PARAMS_FILE}",
    }


class TrainResult:
    """``train_result.json``: ``models.last_1..last_5`` (newest first), ``models.best`` and ``done_flag``."""

    def __init__(self, output_dir: str | os.PathLike[str], model_name: str, *, ema: bool) -> None:
        self.output_dir = Path(output_dir)
        self.path = self.output_dir / TRAIN_RESULT
        self.ema = ema
        self.data: dict[str, Any] = {
            "model_name": model_name,
            "label_dict": LABEL_DICT,
            "train_log": TRAIN_LOG,
            "visualdl_log": "",
            "config": CONFIG_YAML,
            "models": {**{f"last_{i}": {} for i in range(1, LAST_SLOTS + 1)}, "best": {}},
            "done_flag": False,
        }

    def load_existing(self) -> None:
        """Continue the model entries of an earlier ``train_result.json`` in the folder (for a resume).

        Entries whose weights file is gone (a deleted checkpoint) are left empty.
        """
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            old = json.loads(self.path.read_text(encoding="utf-8"))
            models = old.get("models") or {}
            for key in self.data["models"]:
                entry = models.get(key)
                if isinstance(entry, dict) and (self.output_dir / str(entry.get("pdparams", ""))).is_file():
                    self.data["models"][key] = entry

    def forget(self, prefixes: Sequence[str]) -> None:
        """Empty the ``last_N`` entries of the checkpoint folders ``prefixes`` (about to be deleted)."""
        gone = set(prefixes)
        models = self.data["models"]
        changed = False
        for i in range(1, LAST_SLOTS + 1):
            entry = models[f"last_{i}"]
            if entry and str(entry.get("pdparams", "")).split("/")[0] in gone:
                models[f"last_{i}"] = {}
                changed = True
        if changed:
            self.save()

    def _entry(self, prefix: str, score: float | None, epoch: int) -> dict[str, Any]:
        entry: dict[str, Any] = {"score": score}
        for tag in ("pdparams", "pdopt", "pdstates", *(("pdema",) if self.ema else ())):
            entry[tag] = f"{prefix}/{prefix}.{tag}"
        entry["epoch"] = epoch
        return entry

    def record_best(self, score: float | None, epoch: int) -> None:
        """A new ``best_model/`` was saved (its inference package comes later)."""
        self.data["models"]["best"] = self._entry("best_model", score, epoch)
        self.data["done_flag"] = False
        self.save()

    def record_epoch(self, prefix: str, score: float | None, epoch: int) -> None:
        """An ``epoch_N/`` checkpoint was saved: shift ``last_1..last_4`` down and fill ``last_1``."""
        models = self.data["models"]
        for i in range(LAST_SLOTS, 1, -1):
            models[f"last_{i}"] = models[f"last_{i - 1}"]
        models["last_1"] = self._entry(prefix, score, epoch)
        self.data["done_flag"] = False
        self.save()

    def record_best_inference(self, *, onnx: bool = False) -> None:
        """``best_model/inference/`` was exported (``onnx``: with ``inference.onnx``): add its paths to ``models.best``."""
        entry = inference_entry("best_model")
        if onnx:
            entry["onnx"] = f"best_model/{INFERENCE_DIR}/{ONNX_FILE}"
        self.data["models"]["best"].update(entry)
        self.save()

    def finish(self) -> None:
        """The run completed: ``done_flag`` true."""
        self.data["done_flag"] = True
        self.save()

    def save(self) -> None:
        """Write the file atomically."""
        atomic_write_json(self.path, self.data)
