"""`mlcls pipeline` (and `mlcls predict --pipeline`): the YAML from get-config, both names, overrides, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from tests.inference.kit import (
    BLUE,
    MODEL_NAME,
    OFFICIAL_TAR_PATH,
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


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_package(tmp_path_factory.mktemp("pkg") / "inference")[1]


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("images")
    save(solid(RED), root / "red.jpg")
    save(solid(BLUE), root / "blue.png")
    return root


def _pipeline_yaml(tmp_path: Path, package: Path) -> Path:
    """Write the pipeline YAML with get-config, then point its model_dir at ``package`` (comments kept)."""
    target = tmp_path / "x.yaml"
    result = CliRunner().invoke(
        app, ["get-config", "multi_label_image_classification", "--save-path", str(target)]
    )
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    text, count = re.subn(r"model_dir: null", f"model_dir: {package.as_posix()}", text)
    assert count == 1
    target.write_text(text, encoding="utf-8")
    return target


def test_pipeline_from_the_get_config_yaml_in_a_real_process(
    package: Path, images: Path, tmp_path: Path
) -> None:
    config = _pipeline_yaml(tmp_path, package)
    out = tmp_path / "out"
    proc = run_cli(
        [
            "pipeline",
            "--pipeline",
            str(config),
            "--input",
            str(images / "red.jpg"),
            "--device",
            "cpu",
            "--save-path",
            str(out),
            "--json",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    assert row["input_path"] == str(images / "red.jpg") and row["label_names"][0] == "red"
    assert (out / "red_res.json").is_file() and (out / "red_res.jpg").is_file()


def test_pipeline_options_and_overrides(package: Path, images: Path, tmp_path: Path) -> None:
    config = _pipeline_yaml(tmp_path, package)
    runner = CliRunner()
    base = ["pipeline", "--pipeline", str(config), "-i", str(images / "blue.png"), "--json"]
    strict = runner.invoke(app, [*base, "--threshold", "0.99999999"])
    assert strict.exit_code == 0, strict.output
    assert json.loads(strict.stdout)["class_ids"] == []
    loose = runner.invoke(
        app, [*base, "-o", "SubModules.ImageMultiLabelClassification.threshold=0.0", "--top-k", "2"]
    )
    assert loose.exit_code == 0, loose.output
    assert len(json.loads(loose.stdout)["class_ids"]) == 2
    human = runner.invoke(app, ["pipeline", "--pipeline", str(config), str(images)])
    assert human.exit_code == 0, human.output
    assert [line.split("\t")[0] for line in human.stdout.splitlines()] == [
        str(images / "blue.png"),
        str(images / "red.jpg"),
    ]
    via_predict = runner.invoke(
        app, ["predict", "--pipeline", str(config), "--input", str(images / "red.jpg"), "--json"]
    )
    assert via_predict.exit_code == 0, via_predict.output
    assert json.loads(via_predict.stdout)["label_names"][0] == "red"


def test_old_layout_yaml(package: Path, images: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(
        "Global:\n  pipeline_name: multi_label_image_classification\n"
        f"Pipeline:\n  model: {MODEL_NAME}\n  batch_size: 2\n  device: cpu\n  threshold: 0.5\n"
    )
    result = CliRunner().invoke(
        app,
        ["predict", "--pipeline", str(old), "--model-dir", str(package), str(images / "red.jpg"), "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["label_names"][0] == "red"


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--pipeline", "image_segmentation", "-i", "IMG"], 2, "does not exist"),
        (["--pipeline", "missing.yaml", "-i", "IMG"], 66, "missing.yaml"),
        (["--pipeline", "BAD", "-i", "IMG"], 78, "batch_sise"),
        (["--pipeline", "multi_label_image_classification"], 2, "give at least one input"),
    ],
)
def test_pipeline_errors(images: Path, tmp_path: Path, args, code, fragment) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pipeline_name: image_multilabel_classification\nSubModules:\n  ImageMultiLabelClassification:\n    batch_sise: 2\n"
    )
    subst = {"IMG": str(images / "red.jpg"), "BAD": str(bad)}
    result = CliRunner().invoke(app, ["pipeline", *[subst.get(a, a) for a in args]])
    assert result.exit_code == code, result.output
    assert fragment in result.stderr


@pytest.mark.slow
def test_both_pipeline_names_with_the_zoo_model(package: Path, images: Path, tmp_path: Path) -> None:
    with file_server() as server:
        server.add(OFFICIAL_TAR_PATH, make_tar(package))
        env = cli_env(MLCLS_HOME=str(tmp_path / "home"), MLCLS_MODEL_ENDPOINT=server.base)
        rows = []
        for name in ("multi_label_image_classification", "image_multilabel_classification"):
            proc = run_cli(
                ["pipeline", "--pipeline", name, "--input", str(images / "blue.png"), "--json"], env=env
            )
            assert proc.returncode == 0, proc.stderr
            rows.append(json.loads(proc.stdout))
        assert rows[0] == rows[1] and rows[0]["label_names"][0] == "blue"
        assert server.hits[OFFICIAL_TAR_PATH] == 1
