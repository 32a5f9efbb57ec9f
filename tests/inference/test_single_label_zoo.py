"""Single-label inference end to end: a zoo model's official package served from 127.0.0.1.

``PP-LCNet_x0_5`` (the ``image_classification`` pipeline's default model) is exported with
random weights plus a colour term (red, green, blue, bright -> classes 0..3) and served as
``<endpoint>/paddlex/official_inference_model/paddle3.0.0/PP-LCNet_x0_5_infer.tar``. predict,
pipeline and the Python API download it once through the model cache and give PaddleX's
single-label result (top-k ids, 5-decimal scores, names) on every backend.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.inference.kit import (
    BLUE,
    LABELS,
    RED,
    cli_env,
    export_package,
    file_server,
    make_tar,
    run_cli,
    save,
    solid,
)

pytestmark = pytest.mark.paddle

MODEL = "PP-LCNet_x0_5"
TAR_PATH = f"/paddlex/official_inference_model/paddle3.0.0/{MODEL}_infer.tar"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    package = export_package(tmp_path_factory.mktemp("pkg") / "inference", model_name=MODEL)[1]
    with file_server() as server:
        server.add(TAR_PATH, make_tar(package, top=f"{MODEL}_infer"))
        yield server, package


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("images")
    save(solid(RED, size=(80, 60)), root / "red.jpg")
    save(solid(BLUE, size=(60, 90)), root / "blue.png")
    return root


def test_the_package_is_a_paddlex_single_label_package(served) -> None:
    import yaml

    _, package = served
    config = yaml.safe_load((package / "inference.yml").read_text())
    ops = [next(iter(op)) for op in config["PreProcess"]["transform_ops"]]
    assert ops == ["ResizeImage", "CropImage", "NormalizeImage", "ToCHWImage"]
    assert config["PostProcess"] == {"Topk": {"topk": 5, "label_list": LABELS}}


def test_predict_by_model_name_downloads_once_and_ranks_by_colour(
    served, images: Path, tmp_path: Path
) -> None:
    server, _ = served
    env = cli_env(MLCLS_HOME=str(tmp_path / "home"), MLCLS_MODEL_ENDPOINT=server.base)
    rows = {}
    for backend in ("paddle", "onnxruntime", "openvino"):
        proc = run_cli(
            [
                "predict",
                str(images),
                "--model",
                MODEL,
                "--backend",
                backend,
                "--json",
                "--save-path",
                str(tmp_path / backend),
            ],
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        rows[backend] = {Path(r["input_path"]).name: r for r in map(json.loads, proc.stdout.splitlines())}
    paddle_rows = rows["paddle"]
    red, blue = paddle_rows["red.jpg"], paddle_rows["blue.png"]
    assert list(red) == ["input_path", "page_index", "class_ids", "scores", "label_names"]
    assert red["class_ids"][0] == 0 and red["label_names"][0] == "red"
    assert blue["class_ids"][0] == 2 and blue["label_names"][0] == "blue"
    assert len(red["class_ids"]) == 4  # k = 5 from inference.yml, capped at the 4 classes
    assert red["scores"] == sorted(red["scores"], reverse=True)
    assert all(round(s, 5) == s for s in red["scores"]) and sum(red["scores"]) == pytest.approx(1, abs=1e-4)
    for backend in ("onnxruntime", "openvino"):
        for name, row in rows[backend].items():
            assert row["class_ids"] == paddle_rows[name]["class_ids"], backend
            np.testing.assert_allclose(row["scores"], paddle_rows[name]["scores"], atol=2e-5)
    assert server.hits[TAR_PATH] == 1  # one download, then the cache
    pictures = sorted(p.name for p in (tmp_path / "paddle").iterdir())
    assert pictures == ["blue_res.json", "blue_res.png", "red_res.jpg", "red_res.json"]  # PaddleX's names


def test_pipeline_and_python_api_use_the_same_default_model(
    served, images: Path, tmp_path: Path, monkeypatch
) -> None:
    server, _ = served
    hits = server.hits[TAR_PATH]
    env = cli_env(MLCLS_HOME=str(tmp_path / "home"), MLCLS_MODEL_ENDPOINT=server.base)
    proc = run_cli(
        [
            "pipeline",
            "--pipeline",
            "image_classification",
            "--input",
            str(images / "red.jpg"),
            "--topk",
            "2",
            "--json",
        ],
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["class_ids"][:1] == [0] and len(row["class_ids"]) == 2

    monkeypatch.setenv("MLCLS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLCLS_MODEL_ENDPOINT", server.base)
    from mlcls_cli import create_model, create_pipeline

    model = create_model(MODEL, device="cpu", topk=3)
    (result,) = list(model.predict(str(images / "blue.png")))
    assert list(result["class_ids"]) == row_ids(result) and len(result["class_ids"]) == 3
    assert result["class_ids"].dtype == np.int32 and result["scores"].dtype == np.float32
    (again,) = list(model.predict(str(images / "blue.png"), topk=1))
    assert list(again["class_ids"]) == [2]
    pipeline = create_pipeline("image_classification", device="cpu")
    (piped,) = list(pipeline.predict(str(images / "red.jpg")))
    assert piped["label_names"][0] == "red" and len(piped["class_ids"]) == 4
    assert server.hits[TAR_PATH] == hits + 1  # this test's cache: one download for CLI and API


def row_ids(result) -> list[int]:
    """The ids of a result, best first (what its scores rank)."""
    order = np.argsort(-np.asarray(result["scores"]), kind="stable")
    return [int(result["class_ids"][i]) for i in order]
