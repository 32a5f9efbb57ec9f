"""Convert an inference package's graph to ONNX with paddle2onnx, check it, and cache it.

:func:`convert_to_onnx` runs the real converter (paddle2onnx, as PaddleX does) in a
child process, so that its native crashes, its console noise and its habit of
reporting errors only in a log cannot hurt the caller; then the result is run
beside Paddle Inference on the same batch, and only an ONNX graph that agrees
(``max |diff| <= tolerance`` on the outputs) is moved into place, atomically.

:func:`onnx_for` gives the ONNX file a backend should load: the package's own
``inference.onnx``, or one converted once into the model cache under
``<cache>/onnx/<sha256 of graph and weights>/``, so a read-only official package is
never written to and a changed package is converted again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mlcls_cli import console
from mlcls_cli.errors import IOFailure, MlclsError
from mlcls_cli.inference.package import ONNX_FILE, InferencePackage

OPSET = 13
FAILED_RECORD = "failed.json"
#: Largest output difference (probabilities) accepted between the ONNX graph and Paddle Inference. A wrong
#: conversion differs by 0.1 or more; float rounding stays far below 1e-3 (measured: 1e-6 to 3e-4, the
#: largest for PP-HGNetV2-B0 with random weights on random inputs).
TOLERANCE = 1e-3
_CONVERTER = """
import os, sys
os.environ["POLYGRAPHY_AUTOINSTALL_DEPS"] = "0"  # never pip-install anything at run time
import paddle2onnx
paddle2onnx.export(sys.argv[1], sys.argv[2], sys.argv[3], opset_version=int(sys.argv[4]),
                   enable_onnx_checker=True, optimize_tool="onnxoptimizer")
"""


class ConversionError(MlclsError):
    """paddle2onnx failed, or its result does not compute what the package computes (exit 70)."""

    exit_code = 70


def convert_to_onnx(
    package: InferencePackage,
    dest: str | os.PathLike[str],
    *,
    opset: int = OPSET,
    tolerance: float = TOLERANCE,
) -> Path:
    """Write ``package``'s graph as ONNX to ``dest`` (atomically, checked against Paddle Inference); returns it."""
    from mlcls_cli.inference.backends import EXTRA, BackendUnavailableError, installed

    if not installed("paddle2onnx"):
        raise BackendUnavailableError(
            f"converting {package.folder} to ONNX needs paddle2onnx, which is not installed", hint=EXTRA
        )
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _run_converter(package, tmp, opset)
        diff = max_difference(package, tmp)
        if not diff <= tolerance:
            raise ConversionError(
                f"the ONNX conversion of {package.folder} does not compute what the package computes: "
                f"outputs differ by up to {diff:.3g} (tolerance {tolerance:g})",
                hint="use --backend paddle for this model, and report the model and paddle2onnx version",
            )
        os.replace(tmp, target)
        console.info(f"checked the ONNX graph against Paddle Inference: outputs differ by at most {diff:.2g}")
    except OSError as exc:
        raise IOFailure(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _run_converter(package: InferencePackage, out: Path, opset: int) -> None:
    out.unlink(missing_ok=True)
    env = {**os.environ, "POLYGRAPHY_AUTOINSTALL_DEPS": "0", "GLOG_minloglevel": "2"}
    args = [
        sys.executable,
        "-c",
        _CONVERTER,
        str(package.graph_file),
        str(package.params_file),
        str(out),
        str(opset),
    ]
    started = time.monotonic()
    try:
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=1800)
    except subprocess.TimeoutExpired:
        raise ConversionError(
            f"paddle2onnx did not finish converting {package.folder} in 30 minutes"
        ) from None
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        if console.state.debug:
            console.err_console().print((proc.stderr + proc.stdout)[-4000:], markup=False)
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        # paddle2onnx says why in an "[ERROR]" line, then aborts with a generic "FatalError" summary
        errors = (
            [ln for ln in lines if "[ERROR]" in ln] or [ln for ln in lines if "error" in ln.lower()] or lines
        )
        raise ConversionError(
            f"paddle2onnx could not convert {package.graph_file} (exit {proc.returncode}): "
            + (errors[-1].strip()[:300] if errors else "no output"),
            hint="use --backend paddle for this model; with --debug the converter's log is shown",
        )
    if console.state.debug:
        console.err_console().print(proc.stderr[-4000:], markup=False)
    console.info(f"paddle2onnx converted the graph to ONNX in {time.monotonic() - started:.1f} s")


def max_difference(package: InferencePackage, onnx_path: Path, *, batch: int = 2) -> float:
    """The largest output difference between Paddle Inference and the ONNX graph on one fixed batch.

    Raises ConversionError when the ONNX graph cannot run that batch at all.
    """
    from mlcls_cli.inference.backends import installed
    from mlcls_cli.inference.backends.paddle_inference import PaddleRuntime
    from mlcls_cli.inference.device import Device

    paddle = PaddleRuntime(package, Device("cpu"), threads=1)
    shape = paddle.input_shape()
    if len(shape) == 4 and shape[2] > 0 and shape[3] > 0:
        height, width = shape[2], shape[3]
    else:
        size = package.input_size() or 224
        height, width = (size, size) if isinstance(size, int) else (size[1], size[0])
    data = np.random.default_rng(0).standard_normal((batch, 3, height, width)).astype(np.float32)
    reference = paddle.run(data)
    try:
        if installed("onnxruntime"):
            from mlcls_cli.inference.backends.onnx_runtime import OrtRuntime

            candidate = OrtRuntime(onnx_path, threads=1).run(data)
        else:
            from mlcls_cli.inference.backends.openvino_runtime import OpenVinoRuntime

            candidate = OpenVinoRuntime(onnx_path, precision="fp32", threads=1).run(data)
    except MlclsError:
        raise
    except Exception as exc:  # the runtimes raise their own types for a graph they cannot run
        raise ConversionError(
            f"the ONNX conversion of {package.folder} cannot run a {batch}x3x{height}x{width} batch: "
            f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__}",
            hint="use --backend paddle for this model",
        ) from exc
    if candidate.shape != reference.shape:
        return float("inf")
    return float(np.max(np.abs(candidate - reference))) if reference.size else 0.0


def _raise_if_failed_before(folder: Path) -> None:
    """Repeat the error of an earlier failed conversion of the same package (cleared by `mlcls models clean`)."""
    record = folder / FAILED_RECORD
    if record.is_file():
        try:
            message = str(json.loads(record.read_text(encoding="utf-8")).get("error"))
        except (OSError, ValueError, AttributeError):
            message = "an earlier conversion failed"
        raise ConversionError(
            f"{message} (remembered from an earlier attempt)",
            hint="use --backend paddle for this model; `mlcls models clean --partial --yes` forgets the failure",
        )


def cached_onnx_path(package: InferencePackage) -> Path:
    """Where the converted graph of ``package`` lives in the model cache."""
    from mlcls_cli.hub.cache import onnx_dir

    return onnx_dir() / package.fingerprint() / ONNX_FILE


def onnx_for(package: InferencePackage) -> Path:
    """The ONNX file to load for ``package``: its own ``inference.onnx``, or one converted once into the cache."""
    if package.onnx_file is not None:
        return package.onnx_file
    target = cached_onnx_path(package)
    if target.is_file():
        return target
    _raise_if_failed_before(target.parent)
    from mlcls_cli.hub.lock import file_lock

    target.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(
        target.parent / ".lock", waiting_message=f"waiting for another process converting {package.folder}"
    ):
        if target.is_file():  # converted by the process we waited for
            return target
        console.info(f"converting {package.folder} to ONNX once; cached in {target.parent}")
        try:
            convert_to_onnx(package, target)
        except ConversionError as exc:  # remembered, so the next load does not spend the time again
            (target.parent / FAILED_RECORD).write_text(
                json.dumps({"package": str(package.folder), "error": exc.message}, indent=2) + "\n",
                encoding="utf-8",
            )
            raise
        record = {
            "package": str(package.folder),
            "model_name": package.model_name,
            "fingerprint": package.fingerprint(),
            "opset": OPSET,
        }
        (target.parent / "source.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return target


__all__ = [
    "OPSET",
    "TOLERANCE",
    "ConversionError",
    "cached_onnx_path",
    "convert_to_onnx",
    "max_difference",
    "onnx_for",
]
