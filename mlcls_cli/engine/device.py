"""Device selection for training and evaluation: parse ``--device``, pick the default, plan processes.

Accepted spellings: ``cpu``, ``gpu`` (= ``gpu:0``), ``gpu:N`` and ``gpu:N,M,...``
(one process per listed GPU, as PaddleX). ``None``/``auto`` means ``gpu:0`` when
paddle is built with CUDA and a GPU is visible, else ``cpu``. On CPU, several
data-parallel processes are asked for with ``nproc``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mlcls_cli.errors import UsageError

_HINT = "use --device cpu, gpu, gpu:0 or gpu:0,1 (one process per listed GPU)"
_OTHER_KINDS = ("npu", "xpu", "mlu", "dcu", "gcu", "iluvatar_gpu", "metax_gpu")


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


def parse_device(text: str) -> tuple[str, tuple[int, ...]]:
    """Parse a device string into ``(kind, gpu ids)``; raise :class:`UsageError` when it is not understood."""
    raw = str(text).strip().lower()
    kind, _, rest = raw.partition(":")
    if kind == "cpu" and not rest:
        return "cpu", ()
    if kind in ("gpu", "cuda"):
        if not rest:
            return "gpu", (0,)
        ids: list[int] = []
        for token in rest.split(","):
            token = token.strip()
            if not token.isdigit():
                raise UsageError(f"invalid device {text!r}: {token!r} is not a GPU number", hint=_HINT)
            ids.append(int(token))
        if len(set(ids)) != len(ids):
            raise UsageError(f"invalid device {text!r}: a GPU is listed twice", hint=_HINT)
        return "gpu", tuple(ids)
    if kind in _OTHER_KINDS:
        raise UsageError(f"device {text!r} is not supported by mlcls (CPU and NVIDIA GPUs only)", hint=_HINT)
    raise UsageError(f"invalid device {text!r}", hint=_HINT)


def gpu_count() -> int:
    """Number of GPUs paddle can use (0 on a CPU build); imports paddle."""
    import paddle

    try:
        if not paddle.device.is_compiled_with_cuda():
            return 0
        return int(paddle.device.cuda.device_count())
    except Exception:  # a CUDA build on a machine without the driver
        return 0


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
    available = gpu_count()
    if available == 0:
        raise UsageError(
            f"device {text!r} needs a GPU, but this paddle build has no CUDA or no GPU is visible",
            hint="train on the CPU with --device cpu, or install paddlepaddle-gpu on a machine with a GPU",
        )
    missing = [i for i in ids if i >= available]
    if missing:
        raise UsageError(
            f"device {text!r}: GPU {missing[0]} does not exist ({available} visible)",
            hint=f"use GPU numbers 0..{available - 1}",
        )
    if nproc is not None and nproc != len(ids):
        raise UsageError(
            f"--nproc {nproc} does not match the {len(ids)} GPU(s) in {text!r}",
            hint="with GPUs, list one per process (e.g. --device gpu:0,1) and drop --nproc",
        )
    return DeviceSpec("gpu", ids, len(ids))
