"""create_model / Predictor on an exported package: equal to the dygraph model, batching, inputs, errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcls_cli.errors import ConfigError, InputMissingError, UsageError
from mlcls_cli.inference.inputs import InputError, InputFailure
from mlcls_cli.inference.preprocess import Preprocessor
from tests.inference.kit import (
    BLUE,
    GREEN,
    LABELS,
    MODEL_NAME,
    RED,
    SIZE,
    WHITE,
    dygraph_probs,
    export_package,
    save,
    solid,
)

pytestmark = pytest.mark.paddle


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory):
    """(dygraph model, package dir) exported once for the module."""
    return export_package(tmp_path_factory.mktemp("pkg") / "inference")


@pytest.fixture(scope="module")
def model(package):
    from mlcls_cli import create_model

    return create_model(model_dir=package[1], device="cpu")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    save(solid(RED, seed=1), root / "1_red.jpg")
    save(solid(GREEN, seed=2), root / "2_green.png")
    save(solid(BLUE, seed=3), root / "sub" / "3_blue.bmp")
    save(solid(WHITE, seed=4), root / "sub" / "4_white.jpg")
    (root / "sub" / "broken.png").write_bytes(b"\x89PNG broken")
    return root


def test_predictor_matches_the_dygraph_model(package, photos: Path) -> None:
    from mlcls_cli.inference.inputs import iter_inputs, load_image
    from mlcls_cli.inference.predictor import Predictor

    net, folder = package
    predictor = Predictor(folder, device="cpu", backend="paddle")
    assert predictor.label_list == LABELS and predictor.model_name == MODEL_NAME
    assert predictor.input_size == SIZE and predictor.num_classes == 4 and predictor.threshold == 0.5
    pre = Preprocessor.from_config(predictor.config)
    items = [i for i in iter_inputs(str(photos)) if not i.input_path.endswith("broken.png")]
    batch = np.stack([pre(load_image(i)) for i in items])
    probs = predictor.run(batch)
    assert probs.dtype == np.float32 and probs.shape == (4, 4)
    np.testing.assert_allclose(probs, dygraph_probs(net, batch), atol=1e-4)
    assert list(probs.argmax(axis=1)) == [0, 1, 2, 3]  # the colour term dominates
    with pytest.raises(UsageError, match="4-D"):
        predictor.run(batch[0])


def test_predict_a_folder_end_to_end(model, package, photos: Path) -> None:
    net, _ = package
    failures: list[InputFailure] = []
    results = list(model.predict(str(photos), batch_size=3, threshold=0.5, on_error=failures.append))
    assert [Path(r.input_path).name for r in results] == [
        "1_red.jpg",
        "2_green.png",
        "3_blue.bmp",
        "4_white.jpg",
    ]
    assert [r.label_names[0] for r in results] == ["red", "green", "blue", "bright été 狗"]
    assert [r.rel_dir for r in results] == ["", "", "sub", "sub"]
    assert len(failures) == 1 and failures[0].input.endswith("broken.png") and model.failures == failures
    for r in results:
        assert r.scores.tolist() == sorted(r.scores.tolist(), reverse=True)
        assert all(s > 0.5 for s in r.scores)
        assert all(round(s, 5) == s for s in r.scores.tolist())
    # the scores are sigmoid(model(preprocessed image)) rounded to 5 decimals
    pre = Preprocessor.from_config(model.predictor.config)
    from mlcls_cli.inference.inputs import iter_inputs, load_image

    item = next(iter_inputs(str(photos / "1_red.jpg")))
    expected = dygraph_probs(net, pre(load_image(item))[None])[0]
    assert results[0].scores[0] == pytest.approx(float(expected[0]), abs=1e-4)


def test_batch_size_does_not_change_results(model, photos: Path) -> None:
    one = [r.to_dict() for r in model.predict(photos, batch_size=1, threshold=0.0, on_error="ignore")]
    many = [r.to_dict() for r in model.predict(photos, batch_size=8, threshold=0.0, on_error="ignore")]
    assert len(one) == 4
    for a, b in zip(one, many, strict=True):
        assert a["class_ids"] == b["class_ids"]
        np.testing.assert_allclose(a["scores"], b["scores"], atol=2e-5)


def test_results_hold_paddlex_arrays_and_the_input_image(model, photos: Path) -> None:
    # what scripts written for PaddleX do with a result
    first = next(model.predict(str(photos / "1_red.jpg"), threshold=0.0))
    assert first._image is None  # a file input's pixels are not carried along the stream ...
    assert not isinstance(dict.__getitem__(first, "input_img"), np.ndarray)  # ... but read when asked for
    assert first["class_ids"].tolist()[0] == 0 and first["class_ids"].dtype == np.int64
    assert first["scores"].dtype == np.float64 and first["scores"].tolist() == sorted(
        first["scores"], reverse=True
    )
    with Image.open(photos / "1_red.jpg") as im:
        expected = np.asarray(im.convert("RGB"))
    assert first["input_img"].shape == expected.shape and first["input_img"].dtype == np.uint8
    np.testing.assert_array_equal(first["input_img"], expected)
    assert first.json["res"]["class_ids"] == first["class_ids"].tolist()  # JSON stays plain
    bgr = np.asarray(solid(GREEN))[..., ::-1].copy()
    from_array = next(model.predict(bgr))
    np.testing.assert_array_equal(from_array["input_img"], bgr[..., ::-1])  # BGR in, RGB out, as in PaddleX


def test_arrays_dicts_lists_and_pil(model, photos: Path) -> None:
    rgb = np.asarray(solid(RED))
    inputs = [rgb[..., ::-1], {"img": solid(GREEN)}, {"img": str(photos / "sub")}, rgb]
    results = list(model.predict(inputs, on_error="ignore"))
    names = [r.label_names[0] if r.label_names else None for r in results]
    assert names == ["red", "green", "blue", "bright été 狗", "blue"]  # an RGB array is read as BGR
    assert results[0].input_path is None and results[0].img["res"].size[0] >= 40
    assert results[2].input_path.endswith("3_blue.bmp")


def test_threshold_precedence_and_top_k(package) -> None:
    from mlcls_cli import create_model

    red = solid(RED)
    strict = create_model(model_dir=package[1], device="cpu", threshold=0.999999, top_k=None)
    assert next(strict.predict(red)).class_ids.tolist() == []
    assert len(next(strict.predict(red, threshold=0.0)).class_ids) == 4
    assert next(strict.predict(red, threshold=0.0, top_k=2)).class_ids[0] == 0
    assert len(next(strict.predict(red, threshold=0.0, top_k=2)).class_ids) == 2
    loose = create_model(model_dir=package[1], device="cpu", top_k=1, threshold={"default": 0.0})
    assert len(next(loose.predict(red)).class_ids) == 1
    with pytest.raises(UsageError):
        strict.predict(red, threshold={"3": 0.2})  # checked when predict is called, before iterating
    with pytest.raises(UsageError):
        strict.predict(red, batch_size=0)


def test_on_error_modes(model, photos: Path) -> None:
    missing = photos / "nope.jpg"
    with pytest.raises(InputError, match=r"nope\.jpg"):
        list(model.predict([str(missing), str(photos / "1_red.jpg")], on_error="raise"))
    assert len(list(model.predict([str(missing), str(photos / "1_red.jpg")], on_error="ignore"))) == 1
    assert [f.reason for f in model.failures] == ["no such file or folder"]
    with pytest.raises(UsageError, match="on_error"):
        model.predict(str(missing), on_error="explode")


def test_unreadable_input_warns_on_stderr(model, photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = list(model(str(photos / "sub" / "broken.png")))
    assert results == []
    assert "skipped" in capsys.readouterr().err


def test_training_output_folders_and_name_check(package, tmp_path: Path) -> None:
    from mlcls_cli import create_model

    out = tmp_path / "output"
    shutil.copytree(package[1], out / "best_model" / "inference")
    assert create_model(model_dir=out, device="cpu").model_dir == out / "best_model" / "inference"
    assert (
        create_model(model_dir=out / "best_model", device="cpu").model_dir == out / "best_model" / "inference"
    )
    assert create_model(MODEL_NAME, out, device="cpu").model_name == MODEL_NAME
    with pytest.raises(UsageError, match="model name mismatch"):
        create_model("ResNet50_ML", out, device="cpu")
    with pytest.raises(InputMissingError, match="not an inference package"):
        create_model(model_dir=tmp_path, device="cpu")
    with pytest.raises(InputMissingError, match="does not exist"):
        create_model(model_dir=tmp_path / "absent", device="cpu")
    with pytest.raises(UsageError, match="unknown model"):
        create_model("PP-LCNet_x9_9")
    with pytest.raises(UsageError, match="model name or a model folder"):
        create_model()
    with pytest.raises(TypeError, match="nonsense"):
        create_model(model_dir=out, nonsense=1)


def test_broken_packages_are_clear_errors(package, tmp_path: Path) -> None:
    from mlcls_cli import create_model

    broken = tmp_path / "broken"
    shutil.copytree(package[1], broken)
    (broken / "inference.yml").write_text(
        "Global: {model_name: x}\nPreProcess: {transform_ops: [{Magic: {}}]}\n"
        "PostProcess: {MultiLabelThreshOutput: {threshold: 0.5, label_list: [a]}}\n"
    )
    with pytest.raises(ConfigError, match="Magic"):
        create_model(model_dir=broken, device="cpu")
    (broken / "inference.yml").write_text("Global: {model_name: x}\n")
    with pytest.raises(ConfigError, match=r"PostProcess\.MultiLabelThreshOutput or PostProcess\.Topk"):
        create_model(model_dir=broken, device="cpu")
    shutil.copy(package[1] / "inference.yml", broken / "inference.yml")
    (broken / "inference.pdiparams").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="cannot load"):
        create_model(model_dir=broken, device="cpu")


def test_legacy_pdmodel_package_loads(tmp_path: Path) -> None:
    from mlcls_cli import create_model

    net, legacy = export_package(tmp_path / "legacy", legacy=True)
    assert (legacy / "inference.pdmodel").is_file() and not (legacy / "inference.json").exists()
    model = create_model(model_dir=legacy, device="cpu")
    results = list(model.predict([solid(c) for c in (RED, GREEN, BLUE, WHITE)], threshold=0.0, batch_size=4))
    assert [r.class_ids[0] for r in results] == [0, 1, 2, 3]
    pre = Preprocessor.from_config(model.predictor.config)
    batch = np.stack([pre(solid(c)) for c in (RED, GREEN, BLUE, WHITE)])
    np.testing.assert_allclose(model.predictor.run(batch), dygraph_probs(net, batch), atol=1e-4)


def test_devices_and_threads(package, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlcls_cli import create_model
    from mlcls_cli.inference.device import DeviceUnavailableError, gpu_count, parse_device

    assert (
        str(parse_device("GPU:1")) == "gpu:1" and parse_device(None) is None and parse_device("auto") is None
    )
    for bad in ("tpu", "gpu:x", "cpu:0"):
        with pytest.raises(UsageError):
            parse_device(bad)
    with pytest.raises(UsageError, match="not supported"):
        parse_device("npu:0")
    auto = create_model(model_dir=package[1])
    assert auto.device == ("gpu:0" if gpu_count() else "cpu")
    if gpu_count() == 0:
        with pytest.raises(DeviceUnavailableError, match="no usable GPU"):
            create_model(model_dir=package[1], device="gpu:0")
    monkeypatch.setenv("MLCLS_CPU_THREADS", "2")
    assert create_model(model_dir=package[1], device="cpu").predictor.cpu_threads == 2
    monkeypatch.setenv("MLCLS_CPU_THREADS", "many")
    with pytest.raises(UsageError, match="MLCLS_CPU_THREADS"):
        create_model(model_dir=package[1], device="cpu")


def test_import_mlcls_cli_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, mlcls_cli, mlcls_cli.inference; "
        "assert 'paddle' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules); "
        "from mlcls_cli import create_model, create_pipeline; assert 'paddle' not in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
