"""Dataset types: detection from the lists, forcing a type, the model-task check, the ClsDataset line grammar and loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcls_cli.data.check import check_dataset
from mlcls_cli.data.dataset_type import (
    CLS_DATASET,
    ML_DATASET,
    DatasetTypeError,
    dataset_type_for_task,
    detect_dataset_type,
    guess_dataset_type,
    normalize_dataset_type,
    require_dataset_type,
)
from mlcls_cli.data.listfile import (
    ClsSample,
    LineError,
    Sample,
    format_cls_line,
    load_cls_samples,
    parse_class_id,
    split_cls_line,
)
from mlcls_cli.errors import DatasetError, ExitCode, InputMissingError, UsageError
from mlcls_cli.models.registry import TASK_CLS, TASK_ML, get_model_info
from tests.datasets import make_cls_dataset, make_dataset


def write_lists(root: Path, names: list[str], train: list[str], val: list[str] | None = None) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "label.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(names)))
    (root / "train.txt").write_text("".join(x + "\n" for x in train))
    (root / "val.txt").write_text("".join(x + "\n" for x in (val or [])))
    return root


# --------------------------------------------------------------------------- detection


def test_both_types_are_detected(tmp_path: Path) -> None:
    ml = make_dataset(tmp_path / "ml", classes=3)
    cls = make_cls_dataset(tmp_path / "cls", classes=3)
    assert detect_dataset_type(ml.root) == ML_DATASET
    assert detect_dataset_type(cls.root) == CLS_DATASET
    guess = guess_dataset_type(cls.root)
    assert not guess.ambiguous
    assert guess.reason == "from the label field of 6 lines of train.txt and 3 lines of val.txt"


def test_detection_works_from_a_folder_above_the_root(tmp_path: Path) -> None:
    make_cls_dataset(tmp_path / "downloads" / "flowers")
    assert detect_dataset_type(tmp_path / "downloads") == CLS_DATASET


@pytest.mark.parametrize(
    ("names", "lines", "expected", "ambiguous"),
    [
        # a single id with 2+ classes can only be a class id, whatever the separator
        (["a", "b", "c"], ["images/x.jpg\t2", "images/y.jpg\t0"], CLS_DATASET, False),
        # space-separated vectors are still vectors
        (["a", "b"], ["images/x.jpg 1,0"], ML_DATASET, False),
        # one class: a 0 or 1 fits both types; the separator decides, and says so
        (["a"], ["images/x.jpg\t1", "images/y.jpg\t0"], ML_DATASET, True),
        (["a"], ["images/x.jpg 0", "images/y.jpg 0"], CLS_DATASET, True),
        # an id other than 0/1 is a class id even when label.txt is unreadable
        ([], ["images/x.jpg\t5"], CLS_DATASET, False),
        # the majority wins over one stray line of the other type
        (["a", "b"], ["images/x.jpg 0", "images/y.jpg 1", "images/z.jpg\t1,0"], CLS_DATASET, False),
        # nothing readable: MLClsDataset, as before mlcls knew two types
        (["a", "b"], [], ML_DATASET, True),
        (["a", "b"], ["garbage", ""], ML_DATASET, True),
    ],
)
def test_detection_rules(
    tmp_path: Path, names: list[str], lines: list[str], expected: str, ambiguous: bool
) -> None:
    root = write_lists(tmp_path / "ds", names, lines)
    guess = guess_dataset_type(root)
    assert (guess.dataset_type, guess.ambiguous) == (expected, ambiguous)


def test_one_class_guess_explains_itself(tmp_path: Path) -> None:
    root = write_lists(tmp_path / "ds", ["only"], ["images/x.jpg 0"])
    reason = guess_dataset_type(root).reason
    assert "space separator" in reason and "1-class" in reason


def test_detection_reads_only_the_first_lines(tmp_path: Path) -> None:
    lines = [f"images/{i}.jpg 1" for i in range(100)] + ["images/z.jpg\t1,0"] * 500
    root = write_lists(tmp_path / "ds", ["a", "b"], lines)
    assert guess_dataset_type(root).votes == ((CLS_DATASET, 100), (ML_DATASET, 0))


def test_missing_dataset_folder(tmp_path: Path) -> None:
    with pytest.raises(InputMissingError):
        detect_dataset_type(tmp_path / "nope")


# --------------------------------------------------------------------------- forcing a type


def test_forcing_clsdataset_on_multilabel_data_reports_every_line(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=4, val=2)
    report = check_dataset(
        made.root, output_dir=tmp_path / "out", plots=False, progress=False, dataset_type="cls" + "dataset"
    )
    assert report.dataset_type == CLS_DATASET and report.type_source == "forced"
    assert report.problems.counts == {"list.type_mismatch": 6, "list.empty": 2}
    first = report.problems.examples["list.type_mismatch"][0]
    assert (first.file, first.line) == ("train.txt", 1)
    assert "--dataset-type MLClsDataset" in first.hint


def test_forcing_mlclsdataset_on_single_label_data_reports_every_line(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=3, train=4, val=2)
    report = check_dataset(
        made.root, output_dir=tmp_path / "out", plots=False, progress=False, dataset_type="MLClsDataset"
    )
    assert report.dataset_type == ML_DATASET and report.result["dataset_type"] == ML_DATASET
    kinds = report.problems.counts
    assert kinds["list.type_mismatch"] == 6
    first = report.problems.examples["list.type_mismatch"][0]
    assert (first.file, first.line) == ("train.txt", 1)
    assert "a single class id '0', as in a ClsDataset" in first.message
    assert "--dataset-type ClsDataset" in first.hint


def test_forcing_the_detected_type_changes_nothing(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds")
    auto = check_dataset(made.root, output_dir=tmp_path / "a", plots=False, progress=False)
    forced = check_dataset(
        made.root, output_dir=tmp_path / "b", plots=False, progress=False, dataset_type="ClsDataset"
    )
    assert auto.result["statistics"] == forced.result["statistics"] and auto.passed and forced.passed


def test_unknown_type_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown dataset type 'COCO'"):
        check_dataset(tmp_path, output_dir=tmp_path / "out", dataset_type="COCO")
    assert normalize_dataset_type(" mlclsdataset ") == ML_DATASET


# --------------------------------------------------------------------------- the model's task


def test_task_decides_the_type() -> None:
    assert dataset_type_for_task(TASK_CLS) == CLS_DATASET
    assert dataset_type_for_task(TASK_ML) == ML_DATASET
    assert get_model_info("PP-LCNet_x1_0").task == TASK_CLS
    assert get_model_info("PP-LCNet_x1_0_ML").task == TASK_ML
    with pytest.raises(UsageError):
        dataset_type_for_task("detection")


def test_matching_model_and_dataset_pass(tmp_path: Path) -> None:
    cls = make_cls_dataset(tmp_path / "cls")
    ml = make_dataset(tmp_path / "ml")
    assert require_dataset_type(cls.root, TASK_CLS, model="PP-LCNet_x1_0") == CLS_DATASET
    assert require_dataset_type(ml.root, TASK_ML, model="PP-LCNet_x1_0_ML") == ML_DATASET


def test_single_label_model_on_a_multilabel_dataset_is_exit_65(tmp_path: Path) -> None:
    ml = make_dataset(tmp_path / "ml")
    with pytest.raises(DatasetTypeError) as info:
        require_dataset_type(ml.root, TASK_CLS, model="PP-LCNet_x1_0")
    err = info.value
    assert isinstance(err, DatasetError) and err.exit_code == ExitCode.DATAERR == 65
    assert (
        "model PP-LCNet_x1_0 is single-label (image_classification) and trains on a ClsDataset" in err.message
    )
    assert "is a multi-label MLClsDataset" in err.message
    assert "PP-LCNet_x1_0_ML" in err.hint and "--from folders" in err.hint


def test_multilabel_model_on_a_single_label_dataset_is_exit_65(tmp_path: Path) -> None:
    cls = make_cls_dataset(tmp_path / "cls")
    with pytest.raises(DatasetTypeError) as info:
        require_dataset_type(cls.root, TASK_ML, model="ResNet50_ML")
    assert "model ResNet50_ML is multi-label (image_multilabel_classification)" in info.value.message
    assert "is a single-label ClsDataset" in info.value.message
    assert "ResNet50" in info.value.hint  # the family's single-label model


def test_an_ambiguous_dataset_is_read_as_the_models_type(tmp_path: Path) -> None:
    root = write_lists(tmp_path / "ds", ["only"], ["images/x.jpg 0"])
    assert require_dataset_type(root, TASK_ML) == ML_DATASET
    assert require_dataset_type(root, TASK_CLS) == CLS_DATASET


# --------------------------------------------------------------------------- line grammar and loader


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("", "list.blank_line"),
        ("   ", "list.blank_line"),
        ("images/a.jpg\t1", "list.tab_separator"),
        ("images/a b.jpg\t1", "list.tab_separator"),
        ("images/a.jpg\t1,0", "list.type_mismatch"),
        ("images/a b.jpg 1", "list.path_spaces"),
        ("images/a.jpg 1 ", "list.trailing_space"),
        ("images/a.jpg 1  ", "list.trailing_space"),
        ("images/a.jpg  1", "list.extra_space"),
        (" images/a.jpg 1", "list.extra_space"),
        ("images/a.jpg", "list.fields"),
        ("images/a.jpg x y", "list.fields"),
    ],
)
def test_cls_line_grammar_names_each_problem(line: str, kind: str) -> None:
    with pytest.raises(LineError) as info:
        parse_class_id(split_cls_line(line)[1], 3)
    assert info.value.kind == kind and info.value.hint


def test_split_cls_line_accepts_what_paddlex_splits() -> None:
    assert split_cls_line("images/a.jpg 3") == ("images/a.jpg", "3")
    assert split_cls_line("images/a.jpg 3\r") == ("images/a.jpg", "3")
    assert split_cls_line("images/über/ä.jpg 0") == ("images/über/ä.jpg", "0")


@pytest.mark.parametrize(
    ("text", "k", "kind"),
    [
        ("x", None, "list.class_id"),
        ("1.5", 3, "list.class_id"),
        ("1,0", 3, "list.type_mismatch"),
        ("3", 3, "list.class_id_range"),
        ("-1", 3, "list.class_id_range"),
    ],
)
def test_parse_class_id_errors(text: str, k: int | None, kind: str) -> None:
    with pytest.raises(LineError) as info:
        parse_class_id(text, k)
    assert info.value.kind == kind


def test_format_cls_line_refuses_whitespace() -> None:
    assert format_cls_line("images/a.jpg", 2) == "images/a.jpg 2"
    with pytest.raises(ValueError, match="whitespace"):
        format_cls_line("images/a b.jpg", 2)


def test_load_cls_samples_strict(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=3, train=5, val=1)
    samples = load_cls_samples(made.list_file("train"), 3)
    assert samples[1] == ClsSample(path="images/img_00001.png", class_id=1, lineno=2)
    assert [s.class_id for s in samples] == [0, 1, 2, 0, 1]
    assert samples[2].positives == (2,)
    assert Sample(path="x", labels=(0, 1, 1)).positives == (1, 2)
    made.append_list_line("train", "")
    with pytest.raises(DatasetError, match=r"train\.txt:6: blank line"):
        load_cls_samples(made.list_file("train"), 3)
    made.set_list_line("train", 6, "images/img_00000.png 3")
    with pytest.raises(DatasetError, match=r"train\.txt:6: class id 3 is not in label\.txt"):
        load_cls_samples(made.list_file("train"), 3)
