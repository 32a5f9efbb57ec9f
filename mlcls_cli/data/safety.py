"""Safe rewriting of dataset files: ``*.bak`` backups and all-or-nothing multi-file writes.

``convert`` and ``split`` replace several files at once (``train.txt``, ``val.txt``,
``label.txt``...). :func:`write_files` does it as a small transaction so that no
line of the previous files can be lost, whatever happens:

1. a journal (``.mlcls-transaction.json``) records the plan before anything else is written;
2. the new contents go to hidden temporary files beside the targets (fsynced, with the
   target's permissions);
3. every existing target gets a copy that outlives the step that replaces it: its first
   ``<name>.bak`` (created once and never overwritten: an existing backup is kept, like
   PaddleX) or, when that backup already exists or none is wanted, a hidden
   ``.<name>.mlcls-rollback`` copy;
4. the journal is marked "commit" and each temporary file is moved over its target with
   ``os.replace`` (atomic);
5. on success the hidden copies and the journal are removed.

An error between two replacements rolls every target back to its previous content. A hard
crash (power loss, ``kill -9``) leaves the journal behind; the next write to that folder
(or :func:`recover_interrupted`) restores the previous state first. At every instant each
previous line is in its original file, in its backup or in its hidden copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcls_cli import console
from mlcls_cli.errors import IOFailure
from mlcls_cli.utils.atomic import atomic_open, atomic_write_json

JOURNAL_NAME = ".mlcls-transaction.json"
ROLLBACK_SUFFIX = ".mlcls-rollback"
BACKUP_SUFFIX = ".bak"


@dataclass
class WriteResult:
    """What :func:`write_files` did: files written, backups created and backups kept as they were."""

    written: list[Path] = field(default_factory=list)
    backups_created: list[Path] = field(default_factory=list)
    backups_kept: list[Path] = field(default_factory=list)


def backup_path(path: str | os.PathLike[str]) -> Path:
    """The backup name of ``path``: ``train.txt`` -> ``train.txt.bak``."""
    p = Path(path)
    return p.with_name(p.name + BACKUP_SUFFIX)


def _rollback_path(directory: Path, name: str) -> Path:
    return directory / f".{name}{ROLLBACK_SUFFIX}"


def _fsync_dir(directory: Path) -> None:
    # Makes the renames durable on POSIX; directories cannot be opened this way on Windows.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _default_mode() -> int:
    # Temporary files are created 0600; the files we publish get the usual rw-r--r-- (minus umask).
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _chmod_fd(fd: int, mode: int) -> None:
    if os.chmod in os.supports_fd:  # not on Windows before Python 3.13, where modes barely apply
        with contextlib.suppress(OSError):
            os.chmod(fd, mode)


def _copy_atomic(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically; ``dst`` gets the mode of ``src`` (a backup is as private)."""
    with atomic_open(dst, "wb", encoding=None) as out, src.open("rb") as inp:
        shutil.copyfileobj(inp, out)
    with contextlib.suppress(OSError):
        os.chmod(dst, src.stat().st_mode & 0o7777)


def _stage(directory: Path, name: str, content: str | bytes) -> Path:
    data = content.encode("utf-8") if isinstance(content, str) else content
    target = directory / name
    try:
        mode = target.stat().st_mode & 0o7777
    except OSError:
        mode = _default_mode()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            _chmod_fd(fh.fileno(), mode)
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return Path(tmp_name)


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":
        # os.kill(pid, 0) would terminate the process on Windows; treat the journal as stale there.
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _read_journal(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IOFailure(
            f"cannot read the interrupted-write journal {path}: {exc}",
            hint="restore train.txt/val.txt/label.txt from their .bak or hidden .mlcls-rollback copies, "
            "then delete the journal",
        ) from None
    return data if isinstance(data, dict) else None


def _remove_temp_files(folder: Path, names: Iterable[str]) -> None:
    """Delete the temporary files (``.<name>.*.tmp``) that an interrupted write left for ``names``."""
    prefixes = tuple(f".{name}." for name in names)
    for path in folder.iterdir():
        if path.name.startswith(prefixes) and path.name.endswith(".tmp") and path.is_file():
            path.unlink(missing_ok=True)


def recover_interrupted(directory: str | os.PathLike[str]) -> bool:
    """Undo a write that a crash interrupted in ``directory``; True when there was one to undo."""
    folder = Path(directory)
    journal = folder / JOURNAL_NAME
    data = _read_journal(journal)
    if data is None:
        return False
    pid = data.get("pid")
    same_host = data.get("host") == socket.gethostname()
    if same_host and isinstance(pid, int) and pid != os.getpid() and _pid_alive(pid):
        raise IOFailure(
            f"another mlcls process (pid {pid}) is writing the dataset files in {folder}",
            hint=f"wait for it to finish; if no such process runs, delete {journal}",
        )
    committing = data.get("state") == "commit"
    try:
        for entry in data.get("files", []):
            name = entry["name"]
            target = folder / name
            rollback = folder / entry["rollback"] if entry.get("rollback") else None
            if rollback is not None and rollback.exists():
                _copy_atomic(rollback, target)
            elif not entry.get("existed") and committing:
                target.unlink(missing_ok=True)
        _fsync_dir(folder)
        ours = [JOURNAL_NAME]
        for entry in data.get("files", []):
            ours.append(entry["name"])
            if entry.get("rollback"):
                ours.append(entry["rollback"])
                if entry.get("backup_created") or entry.get("hidden"):
                    (folder / entry["rollback"]).unlink(missing_ok=True)
        _remove_temp_files(folder, ours)
        journal.unlink(missing_ok=True)
    except OSError as exc:
        raise IOFailure(
            f"cannot undo the interrupted write in {folder}: {exc.strerror or exc}",
            hint=f"the previous files are kept as *.bak / .*{ROLLBACK_SUFFIX} copies there; see {journal}",
        ) from exc
    console.warn(f"an earlier write to {folder} was interrupted; its previous files were restored")
    return True


def write_files(
    directory: str | os.PathLike[str],
    files: Mapping[str, str | bytes],
    *,
    backup: Iterable[str] = (),
) -> WriteResult:
    """Replace ``files`` (name -> content) in ``directory`` all at once, backing up the names in ``backup``.

    Either every file gets its new content or, on any error, every file keeps its old one.
    An existing ``<name>.bak`` is never overwritten.
    """
    folder = Path(directory)
    to_backup = set(backup)
    result = WriteResult()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IOFailure(
            f"cannot create {folder}: {exc.strerror or exc}", hint="check the path and permissions"
        ) from exc
    recover_interrupted(folder)

    journal = folder / JOURNAL_NAME
    plan: list[dict[str, Any]] = []
    replaced = 0
    try:
        # The journal comes first, so that a crash at any later point leaves a record to undo it by.
        plan.extend({"name": name, "existed": (folder / name).exists(), "rollback": None} for name in files)
        _write_journal(journal, plan, "prepare")
        for entry in plan:
            entry["staged"] = _stage(folder, entry["name"], files[entry["name"]]).name
        for entry in plan:
            target = folder / entry["name"]
            if not entry["existed"]:
                continue
            bak = backup_path(target)
            if entry["name"] in to_backup and not bak.exists():
                entry.update(rollback=bak.name, backup_created=True)
                _write_journal(journal, plan, "prepare")
                _copy_atomic(target, bak)
                result.backups_created.append(bak)
            else:
                if entry["name"] in to_backup:
                    result.backups_kept.append(bak)
                hidden = _rollback_path(folder, entry["name"])
                entry.update(rollback=hidden.name, hidden=True)
                _write_journal(journal, plan, "prepare")
                _copy_atomic(target, hidden)
        _write_journal(journal, plan, "commit")
        _fsync_dir(folder)
        for entry in plan:
            os.replace(folder / entry["staged"], folder / entry["name"])
            replaced += 1
        _fsync_dir(folder)
    except BaseException as exc:
        _rollback(folder, journal, plan, replaced, result)
        if isinstance(exc, OSError):
            raise IOFailure(
                f"cannot write the dataset files in {folder}: {exc.strerror or exc}; nothing was changed",
                hint="check free disk space and permissions",
            ) from exc
        raise
    for entry in plan:
        if entry.get("hidden"):
            (folder / entry["rollback"]).unlink(missing_ok=True)
    journal.unlink(missing_ok=True)
    result.written = [folder / name for name in files]
    return result


def log_backups(result: WriteResult) -> None:
    """Log on stderr which backups were created and which existing ones were kept."""
    for bak in result.backups_created:
        console.info(f"previous {bak.name.removesuffix(BACKUP_SUFFIX)} saved as {bak}")
    for bak in result.backups_kept:
        console.info(f"existing backup {bak} kept as it is (the first backup is never overwritten)")


def _write_journal(journal: Path, plan: list[dict[str, Any]], state: str) -> None:
    atomic_write_json(
        journal,
        {"version": 1, "state": state, "pid": os.getpid(), "host": socket.gethostname(), "files": plan},
    )


def _rollback(
    folder: Path, journal: Path, plan: list[dict[str, Any]], replaced: int, result: WriteResult
) -> None:
    """Put back the previous content of the first ``replaced`` targets and clean up the rest."""
    try:
        for entry in plan[:replaced]:
            target = folder / entry["name"]
            if entry.get("rollback"):
                _copy_atomic(folder / entry["rollback"], target)
            else:
                target.unlink(missing_ok=True)
        for entry in plan:
            if entry.get("staged"):
                (folder / entry["staged"]).unlink(missing_ok=True)
            if entry.get("rollback") and (entry.get("hidden") or entry.get("backup_created")):
                (folder / entry["rollback"]).unlink(missing_ok=True)
        journal.unlink(missing_ok=True)
        result.backups_created.clear()
    except (OSError, IOFailure) as exc:
        console.error(
            f"could not undo a failed write in {folder} ({exc}); the previous files are kept as *.bak "
            f"or .*{ROLLBACK_SUFFIX} there and the next mlcls write will restore them"
        )


def link_images(source_root: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> str:
    """Make ``output_dir/images`` point at ``source_root/images`` with a relative symlink.

    Returns ``"linked"`` (created), ``"present"`` (already there) or ``"missing"`` (the OS refused
    the link: a warning says how to provide the images).
    """
    src = Path(source_root) / "images"
    out = Path(output_dir)
    link = out / "images"
    if link.is_symlink() or link.exists():
        try:
            same = link.resolve() == src.resolve()
        except OSError:
            same = False
        if not same:
            console.warn(f"{link} already exists and is not a link to {src}; kept as it is")
        return "present"
    try:
        target = os.path.relpath(src.resolve(), out.resolve())
    except ValueError:  # another drive on Windows: no relative path exists
        target = str(src.resolve())
    try:
        os.symlink(target, link, target_is_directory=True)
    except (OSError, NotImplementedError) as exc:
        console.warn(
            f"cannot create the symlink {link} -> {target} ({exc}); the lists were written without images/"
        )
        console.warn(
            f"copy or link the images there to make {out} a complete dataset, e.g. "
            f"`cp -r {src} {link}` (Windows: `mklink /J {link} {src}`)"
        )
        return "missing"
    return "linked"


def same_folder(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True when ``a`` and ``b`` name the same existing folder (or the same path)."""
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        pass
    return pa.resolve() == pb.resolve()
