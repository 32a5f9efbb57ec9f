"""`mlcls export` (and `mlcls train -o Export.format=onnx`): packages from weights that every backend runs alike.

Two families: SmallCNN_ML from a real (tiny) training run, and PP-LCNet_x1_0_ML from
80-class weights served at the official pretrained URL by a local mirror. Each package
is run by Paddle Inference, ONNX Runtime and OpenVINO, which must agree within 1e-4.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from mlcls_cli.models.coco import COCO80_LABELS
from tests.datasets import MadeDataset, make_dataset
from tests.hub.conftest import hub_env, zoo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.paddle

TINY = [
    "--model",
    "SmallCNN_ML",
    "--no-pretrained",
    "--device",
    "cpu",
    "--image-size",
    "32",
    "--batch-size",
    "2",
]
BACKENDS = ("paddle", "onnxruntime", "openvino")


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@dataclasses.dataclass
class Run:
    """A finished one-epoch SmallCNN_ML training with ``-o Export.format=onnx``."""

    out: Path
    data: MadeDataset
    summary: dict[str, Any]

    @property
    def best(self) -> Path:
        return self.out / "best_model" / "best_model.pdparams"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    base = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLCLS_HOME", str(base / "home"))
        mp.setenv("MLCLS_NO_PROGRESS", "1")
        data = make_dataset(base / "ds", classes=["sky", "sea", "été"], train=6, val=3)
        out = base / "out"
        result = _invoke(
            "train",
            str(data.root),
            *TINY,
            "--epochs",
            "1",
            "-O",
            str(out),
            "-o",
            "Export.format=onnx",
            "--json",
        )
        assert result.exit_code == 0, result.output
        yield Run(out=out, data=data, summary=json.loads(result.stdout))


def _images(data: MadeDataset, package: Path) -> np.ndarray:
    """The dataset's images, preprocessed as ``package`` says."""
    from PIL import Image

    from mlcls_cli.inference.package import InferencePackage
    from mlcls_cli.inference.preprocess import Preprocessor

    pre = Preprocessor.from_config(InferencePackage.open(package).config)
    return np.stack([pre(Image.open(data.image(rel)).convert("RGB")) for rel, _ in data.train + data.val])


def _backends_agree(package: Path, batch: np.ndarray) -> np.ndarray:
    """Run ``batch`` on every backend; each must agree with Paddle Inference within 1e-4. Returns its output."""
    from mlcls_cli.inference.convert import cached_onnx_path
    from mlcls_cli.inference.package import InferencePackage
    from mlcls_cli.inference.predictor import Predictor

    outputs = {name: Predictor(package, device="cpu", backend=name).run(batch) for name in BACKENDS}
    for name in BACKENDS[1:]:
        np.testing.assert_allclose(outputs[name], outputs["paddle"], rtol=0, atol=1e-4, err_msg=name)
    assert not cached_onnx_path(InferencePackage.open(package)).exists()  # the package's own graph ran
    return outputs["paddle"]


def _dygraph(model_name: str, weights: Path, classes: int, batch: np.ndarray) -> np.ndarray:
    import paddle

    from mlcls_cli.models import build_model
    from mlcls_cli.models.weights import load_weights

    model = build_model(model_name, classes)
    load_weights(model, weights)
    model.eval()
    with paddle.no_grad():
        return paddle.nn.functional.sigmoid(model(paddle.to_tensor(batch))).numpy()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _label_list(package: Path) -> list[str]:
    text = (package / "inference.yml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["PostProcess"]["MultiLabelThreshOutput"]["label_list"]


# ---------------------------------------------------------------- two families, every backend


def test_train_with_export_format_onnx_writes_inference_onnx(run: Run) -> None:
    package = run.out / "best_model" / "inference"
    assert run.summary["best"]["onnx"] == str(package / "inference.onnx")
    assert (package / "inference.onnx").is_file()
    record = json.loads((run.out / "train_result.json").read_text())["models"]["best"]
    assert record["onnx"] == "best_model/inference/inference.onnx"
    batch = _images(run.data, package)
    probs = _backends_agree(package, batch)
    np.testing.assert_allclose(probs, _dygraph("SmallCNN_ML", run.best, 3, batch), rtol=0, atol=1e-4)


def test_a_checkpoint_exports_with_its_model_size_and_names(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "pkg"
    result = _invoke(
        "export", "--weights", str(run.out / "epoch_1"), "--output", str(target), "--format", "all", "--json"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["model_name"], doc["image_size"], doc["num_classes"]) == ("SmallCNN_ML", 32, 3)
    assert doc["weights_file"] == str(run.out / "epoch_1" / "epoch_1.pdparams")
    assert doc["labels_from"] == str(run.out / "epoch_1" / "epoch_1.pdstates")
    assert doc["files"] == ["inference.json", "inference.onnx", "inference.pdiparams", "inference.yml"]
    assert _label_list(target) == ["sky", "sea", "été"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]
    batch = _images(run.data, target)
    probs = _backends_agree(target, batch)
    weights = run.out / "epoch_1" / "epoch_1.pdparams"
    np.testing.assert_allclose(probs, _dygraph("SmallCNN_ML", weights, 3, batch), rtol=0, atol=1e-4)


def test_legacy_format_with_onnx(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "pkg"
    result = _invoke("export", "-w", str(run.best), "-O", str(target), "--legacy", "-f", "onnx", "--json")
    assert result.exit_code == 0, result.output
    files = json.loads(result.stdout)["files"]
    assert "inference.pdmodel" in files and "inference.onnx" in files and "inference.json" not in files
    _backends_agree(target, _images(run.data, target))


def test_official_weights_by_url_get_the_coco_names(zoo, hub_env, tmp_path: Path) -> None:  # noqa: F811
    import paddle

    from mlcls_cli.hub.cache import pretrained_path
    from mlcls_cli.models import build_model
    from mlcls_cli.models.registry import get_model_info
    from mlcls_cli.models.weights import save_weights

    paddle.seed(11)
    weights = save_weights(build_model("PP-LCNet_x1_0_ML", 80), tmp_path / "official.pdparams")
    url = get_model_info("PP-LCNet_x1_0_ML").pretrained_url
    zoo.add_official(url, weights.read_bytes())

    target = tmp_path / "pkg"
    result = _invoke(
        "export", "--weights", url, "--image-size", "32", "--format", "onnx", "-O", str(target), "--json"
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model_name"] == "PP-LCNet_x1_0_ML" and doc["labels_from"].startswith("COCO-2017")
    assert _label_list(target) == list(COCO80_LABELS)
    assert pretrained_path("PP-LCNet_x1_0_ML").read_bytes() == weights.read_bytes()  # in the model cache
    batch = np.random.default_rng(0).uniform(-2.0, 2.5, (3, 3, 32, 32)).astype("float32")
    probs = _backends_agree(target, batch)
    np.testing.assert_allclose(probs, _dygraph("PP-LCNet_x1_0_ML", weights, 80, batch), rtol=0, atol=1e-4)

    # without --weights: Export.weight_path, the same official URL, now read from the cache
    again = _invoke("export", "--model", "PP-LCNet_x1_0_ML", "--image-size", "32", "-O", str(tmp_path / "p2"))
    assert again.exit_code == 0, again.output
    assert f"inference package: {tmp_path / 'p2'}" in again.stdout
    assert len(zoo.hits_for("PP-LCNet_x1_0_ML_pretrained.pdparams")) == 1


def test_official_single_label_weights_get_imagenet_names_and_topk(zoo, hub_env, tmp_path: Path) -> None:  # noqa: F811
    """A single-label zoo model: 1000-class weights at the official URL -> softmax graph, resize-crop, Topk."""
    import paddle

    from mlcls_cli.models import build_model
    from mlcls_cli.models.imagenet import imagenet1k_labels
    from mlcls_cli.models.registry import get_model_info
    from mlcls_cli.models.weights import load_weights, save_weights

    paddle.seed(3)
    weights = save_weights(build_model("PP-LCNet_x0_25", 1000), tmp_path / "official.pdparams")
    zoo.add_official(get_model_info("PP-LCNet_x0_25").pretrained_url, weights.read_bytes())
    target = tmp_path / "pkg"
    result = _invoke(
        "export",
        "--model",
        "PP-LCNet_x0_25",
        "--image-size",
        "64",
        "--format",
        "onnx",
        "-O",
        str(target),
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["labels_from"].startswith("ImageNet-1k")
    config = yaml.safe_load((target / "inference.yml").read_text(encoding="utf-8"))
    assert config["Global"]["model_name"] == "PP-LCNet_x0_25"
    ops = config["PreProcess"]["transform_ops"]
    assert ops[0] == {"ResizeImage": {"resize_short": 73}} and ops[1] == {
        "CropImage": {"size": 64}
    }  # 256:224
    assert ops[2]["NormalizeImage"]["scale"] == pytest.approx(1 / 255) and isinstance(
        ops[2]["NormalizeImage"]["scale"], float
    )
    topk = config["PostProcess"]["Topk"]
    assert topk["topk"] == 5 and topk["label_list"] == list(imagenet1k_labels())
    assert topk["label_list"][0] == "tench, Tinca tinca"
    batch = np.random.default_rng(1).uniform(-2.0, 2.5, (2, 3, 64, 64)).astype("float32")
    probs = _backends_agree(target, batch)
    model = build_model("PP-LCNet_x0_25", 1000)
    load_weights(model, weights)
    model.eval()
    with paddle.no_grad():
        expected = paddle.nn.functional.softmax(model(paddle.to_tensor(batch)), axis=-1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_paddlex_style_config_and_weight_path(run: Run, tmp_path: Path) -> None:
    config = yaml.safe_load(_invoke("get-config", "SmallCNN_ML").stdout)
    config["Global"]["dataset_dir"] = str(run.data.root)
    config["Train"]["image_size"] = 48
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    weights = shutil.copy(run.best, tmp_path / "plain.pdparams")  # no run records beside it
    result = _invoke(
        "export", "-c", str(tmp_path / "cfg.yaml"), "-o", f"Export.weight_path={weights}",
        "-o", f"Global.output={tmp_path / 'pkg'}", "-o", "Global.mode=export",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    package = yaml.safe_load((tmp_path / "pkg" / "inference.yml").read_text(encoding="utf-8"))
    assert package["Global"]["model_name"] == "SmallCNN_ML"
    assert package["PreProcess"]["transform_ops"][0]["ResizeImage"]["size"] == 48
    assert _label_list(tmp_path / "pkg") == ["sky", "sea", "été"]
    assert not (tmp_path / "pkg" / "inference.onnx").exists()  # Export.format: paddle


# ---------------------------------------------------------------- refusals: one message, one code, nothing written


@pytest.fixture
def previous(run: Run, tmp_path: Path) -> Path:
    """An earlier package in the export target, to prove a failed export leaves it alone."""
    target = tmp_path / "target" / "pkg"
    shutil.copytree(run.out / "best_model" / "inference", target)
    return target


def _refused(args: list[str], code: int, *phrases: str, target: Path) -> None:
    before = _snapshot(target)
    result = _invoke("export", *args, "--output", str(target))
    assert result.exit_code == code, result.output
    for phrase in phrases:
        assert phrase in result.output, result.output
    assert "Traceback" not in result.output
    assert _snapshot(target) == before
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no staged folder left


def test_weights_of_another_model_or_class_count_exit_78(run: Run, previous: Path, tmp_path: Path) -> None:
    _refused(
        ["--model", "PP-LCNet_x1_0_ML", "--weights", str(run.best)], 78,
        "do not fit PP-LCNet_x1_0_ML", "are they weights of another model?", target=previous,
    )  # fmt: skip
    labels = tmp_path / "labels.txt"
    labels.write_text("0 a\n1 b\n2 c\n3 d\n", encoding="utf-8")
    _refused(
        ["--weights", str(run.best), "--labels", str(labels)], 78,
        "have 3 classes but", "lists 4 names", "--labels", target=previous,
    )  # fmt: skip


def test_missing_weights_or_labels_exit_66(run: Run, previous: Path, tmp_path: Path) -> None:
    _refused(
        ["--model", "SmallCNN_ML", "--weights", str(tmp_path / "gone.pdparams")],
        66,
        "weights not found",
        target=previous,
    )
    _refused(
        ["--weights", str(run.best), "--labels", str(tmp_path / "gone.txt")],
        66,
        "label file not found",
        target=previous,
    )
    proc = subprocess.run(  # the real process exit status
        [sys.executable, "-m", "mlcls_cli", "export", "-m", "SmallCNN_ML", "-w", str(tmp_path / "x"), "-O", str(previous)],
        capture_output=True, text=True, timeout=120, env={**os.environ},
    )  # fmt: skip
    assert proc.returncode == 66 and "weights not found" in proc.stderr and proc.stdout == ""


def test_a_bad_format_is_a_usage_error(previous: Path) -> None:
    _refused(
        ["--model", "SmallCNN_ML", "--format", "tflite"], 2, "unknown export format 'tflite'", target=previous
    )


class _Unconvertible:
    """SmallCNN_ML whose graph holds lgamma, an operator paddle2onnx cannot convert (same weights layout)."""

    @staticmethod
    def build(num_classes: int) -> Any:
        import paddle

        from mlcls_cli.models.backbones.small_cnn import SmallCNNClassifier

        class Unconvertible(SmallCNNClassifier):
            def forward(self, x: Any) -> Any:
                features = self.backbone(x)
                return self.fc(features) + 0.0 * paddle.lgamma(features.abs() + 1.0).mean(
                    axis=1, keepdim=True
                )

        return Unconvertible(num_classes)


@pytest.fixture
def unconvertible(monkeypatch: pytest.MonkeyPatch) -> None:
    """SmallCNN_ML built as :class:`_Unconvertible` (the zoo entry points at it) for this test."""
    from mlcls_cli.models.registry import MODELS

    entry = dataclasses.replace(MODELS["SmallCNN_ML"], builder=f"{__name__}:build_unconvertible")
    monkeypatch.setitem(MODELS, "SmallCNN_ML", entry)


build_unconvertible = _Unconvertible.build


def test_a_converter_failure_exits_70_and_keeps_the_previous_package(
    run: Run, previous: Path, unconvertible: None
) -> None:
    _refused(
        ["--weights", str(run.best), "--format", "onnx"], 70,
        f"cannot add inference.onnx to {previous}: paddle2onnx could not convert",
        "unsupported operators", "nothing was written", target=previous,
    )  # fmt: skip


def test_a_converter_failure_at_the_end_of_training_keeps_the_model(
    unconvertible: None, tmp_path: Path
) -> None:
    data = make_dataset(tmp_path / "ds", classes=3, train=4, val=2)
    out = tmp_path / "out"
    result = _invoke(
        "train", str(data.root), *TINY, "--epochs", "1", "-O", str(out), "-o", "Export.format=onnx", "--json"
    )
    assert result.exit_code == 0, result.output
    best = json.loads(result.stdout)["best"]
    assert best["onnx"] is None and "paddle2onnx could not convert" in best["onnx_error"]
    assert "inference.onnx not written" in result.stderr and "mlcls export --weights" in result.stderr
    package = out / "best_model" / "inference"
    assert sorted(p.name for p in package.iterdir()) == [
        "inference.json",
        "inference.pdiparams",
        "inference.yml",
    ]
    assert "onnx" not in json.loads((out / "train_result.json").read_text())["models"]["best"]
    assert "without inference.onnx" in (out / "train.log").read_text(encoding="utf-8")


# ---------------------------------------------------------------- a damaged inference.onnx


def test_a_corrupt_inference_onnx_is_a_clear_error(run: Run, tmp_path: Path) -> None:
    package = shutil.copytree(run.out / "best_model" / "inference", tmp_path / "pkg")
    onnx = package / "inference.onnx"
    onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 2])
    image = str(run.data.image(run.data.val[0][0]))
    for backend, runtime in (("onnxruntime", "ONNX Runtime"), ("openvino", "OpenVINO")):
        result = _invoke(
            "predict", image, "--model-dir", str(package), "--backend", backend, "--device", "cpu"
        )
        assert result.exit_code == 78, result.output
        assert f"{runtime} cannot load {onnx}" in result.output
        assert "damaged or incomplete" in result.output and "Traceback" not in result.output
    assert (
        _invoke(
            "predict", image, "--model-dir", str(package), "--backend", "paddle", "--device", "cpu"
        ).exit_code
        == 0
    )
