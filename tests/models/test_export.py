"""Inference-package export: paddle.inference reproduces sigmoid(model(x)); inference.yml; file lookup."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from mlcls_cli.errors import ConfigError, InputMissingError, UsageError
from mlcls_cli.models.export import export_model, find_model_files, read_inference_config

SIZE = 64
LABELS = [f"class_{i}" for i in range(74)] + ["traffic light", "yes", "null", "3", "été", "狗"]


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def lcnet(paddle):
    from mlcls_cli.models import build_model

    paddle.seed(3)
    model = build_model("PP-LCNet_x1_0_ML", num_classes=80)
    model.eval()
    return model


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).uniform(-2, 2, (3, 3, SIZE, SIZE)).astype("float32")


@pytest.fixture(scope="module", params=[False, True], ids=["json", "legacy"])
def package(request, lcnet, tmp_path_factory) -> tuple[Path, bool]:
    legacy = request.param
    out = tmp_path_factory.mktemp("export") / ("legacy" if legacy else "pir")
    returned = export_model(
        lcnet,
        out,
        model_name="PP-LCNet_x1_0_ML",
        label_list=LABELS,
        input_size=SIZE,
        threshold=0.4,
        legacy_format=legacy,
    )
    assert returned == out
    return out, legacy


def _predict(package_dir: Path, batch: np.ndarray) -> tuple[np.ndarray, list[str]]:
    from paddle import inference

    model_file, params_file = find_model_files(package_dir)
    config = inference.Config(str(model_file), str(params_file))
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    names = predictor.get_input_names()
    handle = predictor.get_input_handle(names[0])
    handle.reshape(list(batch.shape))
    handle.copy_from_cpu(np.ascontiguousarray(batch))
    predictor.run()
    return predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu(), names


class _Tiny:
    """Builders of tiny layers (paddle imported lazily) for the fast failure-path tests."""

    @staticmethod
    def linear(paddle, classes: int = 2):
        class Tiny(paddle.nn.Layer):
            def __init__(self) -> None:
                super().__init__()
                self.fc = paddle.nn.Linear(3, classes)

            def forward(self, x):
                return self.fc(x.mean(axis=[2, 3]))

        return Tiny()

    @staticmethod
    def untraceable(paddle):
        class Untraceable(paddle.nn.Layer):
            """Runs eagerly but fails while being traced into a static graph."""

            def __init__(self) -> None:
                super().__init__()
                self.fc = paddle.nn.Linear(3, 2)

            def forward(self, x):
                if not paddle.in_dynamic_mode():
                    raise RuntimeError("simulated failure during export")
                return self.fc(x.mean(axis=[2, 3]))

        return Untraceable()

    @staticmethod
    def unconvertible(paddle):
        class Unconvertible(paddle.nn.Layer):
            """Exports fine, but uses lgamma, an operator paddle2onnx cannot convert."""

            def __init__(self) -> None:
                super().__init__()
                self.fc = paddle.nn.Linear(3, 2)

            def forward(self, x):
                return self.fc(paddle.lgamma(x.mean(axis=[2, 3]).abs() + 1.0))

        return Unconvertible()


# ---------------------------------------------------------------- exported graph


@pytest.mark.paddle
@pytest.mark.parametrize("batch", [1, 3])
def test_package_matches_sigmoid_of_model(paddle, lcnet, images, package, batch: int) -> None:
    out_dir, _ = package
    x = images[:batch]
    with paddle.no_grad():
        want = paddle.nn.functional.sigmoid(lcnet(paddle.to_tensor(x))).numpy()
    got, inputs = _predict(out_dir, x)
    assert inputs == ["x"]
    assert got.shape == (batch, 80)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.paddle
def test_package_files(package) -> None:
    out_dir, legacy = package
    names = {p.name for p in out_dir.iterdir()}
    assert {"inference.pdiparams", "inference.yml"} <= names
    if legacy:
        assert "inference.pdmodel" in names and "inference.json" not in names
    else:
        assert "inference.json" in names and "inference.pdmodel" not in names
    assert not [p for p in out_dir.parent.iterdir() if p.name.startswith(".")]  # no temp folders left
    model_file, params_file = find_model_files(out_dir)
    assert model_file.name == ("inference.pdmodel" if legacy else "inference.json")
    assert params_file == out_dir / "inference.pdiparams"


@pytest.mark.paddle
def test_inference_yml_round_trips(package) -> None:
    out_dir, _ = package
    config = read_inference_config(out_dir)
    assert list(config) == ["Global", "PreProcess", "PostProcess"]
    assert config["Global"] == {"model_name": "PP-LCNet_x1_0_ML"}
    assert config["PreProcess"]["transform_ops"] == [
        {"ResizeImage": {"backend": "pil", "interpolation": "bilinear", "size": SIZE}},
        {
            "NormalizeImage": {
                "channel_num": 3,
                "mean": [0.485, 0.456, 0.406],
                "order": "",
                "scale": 1.0 / 255.0,
                "std": [0.229, 0.224, 0.225],
            }
        },
        {"ToCHWImage": None},
    ]
    post = config["PostProcess"]["MultiLabelThreshOutput"]
    assert list(post) == ["threshold", "label_list"]
    assert post["threshold"] == 0.4
    assert post["label_list"] == LABELS
    assert isinstance(config["PreProcess"]["transform_ops"][1]["NormalizeImage"]["scale"], float)


@pytest.mark.paddle
def test_inference_yml_is_utf8_text(package) -> None:
    text = (package[0] / "inference.yml").read_bytes().decode("utf-8")
    assert "été" in text and "狗" in text  # written as characters, not \\u escapes
    assert "  model_name: PP-LCNet_x1_0_ML" in text.splitlines()[1]
    # names YAML would otherwise read as a bool, null or int stay strings
    assert yaml.safe_load(text)["PostProcess"]["MultiLabelThreshOutput"]["label_list"][-5:] == LABELS[-5:]


@pytest.mark.paddle
def test_export_keeps_model_usable_and_training_flag(paddle, tmp_path: Path) -> None:
    model = _Tiny.linear(paddle)
    model.train()
    x = paddle.rand([2, 3, 8, 8])
    with paddle.no_grad():
        before = model(x).numpy()
    export_model(model, tmp_path / "pkg", model_name="Tiny", label_list=["a", "b"], input_size=8)
    assert model.training
    with paddle.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), before)


# ---------------------------------------------------------------- target folder handling


@pytest.mark.paddle
def test_reexport_replaces_previous_package(paddle, tmp_path: Path) -> None:
    model = _Tiny.linear(paddle)
    out = tmp_path / "pkg"
    export_model(model, out, model_name="Tiny", label_list=["a", "b"], input_size=8, threshold=0.5)
    export_model(model, out, model_name="Tiny", label_list=["c", "d"], input_size=8, threshold=0.7)
    post = read_inference_config(out)["PostProcess"]["MultiLabelThreshOutput"]
    assert post == {"threshold": 0.7, "label_list": ["c", "d"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


@pytest.mark.paddle
def test_refuses_folder_with_other_files(paddle, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(UsageError, match=r"notes\.txt"):
        export_model(_Tiny.linear(paddle), out, model_name="Tiny", label_list=["a", "b"], input_size=8)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


@pytest.mark.paddle
def test_label_count_mismatch_is_refused(paddle, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="outputs 2 classes but the label list has 3"):
        export_model(_Tiny.linear(paddle), tmp_path / "pkg", model_name="Tiny", label_list=["a", "b", "c"])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.paddle
def test_empty_label_list_is_refused(paddle, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="empty label list"):
        export_model(_Tiny.linear(paddle), tmp_path / "pkg", model_name="Tiny", label_list=[])


@pytest.mark.paddle
def test_failed_export_leaves_previous_package_intact(paddle, tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    export_model(_Tiny.linear(paddle), out, model_name="Tiny", label_list=["a", "b"], input_size=8)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RuntimeError, match="simulated failure"):
        export_model(_Tiny.untraceable(paddle), out, model_name="New", label_list=["a", "b"], input_size=8)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


@pytest.mark.paddle
def test_failed_first_export_leaves_nothing(paddle, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="simulated failure"):
        export_model(
            _Tiny.untraceable(paddle), tmp_path / "pkg", model_name="New", label_list=["a", "b"], input_size=8
        )
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- inference.onnx


@pytest.mark.paddle
def test_onnx_export_adds_a_graph_that_agrees_and_a_plain_reexport_drops_it(
    paddle, lcnet, images, tmp_path: Path
) -> None:
    import onnxruntime

    out = export_model(
        lcnet, tmp_path / "pkg", model_name="PP-LCNet_x1_0_ML", label_list=LABELS, input_size=SIZE, onnx=True
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "inference.json",
        "inference.onnx",
        "inference.pdiparams",
        "inference.yml",
    ]
    want, _ = _predict(out, images)
    session = onnxruntime.InferenceSession(str(out / "inference.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: images})[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]  # nothing staged is left

    export_model(lcnet, out, model_name="PP-LCNet_x1_0_ML", label_list=LABELS, input_size=SIZE)
    assert not (out / "inference.onnx").exists()  # a stale graph of other weights never survives


@pytest.mark.paddle
def test_converter_failure_leaves_the_previous_package_untouched(paddle, tmp_path: Path) -> None:
    from mlcls_cli.inference.convert import ConversionError

    out = tmp_path / "pkg"
    export_model(_Tiny.linear(paddle), out, model_name="Tiny", label_list=["a", "b"], input_size=8)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ConversionError) as info:
        export_model(
            _Tiny.unconvertible(paddle), out, model_name="New", label_list=["a", "b"], input_size=8, onnx=True
        )
    assert info.value.exit_code == 70
    message = info.value.message
    assert message.startswith(f"cannot add inference.onnx to {out}: paddle2onnx could not convert")
    assert "unsupported operators" in message and ".export-" not in message  # names the target, not the stage
    assert "nothing was written" in str(info.value.hint) and "--format paddle" in str(info.value.hint)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


@pytest.mark.paddle
def test_onnx_export_without_paddle2onnx_fails_before_writing(paddle, tmp_path: Path, monkeypatch) -> None:
    import mlcls_cli.inference.backends as backends
    from mlcls_cli.inference.backends import BackendUnavailableError

    monkeypatch.setitem(backends._MODULES, "paddle2onnx", "mlcls_no_such_module")
    with pytest.raises(BackendUnavailableError, match="needs paddle2onnx") as info:
        export_model(_Tiny.linear(paddle), tmp_path / "pkg", model_name="T", label_list=["a", "b"], onnx=True)
    assert info.value.exit_code == 69 and "mlcls[hpi]" in str(info.value.hint)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- find_model_files / read_inference_config


def _touch(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")
    return folder


def test_find_prefers_json_over_pdmodel(tmp_path: Path) -> None:
    folder = _touch(tmp_path / "m", "inference.json", "inference.pdmodel", "inference.pdiparams")
    assert find_model_files(folder) == (folder / "inference.json", folder / "inference.pdiparams")


def test_find_falls_back_to_pdmodel(tmp_path: Path) -> None:
    folder = _touch(tmp_path / "m", "inference.pdmodel", "inference.pdiparams")
    assert find_model_files(str(folder)) == (folder / "inference.pdmodel", folder / "inference.pdiparams")


def test_find_names_missing_params(tmp_path: Path) -> None:
    folder = _touch(tmp_path / "m", "inference.json")
    with pytest.raises(InputMissingError) as info:
        find_model_files(folder)
    assert str(folder) in info.value.message and "inference.pdiparams" in info.value.message
    assert "inference.json or" not in info.value.message


def test_find_names_missing_graph(tmp_path: Path) -> None:
    folder = _touch(tmp_path / "m", "inference.pdiparams")
    with pytest.raises(InputMissingError, match=r"inference\.json or inference\.pdmodel"):
        find_model_files(folder)


def test_find_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputMissingError, match="does not exist"):
        find_model_files(tmp_path / "nowhere")


def test_read_config_missing(tmp_path: Path) -> None:
    with pytest.raises(InputMissingError, match=r"inference\.yml"):
        read_inference_config(tmp_path)


def test_read_config_accepts_file_path(tmp_path: Path) -> None:
    path = tmp_path / "inference.yml"
    path.write_text("Global:\n  model_name: ResNet50_ML\n", encoding="utf-8")
    assert read_inference_config(path) == {"Global": {"model_name": "ResNet50_ML"}}


@pytest.mark.parametrize("text", ["Global: [unclosed\n", "- just\n- a list\n"])
def test_read_config_invalid(tmp_path: Path, text: str) -> None:
    (tmp_path / "inference.yml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError):
        read_inference_config(tmp_path)


# ---------------------------------------------------------------- the two models of this module


@pytest.mark.paddle
@pytest.mark.slow
@pytest.mark.parametrize("legacy", [False, True], ids=["json", "legacy"])
def test_clip_exports_in_both_formats(paddle, tmp_path: Path, legacy: bool) -> None:
    """Covers the per-forward position-embedding resize and exact GELU in both graph formats."""
    from mlcls_cli.models import build_model

    paddle.seed(5)
    model = build_model("CLIP_vit_base_patch16_448_ML")
    model.eval()
    x = np.random.default_rng(2).uniform(-2, 2, (2, 3, 48, 48)).astype("float32")
    with paddle.no_grad():
        want = paddle.nn.functional.sigmoid(model(paddle.to_tensor(x))).numpy()
    out = export_model(
        model, tmp_path / "clip", model_name="CLIP", label_list=LABELS, input_size=48, legacy_format=legacy
    )
    got, _ = _predict(out, x)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.paddle
@pytest.mark.slow
def test_resnet_exports(paddle, tmp_path: Path, images) -> None:
    from mlcls_cli.models import build_model

    paddle.seed(6)
    model = build_model("ResNet50_ML")
    model.eval()
    with paddle.no_grad():
        want = paddle.nn.functional.sigmoid(model(paddle.to_tensor(images))).numpy()
    out = export_model(model, tmp_path / "r50", model_name="ResNet50_ML", label_list=LABELS, input_size=SIZE)
    got, _ = _predict(out, images)
    # oneDNN's fused kernels round differently from the eager ones over 50 layers
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
