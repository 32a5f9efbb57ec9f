"""Each validation rule of `mlcls check`: the kind, file and line reported, and that other problems survive."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from mlcls_cli.data.check import ERROR, KINDS, WARNING, CheckReport, Problem, check_dataset, probe_image
from mlcls_cli.errors import UsageError
from tests.datasets import MadeDataset, format_line, make_dataset, write_image


def run(ds_dir: Path, tmp_path: Path, **kwargs) -> CheckReport:
    kwargs.setdefault("plots", False)
    kwargs.setdefault("progress", False)
    return check_dataset(ds_dir, output_dir=tmp_path / "out", **kwargs)


def examples(report: CheckReport, kind: str) -> list[Problem]:
    return report.problems.examples.get(kind, [])


def where(report: CheckReport, kind: str) -> list[tuple[str | None, int | None]]:
    return [(p.file, p.line) for p in examples(report, kind)]


@pytest.fixture
def ds(tmp_path: Path) -> MadeDataset:
    return make_dataset(tmp_path / "ds", classes=3, train=6, val=3)


def test_valid_dataset_has_no_problems(ds: MadeDataset, tmp_path: Path) -> None:
    report = run(ds.root, tmp_path)
    assert report.passed
    assert report.problems.counts == {}
    assert report.images_checked == 9


def test_missing_label_and_val_files_are_both_reported(ds: MadeDataset, tmp_path: Path) -> None:
    ds.label_file.unlink()
    ds.list_file("val").unlink()
    ds.set_list_line("train", 2, "images/img_00001.png\t1,x,0")
    report = run(ds.root, tmp_path)
    assert not report.passed
    assert sorted(where(report, "layout.missing_file")) == [("label.txt", None), ("val.txt", None)]
    # train.txt is still read line by line without label.txt
    assert where(report, "list.vector_values") == [("train.txt", 2)]
    assert report.result["attributes"]["num_classes"] is None


def test_missing_images_folder_with_list_files_present(ds: MadeDataset, tmp_path: Path) -> None:
    for p in sorted((ds.root / "images").iterdir()):
        p.unlink()
    (ds.root / "images").rmdir()
    report = run(ds.root, tmp_path)
    assert where(report, "layout.missing_images_dir") == [("images", None)]
    assert report.problems.counts["image.missing"] == 9


def test_folder_without_dataset_is_reported_and_result_written(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = run(tmp_path / "empty", tmp_path)
    assert report.problems.counts == {"layout.root_not_found": 1}
    saved = json.loads(report.result_path.read_text(encoding="utf-8"))
    assert saved["done_flag"] is False and saved["check_pass"] is False  # PaddleX: false on failure
    assert saved["err_type"] == "DatasetError" and "layout.root_not_found" in saved["err_msg"]
    assert saved["errors"]["counts"] == {"layout.root_not_found": 1}


def test_two_images_folders_are_ambiguous(tmp_path: Path) -> None:
    make_dataset(tmp_path / "top" / "a", train=3, val=3)
    make_dataset(tmp_path / "top" / "b", train=3, val=3)
    report = run(tmp_path / "top", tmp_path)
    assert "layout.ambiguous_root" in report.problems.counts
    assert not report.passed


def test_label_file_problems_all_reported_with_lines(ds: MadeDataset, tmp_path: Path) -> None:
    ds.write_label_lines(["0 cat", "x dog", "", "2 car", "2 again", "3 cat"])
    ds.set_list_line("train", 1, "images/img_00000.png\t1,0")
    report = run(ds.root, tmp_path)
    assert where(report, "label.malformed") == [("label.txt", 2)]
    assert where(report, "label.blank_line") == [("label.txt", 3)]
    assert where(report, "label.duplicate_id") == [("label.txt", 5)]
    assert where(report, "label.duplicate_name") == [("label.txt", 6)]
    assert where(report, "label.ids_gap") == [("label.txt", None)]
    # vectors are checked against max id + 1 = 4 classes, as PaddleX sizes them
    assert report.result["attributes"]["num_classes"] == 4
    assert report.problems.counts["list.vector_length"] == 9
    assert ("train.txt", 1) in where(report, "list.vector_length")


def test_ids_not_starting_at_zero(ds: MadeDataset, tmp_path: Path) -> None:
    ds.write_label_lines(["1 cat", "2 dog", "3 car"])
    report = run(ds.root, tmp_path)
    assert where(report, "label.ids_not_from_zero") == [("label.txt", 1)]
    assert "label.ids_gap" in report.problems.counts  # id 0 is missing too
    assert not report.passed


def test_empty_label_file(ds: MadeDataset, tmp_path: Path) -> None:
    ds.write_label_lines([])
    report = run(ds.root, tmp_path)
    assert where(report, "label.empty") == [("label.txt", None)]
    assert report.result["statistics"]["num_classes"] is None


def test_crlf_label_file_is_a_warning_and_names_are_clean(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", newline="\r\n")
    report = run(made.root, tmp_path)
    assert report.passed
    assert where(report, "label.crlf") == [("label.txt", None)]
    assert report.class_names == ["cat", "dog", "car"]


def test_tab_in_label_file_is_a_warning(ds: MadeDataset, tmp_path: Path) -> None:
    ds.write_label_lines(["0 cat", "1\tdog", "2 car"])
    report = run(ds.root, tmp_path)
    assert report.passed
    assert where(report, "label.tab_separator") == [("label.txt", 2)]
    assert report.class_names[1] == "dog"


def test_list_line_problems_all_reported(ds: MadeDataset, tmp_path: Path) -> None:
    ds.set_list_line("train", 2, "images/img_00001.png\t1,0,0\textra")
    ds.set_list_line("train", 4, "images/img_00003.png\t1,0")
    ds.set_list_line("val", 1, "images/img_00006.png\t1,2,0")
    ds.set_list_line("val", 2, "images/img_00007.png\t1,a,0")
    report = run(ds.root, tmp_path)
    assert where(report, "list.fields") == [("train.txt", 2)]
    assert where(report, "list.vector_length") == [("train.txt", 4)]
    assert where(report, "list.vector_values") == [("val.txt", 1), ("val.txt", 2)]
    assert "not 0 or 1" in examples(report, "list.vector_values")[0].message
    assert "not an integer" in examples(report, "list.vector_values")[1].message
    assert report.error_count == 4


def test_missing_and_unreadable_images(ds: MadeDataset, tmp_path: Path) -> None:
    ds.image(ds.train[1][0]).unlink()
    ds.image(ds.val[2][0]).write_bytes(b"this is not a picture")
    report = run(ds.root, tmp_path)
    assert where(report, "image.missing") == [("train.txt", 2)]
    assert where(report, "image.unreadable") == [("val.txt", 3)]
    assert ds.val[2][0] in examples(report, "image.unreadable")[0].message


def test_image_path_that_is_a_folder_counts_as_missing(ds: MadeDataset, tmp_path: Path) -> None:
    (ds.root / "images" / "sub").mkdir()
    line = ds.append_list_line("train", format_line("images/sub", [1, 0, 0]))
    report = run(ds.root, tmp_path)
    assert where(report, "image.missing") == [("train.txt", line)]


def test_duplicate_and_conflicting_lines(ds: MadeDataset, tmp_path: Path) -> None:
    rel, vec = ds.train[0]
    dup = ds.append_list_line("train", format_line(rel, vec))
    other = [1 - v for v in vec]
    conflict = ds.append_list_line("train", format_line("./" + rel, other))
    report = run(ds.root, tmp_path)
    assert where(report, "list.duplicate_line") == [("train.txt", dup)]
    assert where(report, "list.conflicting_labels") == [("train.txt", conflict)]
    assert report.error_count == 1


def test_train_val_overlap_is_a_warning(ds: MadeDataset, tmp_path: Path) -> None:
    rel, vec = ds.train[2]
    line = ds.append_list_line("val", format_line(rel, vec))
    report = run(ds.root, tmp_path)
    assert report.passed
    assert where(report, "split.overlap") == [("val.txt", line)]


def test_classes_without_positives_in_train_and_val(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=4, val=2)
    made.write_list_lines("train", [format_line(r, [1, 0, 0]) for r, _ in made.train])
    made.write_list_lines("val", [format_line(r, [0, 1, 0]) for r, _ in made.val])
    report = run(made.root, tmp_path)
    assert report.passed
    assert where(report, "classes.no_train_positives") == [("label.txt", 2), ("label.txt", 3)]
    assert where(report, "classes.no_val_positives") == [("label.txt", 1), ("label.txt", 3)]
    assert report.statistics["splits"]["train"]["classes_without_positives"] == [1, 2]


def test_negatives_are_counted_as_warnings(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=6, val=4, negatives=2)
    report = run(made.root, tmp_path)
    assert report.passed
    assert report.problems.counts["list.no_positive"] == 4
    assert where(report, "list.no_positive")[0] == ("train.txt", 5)
    assert report.statistics["splits"]["train"]["negatives"] == 2


def test_blank_lines_are_skipped_with_a_warning(ds: MadeDataset, tmp_path: Path) -> None:
    lines = ds.list_lines("train")
    ds.write_list_lines("train", [*lines[:2], "", *lines[2:], "   "])
    report = run(ds.root, tmp_path)
    assert report.passed
    assert where(report, "list.blank_line") == [("train.txt", 3), ("train.txt", 8)]
    assert report.result["attributes"]["train_samples"] == 6


def test_paths_escaping_the_root_and_backslash_paths(ds: MadeDataset, tmp_path: Path) -> None:
    write_image(tmp_path / "outside.png")
    up = ds.append_list_line("train", format_line("../outside.png", [1, 0, 0]))
    absolute = ds.append_list_line("train", format_line(str(tmp_path / "outside.png"), [1, 0, 0]))
    rel, vec = ds.val[0]
    ds.set_list_line("val", 1, format_line(rel.replace("/", "\\"), vec))
    report = run(ds.root, tmp_path)
    assert where(report, "list.path_escapes") == [("train.txt", up), ("train.txt", absolute)]
    assert where(report, "list.backslash_path") == [("val.txt", 1)]
    assert "image.missing" not in report.problems.counts  # the backslash path was found
    assert report.error_count == 2


def test_space_separated_lines_are_accepted_with_a_warning(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", separator=" ")
    report = run(made.root, tmp_path)
    assert report.passed
    assert report.problems.counts["list.space_separator"] == 9
    assert where(report, "list.space_separator")[0] == ("train.txt", 1)


def test_bom_is_a_warning_and_first_line_still_parses(ds: MadeDataset, tmp_path: Path) -> None:
    path = ds.list_file("train")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    report = run(ds.root, tmp_path)
    assert report.passed
    assert where(report, "file.bom") == [("train.txt", 1)]


def test_label_file_not_utf8(ds: MadeDataset, tmp_path: Path) -> None:
    ds.label_file.write_bytes("0 caf\xe9\n1 dog\n2 car\n".encode("latin-1"))
    ds.set_list_line("val", 1, "images/img_00006.png\t1,0")
    report = run(ds.root, tmp_path)
    assert where(report, "file.not_utf8") == [("label.txt", None)]
    # without classes the vector length is unknown, but bad values are still found
    assert "list.vector_length" not in report.problems.counts
    assert not report.passed


def test_empty_train_list(ds: MadeDataset, tmp_path: Path) -> None:
    ds.write_list_lines("train", [])
    report = run(ds.root, tmp_path)
    assert where(report, "list.empty") == [("train.txt", None)]
    assert report.result["attributes"]["train_samples"] == 0


def test_examples_are_capped_but_counts_are_complete(ds: MadeDataset, tmp_path: Path) -> None:
    for rel, _ in ds.train:
        ds.image(rel).unlink()
    report = run(ds.root, tmp_path, max_examples=2)
    assert report.problems.counts["image.missing"] == 6
    assert len(examples(report, "image.missing")) == 2
    section = report.result["errors"]
    assert section["count"] == 6 and section["counts"] == {"image.missing": 6}
    assert len(section["examples"]) == 2


def test_cmyk_image_is_a_warning(ds: MadeDataset, tmp_path: Path) -> None:
    Image.new("CMYK", (32, 32), (0, 50, 100, 0)).save(ds.root / "images" / "cmyk.jpg")
    line = ds.append_list_line("train", format_line("images/cmyk.jpg", [0, 1, 0]))
    report = run(ds.root, tmp_path)
    assert report.passed
    assert where(report, "image.unusual_mode") == [("train.txt", line)]


def _truncated_jpeg(path: Path) -> None:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buffer, format="JPEG", quality=95)
    data = buffer.getvalue()
    path.write_bytes(data[: len(data) // 2])


def test_decode_finds_truncated_jpeg_that_header_read_misses(ds: MadeDataset, tmp_path: Path) -> None:
    _truncated_jpeg(ds.root / "images" / "broken.jpg")
    line = ds.append_list_line("val", format_line("images/broken.jpg", [1, 0, 0]))
    assert probe_image(str(ds.root / "images" / "broken.jpg")).ok
    header = run(ds.root, tmp_path)
    assert header.passed
    decoded = run(ds.root, tmp_path, decode=True, workers=2)
    assert where(decoded, "image.decode_failed") == [("val.txt", line)]
    assert not decoded.passed and decoded.decode


def test_decode_with_one_worker_matches_pool(ds: MadeDataset, tmp_path: Path) -> None:
    ds.image(ds.train[0][0]).unlink()
    one = run(ds.root, tmp_path, decode=True, workers=1)
    many = run(ds.root, tmp_path, decode=True, workers=4)
    assert one.problems.counts == many.problems.counts == {"image.missing": 1}


def test_every_kind_has_a_severity_and_hint() -> None:
    for kind, (severity, hint) in KINDS.items():
        assert severity in (ERROR, WARNING), kind
        assert hint and "." in kind


def test_bad_arguments_are_usage_errors(ds: MadeDataset, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        run(ds.root, tmp_path, workers=0)
    with pytest.raises(UsageError):
        run(ds.root, tmp_path, max_examples=-1)
