"""COCO -> MLClsDataset conversion (mlcls_cli.data.convert)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlcls_cli.data.convert import annotation_candidates, convert_coco, normalize_source_type
from mlcls_cli.data.listfile import load_label_names, load_samples
from mlcls_cli.errors import DatasetError, InputMissingError, UsageError
from tests.datasets import write_image

# Non-contiguous COCO ids, shuffled in the array; val lacks "toothbrush" and adds "bus" (id 5).
TRAIN_CATS = [{"id": 90, "name": "toothbrush"}, {"id": 1, "name": "person"}, {"id": 3, "name": "car"}]
VAL_CATS = [{"id": 5, "name": "bus"}, {"id": 3, "name": "car"}, {"id": 1, "name": "person"}]


def make_coco(root: Path, train: dict[str, Any] | None = None, val: dict[str, Any] | None = None) -> Path:
    """Write a small COCO folder: 4 train images (one missing on disk), 2 val images."""
    train = train or {
        "images": [
            {"id": 30, "file_name": "c.jpg", "width": 32, "height": 32},
            {"id": 10, "file_name": "a.jpg", "width": 32, "height": 32},
            {"id": 20, "file_name": "b.jpg", "width": 32, "height": 32},  # no annotations: a negative
            {"id": 40, "file_name": "gone.jpg", "width": 32, "height": 32},  # file missing
        ],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 1, "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 90, "iscrowd": 1},  # crowd: still a positive
            {"id": 3, "image_id": 30, "category_id": 3, "iscrowd": 0},
            {"id": 4, "image_id": 40, "category_id": 3, "iscrowd": 0},
        ],
        "categories": TRAIN_CATS,
    }
    val = val or {
        "images": [
            {"id": 2, "file_name": "nested/e.jpg"},  # resolved by basename: images/e.jpg
            {"id": 1, "file_name": "d.jpg"},
        ],
        "annotations": [
            {"id": 7, "image_id": 1, "category_id": 5},
            {"id": 8, "image_id": 1, "category_id": 1},
            {"id": 9, "image_id": 2, "category_id": 3},
        ],
        "categories": VAL_CATS,
    }
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"):
        write_image(root / "images" / name)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instance_train.json").write_text(json.dumps(train), encoding="utf-8")
    (root / "annotations" / "instance_val.json").write_text(json.dumps(val), encoding="utf-8")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` and its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_converts_with_one_contiguous_class_map(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    summary = convert_coco(root)

    assert (root / "label.txt").read_text() == "0 person\n1 car\n2 bus\n3 toothbrush\n"
    assert load_label_names(root / "label.txt") == ["person", "car", "bus", "toothbrush"]
    sidecar = json.loads((root / "coco_category_map.json").read_text())
    assert sidecar == {
        "0": {"coco_id": 1, "name": "person"},
        "1": {"coco_id": 3, "name": "car"},
        "2": {"coco_id": 5, "name": "bus"},
        "3": {"coco_id": 90, "name": "toothbrush"},
    }
    # ascending image id, TAB canonical, crowd annotation counted, negative kept, missing image skipped
    assert (root / "train.txt").read_text() == (
        "images/a.jpg\t1,0,0,1\nimages/b.jpg\t0,0,0,0\nimages/c.jpg\t0,1,0,0\n"
    )
    assert (root / "val.txt").read_text() == "images/d.jpg\t1,0,1,0\nimages/e.jpg\t0,1,0,0\n"
    train = load_samples(root / "train.txt", 4)
    assert all((root / s.path).is_file() for s in train)
    assert len(load_samples(root / "val.txt", 4)) == 2

    assert summary.num_classes == 4
    assert summary.val_only_categories == [5]
    t, v = summary.splits["train"], summary.splits["val"]
    assert (t.images, t.lines, t.negatives, t.missing, t.annotations, t.crowd) == (4, 3, 1, 1, 4, 1)
    assert t.missing_examples == ["gone.jpg"]
    assert (v.images, v.lines, v.negatives, v.missing) == (2, 2, 0, 0)
    assert [(c.name, c.train, c.val) for c in summary.classes] == [
        ("person", 1, 1),
        ("car", 1, 1),
        ("bus", 0, 1),
        ("toothbrush", 1, 0),
    ]
    assert json.loads(json.dumps(summary.to_dict()))["splits"]["train"]["lines"] == 3


def test_reports_missing_images_and_val_only_classes_on_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    convert_coco(make_coco(tmp_path / "coco"))
    out, err = capfd.readouterr()
    assert out == ""  # pycocotools' "loading annotations..." never reaches stdout
    assert "1 image files not found" in err and "gone.jpg" in err
    assert "appear only in instance_val.json" in err and "bus" in err
    assert "1 without annotations kept as negatives" in err


def test_accepts_instances_2017_names(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    ann = root / "annotations"
    (ann / "instance_train.json").rename(ann / "instances_train2017.json")
    (ann / "instance_val.json").rename(ann / "instances_val.json")
    summary = convert_coco(root)
    assert summary.splits["train"].annotation_file == "annotations/instances_train2017.json"
    assert summary.splits["val"].annotation_file == "annotations/instances_val.json"


def test_missing_annotation_files_list_what_was_looked_for(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    (root / "annotations" / "instance_val.json").unlink()
    with pytest.raises(InputMissingError) as info:
        convert_coco(root)
    for name in annotation_candidates("val"):
        assert name in info.value.message
    assert "instance_train.json" not in info.value.message


def test_finds_coco_root_below_the_given_folder(tmp_path: Path) -> None:
    make_coco(tmp_path / "top" / "coco")
    summary = convert_coco(tmp_path / "top")
    assert Path(summary.output_dir) == tmp_path / "top" / "coco"


def test_conflicting_category_names_fail(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    val = json.loads((root / "annotations" / "instance_val.json").read_text())
    val["categories"] = [{"id": 3, "name": "truck"}]
    (root / "annotations" / "instance_val.json").write_text(json.dumps(val))
    with pytest.raises(DatasetError, match=r"category id 3 is 'car'.*but 'truck'"):
        convert_coco(root)
    assert not (root / "train.txt").exists()


def test_annotation_with_undefined_category_fails(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    train = json.loads((root / "annotations" / "instance_train.json").read_text())
    train["annotations"].append({"id": 99, "image_id": 10, "category_id": 77})
    (root / "annotations" / "instance_train.json").write_text(json.dumps(train))
    with pytest.raises(DatasetError, match="category_id 77"):
        convert_coco(root)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a COCO object"),
        ('{"images": [], "annotations": []}', '"categories"'),
        ('{"images": [{"id": 1}], "categories": []}', r"images\[0\]"),
        (
            '{"images": [], "categories": [], "annotations": [{"image_id": 1, "category_id": [1]}]}',
            r"annotations\[0\]",
        ),
    ],
)
def test_malformed_annotation_file_is_a_dataset_error(tmp_path: Path, content: str, pattern: str) -> None:
    root = make_coco(tmp_path / "coco")
    (root / "annotations" / "instance_train.json").write_text(content)
    with pytest.raises(DatasetError, match=pattern):
        convert_coco(root)


def test_all_images_missing_is_an_error(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    for p in (root / "images").iterdir():
        p.unlink()
    with pytest.raises(DatasetError, match="none of its 4 images was found"):
        convert_coco(root)


def test_annotation_without_id_is_accepted(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    train = json.loads((root / "annotations" / "instance_train.json").read_text())
    for ann in train["annotations"]:
        del ann["id"]
    (root / "annotations" / "instance_train.json").write_text(json.dumps(train))
    convert_coco(root)
    assert (root / "train.txt").read_text().splitlines()[0] == "images/a.jpg\t1,0,0,1"


def test_source_type_is_case_insensitive_and_checked() -> None:
    assert normalize_source_type("COCO") == "coco"
    assert normalize_source_type(" coco ") == "coco"
    with pytest.raises(UsageError, match=r"'VOC'.*supported: COCO"):
        normalize_source_type("VOC")
    # PaddleX's substring test lets "CO" or "" through; mlcls does not
    for bad in ("CO", "", None):
        with pytest.raises(UsageError):
            normalize_source_type(bad)


def test_previous_lists_are_backed_up_once(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    originals = {"train.txt": b"images/a.jpg\t1\n", "val.txt": b"images/d.jpg\t0\n", "label.txt": b"0 old\n"}
    for name, data in originals.items():
        (root / name).write_bytes(data)
    first = convert_coco(root)
    assert sorted(Path(p).name for p in first.backups_created) == [
        "label.txt.bak",
        "train.txt.bak",
        "val.txt.bak",
    ]
    for name, data in originals.items():
        assert (root / f"{name}.bak").read_bytes() == data
    converted = snapshot(root)

    second = convert_coco(root)
    assert second.backups_created == []
    assert len(second.backups_kept) == 3
    for name, data in originals.items():
        assert (root / f"{name}.bak").read_bytes() == data  # the first backup is never overwritten
    assert snapshot(root) == converted
    assert not list(root.glob(".*"))  # no temp files, journal or rollback copies left behind


def test_output_dir_leaves_source_untouched(tmp_path: Path) -> None:
    root = make_coco(tmp_path / "coco")
    before = snapshot(root)
    out = tmp_path / "converted"
    summary = convert_coco(root, output_dir=out)
    assert snapshot(root) == before
    assert summary.images_link == "linked"
    assert (out / "images").is_symlink()
    names = load_label_names(out / "label.txt")
    for split in ("train", "val"):
        for sample in load_samples(out / f"{split}.txt", len(names)):
            assert (out / sample.path).is_file()
    assert not any(p.name.endswith(".bak") for p in out.iterdir())
