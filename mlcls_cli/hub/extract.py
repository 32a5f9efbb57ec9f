"""Safe extraction of tar archives into the cache.

Every member is checked before anything is written: absolute paths, ``..``
components, links that point outside the target and device files or FIFOs are
refused (CVE-2007-4559). Files are written by this module, not by ``tarfile``, and
each write is checked again after resolving symlinks. The archive is unpacked into
a temporary folder beside the target, which is renamed into place only when
complete; a single top-level folder (``PP-LCNet_x1_0_ML_infer/``) is flattened.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from mlcls_cli.errors import IOFailure

_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeArchiveError(IOFailure):
    """An archive member would land outside the target folder, or is a device file."""


def _unsafe(archive: Path, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"refusing to extract {archive}: member {member!r} {why}",
        hint="the archive is damaged or malicious; delete it and get it again from the official source",
    )


def _clean_name(archive: Path, name: str) -> PurePosixPath | None:
    """The member's path relative to the target, or None for the archive root itself."""
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise _unsafe(archive, name, "has an absolute path")
    parts = [p for p in re.split(r"[\\/]+", name) if p not in ("", ".")]
    if ".." in parts:
        raise _unsafe(archive, name, "climbs out of the target with '..'")
    return PurePosixPath(*parts) if parts else None


def _link_target(archive: Path, member: tarfile.TarInfo, rel: PurePosixPath) -> PurePosixPath:
    """Where a link member points, relative to the target; refuses targets outside it."""
    link = member.linkname
    if not link or link.startswith(("/", "\\")) or _DRIVE.match(link):
        raise _unsafe(archive, member.name, f"links to the absolute path {link!r}")
    # symlinks resolve from the member's folder, hard links from the archive root
    base = list(rel.parent.parts) if member.issym() else []
    for part in re.split(r"[\\/]+", link):
        if part in ("", "."):
            continue
        if part == "..":
            if not base:
                raise _unsafe(archive, member.name, f"links outside the target ({link!r})")
            base.pop()
        else:
            base.append(part)
    return PurePosixPath(*base)


def _plan(archive: Path, members: list[tarfile.TarInfo]) -> list[tuple[tarfile.TarInfo, PurePosixPath]]:
    """Check every member and return those to extract with their clean relative paths."""
    plan: list[tuple[tarfile.TarInfo, PurePosixPath]] = []
    for member in members:
        rel = _clean_name(archive, member.name)
        if rel is None:
            if member.isdir():
                continue
            raise _unsafe(archive, member.name, "has no name")
        if member.ischr() or member.isblk() or member.isfifo() or member.isdev():
            raise _unsafe(archive, member.name, "is a device file or FIFO")
        if member.issym() or member.islnk():
            _link_target(archive, member, rel)
        elif not (member.isfile() or member.isdir()):
            raise _unsafe(archive, member.name, "has an unsupported type")
        plan.append((member, rel))
    return plan


def _checked_path(root: Path, rel: PurePosixPath, archive: Path, name: str) -> Path:
    """``root / rel``, refused if its parent resolves (through symlinks) outside ``root``."""
    path = root.joinpath(*rel.parts)
    real_root = os.path.realpath(root)
    real_parent = os.path.realpath(path.parent)
    if os.path.commonpath([real_root, real_parent]) != real_root:
        raise _unsafe(archive, name, "would be written through a link outside the target")
    return path


def _write_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, rel: PurePosixPath, root: Path, archive: Path
) -> None:
    path = _checked_path(root, rel, archive, member.name)
    if member.isdir():
        path.mkdir(parents=True, exist_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.is_file():
        path.unlink()  # a later member of the same name wins, and never writes through a link
    if member.issym():
        os.symlink(member.linkname.replace("\\", "/"), path)
        real_root = os.path.realpath(root)
        if os.path.commonpath([real_root, os.path.realpath(path)]) != real_root:
            raise _unsafe(archive, member.name, "resolves outside the target through other links")
        return
    if member.islnk():
        source = _checked_path(root, _link_target(archive, member, rel), archive, member.name)
        if not source.is_file() or source.is_symlink():
            raise _unsafe(archive, member.name, "is a hard link to something that is not an extracted file")
        shutil.copyfile(source, path)
        return
    stream = tar.extractfile(member)
    if stream is None:
        raise _unsafe(archive, member.name, "cannot be read")
    with stream, open(path, "wb") as out:
        shutil.copyfileobj(stream, out, 1 << 20)
    if member.mode & 0o111:
        os.chmod(path, 0o755)
    os.utime(path, (member.mtime, member.mtime))


def _content_root(folder: Path) -> Path:
    """``folder``, or its only entry when that is a folder (a wrapped archive)."""
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return folder


def _commit(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, replacing an existing ``target``."""
    if target.exists() or target.is_symlink():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
        os.replace(source, target)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        os.replace(source, target)


def safe_extract(
    archive: str | os.PathLike[str],
    target_dir: str | os.PathLike[str],
    *,
    flatten: bool = True,
    before_commit: Callable[[Path], None] | None = None,
) -> Path:
    """Extract the tar ``archive`` (any compression) into ``target_dir`` safely; return the target.

    ``flatten`` unwraps a single top-level folder. ``before_commit`` is called with
    the complete temporary folder just before it is renamed to ``target_dir``
    (to validate it or write a completion marker); if it raises, nothing is kept.
    An existing ``target_dir`` is replaced only on success.
    Raises :class:`UnsafeArchiveError` or :class:`IOFailure` (exit 74).
    """
    archive = Path(archive)
    target = Path(target_dir)
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the `with tar` below
    except (tarfile.TarError, OSError) as exc:
        raise IOFailure(
            f"cannot read the archive {archive}: {exc}",
            hint="the file is damaged or not a tar archive; get it again",
        ) from exc
    with tar:
        try:
            plan = _plan(archive, tar.getmembers())
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise IOFailure(
                f"the archive {archive} is damaged: {exc}", hint="delete it and get it again"
            ) from exc
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix=f".{target.name}.extract-", dir=target.parent))
        except OSError as exc:
            raise IOFailure(
                f"cannot create a folder beside {target}: {exc.strerror or exc}", hint="check permissions"
            ) from exc
        try:
            for member, rel in plan:
                _write_member(tar, member, rel, work, archive)
            content = _content_root(work) if flatten else work
            if before_commit is not None:
                before_commit(content)
            _commit(content, target)
        except (tarfile.TarError, EOFError) as exc:
            raise IOFailure(
                f"the archive {archive} is damaged: {exc}", hint="delete it and get it again"
            ) from exc
        except OSError as exc:
            raise IOFailure(
                f"cannot extract {archive} into {target}: {exc.strerror or exc}",
                hint="check free disk space and permissions",
            ) from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target
