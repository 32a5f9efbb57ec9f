"""``create_model``: a multi-label classifier from a zoo name or an inference package, PaddleX-style.

from mlcls_cli import create_model
model = create_model("PP-LCNet_x1_0_ML")           # official package, downloaded once
for res in model.predict("photo.jpg", batch_size=1, threshold=0.5):
    res.print()
    res.save_to_img("./output/")
    res.save_to_json("./output/res.json")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mlcls_cli import console
from mlcls_cli.errors import UsageError
from mlcls_cli.inference.batching import Prepared, batches, default_workers, prefetch, prepare, stack
from mlcls_cli.inference.device import resolve_device
from mlcls_cli.inference.inputs import InputError, InputFailure, InputItem, iter_inputs, url_settings
from mlcls_cli.inference.postprocess import Postprocessor, check_top_k
from mlcls_cli.inference.predictor import Predictor
from mlcls_cli.inference.result import ClassificationResult
from mlcls_cli.models.registry import TASK_CLS

OnError = str | Callable[[InputFailure], None]
_ON_ERROR = ("warn", "raise", "ignore")


def _batch_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise UsageError(f"batch_size must be a positive integer, got {value!r}")
    return int(value)


class ClassificationModel:
    """A loaded classifier (multi-label or single-label): ``predict(input)`` yields one result per image.

    Inputs that cannot be used are skipped (by default with a warning on stderr);
    ``failures`` lists those of the latest ``predict`` call.
    """

    def __init__(
        self,
        predictor: Predictor,
        *,
        threshold: Any = None,
        batch_size: int = 1,
        top_k: int | None = None,
        workers: int | None = None,
        url_max_bytes: int | None = None,
        url_timeout: float | None = None,
        allow_urls: bool = True,
    ) -> None:
        self.predictor = predictor
        self.preprocessor = predictor.preprocessor
        single = predictor.task == TASK_CLS
        self.postprocessor = Postprocessor(
            predictor.label_list, default_threshold=predictor.threshold, keep_all=single
        )
        self.threshold = self.postprocessor.thresholds(threshold) if threshold is not None else None
        self.batch_size = _batch_size(batch_size)
        # single-label: the k most probable classes, the package's topk (5) unless told otherwise
        self.top_k = check_top_k(top_k) if top_k is not None else predictor.topk
        self.workers = (
            default_workers(str(predictor.device), releases_gil=predictor.runtime.releases_gil)
            if workers is None
            else max(0, int(workers))
        )
        self.urls = url_settings(url_max_bytes, url_timeout, allow_urls)
        self.failures: list[InputFailure] = []

    @property
    def model_name(self) -> str | None:
        """``Global.model_name`` of the package."""
        return self.predictor.model_name

    @property
    def label_list(self) -> list[str]:
        """Class names, in class-id order."""
        return self.predictor.label_list

    @property
    def task(self) -> str:
        """``image_multilabel_classification`` or ``image_classification`` (from the package)."""
        return self.predictor.task

    @property
    def model_dir(self) -> Path:
        """The inference package folder."""
        return self.predictor.model_dir

    @property
    def device(self) -> str:
        """The device predictions run on (``cpu`` or ``gpu:N``)."""
        return str(self.predictor.device)

    @property
    def backend(self) -> str:
        """The backend running the model (paddle, tensorrt, onnxruntime, openvino)."""
        return self.predictor.backend

    @property
    def precision(self) -> str:
        """fp32 or bf16."""
        return self.predictor.precision

    def _failure_handler(self, on_error: OnError) -> Callable[[InputFailure], None]:
        if callable(on_error):
            user = on_error

            def record_and_call(failure: InputFailure) -> None:
                self.failures.append(failure)
                user(failure)

            return record_and_call
        if on_error not in _ON_ERROR:
            raise UsageError(
                f"on_error must be one of {', '.join(_ON_ERROR)} or a function, got {on_error!r}"
            )

        def handle(failure: InputFailure) -> None:
            self.failures.append(failure)
            if on_error == "raise":
                raise InputError(f"cannot use input {failure.input}: {failure.reason}")
            if on_error == "warn":
                console.warn(f"skipped {failure.input}: {failure.reason}")

        return handle

    def predict(
        self,
        input: Any,
        batch_size: int | None = None,
        threshold: Any = None,
        top_k: int | None = None,
        *,
        topk: int | None = None,
        on_error: OnError = "warn",
    ) -> Iterator[ClassificationResult]:
        """Yield a result per image of ``input`` (path, folder, URL, array, ``{"img": ...}``, or a list).

        ``threshold`` (number, per-class list, ``{"default": ...}`` mapping or
        thresholds.json) and ``top_k`` (``topk``, PaddleX's spelling for single-label
        models) override the model's for this call.
        ``on_error``: "warn" (default: report on stderr, skip), "ignore" (skip),
        "raise" (raise :class:`~mlcls_cli.inference.inputs.InputError`), or a function
        called with each :class:`~mlcls_cli.inference.inputs.InputFailure`.
        """
        size = self.batch_size if batch_size is None else _batch_size(batch_size)
        limits = self.call_thresholds(threshold)
        if top_k is not None and topk is not None and top_k != topk:
            raise UsageError(f"top_k={top_k} and topk={topk} disagree", hint="give one of them")
        k = self.call_top_k(top_k if top_k is not None else topk)
        report = self._failure_handler(on_error)
        self.failures = []
        return self._stream(input, size, limits, k, report)

    __call__ = predict

    def call_thresholds(self, threshold: Any = None) -> np.ndarray:
        """Per-class thresholds a ``predict`` call uses for ``threshold`` (None: the model's); UsageError if bad."""
        if threshold is not None:
            return self.postprocessor.thresholds(threshold)
        if self.threshold is not None:
            return self.threshold
        return self.postprocessor.default_thresholds

    def call_top_k(self, top_k: Any = None) -> int | None:
        """The top-k a ``predict`` call uses for ``top_k`` (None: the model's); UsageError if bad."""
        return self.top_k if top_k is None else check_top_k(top_k)

    def _load(self, item: InputItem) -> Prepared:
        return prepare(item, self.preprocessor, self.urls)

    def _stream(
        self,
        input: Any,
        size: int,
        limits: np.ndarray,
        top_k: int | None,
        report: Callable[[InputFailure], None],
    ) -> Iterator[ClassificationResult]:
        depth = max(2 * size, size + self.workers)
        loaded = prefetch(iter_inputs(input), self._load, workers=self.workers, depth=depth)
        for batch in batches(loaded, size, report):
            yield from self._infer(batch, limits, top_k)

    def _infer(
        self, batch: list[Prepared], limits: np.ndarray, top_k: int | None
    ) -> Iterator[ClassificationResult]:
        for group in stack(batch):
            probs = self.predictor.run(np.stack([p.tensor for p in group]))
            for prepared, kept in zip(group, self.postprocessor.apply(probs, limits, top_k), strict=True):
                item = prepared.item
                yield ClassificationResult(
                    task=self.task,
                    input_path=item.input_path,
                    class_ids=kept.class_ids,
                    scores=kept.scores,
                    label_names=kept.label_names,
                    image=prepared.image,
                    stem=item.stem,
                    suffix=item.suffix,
                    rel_dir=item.rel_dir,
                )

    def __repr__(self) -> str:
        return (
            f"ClassificationModel({self.model_name!r}, dir={str(self.model_dir)!r}, device={self.device}, "
            f"backend={self.backend}, precision={self.precision})"
        )


def _resolve_dir(model_name: str | None, model_dir: str | os.PathLike[str] | None) -> tuple[Path, str | None]:
    """The package folder to load, and the name it must declare (None: no check)."""
    if model_dir is not None:
        return Path(model_dir), model_name
    if model_name is None:
        raise UsageError(
            "give a model name or a model folder",
            hint='e.g. create_model("PP-LCNet_x1_0_ML") or create_model(model_dir="output/best_model/inference")',
        )
    from mlcls_cli.models.registry import MODELS, get_model_info

    if model_name not in MODELS and Path(model_name).expanduser().is_dir():
        return Path(model_name).expanduser(), None
    get_model_info(model_name)  # unknown names: a usage error with a suggestion
    from mlcls_cli.hub import ensure_inference_model

    return ensure_inference_model(model_name), model_name


def create_model(
    model_name: str | None = None,
    model_dir: str | os.PathLike[str] | None = None,
    *,
    threshold: Any = None,
    device: str | None = None,
    batch_size: int = 1,
    top_k: int | None = None,
    topk: int | None = None,
    cpu_threads: int | None = None,
    backend: str | None = None,
    precision: str | None = None,
    use_hpip: bool = False,
    **options: Any,
) -> ClassificationModel:
    """Load a classifier, multi-label or single-label as the package says (PaddleX's ``create_model``).

    ``model_name`` alone: a zoo model, its official inference package taken from
    the cache (downloaded once; ``MLCLS_MODEL_ENDPOINT``, ``MLCLS_OFFLINE`` apply).
    ``model_dir``: an inference package folder, or a training output folder holding
    ``inference/``; with ``model_name`` too, the package's ``Global.model_name`` must
    match. ``threshold``/``top_k`` (``topk``, PaddleX's single-label spelling)/``batch_size``
    are defaults for ``predict``;
    ``device`` is ``cpu``, ``gpu`` or ``gpu:N`` (default: gpu:0 when available).
    ``backend`` is ``auto`` (the default: the fastest installed for the device),
    ``paddle``, ``onnxruntime``, ``openvino`` or ``tensorrt``; PaddleX's
    ``use_hpip=True`` means ``auto`` too. ``precision`` is ``fp32`` (default) or
    ``bf16`` (OpenVINO on a CPU that supports it).
    Other ``options``: ``workers`` (loader threads), ``url_max_bytes``,
    ``url_timeout``, ``allow_urls``.
    """
    unknown = sorted(set(options) - {"workers", "url_max_bytes", "url_timeout", "allow_urls"})
    if unknown:
        raise TypeError(f"create_model() got unexpected keyword argument(s): {', '.join(unknown)}")
    from mlcls_cli.inference.backends import check_choice

    where = resolve_device(device)  # a missing GPU fails before any download
    if use_hpip and backend is None:
        backend = "auto"  # PaddleX's switch for its high-performance backends; auto is also the default
    check_choice(backend, precision)  # an unknown name fails before any download too
    folder, expected = _resolve_dir(model_name, model_dir)
    predictor = Predictor(
        folder, device=where, cpu_threads=cpu_threads, backend=backend or "auto", precision=precision
    )
    console.info(f"model {predictor.model_name or '?'} from {predictor.model_dir}: {predictor.describe()}")
    if expected is not None and predictor.model_name is not None and predictor.model_name != expected:
        raise UsageError(
            f"model name mismatch: {predictor.model_dir} holds {predictor.model_name!r}, not {expected!r}",
            hint="pass the matching model name, or only the model folder",
        )
    if top_k is not None and topk is not None and top_k != topk:
        raise UsageError(f"top_k={top_k} and topk={topk} disagree", hint="give one of them")
    return ClassificationModel(
        predictor,
        threshold=threshold,
        batch_size=batch_size,
        top_k=top_k if top_k is not None else topk,
        **options,
    )


#: The name of mlcls 0.1, when every model was multi-label.
MultiLabelModel = ClassificationModel

__all__ = ["ClassificationModel", "MultiLabelModel", "OnError", "create_model"]
