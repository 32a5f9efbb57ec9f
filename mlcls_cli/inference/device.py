"""Device strings for inference: ``cpu``, ``gpu``, ``gpu:N`` (PaddleX spelling), or None for automatic.

Parsing needs no paddle; :func:`resolve_device` checks availability and imports it.
``gpu:0,1`` is accepted for PaddleX compatibility but only the first card is used.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

from mlcls_cli import console
from mlcls_cli.errors import MlclsError, PaddleMissingError, UsageError

_DEVICE = re.compile(r"^(cpu|gpu)(?::(\d+(?:\s*,\s*\d+)*))?$")
_OTHER_KINDS = ("npu", "xpu", "mlu", "dcu", "gcu", "iluvatar_gpu", "metax_gpu")


class DeviceUnavailableError(MlclsError):
    """The device asked for cannot be used by this paddle build or machine (exit 69)."""

    exit_code = 69


@dataclass(frozen=True)
class Device:
    """A parsed device: ``kind`` is "cpu" or "gpu"; ``index`` the card for gpu."""

    kind: str
    index: int = 0

    def __str__(self) -> str:
        return "cpu" if self.kind == "cpu" else f"gpu:{self.index}"


def parse_device(text: str | None) -> Device | None:
    """Parse a device string; None (or "auto") means "choose automatically". Raises UsageError."""
    if text is None:
        return None
    value = str(text).strip().lower()
    if value in ("", "auto"):
        return None
    match = _DEVICE.match(value)
    if match is None:
        kind = value.split(":")[0]
        if kind in _OTHER_KINDS:
            raise UsageError(
                f"device {text!r} is not supported by mlcls inference",
                hint="use cpu or gpu:N (NVIDIA); other accelerators are not wired up",
            )
        raise UsageError(f"invalid device {text!r}", hint="use cpu, gpu or gpu:N (e.g. gpu:0)")
    kind, ids = match.group(1), match.group(2)
    if kind == "cpu":
        if ids:
            raise UsageError(f"invalid device {text!r}", hint="cpu takes no card number; use cpu")
        return Device("cpu")
    cards = [int(i) for i in ids.split(",")] if ids else [0]
    if len(cards) > 1:
        console.warn(f"device {text}: several cards are not used in parallel; predicting on gpu:{cards[0]}")
    return Device("gpu", cards[0])


def import_paddle() -> Any:
    """Import paddle without its compiler-cache warning; PaddleMissingError when it is not installed."""
    try:
        with warnings.catch_warnings():
            # paddle warns at import that ccache is missing; irrelevant to running models
            warnings.filterwarnings("ignore", message="No ccache found")
            import paddle
            import paddle.inference
    except ImportError as exc:
        raise PaddleMissingError() from exc
    return paddle


def _gpu_count() -> int:
    paddle = import_paddle()

    if not paddle.device.is_compiled_with_cuda():
        return 0
    try:
        return int(paddle.device.cuda.device_count())
    except Exception:  # a driver problem reads as "no card"
        return 0


def resolve_device(text: str | Device | None) -> Device:
    """Return the device to run on: the one asked for (checked), or gpu:0 when available, else cpu."""
    device = text if isinstance(text, Device) else parse_device(text)
    if device is not None and device.kind == "cpu":
        return device
    count = _gpu_count()
    if device is None:
        return Device("gpu", 0) if count > 0 else Device("cpu")
    if count == 0:
        raise DeviceUnavailableError(
            f"device {device} was asked for but this paddle build or machine has no usable GPU",
            hint="use --device cpu, or install paddlepaddle-gpu on a machine with an NVIDIA card",
        )
    if device.index >= count:
        raise DeviceUnavailableError(
            f"device {device} does not exist: {count} GPU(s) visible (gpu:0..gpu:{count - 1})",
            hint="pick a card that exists, or check CUDA_VISIBLE_DEVICES",
        )
    return device


__all__ = ["Device", "DeviceUnavailableError", "import_paddle", "parse_device", "resolve_device"]
