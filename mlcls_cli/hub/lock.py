"""A cross-process exclusive lock on a file, so one process downloads an artifact and the others wait.

POSIX uses ``fcntl.flock`` and Windows ``msvcrt.locking``; both locks belong to the
open file, so two threads of one process exclude each other too, and the operating
system releases them when the process dies (a crashed download never blocks forever).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlcls_cli.errors import IOFailure

_POLL_SECONDS = 0.1


class LockBusyError(TimeoutError):
    """The lock is held by someone else and the wait limit has passed."""


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _blocking_lock(fd: int) -> None:
    if sys.platform == "win32":
        while not _try_lock(fd):
            time.sleep(_POLL_SECONDS)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


class HeldLock:
    """An exclusive lock on a file, taken without waiting (:meth:`try_acquire`) and held until :meth:`release`.

    The file descriptor stays open while the lock is held; a child process given it
    (``pass_fds``) holds the lock too, until the last holder closes it or dies.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd: int | None = fd

    @classmethod
    def try_acquire(cls, path: str | os.PathLike[str]) -> HeldLock | None:
        """The lock on ``path`` (created if missing), or None when another open file holds it."""
        lock_path = Path(path)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            return None
        return cls(lock_path, fd)

    def release(self) -> None:
        """Unlock and close (a no-op when already released)."""
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            _unlock(fd)
        finally:
            os.close(fd)


@contextmanager
def file_lock(
    path: str | os.PathLike[str], *, timeout: float | None = None, waiting_message: str | None = None
) -> Iterator[Path]:
    """Hold an exclusive cross-process lock on ``path`` (created if missing) for the block.

    ``timeout`` None waits as long as it takes; a number gives up after that many
    seconds with :class:`LockBusyError` (0 means: only if free now). When the lock
    is busy, ``waiting_message`` (if given) is logged once on stderr.
    """
    lock_path = Path(path)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise IOFailure(
            f"cannot create the lock file {lock_path}: {exc.strerror or exc}",
            hint="check that the cache folder (MLCLS_HOME) is writable",
        ) from exc
    try:
        if not _try_lock(fd):
            if waiting_message:
                from mlcls_cli import console

                console.info(waiting_message)
            if timeout is None:
                _blocking_lock(fd)
            else:
                deadline = time.monotonic() + timeout
                while not _try_lock(fd):
                    if time.monotonic() >= deadline:
                        raise LockBusyError(f"{lock_path} is locked by another process")
                    time.sleep(_POLL_SECONDS)
        try:
            yield lock_path
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
