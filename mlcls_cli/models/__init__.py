"""Model zoo: paddle.nn backbones with the ML-Decoder head, and their registry.

Importing this package does not import paddle; :func:`build_model` does, on demand.
"""

from __future__ import annotations

import importlib
import operator
from typing import TYPE_CHECKING

from mlcls_cli.errors import ModelUnavailableError, PaddleMissingError, UsageError
from mlcls_cli.models.registry import MODELS, ModelInfo, get_model_info, model_names

if TYPE_CHECKING:
    from paddle import nn

__all__ = ["MODELS", "ModelInfo", "build_model", "get_model_info", "model_names"]


def build_model(name: str, num_classes: int = 80) -> nn.Layer:
    """Build the zoo model ``name`` with ``num_classes`` outputs (float32 NCHW in, logits out, no sigmoid).

    The weights are freshly initialised; load trained ones with
    :func:`mlcls_cli.models.weights.load_weights`.
    """
    info = get_model_info(name)
    try:
        count = operator.index(num_classes)
    except TypeError:
        count = 0
    if isinstance(num_classes, bool) or count < 1:
        raise UsageError(f"num_classes must be a positive integer, got {num_classes!r}")
    try:
        importlib.import_module("paddle")
    except ImportError as exc:
        raise PaddleMissingError() from exc
    module_name, _, func_name = info.builder.partition(":")
    builder = getattr(importlib.import_module(module_name), func_name)
    try:
        return builder(count, **dict(info.builder_kwargs))
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("mlcls_cli."):
            raise
        raise ModelUnavailableError(
            f"model {name!r} is not available in this build ({exc.name} is missing)",
            hint="run `mlcls models` to list the models, or upgrade mlcls",
        ) from exc
