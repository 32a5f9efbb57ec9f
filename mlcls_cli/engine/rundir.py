"""The output folder of a training run: one training at a time, and never two runs mixed in one folder.

- **Lock.** A running training holds ``<output>/.mlcls_train.lock`` (an ``flock``, see
  :class:`mlcls_cli.hub.lock.HeldLock`); a second training into the folder is refused
  with exit 75. The operating system drops the lock when its holder dies, even by
  ``kill -9``, so a lock file left on disk never blocks a later run. The holder is the
  training process itself, or for a launched data-parallel run the ``mlcls train``
  process that starts the workers (its launcher inherits the lock, see
  :mod:`mlcls_cli.engine.distributed`).
- **Earlier runs.** A folder holding an earlier run's outputs (:data:`RUN_MARKERS`) is
  refused unless the new run continues it (``--resume``) or replaces it (``--overwrite``).
  ``mlcls check``'s outputs and any other file do not count, and are never touched.
- **Overwrite.** The earlier run's best model and its records (:data:`RECORD_FILES`) move
  to ``<output>/previous_run/`` (replacing what an earlier ``--overwrite`` kept there);
  its other checkpoints (``latest/``, ``epoch_N/``) and launcher logs are deleted.

Only the process that owns the folder (a single-process trainer, or the launching
parent) calls :func:`claim_output`; launched workers never decide. In a multi-node run only
node 0 owns its ``--output``: a node R > 0 never claims, refuses or clears its folder (it may
be node 0's, on a shared filesystem) and writes only under ``.mlcls_dist/node<R>/`` and
``log/node<R>/``, which an ``--overwrite`` on node 0 leaves alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlcls_cli import console
from mlcls_cli.engine.checkpoint import BEST, LATEST
from mlcls_cli.engine.loggers import MLFLOW_RUN_FILE, TENSORBOARD_DIR, VDL_DIR
from mlcls_cli.engine.outputs import (
    CONFIG_YAML,
    CURVES_FILE,
    LABEL_DICT,
    METRICS_LOG,
    TRAIN_LOG,
    TRAIN_RESULT,
)
from mlcls_cli.errors import IOFailure, OutputBusyError, UsageError
from mlcls_cli.hub.lock import HeldLock
from mlcls_cli.utils.atomic import replace_dir

LOCK_FILE = ".mlcls_train.lock"
PREVIOUS_RUN = "previous_run"
# what `mlcls eval` writes into the run's folder (its default --output): stale once a new run starts
EVAL_FILES = (
    "evaluate_result.json",
    "pr_curves.png",
    "ap_per_class.png",
    "thresholds.json",
    "confusion_matrix.png",
)
#: Files that describe a run; ``--overwrite`` keeps them with the best model in ``previous_run/``.
#: The experiment loggers' folders count (an MLflow store, ``mlruns/``, holds many runs and stays).
RECORD_FILES = (
    TRAIN_RESULT,
    TRAIN_LOG,
    METRICS_LOG,
    CONFIG_YAML,
    LABEL_DICT,
    CURVES_FILE,
    *EVAL_FILES,
    VDL_DIR,
    TENSORBOARD_DIR,
    MLFLOW_RUN_FILE,
)
#: Any of these in the folder means it holds an earlier run (``config.yaml`` alone may be the user's).
RUN_MARKERS = (TRAIN_RESULT, TRAIN_LOG, METRICS_LOG, EVAL_FILES[0], BEST, LATEST)
_EPOCH_DIR = re.compile(r"^epoch_\d+$")
# folders a killed save or swap leaves behind (checkpoint.save_checkpoint, utils.atomic.replace_dir)
_STAGING = re.compile(rf"^\.({BEST}|{LATEST}|{PREVIOUS_RUN}|epoch_\d+)\.(save|old)-")
_LAUNCH_DIR = ".mlcls_dist"
_LAUNCH_LOG_DIR = "log"
_NODE_DIR = re.compile(r"^node\d+$")
# what paddle.distributed.launch writes into its --log_dir (job id "default")
_LAUNCH_LOG = re.compile(r"^(workerlog\.\d+|envlog\.(init\.)?\d+|backup_env\.\d+\.json|default\.[^/]+\.log)$")


@dataclass
class Cleared:
    """What :func:`overwrite_earlier_run` did: names moved to ``previous_run/`` and names deleted."""

    kept: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def continues_in(resume: str | os.PathLike[str] | None, output_dir: str | os.PathLike[str]) -> bool:
    """True when the checkpoint prefix ``resume`` lies in ``output_dir`` (the run continues that folder's run)."""
    if not resume:
        return False
    return Path(output_dir).resolve() in Path(resume).resolve().parents


def earlier_run(output_dir: str | os.PathLike[str]) -> list[str]:
    """The names in ``output_dir`` that show an earlier training run there (empty for a fresh folder)."""
    out = Path(output_dir)
    if not out.is_dir():
        return []
    found = [name for name in RUN_MARKERS if (out / name).exists()]
    epochs = sorted(
        (p.name for p in out.iterdir() if p.is_dir() and _EPOCH_DIR.match(p.name)),
        key=lambda n: int(n.split("_")[1]),
    )
    return found + epochs


def describe(names: list[str], output_dir: Path, limit: int = 10) -> str:
    """``train_result.json, best_model/, epoch_3/ and 2 more`` for a list of names in ``output_dir``."""
    shown = [n + ("/" if (output_dir / n).is_dir() else "") for n in names[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown) + more


def refuse_earlier_run(
    output_dir: Path, found: list[str], *, resume_auto_found_nothing: bool = False
) -> None:
    """Raise the usage error (exit 2) for a new run into ``output_dir``, which holds ``found``."""
    what = describe(found, output_dir)
    if resume_auto_found_nothing:
        message = (
            f"--resume auto: {output_dir} has no checkpoint to continue (no latest/ or epoch_N/) "
            f"but holds an earlier run's files ({what})"
        )
        hint = "start afresh there with --overwrite (without --resume), or choose another --output"
    else:
        message = (
            f"{output_dir} holds an earlier training run ({what}); a new run there would mix with its "
            "logs and checkpoints"
        )
        hint = (
            "continue it with --resume auto, write elsewhere with --output DIR, or replace it with "
            f"--overwrite (its best model and records are kept in {output_dir / PREVIOUS_RUN})"
        )
    raise UsageError(message, hint=hint)


# --------------------------------------------------------------------------- the lock


def _holder(path: Path) -> str:
    """Who holds the lock, as its holder wrote it (best effort: the file may be unreadable)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        info = json.loads(path.read_text(encoding="utf-8"))
        return f" (pid {info['pid']} on {info['host']}, started {info['started']})"
    return ""


def lock_output(output_dir: str | os.PathLike[str]) -> HeldLock:
    """Take the training lock of ``output_dir`` (created if missing); raise exit 75 when a training holds it."""
    out = Path(output_dir)
    path = out / LOCK_FILE
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = HeldLock.try_acquire(path)
    except OSError as exc:
        raise IOFailure(
            f"cannot create the output folder's lock {path}: {exc.strerror or exc}",
            hint="choose a writable --output",
        ) from exc
    if lock is None:
        raise OutputBusyError(
            f"{out} is in use by another training{_holder(path)}; two runs in one folder would mix their "
            "logs and checkpoints",
            hint="wait until it ends, or choose another --output",
        )
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    with contextlib.suppress(OSError):  # informational only: the flock is what excludes
        assert lock.fd is not None
        os.ftruncate(lock.fd, 0)
        os.lseek(lock.fd, 0, os.SEEK_SET)
        os.write(lock.fd, json.dumps(info).encode())
        os.lseek(lock.fd, 0, os.SEEK_SET)
    return lock


def probe_output(output_dir: str | os.PathLike[str]) -> None:
    """Raise exit 75 now when a training holds ``output_dir`` (a quick check before slow preparations)."""
    if (Path(output_dir) / LOCK_FILE).is_file():
        lock_output(output_dir).release()


# --------------------------------------------------------------------------- claiming the folder


def claim_output(output_dir: str | os.PathLike[str], *, continuing: bool, overwrite: bool) -> HeldLock:
    """Lock ``output_dir`` for a run and make it ready; the caller releases the returned lock at the end.

    ``continuing``: the run resumes a checkpoint of this folder (an earlier run is expected).
    Otherwise an earlier run there is refused, or with ``overwrite`` replaced (see the module).
    Leftovers of a killed save are removed in every case.
    """
    out = Path(output_dir)
    lock = lock_output(out)
    try:
        found = [] if continuing else earlier_run(out)
        if found and not overwrite:
            refuse_earlier_run(out, found)
        if found:
            cleared = overwrite_earlier_run(out)
            kept = f"; moved {describe(cleared.kept, out / PREVIOUS_RUN)} to {out / PREVIOUS_RUN}"
            console.info(
                f"--overwrite: replaced the earlier run in {out}"
                + (f"; deleted {describe(cleared.deleted, out)}" if cleared.deleted else "")
                + (kept if cleared.kept else "")
            )
        _remove_staging(out)
    except BaseException:
        lock.release()
        raise
    return lock


def _remove_staging(out: Path) -> None:
    for path in out.iterdir():
        if path.is_dir() and _STAGING.match(path.name):
            shutil.rmtree(path, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _node_dirs(job_dir: Path) -> list[Path]:
    """The job folders of nodes R > 0 (``node<R>/``) in ``.mlcls_dist`` (see mlcls_cli.engine.distributed)."""
    return [p for p in job_dir.iterdir() if p.is_dir() and _NODE_DIR.match(p.name)]


def _remove_files(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file() or path.is_symlink():
            path.unlink()


def overwrite_earlier_run(output_dir: str | os.PathLike[str]) -> Cleared:
    """Move the earlier run's best model and records to ``previous_run/``; delete its other checkpoints.

    Files and folders the run did not write are left alone. The move is made in a
    staging folder renamed into place, so an interruption loses nothing.
    """
    out = Path(output_dir)
    cleared = Cleared()
    keep = [name for name in (BEST, *RECORD_FILES) if (out / name).exists()]
    try:
        if keep:
            staged = Path(tempfile.mkdtemp(prefix=f".{PREVIOUS_RUN}.save-", dir=out))
            for name in keep:
                os.replace(out / name, staged / name)
            os.chmod(staged, 0o755)  # mkdtemp creates 0700
            replace_dir(staged, out / PREVIOUS_RUN)
            cleared.kept = keep
        for path in sorted(out.iterdir()):
            if path.name == _LAUNCH_DIR and path.is_dir() and _node_dirs(path):
                _remove_files(path)  # another node's job folder (a shared --output) may be in use
            elif path.name == LATEST or path.name == _LAUNCH_DIR or _EPOCH_DIR.match(path.name):
                cleared.deleted.append(path.name + ("/" if path.is_dir() else ""))
                _remove(path)
        logs = out / _LAUNCH_LOG_DIR
        if logs.is_dir():
            for path in logs.iterdir():
                if path.is_file() and _LAUNCH_LOG.match(path.name):
                    path.unlink()
                    cleared.deleted.append(f"{_LAUNCH_LOG_DIR}/{path.name}")
            with contextlib.suppress(OSError):
                logs.rmdir()  # only when nothing else is in it
    except OSError as exc:
        raise IOFailure(
            f"cannot clear the earlier run in {out}: {exc.strerror or exc}",
            hint="check the folder's permissions, or choose another --output",
        ) from exc
    return cleared
