"""file_lock excludes other processes and is released when the block ends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlcls_cli.hub import LockBusyError, file_lock

HOLDER = textwrap.dedent(
    """
    import sys
    from mlcls_cli.hub.lock import file_lock
    with file_lock(sys.argv[1]):
        print("locked", flush=True)
        sys.stdin.read()  # hold until the parent closes stdin
    """
)


def test_lock_held_by_another_process_is_busy_then_free(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "a.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockBusyError), file_lock(lock, timeout=0):
            pass
        with pytest.raises(LockBusyError), file_lock(lock, timeout=0.2):
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    with file_lock(lock, timeout=0) as held:
        assert held == lock


def test_lock_is_exclusive_within_one_process_and_released(tmp_path: Path) -> None:
    lock = tmp_path / "b.lock"
    with file_lock(lock), pytest.raises(LockBusyError), file_lock(lock, timeout=0):
        pass
    with file_lock(lock, timeout=0):
        pass
    assert lock.exists()


def test_lock_is_released_when_the_block_raises(tmp_path: Path) -> None:
    lock = tmp_path / "c.lock"
    with pytest.raises(RuntimeError), file_lock(lock):
        raise RuntimeError("boom")
    with file_lock(lock, timeout=0):
        pass
