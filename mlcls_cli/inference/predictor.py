"""Run an inference package (``inference.json``/``.pdmodel`` + ``.pdiparams`` + ``inference.yml``) with Paddle Inference.

On CPU, oneDNN is on and Paddle Inference runs with ``cpu_threads`` math threads
(default 1, or ``MLCLS_CPU_THREADS``): measured on a 2-core machine, one thread is
the fastest setting and leaves the other core to image decoding. On GPU the
package runs on the card named by ``gpu:N``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mlcls_cli import console
from mlcls_cli.errors import ConfigError, InputMissingError, UsageError
from mlcls_cli.inference.device import Device, import_paddle, resolve_device
from mlcls_cli.models.export import GRAPH_FILES, PARAMS_FILE, find_model_files, read_inference_config
from mlcls_cli.utils.env import ENV_CPU_THREADS, env_number

DEFAULT_CPU_THREADS = 1
GPU_MEMORY_POOL_MB = 256


def _is_package(folder: Path) -> bool:
    return (folder / PARAMS_FILE).is_file() and any((folder / g).is_file() for g in GRAPH_FILES)


def locate_package(path: str | os.PathLike[str]) -> Path:
    """The inference package folder for ``path``: itself, or ``inference/`` (or ``best_model/inference/``) inside it.

    So a training output folder (``output/``, ``output/best_model``) works as well
    as the package folder itself. Raises InputMissingError when none is found.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise InputMissingError(
            f"model folder {folder} does not exist",
            hint="pass an inference package folder (inference.json|.pdmodel, .pdiparams, .yml) or a training output folder",
        )
    for candidate in (folder, folder / "inference", folder / "best_model" / "inference"):
        if candidate.is_dir() and _is_package(candidate):
            return candidate
    find_model_files(folder)  # raises the precise "missing ..." error
    return folder


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
def _quiet_stdout() -> Iterator[None]:
    """Point file descriptor 1 elsewhere for the duration: Paddle's oneDNN passes print notes on stdout.

    stdout carries results only (JSON Lines), so what the C++ side prints while
    loading or running the graph (e.g. ``ReduceMeanCheckIfOneDNNSupport``) is
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


def _cpu_threads(value: int | None) -> int:
    if value is None:
        return int(env_number(ENV_CPU_THREADS, DEFAULT_CPU_THREADS, int, positive=True))
    if isinstance(value, bool) or int(value) < 1:
        raise UsageError(f"cpu_threads must be a positive integer, got {value!r}")
    return int(value)


def _label_list(config: dict[str, Any], where: Path) -> list[str]:
    post = config.get("PostProcess") or {}
    block = post.get("MultiLabelThreshOutput") if isinstance(post, dict) else None
    labels = block.get("label_list") if isinstance(block, dict) else None
    if not isinstance(labels, list) or not labels:
        raise ConfigError(
            f"{where} has no PostProcess.MultiLabelThreshOutput.label_list",
            hint="this is not a multi-label classification package, or it was exported without label names",
        )
    return [str(n) for n in labels]


class PaddlePredictor:
    """A loaded inference package: ``run(batch)`` maps float32 NCHW inputs to [N, C] probabilities.

    ``config`` is the parsed ``inference.yml``; ``label_list``, ``input_size``
    (the square side, or ``(width, height)``, or None when the package resizes by
    the short side), ``model_name`` and ``threshold`` (the package's default) come
    from it. ``run`` is safe to call from several threads (calls are serialised).
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        device: str | Device | None = None,
        cpu_threads: int | None = None,
    ) -> None:
        self.model_dir = locate_package(model_dir)
        self.model_file, self.params_file = find_model_files(self.model_dir)
        self.config = read_inference_config(self.model_dir)
        self.label_list = _label_list(self.config, self.model_dir / "inference.yml")
        glob = self.config.get("Global") or {}
        self.model_name: str | None = glob.get("model_name") if isinstance(glob, dict) else None
        block = self.config["PostProcess"]["MultiLabelThreshOutput"]
        self.threshold: Any = block.get("threshold", 0.5)
        self.cpu_threads = _cpu_threads(cpu_threads)
        self.device = resolve_device(device)
        self._lock = threading.Lock()
        self._predictor = self._create()
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output_name = self._predictor.get_output_names()[0]
        self.input_size = self._input_size()

    def _create(self) -> Any:
        inference = import_paddle().inference
        cfg = inference.Config(str(self.model_file), str(self.params_file))
        if self.device.kind == "gpu":
            cfg.enable_use_gpu(GPU_MEMORY_POOL_MB, self.device.index)
        else:
            cfg.disable_gpu()
            cfg.enable_mkldnn()
            cfg.set_cpu_math_library_num_threads(self.cpu_threads)
        cfg.switch_ir_optim(True)
        cfg.disable_glog_info()
        try:
            with _quiet_stdout():
                return inference.create_predictor(cfg)
        except Exception as exc:  # paddle reports a broken graph or weights file as a generic error
            raise ConfigError(
                f"Paddle Inference cannot load {self.model_file.name} + {self.params_file.name} "
                f"from {self.model_dir}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}",
                hint="the package may be damaged or made for another paddle version; re-export or re-download it",
            ) from exc

    def _input_size(self) -> int | tuple[int, int] | None:
        ops = (self.config.get("PreProcess") or {}).get("transform_ops") or []
        size = None
        for op in ops:
            if isinstance(op, dict) and isinstance(op.get("ResizeImage"), dict):
                params = op["ResizeImage"]
                size = params.get("size") if params.get("resize_short") is None else None
        if isinstance(size, int):
            return size
        if isinstance(size, (list, tuple)) and len(size) == 2:
            return size[0] if size[0] == size[1] else (int(size[0]), int(size[1]))
        shape = list(self._input.shape())
        if len(shape) == 4 and shape[2] > 0 and shape[3] > 0:
            return shape[2] if shape[2] == shape[3] else (int(shape[3]), int(shape[2]))
        return None

    @property
    def num_classes(self) -> int:
        """Number of classes (the label list's length)."""
        return len(self.label_list)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``[N, C]`` (float32) for a float32 ``[N, 3, H, W]`` batch."""
        data = np.ascontiguousarray(batch, dtype=np.float32)
        if data.ndim != 4:
            raise UsageError(f"a batch must be 4-D [N, 3, H, W], got shape {data.shape}")
        with self._lock, _quiet_stdout():
            self._input.reshape(list(data.shape))
            self._input.copy_from_cpu(data)
            self._predictor.run()
            out = self._predictor.get_output_handle(self._output_name).copy_to_cpu()
        return np.asarray(out, dtype=np.float32).reshape(data.shape[0], -1)

    def __repr__(self) -> str:
        return (
            f"PaddlePredictor(model_dir={str(self.model_dir)!r}, model_name={self.model_name!r}, "
            f"device={self.device}, classes={self.num_classes})"
        )


__all__ = ["DEFAULT_CPU_THREADS", "ENV_CPU_THREADS", "PaddlePredictor", "locate_package"]
