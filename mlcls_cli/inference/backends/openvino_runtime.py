"""OpenVINO on the CPU: the package's graph converted to ONNX, compiled by OpenVINO at fp32 or bf16.

The precision is always set explicitly: on a CPU with AMX/avx512_bf16 OpenVINO picks
bf16 by itself, which moves scores by about 1e-2. ``bf16`` is opt-in and needs a
CPU that OpenVINO lists as bf16-capable. OpenVINO releases Python's GIL while a batch
runs, so image loading overlaps with inference. Math threads: ``cpu_threads``, else
``MLCLS_CPU_THREADS``, else one per core.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import numpy as np

from mlcls_cli.errors import ConfigError
from mlcls_cli.inference.backends.base import as_batch, math_threads

_HINTS = {"fp32": "f32", "bf16": "bf16"}


@functools.lru_cache(maxsize=1)
def _core() -> Any:
    import openvino as ov

    return ov.Core()


def cpu_supports_bf16() -> bool:
    """True when OpenVINO lists bf16 among this CPU's capabilities."""
    try:
        return "BF16" in list(_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:  # no CPU plugin: bf16 cannot be used either
        return False


class OpenVinoRuntime:
    """An ONNX file compiled by OpenVINO for the CPU (see the module docstring)."""

    name = "openvino"
    releases_gil = True

    def __init__(self, onnx_path: Path, *, precision: str = "fp32", threads: int | None = None) -> None:
        self.path = Path(onnx_path)
        self.precision = precision
        self.threads = math_threads(threads)
        settings = {
            "INFERENCE_NUM_THREADS": self.threads,
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            "PERFORMANCE_HINT": "LATENCY",
        }
        try:
            self._compiled: Any = _core().compile_model(str(self.path), "CPU", settings)
        except Exception as exc:  # OpenVINO reports bad files as a generic RuntimeError
            text = str(exc).strip()
            raise ConfigError(
                f"OpenVINO cannot load {self.path}: {text.splitlines()[0][:300] if text else type(exc).__name__}",
                hint="the ONNX file is damaged or incomplete: delete it (it is converted again from the "
                "package) or export it again with `mlcls export --format onnx`",
            ) from exc
        self._output = self._compiled.output(0)
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The graph's output ``[N, C]`` (float32) for a float32 ``[N, 3, H, W]`` batch."""
        data = as_batch(batch)
        with self._lock:  # one infer request: calls are serialised
            out = self._request.infer({0: data})[self._output]
        return np.asarray(out, dtype=np.float32).reshape(data.shape[0], -1)


__all__ = ["OpenVinoRuntime", "cpu_supports_bf16"]
