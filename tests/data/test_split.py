"""Re-partitioning train/val (mlcls_cli.data.split)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from mlcls_cli.data.listfile import load_label_names, load_samples
from mlcls_cli.data.split import split_dataset, stratified_assignment, train_count, validate_percents
from mlcls_cli.errors import DatasetError, InputMissingError, UsageError
from tests.datasets import make_dataset


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def all_lines(root: Path) -> list[str]:
    return lines_of(root / "train.txt") + lines_of(root / "val.txt")


def write_lists(root: Path, names: list[str], rows: list[list[int]], n_val: int) -> list[str]:
    """A dataset whose list files hold ``rows`` (the last ``n_val`` in val); images are not needed to split."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "label.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(names)))
    lines = [f"images/{i:04d}.jpg\t{','.join(map(str, row))}" for i, row in enumerate(rows)]
    cut = len(lines) - n_val
    (root / "train.txt").write_text("".join(x + "\n" for x in lines[:cut]))
    (root / "val.txt").write_text("".join(x + "\n" for x in lines[cut:]))
    return lines


def test_same_seed_same_files_other_seed_other_order(tmp_path: Path) -> None:
    a = make_dataset(tmp_path / "a", classes=4, train=30, val=10).root
    b = make_dataset(tmp_path / "b", classes=4, train=30, val=10).root
    c = make_dataset(tmp_path / "c", classes=4, train=30, val=10).root
    original = sorted(all_lines(a))
    split_dataset(a, train_percent=80, val_percent=20, seed=7)
    split_dataset(b, train_percent=80, val_percent=20, seed=7)
    split_dataset(c, train_percent=80, val_percent=20, seed=8)
    for name in ("train.txt", "val.txt"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    assert all_lines(a) != all_lines(c)
    for root in (a, c):
        assert sorted(all_lines(root)) == original  # every line kept, verbatim
        assert len(lines_of(root / "train.txt")) == 32


def test_default_seed_is_fixed_and_reported(tmp_path: Path) -> None:
    a = make_dataset(tmp_path / "a", train=12, val=4).root
    b = make_dataset(tmp_path / "b", train=12, val=4).root
    sa = split_dataset(a, train_percent=75, val_percent=25)
    sb = split_dataset(b, train_percent=75, val_percent=25, seed=None)
    assert sa.seed == sb.seed == 0
    assert sa.to_dict()["seed"] == 0
    assert (a / "train.txt").read_bytes() == (b / "train.txt").read_bytes()


@pytest.mark.parametrize(
    ("total", "percent", "expected"),
    [(45, 90, 41), (5, 50, 3), (10, 90, 9), (15, 10, 2), (1, 50, 1), (3, 1, 0), (100, 33, 33)],
)
def test_train_count_rounds_half_up(total: int, percent: int, expected: int) -> None:
    assert train_count(total, percent) == expected


def test_rounding_applies_to_the_written_lists(tmp_path: Path) -> None:
    root = make_dataset(
        tmp_path / "ds", train=40, val=5
    ).root  # 45 lines: 40.5 -> 41 (Python round() gives 40)
    summary = split_dataset(root, train_percent=90, val_percent=10)
    assert (summary.train, summary.val) == (41, 4)
    assert len(lines_of(root / "train.txt")) == 41
    assert len(lines_of(root / "val.txt")) == 4


@pytest.mark.parametrize(
    ("train", "val", "pattern"),
    [
        (90, 20, r"train_percent \(90\) \+ val_percent \(20\) = 110"),
        (0, 100, "train_percent must be between 1 and 99, got 0"),
        (100, 0, "train_percent must be between 1 and 99, got 100"),
        (50, -50, "val_percent must be between 1 and 99, got -50"),
        (90.0, 10, "train_percent must be an integer, got 90.0"),
        (True, 99, "must be an integer"),
        ("90", 10, "must be an integer"),
    ],
)
def test_percentages_are_validated(train: object, val: object, pattern: str) -> None:
    with pytest.raises(UsageError, match=pattern):
        validate_percents(train, val)


def test_bad_percentages_change_nothing(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds").root
    before = (root / "train.txt").read_bytes()
    with pytest.raises(UsageError):
        split_dataset(root, train_percent=70, val_percent=20)
    assert (root / "train.txt").read_bytes() == before
    assert not (root / "train.txt.bak").exists()


def test_last_line_without_newline_and_crlf_stay_separate_lines(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", train=5, val=3)
    root = made.root
    train = [f"{rel}\t{','.join(map(str, v))}" for rel, v in made.train]
    val = [f"{rel}\t{','.join(map(str, v))}" for rel, v in made.val]
    (root / "train.txt").write_bytes(("\r\n".join(train)).encode())  # CRLF and no final newline
    (root / "val.txt").write_bytes(("\n".join(val) + "\n\n   \n").encode())  # trailing blank lines
    summary = split_dataset(root, train_percent=50, val_percent=50, seed=3)
    out = all_lines(root)
    assert sorted(out) == sorted(train + val)
    assert not any("\r" in line for line in out)
    assert summary.blank_lines_dropped == 2
    names = load_label_names(root / "label.txt")
    assert (
        len(load_samples(root / "train.txt", len(names))) + len(load_samples(root / "val.txt", len(names)))
        == 8
    )


def test_duplicates_across_files_are_kept_once(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    made = make_dataset(tmp_path / "ds", train=6, val=3)
    root = made.root
    first_train = lines_of(root / "train.txt")[0]
    made.append_list_line("val", first_train)
    made.append_list_line("train", first_train)
    summary = split_dataset(root, train_percent=50, val_percent=50)
    assert summary.duplicates_dropped == 2
    assert summary.total == 9
    assert all_lines(root).count(first_train) == 1
    assert "2 duplicate lines kept once" in capfd.readouterr().err


def test_per_class_counts_before_and_after(tmp_path: Path) -> None:
    names = ["a", "b", "c"]
    rows = [[1, 0, 0]] * 4 + [[1, 1, 0]] * 3 + [[0, 0, 1]] * 2 + [[0, 0, 0]]
    rows = [list(r) for r in rows]
    lines = write_lists(tmp_path / "ds", names, rows, n_val=3)
    assert len(set(lines)) == len(lines)
    summary = split_dataset(tmp_path / "ds", train_percent=60, val_percent=40, seed=1)
    assert summary.class_names == names
    assert summary.counts_before == {"train": [7, 3, 0], "val": [0, 0, 2]}
    after = summary.counts_after
    assert [after["train"][c] + after["val"][c] for c in range(3)] == [7, 3, 2]
    assert (summary.train, summary.val) == (6, 4)


def rare_label_rows(rng: random.Random, n: int, k: int) -> list[list[int]]:
    """Multi-label rows where classes 0..k-4 are common and the last three have exactly 2-3 positives."""
    rows = [[int(rng.random() < 0.35) for _ in range(k)] for _ in range(n)]
    for row in rows:
        row[k - 3 :] = [0, 0, 0]
    for c, count in ((k - 3, 2), (k - 2, 2), (k - 1, 3)):
        for i in rng.sample(range(n), count):
            rows[i][c] = 1
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_stratify_puts_every_class_with_two_positives_in_both_splits(tmp_path: Path, seed: int) -> None:
    rng = random.Random(100 + seed)
    k = 8
    rows = rare_label_rows(rng, 60, k)
    write_lists(tmp_path / "ds", [f"c{i}" for i in range(k)], rows, n_val=15)
    summary = split_dataset(tmp_path / "ds", train_percent=90, val_percent=10, seed=seed, stratify=True)
    assert (summary.train, summary.val) == (54, 6)
    assert summary.uncovered_classes == []
    totals = [sum(r[c] for r in rows) for c in range(k)]
    for c in range(k):
        if totals[c] >= 2:
            assert summary.counts_after["train"][c] >= 1, c
            assert summary.counts_after["val"][c] >= 1, c
    names = load_label_names(tmp_path / "ds" / "label.txt")
    val = load_samples(tmp_path / "ds" / "val.txt", len(names))
    assert [sum(s.labels[c] for s in val) for c in range(k)] == summary.counts_after["val"]


def test_without_stratify_the_same_data_can_miss_a_class_in_val(tmp_path: Path) -> None:
    # Shows the stratify test above is not trivially satisfied by a plain shuffle.
    missed = 0
    for seed in range(6):
        rows = rare_label_rows(random.Random(100 + seed), 60, 8)
        write_lists(tmp_path / f"ds{seed}", [f"c{i}" for i in range(8)], rows, n_val=15)
        summary = split_dataset(tmp_path / f"ds{seed}", train_percent=90, val_percent=10, seed=seed)
        missed += any(summary.counts_after["val"][c] == 0 for c in (5, 6, 7))
    assert missed >= 1


def test_stratified_assignment_sizes_and_proportions() -> None:
    rng = random.Random(5)
    labels = [frozenset(c for c in range(5) if rng.random() < 0.3) for _ in range(200)]
    flags = stratified_assignment(labels, 40, 20)
    assert sum(flags) == 40
    per_class_val = Counter(c for item, v in zip(labels, flags, strict=True) if v for c in item)
    per_class = Counter(c for item in labels for c in item)
    for c, n in per_class.items():
        assert abs(per_class_val[c] - n * 0.2) <= 2, (c, per_class_val[c], n)
    assert flags == stratified_assignment(labels, 40, 20)  # deterministic


def test_stratified_assignment_repairs_coverage_with_a_tiny_val() -> None:
    # Two rare classes on different samples; val has only 2 places, so both must go there.
    labels = [frozenset({0})] * 8 + [frozenset({1}), frozenset({1}), frozenset({2}), frozenset({2})]
    flags = stratified_assignment(labels, 2, 10)
    val_classes = {c for item, v in zip(labels, flags, strict=True) if v for c in item}
    train_classes = {c for item, v in zip(labels, flags, strict=True) if not v for c in item}
    assert {1, 2} <= val_classes and {0, 1, 2} <= train_classes
    assert sum(flags) == 2


def test_stratified_assignment_swaps_when_greedy_placement_falls_short() -> None:
    # Found by search: the set cover and the stratification leave class 3 on one side only; a swap fixes it.
    labels = [frozenset({3}), frozenset({1, 2}), frozenset({1}), frozenset({0, 1, 2, 3})]
    flags = stratified_assignment(labels, 2, 20)
    assert sum(flags) == 2
    for c in (1, 2, 3):
        assert any(c in item for item, v in zip(labels, flags, strict=True) if v), c
        assert any(c in item for item, v in zip(labels, flags, strict=True) if not v), c


def test_stratify_reports_classes_that_cannot_be_covered(tmp_path: Path) -> None:
    # A{0,1} B{1,2} C{0,2}: each class has 2 positives, but no 2-way split separates all three pairs.
    write_lists(tmp_path / "ds", ["x", "y", "z"], [[1, 1, 0], [0, 1, 1], [1, 0, 1]], n_val=1)
    summary = split_dataset(tmp_path / "ds", train_percent=67, val_percent=33, stratify=True)
    assert summary.uncovered_classes
    assert sorted(all_lines(tmp_path / "ds")) == sorted(
        ["images/0000.jpg\t1,1,0", "images/0001.jpg\t0,1,1", "images/0002.jpg\t1,0,1"]
    )


def test_stratify_needs_parsable_labels(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", train=6, val=3)
    made.append_list_line("train", "images/x.jpg\t0,1,zz")
    with pytest.raises(DatasetError, match=r"train\.txt:7"):
        split_dataset(made.root, train_percent=50, val_percent=50, stratify=True)
    assert not (made.root / "train.txt.bak").exists()


def test_unparsable_lines_move_verbatim_without_stratify(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    made = make_dataset(tmp_path / "ds", train=6, val=3)
    made.append_list_line("val", "images/odd name.jpg\tnot-a-vector")
    summary = split_dataset(made.root, train_percent=50, val_percent=50)
    assert summary.unparsed_lines == 1
    assert "images/odd name.jpg\tnot-a-vector" in all_lines(made.root)
    assert "1 lines have no valid label vector (first: val.txt:4)" in capfd.readouterr().err


def test_backups_are_made_once_and_never_overwritten(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", train=10, val=4).root
    originals = {n: (root / n).read_bytes() for n in ("train.txt", "val.txt")}
    label = (root / "label.txt").read_bytes()
    first = split_dataset(root, train_percent=50, val_percent=50, seed=1)
    assert sorted(Path(p).name for p in first.backups_created) == ["train.txt.bak", "val.txt.bak"]
    second = split_dataset(root, train_percent=70, val_percent=30, seed=2)
    assert second.backups_created == []
    assert sorted(Path(p).name for p in second.backups_kept) == ["train.txt.bak", "val.txt.bak"]
    for name, data in originals.items():
        assert (root / f"{name}.bak").read_bytes() == data
    assert (root / "label.txt").read_bytes() == label
    assert not (root / "label.txt.bak").exists()
    assert sorted(all_lines(root)) == sorted(b"".join(originals.values()).decode().splitlines())
    assert not list(root.glob(".*"))


def test_output_dir_leaves_source_byte_identical(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", train=10, val=4)
    src = made.root
    before = {p.relative_to(src).as_posix(): p.read_bytes() for p in src.rglob("*") if p.is_file()}
    out = tmp_path / "resplit"
    summary = split_dataset(src, train_percent=80, val_percent=20, output_dir=out)
    after = {p.relative_to(src).as_posix(): p.read_bytes() for p in src.rglob("*") if p.is_file()}
    assert after == before
    assert summary.images_link == "linked"
    assert (out / "label.txt").read_bytes() == before["label.txt"]
    names = load_label_names(out / "label.txt")
    samples = load_samples(out / "train.txt", len(names)) + load_samples(out / "val.txt", len(names))
    assert len(samples) == 14
    assert all((out / s.path).is_file() for s in samples)


def test_only_one_list_present(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", train=10, val=2).root
    (root / "val.txt").unlink()
    summary = split_dataset(root, train_percent=80, val_percent=20)
    assert summary.source_lines == {"train": 10, "val": 0}
    assert (summary.train, summary.val) == (8, 2)
    assert (root / "train.txt.bak").exists() and not (root / "val.txt.bak").exists()


def test_no_lists_is_input_missing(tmp_path: Path) -> None:
    (tmp_path / "ds" / "images").mkdir(parents=True)
    with pytest.raises(InputMissingError, match="nothing to split"):
        split_dataset(tmp_path / "ds", train_percent=80, val_percent=20)
