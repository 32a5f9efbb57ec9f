"""Stream inputs through load, preprocess, batched inference and postprocess with bounded memory.

Loading (reading, downloading, decoding, resizing, normalising) runs ahead of
inference in a small thread pool, in input order, with at most ``depth`` images in
flight; a folder of any size is processed with constant memory. Only the pixels of
in-memory and URL inputs are kept with their results (file inputs are re-read when
a picture is drawn).

Paddle Inference keeps Python's GIL while it runs a batch, so loader threads only
pay off when inference runs elsewhere (GPU) or on a backend that releases the GIL
(ONNX Runtime, OpenVINO); with Paddle Inference on CPU loading is inline
(:func:`default_workers`; measured in ``benchmarks/bench_predict.py`` and ``bench_backends.py``).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from mlcls_cli.inference.inputs import InputError, InputFailure, InputItem, URLSettings, describe, load_image
from mlcls_cli.inference.preprocess import Preprocessor


@dataclass
class Prepared:
    """A loaded, preprocessed input."""

    item: InputItem
    tensor: np.ndarray
    image: Image.Image | None  # kept only for inputs that cannot be re-read later


def default_workers(device: str = "cpu", *, releases_gil: bool = False) -> int:
    """Loader threads: one per core (at most 4) with a backend that releases the GIL or on a GPU, else none.

    Paddle Inference holds the GIL while it runs on the CPU, so a loader thread cannot
    overlap with it and only adds contention: loading inline measured 0.89-0.92 of the
    bare predictor against 0.73-0.80 with one loader thread (``bench_predict.py``, 2 cores).
    ONNX Runtime and OpenVINO release it, so decoding overlaps with inference: on 2
    cores, 2 loader threads gave 51 images/s against 48.5 with one (``bench_backends.py``).
    """
    if not str(device).startswith("gpu") and not releases_gil:
        return 0
    return max(1, min(4, os.cpu_count() or 1))


def prepare(item: InputItem, preprocessor: Preprocessor, urls: URLSettings) -> Prepared:
    """Load and preprocess one input; raises InputError when it cannot be used."""
    image = load_image(item, urls)
    try:
        tensor = preprocessor(image)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot preprocess: {exc}") from None
    return Prepared(item, tensor, None if item.kind == "path" else image)


def prefetch(
    items: Iterable[InputItem | InputFailure],
    load: Callable[[InputItem], Prepared],
    *,
    workers: int,
    depth: int,
) -> Iterator[InputFailure | Prepared]:
    """Yield ``load(item)`` for each item in order (an InputFailure for failed ones), ``depth`` ahead."""
    source = iter(items)

    def failure(item: InputItem, exc: InputError) -> InputFailure:
        reason = exc.message + (f" ({exc.hint})" if exc.hint else "")
        return InputFailure(describe(item), reason)

    if workers < 1:
        for item in source:
            if isinstance(item, InputFailure):
                yield item
                continue
            try:
                yield load(item)
            except InputError as exc:
                yield failure(item, exc)
        return

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlcls-load")
    pending: deque[tuple[InputItem | InputFailure, Future[Prepared] | None]] = deque()
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < depth:
                item = next(source, None)
                if item is None:
                    exhausted = True
                elif isinstance(item, InputFailure):
                    pending.append((item, None))
                else:
                    pending.append((item, pool.submit(load, item)))
            if not pending:
                return
            item, future = pending.popleft()
            if future is None:
                assert isinstance(item, InputFailure)
                yield item
                continue
            assert isinstance(item, InputItem)
            try:
                yield future.result()
            except InputError as exc:
                yield failure(item, exc)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def stack(prepared: list[Prepared]) -> Iterator[list[Prepared]]:
    """Split a batch into runs of equal tensor shape (only differs for short-side resizing)."""
    groups: dict[tuple[int, ...], list[Prepared]] = {}
    for p in prepared:
        groups.setdefault(tuple(p.tensor.shape), []).append(p)
    yield from groups.values()


def batches(
    stream: Iterable[Any], size: int, on_failure: Callable[[InputFailure], None]
) -> Iterator[list[Prepared]]:
    """Group prepared inputs into lists of ``size``; failures go to ``on_failure`` as they arrive."""
    batch: list[Prepared] = []
    for entry in stream:
        if isinstance(entry, InputFailure):
            on_failure(entry)
            continue
        batch.append(entry)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = ["Prepared", "batches", "default_workers", "prefetch", "prepare", "stack"]
