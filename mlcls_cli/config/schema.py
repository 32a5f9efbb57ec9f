"""The typed key schema of module and pipeline configs.

Every key a config may hold is listed here with its type; the merger rejects
anything else with a "did you mean" hint. Keys PaddleX reads but mlcls does not
use are accepted (so PaddleX files load unchanged) and flagged as ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TRUE_WORDS = {"true", "t", "yes", "y", "on", "1"}
FALSE_WORDS = {"false", "f", "no", "n", "off", "0"}


class SpecError(ValueError):
    """A value does not fit its key's type."""


@dataclass(frozen=True)
class Spec:
    """Type of one config key: ``kind`` in str/int/float/bool/any/threshold/list, plus options.

    ``list`` is a list of strings (``choices`` restricts them); a single string, or one
    with comma-separated items, is taken as that list.
    """

    kind: str
    nullable: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    ignored: bool = False  # accepted for PaddleX compatibility, not used by mlcls
    subtree: bool = False  # any nested mapping is accepted below this key

    def describe(self) -> str:
        """Human description of the expected type."""
        if self.kind == "list":
            items = f"any of {', '.join(self.choices)}" if self.choices else "strings"
            return f"a list of {items}" + (" or null" if self.nullable else "")
        text = (
            f"one of {', '.join(self.choices)}"
            if self.choices
            else {
                "str": "a string",
                "int": "an integer",
                "float": "a number",
                "bool": "true or false",
                "any": "any value",
                "threshold": "a number, a list of numbers, a mapping with a 'default' key, or a thresholds.json path",
            }[self.kind]
        )
        if self.minimum is not None:
            text += f" >= {self.minimum:g}"
        return text + (" or null" if self.nullable else "")

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this type, or raise :class:`SpecError`."""
        if value is None:
            if self.nullable or self.kind == "any":
                return None
            raise SpecError(f"must be {self.describe()}, got null")
        if self.kind == "any":
            return value
        if self.kind == "str":
            if isinstance(value, (dict, list)):
                raise SpecError(f"must be {self.describe()}, got {type(value).__name__}")
            value = _scalar_text(value)
            if self.choices:
                match = {c.lower(): c for c in self.choices}.get(value.lower())
                if match is None:
                    raise SpecError(f"must be {self.describe()}, got {value!r}")
                value = match
            return value
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, (str, int)) and str(value).strip().lower() in TRUE_WORDS | FALSE_WORDS:
                return str(value).strip().lower() in TRUE_WORDS
            raise SpecError(f"must be {self.describe()}, got {value!r}")
        if self.kind == "int":
            if isinstance(value, bool):
                raise SpecError(f"must be {self.describe()}, got {value!r}")
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            elif isinstance(value, str):
                try:
                    value = int(value.strip())
                except ValueError:
                    raise SpecError(f"must be {self.describe()}, got {value!r}") from None
            if not isinstance(value, int):
                raise SpecError(f"must be {self.describe()}, got {value!r}")
            return self._check_min(value)
        if self.kind == "float":
            if isinstance(value, bool):
                raise SpecError(f"must be {self.describe()}, got {value!r}")
            if isinstance(value, str):
                try:
                    value = float(value.strip())  # YAML 1.1 reads "1e-4" as a string
                except ValueError:
                    raise SpecError(f"must be {self.describe()}, got {value!r}") from None
            if not isinstance(value, (int, float)):
                raise SpecError(f"must be {self.describe()}, got {value!r}")
            return self._check_min(float(value))
        if self.kind == "threshold":
            return _coerce_threshold(value, self)
        if self.kind == "list":
            return self._coerce_list(value)
        raise AssertionError(self.kind)

    def _coerce_list(self, value: Any) -> list[str]:
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for item in items:
            if isinstance(item, (dict, list)) or item is None:
                raise SpecError(f"must be {self.describe()}, got {value!r}")
            for part in _scalar_text(item).split(","):
                word = part.strip()
                if not word:
                    continue
                if self.choices:
                    match = {c.lower(): c for c in self.choices}.get(word.lower())
                    if match is None:
                        raise SpecError(f"must be {self.describe()}, got {word!r}")
                    word = match
                if word not in out:
                    out.append(word)
        return out

    def _check_min(self, value: float) -> Any:
        if self.minimum is not None and value < self.minimum:
            raise SpecError(f"must be {self.describe()}, got {value!r}")
        return value


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _coerce_threshold(value: Any, spec: Spec) -> Any:
    if isinstance(value, bool):
        raise SpecError(f"must be {spec.describe()}, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value  # a thresholds.json path; checked when it is used
    if isinstance(value, list):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise SpecError(f"must be {spec.describe()}; a list must hold numbers only")
        return [float(v) for v in value]
    if isinstance(value, dict):
        if value.get("default") is None:
            raise SpecError("a threshold mapping needs a 'default' key, e.g. {default: 0.5, 3: 0.7}")
        return value
    raise SpecError(f"must be {spec.describe()}, got {type(value).__name__}")


S = Spec
_ignored = dict(ignored=True)
#: Inference backends and precisions (mlcls_cli.inference.backends; repeated here to keep this module light).
_BACKENDS = ("auto", "paddle", "onnxruntime", "openvino", "tensorrt")
_PRECISIONS = ("fp32", "bf16")
#: Experiment trackers of `mlcls train --logger` (mlcls_cli.engine.loggers.LOGGERS).
_LOGGERS = ("visualdl", "tensorboard", "mlflow")
#: Package formats of `mlcls export` and of training's final export (mlcls_cli.engine.exporter.EXPORT_FORMATS).
_EXPORT_FORMATS = ("paddle", "onnx", "all")

MODULE_SCHEMA: dict[str, Spec] = {
    "Global.model": S("str"),
    "Global.mode": S("str", choices=("check_dataset", "train", "evaluate", "export", "predict")),
    "Global.dataset_dir": S("str", nullable=True),
    "Global.device": S("str", nullable=True),
    "Global.output": S("str"),
    # several machines (`mlcls train --nnodes/--node-rank/--master`); node rank and master are checked by
    # mlcls_cli.engine.distributed.resolve_nodes (rank < nnodes, HOST:PORT) when training starts
    "Global.nnodes": S("int", nullable=True, minimum=1),
    "Global.node_rank": S("int", nullable=True, minimum=0),
    "Global.master": S("str", nullable=True),
    "Global.export_with_pir": S("bool", nullable=True, **_ignored),
    "Global.loggers": S("list", nullable=True, choices=_LOGGERS),  # mlcls: experiment trackers of `train`
    "CheckDataset.convert.enable": S("bool"),
    "CheckDataset.convert.src_dataset_type": S("str", nullable=True, choices=("COCO",)),
    "CheckDataset.split.enable": S("bool"),
    "CheckDataset.split.train_percent": S("int", nullable=True),
    "CheckDataset.split.val_percent": S("int", nullable=True),
    "Train.num_classes": S("int", nullable=True, minimum=1),
    "Train.epochs_iters": S("int", minimum=1),
    "Train.batch_size": S("int", minimum=1),
    "Train.learning_rate": S("float", minimum=0),
    "Train.pretrain_weight_path": S("str", nullable=True),
    "Train.warmup_steps": S("int", minimum=0),
    "Train.resume_path": S("str", nullable=True),
    "Train.log_interval": S("int", minimum=1),
    "Train.eval_interval": S("int", minimum=1),
    "Train.save_interval": S("int", minimum=1),
    "Train.keep_epoch_checkpoints": S("int", nullable=True, minimum=0),
    "Train.early_stop_patience": S("int", nullable=True, minimum=0),
    "Train.early_stop_min_delta": S("float", minimum=0),
    "Train.image_size": S("int", minimum=16),
    "Train.nproc": S("int", nullable=True, minimum=1),
    "Train.seed": S("int", minimum=0),
    "Train.num_workers": S("int", nullable=True, minimum=0),
    "Train.ema_decay": S("float", nullable=True, minimum=0),
    "Train.ema_warmup_tau": S("float", minimum=0),
    "Train.use_amp": S("bool", nullable=True),
    "Train.weight_decay": S("float", nullable=True, minimum=0),
    "Train.cutout": S("bool"),
    "Train.randaugment": S(
        "any", nullable=True
    ),  # bool (multi-label); a magnitude 1..9 or false (single-label)
    # single-label recipe (engine/recipes.py); null = the model family's value
    "Train.optimizer": S("str", nullable=True, choices=("momentum", "adamw")),
    "Train.schedule": S("str", nullable=True, choices=("cosine", "constant")),
    "Train.label_smoothing": S("float", nullable=True, minimum=0),
    "Train.random_erasing": S("float", nullable=True, minimum=0),
    "Train.mixup_alpha": S("float", nullable=True, minimum=0),
    "Train.cutmix_alpha": S("float", nullable=True, minimum=0),
    "Train.interpolation": S("str", nullable=True, choices=("bilinear", "bicubic")),
    "Train.crop_scale_min": S("float", nullable=True, minimum=0),
    "Train.loss_gamma_neg": S("float", minimum=0),
    "Train.loss_gamma_pos": S("float", minimum=0),
    "Train.loss_clip": S("float", minimum=0),
    "Train.dy2st": S("bool", nullable=True),
    "Train.amp": S("str", choices=("OFF", "O1", "O2"), **_ignored),
    "Train.uniform_output_enabled": S("bool", **_ignored),
    "Train.dist_ips": S("str", nullable=True, **_ignored),
    "Train.basic_config_path": S("str", nullable=True, **_ignored),
    "Evaluate.weight_path": S("str", nullable=True),
    "Evaluate.log_interval": S("int", minimum=1),
    "Evaluate.backend": S("str", nullable=True, choices=_BACKENDS),
    "Evaluate.precision": S("str", nullable=True, choices=_PRECISIONS),
    "Evaluate.basic_config_path": S("str", nullable=True, **_ignored),
    "Export.weight_path": S("str", nullable=True),
    "Export.format": S("str", choices=_EXPORT_FORMATS),
    "Export.basic_config_path": S("str", nullable=True, **_ignored),
    "Predict.batch_size": S("int", minimum=1),
    "Predict.model_dir": S("str", nullable=True),
    "Predict.input": S("any"),
    "Predict.threshold": S("threshold", nullable=True),
    "Predict.backend": S("str", nullable=True, choices=_BACKENDS),
    "Predict.precision": S("str", nullable=True, choices=_PRECISIONS),
    "Predict.kernel_option": S("any", subtree=True, **_ignored),
    "Predict.use_hpip": S(
        "bool", nullable=True
    ),  # PaddleX: true = its fast backends; mlcls: auto (the default)
    "Predict.hpi_config": S("any", subtree=True, **_ignored),
    "Predict.genai_config": S("any", subtree=True, **_ignored),
    "Benchmark": S("any", subtree=True, **_ignored),
}

_SUB = "SubModules.ImageMultiLabelClassification."
PIPELINE_SCHEMA: dict[str, Spec] = {
    "pipeline_name": S(
        "str", choices=("image_multilabel_classification", "multi_label_image_classification")
    ),
    "device": S("str", nullable=True),
    _SUB + "module_name": S("str", choices=("image_multilabel_classification",)),
    _SUB + "model_name": S("str"),
    _SUB + "model_dir": S("str", nullable=True),
    _SUB + "batch_size": S("int", minimum=1),
    _SUB + "threshold": S("threshold", nullable=True),
    _SUB + "backend": S("str", nullable=True, choices=_BACKENDS),
    _SUB + "precision": S("str", nullable=True, choices=_PRECISIONS),
    _SUB + "use_hpip": S("bool", nullable=True),
    _SUB + "hpi_config": S("any", subtree=True, **_ignored),
    _SUB + "genai_config": S("any", subtree=True, **_ignored),
    "use_hpip": S("bool", nullable=True),
    "hpi_config": S("any", subtree=True, **_ignored),
    "Serving.visualize": S("bool"),
    # mlcls only: dynamic batching of `mlcls serve` (its --batch-max-size and --batch-wait-ms beat these)
    "Serving.batch_max_size": S("int", nullable=True, minimum=1),
    "Serving.batch_wait_ms": S("float", nullable=True, minimum=0),
    "Serving.extra": S("any", subtree=True, **_ignored),
    # the 3.0-beta layout (Global.pipeline_name + Pipeline.model) is accepted too
    "Global.pipeline_name": S(
        "str", choices=("image_multilabel_classification", "multi_label_image_classification")
    ),
    "Global.input": S("any"),
    "Pipeline.model": S("str"),
    "Pipeline.batch_size": S("int", minimum=1),
    "Pipeline.device": S("str", nullable=True),
    "Pipeline.threshold": S("threshold", nullable=True),
}

_CLS = "SubModules.ImageClassification."
#: The single-label pipeline ``image_classification`` (PaddleX's keys; ``topk`` instead of ``threshold``).
CLS_PIPELINE_SCHEMA: dict[str, Spec] = {
    "pipeline_name": S("str", choices=("image_classification",)),
    "device": S("str", nullable=True),
    _CLS + "module_name": S("str", choices=("image_classification",)),
    _CLS + "model_name": S("str"),
    _CLS + "model_dir": S("str", nullable=True),
    _CLS + "batch_size": S("int", minimum=1),
    _CLS + "topk": S("int", nullable=True, minimum=1),
    _CLS + "backend": S("str", nullable=True, choices=_BACKENDS),
    _CLS + "precision": S("str", nullable=True, choices=_PRECISIONS),
    _CLS + "use_hpip": S("bool", nullable=True),
    _CLS + "hpi_config": S("any", subtree=True, **_ignored),
    _CLS + "genai_config": S("any", subtree=True, **_ignored),
    "use_hpip": S("bool", nullable=True),
    "hpi_config": S("any", subtree=True, **_ignored),
    "Serving.visualize": S("bool"),
    "Serving.extra": S("any", subtree=True, **_ignored),
    # the 3.0-beta layout (Global.pipeline_name + Pipeline.model) is accepted too
    "Global.pipeline_name": S("str", choices=("image_classification",)),
    "Global.input": S("any"),
    "Pipeline.model": S("str"),
    "Pipeline.batch_size": S("int", minimum=1),
    "Pipeline.device": S("str", nullable=True),
    "Pipeline.topk": S("int", nullable=True, minimum=1),
}

#: Each packaged pipeline's schema, by its canonical name.
PIPELINE_SCHEMAS: dict[str, dict[str, Spec]] = {
    "image_multilabel_classification": PIPELINE_SCHEMA,
    "image_classification": CLS_PIPELINE_SCHEMA,
}
