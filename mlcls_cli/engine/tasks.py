"""What differs between training a multi-label and a single-label model; the trainer asks the task.

The engine (loader, loop, checkpoints, resume, EMA, export) is shared; a :class:`Task`
decides how the list files are read, the targets, the transforms, the loss, the
batch mixing and the metric that picks ``best_model``:

* multi-label (MLClsDataset, ``*_ML`` models): multi-hot float32 targets, the
  ML-Decoder recipe's transforms and asymmetric loss, ``MultiLabelMAP``;
* single-label (ClsDataset): int64 class ids, PaddleClas's crop/flip/RandAugment/
  RandomErasing transforms, smoothed cross-entropy with optional Mixup/CutMix, and
  top-1 accuracy (``top1``; ``top5`` is reported beside it, 1.0 below 5 classes as PaddleX).

Importing this module does not import paddle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mlcls_cli.models.registry import TASK_CLS, TASK_ML

if TYPE_CHECKING:
    from mlcls_cli.engine.trainer import TrainPlan

__all__ = ["MultiLabelTask", "SingleLabelTask", "Task", "task_for"]


class Task:
    """The task-specific parts of training and evaluation (see the module docstring)."""

    name: str = TASK_ML
    metric: str = "MultiLabelMAP"  # the score that selects best_model (a fraction, higher is better)
    dataset_type: str = "MLClsDataset"

    def load_samples(self, list_file: Path, num_classes: int) -> list[Any]:
        """The samples of one list file, read strictly."""
        raise NotImplementedError

    def targets(self, samples: list[Any], num_classes: int) -> np.ndarray:
        """The evaluation targets of ``samples``."""
        raise NotImplementedError

    def list_line(self, sample: Any) -> str:
        """The list-file line of ``sample`` (what the dataset digest hashes)."""
        raise NotImplementedError

    def train_transform(self, plan: TrainPlan) -> Any:
        """The training transform, a callable ``(PIL image, rng) -> (3, H, W) float32``."""
        raise NotImplementedError

    def eval_transform(self, model_name: str, image_size: int) -> Any:
        """The evaluation transform, a callable ``PIL image -> (3, H, W) float32``."""
        raise NotImplementedError

    def loss(self, plan: TrainPlan) -> Any:
        """The training loss layer, ``forward(logits, targets)``."""
        raise NotImplementedError

    def describe_loss(self, plan: TrainPlan) -> str:
        """The loss and augmentation settings for the run's header line."""
        raise NotImplementedError

    def scores(self, logits: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        """Validation metrics of ``logits``; ``scores()[self.metric]`` selects the best model (NaN: none)."""
        raise NotImplementedError


class MultiLabelTask(Task):
    """Multi-label classification on an MLClsDataset (the ML-Decoder recipe)."""

    name = TASK_ML
    metric = "MultiLabelMAP"
    dataset_type = "MLClsDataset"

    def load_samples(self, list_file: Path, num_classes: int) -> list[Any]:
        """See :meth:`Task.load_samples`."""
        from mlcls_cli.data.listfile import load_samples

        return load_samples(list_file, num_classes)

    def targets(self, samples: list[Any], num_classes: int) -> np.ndarray:
        """Multi-hot vectors (N, K) float32."""
        return np.asarray([s.labels for s in samples], dtype=np.float32).reshape(len(samples), num_classes)

    def list_line(self, sample: Any) -> str:
        """See :meth:`Task.list_line`."""
        from mlcls_cli.data.listfile import format_list_line

        return format_list_line(sample.path, sample.labels)

    def train_transform(self, plan: TrainPlan) -> Any:
        """Resize, Cutout, RandAugmentV4, normalise."""
        from mlcls_cli.engine.transforms import build_train_transform

        return build_train_transform(plan.image_size, cutout=plan.cutout, randaugment=plan.randaugment)

    def eval_transform(self, model_name: str, image_size: int) -> Any:
        """Resize to the square input (PIL bilinear), normalise."""
        from mlcls_cli.engine.transforms import build_eval_transform

        return build_eval_transform(image_size)

    def loss(self, plan: TrainPlan) -> Any:
        """The asymmetric loss."""
        from mlcls_cli.engine.loss import AsymmetricLoss

        return AsymmetricLoss(
            gamma_pos=plan.loss_gamma_pos, gamma_neg=plan.loss_gamma_neg, clip=plan.loss_clip
        )

    def describe_loss(self, plan: TrainPlan) -> str:
        """See :meth:`Task.describe_loss`."""
        return (
            f"loss ASL(gamma_neg={plan.loss_gamma_neg:g}, gamma_pos={plan.loss_gamma_pos:g}, "
            f"clip={plan.loss_clip:g}), optimizer AdamW (weight decay {plan.weight_decay:g})"
        )

    def scores(self, logits: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        """``{"MultiLabelMAP": mAP}`` on the sigmoid of ``logits``."""
        from mlcls_cli.engine.evaluator import multilabel_map

        return {self.metric: multilabel_map(logits, targets)}


class SingleLabelTask(Task):
    """Single-label classification on a ClsDataset (PaddleClas's ImageNet recipe per family)."""

    name = TASK_CLS
    metric = "top1"
    dataset_type = "ClsDataset"

    def load_samples(self, list_file: Path, num_classes: int) -> list[Any]:
        """See :meth:`Task.load_samples`."""
        from mlcls_cli.data.listfile import load_cls_samples

        return load_cls_samples(list_file, num_classes)

    def targets(self, samples: list[Any], num_classes: int) -> np.ndarray:
        """Class ids (N,) int64."""
        return np.asarray([s.class_id for s in samples], dtype=np.int64)

    def list_line(self, sample: Any) -> str:
        """See :meth:`Task.list_line`."""
        from mlcls_cli.data.listfile import format_cls_line

        return format_cls_line(sample.path, sample.class_id)

    def train_transform(self, plan: TrainPlan) -> Any:
        """Random resized crop, flip, RandAugment, normalise, RandomErasing (as the recipe says)."""
        from mlcls_cli.engine.transforms import ClsTrainTransform

        return ClsTrainTransform(
            plan.image_size,
            interpolation=plan.interpolation,
            randaugment=plan.randaugment_magnitude if plan.randaugment else None,
            random_erasing=plan.random_erasing,
            crop_scale=(plan.crop_scale_min, 1.0),
        )

    def eval_transform(self, model_name: str, image_size: int) -> Any:
        """The exported package's preprocessing: resize the short side, centre crop, normalise."""
        from mlcls_cli.engine.transforms import ClsEvalTransform

        return ClsEvalTransform(model_name, image_size)

    def loss(self, plan: TrainPlan) -> Any:
        """Cross-entropy with the recipe's label smoothing."""
        from mlcls_cli.engine.loss import SmoothedCrossEntropy

        return SmoothedCrossEntropy(plan.label_smoothing)

    def describe_loss(self, plan: TrainPlan) -> str:
        """See :meth:`Task.describe_loss`."""
        mix = []
        if plan.mixup_alpha > 0:
            mix.append(f"Mixup {plan.mixup_alpha:g}")
        if plan.cutmix_alpha > 0:
            mix.append(f"CutMix {plan.cutmix_alpha:g}")
        augment = [f"crop {plan.interpolation}"]
        if plan.randaugment:
            augment.append(f"RandAugment m{plan.randaugment_magnitude}")
        if plan.random_erasing > 0:
            augment.append(f"RandomErasing {plan.random_erasing:g}")
        return (
            f"loss CE(label smoothing {plan.label_smoothing:g}), optimizer "
            f"{'Momentum 0.9, L2' if plan.optimizer == 'momentum' else 'AdamW, weight decay'} "
            f"{plan.weight_decay:g}, {plan.schedule} schedule, augment {' + '.join(augment)}"
            + (f", {' or '.join(mix)}" if mix else "")
        )

    def scores(self, logits: np.ndarray, targets: np.ndarray) -> dict[str, float]:
        """``{"top1": ..., "top5": ...}`` accuracy fractions (top5 is 1.0 below 5 classes, as PaddleX)."""
        from mlcls_cli.metrics.single_label import top_k_accuracy

        if len(targets) == 0:
            return {"top1": float("nan"), "top5": float("nan")}
        return {"top1": top_k_accuracy(logits, targets, 1), "top5": top_k_accuracy(logits, targets, 5)}


_TASKS: dict[str, Task] = {TASK_ML: MultiLabelTask(), TASK_CLS: SingleLabelTask()}


def task_for(model_name: str) -> Task:
    """The task of a zoo model (from its registry entry)."""
    from mlcls_cli.models.registry import get_model_info

    return _TASKS[get_model_info(model_name).task]


def task_named(name: str) -> Task:
    """The task of a registry task name (``image_classification`` or ``image_multilabel_classification``)."""
    return _TASKS[name]
