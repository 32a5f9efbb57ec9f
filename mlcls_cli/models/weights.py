"""Loading and saving ``.pdparams`` weights, with clear reports of key and shape mismatches.

Files are plain ``paddle.save(model.state_dict())`` pickles, the format
PaddleClas and PaddleX write, so their official weights load unchanged and
ours load in PaddleX.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlcls_cli import console
from mlcls_cli.errors import (
    ExitCode,
    InputMissingError,
    IOFailure,
    MlclsError,
    UsageError,
)

if TYPE_CHECKING:
    from paddle import nn

#: Non-tensor bookkeeping entry that ``paddle.save`` adds to a state_dict pickle.
STRUCTURED_NAME_KEY = "StructuredToParameterName@@"
#: ML-Decoder entries whose shape depends on the number of classes (relative to the head).
CLASS_DEPENDENT_HEAD_KEYS = ("query_pos_embed.weight", "group_conv.weight", "group_conv.bias")
_LIST_LIMIT = 8


class WeightsMismatchError(MlclsError):
    """The weights file does not fit the model: missing, unexpected or mis-shaped entries (exit 78)."""

    exit_code = ExitCode.CONFIG


@dataclass
class LoadResult:
    """What :func:`load_weights` did, key by key."""

    source: str
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # class-dependent head keys left at their init
    missing: list[str] = field(default_factory=list)  # in the model, not in the file
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model
    mismatched: list[str] = field(default_factory=list)  # same name, other shape (outside the skipped head)

    @property
    def complete(self) -> bool:
        """True when every model entry was loaded from the file."""
        return not (self.skipped or self.missing or self.unexpected or self.mismatched)


def _is_url(source: Any) -> bool:
    return isinstance(source, str) and source.lower().startswith(("http://", "https://"))


def _resolve_source(source: str | os.PathLike[str]) -> Path:
    """Return a local path for ``source``; URLs are downloaded through the model-zoo cache.

    An official pretrained URL of a zoo model lands where ``mlcls models download
    --pretrained`` puts it, so training and the CLI share one cached copy.
    """
    if _is_url(source):
        from mlcls_cli.hub import ensure_pretrained_weights, fetch_file
        from mlcls_cli.models.registry import MODELS

        for name, info in MODELS.items():
            if source == info.pretrained_url:
                return Path(ensure_pretrained_weights(name))
        return Path(fetch_file(str(source)))
    path = Path(source).expanduser()
    if not path.exists():
        raise InputMissingError(
            f"weights file not found: {path}", hint="check the path, or pass an official model name"
        )
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a weights file", hint="pass the .pdparams file inside it")
    return path


def read_state_dict(source: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``.pdparams`` file (or URL) into ``{key: numpy array}``, without the non-tensor bookkeeping key."""
    import numpy as np
    import paddle

    path = _resolve_source(source)
    try:
        state = paddle.load(str(path), return_numpy=True)
    except Exception as exc:  # unpickling raises many types; all mean "not a readable weights file"
        raise IOFailure(
            f"cannot read weights from {path}: {type(exc).__name__}: {exc}",
            hint="the file is damaged or not a .pdparams file; download or export it again",
        ) from exc
    if not isinstance(state, Mapping):
        raise WeightsMismatchError(
            f"{path} holds a {type(state).__name__}, not a state_dict",
            hint="pass a file written by paddle.save(model.state_dict())",
        )
    state = dict(state)
    state.pop(STRUCTURED_NAME_KEY, None)
    return {k: np.asarray(v) for k, v in state.items() if hasattr(v, "shape")}


def _head_prefixes(model: nn.Layer) -> list[str]:
    from mlcls_cli.models.ml_decoder import MLDecoder

    prefixes = [""] if isinstance(model, MLDecoder) else []
    prefixes += [f"{name}." for name, layer in model.named_sublayers() if isinstance(layer, MLDecoder)]
    return prefixes


def _fine_tune_heads(model: nn.Layer) -> list[str]:
    """Prefixes of the class-dependent head: the ML-Decoder, else a plain classifier's final linear ``fc``."""
    from paddle import nn

    heads = [p for p in _head_prefixes(model) if p]
    if not heads and isinstance(getattr(model, "fc", None), nn.Linear):
        heads = ["fc."]
    return heads


def _names(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LIST_LIMIT])
    return shown + (f" and {len(keys) - _LIST_LIMIT} more" if len(keys) > _LIST_LIMIT else "")


def _read_source(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(label, {key: numpy array})`` of a weights file, URL or state_dict mapping."""
    import numpy as np

    if isinstance(source, Mapping):
        state = {
            k: np.asarray(v) for k, v in source.items() if k != STRUCTURED_NAME_KEY and hasattr(v, "shape")
        }
        return "<state_dict>", state
    return str(source), read_state_dict(source)


def _copy_into(own: Mapping[str, Any], state: Mapping[str, Any], keys: list[str]) -> list[str]:
    """Set ``own[key]`` from ``state[key]`` (cast to the model's dtype) for each key; returns the keys."""
    import paddle

    for key in keys:
        target = own[key]
        value = paddle.to_tensor(state[key])
        if value.dtype != target.dtype:
            value = value.astype(target.dtype)
        target.set_value(value)
    return list(keys)


def _check_pretrained(
    own: Mapping[str, Any], heads: list[str], state: Mapping[str, Any], label: str, model_name: str
) -> None:
    """Raise :class:`WeightsMismatchError` when a backbone (non-head) entry of ``own`` is missing or reshaped."""
    backbone = [k for k in own if not any(k.startswith(p) for p in heads)]
    missing = [k for k in backbone if k not in state]
    reshaped = [k for k in backbone if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if not (missing or reshaped):
        return
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} of its {len(backbone)} backbone entries are missing ({_names(missing)})"
        )
    if reshaped:
        details = [f"{k} {list(state[k].shape)} vs {list(own[k].shape)}" for k in reshaped]
        problems.append(f"{len(reshaped)} have another shape, file vs model ({_names(details)})")
    raise WeightsMismatchError(
        f"pretrained weights {label} (Train.pretrain_weight_path) do not fit {model_name}: "
        + "; ".join(problems)
        + "; are they weights of another model?",
        hint=f"pass weights of {model_name} (its official ones are the default Train.pretrain_weight_path), "
        "or train from scratch with --no-pretrained",
    )


def check_pretrained_file(model_name: str, num_classes: int, source: str | os.PathLike[str]) -> None:
    """Refuse (exit 78) weights to fine-tune ``model_name`` from whose backbone does not fit, before any training.

    The model is built without allocating its weights (``paddle.LazyGuard``), so this is cheap.
    """
    import paddle

    from mlcls_cli.models import build_model

    with paddle.LazyGuard():
        model = build_model(model_name, num_classes)
    label, state = _read_source(source)
    _check_pretrained(model.state_dict(), _fine_tune_heads(model), state, label, model_name)


def class_count(model_name: str, state: Mapping[str, Any]) -> int | None:
    """The number of classes the weights ``state`` of ``model_name`` were trained for; None when it cannot be told.

    The entries whose shape depends on the class count are found by building the model
    (without allocating weights) for 1 and 2 classes; every such entry of ``state`` must
    give the same count. None when ``state`` lacks them or they disagree (weights of
    another model: :func:`load_weights` then names the entries).
    """
    import paddle

    from mlcls_cli.models import build_model

    with paddle.LazyGuard():
        one = {k: list(v.shape) for k, v in build_model(model_name, 1).state_dict().items()}
        two = {k: list(v.shape) for k, v in build_model(model_name, 2).state_dict().items()}
    counts: set[int] = set()
    for key, shape in one.items():
        if shape == two[key]:
            continue
        if key not in state or len(state[key].shape) != len(shape):
            return None
        for axis, (a, b) in enumerate(zip(shape, two[key], strict=True)):
            if a == b:
                if int(state[key].shape[axis]) != a:
                    return None
                continue
            step = b - a  # the entry grows by ``step`` per class along this axis
            extent = int(state[key].shape[axis]) - (a - step)
            if extent <= 0 or extent % step:
                return None
            counts.add(extent // step)
    return counts.pop() if len(counts) == 1 else None


def load_pretrained(
    model: nn.Layer, source: str | os.PathLike[str] | Mapping[str, Any], model_name: str
) -> LoadResult:
    """Load weights to fine-tune from: the whole backbone must load; only the head (ML-Decoder or fc) may differ.

    The head may be missing from the file (backbone-only weights, e.g. ImageNet ones) or
    shaped for another class count; such head entries keep their fresh initialisation.
    A backbone entry that is missing or of another shape means weights of another
    architecture: :class:`WeightsMismatchError` (exit 78), nothing loaded. Entries of
    the file the model does not have are ignored.
    """
    label, state = _read_source(source)
    own = model.state_dict()
    heads = _fine_tune_heads(model)
    _check_pretrained(own, heads, state, label, model_name)
    result = LoadResult(source=label)
    head = [k for k in own if any(k.startswith(p) for p in heads)]
    result.missing = [k for k in head if k not in state]
    result.skipped = [k for k in head if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    result.unexpected = [k for k in state if k not in own]
    result.loaded = _copy_into(own, state, [k for k in own if k in state and k not in result.skipped])
    notes = []
    if result.missing:
        notes.append(f"the file has no head entries for {_names(result.missing)}: they start afresh")
    if result.skipped:
        notes.append(f"head entries shaped for another class count start afresh ({_names(result.skipped)})")
    if result.unexpected:
        notes.append(
            f"{len(result.unexpected)} entries of the file are not in the model ({_names(result.unexpected)})"
        )
    console.info(
        f"pretrained weights: loaded {len(result.loaded)} of {len(own)} entries from {label}"
        + "".join(f"; {n}" for n in notes)
    )
    return result


def load_weights(
    model: nn.Layer,
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    strict: bool = True,
    skip_head_on_mismatch: bool = True,
) -> LoadResult:
    """Load ``source`` (a ``.pdparams`` path, an http(s) URL, or a state_dict mapping) into ``model``.

    When only the class-dependent ML-Decoder entries differ in shape (weights
    trained on another number of classes) and ``skip_head_on_mismatch`` is set,
    those entries keep their fresh initialisation and everything else loads.
    With ``strict``, any other missing, unexpected or mis-shaped entry raises
    :class:`WeightsMismatchError` naming them, and nothing is loaded; without
    it, the matching entries load and the rest is reported in the result.
    """
    label, state = _read_source(source)
    own = model.state_dict()
    result = LoadResult(source=label)
    result.missing = [k for k in own if k not in state]
    result.unexpected = [k for k in state if k not in own]
    wrong_shape = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]

    if skip_head_on_mismatch:
        head_keys = {p + k for p in _head_prefixes(model) for k in CLASS_DEPENDENT_HEAD_KEYS}
        result.skipped = [k for k in wrong_shape if k in head_keys]
    result.mismatched = [k for k in wrong_shape if k not in result.skipped]

    if strict and (result.missing or result.unexpected or result.mismatched):
        problems = []
        if result.missing:
            problems.append(f"missing from the file ({len(result.missing)}): {_names(result.missing)}")
        if result.unexpected:
            problems.append(f"not in the model ({len(result.unexpected)}): {_names(result.unexpected)}")
        if result.mismatched:
            details = [f"{k} {list(state[k].shape)} vs {list(own[k].shape)}" for k in result.mismatched]
            problems.append(f"shape differs, file vs model ({len(details)}): {_names(details)}")
        raise WeightsMismatchError(
            f"weights {label} do not fit the model: " + "; ".join(problems),
            hint="check that --model matches the model these weights were trained for",
        )

    excluded = set(result.skipped) | set(result.mismatched)
    result.loaded = _copy_into(own, state, [k for k in own if k in state and k not in excluded])

    if result.skipped:
        bias = next((k for k in result.skipped if k.endswith("group_conv.bias")), None)
        counts = f" (weights: {state[bias].shape[0]}, model: {own[bias].shape[0]})" if bias else ""
        console.info(
            f"class count differs{counts}: kept the new head's {_names(result.skipped)}; "
            f"loaded the other {len(result.loaded)} entries"
        )
    if not strict and (result.missing or result.unexpected or result.mismatched):
        console.warn(
            f"partial load from {label}: {len(result.loaded)} loaded, {len(result.missing)} missing, "
            f"{len(result.unexpected)} unexpected, {len(result.mismatched)} with another shape"
        )
    return result


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def save_weights(model: nn.Layer, path: str | os.PathLike[str]) -> Path:
    """Write ``model.state_dict()`` to ``path`` as ``.pdparams``, atomically (temp file, fsync, replace)."""
    import paddle

    target = Path(path)
    # A unique name beside the target (not mkstemp, whose 0600 mode would stick to the weights file).
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        paddle.save(model.state_dict(), str(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        _discard(tmp)
        raise IOFailure(
            f"cannot write {target}: {exc.strerror or exc}", hint="check free disk space and permissions"
        ) from exc
    except BaseException:
        _discard(tmp)
        raise
    return target
