"""PaddleClas's single-label training recipe per model family, as PaddleX runs it.

PaddleX keeps each family's recipe (loss, optimizer, weight decay, augmentation,
mixing, EMA) and overrides the epochs (20), warm-up (5 epochs), batch size and learning
rate from its module config (the registry's values). :func:`recipe_for` gives the
family's recipe for a model; every field is also a ``Train.*`` config key, so a run can
change it. Facts from PaddleX's per-model PaddleClas configs (single-label.md 2.4).

Differences from PaddleClas, on purpose or for now: the schedule is cosine after the
warm-up for every family (PaddleClas's piecewise families keep a constant rate for
PaddleX's 20 epochs: ``schedule: constant`` reproduces that and is their default here);
the RandAugment of the recipes (PaddleClas's ``TimmAutoAugment``) is mlcls's
``RandAugmentV4`` with the magnitude given, not a port of timm's policy. Not reproduced:
PP-LCNetV2's multi-scale sampler, ConvNeXt's gradient accumulation (``update_freq: 4``),
CLIP's layer-wise learning-rate decay, and the AMP of some YAMLs (PaddleX drops it too).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Recipe", "recipe_for"]


@dataclass(frozen=True)
class Recipe:
    """How one family trains (see the module docstring)."""

    optimizer: str = "momentum"  # momentum (L2 weight decay) or adamw (decoupled, none on 1-D parameters)
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    schedule: str = "cosine"  # cosine or constant after the warm-up
    randaugment: int | None = None  # RandAugment magnitude, or None for none
    random_erasing: float = 0.0  # probability of RandomErasing after normalisation
    mixup_alpha: float = 0.0  # Mixup's Beta(alpha, alpha); 0 = off
    cutmix_alpha: float = 0.0  # CutMix's Beta(alpha, alpha); 0 = off
    ema_decay: float = 0.0  # EMA of the weights (fixed decay, as PaddleClas); 0 = off
    interpolation: str = "bilinear"  # resampling of the random crop: bilinear (cv2-like) or bicubic (PIL)
    crop_scale_min: float = 0.08  # smallest area fraction of the random resized crop


_FAMILIES: dict[str, Recipe] = {
    "CLIP-ViT": Recipe("adamw", 0.05, randaugment=9, random_erasing=0.25, interpolation="bicubic"),
    "ConvNeXt": Recipe(
        "adamw",
        0.05,
        randaugment=9,
        random_erasing=0.25,
        mixup_alpha=0.8,
        cutmix_alpha=1.0,
        interpolation="bicubic",
    ),
    "FasterNet": Recipe(
        "adamw", 0.05, randaugment=7, mixup_alpha=0.3, cutmix_alpha=1.0, interpolation="bicubic"
    ),
    "MobileNetV1": Recipe("momentum", 3e-5, label_smoothing=0.0, schedule="constant"),
    "MobileNetV2": Recipe("momentum", 4e-5, label_smoothing=0.0),
    "MobileNetV3": Recipe("momentum", 2e-5),
    "MobileNetV4": Recipe(
        "adamw",
        0.1,
        randaugment=9,
        random_erasing=0.25,
        mixup_alpha=0.8,
        cutmix_alpha=1.0,
        ema_decay=0.9998,
        interpolation="bicubic",
    ),
    "PP-HGNetV2": Recipe("momentum", 2e-5, randaugment=7, random_erasing=0.25, interpolation="bicubic"),
    "PP-HGNet": Recipe(
        "momentum",
        4e-5,
        randaugment=7,
        random_erasing=0.25,
        mixup_alpha=0.2,
        cutmix_alpha=1.0,
        interpolation="bicubic",
    ),
    "PP-LCNet": Recipe("momentum", 3e-5),
    "PP-LCNetV2": Recipe("momentum", 4e-5),
    "ResNet": Recipe("momentum", 1e-4),
    "StarNet": Recipe("adamw", 0.05, randaugment=1, random_erasing=0.25, mixup_alpha=0.8, cutmix_alpha=0.2),
    "SwinTransformer": Recipe(
        "adamw",
        0.05,
        randaugment=9,
        random_erasing=0.25,
        mixup_alpha=0.8,
        cutmix_alpha=1.0,
        interpolation="bicubic",
    ),
    # mlcls's own small CNN: a plain recipe that learns from scratch on small data
    "SmallCNN": Recipe("adamw", 1e-4, label_smoothing=0.0, crop_scale_min=0.5),
}

#: Per-model departures from the family recipe.
_MODELS: dict[str, dict[str, object]] = {
    **{f"ResNet{d}": {"label_smoothing": 0.0, "schedule": "constant"} for d in (18, 34, 101, 152)},
    "ResNet50": {"label_smoothing": 0.1},
    **{f"ResNet{d}_vd": {"weight_decay": 7e-5, "mixup_alpha": 0.2} for d in (18, 34, 50)},
    **{f"ResNet{d}_vd": {"mixup_alpha": 0.2} for d in (101, 152, 200)},
    "MobileNetV2_x0_25": {"weight_decay": 3e-5},
    "MobileNetV2_x0_5": {"weight_decay": 3e-5},
    "MobileNetV3_small_x0_35": {"weight_decay": 1e-5},
    "MobileNetV3_small_x0_5": {"weight_decay": 1e-5},
    "MobileNetV3_large_x1_25": {"weight_decay": 4e-5},
    **{f"PP-LCNet_{s}": {"weight_decay": 4e-5} for s in ("x1_5", "x2_0", "x2_5")},
    "PP-LCNetV2_small": {"weight_decay": 2e-5},
    "PP-HGNet_base": {"mixup_alpha": 0.4, "random_erasing": 0.4, "randaugment": 15},
    "FasterNet-T0": {"weight_decay": 0.005, "randaugment": None, "mixup_alpha": 0.05},
    "FasterNet-T1": {"weight_decay": 0.01, "randaugment": 3, "mixup_alpha": 0.05},
    "FasterNet-T2": {"weight_decay": 0.02, "randaugment": 5, "mixup_alpha": 0.1},
    "FasterNet-S": {"weight_decay": 0.03},
    "FasterNet-M": {"mixup_alpha": 0.5},
    "FasterNet-L": {"mixup_alpha": 0.7},
    "MobileNetV4_conv_large": {"weight_decay": 0.2},
    "MobileNetV4_conv_small": {"weight_decay": 0.06},
}


def recipe_for(model_name: str, family: str) -> Recipe:
    """The recipe of ``model_name`` (its family's, with the model's own departures)."""
    base = _FAMILIES.get(family, Recipe())
    changes = _MODELS.get(model_name)
    return replace(base, **changes) if changes else base  # type: ignore[arg-type]
