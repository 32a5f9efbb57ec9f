"""`mlcls check -c/-o`: Global.* from the config, and CheckDataset.convert/split run before the check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from tests.conftest import SAMPLE_DATASET

runner = CliRunner()


def copy_sample(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLE_DATASET, tmp_path / "ds"))


def test_split_enabled_by_overrides(tmp_path: Path) -> None:
    ds = copy_sample(tmp_path)
    before = sorted((ds / "train.txt").read_text().splitlines() + (ds / "val.txt").read_text().splitlines())
    result = runner.invoke(
        app,
        [
            "check",
            "-o", f"Global.dataset_dir={ds}",
            "-o", f"Global.output={tmp_path / 'out'}",
            "-o", "CheckDataset.split.enable=True",
            "-o", "CheckDataset.split.train_percent=75",
            "-o", "CheckDataset.split.val_percent=25",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    train = (ds / "train.txt").read_text().splitlines()
    val = (ds / "val.txt").read_text().splitlines()
    assert (len(train), len(val)) == (72, 24)
    assert sorted(train + val) == before
    assert (ds / "train.txt.bak").exists()
    report = json.loads((tmp_path / "out" / "check_dataset_result.json").read_text())
    assert report["check_pass"] is True
    assert report["attributes"]["train_samples"] == 72


def test_config_file_supplies_dataset_and_output(tmp_path: Path) -> None:
    ds = copy_sample(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"Global:\n  mode: check_dataset\n  dataset_dir: {ds}\n  output: {tmp_path / 'o2'}\n")
    result = runner.invoke(app, ["check", "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o2" / "check_dataset_result.json").exists()
    # explicit --output beats the file
    result = runner.invoke(app, ["check", "-c", str(cfg), "--output", str(tmp_path / "o3")])
    assert result.exit_code == 0
    assert (tmp_path / "o3" / "check_dataset_result.json").exists()


def test_bad_split_percentages_in_config_exit_78(tmp_path: Path) -> None:
    ds = copy_sample(tmp_path)
    original = (ds / "train.txt").read_bytes()
    result = runner.invoke(
        app,
        ["check", str(ds), "-O", str(tmp_path / "o"), "-o", "CheckDataset.split.enable=true",
         "-o", "CheckDataset.split.train_percent=80", "-o", "CheckDataset.split.val_percent=30"],
    )  # fmt: skip
    assert result.exit_code == 78
    assert "110" in result.output
    assert (ds / "train.txt").read_bytes() == original


def test_split_enabled_without_percentages_exit_78(tmp_path: Path) -> None:
    ds = copy_sample(tmp_path)
    result = runner.invoke(
        app, ["check", str(ds), "-O", str(tmp_path / "o"), "-o", "CheckDataset.split.enable=true"]
    )
    assert result.exit_code == 78
    assert "train_percent" in result.output


def _write_coco(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    cats = [{"id": 1, "name": "cat"}, {"id": 7, "name": "dog"}]
    for split, ids in (("train", [1, 2, 3]), ("val", [4, 5])):
        images, anns = [], []
        for i in ids:
            Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(root / "images" / f"{i}.png")
            images.append({"id": i, "file_name": f"{i}.png", "width": 16, "height": 16})
            anns.append(
                {
                    "id": i,
                    "image_id": i,
                    "category_id": 1 if i % 2 else 7,
                    "bbox": [0, 0, 4, 4],
                    "area": 16,
                    "iscrowd": 0,
                }
            )
        doc = {"images": images, "annotations": anns, "categories": cats}
        (root / "annotations" / f"instance_{split}.json").write_text(json.dumps(doc))


def test_convert_enabled_by_config_file_then_check(tmp_path: Path) -> None:
    root = tmp_path / "coco"
    _write_coco(root)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("CheckDataset:\n  convert:\n    enable: true\n    src_dataset_type: COCO\n")
    result = runner.invoke(app, ["check", str(root), "-c", str(cfg), "-O", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (root / "label.txt").read_text() == "0 cat\n1 dog\n"
    assert len((root / "train.txt").read_text().splitlines()) == 3
    report = json.loads((tmp_path / "out" / "check_dataset_result.json").read_text())
    assert report["attributes"]["num_classes"] == 2


def test_convert_enabled_without_source_type_exit_78(tmp_path: Path) -> None:
    root = tmp_path / "coco"
    _write_coco(root)
    result = runner.invoke(
        app, ["check", str(root), "-O", str(tmp_path / "o"), "-o", "CheckDataset.convert.enable=True"]
    )
    assert result.exit_code == 78
    assert "src_dataset_type" in result.output
    assert not (root / "train.txt").exists()
