"""Device planning for training and evaluation: the default device and one process per GPU (or CPU process).

Accepted spellings: ``cpu``, ``gpu`` (= ``gpu:0``), ``gpu:N`` and ``gpu:N,M,...``
(one process per listed GPU, as PaddleX). ``None``/``auto`` means ``gpu:0`` when
paddle is built with CUDA and a GPU is visible, else ``cpu``. On CPU, several
data-parallel processes are asked for with ``nproc``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlcls_cli.errors import UsageError
from mlcls_cli.inference.device import check_gpus, gpu_count
from mlcls_cli.inference.device import parse_device_list as parse_device


@dataclass(frozen=True)
class DeviceSpec:
    """Where a run executes: ``kind`` cpu or gpu, the GPU ids, and the number of processes."""

    kind: str
    ids: tuple[int, ...] = ()
    nproc: int = 1

    @property
    def distributed(self) -> bool:
        """True when the run needs several data-parallel processes."""
        return self.nproc > 1

    @property
    def is_gpu(self) -> bool:
        """True for a GPU run."""
        return self.kind == "gpu"

    def label(self) -> str:
        """The device as PaddleX spells it (``cpu``, ``gpu:0``, ``gpu:0,1``), plus ``xN`` for CPU processes."""
        if self.kind == "gpu":
            return "gpu:" + ",".join(str(i) for i in self.ids)
        return "cpu" if self.nproc == 1 else f"cpu x{self.nproc}"

    def config_value(self) -> str:
        """The value for ``Global.device`` (without the process count)."""
        return "cpu" if self.kind == "cpu" else "gpu:" + ",".join(str(i) for i in self.ids)

    def paddle_device(self, local_rank: int = 0) -> str:
        """The ``paddle.set_device`` string for the process with ``local_rank``."""
        if self.kind == "cpu":
            return "cpu"
        return f"gpu:{self.ids[local_rank] if local_rank < len(self.ids) else self.ids[0]}"


def resolve_device(text: str | None, nproc: int | None = None) -> DeviceSpec:
    """Turn ``--device`` and ``--nproc`` into a :class:`DeviceSpec`, checking the GPUs exist.

    ``None``, ``""`` or ``auto`` pick ``gpu:0`` when a GPU is usable, else ``cpu``.
    ``nproc`` is for CPU data parallelism; with a GPU list it must equal the list's
    length (one process per GPU).
    """
    if nproc is not None and nproc < 1:
        raise UsageError(f"--nproc must be at least 1, got {nproc}")
    if text is None or str(text).strip().lower() in ("", "auto"):
        kind, ids = ("gpu", (0,)) if gpu_count() > 0 else ("cpu", ())
    else:
        kind, ids = parse_device(text)
    if kind == "cpu":
        count = nproc or 1
        cores = os.cpu_count() or 1
        if count > cores:
            from mlcls_cli import console

            console.warn(f"{count} CPU processes on {cores} cores will be slower than {cores}")
        return DeviceSpec("cpu", (), count)
    check_gpus(str(text), ids)
    if nproc is not None and nproc != len(ids):
        raise UsageError(
            f"--nproc {nproc} does not match the {len(ids)} GPU(s) in {text!r}",
            hint="with GPUs, list one per process (e.g. --device gpu:0,1) and drop --nproc",
        )
    return DeviceSpec("gpu", ids, len(ids))


__all__ = ["DeviceSpec", "gpu_count", "parse_device", "resolve_device"]


def training_threads(processes_per_node: int) -> int:
    """Math threads for each CPU training process: ``MLCLS_CPU_THREADS``, else the usable cores shared out.

    Paddle's CPU default is one thread; one per core measured 1.15-1.22x the images/s of
    a PP-LCNet training step on 2 cores (``benchmarks/bench_train_step.py``).
    """
    from mlcls_cli.inference.backends.base import default_threads
    from mlcls_cli.utils.env import ENV_CPU_THREADS, env_number

    default = max(1, default_threads() // max(1, processes_per_node))
    return int(env_number(ENV_CPU_THREADS, default, int, positive=True))
