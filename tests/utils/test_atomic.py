"""Atomic writes: a reader sees the old file or the new one, never a mix; folders are swapped whole."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlcls_cli.errors import IOFailure
from mlcls_cli.utils.atomic import atomic_open, atomic_write_json, atomic_write_text, replace_dir


def test_write_replaces_and_keeps_the_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]  # no temp file left


def test_new_files_get_the_umask_default_not_0600(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "r.json", {"é": 1})
    finally:
        os.umask(umask)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "r.json").read_text(encoding="utf-8") == '{\n  "é": 1\n}\n'


def test_an_exception_midway_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_unwritable_place_is_an_io_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(IOFailure, match="cannot write"):
        atomic_write_text(blocker / "sub" / "a.txt", "x")


def test_replace_dir_swaps_a_whole_folder(tmp_path: Path) -> None:
    target = tmp_path / "pkg"
    target.mkdir()
    (target / "old.txt").write_text("old")
    staged = tmp_path / "staged"
    staged.mkdir()
    (staged / "new.txt").write_text("new")
    replace_dir(staged, target)
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


def test_replace_dir_restores_the_old_folder_when_the_swap_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "pkg"
    target.mkdir()
    (target / "old.txt").write_text("old")
    staged = tmp_path / "staged"
    staged.mkdir()
    real_replace = os.replace

    def failing_replace(src: object, dst: object) -> None:
        if Path(src) == staged:  # the OS refuses the second rename
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        replace_dir(staged, target)
    assert (target / "old.txt").read_text() == "old"
