"""The interface every inference backend offers."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Runtime(Protocol):
    """A loaded graph: ``run`` maps a float32 ``[N, 3, H, W]`` batch to the outputs ``[N, C]`` (float32).

    ``name`` is the backend (paddle, tensorrt, onnxruntime, openvino), ``precision``
    what it computes in (fp32 or bf16), ``releases_gil`` whether Python threads run
    while a batch is computed (so image loading can overlap with it), and
    ``threads`` the math threads it uses on the CPU (None on a GPU). ``run`` is safe
    to call from several threads (calls are serialised where the backend needs it).
    """

    name: str
    precision: str
    releases_gil: bool
    threads: int | None

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The graph's output for ``batch``."""
        ...


def as_batch(batch: np.ndarray) -> np.ndarray:
    """``batch`` as a contiguous float32 4-D array; a UsageError for anything else."""
    from mlcls_cli.errors import UsageError

    data = np.ascontiguousarray(batch, dtype=np.float32)
    if data.ndim != 4:
        raise UsageError(f"a batch must be 4-D [N, 3, H, W], got shape {data.shape}")
    return data


__all__ = ["Runtime", "as_batch", "default_threads", "math_threads"]


def default_threads() -> int:
    """One math thread per usable core (the process's CPU affinity): the fastest setting measured for every
    backend (bench_backends.py)."""
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on macOS and Windows
        return max(1, os.cpu_count() or 1)


def math_threads(value: int | None) -> int:
    """Math threads on the CPU: ``value``, else ``MLCLS_CPU_THREADS``, else one per core."""
    from mlcls_cli.errors import UsageError
    from mlcls_cli.utils.env import ENV_CPU_THREADS, env_number

    if value is None:
        return int(env_number(ENV_CPU_THREADS, default_threads(), int, positive=True))
    if isinstance(value, bool) or int(value) < 1:
        raise UsageError(f"cpu_threads must be a positive integer, got {value!r}")
    return int(value)
