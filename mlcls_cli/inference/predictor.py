"""A multi-label inference package on one backend: ``run(batch)`` maps preprocessed images to probabilities.

The package (:class:`~mlcls_cli.inference.package.InferencePackage`) says how images
are preprocessed and which labels the outputs are; the backend
(:mod:`mlcls_cli.inference.backends`: Paddle Inference, ONNX Runtime, OpenVINO,
TensorRT) runs the graph. ``backend="auto"`` picks the fastest one installed for the
device and precision.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from mlcls_cli import console
from mlcls_cli.errors import ConfigError
from mlcls_cli.inference.backends import backend_candidates, check_choice, create_runtime
from mlcls_cli.inference.convert import ConversionError
from mlcls_cli.inference.device import Device, resolve_device
from mlcls_cli.inference.package import InferencePackage, locate_package
from mlcls_cli.inference.preprocess import Preprocessor
from mlcls_cli.models.registry import TASK_CLS, TASK_ML


def read_post_process(config: dict[str, Any], where: Path) -> tuple[str, list[str], Any, int | None]:
    """``(task, label list, default threshold, default top-k)`` from a package's ``PostProcess``.

    ``MultiLabelThreshOutput`` (threshold, label_list) is a multi-label package, ``Topk``
    (topk, label_list) a single-label one, as PaddleX writes them.
    """
    post = config.get("PostProcess") or {}
    post = post if isinstance(post, dict) else {}
    if isinstance(post.get("MultiLabelThreshOutput"), dict):
        task, block = TASK_ML, post["MultiLabelThreshOutput"]
    elif isinstance(post.get("Topk"), dict):
        task, block = TASK_CLS, post["Topk"]
    else:
        raise ConfigError(
            f"{where} has no PostProcess.MultiLabelThreshOutput or PostProcess.Topk",
            hint="this is not an image classification package (multi-label or single-label)",
        )
    labels = block.get("label_list")
    if not isinstance(labels, list) or not labels:
        raise ConfigError(
            f"{where} has no PostProcess.{next(iter(post))}.label_list",
            hint="the package was exported without label names; export it again with its label.txt",
        )
    if task == TASK_ML:
        return task, [str(n) for n in labels], block.get("threshold", 0.5), None
    topk = block.get("topk", 5)
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise ConfigError(f"{where}: PostProcess.Topk.topk must be a positive integer, got {topk!r}")
    return task, [str(n) for n in labels], None, int(topk)


def _load(
    package: InferencePackage, backend: str | None, device: Device, precision: str, threads: int | None
) -> Any:
    """The runtime of the first backend that loads ``package``; with ``auto``, a failed ONNX conversion falls back."""
    automatic = check_choice(backend, precision)[0] == "auto"
    candidates = backend_candidates(backend, device, precision, has_onnx=package.onnx_file is not None)
    for i, name in enumerate(candidates):
        try:
            return create_runtime(package, name, device, precision=precision, cpu_threads=threads)
        except ConversionError as exc:
            if not automatic or i == len(candidates) - 1:
                raise
            console.warn(f"{exc.message}; using {candidates[i + 1]} instead")
    raise AssertionError("backend_candidates returns at least one backend")


class Predictor:
    """A loaded classification package: ``run(batch)`` maps float32 NCHW inputs to [N, C] probabilities.

    ``config`` is the parsed ``inference.yml``; ``task`` (multi-label or single-label),
    ``label_list``, ``input_size`` (the square side, or ``(width, height)``, or None
    when the package resizes by the short side without a crop), ``model_name``,
    ``threshold`` (multi-label default) and ``topk`` (single-label default) come from
    it. ``backend`` and ``precision`` say what runs it; ``run`` is safe to call from
    several threads.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        device: str | Device | None = None,
        cpu_threads: int | None = None,
        backend: str | None = "auto",
        precision: str | None = "fp32",
    ) -> None:
        self.package = InferencePackage.open(model_dir)
        self.model_dir = self.package.folder
        self.config = self.package.config
        self.task, self.label_list, self.threshold, self.topk = read_post_process(
            self.config, self.model_dir / "inference.yml"
        )
        self.model_name = self.package.model_name
        # checked before the graph is loaded (or converted), which is the slow part; PaddleX's
        # multi-label predictor ignores CropImage, its single-label one applies it
        self.preprocessor = Preprocessor.from_config(self.config, crop=self.task == TASK_CLS)
        self.device = resolve_device(device)
        self.runtime = _load(self.package, backend, self.device, precision or "fp32", cpu_threads)
        self.input_size = self.preprocessor.output_size_square() or self._graph_size()

    def _graph_size(self) -> int | tuple[int, int] | None:
        shape_of = getattr(self.runtime, "input_shape", None)
        shape = shape_of() if shape_of is not None else []
        if len(shape) == 4 and shape[2] > 0 and shape[3] > 0:
            return shape[2] if shape[2] == shape[3] else (int(shape[3]), int(shape[2]))
        return None

    @property
    def backend(self) -> str:
        """The backend running the graph (paddle, tensorrt, onnxruntime, openvino)."""
        return self.runtime.name

    @property
    def precision(self) -> str:
        """fp32 or bf16."""
        return self.runtime.precision

    @property
    def cpu_threads(self) -> int | None:
        """Math threads of the backend on the CPU (None on a GPU)."""
        return self.runtime.threads

    @property
    def num_classes(self) -> int:
        """Number of classes (the label list's length)."""
        return len(self.label_list)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``[N, C]`` (float32) for a float32 ``[N, 3, H, W]`` batch."""
        return self.runtime.run(batch)

    def describe(self) -> str:
        """``backend precision on device (N threads)``, for log lines."""
        threads = f", {self.cpu_threads} thread(s)" if self.cpu_threads else ""
        return f"{self.backend} {self.precision} on {self.device}{threads}"

    def __repr__(self) -> str:
        return (
            f"Predictor(model_dir={str(self.model_dir)!r}, model_name={self.model_name!r}, "
            f"device={self.device}, backend={self.backend}, precision={self.precision}, classes={self.num_classes})"
        )


__all__ = ["Predictor", "locate_package", "read_post_process"]
