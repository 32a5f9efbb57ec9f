"""What `check_dataset` writes: the result JSON (PaddleX keys and order), demo images, histogram."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from PIL import Image

from mlcls_cli import __version__
from mlcls_cli.data.check import check_dataset
from mlcls_cli.errors import InputMissingError
from tests.datasets import format_line, make_dataset, write_image

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


def test_result_json_keys_order_and_values(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "data" / "mlcls_tiny", classes=3, train=15, val=5)
    out = tmp_path / "out"
    report = check_dataset(made.root, output_dir=out, progress=False)
    saved = json.loads((out / "check_dataset_result.json").read_text(encoding="utf-8"))
    assert saved == report.result
    assert list(saved) == [*PADDLEX_KEYS, "errors", "warnings", "statistics", "mlcls_version"]
    assert list(saved["attributes"]) == ATTRIBUTE_KEYS
    assert saved["done_flag"] is True and saved["check_pass"] is True
    attrs = saved["attributes"]
    assert attrs["num_classes"] == 3 and attrs["train_samples"] == 15 and attrs["val_samples"] == 5
    assert len(attrs["train_sample_paths"]) == 10 and len(attrs["val_sample_paths"]) == 5
    for rel in attrs["train_sample_paths"] + attrs["val_sample_paths"]:
        assert rel.startswith("check_dataset/demo_img/")
        assert (out / rel).is_file()
    assert saved["analysis"] == {"histogram": "check_dataset/histogram.png"}
    assert (out / "check_dataset" / "histogram.png").is_file()
    assert saved["dataset_path"] == "mlcls_tiny"
    assert saved["show_type"] == "image" and saved["dataset_type"] == "MLClsDataset"
    assert saved["errors"] == {"count": 0, "counts": {}, "examples": []}
    assert saved["mlcls_version"] == __version__
    # plain stdlib JSON: slashes are not escaped as PaddleX's ujson does
    assert "\\/" not in (out / "check_dataset_result.json").read_text(encoding="utf-8")


def test_statistics_match_the_dataset(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=4, train=12, val=6, negatives=1)
    report = check_dataset(made.root, output_dir=tmp_path / "out", progress=False, plots=False)
    stats = report.statistics
    for split in ("train", "val"):
        expected = [sum(vec[i] for _, vec in made.samples(split)) for i in range(4)]
        assert [c[split] for c in stats["per_class"]] == expected
        assert stats["samples"][split] == len(made.samples(split))
    assert stats["splits"]["train"]["negatives"] == 1
    assert stats["image_size"]["width"] == {"min": 32, "median": 32, "max": 32}
    assert stats["image_size"]["images"] == 18


def test_label_file_is_relative_to_the_check_dataset_folder(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "dataset" / "mlcls_nus_examples")
    out = tmp_path / "output"
    report = check_dataset(made.root, output_dir=out, progress=False, plots=False)
    ref = report.result["attributes"]["label_file"]
    assert ref == "../../dataset/mlcls_nus_examples/label.txt"
    assert (out / "check_dataset" / ref).resolve() == made.label_file.resolve()


def test_relative_paths_give_the_same_label_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_dataset(tmp_path / "dataset" / "ds")
    monkeypatch.chdir(tmp_path)
    report = check_dataset("dataset/ds", output_dir="output", progress=False, plots=False)
    assert report.result["attributes"]["label_file"] == "../../dataset/ds/label.txt"
    assert Path("output/check_dataset_result.json").is_file()


def test_folder_above_the_root_is_accepted(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "downloads" / "unpacked" / "mine")
    report = check_dataset(tmp_path / "downloads", output_dir=tmp_path / "out", progress=False, plots=False)
    assert report.passed
    assert report.root == made.root
    assert report.result["dataset_path"] == "mine"


def test_missing_dataset_raises_and_writes_a_failed_result(tmp_path: Path) -> None:
    with pytest.raises(InputMissingError):
        check_dataset(tmp_path / "nope", output_dir=tmp_path / "out", progress=False)
    saved = json.loads((tmp_path / "out" / "check_dataset_result.json").read_text(encoding="utf-8"))
    assert saved["done_flag"] is False and saved["check_pass"] is False
    assert "nope" in saved["err_msg"]


def test_failed_check_carries_paddlex_failure_keys_and_ours(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=2, train=4, val=2)
    made.set_list_line("train", 2, format_line(made.train[1][0], [1, 0, 1]))
    made.image(made.val[0][0]).unlink()
    out = tmp_path / "out"
    report = check_dataset(made.root, output_dir=out, progress=False, plots=False)
    saved = json.loads((out / "check_dataset_result.json").read_text(encoding="utf-8"))
    assert saved == report.result and not report.passed
    # what a script written for PaddleX reads: done_flag false, err_type, err_msg
    assert saved["done_flag"] is False and saved["err_type"] == "DatasetError"
    assert list(saved)[:4] == ["done_flag", "check_pass", "err_type", "err_msg"]
    lines = saved["err_msg"].splitlines()
    assert lines[0] == "dataset check failed: 2 error(s) in 2 kind(s)"
    assert any("list.vector_length" in line and "train.txt:2" in line for line in lines[1:])
    assert any("image.missing" in line and "val.txt:1" in line and "hint:" in line for line in lines[1:])
    # and our richer report stays
    assert saved["check_pass"] is False and saved["errors"]["count"] == 2
    assert saved["errors"]["counts"] == {"list.vector_length": 1, "image.missing": 1}
    assert saved["attributes"]["train_samples"] == 4 and "statistics" in saved and "warnings" in saved


def test_passed_check_has_no_failure_keys(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=2, train=3, val=2)
    report = check_dataset(made.root, output_dir=tmp_path / "out", progress=False, plots=False)
    assert report.result["done_flag"] is True and report.result["check_pass"] is True
    assert "err_type" not in report.result and "err_msg" not in report.result


def test_demo_picks_follow_paddlex_seeded_shuffle(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=25, val=4)
    report = check_dataset(made.root, output_dir=tmp_path / "out", progress=False)
    lines = list(made.train)
    random.seed(123)  # what PaddleX does before shuffling each split's lines
    random.shuffle(lines)
    expected = [f"check_dataset/demo_img/train_{Path(rel).stem}.png" for rel, _ in lines[:10]]
    assert report.result["attributes"]["train_sample_paths"] == expected


def test_demo_names_never_collide(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    made = make_dataset(root, classes=2, train=0, val=0)
    rels = {
        "train": ["images/a/x.png", "images/b/x.png", "images/x.jpg"],
        "val": ["images/a/x.png", "images/c/x.png"],
    }
    for split, paths in rels.items():
        for i, rel in enumerate(paths):
            write_image(root / rel, (40, 30), (10 * i, 100, 200))
        made.write_list_lines(split, [format_line(rel, [1, i % 2]) for i, rel in enumerate(paths)])
    report = check_dataset(root, output_dir=tmp_path / "out", progress=False)
    attrs = report.result["attributes"]
    names = attrs["train_sample_paths"] + attrs["val_sample_paths"]
    assert len(names) == 5 == len(set(names))
    files = sorted(p.name for p in (tmp_path / "out" / "check_dataset" / "demo_img").iterdir())
    assert files == sorted(Path(n).name for n in names)
    assert all(n.split("/")[-1].startswith(("train_", "val_")) for n in names)
    assert "check_dataset/demo_img/train_x.jpg" in names  # JPEG sources stay JPEG


def test_demo_images_have_a_red_label_banner(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=3, val=1, image_size=(120, 80))
    report = check_dataset(made.root, output_dir=tmp_path / "out", progress=False)
    demo = tmp_path / "out" / report.result["attributes"]["val_sample_paths"][0]
    with Image.open(demo) as im:
        assert im.width == 120 * 4 and im.height > 80 * 4  # small images are enlarged for legible text
        assert im.convert("RGB").getpixel((479, im.height - 1)) == (255, 0, 0)


def test_stale_demo_images_are_removed(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=2, train=3, val=2)
    stale = tmp_path / "out" / "check_dataset" / "demo_img" / "old.png"
    write_image(stale)
    check_dataset(made.root, output_dir=tmp_path / "out", progress=False)
    assert not stale.exists()


def test_no_plots_skips_histogram_and_demos(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds")
    report = check_dataset(made.root, output_dir=tmp_path / "out", progress=False, plots=False)
    assert report.result["analysis"]["histogram"] is None
    assert report.result["attributes"]["train_sample_paths"] == []
    assert not (tmp_path / "out" / "check_dataset" / "histogram.png").exists()


def test_broken_samples_are_not_drawn(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=4, val=2)
    made.image(made.train[0][0]).unlink()
    made.set_list_line("train", 2, format_line(made.train[1][0], [1, 1]))
    report = check_dataset(made.root, output_dir=tmp_path / "out", progress=False)
    assert not report.passed
    drawn = report.result["attributes"]["train_sample_paths"]
    assert len(drawn) == 2
    assert not any(Path(made.train[i][0]).stem in d for d in drawn for i in (0, 1))


def test_non_latin_class_names_do_not_crash(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=["猫", "狗", "汽车", "Ünïcödé"], train=8, val=4)
    report = check_dataset(made.root, output_dir=tmp_path / "out", progress=False)
    assert report.passed
    assert report.class_names == ["猫", "狗", "汽车", "Ünïcödé"]
    saved = (tmp_path / "out" / "check_dataset_result.json").read_text(encoding="utf-8")
    assert "汽车" in saved  # kept as text, not \\u escapes
    with Image.open(tmp_path / "out" / "check_dataset" / "histogram.png") as im:
        assert im.format == "PNG"


@pytest.mark.parametrize("classes", [3, 80])
def test_histogram_written_for_few_and_many_classes(tmp_path: Path, classes: int) -> None:
    made = make_dataset(
        tmp_path / "ds", classes=classes, train=classes + 5, val=classes // 2 + 1, image_size=(8, 8)
    )
    report = check_dataset(made.root, output_dir=tmp_path / "out", progress=False)
    assert report.passed
    with Image.open(tmp_path / "out" / report.result["analysis"]["histogram"]) as im:
        width, height = im.size
    assert 1000 <= width <= 6500 and 600 <= height <= 1200
    if classes == 80:
        assert width > 2500


def test_demo_folder_is_output_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = make_dataset(tmp_path / "ds", train=2, val=1)
    monkeypatch.chdir(tmp_path)
    report = check_dataset(os.path.relpath(made.root), output_dir="o", progress=False)
    for rel in report.result["attributes"]["train_sample_paths"]:
        assert (tmp_path / "o" / rel).is_file()


def test_dot_as_dataset_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = make_dataset(tmp_path / "here", train=2, val=1)
    monkeypatch.chdir(made.root)
    report = check_dataset(".", output_dir=tmp_path / "out", progress=False, plots=False)
    assert report.passed
    assert report.result["dataset_path"] == "here"
