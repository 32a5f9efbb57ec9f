"""Backups and all-or-nothing writes (mlcls_cli.data.safety), with faults injected into os.replace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlcls_cli.data import safety
from mlcls_cli.data.listfile import load_label_names, load_samples
from mlcls_cli.errors import IOFailure
from tests.datasets import make_dataset

REPO = Path(__file__).resolve().parents[2]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def fail_on_replace(monkeypatch: pytest.MonkeyPatch, target_name: str) -> list[str]:
    """Make the first ``os.replace`` onto ``target_name`` raise, as a full disk or a yanked drive would."""
    real = os.replace
    calls: list[str] = []

    def flaky(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls.append(Path(dst).name)
        if Path(dst).name == target_name and calls.count(target_name) == 1:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    return calls


def test_writes_files_and_backs_up_only_the_named_ones(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old a\n")
    (tmp_path / "b.txt").write_text("old b\n")
    result = safety.write_files(
        tmp_path, {"a.txt": "new a\n", "b.txt": b"new b\n", "c.txt": "c\n"}, backup=["a.txt"]
    )
    assert (tmp_path / "a.txt").read_text() == "new a\n"
    assert (tmp_path / "b.txt").read_text() == "new b\n"
    assert (tmp_path / "c.txt").read_text() == "c\n"
    assert (tmp_path / "a.txt.bak").read_text() == "old a\n"
    assert not (tmp_path / "b.txt.bak").exists()
    assert result.backups_created == [tmp_path / "a.txt.bak"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "a.txt.bak", "b.txt", "c.txt"]


def test_existing_backup_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("current\n")
    (tmp_path / "a.txt.bak").write_text("first backup\n")
    result = safety.write_files(tmp_path, {"a.txt": "new\n"}, backup=["a.txt"])
    assert (tmp_path / "a.txt.bak").read_text() == "first backup\n"
    assert result.backups_created == []
    assert result.backups_kept == [tmp_path / "a.txt.bak"]
    assert (tmp_path / "a.txt").read_text() == "new\n"
    assert not list(tmp_path.glob(".*"))


def test_file_mode_is_kept_or_defaulted(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x\n")
    os.chmod(tmp_path / "a.txt", 0o640)
    safety.write_files(tmp_path, {"a.txt": "y\n", "new.txt": "z\n"}, backup=["a.txt"])
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "a.txt.bak").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "new.txt").stat().st_mode & 0o044  # readable by others (not mkstemp's 0600)


@pytest.mark.parametrize("existing_backup", [False, True])
def test_failure_between_replacements_rolls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing_backup: bool
) -> None:
    (tmp_path / "train.txt").write_text("t1\nt2\n")
    (tmp_path / "val.txt").write_text("v1\n")
    if existing_backup:
        (tmp_path / "train.txt.bak").write_text("stale\n")
    before = snapshot(tmp_path)
    calls = fail_on_replace(monkeypatch, "val.txt")
    with pytest.raises(IOFailure, match="nothing was changed"):
        safety.write_files(
            tmp_path, {"train.txt": "v1\nt1\n", "val.txt": "t2\n"}, backup=["train.txt", "val.txt"]
        )
    assert "train.txt" in calls  # train.txt had been replaced when val.txt failed
    assert snapshot(tmp_path) == before
    assert not list(tmp_path.glob(".*"))


def test_split_failure_midway_loses_no_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlcls_cli.data.split import split_dataset

    made = make_dataset(tmp_path / "ds", train=12, val=4)
    root = made.root
    before = snapshot(root)
    fail_on_replace(monkeypatch, "val.txt")
    with pytest.raises(IOFailure):
        split_dataset(root, train_percent=50, val_percent=50, seed=4)
    assert snapshot(root) == before  # the old state, loadable as before
    names = load_label_names(root / "label.txt")
    assert len(load_samples(root / "train.txt", len(names))) == 12

    monkeypatch.undo()
    split_dataset(root, train_percent=50, val_percent=50, seed=4)
    lines = (root / "train.txt").read_text().splitlines() + (root / "val.txt").read_text().splitlines()
    assert sorted(lines) == sorted((before["train.txt"] + before["val.txt"]).decode().splitlines())


def test_convert_failure_midway_keeps_old_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlcls_cli.data.convert import convert_coco
    from tests.datasets import write_image

    root = tmp_path / "coco"
    write_image(root / "images" / "a.jpg")
    (root / "annotations").mkdir()
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg"}],
        "annotations": [],
        "categories": [{"id": 1, "name": "x"}],
    }
    for split in ("train", "val"):
        (root / "annotations" / f"instance_{split}.json").write_text(json.dumps(doc))
    (root / "label.txt").write_text("0 old\n")
    (root / "train.txt").write_text("images/a.jpg\t1\n")
    (root / "val.txt").write_text("images/a.jpg\t0\n")
    before = snapshot(root)
    fail_on_replace(monkeypatch, "val.txt")
    with pytest.raises(IOFailure):
        convert_coco(root)
    assert snapshot(root) == before


CRASH = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    real = os.replace
    def crash(src, dst):
        if Path(dst).name == sys.argv[2]:
            os._exit(9)  # a hard crash: no exception handler, no cleanup
        real(src, dst)
    os.replace = crash
    from mlcls_cli.data.split import split_dataset
    split_dataset(sys.argv[1], train_percent=50, val_percent=50, seed=1)
    """
)


@pytest.mark.parametrize("crash_at", ["val.txt.bak", "val.txt"])
def test_hard_crash_loses_no_line_and_next_run_recovers(tmp_path: Path, crash_at: str) -> None:
    made = make_dataset(tmp_path / "ds", train=10, val=5)
    root = made.root
    before = snapshot(root)
    original = sorted((before["train.txt"] + before["val.txt"]).decode().splitlines())
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, str(root), crash_at], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 9, proc.stderr
    assert (root / safety.JOURNAL_NAME).exists()
    # every original line is still on disk: in the lists, their backups or the hidden rollback copies
    on_disk = set()
    for p in root.iterdir():
        if p.is_file() and p.name != safety.JOURNAL_NAME and not p.name.endswith(".tmp"):
            on_disk.update(p.read_text().splitlines())
    assert set(original) <= on_disk

    assert safety.recover_interrupted(root) is True
    assert snapshot(root) == before  # back to the state before the crashed run
    assert not list(root.glob(".*"))
    assert safety.recover_interrupted(root) is False


def test_next_write_recovers_automatically(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    from mlcls_cli.data.split import split_dataset

    made = make_dataset(tmp_path / "ds", train=8, val=4)
    root = made.root
    original_train, original_val = made.list_lines("train"), made.list_lines("val")
    original = sorted(original_train + original_val)
    proc = subprocess.run(
        [sys.executable, "-c", CRASH, str(root), "val.txt"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 9
    split_dataset(root, train_percent=75, val_percent=25)
    assert "was interrupted" in capfd.readouterr().err
    lines = sorted(((root / "train.txt").read_text() + (root / "val.txt").read_text()).splitlines())
    assert lines == original
    assert made.list_lines("train") != original_train  # the split did happen
    # the crashed run was rolled back, so the backups hold the lists as they were before either run
    assert (root / "train.txt.bak").read_text().splitlines() == original_train
    assert (root / "val.txt.bak").read_text().splitlines() == original_val


def test_journal_of_a_live_process_blocks_writes(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x\n")
    journal = {
        "version": 1,
        "state": "commit",
        "pid": os.getppid(),
        "host": __import__("socket").gethostname(),
    }
    (tmp_path / safety.JOURNAL_NAME).write_text(json.dumps({**journal, "files": []}))
    with pytest.raises(IOFailure, match=f"pid {os.getppid()}"):
        safety.write_files(tmp_path, {"a.txt": "y\n"})
    assert (tmp_path / "a.txt").read_text() == "x\n"


def test_link_images(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "images" / "a.png").write_bytes(b"png")
    out = tmp_path / "out"
    out.mkdir()
    assert safety.link_images(src, out) == "linked"
    assert os.readlink(out / "images") == os.path.join("..", "src", "images")
    assert (out / "images" / "a.png").read_bytes() == b"png"
    assert safety.link_images(src, out) == "present"
    other = tmp_path / "other"
    (other / "images").mkdir(parents=True)
    assert safety.link_images(other, out) == "present"
    assert "is not a link to" in capfd.readouterr().err
