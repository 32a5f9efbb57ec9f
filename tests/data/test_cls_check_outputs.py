"""What `check_dataset` writes for a ClsDataset: PaddleX's result keys, statistics, histogram and demo images."""

from __future__ import annotations

import json
import random
from pathlib import Path

from PIL import Image

from mlcls_cli.data.check import check_dataset
from tests.datasets import make_cls_dataset

PADDLEX_KEYS = [
    "done_flag",
    "check_pass",
    "attributes",
    "analysis",
    "dataset_path",
    "show_type",
    "dataset_type",
]
ATTRIBUTE_KEYS = [
    "label_file",
    "num_classes",
    "train_samples",
    "train_sample_paths",
    "val_samples",
    "val_sample_paths",
]


def test_result_json_has_paddlex_keys_and_dataset_type(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "dataset" / "cls_flowers_examples", classes=4, train=16, val=6)
    out = tmp_path / "output"
    report = check_dataset(made.root, output_dir=out, progress=False)
    saved = json.loads((out / "check_dataset_result.json").read_text(encoding="utf-8"))
    assert saved == report.result
    assert list(saved) == [*PADDLEX_KEYS, "errors", "warnings", "statistics", "mlcls_version"]
    assert list(saved["attributes"]) == ATTRIBUTE_KEYS
    assert saved["dataset_type"] == "ClsDataset" and saved["show_type"] == "image"
    assert saved["dataset_path"] == "cls_flowers_examples"
    attrs = saved["attributes"]
    assert attrs["label_file"] == "../../dataset/cls_flowers_examples/label.txt"
    assert (attrs["num_classes"], attrs["train_samples"], attrs["val_samples"]) == (4, 16, 6)
    assert len(attrs["train_sample_paths"]) == 10 and len(attrs["val_sample_paths"]) == 6
    assert all((out / p).is_file() for p in attrs["train_sample_paths"] + attrs["val_sample_paths"])
    assert saved["analysis"] == {"histogram": "check_dataset/histogram.png"}
    with Image.open(out / "check_dataset" / "histogram.png") as im:
        assert im.width > 100 and im.height > 100


def test_statistics_count_samples_per_class(tmp_path: Path) -> None:
    class_of = [0] * 6 + [1] * 3 + [2] * 1 + [0, 1, 1, 2]  # 10 train, 4 val
    made = make_cls_dataset(tmp_path / "ds", classes=3, train=10, val=4, class_of=class_of)
    report = check_dataset(made.root, output_dir=tmp_path / "out", progress=False, plots=False)
    stats = report.statistics
    assert stats["per_class"] == [
        {"id": 0, "name": "cat", "train": 6, "val": 1},
        {"id": 1, "name": "dog", "train": 3, "val": 2},
        {"id": 2, "name": "car", "train": 1, "val": 1},
    ]
    assert stats["samples"] == {"train": 10, "val": 4}
    assert stats["splits"]["train"] == {
        "samples": 10,
        "imbalance_ratio": 6.0,
        "largest_class_share": 0.6,
        "classes_without_samples": [],
    }
    assert stats["splits"]["val"]["largest_class_share"] == 0.5
    assert stats["imbalance_ratio"] == 6.0
    assert "top_label_combinations" not in stats  # a single-label sample has one class: nothing to combine
    assert stats["image_size"]["images"] == 14


def test_statistics_skip_invalid_lines(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=3, train=6, val=3)
    made.set_list_line("train", 1, "images/img_00000.png 7")
    report = check_dataset(made.root, output_dir=tmp_path / "out", progress=False, plots=False)
    assert not report.passed
    assert [c["train"] for c in report.statistics["per_class"]] == [1, 2, 2]
    assert report.result["attributes"]["train_samples"] == 6


def test_demo_images_follow_paddlex_shuffle_and_show_the_class_name(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=3, train=25, val=3, image_size=(120, 80))
    out = tmp_path / "out"
    report = check_dataset(made.root, output_dir=out, progress=False)
    lines = list(made.train)
    random.seed(123)  # PaddleX seeds the shuffle of each split's lines with 123
    random.shuffle(lines)
    expected = [f"check_dataset/demo_img/train_{Path(rel).stem}.png" for rel, _ in lines[:10]]
    assert report.result["attributes"]["train_sample_paths"] == expected
    with Image.open(out / expected[0]) as im:
        # the label banner below the picture, as for an MLClsDataset (its text is the one class name)
        assert im.width == 120 * 4 and im.height > 80 * 4
        assert im.convert("RGB").getpixel((im.width - 1, im.height - 1)) == (255, 0, 0)


def test_demo_label_is_the_class_name(tmp_path: Path, monkeypatch) -> None:
    import mlcls_cli.utils.draw as draw

    drawn: list[list[str]] = []
    real = draw.draw_label_banner

    def spy(image, items, **kwargs):
        drawn.append(list(items))
        return real(image, items, **kwargs)

    monkeypatch.setattr(draw, "draw_label_banner", spy)
    made = make_cls_dataset(tmp_path / "ds", classes=["rose", "sun flower"], train=2, val=2)
    check_dataset(made.root, output_dir=tmp_path / "out", progress=False)
    assert sorted(map(tuple, drawn)) == [("rose",), ("rose",), ("sun flower",), ("sun flower",)]


def test_failed_check_has_paddlex_failure_keys(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=2, train=4, val=2)
    made.set_list_line("train", 2, "images/img_00001.png\t1")
    report = check_dataset(made.root, output_dir=tmp_path / "out", progress=False, plots=False)
    saved = json.loads((tmp_path / "out" / "check_dataset_result.json").read_text(encoding="utf-8"))
    assert saved["done_flag"] is False and saved["err_type"] == "DatasetError"
    assert saved["err_msg"].splitlines()[1].startswith("- list.tab_separator x1 at train.txt:2")
    assert saved["dataset_type"] == "ClsDataset" and not report.passed
