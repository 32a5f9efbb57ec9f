"""Inference backends behind one interface: Paddle Inference, ONNX Runtime, OpenVINO (and TensorRT on GPU).

A runtime (:class:`~mlcls_cli.inference.backends.base.Runtime`) maps a float32
``[N, 3, H, W]`` batch to the package's output ``[N, C]``; pre- and post-processing
stay outside, so every backend gives the same results schema. :func:`choose_backend`
turns ``auto`` into the fastest backend installed for the device and precision, and
:func:`create_runtime` loads a package with it (converting the graph to ONNX once,
into the model cache, when the backend needs ONNX and the package has none).

Measured on a 2-core Xeon with AMX (``benchmarks/bench_backends.py``, 1 thread, fp32):
ONNX Runtime 1.2-1.8x Paddle Inference on PP-LCNet, PP-HGNetV2-B0 and ResNet50;
OpenVINO fp32 between 0.6x (PP-LCNet) and 1.6x (PP-HGNetV2-B0); OpenVINO bf16
1.1x-7.7x. Hence ``auto``: onnxruntime, then openvino, then paddle at fp32 on CPU;
openvino at bf16; TensorRT, then paddle on GPU.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from typing import TYPE_CHECKING, Any

from mlcls_cli.errors import MlclsError, UsageError

if TYPE_CHECKING:
    from mlcls_cli.inference.backends.base import Runtime
    from mlcls_cli.inference.device import Device
    from mlcls_cli.inference.package import InferencePackage

#: Backend names a user may ask for (``auto`` picks one of the others).
BACKENDS = ("auto", "paddle", "onnxruntime", "openvino", "tensorrt")
PRECISIONS = ("fp32", "bf16")
#: The pip extra that installs the optional backends and the converter.
EXTRA = 'pip install "mlcls[hpi]"'
#: Python distribution behind each backend (what must be installed).
_DISTRIBUTIONS = {"paddle": "paddlepaddle", "onnxruntime": "onnxruntime", "openvino": "openvino"}
_MODULES = {
    "paddle": "paddle",
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
    "paddle2onnx": "paddle2onnx",
}
#: ``auto`` preference per (device kind, precision), fastest first (see the module docstring).
AUTO_ORDER = {
    ("cpu", "fp32"): ("onnxruntime", "openvino", "paddle"),
    ("cpu", "bf16"): ("openvino",),
    ("gpu", "fp32"): ("tensorrt", "paddle"),
    ("gpu", "bf16"): (),
}


class BackendUnavailableError(MlclsError):
    """The backend asked for is not installed or cannot run here (exit 69)."""

    exit_code = 69


def installed(module: str) -> bool:
    """True when ``module`` (paddle, onnxruntime, openvino, paddle2onnx) can be imported; imports nothing."""
    name = _MODULES.get(module, module)
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _version(distribution: str) -> str | None:
    for name in (distribution, f"{distribution}-gpu"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def available_backends() -> dict[str, str | None]:
    """Each backend with the version of what it needs, or None when it is not installed (nothing imported).

    ``tensorrt`` is listed as paddle's version: whether paddle was built with
    TensorRT and a GPU is there is only known once paddle is imported.
    """
    result: dict[str, str | None] = {}
    for name in ("paddle", "onnxruntime", "openvino"):
        result[name] = _version(_DISTRIBUTIONS[name]) if installed(name) else None
    result["paddle2onnx"] = _version("paddle2onnx") if installed("paddle2onnx") else None
    return result


def check_choice(backend: str | None, precision: str | None) -> tuple[str, str]:
    """Normalise and validate ``backend`` and ``precision`` names (UsageError for unknown ones)."""
    name = "auto" if backend is None else str(backend).strip().lower()
    if name in ("paddle_inference", "paddle-inference"):
        name = "paddle"
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}", hint=f"use one of {', '.join(BACKENDS)}")
    prec = "fp32" if precision is None else str(precision).strip().lower()
    prec = {"float32": "fp32", "f32": "fp32", "bfloat16": "bf16"}.get(prec, prec)
    if prec not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", hint="use fp32 (default) or bf16")
    return name, prec


def _tensorrt_usable() -> bool:
    from mlcls_cli.inference.device import import_paddle

    paddle = import_paddle()
    try:
        return bool(paddle.device.is_compiled_with_cuda()) and bool(
            paddle.inference.get_trt_compile_version()
        )
    except Exception:  # a build without TensorRT answers in several ways
        return False


def _usable(name: str, device: Device, precision: str) -> str | None:
    """Why ``name`` cannot run ``precision`` on ``device`` here, or None when it can."""
    if name == "tensorrt":
        if device.kind != "gpu":
            return "TensorRT needs a GPU (--device gpu:N)"
        if not installed("paddle") or not _tensorrt_usable():
            return "the installed paddle has no TensorRT (install paddlepaddle-gpu built with TensorRT)"
        return None
    if not installed(name):
        extra = "the CPU or GPU build of PaddlePaddle" if name == "paddle" else f"it: {EXTRA}"
        return f"{name} is not installed; install {extra}"
    if device.kind == "gpu" and name in ("onnxruntime", "openvino"):
        return f"mlcls runs {name} on the CPU only; use --backend paddle or tensorrt on a GPU"
    if precision == "bf16":
        if name != "openvino":
            return "bf16 is offered through OpenVINO only (--backend openvino)"
        from mlcls_cli.inference.backends.openvino_runtime import cpu_supports_bf16

        if not cpu_supports_bf16():
            return "this CPU has no bf16 support (OpenVINO lists no BF16 capability); use fp32"
    if name in ("onnxruntime", "openvino") and not installed("paddle2onnx"):
        return f"paddle2onnx is needed to convert packages without inference.onnx; install it: {EXTRA}"
    return None


def backend_candidates(
    backend: str | None, device: Device, precision: str = "fp32", *, has_onnx: bool = False
) -> list[str]:
    """The backends to try, in order: the one asked for (checked), or for ``auto`` every usable one, fastest first.

    ``has_onnx`` says the package ships ``inference.onnx``, so ONNX backends need no converter.
    Raises :class:`BackendUnavailableError` (69) naming the extra to install.
    """
    name, prec = check_choice(backend, precision)

    def reason_for(candidate: str) -> str | None:
        reason = _usable(candidate, device, prec)
        return None if reason and has_onnx and "paddle2onnx" in reason else reason

    if name != "auto":
        reason = reason_for(name)
        if reason:
            raise BackendUnavailableError(f"backend {name} cannot run here: {reason}", hint=_hint(name, prec))
        return [name]
    order = AUTO_ORDER[(device.kind, prec)]
    reasons = {candidate: reason_for(candidate) for candidate in order}
    usable = [candidate for candidate in order if reasons[candidate] is None]
    if not usable:
        raise BackendUnavailableError(
            f"no backend can run {prec} on {device}: "
            + "; ".join([r for r in reasons.values() if r] or ["none is offered for this combination"]),
            hint=_hint("auto", prec),
        )
    return usable


def choose_backend(
    backend: str | None, device: Device, precision: str = "fp32", *, has_onnx: bool = False
) -> str:
    """The first of :func:`backend_candidates`."""
    return backend_candidates(backend, device, precision, has_onnx=has_onnx)[0]


def _hint(name: str, precision: str) -> str:
    if precision == "bf16":
        return f"use --precision fp32, or run on a CPU with bf16 support with OpenVINO ({EXTRA})"
    if name in ("onnxruntime", "openvino"):
        return f"{EXTRA}, or use --backend paddle"
    return "use --backend auto to take what is installed"


def create_runtime(
    package: InferencePackage,
    backend: str,
    device: Device,
    *,
    precision: str = "fp32",
    cpu_threads: int | None = None,
) -> Runtime:
    """Load ``package`` with the (already chosen) ``backend`` on ``device``."""
    if backend in ("paddle", "tensorrt"):
        from mlcls_cli.inference.backends.paddle_inference import PaddleRuntime

        return PaddleRuntime(package, device, threads=cpu_threads, tensorrt=backend == "tensorrt")
    from mlcls_cli.inference.convert import onnx_for

    onnx_path = onnx_for(package)
    if backend == "onnxruntime":
        from mlcls_cli.inference.backends.onnx_runtime import OrtRuntime

        return OrtRuntime(onnx_path, threads=cpu_threads)
    if backend == "openvino":
        from mlcls_cli.inference.backends.openvino_runtime import OpenVinoRuntime

        return OpenVinoRuntime(onnx_path, precision=precision, threads=cpu_threads)
    raise UsageError(f"unknown backend {backend!r}")


def describe(options: dict[str, Any] | None = None) -> str:
    """One line naming the installed backends, for ``mlcls version`` and ``mlcls models info``."""
    found = options if options is not None else available_backends()
    parts = [f"{name} {version}" if version else f"{name} (not installed)" for name, version in found.items()]
    return ", ".join(parts)


__all__ = [
    "AUTO_ORDER",
    "BACKENDS",
    "EXTRA",
    "PRECISIONS",
    "BackendUnavailableError",
    "available_backends",
    "backend_candidates",
    "check_choice",
    "choose_backend",
    "create_runtime",
    "describe",
    "installed",
]
