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

Several machines (*nodes*): every node runs ``mlcls train`` with the same ``--nnodes N`` and
``--master HOST:PORT`` (node 0's address and a free port there) and its own ``--node-rank``;
each launcher then passes ``--nnodes``, ``--rank`` and ``--master`` on to
``paddle.distributed.launch``, whose rendezvous (an HTTP key-value store that node 0's launcher
serves on the master port) gives every worker its global rank. The world is every node's
processes together, and global rank 0 (on node 0) alone writes outputs. Node 0's parent owns the
output folder as above; the parent on a node R > 0 never claims, refuses or replaces its
``--output`` (it may be node 0's folder on a shared filesystem): it keeps its job files in
``<output>/.mlcls_dist/node<R>/`` (locked, so two node-R runs cannot mix there) and its launcher
logs in ``<output>/log/node<R>/``, expects no ``result.json`` and reports that node 0 holds
the results. At start the ranks compare their plans (:func:`check_same_run`), so nodes started
with another dataset, config or version stop with a message instead of training apart.

Launcher traps (environment.md section 4): ``CUDA_VISIBLE_DEVICES`` must be unset,
never empty, for a CPU run, and ``--devices`` is only passed for GPUs. With several nodes
(read in paddle 3.3's ``launch/controllers/master.py`` and ``collective.py``): a launcher starts
the rendezvous server only when the master's host is ``127.0.0.1`` or the address it believes is
its own (``gethostbyname(getfqdn())``, often ``127.0.1.1`` from ``/etc/hosts``), comparing them
as text, and node 0 advertises that same address for the workers' TCP store. Measured with bare
launchers and the master on a machine's ``eth0`` address while its host name resolves to
``127.0.0.1``: no launcher serves, and all wait forever ("master not ready"). So node 0's
launcher gets ``--host`` set to the master's address (checked to belong to the machine), and
the master is passed as an IPv4 address (a host name would never match). The launcher's
environment variables (``PADDLE_MASTER``, ``PADDLE_RANK``, ``PADDLE_TRAINER_ID``, ``POD_IP``,
...) override its command line, so they are removed from its environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcls_cli import console
from mlcls_cli.errors import ConfigError, ExitCode, MlclsError, OutputBusyError, TrainingError, UsageError

if TYPE_CHECKING:
    from mlcls_cli.hub.lock import HeldLock

JOB_DIR = ".mlcls_dist"
LOG_DIR = "log"
#: The job files and logs of node R > 0 live in ``<output>/.mlcls_dist/node<R>`` and ``<output>/log/node<R>``.
NODE_DIR = "node{rank}"
NODE_LOCK = ".lock"
#: Seconds a node waits for the others to join before it says what it is waiting for.
JOIN_NOTE_SECONDS = 60.0
#: When set, every rank writes the sample indices it trained on and a hash of its final weights there.
ENV_SEEN_DIR = "MLCLS_DEBUG_SEEN_DIR"
WORKER_CODE = "from mlcls_cli.engine.distributed import worker_main; raise SystemExit(worker_main())"
_NOISE = re.compile(
    r"^(LAUNCH (INFO|WARNING|DEBUG)|[IWE]\d{4} \d\d:\d\d:\d\d|\s*warnings\.warn\(|.*UserWarning: No ccache"
    r"|=+( Modified FLAGS detected =+)?$|FLAGS\(name=|server not ready|\s*$"
    r"|\[[\d\- :,]+\] \[\s*INFO\] _client\.py:\d+ - HTTP Request:)"  # the rendezvous client (several nodes)
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


@dataclass(frozen=True)
class Nodes:
    """The machines of a run: how many, which one this is, and node 0's rendezvous address."""

    nnodes: int = 1
    node_rank: int = 0
    #: ``IP:PORT`` of the rendezvous on node 0 (a host name is resolved); None for one node.
    master: str | None = None

    @property
    def multi(self) -> bool:
        """True when several machines train together."""
        return self.nnodes > 1

    def launcher_host(self) -> str | None:
        """The address this node's launcher advertises (``--host``): the master's on node 0, else its own."""
        if not self.multi or self.master is None:
            return None
        ip = self.master.rsplit(":", 1)[0]
        return ip if self.node_rank == 0 or ipaddress.ip_address(ip).is_loopback else None

    def describe(self) -> str:
        """``node 1 of 2`` (empty for a single node)."""
        return f"node {self.node_rank} of {self.nnodes}" if self.multi else ""


def describe_world(nproc: int, nnodes: int = 1) -> str:
    """`` x2 processes``, `` x4 processes per node x 2 nodes = 8 processes``, or empty for one process."""
    if nnodes <= 1:
        return f" x{nproc} processes" if nproc > 1 else ""
    each = "process" if nproc == 1 else "processes"
    return f" x{nproc} {each} per node x {nnodes} nodes = {nproc * nnodes} processes"


def describe_batch(batch_size: int, world_size: int) -> str:
    """`` per process (16 per step)`` after a batch size, or empty for one process."""
    return f" per process ({batch_size * world_size} per step)" if world_size > 1 else ""


_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def parse_master(text: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (an IPv4 address or a host name, a port 1-65535); raise UsageError otherwise."""
    hint = "give node 0's address and a free port there, the same on every node, e.g. --master 10.0.0.1:6170"
    host, sep, port = str(text).strip().rpartition(":")
    if host.startswith("[") or host.count(":"):
        raise UsageError(
            f"--master {text!r}: IPv6 addresses are not supported by paddle's launcher",
            hint="use node 0's IPv4 address or a host name that resolves to it",
        )
    if not sep or not _HOST.match(host) or not port.isdigit():
        raise UsageError(f"--master {text!r} is not HOST:PORT", hint=hint)
    if not 1 <= int(port) <= 65535:
        raise UsageError(f"--master {text!r}: the port must be 1-65535, got {int(port)}", hint=hint)
    return host, int(port)


def resolve_nodes(nnodes: int | None, node_rank: int | None, master: str | None) -> Nodes:
    """Check ``--nnodes``, ``--node-rank`` and ``--master`` (``Global.*``) and resolve the master's host.

    Raises UsageError (exit 2) for a rank outside ``[0, nnodes)``, a missing or malformed
    master with several nodes, a host name that does not resolve, or, on node 0, a master
    address that is not one of this machine's (node 0 serves the rendezvous there).
    """
    count = 1 if nnodes is None else int(nnodes)
    rank = 0 if node_rank is None else int(node_rank)
    if count < 1:
        raise UsageError(f"--nnodes must be at least 1, got {count}")
    if not 0 <= rank < count:
        raise UsageError(
            f"--node-rank {rank} is out of range for --nnodes {count}: node ranks are 0 to {count - 1}",
            hint="number the machines 0, 1, ...; node 0 is the one --master names (it holds the results)",
        )
    if count == 1:
        if master:
            console.warn("--master (Global.master) is ignored for a single node (--nnodes 1)")
        return Nodes()
    if not master:
        raise UsageError(
            f"--nnodes {count} needs --master HOST:PORT (Global.master): node 0's address and a free port "
            "there, where the nodes meet",
            hint=f"run the same command on every machine with --nnodes {count} --master 10.0.0.1:6170 "
            "(node 0's address) and --node-rank 0 on node 0, 1 on the next, ...",
        )
    host, port = parse_master(master)
    try:
        ip = socket.gethostbyname(host)
    except OSError as exc:
        raise UsageError(
            f"--master {master!r}: cannot resolve the host {host!r} ({exc})",
            hint="give node 0's IPv4 address instead",
        ) from exc
    if rank == 0:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((ip, 0))
            except OSError as exc:
                raise UsageError(
                    f"--master {master!r}: {ip} is not an address of this machine, but node 0 serves the "
                    "rendezvous there",
                    hint="run --node-rank 0 on the machine --master names, and give every node that address",
                ) from exc
    return Nodes(count, rank, f"{ip}:{port}")


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


#: Plan fields that may differ between the nodes of one run: paths, devices, what rank 0 alone does.
NODE_LOCAL_FIELDS = frozenset(
    {
        "dataset_dir",
        "output_dir",
        "device",
        "node_rank",
        "master",
        "pretrained",  # compared as "pretrained or not": each node has its own cache path
        "resume",  # compared as the resume point (epoch, batch, step)
        "overwrite",
        "num_workers",
        "log_interval",
        "save_interval",
        "keep_epoch_checkpoints",
        "export_format",
        "loggers",  # only rank 0 logs
        "config_text",
        "extra",
    }
)
_CHECK_SLOTS = 128


def _digest48(value: Any) -> float:
    """48 bits of a sha256 of ``value`` as JSON: exact in a float64."""
    text = json.dumps(value, sort_keys=True, default=str).encode()
    return float(int.from_bytes(hashlib.sha256(text).digest()[:6], "big"))


def same_run_fields(plan: dict[str, Any], start: dict[str, int]) -> dict[str, Any]:
    """What every node of a run must agree on: the plan less :data:`NODE_LOCAL_FIELDS`, and the start point.

    The dataset is compared by content (class names, list digests), not by its path.
    """
    fields = {k: v for k, v in plan.items() if k not in NODE_LOCAL_FIELDS}
    fields["pretrained"] = bool(plan.get("pretrained"))
    identity = fields.get("dataset_identity")
    if isinstance(identity, dict):
        fields["dataset_identity"] = {k: v for k, v in identity.items() if k != "dir"}
    fields.update({f"start {k}": v for k, v in start.items()})
    return fields


def check_same_run(plan: dict[str, Any], start: dict[str, int], world: World) -> None:
    """Raise ConfigError (78) on every rank when the ranks were not started with the same run.

    ``plan`` is :meth:`TrainPlan.to_dict`, ``start`` the point training starts from (after a
    resume). Nodes started with another dataset content, class list, config, process count,
    resume point or mlcls/paddle version would otherwise train apart or hang; the message
    names what differs. Paths, devices and rank 0's own duties (:data:`NODE_LOCAL_FIELDS`) may
    differ. A no-op for a single process.
    """
    if not world.distributed:
        return
    import paddle
    import paddle.distributed as dist

    from mlcls_cli import __version__

    fields = same_run_fields(plan, start)
    names = sorted(fields)
    versions = f"mlcls {__version__}, paddle {paddle.__version__}"
    row = np.zeros(3 + _CHECK_SLOTS, dtype=np.float64)
    row[0] = float(plan.get("node_rank") or 0)
    row[1] = _digest48(versions)
    row[2] = _digest48(names)
    for i, name in enumerate(names[:_CHECK_SLOTS]):
        row[3 + i] = _digest48(fields[name])
    if len(names) > _CHECK_SLOTS:
        row[-1] = _digest48([fields[n] for n in names[_CHECK_SLOTS - 1 :]])
    parts: list[Any] = []
    dist.all_gather(parts, paddle.to_tensor(row))
    rows = [part.numpy() for part in parts]
    for rank, other in enumerate(rows):
        if np.array_equal(other[1:], rows[0][1:]):
            continue
        if other[1] != rows[0][1] or other[2] != rows[0][2]:
            differ = "the mlcls or paddle version"
        else:
            differ = ", ".join(
                n for i, n in enumerate(names[:_CHECK_SLOTS]) if other[3 + i] != rows[0][3 + i]
            )
        raise ConfigError(
            f"node {int(other[0])} (rank {rank}) was not started with the same run as node 0; "
            f"not the same: {differ or 'the settings'}",
            hint="start every node with the same dataset content, config and options (only --node-rank, "
            "--output and --device may differ), the same mlcls and paddle versions, and, with --resume, "
            "the same checkpoint (same --output on a shared filesystem, or a copy passed with --resume)",
        )


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


def launch_command(
    job_file: Path,
    nproc: int,
    log_dir: Path,
    gpu_ids: tuple[int, ...] = (),
    nodes: Nodes | None = None,
) -> list[str]:
    """The ``paddle.distributed.launch`` command line that starts ``nproc`` workers on ``job_file``.

    With several ``nodes`` it names the node count, this node's rank and the master, so the
    launchers of all nodes meet there and number their workers globally.
    """
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
    if nodes is not None and nodes.multi:
        cmd += ["--nnodes", str(nodes.nnodes), "--rank", str(nodes.node_rank), "--master", str(nodes.master)]
        host = nodes.launcher_host()
        if host:
            cmd += ["--host", host]
    return [*cmd, sys.executable, "-u", "-c", WORKER_CODE, str(job_file)]


#: The launcher's environment variables that override its command line (``env_args_mapping`` in
#: paddle/distributed/launch/context/args_envs.py; ``PADDLE_TRAINER_ID`` replaces ``--rank``).
LAUNCHER_ENV = (
    "PADDLE_MASTER",
    "PADDLE_NNODES",
    "PADDLE_RANK",
    "PADDLE_TRAINER_ID",
    "PADDLE_NPROC_PER_NODE",
    "PADDLE_DEVICES",
    "PADDLE_LOG_DIR",
    "PADDLE_MAX_RESTART",
    "PADDLE_JOB_ID",
    "POD_IP",
)


def launch_env(gpu: bool) -> dict[str, str]:
    """The environment for the launcher: ``CUDA_VISIBLE_DEVICES`` removed on CPU (empty breaks launch).

    The launcher's own variables (:data:`LAUNCHER_ENV`) are removed too: they would override
    the node count, rank and master mlcls passes on its command line.
    """
    env = dict(os.environ)
    if not gpu:
        env.pop("CUDA_VISIBLE_DEVICES", None)
    for name in LAUNCHER_ENV:
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("GLOG_minloglevel", "2")
    return env


def node_dirs(output_dir: str | os.PathLike[str], node_rank: int = 0) -> tuple[Path, Path]:
    """``(job folder, log folder)`` of one node's launch in ``output_dir``.

    Node 0: ``.mlcls_dist/`` and ``log/``; node R > 0: ``.mlcls_dist/node<R>/`` and ``log/node<R>/``,
    so nodes that share the folder (a network filesystem) never touch each other's files.
    """
    out = Path(output_dir)
    if node_rank == 0:
        return out / JOB_DIR, out / LOG_DIR
    sub = NODE_DIR.format(rank=node_rank)
    return out / JOB_DIR / sub, out / LOG_DIR / sub


def _clear_job_files(job_dir: Path) -> None:
    """Remove this node's job files; other nodes' folders and this node's lock stay."""
    with contextlib.suppress(FileNotFoundError):
        for path in job_dir.iterdir():
            if (path.is_file() or path.is_symlink()) and path.name != NODE_LOCK:
                path.unlink(missing_ok=True)


def _lock_node(job_dir: Path, nodes: Nodes) -> HeldLock:
    """Lock the job folder of node R > 0 (its ``--output`` is never claimed); raise exit 75 when taken."""
    from mlcls_cli.errors import IOFailure
    from mlcls_cli.hub.lock import HeldLock

    try:
        job_dir.mkdir(parents=True, exist_ok=True)
        lock = HeldLock.try_acquire(job_dir / NODE_LOCK)
    except OSError as exc:
        raise IOFailure(
            f"cannot create {job_dir}: {exc.strerror or exc}", hint="choose a writable --output"
        ) from exc
    if lock is None:
        raise OutputBusyError(
            f"{job_dir} is in use by another `mlcls train --node-rank {nodes.node_rank}`",
            hint="wait until it ends, or choose another --output",
        )
    return lock


def run_launched(
    plan: dict[str, Any], *, output_dir: Path, nproc: int, gpu_ids: tuple[int, ...] = ()
) -> dict[str, Any]:
    """Train ``plan`` with ``nproc`` launched workers on this node; raise the workers' error.

    Returns rank 0's summary on node 0, and on a node R > 0 (``plan["node_rank"]``) a short
    summary of its own (:func:`node_summary`): the results are on node 0.
    """
    from mlcls_cli.engine.rundir import claim_output, continues_in

    nodes = Nodes(int(plan.get("nnodes") or 1), int(plan.get("node_rank") or 0), plan.get("master"))
    output_dir = Path(output_dir)
    job_dir, log_dir = node_dirs(output_dir, nodes.node_rank)
    if nodes.node_rank > 0:
        lock = _lock_node(job_dir, nodes)
    else:
        lock = claim_output(
            output_dir,
            continuing=continues_in(plan.get("resume"), output_dir),
            overwrite=bool(plan.get("overwrite")),
        )
    try:
        return _run_launched(plan, job_dir, log_dir, nproc, gpu_ids, lock.fd, nodes)
    finally:
        lock.release()  # the launcher has exited: nothing else holds the lock


def node_summary(nodes: Nodes, log_dir: Path) -> dict[str, Any]:
    """What a node R > 0 reports when its workers finished: the results are on node 0."""
    return {
        "done_flag": True,
        "node_rank": nodes.node_rank,
        "nnodes": nodes.nnodes,
        "master": nodes.master,
        "results_on": "node 0",
        "log_dir": str(log_dir),
    }


def _run_launched(
    plan: dict[str, Any],
    job_dir: Path,
    log_dir: Path,
    nproc: int,
    gpu_ids: tuple[int, ...],
    lock_fd: int | None,
    nodes: Nodes,
) -> dict[str, Any]:
    _clear_job_files(job_dir)  # a killed run's leftovers; never another node's folder
    job_dir.mkdir(parents=True, exist_ok=True)
    job_file = job_dir / "job.json"
    _write_json(
        job_file,
        {"plan": plan, "console": {"quiet": console.state.quiet, "debug": console.state.debug}},
    )
    cmd = launch_command(job_file, nproc, log_dir, gpu_ids, nodes)
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
    muted = threading.Event()
    relay = threading.Thread(
        target=_relay,
        args=(proc.stdout, not console.state.quiet, console.state.debug, tail, muted),
        daemon=True,
    )
    relay.start()
    interrupted = False
    try:
        _wait(proc, job_dir, nodes)
    except KeyboardInterrupt:
        interrupted = True
        console.warn("interrupt: asking the workers to save latest/ and stop (Ctrl-C again to kill them)")
        _signal_workers(job_dir, signal.SIGINT, proc.pid, muted)
        try:
            proc.wait()
        except KeyboardInterrupt:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    relay.join(timeout=5)
    try:
        return _collect(job_dir, log_dir, proc.returncode, interrupted, tail, nodes)
    finally:
        _clear_job_files(job_dir)
        if nodes.node_rank == 0:
            with contextlib.suppress(OSError):
                job_dir.rmdir()  # kept while another node's folder is in it (a shared --output)


def _wait(proc: subprocess.Popen[str], job_dir: Path, nodes: Nodes) -> None:
    """Wait for the launcher; with several nodes, say once what this node waits for if the others are slow."""
    if not nodes.multi:
        proc.wait()
        return
    note_at: float | None = time.monotonic() + JOIN_NOTE_SECONDS
    while True:
        try:
            proc.wait(timeout=1.0)
            return
        except subprocess.TimeoutExpired:
            pass
        if note_at is not None and time.monotonic() > note_at:
            note_at = None
            if not any(job_dir.glob("pid.*")):  # a worker writes its pid once the nodes have met
                console.warn(
                    f"{nodes.describe()}: still waiting for all {nodes.nnodes} nodes to join at {nodes.master} "
                    f"after {JOIN_NOTE_SECONDS:.0f} s; start `mlcls train` on each with the same --nnodes "
                    f"{nodes.nnodes} and --master, and its own --node-rank (the master's port must be "
                    "reachable from them)"
                )


def _relay(stream: Any, show: bool, debug: bool, tail: list[str], muted: threading.Event) -> None:
    for line in iter(stream.readline, ""):
        text = line.rstrip("\n")
        tail.append(text)
        del tail[:-200]
        if muted.is_set() and not debug:
            show = False  # the launcher was stopped on purpose: its complaints are noise
        if "ERROR LOG DETAIL" in text and not debug:
            show = False  # the launcher now repeats a failed worker's log, already shown
        if show and (debug or not _NOISE.match(text)):
            console.err_console().print(text, markup=False, highlight=False)


def _signal_workers(job_dir: Path, sig: int, launcher_pid: int, muted: threading.Event | None = None) -> None:
    """Send ``sig`` to every worker that has started; before any has, stop the launcher's group.

    Stopping the launcher (e.g. while it waits for other nodes) sets ``muted``: its traceback is noise.
    """
    pid_files = list(job_dir.glob("pid.*"))
    for pid_file in pid_files:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text(encoding="utf-8").strip()), sig)
    if not pid_files:  # nothing to save yet
        if muted is not None:
            muted.set()
        with contextlib.suppress(OSError):
            os.killpg(launcher_pid, signal.SIGTERM)


def _collect(
    job_dir: Path,
    log_dir: Path,
    returncode: int,
    interrupted: bool,
    tail: list[str],
    nodes: Nodes | None = None,
) -> dict[str, Any]:
    nodes = nodes or Nodes()
    errors = sorted(job_dir.glob("error.*.json"), key=lambda p: int(p.suffixes[0].lstrip(".") or 0))
    # a rank that stopped for a reason (NaN, bad data) wins over ranks that were merely torn down
    records = [json.loads(p.read_text(encoding="utf-8")) for p in errors]
    records.sort(key=lambda r: r.get("exit_code") in (int(ExitCode.INTERRUPTED), int(ExitCode.UNEXPECTED)))
    if interrupted or (records and records[0].get("exit_code") == int(ExitCode.INTERRUPTED)):
        raise KeyboardInterrupt
    if records:
        record = records[0]
        code = int(record.get("exit_code") or ExitCode.UNEXPECTED)
        hint = record.get("hint")
        if nodes.multi and code == int(ExitCode.UNEXPECTED) and not hint:
            hint = (
                f"a worker on another node may have failed first (see that node's output); this node's "
                f"worker logs are in {log_dir}"
            )
        raise MlclsError(record.get("message") or "a training worker failed", hint=hint, exit_code=code)
    if returncode == 0 and nodes.node_rank > 0:
        return node_summary(nodes, log_dir)  # rank 0's result.json is on node 0
    result = job_dir / "result.json"
    if returncode == 0 and result.is_file():
        return json.loads(result.read_text(encoding="utf-8"))
    shown = "\n".join(tail[-15:])
    raise TrainingError(
        f"distributed training failed (launcher exit code {returncode}); last launcher output:\n{shown}",
        hint=f"see the worker logs in {log_dir} (workerlog.0, workerlog.1, ...)",
    )
