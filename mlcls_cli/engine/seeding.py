"""Seeding and RNG-state capture for reproducible and resumable training.

:func:`seed_everything` seeds Python's ``random``, NumPy's global generator and
paddle's generators (CPU and, when present, GPU). :func:`capture_rng_state` and
:func:`restore_rng_state` save and restore all of them in a checkpoint, so dropout
draws continue exactly after a resume. Data augmentation does not rely on these
global generators (see :mod:`mlcls_cli.engine.dataset`). PaddleClas only seeds
(when ``Global.seed`` is set) and does not save RNG states.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

__all__ = ["capture_rng_state", "restore_rng_state", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed python ``random``, numpy's global generator and paddle's generators with ``seed``."""
    import paddle

    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed & 0xFFFFFFFF)
    paddle.seed(seed)


def _cuda_available() -> bool:
    import paddle

    try:
        return paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0
    except Exception:  # a CPU build without the CUDA runtime
        return False


def capture_rng_state() -> dict[str, Any]:
    """A snapshot of the python, numpy and paddle random states, in plain types only.

    Plain lists, ints and strings survive ``paddle.save``/``paddle.load`` (which rejects
    bytes and turns numpy arrays into tensors) and JSON.
    """
    import paddle

    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [
            str(name),
            np.asarray(keys, dtype=np.uint32).tolist(),
            int(pos),
            int(has_gauss),
            float(cached),
        ],
        "paddle": [_generator_to_plain(s) for s in paddle.get_rng_state()],
    }
    if _cuda_available():
        state["paddle_cuda"] = [_generator_to_plain(s) for s in paddle.get_cuda_rng_state()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore a snapshot from :func:`capture_rng_state` (parts it lacks are left alone)."""
    import paddle

    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state(
            (name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached))
        )
    if "paddle" in state:
        current = paddle.get_rng_state()
        paddle.set_rng_state(_plain_to_generators(state["paddle"], current, "CPU"))
    if "paddle_cuda" in state and _cuda_available():
        current = paddle.get_cuda_rng_state()
        paddle.set_cuda_rng_state(_plain_to_generators(state["paddle_cuda"], current, "GPU"))


def _generator_to_plain(gen_state: Any) -> list[Any]:
    # paddle's GeneratorState pickles as (device, seed, offset, [state bytes as ints]); keep those parts,
    # with the state bytes as text
    device, seed, offset, raw = gen_state.__getstate__()
    return [int(device), int(seed), int(offset), bytes(raw).decode("latin-1")]


def _plain_to_generators(saved: list[Any], current: list[Any], kind: str) -> list[Any]:
    if len(saved) != len(current):
        raise ValueError(
            f"saved {kind} RNG state has {len(saved)} generators, this process has {len(current)}"
        )
    cls = type(current[0])
    out = []
    for device, seed, offset, raw in saved:
        gen = cls.__new__(cls)
        gen.__setstate__((int(device), int(seed), int(offset), list(raw.encode("latin-1"))))
        out.append(gen)
    return out
