"""Device strings of every command: ``cpu``, ``gpu``, ``gpu:N``, ``gpu:N,M`` (PaddleX spelling), or auto.

One parser (:func:`parse_device_list`) and one availability check (:func:`check_gpus`:
exit 69 with the same words in train, eval, predict and serve). Parsing needs no
paddle; the checks import it. Inference uses one card: ``gpu:0,1`` is accepted for
PaddleX compatibility and predicts on the first; training plans one process per card
(:mod:`mlcls_cli.engine.device`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from mlcls_cli import console
from mlcls_cli.errors import MlclsError, PaddleMissingError, UsageError

_OTHER_KINDS = ("npu", "xpu", "mlu", "dcu", "gcu", "iluvatar_gpu", "metax_gpu")
DEVICE_HINT = "use cpu, gpu, gpu:N or (for training) gpu:N,M,... (NVIDIA GPUs)"


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


def parse_device_list(text: str) -> tuple[str, tuple[int, ...]]:
    """Parse ``cpu``, ``gpu``, ``gpu:N`` or ``gpu:N,M`` into ``(kind, card numbers)``; a UsageError otherwise."""
    raw = str(text).strip().lower()
    kind, _, rest = raw.partition(":")
    if kind == "cpu":
        if rest:
            raise UsageError(f"invalid device {text!r}: cpu takes no card number", hint=DEVICE_HINT)
        return "cpu", ()
    if kind in ("gpu", "cuda"):
        if not rest:
            return "gpu", (0,)
        ids: list[int] = []
        for token in rest.split(","):
            token = token.strip()
            if not token.isdigit():
                raise UsageError(f"invalid device {text!r}: {token!r} is not a GPU number", hint=DEVICE_HINT)
            ids.append(int(token))
        if len(set(ids)) != len(ids):
            raise UsageError(f"invalid device {text!r}: a GPU is listed twice", hint=DEVICE_HINT)
        return "gpu", tuple(ids)
    if kind in _OTHER_KINDS:
        raise UsageError(
            f"device {text!r} is not supported by mlcls (CPU and NVIDIA GPUs only)", hint=DEVICE_HINT
        )
    raise UsageError(f"invalid device {text!r}", hint=DEVICE_HINT)


def parse_device(text: str | None) -> Device | None:
    """Parse a device string for inference; None (or "auto") means "choose automatically". Raises UsageError."""
    if text is None or str(text).strip().lower() in ("", "auto"):
        return None
    kind, cards = parse_device_list(str(text))
    if kind == "cpu":
        return Device("cpu")
    if len(cards) > 1:
        console.warn(f"device {text}: several cards are not used in parallel; predicting on gpu:{cards[0]}")
    return Device("gpu", cards[0])


def check_gpus(text: str, cards: tuple[int, ...]) -> None:
    """Raise DeviceUnavailableError (exit 69, one wording for every command) unless every card exists."""
    count = gpu_count()
    if count == 0:
        raise DeviceUnavailableError(
            f"device {text} was asked for, but this machine has no usable GPU "
            "(the installed paddle has no CUDA, or no GPU is visible)",
            hint="use --device cpu, or install paddlepaddle-gpu on a machine with an NVIDIA GPU",
        )
    missing = [i for i in cards if i >= count]
    if missing:
        raise DeviceUnavailableError(
            f"device {text}: gpu:{missing[0]} does not exist ({count} GPU(s) visible: gpu:0..gpu:{count - 1})",
            hint="pick cards that exist, or check CUDA_VISIBLE_DEVICES",
        )


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


def gpu_count() -> int:
    """Number of GPUs paddle can use (0 on a CPU build or without a driver); imports paddle."""
    paddle = import_paddle()
    try:
        if not paddle.device.is_compiled_with_cuda():
            return 0
        return int(paddle.device.cuda.device_count())
    except Exception:  # a CUDA build on a machine without the driver reads as "no card"
        return 0


def resolve_device(text: str | Device | None) -> Device:
    """Return the device to run on: the one asked for (checked), or gpu:0 when available, else cpu."""
    device = text if isinstance(text, Device) else parse_device(text)
    if device is not None and device.kind == "cpu":
        return device
    if device is None:
        return Device("gpu", 0) if gpu_count() > 0 else Device("cpu")
    check_gpus(str(device), (device.index,))
    return device


__all__ = [
    "DEVICE_HINT",
    "Device",
    "DeviceUnavailableError",
    "check_gpus",
    "gpu_count",
    "import_paddle",
    "parse_device",
    "parse_device_list",
    "resolve_device",
]
