"""Run the pipeline for the service: one inference at a time, off the event loop.

Paddle predictors are not thread-safe, so every call into the pipeline (predict
and drawing the result picture) runs on one dedicated worker thread, in arrival
order. The event loop only awaits the result, so health checks and the decoding
of other requests go on meanwhile.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from mlcls_cli.errors import InputMissingError, UsageError
from mlcls_cli.serving.errors import ApiError


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


class InferenceWorker:
    """Owns a pipeline and the single thread allowed to use it.

    ``pipeline`` is a :class:`~mlcls_cli.inference.pipeline.MultiLabelPipeline` (or
    anything with the same ``predict``); images are handed over as RGB PIL images.
    """

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlcls-infer")

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
        """:meth:`predict` on the worker thread, awaited without blocking the event loop."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self.predict, image, threshold=threshold, top_k=top_k, visualize=visualize)
        return await loop.run_in_executor(self._executor, call)

    def close(self) -> None:
        """Stop the worker thread after the calls already queued."""
        self._executor.shutdown(wait=True)
