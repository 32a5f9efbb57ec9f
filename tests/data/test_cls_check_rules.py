"""Every rule of `mlcls check` on a ClsDataset: one broken dataset per rule, its kind, file:line and message."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from mlcls_cli.data.check import ERROR, WARNING, CheckReport, Problem, check_dataset, kind_table
from tests.datasets import MadeClsDataset, make_cls_dataset, write_image


def run(root: Path, tmp_path: Path, **kwargs) -> CheckReport:
    kwargs.setdefault("plots", False)
    kwargs.setdefault("progress", False)
    return check_dataset(root, output_dir=tmp_path / "out", **kwargs)


def examples(report: CheckReport, kind: str) -> list[Problem]:
    return report.problems.examples.get(kind, [])


def where(report: CheckReport, kind: str) -> list[tuple[str | None, int | None]]:
    return [(p.file, p.line) for p in examples(report, kind)]


@pytest.fixture
def ds(tmp_path: Path) -> MadeClsDataset:
    return make_cls_dataset(tmp_path / "ds", classes=3, train=6, val=3)


def test_valid_cls_dataset_has_no_problems(ds: MadeClsDataset, tmp_path: Path) -> None:
    report = run(ds.root, tmp_path)
    assert report.passed and report.problems.counts == {}
    assert report.dataset_type == "ClsDataset" and report.result["dataset_type"] == "ClsDataset"
    assert report.images_checked == 9


def _truncated_jpeg(path: Path) -> None:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buffer, format="JPEG", quality=95)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


def _set(split: str, lineno: int, text: str) -> Callable[[MadeClsDataset], None]:
    return lambda d: d.set_list_line(split, lineno, text)


def _blank_line(d: MadeClsDataset) -> None:
    lines = d.list_lines("train")
    d.write_list_lines("train", [*lines[:2], "", *lines[2:]])


def _dup(d: MadeClsDataset) -> None:
    d.append_list_line("train", d.line(*d.train[0]))


def _conflict(d: MadeClsDataset) -> None:
    rel, c = d.train[0]
    d.append_list_line("train", d.line(rel, (c + 1) % 3))


def _overlap(d: MadeClsDataset) -> None:
    d.append_list_line("val", d.line(*d.train[1]))


def _missing(d: MadeClsDataset) -> None:
    d.image(d.train[1][0]).unlink()


def _unreadable(d: MadeClsDataset) -> None:
    d.image(d.val[2][0]).write_bytes(b"not a picture")


def _escape(d: MadeClsDataset) -> None:
    write_image(d.root.parent / "outside.png")
    d.set_list_line("train", 3, "../outside.png 2")


def _backslash(d: MadeClsDataset) -> None:
    rel, c = d.val[0]
    d.set_list_line("val", 1, d.line(rel.replace("/", "\\"), c))


def _no_val_samples(d: MadeClsDataset) -> None:
    d.write_list_lines("val", [d.line(rel, 0) for rel, _ in d.val])


def _no_train_samples(d: MadeClsDataset) -> None:
    d.write_list_lines("train", [d.line(rel, c if c != 2 else 1) for rel, c in d.train])


def _empty_list(d: MadeClsDataset) -> None:
    d.write_list_lines("val", [])


def _labels_from_one(d: MadeClsDataset) -> None:
    d.write_label_lines(["1 cat", "2 dog", "3 car"])
    d.write_list_lines("train", [d.line(rel, c + 1) for rel, c in d.train])
    d.write_list_lines("val", [d.line(rel, c + 1) for rel, c in d.val])


def _no_label_file(d: MadeClsDataset) -> None:
    d.label_file.unlink()


# (case id, how to break the dataset, kind, [(file, line)], words the first message holds, severity)
CORPUS: list[
    tuple[str, Callable[[MadeClsDataset], None], str, list[tuple[str | None, int | None]], str, str]
] = [
    (
        "tab",
        _set("train", 2, "images/img_00001.png\t1"),
        "list.tab_separator",
        [("train.txt", 2)],
        "TAB",
        ERROR,
    ),
    (
        "path-with-space",
        _set("train", 3, "images/my img.png 2"),
        "list.path_spaces",
        [("train.txt", 3)],
        "'images/my img.png' contains a space",
        ERROR,
    ),
    (
        "trailing-space",
        _set("train", 4, "images/img_00003.png 0 "),
        "list.trailing_space",
        [("train.txt", 4)],
        "1 trailing space after '0'",
        ERROR,
    ),
    (
        "double-space",
        _set("val", 2, "images/img_00007.png  1"),
        "list.extra_space",
        [("val.txt", 2)],
        "two spaces in a row",
        ERROR,
    ),
    (
        "leading-space",
        _set("val", 1, " images/img_00006.png 0"),
        "list.extra_space",
        [("val.txt", 1)],
        "starts with a space",
        ERROR,
    ),
    ("blank-line", _blank_line, "list.blank_line", [("train.txt", 3)], "blank line", ERROR),
    (
        "one-field",
        _set("train", 5, "images/img_00004.png"),
        "list.fields",
        [("train.txt", 5)],
        "one field",
        ERROR,
    ),
    (
        "comma-separated",
        _set("train", 5, "images/img_00004.png,1"),
        "list.fields",
        [("train.txt", 5)],
        "one field with commas",
        ERROR,
    ),
    (
        "three-fields",
        _set("train", 5, "images/img_00004.png 1 x"),
        "list.fields",
        [("train.txt", 5)],
        "expected 2 space-separated fields, got 3",
        ERROR,
    ),
    (
        "id-not-int",
        _set("train", 6, "images/img_00005.png 2.0"),
        "list.class_id",
        [("train.txt", 6)],
        "class id '2.0' is not an integer",
        ERROR,
    ),
    (
        "id-too-large",
        _set("val", 3, "images/img_00008.png 3"),
        "list.class_id_range",
        [("val.txt", 3)],
        "class id 3 is not in label.txt (ids 0..2)",
        ERROR,
    ),
    (
        "id-negative",
        _set("train", 1, "images/img_00000.png -1"),
        "list.class_id_range",
        [("train.txt", 1)],
        "class id -1",
        ERROR,
    ),
    (
        "multi-label-line",
        _set("train", 2, "images/img_00001.png\t0,1,0"),
        "list.type_mismatch",
        [("train.txt", 2)],
        "as in an MLClsDataset",
        ERROR,
    ),
    (
        "space-separated-vector",
        _set("train", 2, "images/img_00001.png 0,1,0"),
        "list.type_mismatch",
        [("train.txt", 2)],
        "is a vector",
        ERROR,
    ),
    (
        "duplicate",
        _dup,
        "list.duplicate_line",
        [("train.txt", 7)],
        "images/img_00000.png repeats line 1",
        WARNING,
    ),
    (
        "conflict",
        _conflict,
        "list.conflicting_labels",
        [("train.txt", 7)],
        "with a different class id",
        ERROR,
    ),
    (
        "overlap",
        _overlap,
        "split.overlap",
        [("val.txt", 4)],
        "images/img_00001.png is also in train.txt",
        WARNING,
    ),
    ("missing-image", _missing, "image.missing", [("train.txt", 2)], "images/img_00001.png", ERROR),
    ("unreadable-image", _unreadable, "image.unreadable", [("val.txt", 3)], "images/img_00008.png", ERROR),
    (
        "path-escapes",
        _escape,
        "list.path_escapes",
        [("train.txt", 3)],
        "points outside the dataset root",
        ERROR,
    ),
    ("backslash", _backslash, "list.backslash_path", [("val.txt", 1)], "uses backslashes", WARNING),
    (
        "empty-val-class",
        _no_val_samples,
        "classes.no_val_samples",
        [("label.txt", 2), ("label.txt", 3)],
        "no val",
        WARNING,
    ),
    (
        "empty-train-class",
        _no_train_samples,
        "classes.no_train_samples",
        [("label.txt", 3)],
        "'car'",
        WARNING,
    ),
    ("empty-list", _empty_list, "list.empty", [("val.txt", None)], "val.txt holds no samples", ERROR),
    (
        "ids-from-one",
        _labels_from_one,
        "label.ids_not_from_zero",
        [("label.txt", 1)],
        "smallest class id is 1",
        ERROR,
    ),
    (
        "no-label-file",
        _no_label_file,
        "layout.missing_file",
        [("label.txt", None)],
        "label.txt not found",
        ERROR,
    ),
]


@pytest.mark.parametrize(
    ("case", "breaker", "kind", "places", "words", "severity"), CORPUS, ids=[c[0] for c in CORPUS]
)
def test_each_rule_is_reported_where_it_is(
    tmp_path: Path,
    case: str,
    breaker: Callable[[MadeClsDataset], None],
    kind: str,
    places: list[tuple[str | None, int | None]],
    words: str,
    severity: str,
) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=3, train=6, val=3)
    breaker(made)
    report = run(made.root, tmp_path, dataset_type="ClsDataset")
    assert where(report, kind) == places, report.problems.counts
    first = examples(report, kind)[0]
    assert words in first.message
    assert kind_table("ClsDataset")[kind][0] == severity
    assert first.hint  # a specific or the default fix
    if severity == WARNING:
        assert report.passed and report.error_count == 0, report.problems.counts
        assert kind in report.result["warnings"]["counts"]
    if severity == ERROR:
        assert kind in report.result["errors"]["counts"]
        assert f"{places[0][0]}:{places[0][1]}" in report.result["err_msg"] or places[0][1] is None


def test_every_grammar_problem_of_one_file_is_reported_together(ds: MadeClsDataset, tmp_path: Path) -> None:
    ds.write_list_lines(
        "train",
        [
            "images/img_00000.png 0",
            "images/img_00001.png\t1",
            "images/my img.png 2",
            "images/img_00003.png 0 ",
            "",
            "images/img_00004.png cat",
            "images/img_00005.png 9",
        ],
    )
    report = run(ds.root, tmp_path)
    assert report.dataset_type == "ClsDataset"
    assert {k: where(report, k) for k in report.problems.kinds(ERROR)} == {
        "list.tab_separator": [("train.txt", 2)],
        "list.path_spaces": [("train.txt", 3)],
        "list.trailing_space": [("train.txt", 4)],
        "list.blank_line": [("train.txt", 5)],
        "list.class_id": [("train.txt", 6)],
        "list.class_id_range": [("train.txt", 7)],
    }
    # a class name where the id belongs gets a hint naming the id
    assert examples(report, "list.class_id")[0].hint == "'cat' is a class name: write its id 0 instead"
    assert report.result["attributes"]["train_samples"] == 3  # the lines whose fields could be split


def test_blank_line_is_an_error_here_but_a_warning_for_mlclsdataset() -> None:
    assert kind_table("ClsDataset")["list.blank_line"][0] == ERROR
    assert kind_table("MLClsDataset")["list.blank_line"][0] == WARNING
    assert "'<image path> <class id>'" in kind_table("ClsDataset")["layout.missing_file"][1]
    assert "<TAB>" in kind_table("MLClsDataset")["layout.missing_file"][1]


@pytest.mark.parametrize("token", ["+2", "02", "2\t", "1_0"])
def test_ids_that_paddlex_int_accepts_are_accepted(tmp_path: Path, token: str) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=12, train=12, val=12)
    made.set_list_line("train", 4, f"{made.train[3][0]} {token}")  # was class 3
    report = run(made.root, tmp_path)
    assert report.passed, report.problems.counts
    assert report.error_count == 0 and where(report, "classes.no_train_samples") == [("label.txt", 4)]
    assert report.statistics["per_class"][int(token)]["train"] == 2


def test_crlf_lists_pass_and_label_crlf_is_a_warning(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds", newline="\r\n")
    report = run(made.root, tmp_path)
    assert report.passed
    assert where(report, "label.crlf") == [("label.txt", None)]
    assert "list.trailing_space" not in report.problems.counts
    assert report.class_names == ["cat", "dog", "car"]


def test_decode_finds_a_truncated_jpeg(ds: MadeClsDataset, tmp_path: Path) -> None:
    _truncated_jpeg(ds.root / "images" / "broken.jpg")
    line = ds.append_list_line("val", "images/broken.jpg 1")
    assert run(ds.root, tmp_path).passed
    decoded = run(ds.root, tmp_path, decode=True, workers=2)
    assert where(decoded, "image.decode_failed") == [("val.txt", line)]


def test_label_problems_are_shared_with_mlclsdataset(ds: MadeClsDataset, tmp_path: Path) -> None:
    ds.write_label_lines(["0 cat", "x dog", "2 car", "2 again"])
    report = run(ds.root, tmp_path)
    assert where(report, "label.malformed") == [("label.txt", 2)]
    assert where(report, "label.duplicate_id") == [("label.txt", 4)]
    assert where(report, "label.ids_gap") == [("label.txt", None)]
    assert report.result["attributes"]["num_classes"] == 3  # max id + 1, as PaddleX
    assert report.dataset_type == "ClsDataset"


def test_ids_are_checked_against_max_id_plus_one(ds: MadeClsDataset, tmp_path: Path) -> None:
    ds.write_label_lines(["0 cat", "1 dog"])
    report = run(ds.root, tmp_path)
    assert where(report, "list.class_id_range") == [("train.txt", 3), ("train.txt", 6), ("val.txt", 3)]
    assert "ids 0..1" in examples(report, "list.class_id_range")[0].message
