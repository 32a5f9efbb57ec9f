"""Fine-tune a zoo model on an MLClsDataset: the recipe of models.md 3.1, PaddleX's outputs, resume, Ctrl-C.

:func:`plan_training` turns a resolved config into a :class:`TrainPlan` (dataset
checked, classes counted, device chosen, pretrained weights fetched, resume point
found); :class:`Trainer` runs it in this process (one device, or one rank of a
launched data-parallel run, see :mod:`mlcls_cli.engine.distributed`).

Per iteration: forward (AMP O1 on GPU), asymmetric loss, a NaN/inf check (exit 70),
backward, AdamW step, schedule step, EMA update. Every ``eval_interval`` epochs
(and after the last) the raw model and its EMA are scored on val; the better one
becomes ``best_model/`` when it reaches the best so far. ``latest/`` is written
after every epoch and on Ctrl-C (mid-epoch, at a batch boundary), ``epoch_N/`` every
``save_interval`` epochs (only the newest ``keep_epoch_checkpoints`` of them are kept);
the inference package is exported from ``best_model`` at the end. Everything a resume needs (optimizer, schedule, EMA, RNG states, AMP scaler,
position in the epoch) is in the checkpoint, and data order and augmentation are a
function of (seed, epoch, index), so a resumed run retraces an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from mlcls_cli import __version__, console
from mlcls_cli.engine.checkpoint import (
    BEST,
    LATEST,
    epoch_folders,
    link_checkpoint,
    load_checkpoint,
    local_optimizer_state,
    portable_optimizer_state,
    resolve_resume_path,
    save_checkpoint,
)
from mlcls_cli.engine.distributed import (
    World,
    all_reduce_sum,
    average_entries,
    check_same_run,
    describe_batch,
    describe_world,
    gather_strided,
    gpu_id_for_worker,
    init_parallel,
    resolve_nodes,
    write_debug_seen,
    write_debug_weights,
)
from mlcls_cli.engine.outputs import CURVES_FILE, INFERENCE_DIR, RunFiles, TrainResult
from mlcls_cli.errors import ConfigError, DatasetError, ModelUnavailableError, TrainingError, UsageError
from mlcls_cli.models.export import ONNX_FILE
from mlcls_cli.models.registry import TASK_CLS, TASK_ML

METRIC = "MultiLabelMAP"  # the multi-label selection metric; single-label runs select on top1
NO_PRETRAINED_HINT = (
    "or train from scratch without downloading: add --no-pretrained (-o Train.pretrain_weight_path=null)"
)

Hook = Callable[["Trainer", int], None]
StepHook = Callable[["Trainer", int, int], None]


@dataclass
class TrainPlan:
    """A fully resolved training run (JSON-serialisable, so launched workers receive the same plan)."""

    model_name: str
    dataset_dir: str
    output_dir: str
    label_names: list[str]
    epochs: int
    batch_size: int
    learning_rate: float
    warmup_epochs: int
    image_size: int
    log_interval: int = 20
    eval_interval: int = 1
    save_interval: int = 1
    keep_epoch_checkpoints: int | None = 3
    pretrained: str | None = None
    resume: str | None = None
    overwrite: bool = False
    device: str = "cpu"
    nproc: int = 1  # processes per node
    nnodes: int = 1  # machines (Global.nnodes); the world is nnodes x nproc processes
    node_rank: int = 0  # this machine's rank (Global.node_rank); node 0 holds the outputs
    master: str | None = None  # node 0's rendezvous IP:PORT (Global.master, resolved)
    seed: int = 0
    num_workers: int | None = None
    ema_decay: float | None = 0.9997
    ema_warmup_tau: float = 2000.0
    amp: bool = False
    cutout: bool = True
    randaugment: bool = True
    weight_decay: float = 1e-4
    loss_gamma_neg: float = 4.0
    loss_gamma_pos: float = 0.0
    loss_clip: float = 0.05
    export_format: str = "paddle"  # Export.format: onnx/all add inference.onnx to best_model/inference
    task: str = TASK_ML
    # single-label recipe (engine/recipes.py; each a Train.* key)
    optimizer: str = "adamw"
    schedule: str = "cosine"
    label_smoothing: float = 0.0
    randaugment_magnitude: int = 9
    random_erasing: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    interpolation: str = "bilinear"
    crop_scale_min: float = 0.08
    dy2st: bool = False  # Train.dy2st: the model's forward runs as a static graph (paddle.jit.to_static)
    early_stop_patience: int | None = None  # epochs without a strict improvement of the best metric
    early_stop_min_delta: float = 0.0
    loggers: list[str] = field(default_factory=list)  # Global.loggers: visualdl, tensorboard, mlflow
    config_text: str = ""
    dataset_identity: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes (from label.txt)."""
        return len(self.label_names)

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainPlan:
        """Rebuild a plan from :meth:`to_dict` output (unknown keys are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# --------------------------------------------------------------------------- planning


def _check_dataset(dataset: str | Path, dataset_type: str | None = None) -> Path:
    """Run ``mlcls check`` (no plots) and return the dataset root; a failing dataset raises exit 65."""
    from mlcls_cli.data.check import ERROR, check_dataset

    with tempfile.TemporaryDirectory(prefix="mlcls-check-") as tmp:
        report = check_dataset(
            dataset, output_dir=tmp, plots=False, progress=False, dataset_type=dataset_type
        )
    if not report.passed or report.root is None:
        first = report.result.get("errors", {}).get("examples", [])
        where = ""
        if first:
            p = first[0]
            loc = f"{p['file']}:{p['line']}" if p.get("line") else (p.get("file") or "")
            where = f"; first: {loc + ': ' if loc else ''}{p['message']}"
        raise DatasetError(
            f"dataset {dataset} fails the check with {report.error_count} error(s) in "
            f"{len(report.problems.kinds(ERROR))} kind(s){where}",
            hint=f"run `mlcls check {dataset}` for the full report and fix the errors before training",
        )
    return Path(report.root).resolve()


def resolve_pretrained(value: str | None, model_name: str) -> str | None:
    """A local path for ``Train.pretrain_weight_path`` (the official URL goes through the model cache), or None."""
    if value is None or str(value).strip().lower() in ("", "null", "none"):
        return None
    text = str(value).strip()
    try:
        if text.lower().startswith(("http://", "https://")):
            from mlcls_cli.models.registry import get_model_info

            if text == get_model_info(model_name).pretrained_url:
                from mlcls_cli.hub import ensure_pretrained_weights

                return str(ensure_pretrained_weights(model_name))
            from mlcls_cli.hub import fetch_file

            return str(fetch_file(text, description="pretrained weights"))
    except ModelUnavailableError as exc:
        hint = f"{exc.hint}; {NO_PRETRAINED_HINT}" if exc.hint else NO_PRETRAINED_HINT.removeprefix("or ")
        raise ModelUnavailableError(exc.message, hint=hint) from None
    path = Path(text).expanduser()
    if not path.is_file() and path.with_name(path.name + ".pdparams").is_file():
        path = path.with_name(path.name + ".pdparams")  # PaddleX writes prefixes without the suffix
    if not path.is_file():
        from mlcls_cli.errors import InputMissingError

        raise InputMissingError(
            f"pretrained weights not found: {text} (Train.pretrain_weight_path)",
            hint=f"pass an existing .pdparams file or URL, {NO_PRETRAINED_HINT}",
        )
    return str(path.resolve())


def dataset_identity(root: Path, names: list[str], task: str = TASK_ML) -> dict[str, Any]:
    """What a checkpoint records of its dataset: the class names and, per split, the sample count and a digest.

    The digest covers each list's image paths and labels (not the separators or
    line endings of the file, and not the image bytes).
    """
    import hashlib

    from mlcls_cli.data.listfile import TRAIN_LIST, VAL_LIST
    from mlcls_cli.engine.tasks import task_named

    kind = task_named(task)
    identity: dict[str, Any] = {"dir": str(root), "classes": list(names)}
    for split, list_file in (("train", TRAIN_LIST), ("val", VAL_LIST)):
        samples = kind.load_samples(root / list_file, len(names))
        text = "\n".join(kind.list_line(s) for s in samples)
        identity[split] = {
            "samples": len(samples),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        }
    return identity


def resume_mismatches(plan: TrainPlan, states: dict[str, Any], info: dict[str, Any]) -> list[str]:
    """How the run ``plan`` differs from the run that saved a checkpoint (model, input size, dataset); [] if not.

    Checkpoints that predate a record (no dataset identity) are compared on what they hold.
    """
    diffs: list[str] = []
    saved_model = states.get("model_name") or info.get("model_name")
    if saved_model and saved_model != plan.model_name:
        diffs.append(f"model {saved_model} (checkpoint) vs {plan.model_name} (this run)")
    saved_size = states.get("image_size") or info.get("image_size")
    if saved_size and int(saved_size) != plan.image_size:
        diffs.append(f"image size {saved_size} vs {plan.image_size}")
    saved = states.get("dataset") or {}
    classes = saved.get("classes")
    if classes is not None and list(classes) != plan.label_names:
        if len(classes) != plan.num_classes:
            diffs.append(f"{len(classes)} classes vs {plan.num_classes}")
        else:
            changed = [f"{a}->{b}" for a, b in zip(classes, plan.label_names, strict=True) if a != b]
            diffs.append(
                f"class names differ ({', '.join(changed[:3])}{', ...' if len(changed) > 3 else ''})"
            )
    elif classes is None and info.get("num_classes") and int(info["num_classes"]) != plan.num_classes:
        diffs.append(f"{info['num_classes']} classes vs {plan.num_classes}")
    for split in ("train", "val"):
        old, new = saved.get(split), plan.dataset_identity.get(split)
        if not old or not new or old.get("sha256") == new.get("sha256"):
            continue
        if old.get("samples") != new.get("samples"):
            diffs.append(f"{split}.txt has {new['samples']} samples, the checkpoint's had {old['samples']}")
        else:
            diffs.append(f"{split}.txt lists other images or labels ({new['samples']} samples, as before)")
    return diffs


def _check_resume_fits(plan: TrainPlan) -> None:
    """Refuse (exit 78) to resume a checkpoint saved by a run with another model, input size or dataset."""
    from mlcls_cli.engine.checkpoint import read_states

    if not plan.resume:
        return
    states, info = read_states(plan.resume)
    diffs = resume_mismatches(plan, states, info)
    if diffs:
        config = Path(plan.resume).parent.parent / "config.yaml"
        same_model = not diffs[0].startswith("model ")
        new_run = (
            f"start a new run from its weights (-o Train.pretrain_weight_path={plan.resume}.pdparams, "
            "with --overwrite or another --output)"
            if same_model
            else "start a new run (--overwrite, or another --output)"
        )
        raise ConfigError(
            f"cannot resume {plan.resume}: it was trained with other settings: " + "; ".join(diffs),
            hint=f"resume with the checkpoint's settings (see {config}), or {new_run}",
        )
    saved_dir = (states.get("dataset") or {}).get("dir")
    if saved_dir and saved_dir != plan.dataset_dir:
        console.info(f"the dataset moved from {saved_dir} to {plan.dataset_dir}; its lists are unchanged")


def _resume_point(spec: Any, output: Path, overwrite: bool, *, owner: bool = True) -> str | None:
    """The checkpoint prefix to continue (None: a new run), after checking the output folder suits the run.

    ``auto`` continues the folder's newest checkpoint, or starts a new run in a folder
    without any run. A new run into a folder holding an earlier run needs ``overwrite``
    (:mod:`mlcls_cli.engine.rundir`); a folder another training holds is refused (75).
    Not ``owner`` (a node R > 0 of a multi-node run, which writes no outputs): the folder is
    not checked, since it may be node 0's on a shared filesystem.
    """
    from mlcls_cli.engine.checkpoint import find_auto_checkpoint
    from mlcls_cli.engine.rundir import continues_in, earlier_run, probe_output, refuse_earlier_run

    if not owner:
        if spec and str(spec).strip().lower() == "auto":
            found = find_auto_checkpoint(output)
            return None if found is None else str(found)
        return str(resolve_resume_path(spec, output)) if spec else None
    probe_output(output)
    resume: str | None = None
    if spec and str(spec).strip().lower() == "auto":
        found = find_auto_checkpoint(output)
        if found is None:
            if earlier_run(output) and not overwrite:
                refuse_earlier_run(output, earlier_run(output), resume_auto_found_nothing=True)
            console.info(f"--resume auto: no checkpoint in {output} yet; starting a new run")
        else:
            resume = str(found)
    elif spec:
        resume = str(resolve_resume_path(spec, output))
    if continues_in(resume, output):
        if overwrite:
            raise UsageError(
                f"--overwrite would delete the checkpoint that --resume continues ({resume})",
                hint="drop --overwrite to continue that run, or drop --resume to replace it",
            )
    elif earlier_run(output) and not overwrite:
        refuse_earlier_run(output, earlier_run(output))
    return resume


def plan_training(
    cfg: Any, dataset: str | Path | None = None, *, overwrite: bool = False
) -> tuple[TrainPlan, Any]:
    """Check the dataset and settings of a resolved config; return ``(TrainPlan, DeviceSpec)``.

    ``dataset`` overrides ``Global.dataset_dir``. ``overwrite`` lets the run replace an
    earlier run in the output folder. Raises UsageError (2) for an output folder holding
    an earlier run, OutputBusyError (75) for one a running training holds, DatasetError
    (65) for a dataset that fails ``mlcls check``, ConfigError (78) for inconsistent
    settings, ModelUnavailableError (69) when the pretrained weights cannot be had, and
    LoggerUnavailableError (69) when a ``Global.loggers`` library is not installed.
    """
    from mlcls_cli.config.merge import set_dotted
    from mlcls_cli.data.listfile import LABEL_FILE, load_label_names
    from mlcls_cli.engine.device import resolve_device
    from mlcls_cli.models.registry import get_model_info

    nodes = resolve_nodes(cfg.get("Global.nnodes"), cfg.get("Global.node_rank"), cfg.get("Global.master"))
    source = dataset if dataset is not None else cfg.get("Global.dataset_dir")
    if not source:
        raise UsageError(
            "no dataset given", hint="mlcls train path/to/dataset --model NAME (or set Global.dataset_dir)"
        )
    output = Path(str(cfg.get("Global.output"))).expanduser().resolve()
    from mlcls_cli.engine.loggers import require_loggers

    loggers = require_loggers(cfg.get("Global.loggers") or [])  # a missing library: exit 69 before any work
    resume = _resume_point(cfg.get("Train.resume_path"), output, overwrite, owner=nodes.node_rank == 0)
    model_name = str(cfg.get("Global.model"))
    info = get_model_info(model_name)
    from mlcls_cli.data.dataset_type import require_dataset_type

    root = _check_dataset(source, require_dataset_type(source, info.task, model=model_name))
    names = load_label_names(root / LABEL_FILE)
    declared = cfg.get("Train.num_classes")
    if declared is not None and int(declared) != len(names):
        raise ConfigError(
            f"Train.num_classes is {declared} but {root / LABEL_FILE} lists {len(names)} classes",
            hint="drop Train.num_classes (it is read from label.txt) or fix label.txt",
        )
    spec = resolve_device(cfg.get("Global.device"), cfg.get("Train.nproc"))

    recipe = _recipe_settings(cfg, model_name, info) if info.task == TASK_CLS else {}
    _warn_other_task_keys(cfg, info.task)
    decay = cfg.get("Train.ema_decay") if info.task == TASK_ML else recipe.pop("ema_decay")
    if decay is not None and not 0.0 <= float(decay) < 1.0:
        raise ConfigError(f"Train.ema_decay must be in [0, 1) (0 or null turns EMA off), got {decay}")
    amp = cfg.get("Train.use_amp")
    if amp is None:
        amp = spec.is_gpu and info.use_amp
    elif amp and not spec.is_gpu:
        console.warn("Train.use_amp is ignored on the CPU (mixed precision needs a GPU)")
        amp = False

    pretrained = None if resume else resolve_pretrained(cfg.get("Train.pretrain_weight_path"), model_name)
    if pretrained:
        from mlcls_cli.models.weights import check_pretrained_file

        check_pretrained_file(model_name, len(names), pretrained)

    from mlcls_cli.engine.exporter import check_format

    export_format = check_format(cfg.get("Export.format"))
    if export_format != "paddle":
        from mlcls_cli.models.export import require_converter

        require_converter()  # now, not after the training

    epochs, warmup = int(cfg.get("Train.epochs_iters")), int(cfg.get("Train.warmup_steps"))
    if 0 < epochs <= warmup:
        console.warn(
            f"the warm-up (Train.warmup_steps={warmup} epochs) is not shorter than the run ({epochs} epochs): "
            "it is capped to the first half of the run; set -o Train.warmup_steps=N to choose"
        )
    set_dotted(cfg.data, "Global.mode", "train")
    set_dotted(cfg.data, "Global.dataset_dir", str(root))
    set_dotted(cfg.data, "Global.device", spec.config_value())
    set_dotted(cfg.data, "Global.output", str(output))
    set_dotted(cfg.data, "Train.num_classes", len(names))
    set_dotted(cfg.data, "Train.nproc", spec.nproc)
    set_dotted(cfg.data, "Global.nnodes", nodes.nnodes)
    set_dotted(cfg.data, "Global.node_rank", nodes.node_rank)
    plan = TrainPlan(
        model_name=model_name,
        dataset_dir=str(root),
        output_dir=str(output),
        label_names=names,
        epochs=epochs,
        batch_size=int(cfg.get("Train.batch_size")),
        learning_rate=float(cfg.get("Train.learning_rate")),
        warmup_epochs=warmup,
        image_size=int(cfg.get("Train.image_size")),
        log_interval=int(cfg.get("Train.log_interval")),
        eval_interval=int(cfg.get("Train.eval_interval")),
        save_interval=int(cfg.get("Train.save_interval")),
        keep_epoch_checkpoints=_optional_int(cfg.get("Train.keep_epoch_checkpoints", 3)),
        dy2st=bool(cfg.get("Train.dy2st") or False),
        early_stop_patience=_optional_int(cfg.get("Train.early_stop_patience")) or None,
        early_stop_min_delta=float(cfg.get("Train.early_stop_min_delta") or 0.0),
        pretrained=pretrained,
        resume=resume,
        overwrite=bool(overwrite),
        device=spec.config_value(),
        nproc=spec.nproc,
        nnodes=nodes.nnodes,
        node_rank=nodes.node_rank,
        master=nodes.master,
        seed=int(cfg.get("Train.seed", 0) or 0),
        num_workers=cfg.get("Train.num_workers"),
        ema_decay=float(decay) if decay else None,
        ema_warmup_tau=float(cfg.get("Train.ema_warmup_tau", 2000.0 if info.task == TASK_ML else 0.0) or 0.0),
        amp=bool(amp),
        cutout=bool(cfg.get("Train.cutout", True)),
        randaugment=_ml_randaugment(cfg.get("Train.randaugment"))
        if info.task == TASK_ML
        else recipe.pop("randaugment"),
        weight_decay=recipe.pop("weight_decay")
        if info.task == TASK_CLS
        else float(_default(cfg.get("Train.weight_decay"), 1e-4)),
        loss_gamma_neg=float(cfg.get("Train.loss_gamma_neg", 4.0)),
        loss_gamma_pos=float(cfg.get("Train.loss_gamma_pos", 0.0)),
        loss_clip=float(cfg.get("Train.loss_clip", 0.05)),
        export_format=export_format,
        task=info.task,
        **recipe,
        loggers=loggers,
        config_text=cfg.to_yaml(),
        dataset_identity=dataset_identity(root, names, info.task),
    )
    _check_resume_fits(plan)
    return plan, spec


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


ML_ONLY_KEYS = ("cutout", "loss_gamma_neg", "loss_gamma_pos", "loss_clip", "ema_warmup_tau")
CLS_ONLY_KEYS = (
    "optimizer",
    "schedule",
    "label_smoothing",
    "random_erasing",
    "mixup_alpha",
    "cutmix_alpha",
    "interpolation",
    "crop_scale_min",
)


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _warn_other_task_keys(cfg: Any, task: str) -> None:
    """Warn about Train.* keys the user set that only the other task's recipe reads."""
    other = CLS_ONLY_KEYS if task == TASK_ML else ML_ONLY_KEYS
    kind = "multi-label" if task == TASK_ML else "single-label"
    unused = [
        f"Train.{key}"
        for key in other
        if cfg.get(f"Train.{key}") is not None
        and cfg.sources.get(f"Train.{key}", "packaged defaults") != "packaged defaults"
    ]
    if unused:
        console.warn(f"{', '.join(unused)} not used: the {kind} recipe has no such setting")


def _ml_randaugment(value: Any) -> bool:
    """Train.randaugment of a multi-label run: on unless false (null = on)."""
    if value is None:
        return True
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value >= 0:
        return value > 0
    raise ConfigError(f"Train.randaugment must be true or false, got {value!r}")


def _recipe_settings(cfg: Any, model_name: str, info: Any) -> dict[str, Any]:
    """The single-label recipe of ``model_name`` with each ``Train.*`` key the config sets (null: the recipe's)."""
    from mlcls_cli.engine.optim import OPTIMIZERS, SCHEDULES
    from mlcls_cli.engine.recipes import recipe_for

    recipe = recipe_for(model_name, info.family)

    def pick(key: str, default: Any) -> Any:
        value = cfg.get(f"Train.{key}")
        return default if value is None else value

    def number(key: str, default: float, low: float, high: float, *, closed: bool = False) -> float:
        value = pick(key, default)
        try:
            out = float(value if value is not False else 0.0)
        except (TypeError, ValueError):
            raise ConfigError(f"Train.{key} must be a number, got {value!r}") from None
        if not (low <= out <= high if closed else low <= out < high):
            raise ConfigError(
                f"Train.{key} must be in [{low:g}, {high:g}{']' if closed else ')'}, got {value!r}"
            )
        return out

    def choice(key: str, default: str, options: tuple[str, ...]) -> str:
        value = str(pick(key, default)).strip().lower()
        if value not in options:
            raise ConfigError(f"Train.{key} must be one of {', '.join(options)}, got {value!r}")
        return value

    magnitude = pick("randaugment", recipe.randaugment)
    if magnitude is True:
        magnitude = recipe.randaugment or 9
    if magnitude is False:
        magnitude = 0
    try:
        magnitude = int(magnitude or 0)
    except (TypeError, ValueError):
        raise ConfigError(
            f"Train.randaugment must be a magnitude 1..9, true or false, got {magnitude!r}"
        ) from None
    if not 0 <= magnitude <= 9:
        raise ConfigError(f"Train.randaugment must be a magnitude 1..9, true or false, got {magnitude}")
    return {
        "optimizer": choice("optimizer", recipe.optimizer, OPTIMIZERS),
        "schedule": choice("schedule", recipe.schedule, SCHEDULES),
        "weight_decay": number("weight_decay", recipe.weight_decay, 0.0, 1.0, closed=True),
        "label_smoothing": number("label_smoothing", recipe.label_smoothing, 0.0, 1.0),
        "randaugment": magnitude > 0,
        "randaugment_magnitude": magnitude or 9,
        "random_erasing": number("random_erasing", recipe.random_erasing, 0.0, 1.0, closed=True),
        "mixup_alpha": number("mixup_alpha", recipe.mixup_alpha, 0.0, 100.0),
        "cutmix_alpha": number("cutmix_alpha", recipe.cutmix_alpha, 0.0, 100.0),
        "interpolation": choice("interpolation", recipe.interpolation, ("bilinear", "bicubic")),
        "crop_scale_min": number("crop_scale_min", recipe.crop_scale_min, 0.01, 1.0, closed=True),
        "ema_decay": pick("ema_decay", recipe.ema_decay or None),
    }


# --------------------------------------------------------------------------- the trainer


def _num(value: float | None) -> float | None:
    """A float for JSON, None for a missing or NaN value."""
    return None if value is None or math.isnan(value) else float(value)


class _Stop(Exception):
    """Raised inside the loop when a stop was requested (Ctrl-C or a hook)."""


@dataclass
class _Progress:
    epoch: int = 0  # last fully completed epoch
    batch: int = 0  # batches done in epoch + 1 (non-zero only after a mid-epoch stop)
    step: int = 0
    best: float = -1.0
    best_epoch: int = 0
    best_weights: str = "raw"
    improved_epoch: int = 0  # the last epoch whose score beat the best by more than early_stop_min_delta
    stopped_early: int = 0  # the epoch at which early stopping ended the run (0: it did not)
    last_eval: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    images: int = 0


class Trainer:
    """Runs one :class:`TrainPlan` in this process (rank ``world.rank`` of ``world.world_size``)."""

    def __init__(
        self,
        plan: TrainPlan,
        *,
        world: World | None = None,
        hooks: Sequence[Hook] = (),
        step_hooks: Sequence[StepHook] = (),
    ) -> None:
        """``hooks(trainer, epoch)`` run after each epoch, ``step_hooks(trainer, epoch, batches_done)`` after each step."""
        self.plan = plan
        self.world = world or World()
        self.hooks = list(hooks)
        self.step_hooks = list(step_hooks)
        from mlcls_cli.engine.tasks import task_named

        self.task = task_named(plan.task)
        self.metric = self.task.metric
        self.out = Path(plan.output_dir)
        self.files = RunFiles(self.out)
        self.result = TrainResult(self.out, plan.model_name, ema=bool(plan.ema_decay))
        self.progress = _Progress()
        from mlcls_cli.engine.loggers import attach_loggers

        # experiment loggers (rank 0): fed the records written to metrics.jsonl
        self.loggers = (
            attach_loggers(plan, self.files, self.result, metric=self.metric) if self.world.is_main else None
        )
        self._stop_requested = False
        self.cpu_threads = 0  # math threads of a CPU run (set with the device)
        self._stop_reason = ""

    # ----------------------------------------------------------------- public

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop at the next batch boundary, after saving a resumable ``latest/``."""
        self._stop_requested = True
        self._stop_reason = reason

    def fit(self) -> dict[str, Any]:
        """Train; returns the run summary. Raises KeyboardInterrupt after a requested stop (``latest/`` saved).

        A single process holds the output folder's lock for the run (launched workers run
        under their launching process's lock) and refuses a folder with an earlier run
        unless the plan continues it or says ``overwrite``.
        """
        from mlcls_cli.engine.rundir import claim_output, continues_in

        lock = None
        if self.world.is_main and not self.world.distributed:
            lock = claim_output(
                self.out, continuing=continues_in(self.plan.resume, self.out), overwrite=self.plan.overwrite
            )
        try:
            return self._fit()
        finally:
            if self.loggers is not None:
                self.loggers.close()
            if lock is not None:
                lock.release()

    def _fit(self) -> dict[str, Any]:
        from mlcls_cli.engine.seeding import seed_everything

        # paddle's BatchNorm warns on every training forward; it says nothing actionable
        warnings.filterwarnings("ignore", message="When training, we now always track global mean")
        # paddle.jit.to_static (Train.dy2st) warns while converting; the conversion is fine
        warnings.filterwarnings("ignore", message="Tensor do not have 'place' interface")
        plan, world = self.plan, self.world
        self._set_device()
        init_parallel(world)
        seed_everything(plan.seed)
        if world.is_main:
            self.files.prepare()
        self._build()
        p = self.progress
        start = {"epoch": p.epoch, "batch": p.batch, "step": p.step, "iters_per_epoch": self.iters_per_epoch}
        check_same_run(plan.to_dict(), start, world)
        previous_handler = self._install_sigint()
        try:
            self._start_outputs()
            self._loop()
        except _Stop:
            p = self.progress
            where = f"in epoch {p.epoch + 1} after batch {p.batch}" if p.batch else f"after epoch {p.epoch}"
            self._log(f"stopped ({self._stop_reason}) {where}; resumable checkpoint in {self.out / LATEST}")
            if world.is_main:
                self.files.metric({"type": "event", "event": "interrupted", "step": self.progress.step})
                console.warn(
                    f"saved a resumable checkpoint in {self.out / LATEST}; continue with the same command plus "
                    "--resume auto"
                )
            raise KeyboardInterrupt from None
        except TrainingError as exc:
            if world.is_main:
                self._log(f"error: {exc.message}", echo=False)
                self.result.data.update(
                    {"done_flag": False, "err_type": type(exc).__name__, "err_msg": exc.message}
                )
                self.result.save()
            raise
        finally:
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(signal.SIGINT, previous_handler)
        write_debug_weights(world.rank, self.net.state_dict())
        return self._finish() if world.is_main else {}

    # ----------------------------------------------------------------- setup

    def _set_device(self) -> None:
        import paddle

        from mlcls_cli.engine.device import parse_device

        kind, ids = parse_device(self.plan.device)
        if kind == "cpu":
            from paddle.base import core

            from mlcls_cli.engine.device import training_threads

            paddle.set_device("cpu")
            self.cpu_threads = training_threads(self.plan.nproc)
            core.set_num_threads(self.cpu_threads)
            return
        local = ids[self.world.local_rank] if self.world.local_rank < len(ids) else ids[0]
        gpu = gpu_id_for_worker(local) if self.world.distributed else local
        paddle.set_device(f"gpu:{gpu}")

    def _build(self) -> None:
        import paddle

        from mlcls_cli.data.listfile import TRAIN_LIST, VAL_LIST
        from mlcls_cli.engine.dataset import MultiLabelDataset, build_loader, default_num_workers
        from mlcls_cli.engine.ema import ModelEMA
        from mlcls_cli.engine.optim import build_optimizer
        from mlcls_cli.models import build_model
        from mlcls_cli.models.weights import load_pretrained

        plan, world = self.plan, self.world
        root = Path(plan.dataset_dir)
        k = plan.num_classes
        task = self.task
        train_samples = task.load_samples(root / TRAIN_LIST, k)
        self.val_samples = task.load_samples(root / VAL_LIST, k)
        self.val_targets = task.targets(self.val_samples, k)
        workers = (
            plan.num_workers
            if plan.num_workers is not None
            else default_num_workers(plan.image_size, plan.device)
        )
        self.train_set = MultiLabelDataset(
            root,
            train_samples,
            k,
            task.train_transform(plan),
            train=True,
            seed=plan.seed,
        )
        val_shard = self.val_samples[world.rank :: world.world_size]
        val_set = MultiLabelDataset(
            root, val_shard, k, task.eval_transform(plan.model_name, plan.image_size), train=False
        )
        self.train_loader = build_loader(
            self.train_set,
            batch_size=plan.batch_size,
            shuffle=True,
            drop_last=False,
            num_workers=workers,
            seed=plan.seed,
            epoch=1,
            rank=world.rank,
            world_size=world.world_size,
        )
        self.iters_per_epoch = len(self.train_loader.batch_sampler)
        if self.iters_per_epoch < 1:
            raise DatasetError(f"{root / TRAIN_LIST} has no training samples", hint="run `mlcls check`")
        self.val_loader = build_loader(val_set, batch_size=plan.batch_size, shuffle=False, drop_last=False)

        self.net = build_model(plan.model_name, k)
        if plan.pretrained and not plan.resume:
            result = load_pretrained(self.net, plan.pretrained, plan.model_name)
            self._log(
                f"loaded pretrained weights {plan.pretrained} ({len(result.loaded)} entries)", echo=False
            )
        self.net.train()
        self.optimizer, self.schedule = build_optimizer(
            self.net,
            learning_rate=plan.learning_rate,
            epochs=plan.epochs,
            iters_per_epoch=self.iters_per_epoch,
            warmup_epochs=plan.warmup_epochs,
            weight_decay=plan.weight_decay,
            optimizer=plan.optimizer,
            schedule=plan.schedule,
        )
        self.loss_fn = task.loss(plan)
        self.ema = (
            ModelEMA(
                self.net,
                plan.ema_decay,
                warmup=plan.ema_warmup_tau > 0,
                warmup_tau=plan.ema_warmup_tau or 1.0,
            )
            if plan.ema_decay
            else None
        )
        self.scaler = paddle.amp.GradScaler(init_loss_scaling=128.0) if plan.amp else None
        state_keys = set(self.net.state_dict())
        self.frozen = [
            n
            for n, t in [*self.net.named_parameters(), *self.net.named_buffers()]
            if n in state_keys
            and (t.stop_gradient or not hasattr(t, "trainable"))
            and "float" in str(t.dtype)
        ]
        if plan.resume:
            self._restore(plan.resume)
        if plan.dy2st:
            spec = [paddle.static.InputSpec([None, 3, plan.image_size, plan.image_size], "float32")]
            paddle.jit.to_static(self.net, input_spec=spec, full_graph=True)  # converts net.forward in place
        self.model = paddle.DataParallel(self.net) if world.distributed else self.net

    def _restore(self, prefix: str) -> None:
        from mlcls_cli.engine.seeding import restore_rng_state
        from mlcls_cli.models.weights import load_weights

        ckpt = load_checkpoint(prefix)
        states = ckpt.states
        if ckpt.info.get("weights") == "ema":
            console.warn(f"{prefix}.pdparams holds EMA weights (a best_model); training continues from them")
        load_weights(self.net, ckpt.model, strict=True, skip_head_on_mismatch=False)
        saved_schedule = None
        if ckpt.optimizer is not None:
            optimizer_state = local_optimizer_state(ckpt.optimizer, self.net)
            saved_schedule = optimizer_state.pop("LR_Scheduler", None)
            # paddle requires the key; an empty one leaves the schedule to the restore below (one source)
            self.optimizer.set_state_dict({**optimizer_state, "LR_Scheduler": {}})
        if states.get("scheduler") or saved_schedule:
            self.schedule.set_state_dict(states.get("scheduler") or saved_schedule)
        if self.ema is not None:
            if ckpt.ema is not None:
                self.ema.set_state_dict(ckpt.ema)
                self.ema.updates = int(states.get("ema_updates", 0))
            else:
                console.warn(f"{prefix} has no EMA weights; the EMA restarts from the current weights")
        if self.scaler is not None and states.get("scaler"):
            self.scaler.load_state_dict(states["scaler"])
        if states.get("rng"):
            restore_rng_state(states["rng"])
        p = self.progress
        p.epoch = int(states.get("epoch", 0))
        p.batch = int(states.get("batch", 0))
        p.step = int(states.get("step", p.epoch * self.iters_per_epoch + p.batch))
        p.best = float(states.get("best_metric", -1.0))
        p.best_epoch = int(states.get("best_epoch", 0))
        p.best_weights = str(states.get("best_weights", "raw"))
        p.improved_epoch = int(states.get("improved_epoch", p.best_epoch))
        p.last_eval = dict(states.get("last_eval") or {})
        p.seconds = float(states.get("seconds", 0.0))
        p.images = int(states.get("images", 0))
        saved_shape = (states.get("world_size", 1), states.get("batch_size", self.plan.batch_size))
        if p.batch and saved_shape != (self.world.world_size, self.plan.batch_size):
            console.warn(
                "the batch size or process count changed since the checkpoint: the rest of the interrupted "
                "epoch sees a different data order"
            )
            p.batch = min(p.batch, self.iters_per_epoch - 1)
        if states.get("epochs") not in (None, self.plan.epochs):
            console.warn(
                f"the checkpoint was made for {states['epochs']} epochs, this run has {self.plan.epochs}: "
                "the learning-rate schedule is stretched to the new length"
            )
        # a run stopped during the final export resumes straight to the export
        finished = (self.out / BEST / INFERENCE_DIR / "inference.yml").is_file()
        if p.epoch >= self.plan.epochs and finished:
            raise UsageError(
                f"{prefix} already completed epoch {p.epoch} of {self.plan.epochs}: nothing left to train",
                hint="raise --epochs to train longer, or start a new run: --overwrite (without --resume) or "
                "another --output",
            )

    def _start_outputs(self) -> None:
        plan, p = self.plan, self.progress
        if not self.world.is_main:
            return
        self.files.write_config(plan.config_text)
        self.files.write_label_dict(plan.label_names)
        if plan.resume:
            self.result.load_existing()
            dropped = self.files.prune_metrics(p.step)
            self._log(
                f"resuming from {plan.resume} at epoch {p.epoch + 1}, batch {p.batch} (step {p.step}); "
                f"dropped {dropped} metrics.jsonl record(s) past it",
                echo=False,
            )
        self.result.save()
        workers = self.train_loader.num_workers if hasattr(self.train_loader, "num_workers") else 0
        warmup = f"{self.schedule.warmup_iters / self.iters_per_epoch:.3g} epoch(s)"
        if 0 < plan.epochs <= plan.warmup_epochs:
            warmup += f" (Train.warmup_steps={plan.warmup_epochs}, capped to half the run)"
        ema = f"{plan.ema_decay} (warm-up tau {plan.ema_warmup_tau:g})" if plan.ema_decay else "off"
        header = (
            f"mlcls {__version__}: training {plan.model_name} on {plan.dataset_dir} "
            f"({len(self.train_set)} train / {len(self.val_samples)} val images, {plan.num_classes} classes)\n"
            f"device {plan.device}{describe_world(plan.nproc, plan.nnodes)}, epochs {plan.epochs}, "
            f"batch {plan.batch_size}{describe_batch(plan.batch_size, self.world.world_size)}, "
            f"lr {plan.learning_rate:g}, warmup {warmup}, image size {plan.image_size}, "
            f"EMA {ema}, AMP {'O1' if plan.amp else 'off'}, seed {plan.seed}, "
            f"{self.task.describe_loss(plan)}, loader workers {workers}"
            + (f", math threads {self.cpu_threads}" if self.cpu_threads else "")
            + (
                f", early stop after {plan.early_stop_patience} epochs without a new best"
                if plan.early_stop_patience
                else ""
            )
            + "\n"
            f"pretrained: {plan.pretrained or 'none (from scratch)'}; output: {self.out}"
        )
        self._log(header)
        self.files.metric(
            {
                "type": "event",
                "event": "resume" if plan.resume else "start",
                "step": p.step,
                "epoch": p.epoch,
                "model": plan.model_name,
                "iters_per_epoch": self.iters_per_epoch,
            }
        )

    def _install_sigint(self) -> Any:
        owner = os.getpid()

        def on_sigint(signum: int, frame: Any) -> None:
            if os.getpid() != owner:
                return  # a DataLoader worker forked from this process: keep loading, the trainer stops
            self.request_stop("Ctrl-C")
            if self.world.is_main:
                console.warn("stopping at the next batch and saving latest/ (Ctrl-C again to abort at once)")
            signal.signal(signal.SIGINT, signal.default_int_handler)

        try:
            return signal.signal(signal.SIGINT, on_sigint)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            return signal.getsignal(signal.SIGINT)

    # ----------------------------------------------------------------- the loop

    def _loop(self) -> None:
        from mlcls_cli.engine.dataset import set_loader_epoch

        plan = self.plan
        for epoch in range(self.progress.epoch + 1, plan.epochs + 1):
            start_batch = self.progress.batch
            set_loader_epoch(self.train_loader, epoch, start_batch)
            self._train_epoch(epoch, start_batch)
            self.progress.epoch, self.progress.batch = epoch, 0
            average_entries(self.net.state_dict(), self.frozen, self.world)
            if self.ema is not None:
                average_entries(self.ema.state_dict(), self.frozen, self.world)
            evaluated = epoch % plan.eval_interval == 0 or epoch == plan.epochs
            if evaluated:
                self._evaluate(epoch)
            self._save_epoch(epoch, evaluated)
            for hook in self.hooks:
                hook(self, epoch)
            if evaluated and self._early_stop(epoch):
                return
            stop = all_reduce_sum([float(self._stop_requested)], self.world)[0] > 0
            if stop and epoch < plan.epochs:
                self._stop_requested = True
                raise _Stop

    def _train_epoch(self, epoch: int, start_batch: int) -> None:
        import paddle

        plan, world, p = self.plan, self.world, self.progress
        n_iters = self.iters_per_epoch
        batches = self.train_loader.batch_sampler.batches()
        remaining = sum(len(b) for b in batches[start_batch:]) * world.world_size
        seen: list[int] = []
        window: list[float] = []
        window_images = 0
        window_start = epoch_start = time.monotonic()
        epoch_images = 0
        with console.progress(f"epoch {epoch}/{plan.epochs}", total=remaining, unit="images") as bar:
            for i, (images, labels) in enumerate(self.train_loader, start=start_batch):
                if plan.mixup_alpha > 0 or plan.cutmix_alpha > 0:
                    images, labels = self._mix(images, labels, epoch, i)
                with paddle.amp.auto_cast(enable=plan.amp, level="O1"):
                    logits = self.model(images)
                loss = self.loss_fn(logits, labels)
                loss_value = float(loss)
                bad = not math.isfinite(loss_value)
                # one collective per step: ranks agree on NaN and on a stop request (Ctrl-C reaches them apart)
                if world.distributed:
                    bad_count, stops = all_reduce_sum([float(bad), float(self._stop_requested)], world)
                    bad, stop = bad_count > 0, stops > 0
                else:
                    stop = False
                if bad:
                    raise TrainingError(
                        f"the loss became {loss_value if not math.isfinite(loss_value) else 'NaN on another rank'} "
                        f"at epoch {epoch}, iteration {i + 1}/{n_iters} (lr {self.optimizer.get_lr():.3g})",
                        hint=f"lower the learning rate (--lr, now {plan.learning_rate:g}) or the batch size, "
                        "or lengthen the warmup (-o Train.warmup_steps=N)",
                    )
                if self.scaler is not None:
                    scaled = self.scaler.scale(loss)
                    scaled.backward()
                    self.scaler.minimize(self.optimizer, scaled)
                else:
                    loss.backward()
                    self.optimizer.step()
                self.optimizer.clear_grad()
                lr = self.optimizer.get_lr()
                self.schedule.step()
                if self.ema is not None:
                    self.ema.update(self.net)
                p.step += 1
                count = int(images.shape[0]) * world.world_size
                epoch_images += count
                window.append(loss_value)
                window_images += count
                seen.extend(batches[i])
                bar.advance(count, loss=loss_value, lr=lr)
                for step_hook in self.step_hooks:
                    step_hook(self, epoch, i + 1)
                if (i + 1) % plan.log_interval == 0 or i + 1 == n_iters:
                    now = time.monotonic()
                    ips = window_images / max(now - window_start, 1e-9)
                    self._log_step(epoch, i + 1, n_iters, sum(window) / len(window), lr, ips)
                    window, window_images, window_start = [], 0, now
                # stop at a batch boundary, after the step whose forward already drew from the RNG
                if (stop or (self._stop_requested and not world.distributed)) and i + 1 < n_iters:
                    self._stop_requested = True
                    p.batch = i + 1
                    p.seconds += time.monotonic() - epoch_start
                    p.images += epoch_images
                    self._save_latest(epoch - 1, i + 1)
                    raise _Stop
        seconds = time.monotonic() - epoch_start
        p.seconds += seconds
        p.images += epoch_images
        write_debug_seen(world.rank, epoch, seen)
        if world.is_main:
            ips = epoch_images / max(seconds, 1e-9)
            self.files.metric(
                {
                    "type": "epoch",
                    "epoch": epoch,
                    "step": p.step,
                    "images": epoch_images,
                    "seconds": round(seconds, 3),
                    "images_per_s": round(ips, 2),
                }
            )

    def _mix(self, images: Any, labels: Any, epoch: int, batch: int) -> tuple[Any, Any]:
        """Mixup or CutMix of one batch (single-label recipes), drawn from (seed, epoch, batch, rank)."""
        from mlcls_cli.engine.mixing import apply_mix, draw_mix, mix_rng

        plan = self.plan
        draw = draw_mix(
            mix_rng(plan.seed, epoch, batch, self.world.rank),
            int(images.shape[0]),
            int(images.shape[2]),
            int(images.shape[3]),
            mixup_alpha=plan.mixup_alpha,
            cutmix_alpha=plan.cutmix_alpha,
        )
        if draw is None:
            return images, labels
        return apply_mix(images, labels, draw, plan.num_classes)

    def _log_step(self, epoch: int, it: int, n_iters: int, loss: float, lr: float, ips: float) -> None:
        if not self.world.is_main:
            return
        self.files.log(
            f"[Train][Epoch {epoch}/{self.plan.epochs}][Iter {it}/{n_iters}] loss: {loss:.5f}, "
            f"lr: {lr:.6g}, ips: {ips:.2f} images/sec"
        )
        self.files.metric(
            {
                "type": "train",
                "epoch": epoch,
                "iter": it,
                "iters": n_iters,
                "step": self.progress.step,
                "loss": loss,
                "lr": lr,
                "images_per_s": round(ips, 2),
                "time": round(time.time(), 3),
            }
        )

    # ----------------------------------------------------------------- evaluation and saving

    def _val_logits(self) -> np.ndarray:
        from mlcls_cli.engine.evaluator import predict_logits

        local = predict_logits(self.net, self.val_loader)
        return gather_strided(local, len(self.val_samples), self.world)

    def _evaluate(self, epoch: int) -> None:
        metric = self.metric
        raw_scores = self.task.scores(self._val_logits(), self.val_targets)
        raw = raw_scores[metric]
        ema, ema_scores = None, {}
        if self.ema is not None:
            with self.ema.applied_to(self.net):
                ema_scores = self.task.scores(self._val_logits(), self.val_targets)
            ema = ema_scores[metric]
        use_ema = ema is not None and not math.isnan(ema) and (math.isnan(raw) or ema >= raw)
        score = ema if use_ema else raw
        p = self.progress
        p.last_eval = {
            "epoch": epoch,
            "raw": raw,
            "ema": ema,
            "score": score,
            "weights": "ema" if use_ema else "raw",
            "metrics": {k: _num(v) for k, v in (ema_scores if use_ema else raw_scores).items()},
        }
        improved = score is not None and not math.isnan(score) and score >= p.best
        if improved and (not p.improved_epoch or score > p.best + self.plan.early_stop_min_delta):
            p.improved_epoch = epoch
        if improved:
            p.best, p.best_epoch, p.best_weights = float(score), epoch, ("ema" if use_ema else "raw")
        if not self.world.is_main:
            return
        self.files.metric(
            {
                "type": "eval",
                "epoch": epoch,
                "step": p.step,
                metric: _num(raw),
                f"{metric}_ema": _num(ema),
                **{k: _num(v) for k, v in raw_scores.items() if k != metric},
                "score": _num(score),
                "weights": p.last_eval["weights"],
                "best": _num(p.best) if p.best_epoch else None,
                "best_epoch": p.best_epoch,
                "time": round(time.time(), 3),
            }
        )
        ema_text = f", EMA {ema:.4f}" if ema is not None else ""
        if metric == METRIC:
            values = f"{METRIC}(integral): {raw:.5f}"
        else:  # PaddleClas's line, which PaddleX's log parser reads
            values = ", ".join(f"{k}: {v:.5f}" for k, v in raw_scores.items())
        self.files.log(
            f"[Eval][Epoch {epoch}][Avg] {values}{ema_text}; best {p.best:.5f} (epoch {p.best_epoch})"
        )
        self._show_eval_table(epoch, raw, ema, improved)
        if improved:
            self._save_best(epoch)

    def _early_stop(self, epoch: int) -> bool:
        """True when ``Train.early_stop_patience`` epochs passed without an improvement (logged once)."""
        patience, p = self.plan.early_stop_patience, self.progress
        if not patience or epoch >= self.plan.epochs or epoch - p.improved_epoch < patience:
            return False
        p.stopped_early = epoch
        self._log(
            f"early stopping after epoch {epoch}: no improvement of {self.metric} for {epoch - p.improved_epoch} "
            f"epochs (Train.early_stop_patience={patience}); best {p.best:.5f} at epoch {p.best_epoch}"
        )
        if self.world.is_main:
            self.files.metric(
                {"type": "event", "event": "early_stop", "step": p.step, "epoch": epoch, "best": _num(p.best)}
            )
        return True

    def _show_eval_table(self, epoch: int, raw: float, ema: float | None, improved: bool) -> None:
        if console.state.quiet:
            return
        from rich.table import Table

        table = Table(title=f"validation after epoch {epoch}/{self.plan.epochs}", title_justify="left")
        table.add_column("weights")
        table.add_column(self.metric, justify="right")
        table.add_row("model", f"{raw:.4f}")
        if ema is not None:
            table.add_row("EMA", f"{ema:.4f}")
        star = " (new best)" if improved else ""
        table.add_row(
            f"best (epoch {self.progress.best_epoch}, {self.progress.best_weights}){star}",
            f"{self.progress.best:.4f}",
        )
        console.err_console().print(table)

    def _states(self, epoch: int, batch: int) -> dict[str, Any]:
        from mlcls_cli.engine.seeding import capture_rng_state

        p = self.progress
        return {
            "epoch": epoch,
            "batch": batch,
            "step": p.step,
            "epochs": self.plan.epochs,
            "iters_per_epoch": self.iters_per_epoch,
            "batch_size": self.plan.batch_size,
            "world_size": self.world.world_size,
            "best_metric": p.best,
            "best_epoch": p.best_epoch,
            "best_weights": p.best_weights,
            "improved_epoch": p.improved_epoch,
            "last_eval": p.last_eval,
            "metric": p.last_eval.get("raw") if p.last_eval.get("epoch") == epoch else None,
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "ema_updates": self.ema.updates if self.ema is not None else 0,
            "rng": capture_rng_state(),
            "seconds": p.seconds,
            "images": p.images,
            "model_name": self.plan.model_name,
            "image_size": self.plan.image_size,
            "dataset": self.plan.dataset_identity,
            "mlcls_version": __version__,
        }

    def _info(self, epoch: int, metric: float | None, weights: str) -> dict[str, Any]:
        return {
            "metric": metric,
            "metric_name": self.metric,
            "epoch": epoch,
            "weights": weights,
            "raw_metric": self.progress.last_eval.get("raw")
            if self.progress.last_eval.get("epoch") == epoch
            else None,
            "ema_metric": self.progress.last_eval.get("ema")
            if self.progress.last_eval.get("epoch") == epoch
            else None,
            "model_name": self.plan.model_name,
            "image_size": self.plan.image_size,
            "num_classes": self.plan.num_classes,
        }

    def _checkpoint(
        self,
        name: str,
        epoch: int,
        batch: int,
        model_state: dict[str, Any],
        metric: float | None,
        weights: str,
    ) -> None:
        save_checkpoint(
            self.out,
            name,
            model_state=model_state,
            optimizer_state=portable_optimizer_state(self.optimizer.state_dict(), self.net),
            states=self._states(epoch, batch),
            ema_state=self.ema.state_dict() if self.ema is not None else None,
            info=self._info(epoch, metric, weights),
        )

    def _save_latest(self, epoch: int, batch: int) -> None:
        if self.world.is_main:
            raw = (
                self.progress.last_eval.get("raw") if self.progress.last_eval.get("epoch") == epoch else None
            )
            self._checkpoint(LATEST, epoch, batch, self.net.state_dict(), raw, "raw")

    def _save_best(self, epoch: int) -> None:
        p = self.progress
        weights = (
            self.ema.state_dict()
            if p.best_weights == "ema" and self.ema is not None
            else self.net.state_dict()
        )
        self._checkpoint(BEST, epoch, 0, weights, p.best, p.best_weights)
        self.result.record_best(p.best, epoch)
        self._log(
            f"saved best_model (epoch {epoch}, {self.metric} {p.best:.5f}, {p.best_weights} weights)",
            echo=False,
        )

    def _save_epoch(self, epoch: int, evaluated: bool) -> None:
        if not self.world.is_main:
            return
        self._save_latest(epoch, 0)
        keep = self.plan.keep_epoch_checkpoints
        if epoch % self.plan.save_interval == 0 and keep != 0:
            name = f"epoch_{epoch}"
            raw = self.progress.last_eval.get("raw") if evaluated else None
            link_checkpoint(self.out, LATEST, name)  # latest/ holds exactly this epoch's checkpoint now
            self.result.record_epoch(name, raw, epoch)
        self._prune_epochs()

    def _prune_epochs(self) -> None:
        """Delete all but the newest ``keep_epoch_checkpoints`` ``epoch_N/`` folders (train_result.json first)."""
        keep = self.plan.keep_epoch_checkpoints
        if keep is None:
            return
        folders = epoch_folders(self.out)
        old = [folder for _, folder in folders[: max(0, len(folders) - keep)]]
        if not old:
            return
        self.result.forget([folder.name for folder in old])
        for folder in old:
            shutil.rmtree(folder, ignore_errors=True)
        self._log(
            f"deleted {', '.join(f.name for f in old)} (Train.keep_epoch_checkpoints={keep})", echo=False
        )

    # ----------------------------------------------------------------- the end

    def _finish(self) -> dict[str, Any]:
        from mlcls_cli.models import build_model
        from mlcls_cli.models.weights import load_weights

        plan, p = self.plan, self.progress
        best_dir = self.out / BEST
        inference_dir = best_dir / INFERENCE_DIR
        if not p.best_epoch:
            console.warn(
                f"no evaluation gave a {self.metric} (an empty val split, or no positive label in it?): "
                "best_model holds the last weights"
            )
            p.best, p.best_epoch, p.best_weights = float("nan"), p.epoch, "raw"
            self._checkpoint(BEST, p.epoch, 0, self.net.state_dict(), None, "raw")
            self.result.record_best(None, p.epoch)
        model = build_model(plan.model_name, plan.num_classes)
        load_weights(model, best_dir / f"{BEST}.pdparams", strict=True, skip_head_on_mismatch=False)
        onnx_error = self._export(model, inference_dir)
        with_onnx = plan.export_format != "paddle" and onnx_error is None
        self.result.record_best_inference(onnx=with_onnx)
        self.result.finish()
        ips = p.images / p.seconds if p.seconds > 0 else None
        self._log(
            f"done: best {self.metric} {p.best:.5f} at epoch {p.best_epoch} ({p.best_weights} weights); "
            f"inference package {inference_dir}; {p.images} images in {p.seconds:.1f} s"
            + (f" ({ips:.1f} images/s)" if ips else "")
        )
        self.files.metric(
            {"type": "event", "event": "done", "step": p.step, "best": p.best, "best_epoch": p.best_epoch}
        )
        curves = self._draw_curves()
        last = p.last_eval
        return {
            "done_flag": True,
            "model_name": plan.model_name,
            "dataset": plan.dataset_dir,
            "output": str(self.out),
            "device": plan.device,
            "nproc": plan.nproc,
            "nnodes": plan.nnodes,
            "world_size": self.world.world_size,
            "epochs": plan.epochs,
            "epochs_run": p.epoch,
            "stopped_early": bool(p.stopped_early),
            "image_size": plan.image_size,
            "num_classes": plan.num_classes,
            "task": plan.task,
            "metric": self.metric,
            "best": {
                self.metric: p.best,
                "epoch": p.best_epoch,
                "weights": p.best_weights,
                "pdparams": str(best_dir / f"{BEST}.pdparams"),
                "inference_dir": str(inference_dir),
                "onnx": str(inference_dir / ONNX_FILE) if with_onnx else None,
                **({"onnx_error": onnx_error} if onnx_error else {}),
            },
            "last": {
                "epoch": last.get("epoch"),
                self.metric: last.get("raw"),
                f"{self.metric}_ema": last.get("ema"),
                **{k: v for k, v in (last.get("metrics") or {}).items() if k != self.metric},
            },
            "train_result": str(self.result.path),
            "training_curves": str(curves) if curves else None,
            "train_seconds": round(p.seconds, 2),
            "images_per_s": round(ips, 2) if ips else None,
            "resumed_from": plan.resume,
        }

    def _draw_curves(self) -> Path | None:
        """Write ``training_curves.png`` from ``metrics.jsonl`` (a failure only warns: the training is done)."""
        from mlcls_cli.engine.plots import training_curves

        try:
            return training_curves(self.files.read_metrics(), self.metric, self.out / CURVES_FILE)
        except Exception as exc:  # a picture must not fail a finished training
            console.warn(f"{CURVES_FILE} not drawn: {exc}")
            return None

    def _export(self, model: Any, inference_dir: Path) -> str | None:
        """Write ``best_model/inference`` (with ``inference.onnx`` when asked); returns why ONNX failed, or None.

        A failed ONNX conversion does not fail the finished training: the package is
        written without ``inference.onnx``, a warning says how to add it later.
        """
        from mlcls_cli.inference.convert import ConversionError
        from mlcls_cli.models.export import export_model

        plan = self.plan
        settings = dict(model_name=plan.model_name, label_list=plan.label_names, input_size=plan.image_size)
        if plan.export_format == "paddle":
            export_model(model, inference_dir, **settings)
            return None
        try:
            export_model(model, inference_dir, onnx=True, **settings)
            return None
        except ConversionError as exc:
            export_model(model, inference_dir, **settings)
            weights = self.out / BEST / f"{BEST}.pdparams"
            self._log(
                f"the inference package was written without {ONNX_FILE}: {exc.message}; the training is kept. "
                f"Retry with `mlcls export --weights {weights} --output {inference_dir} --format onnx`, "
                "or run the package with --backend paddle",
                echo=False,
            )
            console.warn(
                f"{ONNX_FILE} not written: {exc.message}\n  the trained model and its Paddle package are kept; "
                f"retry with: mlcls export --weights {weights} --output {inference_dir} --format onnx"
            )
            return exc.message

    def _log(self, message: str, *, echo: bool = True) -> None:
        if not self.world.is_main:
            return
        self.files.log(message)
        if echo:
            console.info(message)
