"""`mlcls predict`: JSON Lines, human lines, --save-path files, thresholds, exit codes, and the zoo end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from mlcls_cli.metrics import save_thresholds
from tests.inference.kit import (
    BLUE,
    GREEN,
    LABELS,
    MODEL_NAME,
    OFFICIAL_TAR_PATH,
    RED,
    WHITE,
    cli_env,
    encode,
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
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    save(solid(RED), root / "a_red.jpg")
    save(solid(GREEN), root / "b_green.png")
    save(solid(BLUE), root / "sub" / "c_blue.jpg")
    save(solid(WHITE), root / "other" / "c_blue.jpg")  # same name in another folder
    return root


def _invoke(*args: str):
    return CliRunner().invoke(app, ["predict", *args])


def _lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_json_lines_for_a_folder(package: Path, photos: Path) -> None:
    result = _invoke(str(photos), "--model-dir", str(package), "--json", "--batch-size", "3")
    assert result.exit_code == 0, result.output
    rows = _lines(result.stdout)
    assert [Path(r["input_path"]).relative_to(photos).as_posix() for r in rows] == [
        "a_red.jpg",
        "b_green.png",
        "other/c_blue.jpg",
        "sub/c_blue.jpg",
    ]
    assert [r["label_names"][0] for r in rows] == ["red", "green", "bright été 狗", "blue"]
    assert all(list(r) == ["input_path", "page_index", "class_ids", "scores", "label_names"] for r in rows)
    assert "predicted 4 image(s)" in result.stderr


def test_human_lines_threshold_and_top_k(package: Path, photos: Path) -> None:
    result = _invoke(
        str(photos / "a_red.jpg"),
        "-i",
        str(photos / "b_green.png"),
        "--model-dir",
        str(package),
        "-t",
        "0",
        "-k",
        "2",
    )
    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    assert first.startswith(f"{photos / 'a_red.jpg'}\tred (0.99")
    assert first.count("(") == 2 and second.split("\t")[1].startswith("green (")
    none = _invoke(str(photos / "a_red.jpg"), "--model-dir", str(package), "-t", "0.99999999")
    assert none.stdout.strip().endswith("(no label above the threshold)")


def test_threshold_forms_on_the_command_line(package: Path, photos: Path, tmp_path: Path) -> None:
    red = str(photos / "a_red.jpg")
    per_class = _lines(_invoke(red, "--model-dir", str(package), "--json", "-t", "0.999999,0,0,0").stdout)
    assert sorted(per_class[0]["class_ids"]) == [1, 2, 3]  # class 0 alone is held back by its threshold
    mapping = _lines(
        _invoke(red, "--model-dir", str(package), "--json", "-t", '{"default": 0.0, "0": 0.9999999}').stdout
    )
    assert 0 not in mapping[0]["class_ids"] and len(mapping[0]["class_ids"]) == 3
    tuned = tmp_path / "thresholds.json"
    save_thresholds(tuned, [0.9999999, 0.0, 0.0, 0.0], label_names=LABELS)
    from_file = _lines(_invoke(red, "--model-dir", str(package), "--json", "-t", str(tuned)).stdout)
    assert from_file == mapping


def test_save_path_writes_json_and_pictures_per_sub_folder(
    package: Path, photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _invoke(str(photos), "--model-dir", str(package), "--save-path", str(out), "--json")
    assert result.exit_code == 0, result.output
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "a_red_res.jpg",
        "a_red_res.json",
        "b_green_res.json",
        "b_green_res.png",
        "other/c_blue_res.jpg",
        "other/c_blue_res.json",
        "sub/c_blue_res.jpg",
        "sub/c_blue_res.json",
    ]
    saved = json.loads((out / "sub" / "c_blue_res.json").read_text(encoding="utf-8"))
    assert saved == _lines(result.stdout)[3]
    with Image.open(out / "b_green_res.png") as im:
        assert im.height > 32  # the picture has the banner
    assert (
        _invoke(
            str(photos / "a_red.jpg"), "--model-dir", str(package), "--save_path", str(tmp_path / "o2")
        ).exit_code
        == 0
    )
    assert (tmp_path / "o2" / "a_red_res.json").is_file()


def test_url_and_mixed_inputs(package: Path, photos: Path) -> None:
    with file_server() as server:
        url = server.add("/pics/remote.png", encode(solid(BLUE)))
        result = _invoke(url, str(photos / "a_red.jpg"), "--model-dir", str(package), "--json")
    assert result.exit_code == 0, result.output
    rows = _lines(result.stdout)
    assert rows[0]["input_path"] == url and rows[0]["label_names"][0] == "blue"
    assert rows[1]["label_names"][0] == "red"


def test_unreadable_inputs_are_skipped_and_exit_66(package: Path, photos: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"nope")
    proc = run_cli(
        [
            "predict",
            str(photos / "a_red.jpg"),
            str(broken),
            str(tmp_path / "missing.png"),
            str(photos / "b_green.png"),
            "--model-dir",
            str(package),
            "--json",
        ]
    )
    assert proc.returncode == 66, proc.stderr
    rows = _lines(proc.stdout)
    assert [Path(r["input_path"]).name for r in rows] == ["a_red.jpg", "b_green.png"]
    assert "skipped" in proc.stderr and "broken.jpg" in proc.stderr and "missing.png" in proc.stderr
    assert "2 of 4 input(s) could not be used" in proc.stderr
    assert "Traceback" not in proc.stderr and "ccache" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["IMG"], 2, "give --model NAME, --model-dir DIR or --pipeline"),
        (["--model-dir", "PKG"], 2, "give at least one input"),
        (["IMG", "--model-dir", "PKG", "-t", "1.5"], 2, "within [0, 1]"),
        (["IMG", "--model-dir", "PKG", "-t", "nothere.json"], 66, "thresholds file not found"),
        (["IMG", "--model-dir", "PKG", "--top-k", "0"], 2, ""),
        (["IMG", "--model-dir", "PKG", "-o", "a=1"], 2, "-o overrides apply to --pipeline"),
        (["IMG", "--model-dir", "PKG", "--device", "tpu"], 2, "invalid device"),
        (["IMG", "--model-dir", "NOWHERE"], 66, "does not exist"),
        (["IMG", "--model", "PP-LCNet"], 2, "names begin with"),
        (["EMPTY", "--model-dir", "PKG"], 66, "no images found"),
    ],
)
def test_usage_errors_and_exit_codes(
    package: Path, photos: Path, tmp_path: Path, args, code, fragment
) -> None:
    (tmp_path / "empty").mkdir()
    subst = {
        "IMG": str(photos / "a_red.jpg"),
        "PKG": str(package),
        "NOWHERE": str(tmp_path / "x"),
        "EMPTY": str(tmp_path / "empty"),
    }
    result = _invoke(*[subst.get(a, a) for a in args])
    assert result.exit_code == code, result.output
    assert fragment in result.stderr
    assert result.stdout == ""


def test_exit_code_2_from_a_real_process(package: Path) -> None:
    proc = run_cli(["predict", "x.jpg", "--model-dir", str(package), "--batch-size", "0"])
    assert proc.returncode == 2 and proc.stdout == ""


@pytest.mark.slow
def test_zoo_model_end_to_end_download_cache_offline(package: Path, photos: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    image = photos / "a_red.jpg"
    with file_server() as server:
        server.add(OFFICIAL_TAR_PATH, make_tar(package))
        env = cli_env(MLCLS_HOME=str(home), MLCLS_MODEL_ENDPOINT=server.base)
        out = tmp_path / "out"
        proc = run_cli(
            ["predict", "--model", MODEL_NAME, str(image), "--json", "--save-path", str(out)], env=env
        )
        assert proc.returncode == 0, proc.stderr
        row = json.loads(proc.stdout)
        assert row["input_path"] == str(image) and row["label_names"][0] == "red"
        assert (out / "a_red_res.json").is_file() and (out / "a_red_res.jpg").is_file()
        cached = home / "models" / MODEL_NAME / "inference"
        assert (cached / "inference.json").is_file() and (cached / "inference.yml").is_file()
        assert server.hits[OFFICIAL_TAR_PATH] == 1

        offline = run_cli(
            ["predict", "--model", MODEL_NAME, str(image), "--json"], env={**env, "MLCLS_OFFLINE": "1"}
        )
        assert offline.returncode == 0, offline.stderr
        assert json.loads(offline.stdout) == row
        assert server.hits[OFFICIAL_TAR_PATH] == 1  # served from the cache

    empty = cli_env(MLCLS_HOME=str(tmp_path / "empty_home"), MLCLS_OFFLINE="1")
    missing = run_cli(["predict", "--model", MODEL_NAME, str(image)], env=empty)
    assert missing.returncode == 69 and "not available offline" in missing.stderr


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_closed_stdout_stops_quietly_with_141(package: Path, tmp_path: Path, json_flag: list[str]) -> None:
    import subprocess
    import sys

    for i in range(60):
        save(solid(RED if i % 2 else BLUE), tmp_path / "many" / f"img_{i:03d}.png")
    # `mlcls predict ... | head -2`: read two lines, then close the pipe while predictions keep coming
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlcls_cli",
            "predict",
            str(tmp_path / "many"),
            "--model-dir",
            str(package),
            "-b",
            "1",
            *json_flag,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=240) == 141, stderr
    assert all(line.strip() for line in lines)
    assert "error" not in stderr.lower() and "Traceback" not in stderr, stderr
    assert "predicted" not in stderr  # it stopped; no summary of a run that did not finish
