"""The HTTP service behind `mlcls serve`: PaddleX's multi-label classification API.

``create_app(worker, ...)`` (in :mod:`mlcls_cli.serving.app`) builds the FastAPI
application around an :class:`~mlcls_cli.serving.worker.InferenceWorker`, which
owns a pipeline and the one thread allowed to run it. Importing this package does
not import FastAPI, uvicorn or paddle; the names below load them on first use.

    from mlcls_cli.inference.pipeline import create_pipeline
    from mlcls_cli.serving import InferenceWorker, create_app
    app = create_app(InferenceWorker(create_pipeline("image_multilabel_classification")))
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "create_app": "mlcls_cli.serving.app",
    "InferenceWorker": "mlcls_cli.serving.worker",
    "Prediction": "mlcls_cli.serving.worker",
    "ApiError": "mlcls_cli.serving.errors",
    "require_serve_deps": "mlcls_cli.serving.server",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mlcls_cli.serving' has no attribute {name!r}")
