"""Request bodies of ``POST /multilabel-image-classification`` and ``POST /image-classification``, and
the threshold checks.

The shapes follow PaddleX: ``image``, ``threshold``, ``visualize`` for the multi-label
service (the ``inferenceParams.topK`` of the PaddleX documents is accepted too);
``image``, ``topk``, ``visualize`` for the single-label one (and 3.0-beta's
``inferenceParams.topK``). Unknown keys
are ignored, as in PaddleX. Types are checked by pydantic (422 with one sentence
per problem, see :func:`~mlcls_cli.serving.errors.validation_message`);
:func:`normalise_threshold` then checks what depends on the model (list length,
class ids) and answers 422 with a sentence.
"""

from __future__ import annotations

import math
from typing import Any, Union

from pydantic import BaseModel, Field, StrictFloat, StrictInt

from mlcls_cli.serving.errors import ApiError

Number = Union[StrictFloat, StrictInt]
ThresholdValue = Union[Number, dict[str, Number], list[Number], None]


class InferenceParams(BaseModel):
    """Optional inference parameters (PaddleX documents ``topK``)."""

    topK: int | None = Field(default=None, ge=1, description="Keep at most this many categories.")


class InferRequest(BaseModel):
    """Body of ``POST /multilabel-image-classification``."""

    image: str = Field(description="Base64 of the image file's bytes (no data: prefix), or an http(s) URL.")
    threshold: ThresholdValue = Field(
        default=None,
        description=(
            'A number for all classes, a per-class list, or {"default": number, "<class id>": number}; '
            "null uses the model's threshold."
        ),
    )
    visualize: bool | None = Field(
        default=None,
        description="Return the picture with its labels (default: the pipeline's Serving.visualize).",
    )
    inferenceParams: InferenceParams | None = None


class ClsInferRequest(BaseModel):
    """Body of ``POST /image-classification`` (PaddleX's single-label service)."""

    image: str = Field(description="Base64 of the image file's bytes (no data: prefix), or an http(s) URL.")
    topk: int | None = Field(
        default=None, ge=1, description="Return the k best classes (null: the model's top-k, 5)."
    )
    visualize: bool | None = Field(
        default=None,
        description="Return the picture labelled with the top-1 class (default: the pipeline's Serving.visualize).",
    )
    inferenceParams: InferenceParams | None = None  # PaddleX 3.0-beta's {"inferenceParams": {"topK": k}}


def _finite(value: Any, where: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ApiError(422, f"threshold{where} must be a finite number, got {value!r}")
    return number


def normalise_threshold(value: Any, num_classes: int | None) -> float | list[float] | dict[Any, float] | None:
    """Check a request threshold against the model and return it in the form the pipeline takes.

    A mapping needs a ``"default"`` key; its other keys are class ids (``"3"`` or 3),
    each below ``num_classes``. A list needs exactly ``num_classes`` values. Values
    must be finite numbers. Raises ``ApiError`` 422 with a sentence otherwise.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ApiError(422, "threshold must be a number, a list of numbers or a mapping, not a boolean")
    if isinstance(value, (int, float)):
        return _finite(value, "")
    if isinstance(value, list):
        if num_classes is not None and len(value) != num_classes:
            raise ApiError(
                422, f"a threshold list needs one value per class: {num_classes} values, got {len(value)}"
            )
        return [_finite(v, f"[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if value.get("default") is None:
            raise ApiError(422, 'a threshold mapping needs a "default" key, e.g. {"default": 0.5, "3": 0.8}')
        out: dict[Any, float] = {"default": _finite(value["default"], '["default"]')}
        for key, thr in value.items():
            if key == "default":
                continue
            text = str(key).strip()
            if not text.isdigit():
                raise ApiError(
                    422, f'threshold keys are "default" or class ids (non-negative integers), got {key!r}'
                )
            class_id = int(text)
            if num_classes is not None and class_id >= num_classes:
                raise ApiError(
                    422, f"threshold key {key!r} is not a class id of this model (0..{num_classes - 1})"
                )
            out[class_id] = _finite(thr, f"[{key!r}]")
        return out
    raise ApiError(422, f"threshold must be a number, a list or a mapping, got {type(value).__name__}")
