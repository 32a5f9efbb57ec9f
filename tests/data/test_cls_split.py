"""Re-partitioning a ClsDataset: stratified by class by default, seeded, every line kept, .bak and crash safety."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from mlcls_cli.data import safety
from mlcls_cli.data.listfile import load_cls_samples
from mlcls_cli.data.split import class_val_counts, split_dataset, stratified_class_assignment
from mlcls_cli.errors import IOFailure
from tests.datasets import make_cls_dataset

REPO = Path(__file__).resolve().parents[2]


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def all_lines(root: Path) -> list[str]:
    return lines_of(root / "train.txt") + lines_of(root / "val.txt")


def write_cls_lists(root: Path, sizes: list[int], n_val: int = 0) -> list[str]:
    """A ClsDataset whose class ``c`` has ``sizes[c]`` lines (the last ``n_val`` lines in val); no images needed."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "label.txt").write_text("".join(f"{c} c{c}\n" for c in range(len(sizes))))
    lines = [f"images/{c}_{i:03d}.jpg {c}" for c, n in enumerate(sizes) for i in range(n)]
    random.Random(1).shuffle(lines)
    cut = len(lines) - n_val
    (root / "train.txt").write_text("".join(x + "\n" for x in lines[:cut]))
    (root / "val.txt").write_text("".join(x + "\n" for x in lines[cut:]))
    return lines


def per_class(root: Path, split: str, k: int) -> list[int]:
    counts = Counter(s.class_id for s in load_cls_samples(root / f"{split}.txt", k))
    return [counts[c] for c in range(k)]


# rare classes of 2 and 3 samples among large ones
SIZES = [40, 25, 12, 3, 2, 2, 2]


@pytest.mark.parametrize("seed", range(5))
def test_default_split_keeps_every_class_with_two_samples_in_both(tmp_path: Path, seed: int) -> None:
    original = write_cls_lists(tmp_path / "ds", SIZES)
    summary = split_dataset(tmp_path / "ds", train_percent=90, val_percent=10, seed=seed)
    assert summary.dataset_type == "ClsDataset" and summary.stratify is True
    assert (summary.train, summary.val) == (77, 9)  # 86 lines: 77.4 -> 77, the same totals as a random split
    assert summary.uncovered_classes == []
    train, val = per_class(tmp_path / "ds", "train", 7), per_class(tmp_path / "ds", "val", 7)
    assert all(t >= 1 and v >= 1 for t, v in zip(train, val, strict=True))
    assert [t + v for t, v in zip(train, val, strict=True)] == SIZES
    assert summary.counts_after == {"train": train, "val": val}
    assert sorted(all_lines(tmp_path / "ds")) == sorted(original)  # every line kept, verbatim


def test_a_plain_shuffle_of_the_same_data_misses_classes(tmp_path: Path) -> None:
    # shows the test above is not satisfied by chance
    missed = 0
    for seed in range(5):
        write_cls_lists(tmp_path / f"ds{seed}", SIZES)
        summary = split_dataset(
            tmp_path / f"ds{seed}", train_percent=90, val_percent=10, seed=seed, stratify=False
        )
        assert summary.stratify is False
        missed += any(summary.counts_after["val"][c] == 0 for c in range(3, 7))
    assert missed >= 3


def test_val_shares_follow_class_sizes(tmp_path: Path) -> None:
    write_cls_lists(tmp_path / "ds", [50, 30, 20], n_val=7)
    summary = split_dataset(tmp_path / "ds", train_percent=80, val_percent=20, seed=3)
    assert summary.counts_after["val"] == [10, 6, 4]
    assert summary.counts_before["train"] != summary.counts_after["train"]


def test_same_seed_same_files_other_seed_other_lines(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        write_cls_lists(tmp_path / name, SIZES)
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        split_dataset(tmp_path / name, train_percent=80, val_percent=20, seed=seed)
    for f in ("train.txt", "val.txt"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert set(lines_of(tmp_path / "a" / "val.txt")) != set(lines_of(tmp_path / "c" / "val.txt"))


def test_lines_without_a_class_id_are_kept(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    original = write_cls_lists(tmp_path / "ds", [6, 6])
    odd = ["images/odd name.jpg 1", "images/x.jpg\tzz", "images/y.jpg 9", "images/ok.jpg 1 "]
    with (tmp_path / "ds" / "val.txt").open("a") as fh:
        fh.write("".join(x + "\n" for x in odd))
    summary = split_dataset(tmp_path / "ds", train_percent=50, val_percent=50)
    # a path with a space or a trailing space still gives the id; 'zz' and an id outside label.txt do not
    assert summary.unparsed_lines == 2
    assert sorted(all_lines(tmp_path / "ds")) == sorted(original + odd)
    assert "2 lines have no readable class id (first: val.txt:2)" in capfd.readouterr().err


def test_backups_once_and_output_dir_leaves_source_untouched(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=3, train=12, val=3)
    root = made.root
    before = {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}
    out = tmp_path / "resplit"
    summary = split_dataset(root, train_percent=80, val_percent=20, output_dir=out)
    assert {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()} == before
    assert summary.images_link == "linked" and (out / "label.txt").read_bytes() == before["label.txt"]
    samples = load_cls_samples(out / "train.txt", 3) + load_cls_samples(out / "val.txt", 3)
    assert len(samples) == 15 and all((out / s.path).is_file() for s in samples)

    first = split_dataset(root, train_percent=50, val_percent=50, seed=1)
    second = split_dataset(root, train_percent=70, val_percent=30, seed=2)
    assert sorted(Path(p).name for p in first.backups_created) == ["train.txt.bak", "val.txt.bak"]
    assert second.backups_created == []
    assert (root / "train.txt.bak").read_bytes() == before["train.txt"]
    assert sorted(all_lines(root)) == sorted((before["train.txt"] + before["val.txt"]).decode().splitlines())


def test_failure_midway_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=3, train=12, val=3)
    before = {p.name: p.read_bytes() for p in made.root.iterdir() if p.is_file()}
    real = os.replace

    def flaky(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst).name == "val.txt":
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(IOFailure):
        split_dataset(made.root, train_percent=50, val_percent=50)
    assert {p.name: p.read_bytes() for p in made.root.iterdir() if p.is_file()} == before


CRASH = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    real = os.replace
    def crash(src, dst):
        if Path(dst).name == "val.txt":
            os._exit(9)  # a hard crash after train.txt was replaced
        real(src, dst)
    os.replace = crash
    from mlcls_cli.data.split import split_dataset
    split_dataset(sys.argv[1], train_percent=50, val_percent=50, seed=1)
    """
)


def test_hard_crash_loses_no_line_and_the_next_run_recovers(tmp_path: Path) -> None:
    made = make_cls_dataset(tmp_path / "ds", classes=3, train=10, val=5)
    before = {p.name: p.read_bytes() for p in made.root.iterdir() if p.is_file()}
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, str(made.root)], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 9, proc.stderr
    assert (made.root / safety.JOURNAL_NAME).exists()
    summary = split_dataset(made.root, train_percent=60, val_percent=40)
    assert summary.dataset_type == "ClsDataset"
    assert (made.root / "train.txt.bak").read_bytes() == before["train.txt"]
    assert sorted(all_lines(made.root)) == sorted(
        (before["train.txt"] + before["val.txt"]).decode().splitlines()
    )


@pytest.mark.parametrize(
    ("sizes", "n_val", "expected"),
    [
        ({0: 50, 1: 30, 2: 20}, 20, {0: 10, 1: 6, 2: 4}),
        ({0: 10, 1: 10, 2: 10}, 10, {0: 4, 1: 3, 2: 3}),  # remainders: ties go to the lower id
        ({0: 97, 1: 2, 2: 1}, 10, {0: 9, 1: 1, 2: 0}),  # a pair gets 1 on each side, a single stays in train
        ({0: 5, 1: 5, 2: 5, 3: 2}, 2, {0: 1, 1: 1, 2: 0, 3: 0}),  # val too small for every class: the largest
        ({0: 5, 1: 3, 2: 2}, 8, {0: 4, 1: 2, 2: 2}),  # train too small: it keeps one of the largest two
    ],
)
def test_class_val_counts(sizes: dict[int, int], n_val: int, expected: dict[int, int]) -> None:
    got = class_val_counts(sizes, n_val)
    assert got == expected and sum(got.values()) == n_val


def test_class_val_counts_always_hits_the_total() -> None:
    rng = random.Random(0)
    for _ in range(300):
        sizes = {c: rng.randint(1, 30) for c in range(rng.randint(1, 12))}
        total = sum(sizes.values())
        n_val = rng.randint(0, total)
        got = class_val_counts(sizes, n_val)
        assert sum(got.values()) == n_val
        assert all(0 <= got[c] <= sizes[c] for c in sizes)
        multi = [c for c in sizes if sizes[c] >= 2]
        if len(multi) <= n_val <= total - len(sizes):  # room for every class on both sides
            assert all(1 <= got[c] <= sizes[c] - 1 for c in multi)


def test_stratified_class_assignment_takes_the_first_of_each_class() -> None:
    ids = [0, 1, 0, 1, 0, 1, 0, 1, -1, -1]
    # quotas 1.6, 1.6, 0.8: class 0 (tie with 1, lower id) gets the remainder; -1 is a group of its own
    flags = stratified_class_assignment(ids, 4)
    assert flags == [True, True, True, False, False, False, False, False, True, False]
