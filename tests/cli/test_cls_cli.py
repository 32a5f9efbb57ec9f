"""ClsDataset through the CLI: check (type detected, forced, decided by Global.model), split, convert --from folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from tests.datasets import make_cls_dataset, make_dataset, write_image

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


def make_folders(root: Path) -> Path:
    for split, n in (("train", 3), ("val", 1)):
        for k, name in enumerate(("cat", "dog")):
            for i in range(n):
                write_image(root / split / name / f"{name}_{i}.jpg", (16, 16), (k * 90, i * 30, 50))
    return root


def test_check_prints_the_detected_type(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds")
    result = runner.invoke(app, ["check", str(made.root), "-O", str(tmp_path / "out"), "--no-plots"])
    assert result.exit_code == 0, result.output
    assert f"Dataset {made.root} (ClsDataset): passed" in result.stdout
    assert "largest class" in result.stdout
    assert "checked as ClsDataset (from the label field of 6 lines of train.txt" in result.stderr


def test_dataset_type_forces_the_checker(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds")
    result = runner.invoke(
        app,
        ["check", str(made.root), "-O", str(tmp_path / "out"), "--no-plots", "--dataset-type", "ClsDataset"],
    )
    assert result.exit_code == 65
    assert "(ClsDataset): FAILED" in result.stdout and "list.type_mismatch" in result.stdout
    assert "checked as ClsDataset (as given)" in result.stderr
    saved = json.loads((tmp_path / "out" / "check_dataset_result.json").read_text())
    assert saved["dataset_type"] == "ClsDataset" and saved["errors"]["counts"]["list.type_mismatch"] == 9


def test_ambiguous_type_is_warned(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=["only"], train=2, val=1)
    result = runner.invoke(app, ["check", str(made.root), "-O", str(tmp_path / "out"), "--no-plots"])
    assert result.exit_code == 0, result.output
    assert "ambiguous; pass --dataset-type MLClsDataset if it is multi-label" in result.stderr


def test_bad_dataset_type_is_exit_2(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds")
    result = runner.invoke(app, ["check", str(made.root), "--dataset-type", "Cls"])
    assert result.exit_code == 2
    assert "unknown dataset type 'Cls'" in result.stderr


def test_multilabel_model_in_the_config_refuses_a_clsdataset_with_65(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds")
    before = made.list_file("train").read_bytes()
    result = runner.invoke(
        app,
        [
            "check",
            str(made.root),
            "-O",
            str(tmp_path / "out"),
            "-o",
            "Global.model=PP-LCNet_x1_0_ML",
            "-o",
            "CheckDataset.split.enable=True",
            "-o",
            "CheckDataset.split.train_percent=50",
            "-o",
            "CheckDataset.split.val_percent=50",
        ],
    )
    assert result.exit_code == 65, result.output
    assert "model PP-LCNet_x1_0_ML is multi-label (image_multilabel_classification)" in result.stderr
    assert "is a single-label ClsDataset" in result.stderr and "PP-LCNet_x1_0)" in result.stderr
    assert made.list_file("train").read_bytes() == before  # refused before the split ran


def test_model_and_dataset_type_contradicting_is_exit_2(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds")
    result = runner.invoke(
        app, ["check", str(made.root), "-o", "Global.model=PP-LCNet_x1_0_ML", "--dataset-type", "ClsDataset"]
    )
    assert result.exit_code == 2
    assert "--dataset-type ClsDataset contradicts Global.model PP-LCNet_x1_0_ML" in result.stderr


def test_matching_model_in_the_config_checks_as_its_type(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds")
    result = runner.invoke(
        app,
        [
            "check",
            str(made.root),
            "-O",
            str(tmp_path / "out"),
            "--no-plots",
            "-o",
            "Global.model=ResNet50_ML",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "(MLClsDataset): passed" in result.stdout


def test_split_stratifies_a_clsdataset_by_default(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=4, train=20, val=0)
    result = runner.invoke(
        app, ["split", str(made.root), "--train-percent", "80", "--val-percent", "20", "--json", "-q"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dataset_type"] == "ClsDataset" and data["stratify"] is True
    assert data["counts_after"]["val"] == [1, 1, 1, 1]
    result = runner.invoke(
        app,
        ["split", str(made.root), "--train-percent", "80", "--val-percent", "20", "--no-stratify", "--json"],
    )
    assert json.loads(result.stdout)["stratify"] is False


def test_split_human_table_counts_samples(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=2, train=8, val=2)
    result = runner.invoke(app, ["split", str(made.root), "--train-percent", "50", "--val-percent", "50"])
    assert result.exit_code == 0, result.output
    assert "(ClsDataset, stratified, seed 0)" in result.stdout and "samples per class" in result.stdout


def test_convert_folders_human_and_json(tmp_path: Path) -> None:
    src = make_folders(tmp_path / "pets")
    result = runner.invoke(app, ["convert", str(src), "--from", "folders"])
    assert result.exit_code == 0, result.output
    assert "class folders -> ClsDataset" in result.stdout and "train 6, val 2" in result.stdout
    assert "converted" in result.stderr
    out = tmp_path / "pets_cls"
    assert (out / "label.txt").read_text() == "0 cat\n1 dog\n"
    result = runner.invoke(
        app, ["convert", str(src), "--from", "FOLDERS", "--output", str(tmp_path / "o2"), "--json"]
    )
    data = json.loads(result.stdout)
    assert data["num_classes"] == 2 and data["layout"] == "train/val" and data["source_type"] == "FOLDERS"


def test_convert_options_for_the_other_source_are_usage_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["convert", str(tmp_path), "--from", "coco", "--val-percent", "10"])
    assert result.exit_code == 2 and "--val-percent applies to --from folders only" in result.stderr
    result = runner.invoke(app, ["convert", str(tmp_path), "--from", "voc"])
    assert result.exit_code == 2 and "supported: COCO, FOLDERS" in result.stderr


def test_exit_codes_through_a_real_process(tmp_path: Path) -> None:
    good = make_cls_dataset(tmp_path / "good")
    proc = mlcls("check", str(good.root), "-O", str(tmp_path / "o1"), "--no-plots", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    bad = make_cls_dataset(tmp_path / "bad")
    bad.set_list_line("train", 1, "images/img_00000.png 0 ")
    proc = mlcls("check", str(bad.root), "-O", str(tmp_path / "o2"), "--no-plots", cwd=tmp_path)
    assert proc.returncode == 65 and "list.trailing_space" in proc.stdout and "train.txt:1" in proc.stdout
    src = make_folders(tmp_path / "src")
    proc = mlcls("convert", str(src), "--from", "folders", "--output", str(src / "inside"), cwd=tmp_path)
    assert proc.returncode == 2 and "inside it" in proc.stderr
    proc = mlcls("convert", str(tmp_path / "nope"), "--from", "folders", cwd=tmp_path)
    assert proc.returncode == 66
    (tmp_path / "flat").mkdir()
    write_image(tmp_path / "flat" / "a.jpg")
    proc = mlcls("convert", str(tmp_path / "flat"), "--from", "folders", cwd=tmp_path)
    assert proc.returncode == 65 and "no class sub-folders" in proc.stderr
    proc = mlcls("convert", str(src), "--from", "folders", "--output", str(tmp_path / "ok"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = mlcls("check", str(tmp_path / "ok"), "-O", str(tmp_path / "o3"), "--no-plots", cwd=tmp_path)
    assert proc.returncode == 0 and "(ClsDataset): passed" in proc.stdout


def test_help_lists_the_new_options() -> None:
    for command, options in (
        ("check", ("--dataset-type",)),
        ("split", ("--dataset-type", "--stratify", "--no-stratify")),
        ("convert", ("--val-percent", "--seed", "folders")),
    ):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        for option in options:
            assert option in result.stdout, (command, option)
