"""Prediction: inference packages (multi-label and single-label) on any backend, PaddleX-compatible results.

- :func:`create_model` / :class:`ClassificationModel` (``model.py``) and
  :func:`create_pipeline` / :class:`MultiLabelPipeline` (``pipeline.py``): the Python API.
- :class:`Predictor` (``predictor.py``): a package run on arrays by one backend (``backends/``).
- ``inputs.py``, ``preprocess.py``, ``postprocess.py``, ``result.py``, ``batching.py``,
  ``device.py``: the stages.

Names are loaded on first use, so importing this package is cheap; paddle is only
imported when a predictor is created.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_model": "model",
    "ClassificationModel": "model",
    "MultiLabelModel": "model",
    "create_pipeline": "pipeline",
    "MultiLabelPipeline": "pipeline",
    "Predictor": "predictor",
    "InferencePackage": "package",
    "locate_package": "package",
    "ClassificationResult": "result",
    "MLClassResult": "result",
    "InputError": "inputs",
    "InputFailure": "inputs",
    "Preprocessor": "preprocess",
    "Postprocessor": "postprocess",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
