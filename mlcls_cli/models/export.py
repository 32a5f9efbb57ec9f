"""Export a model to a PaddleX-compatible inference package and locate the files of one.

A package is a folder holding the static graph (``inference.json``, or the
legacy ``inference.pdmodel``), the weights (``inference.pdiparams``) and
``inference.yml`` (preprocessing and label list), and optionally ``inference.onnx``
(the same graph converted by paddle2onnx, for ONNX Runtime and OpenVINO). The
exported graph outputs probabilities ``[N, num_classes]`` for an input named ``x``:
per-class sigmoids for multi-label models, a softmax for single-label ones.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mlcls_cli.errors import ConfigError, InputMissingError, IOFailure, UsageError
from mlcls_cli.models.registry import IMAGENET_MEAN, IMAGENET_STD, TASK_ML
from mlcls_cli.utils.atomic import replace_dir

MODEL_STEM = "inference"
GRAPH_FILES = ("inference.json", "inference.pdmodel")
PARAMS_FILE = "inference.pdiparams"
CONFIG_FILE = "inference.yml"
ONNX_FILE = "inference.onnx"
#: Every file an export may write; a folder holding only these can be replaced.
PACKAGE_FILES = frozenset({*GRAPH_FILES, PARAMS_FILE, "inference.pdiparams.info", CONFIG_FILE, ONNX_FILE})


def inference_config(
    *,
    model_name: str,
    label_list: Sequence[str],
    input_size: int = 448,
    threshold: float = 0.5,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    task: str = TASK_ML,
    resize_short: int | None = None,
    resize_backend: str = "pil",
    interpolation: str = "bilinear",
    topk: int = 5,
) -> dict[str, Any]:
    """The ``inference.yml`` content, keys in the order the PaddleClas exporter writes them.

    Multi-label: resize to ``input_size`` and ``MultiLabelThreshOutput {threshold,
    label_list}``. Single-label (``task``): resize the short side to ``resize_short``,
    centre-crop ``input_size`` and ``Topk {topk, label_list}``; an OpenCV-style bilinear
    resize is written, as PaddleClas writes it, without backend and interpolation keys.
    """
    if task == TASK_ML or resize_short is None:
        resize: dict[str, Any] = {
            "backend": resize_backend,
            "interpolation": interpolation,
            "size": int(input_size),
        }
        ops: list[dict[str, Any]] = [{"ResizeImage": resize}]
    else:
        resize = {"resize_short": int(resize_short)}
        if resize_backend != "cv2" or interpolation != "bilinear":
            resize = {"backend": resize_backend, "interpolation": interpolation, **resize}
        ops = [{"ResizeImage": resize}, {"CropImage": {"size": int(input_size)}}]
    ops += [
        {
            "NormalizeImage": {
                "channel_num": 3,
                "mean": [float(v) for v in mean],
                "order": "",
                "scale": 1.0 / 255.0,
                "std": [float(v) for v in std],
            }
        },
        {"ToCHWImage": None},
    ]
    labels = [str(n) for n in label_list]
    if task == TASK_ML:
        post: dict[str, Any] = {
            "MultiLabelThreshOutput": {"threshold": float(threshold), "label_list": labels}
        }
    else:
        post = {"Topk": {"topk": int(topk), "label_list": labels}}
    return {"Global": {"model_name": model_name}, "PreProcess": {"transform_ops": ops}, "PostProcess": post}


def dump_inference_config(config: dict[str, Any]) -> str:
    """Render an inference config as block-style YAML, keeping key order and non-ASCII text."""
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _sigmoid(x: Any) -> Any:
    """Sigmoid that also traces under the legacy static graph (no sigmoid/exp binding there in paddle 3.3)."""
    import paddle
    from paddle.framework import in_dynamic_or_pir_mode
    from paddle.nn import functional as F

    if in_dynamic_or_pir_mode():
        return F.sigmoid(x)
    # sigmoid(x) = softmax([0, x])[1]
    pair = paddle.concat([paddle.zeros_like(x).unsqueeze(-1), x.unsqueeze(-1)], axis=-1)
    return F.softmax(pair, axis=-1)[..., 1]


def _with_probabilities(model: Any, task: str) -> Any:
    from paddle import nn
    from paddle.nn import functional as F

    class _ProbabilityModel(nn.Layer):
        """What the exported graph computes: ``sigmoid(logits)`` (multi-label) or ``softmax`` (single-label)."""

        def __init__(self, base_model: nn.Layer) -> None:
            super().__init__()
            self.base_model = base_model

        def forward(self, x: Any) -> Any:
            logits = self.base_model(x)
            return _sigmoid(logits) if task == TASK_ML else F.softmax(logits, axis=-1)

    return _ProbabilityModel(model)


def package_preprocessing(model_name: str, input_size: int) -> dict[str, Any]:
    """The resize settings :func:`inference_config` gets for ``model_name`` exported at ``input_size``.

    Single-label zoo models keep their resize-then-crop ratio (e.g. 256 -> 224) at the new
    size, with their resampler; multi-label and unknown models resize straight to the size.
    """
    info = _registry_entry(model_name)
    if info is None or info.resize_short is None:
        return {}
    return {
        "resize_short": max(input_size, round(input_size * info.resize_short / info.input_size)),
        "resize_backend": info.resize_backend,
        "interpolation": info.interpolation,
    }


def preprocessing_ops(model_name: str, input_size: int) -> list[dict[str, Any]]:
    """The ``PreProcess.transform_ops`` an export of ``model_name`` at ``input_size`` writes."""
    info = _registry_entry(model_name)
    config = inference_config(
        model_name=model_name,
        label_list=["_"],
        input_size=input_size,
        task=info.task if info is not None else TASK_ML,
        **package_preprocessing(model_name, input_size),
    )
    return config["PreProcess"]["transform_ops"]


def _registry_entry(model_name: str) -> Any:
    """The registry entry of ``model_name``, or None for a name the zoo does not know."""
    from mlcls_cli.models.registry import MODELS

    return MODELS.get(model_name)


def _check_output_width(model: Any, input_size: int, num_labels: int) -> None:
    """Run one zero image through ``model`` and compare its class count with the label list."""
    import paddle

    with paddle.no_grad():
        out = model(paddle.zeros([1, 3, input_size, input_size], dtype="float32"))
    width = int(out.shape[-1])
    if width != num_labels:
        raise UsageError(
            f"the model outputs {width} classes but the label list has {num_labels} names",
            hint="export with the label.txt of the dataset the weights were trained on",
        )


def _save_graph(layer: Any, spec: list[Any], prefix: str, legacy_format: bool) -> None:
    """Trace ``layer`` and write ``<prefix>.json`` (PIR) or ``<prefix>.pdmodel`` (legacy) plus the weights."""
    import paddle

    if not legacy_format:
        paddle.jit.save(paddle.jit.to_static(layer, input_spec=spec, full_graph=True), prefix)
        return
    try:
        with paddle.pir_utils.OldIrGuard():
            paddle.jit.save(paddle.jit.to_static(layer, input_spec=spec, full_graph=True), prefix)
    except TypeError as exc:
        # paddle 3.x binds some operators (e.g. paddle.matmul, F.sigmoid) for dygraph and PIR only.
        if "got Variable" not in str(exc):
            raise
        op = str(exc).strip().splitlines()[-1].split("(InvalidType)")[-1].split("(")[0].strip()
        raise UsageError(
            f"this model cannot be exported in the legacy .pdmodel format with paddle {paddle.__version__}: "
            f"operator {op or '?'} has no legacy static-graph support",
            hint="export in the default format (inference.json), which PaddleX 3 and paddle.inference 3 load",
        ) from None


def check_export_target(out_dir: Path) -> None:
    """Refuse (exit 2) an export target that is a file, or a folder holding anything but a previous package."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(
            f"export target {out_dir} exists and is not a folder", hint="choose another output folder"
        )
    if out_dir.is_dir():
        others = sorted(p.name for p in out_dir.iterdir() if p.name not in PACKAGE_FILES)
        if others:
            shown = ", ".join(others[:5]) + (" ..." if len(others) > 5 else "")
            raise UsageError(
                f"export folder {out_dir} already holds other files ({shown})",
                hint="export into a new or empty folder; only a previous inference package is replaced",
            )


def require_converter() -> None:
    """Raise BackendUnavailableError (69) before any work when paddle2onnx is not installed."""
    from mlcls_cli.inference.backends import EXTRA, BackendUnavailableError, installed

    if not installed("paddle2onnx"):
        raise BackendUnavailableError(
            "writing inference.onnx needs paddle2onnx, which is not installed", hint=EXTRA
        )


def _add_onnx(staged: Path, out_dir: Path) -> None:
    """Convert the staged package's graph into ``inference.onnx`` beside it (checked against Paddle Inference).

    A failure names ``out_dir`` (not the hidden staging folder) and says it was left unchanged.
    """
    from mlcls_cli.inference.convert import ConversionError, convert_to_onnx
    from mlcls_cli.inference.package import InferencePackage

    try:
        convert_to_onnx(InferencePackage.open(staged), staged / ONNX_FILE)
    except ConversionError as exc:
        state = "left as it was" if out_dir.exists() else "not created"
        raise ConversionError(
            f"cannot add {ONNX_FILE} to {out_dir}: " + exc.message.replace(str(staged), str(out_dir)),
            hint=f"nothing was written ({out_dir} {state}); export without ONNX (--format paddle, "
            "run with --backend paddle); --debug shows the converter's log",
        ) from exc


def export_model(
    model: Any,
    out_dir: str | os.PathLike[str],
    *,
    model_name: str,
    label_list: Sequence[str],
    input_size: int = 448,
    threshold: float = 0.5,
    legacy_format: bool = False,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    onnx: bool = False,
) -> Path:
    """Export ``model`` (logits) as an inference package in ``out_dir``; returns that folder.

    The graph computes ``sigmoid(model(x))`` (multi-label) or ``softmax(model(x))``
    (single-label: the task and preprocessing come from the registry entry of
    ``model_name``) for ``x`` float32 ``[N, 3, input_size, input_size]``.
    ``legacy_format`` writes ``inference.pdmodel`` (pre-PIR) instead of ``inference.json``.
    ``onnx`` adds ``inference.onnx``, converted by paddle2onnx and checked against Paddle
    Inference (:func:`mlcls_cli.inference.convert.convert_to_onnx`; its ConversionError,
    exit 70, when that fails). The package is assembled in a temporary folder beside
    ``out_dir`` and renamed into place, so an interrupted or failed export never leaves a
    partial package and leaves ``out_dir`` as it was. ``out_dir`` may be absent, empty,
    or a previous package (replaced); anything else is refused.
    """
    from paddle.static import InputSpec

    labels = [str(n) for n in label_list]
    if not labels:
        raise UsageError("cannot export with an empty label list", hint="pass the dataset's label names")
    if input_size < 1:
        raise UsageError(f"input size must be positive, got {input_size}")
    if not 0.0 <= threshold <= 1.0:
        raise UsageError(f"threshold must be within [0, 1], got {threshold}")
    out_dir = Path(out_dir)
    check_export_target(out_dir)
    if onnx:
        require_converter()

    was_training = model.training
    model.eval()
    _check_output_width(model, min(input_size, 64), len(labels))
    info = _registry_entry(model_name)
    task = info.task if info is not None else TASK_ML
    wrapped = _with_probabilities(model, task)
    wrapped.eval()
    spec = [InputSpec(shape=[None, 3, input_size, input_size], dtype="float32", name="x")]
    preprocessing = package_preprocessing(model_name, input_size)
    config_text = dump_inference_config(
        inference_config(
            model_name=model_name,
            label_list=labels,
            input_size=input_size,
            threshold=threshold,
            mean=mean,
            std=std,
            task=task,
            **preprocessing,
        )
    )

    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.export-", dir=out_dir.parent))
    except OSError as exc:
        raise IOFailure(f"cannot write beside {out_dir}: {exc.strerror or exc}") from exc
    try:
        _save_graph(wrapped, spec, str(staged / MODEL_STEM), legacy_format)
        (staged / CONFIG_FILE).write_text(config_text, encoding="utf-8")
        find_model_files(staged)  # the graph and weights must both be there
        if onnx:
            _add_onnx(staged, out_dir)
        os.chmod(staged, 0o755)  # mkdtemp creates 0700
        replace_dir(staged, out_dir)
    except OSError as exc:
        raise IOFailure(f"cannot write the inference package {out_dir}: {exc.strerror or exc}") from exc
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
        if was_training:
            model.train()
    return out_dir


def find_model_files(model_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return ``(graph file, params file)`` of a package, preferring ``inference.json`` over ``.pdmodel``."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise InputMissingError(
            f"inference model folder {folder} does not exist",
            hint="pass the folder holding inference.json (or .pdmodel), inference.pdiparams and inference.yml",
        )
    graph = next((folder / name for name in GRAPH_FILES if (folder / name).is_file()), None)
    params = folder / PARAMS_FILE
    missing = [
        name
        for name, ok in (("inference.json or inference.pdmodel", graph), (PARAMS_FILE, params.is_file()))
        if not ok
    ]
    if missing:
        raise InputMissingError(
            f"{folder} is not an inference package: missing {' and '.join(missing)}",
            hint="point at a trained model's inference folder (e.g. best_model/inference) or an unpacked <model>_infer package",
        )
    assert graph is not None
    return graph, params


def read_inference_config(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``inference.yml`` from a package folder (or the file itself) as a dict."""
    path = Path(model_dir)
    if path.is_dir():
        path = path / CONFIG_FILE
    if not path.is_file():
        raise InputMissingError(
            f"{path} does not exist",
            hint="an inference package needs inference.yml beside inference.pdiparams",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise IOFailure(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}", hint="re-export the model") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} does not hold a mapping", hint="re-export the model")
    return data
