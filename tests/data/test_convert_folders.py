"""`convert --from folders`: class folders into a new ClsDataset, the source untouched, re-runs and refusals."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from mlcls_cli.data.check import check_dataset
from mlcls_cli.data.folders import SIDECAR, convert_folders
from mlcls_cli.data.listfile import load_cls_samples, load_label_names
from mlcls_cli.errors import DatasetError, InputMissingError, UsageError
from tests.datasets import make_cls_dataset, write_image


def make_tree(root: Path, counts: dict[str, int], split: str = "", ext: str = "jpg") -> Path:
    """``root[/split]/<class>/<class>_<i>.<ext>`` with ``counts[class]`` small images each."""
    base = root / split if split else root
    for k, (name, n) in enumerate(counts.items()):
        for i in range(n):
            write_image(base / name / f"img_{k}_{i:03d}.{ext}", (16, 16), (k * 40 % 256, i * 9 % 256, 100))
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file and link under ``folder``: content, or the link target."""
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(folder).as_posix()
            if p.is_symlink():
                found[rel] = b"-> " + os.readlink(p).encode()
            elif p.is_file():
                found[rel] = p.read_bytes()
            else:
                found[rel] = b"<dir>"
    return found


def loaded(out: Path) -> tuple[list[str], dict[str, list[tuple[str, int]]]]:
    names = load_label_names(out / "label.txt")
    lists = {
        split: [(s.path, s.class_id) for s in load_cls_samples(out / f"{split}.txt", len(names))]
        for split in ("train", "val")
    }
    return names, lists


def test_train_and_val_trees(tmp_path: Path) -> None:
    src = tmp_path / "pets"
    make_tree(src, {"dog": 4, "cat": 3, "golden retriever": 2}, "train")
    make_tree(src, {"dog": 2, "cat": 1, "golden retriever": 1}, "val")
    before = snapshot(src)
    summary = convert_folders(src)
    out = tmp_path / "pets_cls"
    assert summary.output_dir == str(out) and summary.layout == "train/val"
    names, lists = loaded(out)
    # sorted folder names, as torchvision's ImageFolder numbers them; the name keeps its space
    assert names == sorted(["dog", "cat", "golden retriever"]) == ["cat", "dog", "golden retriever"]
    assert lists["train"][0] == ("images/train/cat/img_1_000.jpg", 0)
    assert ("images/val/golden_retriever/img_2_000.jpg", 2) in lists["val"]
    assert Counter(c for _, c in lists["train"]) == {0: 3, 1: 4, 2: 2}
    assert Counter(c for _, c in lists["val"]) == {0: 1, 1: 2, 2: 1}
    # nothing copied: the class folders are linked, and the links resolve to the source
    link = out / "images" / "train" / "golden_retriever"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert link.resolve() == (src / "train" / "golden retriever").resolve()
    assert all((out / p).is_file() for p, _ in lists["train"] + lists["val"])
    assert snapshot(src) == before  # the source is byte-identical
    sidecar = json.loads((out / SIDECAR).read_text(encoding="utf-8"))
    assert sidecar["classes"][2] == {
        "id": 2,
        "name": "golden retriever",
        "folders": {"train": "train/golden retriever", "val": "val/golden retriever"},
    }
    report = check_dataset(out, output_dir=tmp_path / "check", progress=False, plots=False)
    assert report.passed and report.dataset_type == "ClsDataset"


def test_one_tree_split_by_val_percent(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "flowers", {"daisy": 20, "rose": 10, "tulip": 2, "lone": 1})
    summary = convert_folders(src, output_dir=tmp_path / "out", val_percent=20, seed=3)
    assert summary.layout == "classes" and (summary.val_percent, summary.seed) == (20, 3)
    names, lists = loaded(tmp_path / "out")
    assert names == ["daisy", "lone", "rose", "tulip"]
    assert (summary.train, summary.val) == (
        26,
        7,
    )  # 33 images: train round-half-up(26.4) = 26, as `mlcls split`
    val = Counter(c for _, c in lists["val"])
    assert val == {0: 4, 2: 2, 3: 1}  # by class; the 2-image class in both; the 1-image class in train
    assert [c.val for c in summary.classes] == [4, 0, 2, 1]
    assert summary.classes_without_val == ["lone"]
    assert lists["train"][0][0].startswith("images/daisy/")
    assert (tmp_path / "out" / "images" / "daisy").is_symlink()
    assert sorted(p for p, _ in lists["train"] + lists["val"]) == sorted(
        f"images/{p.parent.name}/{p.name}" for p in src.rglob("*.jpg")
    )
    again = convert_folders(src, output_dir=tmp_path / "again", val_percent=20, seed=3)
    assert (tmp_path / "again" / "val.txt").read_bytes() == (tmp_path / "out" / "val.txt").read_bytes()
    assert again.val == summary.val
    other = convert_folders(src, output_dir=tmp_path / "other", val_percent=20, seed=4)
    assert (tmp_path / "other" / "val.txt").read_bytes() != (tmp_path / "out" / "val.txt").read_bytes()
    assert other.val == summary.val


def test_train_tree_without_val_is_split_with_the_default_percent(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "ds", {"a": 10, "b": 10}, "train")
    make_tree(src, {"a": 3, "b": 3}, "test")  # ignored, as PaddleX ignores test.txt
    summary = convert_folders(src, output_dir=tmp_path / "out")
    assert summary.layout == "train" and summary.val_percent == 20
    names, lists = loaded(tmp_path / "out")
    assert names == ["a", "b"] and Counter(c for _, c in lists["val"]) == {0: 2, 1: 2}
    assert not any("/test/" in p or "images/test" in p for p, _ in lists["train"] + lists["val"])
    assert lists["train"][0][0].startswith("images/a/")


def test_a_class_named_train_in_one_tree(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "vehicles", {"bus": 3, "train": 3})
    summary = convert_folders(src, output_dir=tmp_path / "out")
    assert summary.layout == "classes" and [c.name for c in summary.classes] == ["bus", "train"]


def test_skipped_files_are_counted(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    src = make_tree(tmp_path / "ds", {"a": 3, "b": 3}, "train")
    make_tree(src, {"a": 1, "b": 1}, "val")
    (src / "train" / "a" / "notes.txt").write_text("x")
    (src / "train" / "a" / "Thumbs.db").write_bytes(b"x")
    write_image(src / "train" / "a" / "my photo.png")
    write_image(src / "train" / "b" / "sub dir" / "x.png")
    write_image(src / "train" / "b" / "nested" / "y.PNG")  # sub-folders of a class belong to it
    write_image(src / "train" / ".hidden.png")
    (src / "train" / ".ipynb_checkpoints").mkdir()
    write_image(src / "train" / "loose.jpg")
    (src / "README.md").write_text("about")
    summary = convert_folders(src, output_dir=tmp_path / "out")
    assert (summary.skipped_non_images, summary.skipped_whitespace) == (2, 2)
    assert summary.skipped_outside == 2 and summary.skipped_hidden == 2
    assert summary.examples["whitespace"] == ["train/a/my photo.png", "train/b/sub dir/x.png"]
    _, lists = loaded(tmp_path / "out")
    assert ("images/train/b/nested/y.PNG", 1) in lists["train"]
    assert summary.train == 7 and [c.name for c in summary.classes] == ["a", "b"]
    err = capfd.readouterr().err
    assert "skipped 2 images whose path inside the class folder has a space" in err
    assert "skipped 2 files that are not images" in err


def test_empty_class_folders_are_left_out(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    src = make_tree(tmp_path / "ds", {"a": 3, "c": 3})
    (src / "b").mkdir()
    (src / "b" / "readme.txt").write_text("no images")
    summary = convert_folders(src, output_dir=tmp_path / "out")
    assert [c.name for c in summary.classes] == ["a", "c"] and summary.empty_classes == ["b"]
    assert "1 class folders hold no images and are left out: b" in capfd.readouterr().err


def test_names_with_spaces_non_ascii_and_colliding_links(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "ds", {"sun flower": 2, "sun_flower": 2, "Löwenzahn": 2, "蒲公英": 2})
    summary = convert_folders(src, output_dir=tmp_path / "out")
    names = load_label_names(tmp_path / "out" / "label.txt")
    assert names == sorted(["sun flower", "sun_flower", "Löwenzahn", "蒲公英"])
    links = {c.name: c.link for c in summary.classes}
    assert links == {
        "Löwenzahn": "Löwenzahn",
        "sun flower": "sun_flower_2",
        "sun_flower": "sun_flower",
        "蒲公英": "蒲公英",
    }
    report = check_dataset(tmp_path / "out", output_dir=tmp_path / "check", progress=False, plots=False)
    assert report.passed, report.problems.counts


def test_rerun_is_safe_and_updates_classes(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "ds", {"a": 4, "b": 4, "c": 4})
    out = tmp_path / "out"
    first = convert_folders(src, output_dir=out)
    original = {n: (out / n).read_bytes() for n in ("label.txt", "train.txt", "val.txt")}
    second = convert_folders(src, output_dir=out)
    assert {n: (out / n).read_bytes() for n in original} == original
    assert second.links == {"created": 0, "updated": 0, "kept": 3, "removed": 0}
    assert sorted(Path(p).name for p in second.backups_created) == [
        "label.txt.bak",
        "train.txt.bak",
        "val.txt.bak",
    ]
    # a class removed from the source: its link goes, the first backups stay as they were
    for p in (src / "c").iterdir():
        p.unlink()
    (src / "c").rmdir()
    third = convert_folders(src, output_dir=out)
    assert [c.name for c in third.classes] == ["a", "b"] and third.links["removed"] == 1
    assert not (out / "images" / "c").exists() and not (out / "images" / "c").is_symlink()
    assert third.backups_created == [] and (out / "train.txt.bak").read_bytes() == original["train.txt"]
    assert first.num_classes == 3 and third.num_classes == 2
    assert not list(out.glob(".*"))  # no journal or temporary file left


def test_layout_change_on_rerun_replaces_links(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "ds", {"bus": 3, "train": 3})  # one tree with a class named train
    out = tmp_path / "out"
    convert_folders(src, output_dir=out)
    assert (out / "images" / "train").is_symlink()
    src2 = make_tree(tmp_path / "ds2", {"x": 3, "y": 3}, "train")
    make_tree(src2, {"x": 1, "y": 1}, "val")
    summary = convert_folders(src2, output_dir=out)
    assert (out / "images" / "train").is_dir() and not (out / "images" / "train").is_symlink()
    assert not (out / "images" / "bus").is_symlink()
    assert summary.layout == "train/val"
    assert check_dataset(out, output_dir=tmp_path / "check", progress=False, plots=False).passed


@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda p: make_tree(p, {}), DatasetError, "no class sub-folders"),
        (lambda p: (make_tree(p, {"a": 2}), write_image(p / "x.jpg")), DatasetError, "only one class folder"),
        (lambda p: [(p / n).mkdir(parents=True) for n in "ab"], DatasetError, "no images"),
        (lambda p: (make_tree(p, {"a": 2, "b": 2}, "train"), make_tree(p, {"a": 1, "z": 1}, "val")), DatasetError, "in val/ but none in train/: z"),
        (lambda p: (make_tree(p, {"a": 2, "b": 2}, "train"), make_tree(p, {"a": 1}, "val"), make_tree(p, {"a": 1}, "valid")), DatasetError, "several validation trees"),
        (lambda p: make_tree(p, {"a": 2, "b": 2}, "val"), DatasetError, "no train/ with class folders"),
        (lambda p: make_cls_dataset(p), UsageError, "already is a dataset"),
    ],
    ids=["no-class-folders", "one-class", "no-images", "val-only-class", "two-val-trees", "val-without-train", "a-dataset"],
)  # fmt: skip
def test_refusals(tmp_path: Path, build, error: type[Exception], words: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    build(src)
    before = snapshot(src)
    with pytest.raises(error, match=words) as info:
        convert_folders(src, output_dir=tmp_path / "out")
    assert info.value.exit_code == (65 if error is DatasetError else 2)
    assert snapshot(src) == before
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_source_is_66(tmp_path: Path) -> None:
    with pytest.raises(InputMissingError, match="does not exist") as info:
        convert_folders(tmp_path / "nope")
    assert info.value.exit_code == 66
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(InputMissingError, match="is not a folder"):
        convert_folders(tmp_path / "file.jpg")


def test_unsafe_outputs_are_refused_and_nothing_changes(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    before = snapshot(tmp_path)
    for out, words in (
        (src, "is the source folder or inside it"),
        (src / "a" / "out", "is the source folder or inside it"),
        (foreign, "was not written by `mlcls convert --from folders`"),
        (foreign / "keep.txt", "is not a folder"),
    ):
        with pytest.raises(UsageError, match=words) as info:
            convert_folders(src, output_dir=out)
        assert info.value.exit_code == 2
    assert snapshot(tmp_path) == before


def test_an_output_whose_images_is_a_link_is_refused(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a": 2, "b": 2})
    out = tmp_path / "out"
    out.mkdir()
    (out / SIDECAR).write_text("{}")
    os.symlink(src, out / "images")
    with pytest.raises(UsageError, match="is a link or a file"):
        convert_folders(src, output_dir=out)
    assert not (src / "a" / "a").exists()


def test_val_percent_rules(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", {"a": 2, "b": 2}, "train")
    make_tree(src, {"a": 1, "b": 1}, "val")
    with pytest.raises(UsageError, match="has val/"):
        convert_folders(src, output_dir=tmp_path / "out", val_percent=10)
    for bad in (0, 100, 12.5, True):
        with pytest.raises(UsageError, match="between 1 and 99"):
            convert_folders(src, output_dir=tmp_path / "out", val_percent=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
