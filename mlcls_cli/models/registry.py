"""The model zoo as plain metadata: names, builders, sizes, accuracy and official URLs.

This module must stay free of paddle so that ``mlcls models`` and the config
merger are fast; builders are referenced by dotted path and imported on demand.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field

from mlcls_cli.errors import UsageError

OFFICIAL_HOST = "https://paddle-model-ecology.bj.bcebos.com"
#: Version folders of the official inference packages, newest first (paddlex-behaviour.md 10.1).
INFERENCE_VERSIONS = ("paddle3.0.0", "paddle3.0rc0", "paddle3.0b2", "paddle3.0b1_v2")
INFERENCE_URL = OFFICIAL_HOST + "/paddlex/official_inference_model/{version}/{name}_infer.tar"
PRETRAINED_URL = OFFICIAL_HOST + "/paddlex/official_pretrained_model/{name}_pretrained.pdparams"

#: The two tasks, named as PaddleX names its modules.
TASK_ML = "image_multilabel_classification"
TASK_CLS = "image_classification"
TASKS = (TASK_ML, TASK_CLS)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelInfo:
    """What mlcls knows about one zoo model."""

    name: str
    family: str
    builder: str  # "module:function" taking (num_classes, **builder_kwargs) and returning a paddle.nn.Layer
    in_channels: int  # channels fed to the ML-Decoder head
    coco_map: float | None  # multi-label: COCO2017 val mAP (%) of the official weights (None: none)
    size_mb: float  # "Model Size (M)" from the PaddleX model list
    total_params: int  # numel of the full state_dict at 80 classes
    batch_size: int  # PaddleX fine-tuning default
    # default peak AdamW learning rate: the PaddleClas recipe's, not PaddleX's module value
    learning_rate: float
    paddlex_learning_rate: float | None  # what PaddleX's module config says (too high for AdamW fine-tuning)
    description: str
    input_size: int = 448
    epochs: int = 20  # Train.epochs_iters of the packaged config
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    use_amp: bool = True
    #: True for PaddleX zoo models (official inference package and pretrained weights to download);
    #: False for mlcls's own models, which are trained by the user.
    official: bool = True
    task: str = TASK_ML
    top1: float | None = None  # single-label: ImageNet-1k top-1 (%) of the official weights
    #: inference preprocessing: resize the short side to ``resize_short`` then centre-crop ``input_size``
    #: (None: resize to ``input_size`` x ``input_size``), with Pillow (``pil``) or OpenCV-style (``cv2``) sampling
    resize_short: int | None = None
    resize_backend: str = "pil"
    interpolation: str = "bilinear"
    builder_kwargs: tuple[tuple[str, str], ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_multilabel(self) -> bool:
        """True for multi-label models (sigmoid scores), False for single-label ones (softmax)."""
        return self.task == TASK_ML

    def inference_url(self, version: str = INFERENCE_VERSIONS[0]) -> str:
        """Official URL of the inference package ``<name>_infer.tar``."""
        return INFERENCE_URL.format(version=version, name=self.name)

    def inference_urls(self) -> list[str]:
        """Official inference-package URLs, current version first, then the older ones (none for our own models)."""
        return [self.inference_url(v) for v in INFERENCE_VERSIONS] if self.official else []

    @property
    def pretrained_url(self) -> str | None:
        """Official URL of the pretrained training weights ``<name>_pretrained.pdparams`` (None for our own models)."""
        return PRETRAINED_URL.format(name=self.name) if self.official else None


_B = "mlcls_cli.models.builders:"

MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo(
            name="PP-LCNet_x1_0_ML",
            family="PP-LCNet",
            builder=_B + "build_pp_lcnet_x1_0_ml",
            in_channels=1280,
            coco_map=77.96,
            size_mb=29.4,
            total_params=8_304_752,
            batch_size=32,
            learning_rate=0.0001,
            paddlex_learning_rate=0.1,
            description="PP-LCNet x1.0 backbone with an ML-Decoder head: the fastest, for CPU and edge.",
        ),
        ModelInfo(
            name="PP-HGNetV2-B0_ML",
            family="PP-HGNetV2",
            builder=_B + "build_pp_hgnetv2_b0_ml",
            in_channels=2048,
            coco_map=80.98,
            size_mb=39.6,
            total_params=11_171_934,
            batch_size=64,
            learning_rate=0.0001,
            paddlex_learning_rate=0.0008,
            description="PP-HGNetV2-B0 backbone with an ML-Decoder head: small and GPU-friendly.",
        ),
        ModelInfo(
            name="PP-HGNetV2-B4_ML",
            family="PP-HGNetV2",
            builder=_B + "build_pp_hgnetv2_b4_ml",
            in_channels=2048,
            coco_map=87.96,
            size_mb=88.5,
            total_params=25_005_488,
            batch_size=64,
            learning_rate=0.0001,
            paddlex_learning_rate=0.05,
            description="PP-HGNetV2-B4 backbone with an ML-Decoder head: balanced accuracy and speed.",
        ),
        ModelInfo(
            name="PP-HGNetV2-B6_ML",
            family="PP-HGNetV2",
            builder=_B + "build_pp_hgnetv2_b6_ml",
            in_channels=2048,
            coco_map=91.25,
            size_mb=286.5,
            total_params=80_586_304,
            batch_size=16,
            learning_rate=0.0001,
            paddlex_learning_rate=0.05,
            description="PP-HGNetV2-B6 backbone with an ML-Decoder head: the most accurate.",
        ),
        ModelInfo(
            name="ResNet50_ML",
            family="ResNet",
            builder=_B + "build_resnet50_ml",
            in_channels=2048,
            coco_map=83.50,
            size_mb=108.9,
            total_params=30_773_264,
            batch_size=64,
            learning_rate=0.0001,
            paddlex_learning_rate=0.1,
            description="ResNet50 (vb) backbone with an ML-Decoder head.",
        ),
        ModelInfo(
            name="CLIP_vit_base_patch16_448_ML",
            family="CLIP-ViT",
            builder=_B + "build_clip_vit_base_patch16_448_ml",
            in_channels=768,
            coco_map=89.15,
            size_mb=325.6,
            total_params=92_421_712,
            batch_size=16,
            learning_rate=0.00005,
            paddlex_learning_rate=0.0003,
            use_amp=False,
            description="CLIP ViT-B/16 at 448 px with an ML-Decoder head.",
        ),
        ModelInfo(
            name="SmallCNN_ML",
            family="SmallCNN",
            builder=_B + "build_small_cnn_ml",
            in_channels=128,
            coco_map=None,
            size_mb=0.4,
            total_params=104_240,
            batch_size=16,
            learning_rate=0.003,
            paddlex_learning_rate=None,
            input_size=64,
            epochs=30,
            official=False,
            description="mlcls's own 3-block CNN for small images (not a PaddleX model, no official weights): "
            "learns from scratch on small data; demos and tests.",
        ),
        ModelInfo(
            name="SmallCNN",
            family="SmallCNN",
            builder="mlcls_cli.models.backbones.small_cnn:build_small_cnn",
            in_channels=128,
            coco_map=None,
            size_mb=0.4,
            total_params=222_920,
            batch_size=16,
            learning_rate=0.003,
            paddlex_learning_rate=None,
            input_size=64,
            epochs=30,
            official=False,
            task=TASK_CLS,
            description="mlcls's own 3-block CNN for small images, single-label (not a PaddleX model, no "
            "official weights): learns from scratch on small data; demos and tests.",
        ),
    )
}


def describe_defaults(field_name: str, fmt: str = "{}", *, default_model: str = "PP-LCNet_x1_0_ML") -> str:
    """A model attribute's value across the zoo, short enough for a help text.

    "20 (30 for SmallCNN_ML, SmallCNN)" when few models differ from the common value;
    otherwise the default model's value and where to read the others.
    """
    from collections import Counter

    values = {name: fmt.format(getattr(info, field_name)) for name, info in MODELS.items()}
    common, _ = Counter(values.values()).most_common(1)[0]
    others = [f"{value} for {name}" for name, value in values.items() if value != common]
    if not others:
        return common
    if len({v for v in values.values() if v != common}) == 1 and len(others) <= 4:
        value = next(v for v in values.values() if v != common)
        return f"{common} ({value} for {', '.join(n for n, v in values.items() if v == value)})"
    return f"{values[default_model]} for {default_model}; each model's own: `mlcls get-config MODEL`"


def model_names(task: str | None = None) -> list[str]:
    """The zoo's model names in listing order (of one task when ``task`` is given)."""
    return [name for name, info in MODELS.items() if task is None or info.task == task]


def suggest_name(
    name: str, candidates: Sequence[str], fallback: str = "run `mlcls models` to list the zoo"
) -> str:
    """A hint for an unknown name: the same name in another case, the names it begins (a family
    such as ``PP-LCNet``), or the closest spellings."""
    lowered = name.strip().lower()
    same = [c for c in candidates if c.lower() == lowered]
    if same:
        return f"did you mean {same[0]!r}?"
    family = [c for c in candidates if lowered and c.lower().startswith(lowered)]
    if len(family) > 1:
        shown = ", ".join(family[:6]) + (f" and {len(family) - 6} more" if len(family) > 6 else "")
        return f"{len(family)} names begin with {name!r}: {shown}"
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
    if family and family[0] not in close:
        close.insert(0, family[0])
    if not close:
        return fallback
    return (
        f"did you mean {close[0]!r}?"
        if len(close) == 1
        else "did you mean " + " or ".join(map(repr, close)) + "?"
    )


def get_model_info(name: str) -> ModelInfo:
    """Return the metadata of ``name`` or raise a usage error with a suggestion."""
    try:
        return MODELS[name]
    except KeyError:
        raise UsageError(f"unknown model {name!r}", hint=suggest_name(name, list(MODELS))) from None


def _register_single_label() -> None:
    from mlcls_cli.models.registry_cls import single_label_models

    for info in single_label_models():
        MODELS[info.name] = info


_register_single_label()
