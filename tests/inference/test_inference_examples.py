"""The examples run: examples/predict_folder.sh (JSON Lines filtered with grep/jq/python) and examples/predict_api.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inference.kit import BLUE, GREEN, RED, REPO, cli_env, export_package, save, solid

pytestmark = [pytest.mark.paddle, pytest.mark.slow]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_package(tmp_path_factory.mktemp("pkg") / "inference")[1]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    save(solid(RED, seed=1), root / "red_1.jpg")
    save(solid(GREEN), root / "green.jpg")
    save(solid(RED, seed=2), root / "more" / "red_2.png")
    save(solid(BLUE), root / "more" / "blue.png")
    return root


@pytest.fixture
def mlcls_command(tmp_path: Path) -> Path:
    """An ``mlcls`` executable running this checkout with this interpreter."""
    wrapper = tmp_path / "bin" / "mlcls"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mlcls_cli "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def _script(args: list[str], mlcls: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "examples" / "predict_folder.sh"), *args],
        capture_output=True,
        text=True,
        env=cli_env(MLCLS=str(mlcls), PYTHON=sys.executable, **env),
        timeout=240,
    )


@pytest.mark.skipif(
    shutil.which("bash") is None, reason="the example is a bash script and bash is not installed"
)
def test_predict_folder_script(package: Path, folder: Path, mlcls_command: Path) -> None:
    proc = _script([str(folder), str(package), "red"], mlcls_command)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "images: 4" and lines[1] == "without a label: 0"
    start = lines.index("with label red:")
    assert lines[start + 1 : start + 3] == [str(folder / "more" / "red_2.png"), str(folder / "red_1.jpg")]
    counts = lines[lines.index("label counts:") + 1 :]
    assert counts[0].split() == ["2", "red"] and len(counts) == 3
    without_jq = _script([str(folder), str(package), "red"], mlcls_command, NO_JQ="1")
    assert without_jq.stdout == proc.stdout
    strict = _script([str(folder), str(package)], mlcls_command, THRESHOLD="0.99999999")
    assert strict.stdout.splitlines()[:2] == ["images: 4", "without a label: 4"]


def test_predict_folder_script_reports_unreadable_files(
    package: Path, folder: Path, mlcls_command: Path, tmp_path: Path
) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(folder, mixed)
    (mixed / "broken.jpg").write_bytes(b"not an image")
    proc = _script([str(mixed), str(package)], mlcls_command)
    assert proc.returncode == 66
    assert proc.stdout.splitlines()[0] == "images: 4"
    assert "broken.jpg" in proc.stderr


def test_predict_api_example(package: Path, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "predict_api.py"),
            str(folder / "green.jpg"),
            "--model-dir",
            str(package),
            "--device",
            "cpu",
            "--save-path",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout[: proc.stdout.rindex("}") + 1])
    assert printed["res"]["label_names"][0] == "green"
    assert proc.stdout.splitlines()[-1].startswith(f"{folder / 'green.jpg'}: green")
    assert (out / "green_res.jpg").is_file() and (out / "green_res.json").is_file()

    config = tmp_path / "pipe.yaml"
    config.write_text(
        "pipeline_name: multi_label_image_classification\ndevice: cpu\nSubModules:\n  ImageMultiLabelClassification:\n"
        f"    model_name: PP-LCNet_x1_0_ML\n    model_dir: {package.as_posix()}\n    batch_size: 2\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "predict_api.py"),
            str(folder / "more"),
            "--pipeline",
            str(config),
            "--save-path",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "blue_res.png").is_file() and (out / "red_2_res.json").is_file()
