"""Run the pipeline for the service: one inference at a time, off the event loop.

Paddle predictors are not thread-safe, so every call into the pipeline (predict
and drawing the result picture) runs on one dedicated worker thread, in arrival
order. The event loop only awaits the result, so health checks and the decoding
of other requests go on meanwhile.

With dynamic batching (``batch_max_size`` of 2 or more), requests arriving within
``batch_wait_ms`` of the first waiting one share one inference call, on one
dedicated batch thread instead: each request's threshold and top-k are checked and
its image preprocessed before it joins a batch (a bad one fails alone, and this
work overlaps the running batch), the model runs once for the batch, and each
request then gets its own thresholds and top-k; its picture is drawn on a pool
thread, as drawing does not touch the model.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from mlcls_cli.errors import InputMissingError, UsageError
from mlcls_cli.serving.errors import ApiError

#: How long the first request of a batch waits for others, by default (milliseconds).
DEFAULT_BATCH_WAIT_MS = 5.0
#: Largest accepted ``batch_max_size``: the service keeps up to twice as many decoded images.
MAX_BATCH_SIZE = 256

log = logging.getLogger("mlcls.serving")


@dataclass
class Prediction:
    """What the endpoint returns for one image: categories (score descending) and an optional picture."""

    categories: list[dict[str, Any]]
    image: Image.Image | None = None  # the labelled picture, when asked for


def categories_of(
    class_ids: Sequence[Any], scores: Sequence[Any], label_names: Sequence[Any] | None
) -> list[dict[str, Any]]:
    """``[{"id", "name", "score"}]`` sorted by score descending; ``name`` is ``str(id)`` without label names."""
    names = list(label_names) if label_names is not None else []
    items = []
    for k, (cid, score) in enumerate(
        zip(np.asarray(class_ids).tolist(), np.asarray(scores).tolist(), strict=True)
    ):
        name = str(names[k]) if k < len(names) else str(cid)
        items.append({"id": int(cid), "name": name, "score": float(score)})
    items.sort(key=lambda item: -item["score"])  # stable: ties keep the pipeline's order
    return items


def check_batching(max_size: Any, wait_ms: Any) -> tuple[int, float]:
    """``(batch_max_size, batch_wait_ms)`` checked: an integer in 1..256 and a finite number >= 0.

    Raises UsageError (exit 2) naming the ``mlcls serve`` option otherwise.
    """
    if isinstance(max_size, bool) or not isinstance(max_size, (int, np.integer)):
        raise UsageError(f"--batch-max-size must be an integer, got {max_size!r}")
    if not 1 <= max_size <= MAX_BATCH_SIZE:
        raise UsageError(
            f"--batch-max-size must be within 1..{MAX_BATCH_SIZE}, got {max_size}",
            hint="1 turns dynamic batching off; try 8",
        )
    if isinstance(wait_ms, bool) or not isinstance(wait_ms, (int, float, np.number)):
        raise UsageError(f"--batch-wait-ms must be a number, got {wait_ms!r}")
    if not (math.isfinite(wait_ms) and wait_ms >= 0):
        raise UsageError(f"--batch-wait-ms must be a finite number >= 0, got {wait_ms}")
    return int(max_size), float(wait_ms)


@dataclass
class _Job:
    """One request waiting for the batch thread."""

    tensor: np.ndarray  # the preprocessed image
    limits: np.ndarray  # its per-class thresholds
    top_k: int | None
    future: concurrent.futures.Future[Any]  # gets the request's Kept labels, or its exception
    arrived: float  # time.monotonic() when it was queued


def _batch_model(pipeline: Any) -> Any:
    """The :class:`~mlcls_cli.inference.model.MultiLabelModel` behind ``pipeline`` (or ``pipeline`` itself)."""
    model = getattr(pipeline, "model", pipeline)
    needed = ("preprocessor", "predictor", "postprocessor", "call_thresholds", "call_top_k")
    if not all(hasattr(model, name) for name in needed):
        raise UsageError(
            "dynamic batching needs a pipeline from create_pipeline() or a model from create_model()"
        )
    return model


class _Batcher:
    """The batch thread: takes queued requests in arrival order and runs them in batches."""

    def __init__(self, model: Any, lock: threading.Lock, max_size: int, wait_ms: float) -> None:
        self.model = model
        self.max_size = max_size
        self.wait_s = wait_ms / 1000.0
        self._lock = lock  # the worker's: batches never overlap a direct predict() call
        self._jobs: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._refusal = "the server is shutting down"  # what submit answers once closing
        self._sizes: Counter[int] = Counter()
        self._thread = threading.Thread(target=self._loop, name="mlcls-batch", daemon=True)
        self._thread.start()

    # --- request side (any thread)

    def prepare(self, image: Image.Image, threshold: Any, top_k: Any) -> tuple[np.ndarray, np.ndarray, Any]:
        """Check the request's threshold and top-k (422) and preprocess its image (400)."""
        try:
            limits = self.model.call_thresholds(threshold)
            k = self.model.call_top_k(top_k)
        except UsageError as exc:
            raise ApiError(422, exc.message) from None
        try:
            tensor = self.model.preprocessor(image)
        except (OSError, ValueError) as exc:
            raise ApiError(400, f"the image cannot be used: cannot preprocess: {exc}") from None
        return tensor, limits, k

    def submit(self, job: _Job) -> None:
        """Queue ``job`` for the next batch; 503 once the worker is closing."""
        with self._cond:
            if self._closing:
                raise ApiError(503, self._refusal)
            self._jobs.append(job)
            self._cond.notify()

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._jobs)

    def sizes(self) -> dict[int, int]:
        with self._cond:
            return dict(sorted(self._sizes.items()))

    def close(self) -> None:
        """Run what is queued (no more waiting for batches to fill), then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    # --- the batch thread

    def _next_batch(self) -> list[_Job] | None:
        """Up to ``max_size`` jobs, once the batch is full or its first job waited ``wait_s``; None: stop."""
        with self._cond:
            while not self._jobs:
                if self._closing:
                    return None
                self._cond.wait()
            deadline = self._jobs[0].arrived + self.wait_s
            while len(self._jobs) < self.max_size and not self._closing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return [self._jobs.popleft() for _ in range(min(self.max_size, len(self._jobs)))]

    def _loop(self) -> None:
        batch: list[_Job] = []
        try:
            while (batch := self._next_batch()) is not None:
                # requests given up meanwhile (client gone, server stopping) are not run
                live = [job for job in batch if job.future.set_running_or_notify_cancel()]
                if live:
                    self._run(live)
                batch = []
        except BaseException as exc:  # a bug here must fail the requests, not leave them waiting forever
            log.error("the batch thread stopped", exc_info=exc)
            with self._cond:
                self._closing = True
                self._refusal = "the inference worker stopped after an error; restart the server"
                left = batch + list(self._jobs)
                self._jobs.clear()
            for job in left:
                future = job.future
                if not future.done() and (future.running() or future.set_running_or_notify_cancel()):
                    future.set_exception(ApiError(503, self._refusal))

    def _infer(self, jobs: list[_Job]) -> list[np.ndarray]:
        """Probability rows for ``jobs``, one model call per tensor shape (packages may resize by the short side)."""
        rows: list[Any] = [None] * len(jobs)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, job in enumerate(jobs):
            groups.setdefault(tuple(job.tensor.shape), []).append(i)
        for indices in groups.values():
            probs = self.model.predictor.run(np.stack([jobs[i].tensor for i in indices]))
            for i, row in zip(indices, np.asarray(probs), strict=True):
                rows[i] = row
        return rows

    def _run(self, jobs: list[_Job]) -> None:
        with self._cond:
            self._sizes[len(jobs)] += 1
        try:
            with self._lock:
                rows = self._infer(jobs)
        except Exception as exc:
            if len(jobs) == 1:
                jobs[0].future.set_exception(exc)
                return
            # one image may be what fails: retried alone, only the requests that fail again get an error
            log.warning("a batch of %d failed (%s); running its requests one by one", len(jobs), exc)
            for job in jobs:
                self._run([job])
            return
        for job, row in zip(jobs, rows, strict=True):
            try:
                (kept,) = self.model.postprocessor.apply(row[None, :], job.limits, job.top_k)
            except Exception as exc:
                job.future.set_exception(exc)
            else:
                job.future.set_result(kept)


def _labelled_picture(image: Image.Image, kept: Any, task: str) -> Image.Image:
    """``image`` labelled as the pipeline's result draws it (the kept labels, or the top-1 class)."""
    from mlcls_cli.inference.result import MLClassResult

    result = MLClassResult(
        task=task,
        input_path=None,
        class_ids=kept.class_ids,
        scores=kept.scores,
        label_names=kept.label_names,
        image=image,
    )
    return result.img["res"]


class InferenceWorker:
    """Owns a pipeline and the single thread allowed to use it.

    ``pipeline`` is a :class:`~mlcls_cli.inference.pipeline.MultiLabelPipeline` (or
    anything with the same ``predict``); images are handed over as RGB PIL images.
    ``batch_max_size`` of 2 or more turns on dynamic batching for :meth:`predict_async`
    (the pipeline must then come from ``create_pipeline`` or ``create_model``):
    requests queued within ``batch_wait_ms`` of the first waiting one share one
    inference call, at most ``batch_max_size`` of them.
    """

    def __init__(
        self, pipeline: Any, *, batch_max_size: int = 1, batch_wait_ms: float = DEFAULT_BATCH_WAIT_MS
    ) -> None:
        self.pipeline = pipeline
        self.batch_max_size, self.batch_wait_ms = check_batching(batch_max_size, batch_wait_ms)
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlcls-infer")
        self._batcher = (
            _Batcher(_batch_model(pipeline), self._lock, self.batch_max_size, self.batch_wait_ms)
            if self.batch_max_size > 1
            else None
        )

    @property
    def batching(self) -> bool:
        """Whether :meth:`predict_async` batches requests."""
        return self._batcher is not None

    @property
    def queued(self) -> int:
        """Requests waiting for the batch thread (0 without batching)."""
        return self._batcher.queued if self._batcher is not None else 0

    def batch_sizes(self) -> dict[int, int]:
        """How many inference calls the batch thread ran, by number of images: ``{size: calls}``."""
        return self._batcher.sizes() if self._batcher is not None else {}

    @property
    def task(self) -> str:
        """The served model's task: ``image_multilabel_classification`` or ``image_classification``."""
        from mlcls_cli.models.registry import TASK_ML

        return str(getattr(self.pipeline, "task", TASK_ML))

    @property
    def num_classes(self) -> int | None:
        """The model's class count, when the pipeline tells it."""
        for owner in (self.pipeline, getattr(self.pipeline, "model", None)):
            labels = getattr(owner, "label_list", None)
            if labels is not None:
                return len(labels)
        return None

    def predict(
        self, image: Image.Image, *, threshold: Any = None, top_k: int | None = None, visualize: bool = True
    ) -> Prediction:
        """Classify one RGB image (blocking; serialised with every other call).

        A threshold or top-k the pipeline refuses gives ``ApiError`` 422; an image it
        cannot use gives 400.
        """
        with self._lock:
            try:
                results = self.pipeline.predict(image, threshold=threshold, top_k=top_k, on_error="raise")
            except UsageError as exc:  # the arguments are checked when predict is called
                raise ApiError(422, exc.message) from None
            try:
                result = next(iter(results), None)
                if result is None:
                    raise RuntimeError("the pipeline returned no result for the image")
                categories = categories_of(result.class_ids, result.scores, result.label_names)
                picture = result.img["res"] if visualize else None
            except InputMissingError as exc:  # the pipeline's "cannot use this input"
                raise ApiError(400, f"the image cannot be used: {exc.message}") from None
            finally:
                close = getattr(results, "close", None)
                if close is not None:
                    close()
        return Prediction(categories=categories, image=picture)

    async def predict_async(
        self, image: Image.Image, *, threshold: Any = None, top_k: int | None = None, visualize: bool = True
    ) -> Prediction:
        """:meth:`predict` on the worker thread (or in a batch), awaited without blocking the event loop."""
        loop = asyncio.get_running_loop()
        if self._batcher is None:
            call = functools.partial(
                self.predict, image, threshold=threshold, top_k=top_k, visualize=visualize
            )
            return await loop.run_in_executor(self._executor, call)
        tensor, limits, k = await loop.run_in_executor(None, self._batcher.prepare, image, threshold, top_k)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._batcher.submit(_Job(tensor, limits, k, future, time.monotonic()))
        kept = await asyncio.wrap_future(future)
        categories = categories_of(kept.class_ids, kept.scores, kept.label_names)
        picture = (
            await loop.run_in_executor(None, _labelled_picture, image, kept, self.task) if visualize else None
        )
        return Prediction(categories=categories, image=picture)

    def close(self) -> None:
        """Stop the worker threads after the calls already queued (queued requests are still answered)."""
        if self._batcher is not None:
            self._batcher.close()
            sizes = self._batcher.sizes()
            if sizes:
                images = sum(size * calls for size, calls in sizes.items())
                calls = sum(sizes.values())
                log.info(
                    "dynamic batching: %d image(s) in %d inference call(s), %.2f per call; sizes %s",
                    images,
                    calls,
                    images / calls,
                    ", ".join(f"{size}x{count}" for size, count in sizes.items()),
                )
        self._executor.shutdown(wait=True)
