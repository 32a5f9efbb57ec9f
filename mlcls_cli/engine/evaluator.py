"""Evaluation: score a split with ``.pdparams`` weights or an inference package and write the report.

The same :func:`predict_logits` and task metrics serve the trainer's per-epoch
evaluation and ``mlcls eval``, so evaluating a saved ``.pdparams`` on the split
training used gives the score training reported (same transform, batch size and
metric code). ``evaluate_result.json`` holds PaddleX's keys first (``done_flag`` and
``metrics.MultiLabelMAP`` for a multi-label model; ``metrics["val.top1"]`` and
``metrics["val.top5"]``, 5 decimals, for a single-label one), then the full report
(:func:`mlcls_cli.metrics.evaluation_report` or
:func:`mlcls_cli.metrics.single_label.classification_report`) and where the numbers
came from. A single-label package is fed by its own ``inference.yml`` preprocessing.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mlcls_cli import console
from mlcls_cli.data.listfile import LABEL_FILE, TRAIN_LIST, VAL_LIST, load_label_names, load_samples
from mlcls_cli.errors import ConfigError, InputMissingError, UsageError
from mlcls_cli.models.registry import TASK_CLS, TASK_ML
from mlcls_cli.utils.atomic import atomic_write_json

EVAL_RESULT = "evaluate_result.json"
THRESHOLDS_FILE = "thresholds.json"
PR_CURVES = "pr_curves.png"
AP_CHART = "ap_per_class.png"
CONFUSION_PNG = "confusion_matrix.png"
SPLIT_FILES = {"val": VAL_LIST, "train": TRAIN_LIST}


def multilabel_map(logits: np.ndarray, targets: np.ndarray) -> float:
    """PaddleX ``MultiLabelMAP`` (fraction) of ``logits``, computed on their sigmoid as the eval report does."""
    from mlcls_cli.metrics import mean_average_precision, sigmoid

    return float(mean_average_precision(sigmoid(logits), targets))


def predict_logits(model: Any, loader: Any, progress: str | None = None) -> np.ndarray:
    """Run ``model`` (eval mode, no gradients) over ``loader``; returns the logits (N, K) as float32.

    With ``progress`` (a label), a progress bar counts the images on stderr.
    """
    import paddle

    was_training = model.training
    model.eval()
    chunks: list[np.ndarray] = []
    total = len(loader.dataset) if hasattr(loader, "dataset") else None
    bar_context = console.progress(progress, total, unit="images") if progress else contextlib.nullcontext()
    try:
        with paddle.no_grad(), bar_context as bar:
            for images, _labels in loader:
                chunks.append(np.asarray(model(images).astype("float32").numpy()))
                if bar is not None:
                    bar.advance(int(images.shape[0]))
    finally:
        if was_training:
            model.train()
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=0)


# --------------------------------------------------------------------------- locating what to evaluate


def _read_yaml(path: Path) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def find_training_config(weights: str | os.PathLike[str]) -> tuple[Path | None, dict[str, Any]]:
    """The ``config.yaml`` next to ``weights`` or in its parent or grandparent folder (as PaddleX looks), if any."""
    path = Path(weights)
    start = path if path.is_dir() else path.parent
    for folder in (start, start.parent, start.parent.parent):
        candidate = folder / "config.yaml"
        if candidate.is_file():
            data = _read_yaml(candidate)
            if data is not None:
                return candidate, data
    return None, {}


def trained_settings(config: dict[str, Any]) -> dict[str, Any]:
    """Model name, input size and batch size recorded in a training ``config.yaml`` (mlcls or PaddleClas form)."""
    glob = config.get("Global") if isinstance(config.get("Global"), dict) else {}
    train = config.get("Train") if isinstance(config.get("Train"), dict) else {}
    out: dict[str, Any] = {}
    model = glob.get("model") or glob.get("pdx_model_name")
    if isinstance(model, str):
        out["model"] = model
    size = train.get("image_size")
    shape = glob.get("image_shape")
    if isinstance(size, int):
        out["image_size"] = size
    elif isinstance(shape, list) and shape and isinstance(shape[-1], int):
        out["image_size"] = shape[-1]
    batch = train.get("batch_size")
    if isinstance(batch, int) and batch > 0:
        out["batch_size"] = batch
    return out


def locate_weights(weights: str | os.PathLike[str]) -> tuple[str, Path]:
    """``("pdparams", file)`` or ``("inference", package folder)`` for ``--weights``; else an error.

    A folder may be the package itself or hold one in ``inference/`` or
    ``best_model/inference/`` (a training output folder); a ``.pdparams`` path may
    omit its suffix (PaddleX's prefix form).
    """
    from mlcls_cli.models.export import GRAPH_FILES, PARAMS_FILE

    path = Path(weights).expanduser()
    if path.is_dir():
        for folder in (path, path / "inference", path / "best_model" / "inference"):
            if (folder / PARAMS_FILE).is_file() and any((folder / g).is_file() for g in GRAPH_FILES):
                return "inference", folder
        pdparams = sorted(path.glob("*.pdparams"))
        hint = (
            f"pass --weights {pdparams[0]}"
            if pdparams
            else "pass a .pdparams file or an inference package folder"
        )
        raise UsageError(
            f"{path} holds no inference package (inference.json or .pdmodel + .pdiparams)", hint=hint
        )
    if path.is_file():
        return "pdparams", path
    alt = path.with_name(path.name + ".pdparams")
    if alt.is_file():
        return "pdparams", alt
    raise InputMissingError(
        f"weights not found: {path}",
        hint="train first (mlcls train ...), or pass --weights with a .pdparams file or an inference folder",
    )


@dataclass
class EvalPlan:
    """Everything one evaluation needs, resolved and checked."""

    weights: Path
    kind: str  # "pdparams" | "inference"
    model_name: str | None
    dataset_dir: Path
    split: str
    label_names: list[str]
    image_size: int
    batch_size: int
    device: str
    output_dir: Path
    threshold: Any = 0.5
    threshold_source: str | None = None
    top_k: int | None = 3
    tune_thresholds: bool = False
    plots: bool = True
    backend: str | None = None  # for an inference package: None = auto
    precision: str | None = None
    task: str = TASK_ML
    extra: dict[str, Any] = field(default_factory=dict)


def load_split(dataset_dir: Path, split: str, num_classes: int, task: str = TASK_ML) -> list[Any]:
    """The samples of ``split`` (``val`` or ``train``) of a dataset (ClsDataset lines for a single-label task)."""
    if split not in SPLIT_FILES:
        raise UsageError(f"unknown split {split!r}", hint="use --split val or --split train")
    if task == TASK_CLS:
        from mlcls_cli.data.listfile import load_cls_samples

        samples: list[Any] = load_cls_samples(dataset_dir / SPLIT_FILES[split], num_classes)
    else:
        samples = load_samples(dataset_dir / SPLIT_FILES[split], num_classes)
    if not samples:
        raise UsageError(
            f"{dataset_dir / SPLIT_FILES[split]} lists no samples", hint="evaluate another split"
        )
    return samples


def parse_threshold(value: str | None, label_names: list[str]) -> tuple[Any, str | None]:
    """``--threshold`` as a number in [0, 1] or a ``thresholds.json`` path; returns (threshold, file or None)."""
    if value is None:
        return 0.5, None
    try:
        number = float(value)
    except ValueError:
        from mlcls_cli.metrics import load_thresholds, thresholds_to_paddlex

        doc = load_thresholds(value, label_names=label_names)
        try:
            return thresholds_to_paddlex(doc), str(value)
        except ValueError as exc:
            raise ConfigError(f"invalid thresholds file {value}: {exc}") from exc
    if not 0.0 <= number <= 1.0:
        raise UsageError(f"--threshold must be within [0, 1], got {value}")
    return number, None


# --------------------------------------------------------------------------- running


def _dataset_scores(plan: EvalPlan, samples: list[Any]) -> tuple[np.ndarray, bool]:
    """Scores of every sample: (logits, True) for .pdparams, (probabilities, False) for a package."""
    from mlcls_cli.engine.dataset import MultiLabelDataset, build_loader
    from mlcls_cli.engine.tasks import task_named

    num_classes = len(plan.label_names)
    if plan.kind == "pdparams":
        assert plan.model_name is not None
        transform = task_named(plan.task).eval_transform(plan.model_name, plan.image_size)
        dataset = MultiLabelDataset(plan.dataset_dir, samples, num_classes, transform, train=False)
        import paddle

        from mlcls_cli.models import build_model
        from mlcls_cli.models.weights import load_weights

        paddle.set_device(plan.device)
        assert plan.model_name is not None
        model = build_model(plan.model_name, num_classes)
        load_weights(model, plan.weights, strict=True, skip_head_on_mismatch=False)
        loader = build_loader(dataset, batch_size=plan.batch_size, shuffle=False, drop_last=False)
        return predict_logits(model, loader, progress=f"evaluating {plan.split}"), True

    from mlcls_cli.inference.predictor import Predictor

    predictor = Predictor(plan.weights, device=plan.device, backend=plan.backend, precision=plan.precision)
    console.info(f"evaluating the package with {predictor.describe()}")
    if plan.task == TASK_CLS:  # the package's own resize-and-crop, as predict feeds it
        transform: Any = predictor.preprocessor
    else:
        from mlcls_cli.engine.transforms import build_eval_transform

        transform = build_eval_transform(plan.image_size)
    dataset = MultiLabelDataset(plan.dataset_dir, samples, num_classes, transform, train=False)
    outputs: list[np.ndarray] = []
    with console.progress(f"evaluating {plan.split}", len(dataset), unit="images") as bar:
        for start in range(0, len(dataset), plan.batch_size):
            stop = min(start + plan.batch_size, len(dataset))
            batch = np.stack([dataset[i][0] for i in range(start, stop)])
            outputs.append(np.asarray(predictor.run(batch), dtype=np.float32))
            bar.advance(stop - start)
    return np.concatenate(outputs, axis=0), False


def run_evaluation(plan: EvalPlan) -> dict[str, Any]:
    """Evaluate ``plan``; write ``evaluate_result.json`` (+ plots, thresholds.json) and return that document."""
    from mlcls_cli.metrics import (
        evaluation_report,
        save_thresholds,
        sigmoid,
        threshold_metrics,
        tune_thresholds,
    )

    num_classes = len(plan.label_names)
    samples = load_split(plan.dataset_dir, plan.split, num_classes, plan.task)
    scores, logits = _dataset_scores(plan, samples)
    if plan.task == TASK_CLS:
        return _single_label_result(plan, samples, scores)
    targets = np.asarray([s.labels for s in samples], dtype=np.float32)
    if scores.shape != targets.shape:
        raise UsageError(
            f"the model gives {scores.shape[1]} scores per image but the dataset has {num_classes} classes",
            hint="evaluate on the dataset (label.txt) the model was trained on",
        )
    try:
        report = evaluation_report(
            scores,
            targets,
            label_names=plan.label_names,
            threshold=plan.threshold,
            top_k=plan.top_k,
            from_logits=logits,
        )
    except ValueError as exc:
        raise UsageError(f"cannot evaluate: {exc}") from exc
    probs = sigmoid(scores) if logits else scores

    out = plan.output_dir
    result: dict[str, Any] = {"done_flag": True, "metrics": {"MultiLabelMAP": report["MultiLabelMAP"]}}
    result.update(report)
    result.update({**_provenance(plan), "thresholds_file": plan.threshold_source})
    if plan.tune_thresholds:
        tuned = tune_thresholds(probs, targets)
        missing = [i for i in range(num_classes) if targets[:, i].sum() == 0]
        path = out / THRESHOLDS_FILE
        save_thresholds(
            path,
            tuned,
            label_names=plan.label_names,
            classes_without_positives=missing,
            metadata={"weights": str(plan.weights), "dataset": str(plan.dataset_dir), "split": plan.split},
        )
        summary = threshold_metrics(probs, targets, tuned).summary()
        result["tuned_thresholds"] = {
            "file": str(path),
            "per_class": [float(t) for t in tuned],
            "at_tuned": {k: (None if v != v else float(v)) for k, v in summary.items()},
        }
        console.info(f"wrote per-class thresholds (max F1 on {plan.split}) to {path}")
    if plan.plots:
        from mlcls_cli.engine.plots import ap_bar_chart, pr_curves

        result["plots"] = {
            "pr_curves": str(pr_curves(probs, targets, plan.label_names, out / PR_CURVES)),
            "ap_per_class": str(ap_bar_chart(report["per_class"], out / AP_CHART)),
        }
    atomic_write_json(out / EVAL_RESULT, result)
    result["result_file"] = str(out / EVAL_RESULT)
    return result


def _provenance(plan: EvalPlan) -> dict[str, Any]:
    return {
        "model_name": plan.model_name,
        "weights": str(plan.weights),
        "weights_kind": plan.kind,
        "dataset": str(plan.dataset_dir),
        "split": plan.split,
        "image_size": plan.image_size,
        "batch_size": plan.batch_size,
        "device": plan.device,
    }


def _single_label_result(plan: EvalPlan, samples: list[Any], scores: np.ndarray) -> dict[str, Any]:
    """Top-1/top-5 accuracy, per-class P/R/F1 and the confusion matrix; writes evaluate_result.json (+ PNG)."""
    from mlcls_cli.metrics.single_label import classification_report

    num_classes = len(plan.label_names)
    if scores.ndim != 2 or scores.shape[1] != num_classes:
        raise UsageError(
            f"the model gives {scores.shape[-1]} scores per image but the dataset has {num_classes} classes",
            hint="evaluate on the dataset (label.txt) the model was trained on",
        )
    labels = np.asarray([s.class_id for s in samples], dtype=np.int64)
    report = classification_report(scores, labels, plan.label_names, top_k=5)
    metrics = {f"{plan.split}.top1": round(report["top1"], 5), f"{plan.split}.top5": round(report["top5"], 5)}
    result: dict[str, Any] = {"done_flag": True, "metrics": metrics, "task": TASK_CLS}
    result.update(report)
    result.update(_provenance(plan))
    result["num_samples"] = int(labels.size)
    if plan.plots:
        from mlcls_cli.engine.plots import confusion_matrix_plot

        matrix = np.asarray(report["confusion_matrix"])
        result["plots"] = {
            "confusion_matrix": str(
                confusion_matrix_plot(matrix, plan.label_names, plan.output_dir / CONFUSION_PNG)
            )
        }
    atomic_write_json(plan.output_dir / EVAL_RESULT, result)
    result["result_file"] = str(plan.output_dir / EVAL_RESULT)
    return result


def dataset_labels(dataset_dir: Path) -> list[str]:
    """The class names of a dataset's ``label.txt``."""
    return load_label_names(dataset_dir / LABEL_FILE)


def _package_settings(folder: Path) -> dict[str, Any]:
    """Model name, input size and label list from an inference package's ``inference.yml``."""
    from mlcls_cli.models.export import read_inference_config

    try:
        data = read_inference_config(folder)
    except (InputMissingError, ConfigError):
        return {}
    out: dict[str, Any] = {}
    name = (data.get("Global") or {}).get("model_name")
    if isinstance(name, str):
        out["model"] = name
    for op in (data.get("PreProcess") or {}).get("transform_ops") or []:
        for key in ("ResizeImage", "CropImage"):  # a crop, after the resize, decides the input side
            if isinstance(op, dict) and isinstance(op.get(key), dict):
                size = op[key].get("size")
                if isinstance(size, int):
                    out["image_size"] = size
                elif isinstance(size, list) and size and isinstance(size[0], int):
                    out["image_size"] = size[0]
    posts = data.get("PostProcess") or {}
    post = posts.get("MultiLabelThreshOutput") or {}
    if not post and isinstance(posts.get("Topk"), dict):
        post, out["task"] = posts["Topk"], TASK_CLS
    elif post:
        out["task"] = TASK_ML
    if isinstance(post.get("label_list"), list):
        out["label_list"] = [str(n) for n in post["label_list"]]
    return out


def plan_evaluation(
    cfg: Any,
    *,
    dataset: str | os.PathLike[str] | None = None,
    weights: str | os.PathLike[str] | None = None,
    model: str | None = None,
    image_size: int | None = None,
    batch_size: int | None = None,
    split: str = "val",
    threshold: str | None = None,
    top_k: int | None = 3,
    tune: bool = False,
    plots: bool = True,
    backend: str | None = None,
    precision: str | None = None,
) -> EvalPlan:
    """Resolve what to evaluate from the command line, the config and the training run's ``config.yaml``.

    Model name, input size and batch size default to what the weights were trained
    with (``config.yaml`` next to the weights, or in the folder above or the one above
    that, as PaddleX looks; ``inference.yml`` for a package).
    """
    from mlcls_cli.data.listfile import locate_dataset_root
    from mlcls_cli.engine.device import resolve_device
    from mlcls_cli.models.registry import get_model_info

    source = dataset if dataset is not None else cfg.get("Global.dataset_dir")
    if not source:
        raise UsageError(
            "no dataset given", hint="mlcls eval path/to/dataset --weights W (or set Global.dataset_dir)"
        )
    root = locate_dataset_root(source).resolve()
    names = dataset_labels(root)
    spec = resolve_device(cfg.get("Global.device"))  # before loading anything: a missing GPU fails fast
    if spec.distributed:
        console.info(f"evaluation runs on one device: {spec.paddle_device(0)}")
    target = Path(str(weights if weights is not None else cfg.get("Evaluate.weight_path") or "")).expanduser()
    if not str(target) or str(target) == ".":
        raise UsageError(
            "no weights given", hint="pass --weights (a .pdparams file or an inference package folder)"
        )
    kind, target = locate_weights(target)
    chosen_backend = backend or cfg.get("Evaluate.backend")
    chosen_precision = precision or cfg.get("Evaluate.precision")
    if kind == "pdparams" and (chosen_backend not in (None, "auto", "paddle") or chosen_precision == "bf16"):
        raise UsageError(
            f"--backend {chosen_backend or 'auto'} --precision {chosen_precision or 'fp32'} evaluates an inference "
            "package; .pdparams weights run in paddle's dygraph mode",
            hint="pass the exported package (--weights output/best_model/inference)",
        )
    config_path, trained = find_training_config(target)
    recorded = trained_settings(trained)
    package = _package_settings(target) if kind == "inference" else {}
    user_model = cfg.sources.get("Global.model", "packaged defaults") != "packaged defaults"
    name = (
        model
        or recorded.get("model")
        or package.get("model")
        or (cfg.get("Global.model") if user_model else None)
    )
    if kind == "pdparams" and not name:
        raise UsageError(
            f"cannot tell which model {target} belongs to (no config.yaml beside it or in the folders above)",
            hint="pass --model NAME (see `mlcls models`)",
        )
    if name is not None and kind == "pdparams":
        get_model_info(name)
    if kind == "inference":
        task = package.get("task", TASK_ML)
    else:
        task = get_model_info(name).task if name else TASK_ML
    from mlcls_cli.data.dataset_type import require_dataset_type

    require_dataset_type(root, task, model=name)
    if task == TASK_CLS and (threshold is not None or tune):
        raise UsageError(
            "--threshold and --tune-thresholds apply to multi-label models; "
            f"{name or 'this package'} is single-label (it reports top-1/top-5 accuracy)",
            hint="drop --threshold/--tune-thresholds",
        )
    if kind == "inference" and package.get("label_list") and package["label_list"] != names:
        if len(package["label_list"]) != len(names):
            raise UsageError(
                f"the package predicts {len(package['label_list'])} classes but {root / LABEL_FILE} has {len(names)}",
                hint="evaluate on the dataset the model was trained on",
            )
        console.warn(
            "the package's label names differ from the dataset's label.txt; label.txt names are used"
        )
    user_size = cfg.sources.get("Train.image_size", "packaged defaults") != "packaged defaults"
    size = (
        image_size
        or package.get("image_size")
        or recorded.get("image_size")
        or (cfg.get("Train.image_size") if user_size else None)
        or (get_model_info(name).input_size if name else 448)
    )
    if (
        kind == "inference"
        and package.get("image_size")
        and image_size
        and image_size != package["image_size"]
    ):
        raise UsageError(
            f"the package was exported for {package['image_size']} px inputs, not {image_size}",
            hint="drop --image-size, or export the model again at that size",
        )
    batch = batch_size or recorded.get("batch_size") or int(cfg.get("Train.batch_size"))
    value, source_file = parse_threshold(threshold, names)
    if config_path is not None:
        console.info(f"using {config_path} (model {name}, {size} px, batch {batch})")
    return EvalPlan(
        weights=target.resolve(),
        kind=kind,
        model_name=name,
        dataset_dir=root,
        split=split,
        label_names=names,
        image_size=int(size),
        batch_size=int(batch),
        device=spec.paddle_device(0),
        output_dir=Path(str(cfg.get("Global.output"))).expanduser().resolve(),
        threshold=value,
        threshold_source=source_file,
        top_k=top_k,
        tune_thresholds=tune,
        plots=plots,
        backend=chosen_backend,
        precision=chosen_precision,
        task=task,
    )
