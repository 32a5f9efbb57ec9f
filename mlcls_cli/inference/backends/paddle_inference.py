"""Paddle Inference: the package's own graph (``inference.json``/``.pdmodel``), on CPU with oneDNN or on a GPU.

On CPU, Paddle Inference runs with one math thread per core by default
(``MLCLS_CPU_THREADS`` or ``cpu_threads`` to change it): measured on 2 cores with
PP-LCNet at 448 px, 2 threads gave 36-39 images/s end to end against 22-25 with one.
It keeps Python's GIL while a batch runs, so image loading cannot overlap with it on
the CPU (loading runs inline, between batches). With ``tensorrt`` the GPU graph runs through TensorRT subgraphs
(fp32), where paddle was built with TensorRT.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from mlcls_cli import console
from mlcls_cli.errors import ConfigError
from mlcls_cli.inference.backends.base import as_batch, math_threads
from mlcls_cli.inference.device import Device, import_paddle
from mlcls_cli.inference.package import InferencePackage

GPU_MEMORY_POOL_MB = 256
TRT_WORKSPACE = 1 << 30


@functools.lru_cache(maxsize=1)
def _c_runtime() -> Any:
    try:
        import ctypes

        return ctypes.CDLL(None)
    except Exception:  # no C runtime reachable this way (e.g. Windows)
        return None


def _flush_c_stdio() -> None:
    libc = _c_runtime()
    if libc is not None:
        with contextlib.suppress(Exception):  # fflush missing: nothing buffered we could lose
            libc.fflush(None)


@functools.lru_cache(maxsize=1)
def _devnull() -> int:
    return os.open(os.devnull, os.O_WRONLY)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Point file descriptor 1 elsewhere for the duration: native libraries print notes on stdout.

    stdout carries results only (JSON Lines), so what the C++ side prints while
    loading or running a graph (e.g. oneDNN's ``ReduceMeanCheckIfOneDNNSupport``) is
    dropped, or sent to stderr with ``--debug``.
    """
    try:
        sys.stdout.flush()
        saved = os.dup(1)
        target = 2 if console.state.debug else _devnull()
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        os.dup2(target, 1)
        yield
    finally:
        _flush_c_stdio()
        os.dup2(saved, 1)
        os.close(saved)


class PaddleRuntime:
    """A package loaded by Paddle Inference (see the module docstring)."""

    releases_gil = False
    precision = "fp32"

    def __init__(
        self,
        package: InferencePackage,
        device: Device,
        *,
        threads: int | None = None,
        tensorrt: bool = False,
    ) -> None:
        self.package = package
        self.device = device
        self.name = "tensorrt" if tensorrt else "paddle"
        self.threads = None if device.kind == "gpu" else math_threads(threads)
        self._lock = threading.Lock()
        self._predictor = self._create(tensorrt)
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output_name = self._predictor.get_output_names()[0]

    def _create(self, tensorrt: bool) -> Any:
        inference = import_paddle().inference
        model_file, params_file = self.package.graph_file, self.package.params_file
        cfg = inference.Config(str(model_file), str(params_file))
        if self.device.kind == "gpu":
            cfg.enable_use_gpu(GPU_MEMORY_POOL_MB, self.device.index)
            if tensorrt:
                cfg.enable_tensorrt_engine(
                    workspace_size=TRT_WORKSPACE,
                    max_batch_size=64,
                    min_subgraph_size=3,
                    precision_mode=inference.PrecisionType.Float32,
                    use_static=False,
                    use_calib_mode=False,
                )
        else:
            cfg.disable_gpu()
            cfg.enable_mkldnn()
            cfg.set_cpu_math_library_num_threads(self.threads or 1)
        cfg.switch_ir_optim(True)
        cfg.disable_glog_info()
        try:
            with quiet_stdout():
                return inference.create_predictor(cfg)
        except Exception as exc:  # paddle reports a broken graph or weights file as a generic error
            last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"Paddle Inference cannot load {model_file.name} + {params_file.name} from {self.package.folder}: {last}",
                hint="the package may be damaged or made for another paddle version; re-export or re-download it",
            ) from exc

    def input_shape(self) -> list[int]:
        """The graph's input shape as paddle records it (-1 for free dimensions)."""
        return [int(d) for d in self._input.shape()]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The graph's output ``[N, C]`` (float32) for a float32 ``[N, 3, H, W]`` batch."""
        data = as_batch(batch)
        with self._lock, quiet_stdout():
            self._input.reshape(list(data.shape))
            self._input.copy_from_cpu(data)
            self._predictor.run()
            out = self._predictor.get_output_handle(self._output_name).copy_to_cpu()
        return np.asarray(out, dtype=np.float32).reshape(data.shape[0], -1)


__all__ = ["PaddleRuntime", "quiet_stdout"]
