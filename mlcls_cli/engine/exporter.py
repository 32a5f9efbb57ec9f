"""Export weights (a ``.pdparams`` file, checkpoint or URL) as an inference package: ``mlcls export``.

What PaddleX does with ``-o Global.mode=export -o Export.weight_path=...``, plus what
it leaves to the user: the model, input size and class names are found next to the
weights (the checkpoint's records, the run's ``config.yaml`` and ``label_dict.txt``),
the official weights get their class names (COCO-2017 for the 80-class multi-label ones,
ImageNet-1k for the 1000-class single-label ones), and a class count that does not fit
the weights is refused before anything is written. ``--format onnx`` adds
``inference.onnx`` (paddle2onnx, checked against Paddle Inference) to the package
before it is swapped into place.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcls_cli import console
from mlcls_cli.errors import InputMissingError, UsageError

#: ``--format`` values: the Paddle package alone, or with ``inference.onnx`` (``all``: every format mlcls writes).
EXPORT_FORMATS = ("paddle", "onnx", "all")


@dataclass
class ExportPlan:
    """One export, resolved and checked: what to build, which weights, which names, where to."""

    model_name: str
    weights: str  # as given (path or URL), for messages
    weights_file: Path | None  # the local .pdparams read (None for a URL: it is read from the model cache)
    output_dir: Path
    label_names: list[str]
    labels_from: str  # where the names came from
    image_size: int
    format: str = "paddle"
    legacy: bool = False
    threshold: float = 0.5
    state: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def num_classes(self) -> int:
        """Number of classes (outputs of the weights, and names)."""
        return len(self.label_names)

    @property
    def onnx(self) -> bool:
        """True when the package gets ``inference.onnx``."""
        return self.format in ("onnx", "all")


def check_format(value: str | None) -> str:
    """``value`` as one of :data:`EXPORT_FORMATS` (default ``paddle``); UsageError otherwise."""
    name = "paddle" if value is None else str(value).strip().lower()
    if name not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {value!r}", hint=f"use one of {', '.join(EXPORT_FORMATS)}")
    return name


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def locate_export_weights(spec: str | os.PathLike[str]) -> Path:
    """The ``.pdparams`` file ``spec`` names: the file, its prefix without suffix, a checkpoint folder
    (``epoch_N/`` holding ``epoch_N.pdparams``) or a training output folder (its ``best_model``).

    Raises InputMissingError (66) when there is none, UsageError (2) for a folder without weights.
    """
    from mlcls_cli.models.export import GRAPH_FILES, PARAMS_FILE

    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        for candidate in (path / f"{path.name}.pdparams", path / "best_model" / "best_model.pdparams"):
            if candidate.is_file():
                return candidate
        if (path / PARAMS_FILE).is_file() and any((path / g).is_file() for g in GRAPH_FILES):
            raise UsageError(
                f"{path} is already an inference package",
                hint="pass the .pdparams weights it was exported from (e.g. best_model/best_model.pdparams)",
            )
        found = sorted(path.glob("*.pdparams"))
        raise UsageError(
            f"{path} holds no {path.name}.pdparams and no best_model/best_model.pdparams",
            hint=f"pass --weights {found[0]}"
            if found
            else "pass a .pdparams file, a checkpoint folder or a URL",
        )
    alt = path.with_name(path.name + ".pdparams")
    if alt.is_file():  # PaddleX's prefix form
        return alt
    raise InputMissingError(
        f"weights not found: {path}",
        hint="pass a .pdparams file, a checkpoint folder (output/best_model, output/epoch_N) or an http(s) URL",
    )


def _checkpoint_records(weights_file: Path) -> dict[str, Any]:
    """What the checkpoint beside ``weights_file`` recorded: model name, image size, class names (if any)."""
    prefix = weights_file.with_suffix("")
    out: dict[str, Any] = {}
    info_path = prefix.with_name(f"{prefix.name}.info.json")
    with contextlib.suppress(OSError, ValueError):
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if isinstance(info, dict):
            if isinstance(info.get("model_name"), str):
                out["model"] = info["model_name"]
            if isinstance(info.get("image_size"), int):
                out["image_size"] = info["image_size"]
    if prefix.with_name(f"{prefix.name}.pdstates").is_file():
        from mlcls_cli.engine.checkpoint import read_states
        from mlcls_cli.errors import MlclsError

        try:
            states, _ = read_states(prefix)
        except MlclsError as exc:  # a damaged record: the names are looked for elsewhere
            console.warn(f"ignoring {prefix.name}.pdstates: {exc.message}")
            states = {}
        classes = (states.get("dataset") or {}).get("classes")
        if isinstance(classes, list) and classes:
            out["label_names"] = [str(n) for n in classes]
        if isinstance(states.get("model_name"), str):
            out.setdefault("model", states["model_name"])
        if isinstance(states.get("image_size"), int):
            out.setdefault("image_size", states["image_size"])
    return out


def read_labels(source: str | os.PathLike[str]) -> tuple[list[str], str]:
    """Class names from a ``label.txt``-style file or a dataset folder holding one; returns ``(names, file)``."""
    from mlcls_cli.data.listfile import LABEL_FILE, load_label_names, locate_dataset_root

    path = Path(source).expanduser()
    if path.is_dir():
        path = path / LABEL_FILE if (path / LABEL_FILE).is_file() else locate_dataset_root(path) / LABEL_FILE
    if not path.is_file():
        raise InputMissingError(
            f"label file not found: {path}",
            hint="pass --labels with a label.txt ('<id> <name>' lines) or the dataset folder holding it",
        )
    return load_label_names(path), str(path)


def _run_labels(config_path: Path | None, recorded_config: dict[str, Any]) -> tuple[list[str], str] | None:
    """The class names a training run recorded: its ``label_dict.txt``, else its dataset's ``label.txt``."""
    from mlcls_cli.engine.outputs import LABEL_DICT

    if config_path is None:
        return None
    label_dict = config_path.parent / LABEL_DICT
    if label_dict.is_file():
        return read_labels(label_dict)
    glob = recorded_config.get("Global") if isinstance(recorded_config.get("Global"), dict) else {}
    dataset = glob.get("dataset_dir")
    if isinstance(dataset, str) and (Path(dataset) / "label.txt").is_file():
        return read_labels(Path(dataset) / "label.txt")
    return None


def _official_model_of(url: str) -> str | None:
    from mlcls_cli.models.registry import MODELS

    return next((name for name, info in MODELS.items() if info.pretrained_url == url), None)


def _user_set(cfg: Any, key: str) -> bool:
    return cfg.sources.get(key, "packaged defaults") != "packaged defaults"


def plan_export(
    cfg: Any,
    *,
    weights: str | None = None,
    model: str | None = None,
    output: str | os.PathLike[str] | None = None,
    image_size: int | None = None,
    labels: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    legacy: bool = False,
) -> ExportPlan:
    """Resolve and check an export from the command line, the config and the records beside the weights.

    Nothing is written. The weights are read (downloaded through the model cache for a
    URL) and their class count checked against the class names: InputMissingError (66)
    for missing weights or label file, WeightsMismatchError (78) for weights of another
    model or class count, UsageError (2) when the model or the class names cannot be told.
    """
    from mlcls_cli.engine.evaluator import find_training_config, trained_settings
    from mlcls_cli.models.coco import COCO80_LABELS
    from mlcls_cli.models.export import check_export_target, require_converter
    from mlcls_cli.models.registry import TASK_CLS, TASK_ML, get_model_info
    from mlcls_cli.models.weights import WeightsMismatchError, class_count, read_state_dict

    export_format = check_format(fmt if fmt is not None else cfg.get("Export.format"))
    target = Path(str(output if output is not None else cfg.get("Global.output"))).expanduser().resolve()
    check_export_target(target)
    if export_format != "paddle":
        require_converter()  # before reading (or downloading) any weights

    spec = str(weights if weights is not None else cfg.get("Export.weight_path") or "").strip()
    if not spec or spec.lower() in ("null", "none"):
        raise UsageError(
            "no weights given", hint="pass --weights (a .pdparams file, a checkpoint folder or a URL)"
        )
    url = _is_url(spec)
    local = None if url else locate_export_weights(spec)
    recorded: dict[str, Any] = {}
    config_path, run_config = (None, {}) if local is None else find_training_config(local)
    if local is not None:
        recorded = {**trained_settings(run_config), **_checkpoint_records(local)}
    name = (
        model
        or recorded.get("model")
        or (cfg.get("Global.model") if _user_set(cfg, "Global.model") else None)
        or (_official_model_of(spec) if url else None)
    )
    if not name:
        raise UsageError(
            f"cannot tell which model the weights {spec} belong to (no checkpoint record or config.yaml beside them)",
            hint="pass --model NAME (see `mlcls models`)",
        )
    info = get_model_info(str(name))
    name = info.name
    configured = cfg.get("Global.model") if _user_set(cfg, "Global.model") else None
    if not model and configured and configured != name:
        console.warn(f"the weights were trained as {name}, not {configured} (Global.model): exporting {name}")

    # a URL is downloaded through the model cache (the mirror, the offline rules)
    state = read_state_dict(local if local is not None else spec)
    count = class_count(name, state)
    if count is None:
        _raise_mismatch(name, spec, state)

    if labels is not None:
        names, source = read_labels(labels)
        recorded_names = recorded.get("label_names")
        if recorded_names and recorded_names != names and len(recorded_names) == len(names):
            console.warn(f"the class names of {source} differ from those the checkpoint was trained with")
    elif recorded.get("label_names") and local is not None:
        names, source = recorded["label_names"], str(local.with_suffix(".pdstates"))
    elif (found := _run_labels(config_path, run_config)) is not None:
        names, source = found
    elif _user_set(cfg, "Global.dataset_dir") and cfg.get("Global.dataset_dir"):
        names, source = read_labels(str(cfg.get("Global.dataset_dir")))
    elif info.official and info.task == TASK_ML and count == len(COCO80_LABELS):
        names, source = list(COCO80_LABELS), "COCO-2017 (the official 80-class weights)"
        console.info("no label list given: the 80 classes get the COCO-2017 names of the official weights")
    elif info.official and info.task == TASK_CLS and count == 1000:
        from mlcls_cli.models.imagenet import imagenet1k_labels

        names, source = list(imagenet1k_labels()), "ImageNet-1k (the official 1000-class weights)"
        console.info(
            "no label list given: the 1000 classes get the ImageNet-1k names of the official weights"
        )
    else:
        raise UsageError(
            f"cannot tell the names of the {count} classes of {spec}",
            hint="pass --labels with the label.txt of the dataset they were trained on (or that dataset's folder)",
        )
    if len(names) != count:
        raise WeightsMismatchError(
            f"the weights {spec} have {count} classes but {source} lists {len(names)} names",
            hint="pass the label.txt of the dataset these weights were trained on (--labels), "
            "or the weights trained on this one",
        )

    size = (
        image_size
        or recorded.get("image_size")
        or (cfg.get("Train.image_size") if _user_set(cfg, "Train.image_size") else None)
        or info.input_size
    )
    if int(size) < 16:
        raise UsageError(f"the image size must be at least 16, got {size}")
    if config_path is not None:
        console.info(f"using {config_path} (model {name}, {size} px)")
    return ExportPlan(
        model_name=name,
        weights=spec,
        weights_file=local,
        output_dir=target,
        label_names=list(names),
        labels_from=source,
        image_size=int(size),
        format=export_format,
        legacy=legacy,
        state=state,
    )


def _raise_mismatch(name: str, spec: str, state: dict[str, Any]) -> None:
    """Raise WeightsMismatchError naming what of ``state`` does not fit ``name`` (weights of another model)."""
    from mlcls_cli.models import build_model
    from mlcls_cli.models.weights import WeightsMismatchError, load_weights

    try:
        load_weights(build_model(name, 80), state, strict=True, skip_head_on_mismatch=False)
    except WeightsMismatchError as exc:
        detail = exc.message.split(": ", 1)[-1]
        raise WeightsMismatchError(
            f"the weights {spec} do not fit {name}: {detail}; are they weights of another model?",
            hint=f"pass --model with the model they were trained for, or weights of {name}",
        ) from None
    raise WeightsMismatchError(
        f"cannot tell the class count of the weights {spec} for {name}",
        hint=f"pass weights of {name} (a .pdparams written by `mlcls train` or PaddleX)",
    )


def run_export(plan: ExportPlan) -> dict[str, Any]:
    """Build the model, load the weights and write the package; returns the result document."""
    import paddle

    from mlcls_cli.models import build_model, get_model_info
    from mlcls_cli.models.export import export_model
    from mlcls_cli.models.weights import load_weights

    paddle.set_device("cpu")
    info = get_model_info(plan.model_name)
    model = build_model(plan.model_name, plan.num_classes)
    load_weights(model, plan.state, strict=True, skip_head_on_mismatch=False)
    console.info(
        f"exporting {plan.model_name} ({plan.num_classes} classes, {plan.image_size} px) to {plan.output_dir}"
    )
    out = export_model(
        model,
        plan.output_dir,
        model_name=plan.model_name,
        label_list=plan.label_names,
        input_size=plan.image_size,
        threshold=plan.threshold,
        legacy_format=plan.legacy,
        mean=info.mean,
        std=info.std,
        onnx=plan.onnx,
    )
    return {
        "done_flag": True,
        "model_name": plan.model_name,
        "weights": plan.weights,
        "weights_file": str(plan.weights_file) if plan.weights_file is not None else None,
        "output": str(out),
        "files": sorted(p.name for p in out.iterdir()),
        "format": plan.format,
        "legacy": plan.legacy,
        "image_size": plan.image_size,
        "num_classes": plan.num_classes,
        "labels_from": plan.labels_from,
    }


__all__ = [
    "EXPORT_FORMATS",
    "ExportPlan",
    "check_format",
    "locate_export_weights",
    "plan_export",
    "read_labels",
    "run_export",
]
