"""`mlcls convert` and `mlcls split` end to end: options, exit codes, stdout/stderr split, --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from tests.datasets import make_dataset, write_image

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def mlcls(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcls_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": str(cwd)},
    )


def make_coco(root: Path) -> Path:
    """Two train images (one without annotations), one val image, categories with ids 7 and 2."""
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        write_image(root / "images" / name)
    cats = [{"id": 7, "name": "traffic light"}, {"id": 2, "name": "bicycle"}]
    docs = {
        "train": {
            "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 7},
                {"id": 2, "image_id": 1, "category_id": 2},
            ],
            "categories": cats,
        },
        "val": {
            "images": [{"id": 3, "file_name": "c.jpg"}],
            "annotations": [{"id": 3, "image_id": 3, "category_id": 2}],
            "categories": cats,
        },
    }
    (root / "annotations").mkdir(parents=True)
    for split, doc in docs.items():
        (root / "annotations" / f"instance_{split}.json").write_text(json.dumps(doc))
    return root


def test_convert_prints_tables_on_stdout_and_logs_on_stderr(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    result = runner.invoke(app, ["convert", str(root), "--from", "COCO"])
    assert result.exit_code == 0, result.output
    assert "traffic light" in result.stdout and "bicycle" in result.stdout
    assert "negatives" in result.stdout
    assert "reading" in result.stderr and "reading" not in result.stdout
    assert (root / "label.txt").read_text() == "0 bicycle\n1 traffic light\n"
    assert (root / "train.txt").read_text() == "images/a.jpg\t1,1\nimages/b.jpg\t0,0\n"


def test_convert_json_through_a_real_process(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    proc = mlcls(
        "convert", str(root), "--from", "coco", "--json", "--output", str(tmp_path / "out"), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # nothing else (no pycocotools prints) on stdout
    assert data["num_classes"] == 2
    assert data["splits"]["train"]["negatives"] == 1
    assert data["classes"][1] == {"index": 1, "coco_id": 7, "name": "traffic light", "train": 1, "val": 0}
    assert data["images_link"] == "linked"
    assert not (root / "train.txt").exists()
    assert (tmp_path / "out" / "train.txt").is_file()


def test_convert_rejects_unknown_source_type(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    proc = mlcls("convert", str(root), "--from", "voc", cwd=tmp_path)
    assert proc.returncode == 2
    assert "unsupported source dataset type 'voc'" in proc.stderr and "COCO" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (root / "label.txt").exists()


def test_convert_needs_from_and_reports_missing_annotations(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    assert runner.invoke(app, ["convert", str(root)]).exit_code == 2
    (root / "annotations" / "instance_train.json").unlink()
    proc = mlcls("convert", str(root), "--from", "coco", cwd=tmp_path)
    assert proc.returncode == 66
    assert "instances_train2017.json" in proc.stderr


def test_split_bad_percentages_exit_2_naming_the_values(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds")
    before = made.list_file("train").read_bytes()
    proc = mlcls("split", str(made.root), "--train-percent", "90", "--val-percent", "20", cwd=tmp_path)
    assert proc.returncode == 2
    assert "train_percent (90) + val_percent (20) = 110" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = mlcls("split", str(made.root), "--train-percent", "100", "--val-percent", "0", cwd=tmp_path)
    assert proc.returncode == 2
    assert "between 1 and 99, got 100" in proc.stderr
    proc = mlcls("split", str(made.root), "--train-percent", "ninety", "--val-percent", "10", cwd=tmp_path)
    assert proc.returncode == 2
    assert made.list_file("train").read_bytes() == before
    assert not (made.root / "train.txt.bak").exists()


def test_split_human_output_and_seed_in_log(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", train=16, val=4)
    result = runner.invoke(app, ["split", str(made.root), "--train-percent", "75", "--val-percent", "25"])
    assert result.exit_code == 0, result.output
    assert "seed 0" in result.stderr
    assert "train 16 -> 15 (75%)" in result.stdout and "val 4 -> 5 (25%)" in result.stdout
    assert "train after" in result.stdout and "cat" in result.stdout
    assert (made.root / "train.txt.bak").is_file()


def test_split_json_quiet_stratify_output(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", train=20, val=5)
    out = tmp_path / "resplit"
    proc = mlcls(
        "split",
        str(made.root),
        "--train-percent",
        "80",
        "--val-percent",
        "20",
        "--seed",
        "5",
        "--stratify",
        "--output",
        str(out),
        "--json",
        "-q",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    data = json.loads(proc.stdout)
    assert data["seed"] == 5 and data["stratify"] is True
    assert (data["train"], data["val"]) == (20, 5)
    assert all(v >= 1 for v in data["counts_after"]["val"])
    assert sorted(data["counts_before"]) == ["train", "val"]
    assert not (made.root / "train.txt.bak").exists()
    assert (out / "label.txt").read_bytes() == made.label_file.read_bytes()


def test_split_same_seed_same_result_through_the_cli(tmp_path: Path) -> None:
    outs = []
    for name in ("a", "b"):
        made = make_dataset(tmp_path / name, train=12, val=6)
        result = runner.invoke(
            app, ["split", str(made.root), "--train-percent", "50", "--val-percent", "50", "--seed", "11"]
        )
        assert result.exit_code == 0, result.output
        outs.append((made.list_file("train").read_bytes(), made.list_file("val").read_bytes()))
    assert outs[0] == outs[1]


def test_split_missing_dataset_exit_66(tmp_path: Path) -> None:
    proc = mlcls(
        "split", str(tmp_path / "nope"), "--train-percent", "80", "--val-percent", "20", cwd=tmp_path
    )
    assert proc.returncode == 66
    assert "does not exist" in proc.stderr


def test_help_lists_the_options() -> None:
    result = runner.invoke(app, ["split", "--help"])
    assert result.exit_code == 0
    for option in ("--train-percent", "--val-percent", "--seed", "--stratify", "--output", "--json"):
        assert option in result.stdout
    result = runner.invoke(app, ["convert", "--help"])
    assert "--from" in result.stdout and "--output" in result.stdout


def test_tables_written_to_a_file_or_pipe_never_cut_a_cell(tmp_path: Path) -> None:
    long_name = "a_class_name_that_is_much_longer_than_any_terminal_" * 3
    made = make_dataset(tmp_path / "ds", classes=["cat", long_name, "dog"], train=9, val=3)
    proc = subprocess.run(
        [sys.executable, "-m", "mlcls_cli", "split", str(made.root), "--train-percent", "50", "--val-percent", "50"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert long_name in proc.stdout and "…" not in proc.stdout
