"""ONNX Runtime on the CPU: the package's graph converted to ONNX, run by the CPU execution provider.

ONNX Runtime releases Python's GIL while a batch runs, so image loading overlaps
with inference. Math threads: ``cpu_threads``, else ``MLCLS_CPU_THREADS``, else one
per core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlcls_cli.errors import ConfigError
from mlcls_cli.inference.backends.base import as_batch, math_threads


class OrtRuntime:
    """An ONNX file loaded by ONNX Runtime (see the module docstring)."""

    name = "onnxruntime"
    precision = "fp32"
    releases_gil = True

    def __init__(self, onnx_path: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(onnx_path)
        self.threads = math_threads(threads)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: converted graphs trigger harmless notes
        # idle math threads sleep instead of spinning, leaving the cores to the image loader threads
        # (measured: 48.5 against 45.3 images/s end to end on 2 cores)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session: Any = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ONNX Runtime reports bad files with its own exception types
            raise ConfigError(
                f"ONNX Runtime cannot load {self.path}: {_first_line(exc)}",
                hint="the ONNX file is damaged or incomplete: delete it (it is converted again from the "
                "package) or export it again with `mlcls export --format onnx`",
            ) from exc
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The graph's output ``[N, C]`` (float32) for a float32 ``[N, 3, H, W]`` batch."""
        data = as_batch(batch)
        out = self._session.run([self._output], {self._input: data})[0]
        return np.asarray(out, dtype=np.float32).reshape(data.shape[0], -1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


__all__ = ["OrtRuntime"]
