"""Data-parallel training over several processes, through ``paddle.distributed.launch``.

The ``mlcls train`` process (the *parent*) writes the training plan to
``<output>/.mlcls_dist/job.json`` and runs ``python -m paddle.distributed.launch
--nproc_per_node N`` with mlcls's own worker entry point (:func:`worker_main`). Each
worker trains on its slice of every batch (gloo on CPU, NCCL on GPU); rank 0 alone
writes outputs and prints progress, which the parent relays to its stderr without
paddle's launcher noise. The parent then renders the result that rank 0 left in
``result.json``, or raises the error a worker recorded in ``error.<rank>.json``
with its exit code. Ctrl-C in the parent is forwarded to the workers as SIGINT, so
rank 0 saves ``latest/`` before they exit.

The parent alone decides about the output folder: it takes the folder's training lock
and refuses or replaces an earlier run there (:func:`mlcls_cli.engine.rundir.claim_output`)
before any worker starts, and the launcher inherits the lock's file descriptor, so the
folder stays locked while the launcher lives even if the parent is killed.

Launcher traps (environment.md section 4): ``CUDA_VISIBLE_DEVICES`` must be unset,
never empty, for a CPU run, and ``--devices`` is only passed for GPUs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcls_cli import console
from mlcls_cli.errors import ExitCode, MlclsError, TrainingError

JOB_DIR = ".mlcls_dist"
LOG_DIR = "log"
#: When set, every rank writes the sample indices it trained on and a hash of its final weights there.
ENV_SEEN_DIR = "MLCLS_DEBUG_SEEN_DIR"
WORKER_CODE = "from mlcls_cli.engine.distributed import worker_main; raise SystemExit(worker_main())"
_NOISE = re.compile(
    r"^(LAUNCH (INFO|WARNING|DEBUG)|[IWE]\d{4} \d\d:\d\d:\d\d|\s*warnings\.warn\(|.*UserWarning: No ccache"
    r"|=+( Modified FLAGS detected =+)?$|FLAGS\(name=|server not ready|\s*$)"
)


@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True for rank 0, the process that writes outputs and prints progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1


def current_world() -> World:
    """The world described by the launcher's environment (a single process when there is none)."""
    size = int(os.environ.get("PADDLE_TRAINERS_NUM", "1") or 1)
    rank = int(os.environ.get("PADDLE_TRAINER_ID", "0") or 0)
    local = int(os.environ.get("PADDLE_LOCAL_RANK", os.environ.get("PADDLE_RANK_IN_NODE", rank)) or 0)
    return World(rank=rank, world_size=max(1, size), local_rank=local)


def init_parallel(world: World) -> None:
    """Join the process group (gloo on CPU); a no-op for a single process."""
    if world.distributed:
        import paddle.distributed as dist

        dist.init_parallel_env()


def gpu_id_for_worker(default: int) -> int:
    """The GPU the launcher gave this worker (``FLAGS_selected_gpus``), or ``default``."""
    value = os.environ.get("FLAGS_selected_gpus", "").split(",")[0].strip()  # noqa: SIM112 (paddle spells it so)
    return int(value) if value.isdigit() else default


def all_reduce_sum(values: list[float], world: World) -> list[float]:
    """Sum a few numbers over all ranks (returns them unchanged for a single process)."""
    if not world.distributed:
        return list(values)
    import paddle
    import paddle.distributed as dist

    tensor = paddle.to_tensor(np.asarray(values, dtype=np.float64))
    dist.all_reduce(tensor)
    return [float(v) for v in tensor.numpy()]


def gather_strided(local: np.ndarray, total: int, world: World) -> np.ndarray:
    """Reassemble rows computed on ``samples[rank::world_size]`` into the full ``total`` rows, in dataset order."""
    if not world.distributed:
        return local
    import paddle
    import paddle.distributed as dist

    per_rank = -(-total // world.world_size)
    padded = np.zeros((per_rank, *local.shape[1:]), dtype=local.dtype)
    padded[: len(local)] = local
    parts: list[Any] = []
    dist.all_gather(parts, paddle.to_tensor(padded))
    out = np.empty((total, *local.shape[1:]), dtype=local.dtype)
    for r, part in enumerate(parts):
        count = len(range(r, total, world.world_size))
        out[r :: world.world_size] = part.numpy()[:count]
    return out


def average_entries(state: dict[str, Any], names: list[str], world: World) -> None:
    """Average the tensors ``state[name]`` over all ranks, in place (e.g. batch-norm running statistics)."""
    if not world.distributed or not names:
        return
    import paddle
    import paddle.distributed as dist

    with paddle.no_grad():
        for name in names:
            tensor = state[name]
            total = tensor.clone()
            dist.all_reduce(total)
            paddle.assign(total / float(world.world_size), output=tensor)


def write_debug_seen(rank: int, epoch: int, indices: list[int]) -> None:
    """Record the training sample indices ``rank`` saw in ``epoch`` (only with ``MLCLS_DEBUG_SEEN_DIR``)."""
    folder = os.environ.get(ENV_SEEN_DIR)
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    with open(Path(folder) / f"seen.rank{rank}.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"rank": rank, "epoch": epoch, "indices": [int(i) for i in indices]}) + "\n")


def write_debug_weights(rank: int, state: dict[str, Any]) -> None:
    """Record a sha256 of ``rank``'s final weights (only with ``MLCLS_DEBUG_SEEN_DIR``)."""
    folder = os.environ.get(ENV_SEEN_DIR)
    if not folder:
        return
    import hashlib

    digest = hashlib.sha256()
    for key in sorted(state):
        value = state[key]
        array = np.ascontiguousarray(value.numpy() if hasattr(value, "numpy") else np.asarray(value))
        digest.update(key.encode())
        digest.update(array.tobytes())
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"weights.rank{rank}.sha256").write_text(digest.hexdigest() + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- worker side


def _job_dir(output_dir: str | os.PathLike[str]) -> Path:
    return Path(output_dir) / JOB_DIR


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def worker_main(argv: list[str] | None = None) -> int:
    """Entry point of one launched worker: ``<python> -c WORKER_CODE <job.json>``; returns the exit code."""
    args = sys.argv[1:] if argv is None else argv
    job_path = Path(args[-1])
    job = json.loads(job_path.read_text(encoding="utf-8"))
    world = current_world()
    job_dir = job_path.parent
    (job_dir / f"pid.{world.rank}").write_text(str(os.getpid()), encoding="utf-8")
    ui = job.get("console", {})
    console.configure(
        quiet=bool(ui.get("quiet")) or not world.is_main, no_color=True, debug=bool(ui.get("debug"))
    )
    from mlcls_cli.engine.trainer import Trainer, TrainPlan

    def record(code: int, message: str, hint: str | None, kind: str) -> int:
        _write_json(
            job_dir / f"error.{world.rank}.json",
            {"exit_code": int(code), "message": message, "hint": hint, "type": kind},
        )
        return int(code)  # the parent prints the message

    try:
        plan = TrainPlan.from_dict(job["plan"])
        summary = Trainer(plan, world=world).fit()
        if world.is_main:
            _write_json(job_dir / "result.json", summary)
        return 0
    except MlclsError as exc:
        return record(exc.exit_code, exc.message, exc.hint, type(exc).__name__)
    except KeyboardInterrupt:
        return record(ExitCode.INTERRUPTED, "interrupted", None, "KeyboardInterrupt")
    except Exception as exc:  # a bug: keep the traceback in the worker log
        traceback.print_exc()
        return record(
            ExitCode.UNEXPECTED, f"unexpected {type(exc).__name__}: {exc}", None, type(exc).__name__
        )


# --------------------------------------------------------------------------- parent side


def launch_command(job_file: Path, nproc: int, log_dir: Path, gpu_ids: tuple[int, ...] = ()) -> list[str]:
    """The ``paddle.distributed.launch`` command line that starts ``nproc`` workers on ``job_file``."""
    cmd = [
        sys.executable,
        "-m",
        "paddle.distributed.launch",
        "--nproc_per_node",
        str(nproc),
        "--log_dir",
        str(log_dir),
        "--max_restart",
        "0",
    ]
    if gpu_ids:
        cmd += ["--devices", ",".join(str(i) for i in gpu_ids)]
    return [*cmd, sys.executable, "-u", "-c", WORKER_CODE, str(job_file)]


def launch_env(gpu: bool) -> dict[str, str]:
    """The environment for the launcher: ``CUDA_VISIBLE_DEVICES`` removed on CPU (empty breaks launch)."""
    env = dict(os.environ)
    if not gpu:
        env.pop("CUDA_VISIBLE_DEVICES", None)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("GLOG_minloglevel", "2")
    return env


def _relay(stream: Any, show: bool, debug: bool, tail: list[str]) -> None:
    for line in iter(stream.readline, ""):
        text = line.rstrip("\n")
        tail.append(text)
        del tail[:-200]
        if "ERROR LOG DETAIL" in text and not debug:
            show = False  # the launcher now repeats a failed worker's log, already shown
        if show and (debug or not _NOISE.match(text)):
            console.err_console().print(text, markup=False, highlight=False)


def _signal_workers(job_dir: Path, sig: int, launcher_pid: int) -> None:
    """Send ``sig`` to every worker that has started; before any has, stop the launcher's group."""
    pid_files = list(job_dir.glob("pid.*"))
    for pid_file in pid_files:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text(encoding="utf-8").strip()), sig)
    if not pid_files:  # nothing to save yet
        with contextlib.suppress(OSError):
            os.killpg(launcher_pid, signal.SIGTERM)


def run_launched(
    plan: dict[str, Any], *, output_dir: Path, nproc: int, gpu_ids: tuple[int, ...] = ()
) -> dict[str, Any]:
    """Train ``plan`` with ``nproc`` launched workers and return rank 0's summary; raise the workers' error."""
    from mlcls_cli.engine.rundir import claim_output, continues_in

    lock = claim_output(
        output_dir,
        continuing=continues_in(plan.get("resume"), output_dir),
        overwrite=bool(plan.get("overwrite")),
    )
    try:
        return _run_launched(plan, output_dir, nproc, gpu_ids, lock.fd)
    finally:
        lock.release()  # the launcher has exited: nothing else holds the lock


def _run_launched(
    plan: dict[str, Any], output_dir: Path, nproc: int, gpu_ids: tuple[int, ...], lock_fd: int | None
) -> dict[str, Any]:
    job_dir = _job_dir(output_dir)
    shutil.rmtree(job_dir, ignore_errors=True)
    job_dir.mkdir(parents=True, exist_ok=True)
    job_file = job_dir / "job.json"
    _write_json(
        job_file,
        {"plan": plan, "console": {"quiet": console.state.quiet, "debug": console.state.debug}},
    )
    log_dir = Path(output_dir) / LOG_DIR
    cmd = launch_command(job_file, nproc, log_dir, gpu_ids)
    tail: list[str] = []
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=launch_env(bool(gpu_ids)),
        start_new_session=True,  # Ctrl-C reaches the parent only; it forwards SIGINT to the workers
        pass_fds=(lock_fd,) if lock_fd is not None and os.name == "posix" else (),
    )
    relay = threading.Thread(
        target=_relay, args=(proc.stdout, not console.state.quiet, console.state.debug, tail), daemon=True
    )
    relay.start()
    interrupted = False
    try:
        proc.wait()
    except KeyboardInterrupt:
        interrupted = True
        console.warn("interrupt: asking the workers to save latest/ and stop (Ctrl-C again to kill them)")
        _signal_workers(job_dir, signal.SIGINT, proc.pid)
        try:
            proc.wait()
        except KeyboardInterrupt:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    relay.join(timeout=5)
    try:
        return _collect(job_dir, log_dir, proc.returncode, interrupted, tail)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)


def _collect(
    job_dir: Path, log_dir: Path, returncode: int, interrupted: bool, tail: list[str]
) -> dict[str, Any]:
    errors = sorted(job_dir.glob("error.*.json"), key=lambda p: int(p.suffixes[0].lstrip(".") or 0))
    # a rank that stopped for a reason (NaN, bad data) wins over ranks that were merely torn down
    records = [json.loads(p.read_text(encoding="utf-8")) for p in errors]
    records.sort(key=lambda r: r.get("exit_code") in (int(ExitCode.INTERRUPTED), int(ExitCode.UNEXPECTED)))
    if interrupted or (records and records[0].get("exit_code") == int(ExitCode.INTERRUPTED)):
        raise KeyboardInterrupt
    if records:
        record = records[0]
        raise MlclsError(
            record.get("message") or "a training worker failed",
            hint=record.get("hint"),
            exit_code=int(record.get("exit_code") or ExitCode.UNEXPECTED),
        )
    result = job_dir / "result.json"
    if returncode == 0 and result.is_file():
        return json.loads(result.read_text(encoding="utf-8"))
    shown = "\n".join(tail[-15:])
    raise TrainingError(
        f"distributed training failed (launcher exit code {returncode}); last launcher output:\n{shown}",
        hint=f"see the worker logs in {log_dir} (workerlog.0, workerlog.1, ...)",
    )
