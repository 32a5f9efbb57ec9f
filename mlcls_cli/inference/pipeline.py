"""``create_pipeline``: the image classification pipelines, from a name or a YAML file.

Multi-label: ``image_multilabel_classification`` (current PaddleX) and
``multi_label_image_classification`` (3.0-beta; our documents), whose YAML holds
``SubModules.ImageMultiLabelClassification.{model_name, model_dir, batch_size,
threshold, backend, precision}``. Single-label: ``image_classification``, with
``SubModules.ImageClassification.{model_name, model_dir, batch_size, topk, backend,
precision}`` (default model PP-LCNet_x0_5, as PaddleX). Both have ``pipeline_name``,
``device`` and ``Serving.visualize``, as ``mlcls get-config NAME --save-path x.yaml``
writes them; the 3.0-beta layout
(``Global.pipeline_name`` + ``Pipeline.{model, batch_size, device, threshold}``) works too.
Keyword arguments override the file: ``model_name``, ``model_dir``, ``batch_size``,
``threshold``, ``backend``, ``precision``, ``top_k``, ``cpu_threads``, ``workers``,
``url_max_bytes``, ``url_timeout``, ``allow_urls``; PaddleX's ``use_hpip=True`` is
accepted and means ``backend="auto"`` (which is also the default).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mlcls_cli import console
from mlcls_cli.config import DEFAULT_MODEL, PIPELINE_ALIASES, Config, ignored_keys_set, resolve_config
from mlcls_cli.errors import InputMissingError, UsageError
from mlcls_cli.inference.model import ClassificationModel, OnError, create_model
from mlcls_cli.inference.result import ClassificationResult

#: canonical pipeline name -> (its SubModules section, its default model)
_PIPELINES = {
    "image_multilabel_classification": ("SubModules.ImageMultiLabelClassification", DEFAULT_MODEL),
    "image_classification": ("SubModules.ImageClassification", "PP-LCNet_x0_5"),
}
_PIPE_KEYS = ("model_name", "model_dir", "batch_size", "threshold", "topk", "backend", "precision")
_MODEL_OPTIONS = ("top_k", "cpu_threads", "workers", "url_max_bytes", "url_timeout", "allow_urls")


def _is_file_spec(pipeline: str) -> bool:
    return pipeline.lower().endswith((".yaml", ".yml")) or Path(pipeline).expanduser().is_file()


def load_pipeline_config(
    pipeline: str | os.PathLike[str] = "image_multilabel_classification",
    *,
    config_overrides: Iterable[str] | None = None,
) -> Config:
    """Resolve a pipeline name or YAML file (plus ``-o Key=value`` overrides) into a validated config."""
    spec = os.fspath(pipeline)
    if spec in PIPELINE_ALIASES:
        return resolve_config(spec, overrides=config_overrides, kind="pipeline")
    if _is_file_spec(spec):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise InputMissingError(
                f"pipeline file {path} does not exist",
                hint="write one with `mlcls get-config multi_label_image_classification --save-path x.yaml`",
            )
        return resolve_config(None, config_file=path, overrides=config_overrides, kind="pipeline")
    raise UsageError(
        f"the pipeline {spec!r} does not exist",
        hint=f"use a pipeline name ({', '.join(PIPELINE_ALIASES)}) or the path of a pipeline YAML file",
    )


def pipeline_settings(cfg: Config) -> dict[str, Any]:
    """``model_name``, ``model_dir``, ``batch_size``, ``threshold``/``topk``, ``backend``, ``precision``,
    ``device``, ``visualize`` of a pipeline config.

    Values of the 3.0-beta ``Pipeline`` section win over ``SubModules`` when present.
    """
    section, default_model = _PIPELINES[cfg.name]
    settings = {key: cfg.get(f"{section}.{key}") for key in _PIPE_KEYS}
    settings["device"] = cfg.get("device")
    legacy = cfg.get("Pipeline") or {}
    for old, new in (
        ("model", "model_name"),
        ("batch_size", "batch_size"),
        ("threshold", "threshold"),
        ("topk", "topk"),
        ("device", "device"),
    ):
        if legacy.get(old) is not None:
            settings[new] = legacy[old]
    # with a model_dir, a model name other than the packaged default must match the package;
    # the default (which get-config writes into every file) is not held against a trained model
    settings["check_name"] = settings["model_name"] not in (None, default_model)
    visualize = cfg.get("Serving.visualize")
    settings["visualize"] = True if visualize is None else bool(visualize)
    return settings


class ClassificationPipeline:
    """A pipeline: one classification model (multi-label or single-label) and its settings.

    ``predict(input, threshold=..., batch_size=..., top_k=..., topk=...)`` yields
    :class:`ClassificationResult` objects; ``visualize`` is ``Serving.visualize``.
    """

    def __init__(self, model: ClassificationModel, config: Config, settings: dict[str, Any]) -> None:
        self.model = model
        self.config = config
        self.settings = settings
        self.pipeline_name = str(
            config.get("pipeline_name") or config.get("Global.pipeline_name") or config.name
        )
        self.visualize = bool(settings.get("visualize", True))

    def predict(
        self,
        input: Any,
        *,
        threshold: Any = None,
        batch_size: int | None = None,
        top_k: int | None = None,
        topk: int | None = None,
        on_error: OnError = "warn",
    ) -> Iterator[ClassificationResult]:
        """Yield one result per image of ``input``; the arguments override the pipeline's settings."""
        return self.model.predict(
            input, batch_size=batch_size, threshold=threshold, top_k=top_k, topk=topk, on_error=on_error
        )

    @property
    def label_list(self) -> list[str]:
        """The model's class names."""
        return self.model.label_list

    @property
    def task(self) -> str:
        """The model's task (multi-label or single-label)."""
        return self.model.task

    __call__ = predict

    @property
    def failures(self) -> list[Any]:
        """Inputs skipped by the latest ``predict`` call."""
        return self.model.failures

    def __repr__(self) -> str:
        return f"ClassificationPipeline({self.pipeline_name!r}, model={self.model!r})"


def create_pipeline(
    pipeline: str | os.PathLike[str] = "image_multilabel_classification",
    *,
    device: str | None = None,
    config_overrides: Iterable[str] | None = None,
    **overrides: Any,
) -> ClassificationPipeline:
    """Build the pipeline from a name or YAML path; ``device`` and keyword ``overrides`` beat the config.

    ``config_overrides`` are ``-o``-style strings (``"SubModules.ImageMultiLabelClassification.batch_size=8"``).
    """
    unknown = sorted(set(overrides) - set(_PIPE_KEYS) - set(_MODEL_OPTIONS) - {"use_hpip", "hpi_config"})
    if overrides.pop("use_hpip", None) and overrides.get("backend") is None:
        overrides["backend"] = "auto"
    if unknown:
        raise TypeError(f"create_pipeline() got unexpected keyword argument(s): {', '.join(unknown)}")
    cfg = load_pipeline_config(pipeline, config_overrides=config_overrides)
    ignored = [*ignored_keys_set(cfg), *(k for k in ("hpi_config",) if overrides.get(k))]
    for key in ignored:
        console.warn(f"{key} is accepted for PaddleX compatibility but not used by mlcls")
    settings = pipeline_settings(cfg)
    for key in _PIPE_KEYS:
        if overrides.get(key) is not None:
            settings[key] = overrides[key]
    if overrides.get("model_name") is not None:
        settings["check_name"] = True
    if device is not None:
        settings["device"] = device
    model_name, model_dir = settings["model_name"], settings["model_dir"]
    model = create_model(
        None if model_dir is not None and not settings["check_name"] else model_name,
        model_dir,
        threshold=settings["threshold"],
        top_k=settings["topk"],
        device=settings["device"],
        batch_size=settings["batch_size"] or 1,
        backend=settings["backend"],
        precision=settings["precision"],
        **{k: overrides[k] for k in _MODEL_OPTIONS if overrides.get(k) is not None},
    )
    _check_task(cfg.name, model)
    return ClassificationPipeline(model, cfg, settings)


def _check_task(pipeline_name: str, model: ClassificationModel) -> None:
    """A single-label package in the multi-label pipeline (or the reverse) is a usage error."""
    from mlcls_cli.models.registry import TASK_CLS, TASK_ML

    expected = TASK_CLS if pipeline_name == "image_classification" else TASK_ML
    if model.task != expected:
        other = "image_classification" if model.task == TASK_CLS else "image_multilabel_classification"
        raise UsageError(
            f"the {pipeline_name} pipeline needs a {expected} model, but {model.model_dir} is {model.task}",
            hint=f"use the {other} pipeline for this model",
        )


#: The name of mlcls 0.1, when the only pipeline was multi-label.
MultiLabelPipeline = ClassificationPipeline


__all__ = [
    "ClassificationPipeline",
    "MultiLabelPipeline",
    "create_pipeline",
    "load_pipeline_config",
    "pipeline_settings",
]
