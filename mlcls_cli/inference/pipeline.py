"""``create_pipeline``: the image multi-label classification pipeline, from its name or a YAML file.

Names: ``image_multilabel_classification`` (current PaddleX) and
``multi_label_image_classification`` (3.0-beta; our documents). A YAML file is the
one ``mlcls get-config multi_label_image_classification --save-path x.yaml`` writes
(``pipeline_name``, ``device``, ``SubModules.ImageMultiLabelClassification.{model_name,
model_dir, batch_size, threshold, backend, precision}``, ``Serving.visualize``); the 3.0-beta layout
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
from mlcls_cli.inference.model import MultiLabelModel, OnError, create_model
from mlcls_cli.inference.result import MLClassResult

_SUB = "SubModules.ImageMultiLabelClassification"
_PIPE_KEYS = ("model_name", "model_dir", "batch_size", "threshold", "backend", "precision")
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
    """``model_name``, ``model_dir``, ``batch_size``, ``threshold``, ``device``, ``visualize`` of a config.

    Values of the 3.0-beta ``Pipeline`` section win over ``SubModules`` when present.
    """
    settings = {key: cfg.get(f"{_SUB}.{key}") for key in _PIPE_KEYS}
    settings["device"] = cfg.get("device")
    legacy = cfg.get("Pipeline") or {}
    for old, new in (
        ("model", "model_name"),
        ("batch_size", "batch_size"),
        ("threshold", "threshold"),
        ("device", "device"),
    ):
        if legacy.get(old) is not None:
            settings[new] = legacy[old]
    # with a model_dir, a model name other than the packaged default must match the package;
    # the default (which get-config writes into every file) is not held against a trained model
    settings["check_name"] = settings["model_name"] not in (None, DEFAULT_MODEL)
    visualize = cfg.get("Serving.visualize")
    settings["visualize"] = True if visualize is None else bool(visualize)
    return settings


class MultiLabelPipeline:
    """The pipeline: one multi-label classification model and its settings.

    ``predict(input, threshold=..., batch_size=..., top_k=...)`` yields
    :class:`MLClassResult` objects; ``visualize`` is ``Serving.visualize``.
    """

    def __init__(self, model: MultiLabelModel, config: Config, settings: dict[str, Any]) -> None:
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
        on_error: OnError = "warn",
    ) -> Iterator[MLClassResult]:
        """Yield one result per image of ``input``; the arguments override the pipeline's settings."""
        return self.model.predict(
            input, batch_size=batch_size, threshold=threshold, top_k=top_k, on_error=on_error
        )

    __call__ = predict

    @property
    def failures(self) -> list[Any]:
        """Inputs skipped by the latest ``predict`` call."""
        return self.model.failures

    def __repr__(self) -> str:
        return f"MultiLabelPipeline({self.pipeline_name!r}, model={self.model!r})"


def create_pipeline(
    pipeline: str | os.PathLike[str] = "image_multilabel_classification",
    *,
    device: str | None = None,
    config_overrides: Iterable[str] | None = None,
    **overrides: Any,
) -> MultiLabelPipeline:
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
        device=settings["device"],
        batch_size=settings["batch_size"] or 1,
        backend=settings["backend"],
        precision=settings["precision"],
        **{k: overrides[k] for k in _MODEL_OPTIONS if overrides.get(k) is not None},
    )
    return MultiLabelPipeline(model, cfg, settings)


__all__ = ["MultiLabelPipeline", "create_pipeline", "load_pipeline_config", "pipeline_settings"]
