"""From per-class probabilities to kept labels: thresholds (every accepted form), strict ``>``, top-k.

Threshold forms (``threshold=`` of ``create_model``/``predict``, ``--threshold``):

- a number for every class (an int such as ``1`` is accepted, unlike PaddleX);
- a list with one number per class;
- a mapping ``{"default": 0.5, 3: 0.7, "5": 0.2}`` ("default" is required; class ids
  as ints or digit strings);
- a ``thresholds.json`` written by ``mlcls eval --tune-thresholds`` (its path, or the
  loaded object); one tuned for other label names is refused.

A class is kept when ``probability > threshold`` (strict, as PaddleX), compared in
the probabilities' float32. Kept classes are ordered by probability, highest first
(equal probabilities: lower class id first); ``top_k`` keeps at most that many.
Scores are rounded to 5 decimals.

Single-label models (PaddleX's ``Topk`` post-processing) are the same selection with
no threshold by default and ``top_k`` = the package's ``topk`` (5): the k most probable
classes. A threshold given for them drops scores at or below it (an mlcls extension).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlcls_cli.errors import UsageError
from mlcls_cli.metrics import load_thresholds, resolve_thresholds, validate_thresholds

SCORE_DECIMALS = 5
DEFAULT_THRESHOLD = 0.5

_FORMS_HINT = (
    'use a number (0.5), one number per class ([0.5, 0.3, ...]), a mapping with a "default" key '
    '({"default": 0.5, "3": 0.7}) or the path of a thresholds.json from `mlcls eval --tune-thresholds`'
)


def _from_text(text: str, label_names: Sequence[str]) -> np.ndarray:
    try:
        return resolve_thresholds(float(text), len(label_names))
    except ValueError:
        pass
    path = Path(text).expanduser()
    obj = load_thresholds(path, label_names=label_names)  # InputMissingError / ConfigError
    return resolve_thresholds(obj, len(label_names))


def parse_threshold_text(text: str) -> Any:
    """Read a ``--threshold`` value: ``0.5``; ``0.5,0.3,0.7`` or ``[0.5, 0.3]``; ``{"default": 0.5, "3": 0.7}``; or a file path.

    The mapping may be written in JSON or YAML flow style (``{default: 0.5, 3: 0.7}``).
    Anything else is returned as a path to a thresholds.json, checked when used.
    """
    value = text.strip()
    try:
        return float(value)
    except ValueError:
        pass
    if value.startswith(("[", "{")):
        import yaml

        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise UsageError(f"cannot parse threshold {text!r}: {exc}", hint=_FORMS_HINT) from None
        if isinstance(parsed, (list, dict)):
            return parsed
        raise UsageError(f"cannot parse threshold {text!r}", hint=_FORMS_HINT)
    if "," in value:
        try:
            return [float(part) for part in value.split(",")]
        except ValueError:
            raise UsageError(f"cannot parse threshold list {text!r}", hint=_FORMS_HINT) from None
    return value


def thresholds_for(threshold: Any, label_names: Sequence[str]) -> np.ndarray:
    """Return one threshold per class (float64) from any accepted form; raises UsageError when unusable."""
    count = len(label_names)
    if isinstance(threshold, (str, os.PathLike)):
        try:
            return _from_text(os.fspath(threshold), label_names)
        except ValueError as exc:
            raise UsageError(f"invalid threshold {threshold!r}: {exc}", hint=_FORMS_HINT) from None
    try:
        if isinstance(threshold, Mapping):
            if "per_class" in threshold or "schema" in threshold or "label_names" in threshold:
                validate_thresholds(threshold, label_names=label_names)
            return resolve_thresholds(threshold, count)
        if isinstance(threshold, (bool, np.bool_)) or threshold is None:
            raise ValueError(f"unsupported threshold {threshold!r}")
        return resolve_thresholds(threshold, count)
    except ValueError as exc:
        raise UsageError(f"invalid threshold: {exc}", hint=_FORMS_HINT) from None


def check_top_k(top_k: Any) -> int | None:
    """Return ``top_k`` as a positive int, or None when not given; raises UsageError."""
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise UsageError(f"top_k must be a positive integer, got {top_k!r}")
    return int(top_k)


@dataclass(frozen=True)
class Kept:
    """The labels kept for one image."""

    class_ids: list[int]
    scores: list[float]
    label_names: list[str]


class Postprocessor:
    """Applies per-class thresholds and top-k to probability rows, with the package's label names.

    ``keep_all`` (single-label models) makes the default keep every class, so that only
    top-k selects; otherwise the default is ``default_threshold`` (the package's, 0.5).
    """

    def __init__(
        self,
        label_names: Sequence[str],
        default_threshold: Any = DEFAULT_THRESHOLD,
        *,
        keep_all: bool = False,
    ) -> None:
        self.label_names = [str(n) for n in label_names]
        if not self.label_names:
            raise UsageError("the model has no label names", hint="its inference.yml lacks a label_list")
        if keep_all:
            self.default_thresholds = np.full(len(self.label_names), -np.inf)
        else:
            self.default_thresholds = thresholds_for(
                DEFAULT_THRESHOLD if default_threshold is None else default_threshold, self.label_names
            )

    def thresholds(self, threshold: Any = None) -> np.ndarray:
        """Per-class thresholds for ``threshold`` (None: the default this was built with)."""
        if threshold is None:
            return self.default_thresholds
        return thresholds_for(threshold, self.label_names)

    def apply(self, probs: np.ndarray, thresholds: np.ndarray, top_k: int | None = None) -> list[Kept]:
        """Keep, per row of ``probs`` ([N, C]), the classes above their threshold, best first."""
        probs = np.asarray(probs)
        if probs.ndim != 2 or probs.shape[1] != len(self.label_names):
            raise UsageError(
                f"the model outputs {probs.shape[-1] if probs.ndim else '?'} classes "
                f"but its label list has {len(self.label_names)} names",
                hint="the package's inference.yml label_list does not match its weights; re-export it",
            )
        limits = thresholds.astype(probs.dtype)
        out: list[Kept] = []
        for row in probs:
            ids = np.flatnonzero(row > limits)
            ids = ids[np.argsort(-row[ids].astype(np.float64), kind="stable")]
            if top_k is not None:
                ids = ids[:top_k]
            scores = np.around(row[ids].astype(np.float64), SCORE_DECIMALS)
            out.append(
                Kept(
                    class_ids=[int(i) for i in ids],
                    scores=[float(s) for s in scores],
                    label_names=[self.label_names[i] for i in ids],
                )
            )
        return out


__all__ = [
    "DEFAULT_THRESHOLD",
    "SCORE_DECIMALS",
    "Kept",
    "Postprocessor",
    "check_top_k",
    "parse_threshold_text",
    "thresholds_for",
]
