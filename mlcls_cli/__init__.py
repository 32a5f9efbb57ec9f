"""mlcls: image multi-label classification on PaddlePaddle, PaddleX-compatible.

The package imports nothing heavy at import time: paddle is loaded only by the
modules that train, export or predict. ``create_model`` and ``create_pipeline``
(the PaddleX-style Python API) are loaded on first use::

    from mlcls_cli import create_model, create_pipeline
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "create_pipeline"]


def __getattr__(name: str) -> Any:
    if name == "create_model":
        from mlcls_cli.inference.model import create_model

        return create_model
    if name == "create_pipeline":
        from mlcls_cli.inference.pipeline import create_pipeline

        return create_pipeline
    raise AttributeError(f"module 'mlcls_cli' has no attribute {name!r}")
