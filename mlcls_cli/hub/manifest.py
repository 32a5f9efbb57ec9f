"""Records that say a cached artifact is complete, and the checks that trust them.

A downloaded file ``X`` gets a sidecar ``X.meta.json`` (source URL, sha256, size,
date). An extracted folder gets a completion marker ``.mlcls-complete.json``
(source URL, the archive's sha256 and size, date, and the size and sha256 of every
file), written before the folder is renamed into place. A check compares what is
on disk with the record, so a truncated or altered file is never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from mlcls_cli.utils.atomic import atomic_write_json

META_SUFFIX = ".meta.json"
MARKER_NAME = ".mlcls-complete.json"
RECORD_FORMAT = 1
_CHUNK = 1 << 20

#: Graph files, any one of which (with the two below) makes an inference package usable.
GRAPH_FILES = ("inference.json", "inference.pdmodel")
REQUIRED_FILES = ("inference.pdiparams", "inference.yml")


class EntryState(str, Enum):
    """What a cache entry looks like on disk."""

    OK = "ok"  # recorded and matching its record
    MANUAL = "manual"  # present and complete-looking, but put there by hand (no record)
    MISSING = "missing"
    PARTIAL = "partial"  # unfinished: files missing, sizes short
    CORRUPT = "corrupt"  # recorded, but the content no longer matches


@dataclass(frozen=True)
class Check:
    """The state of one entry and, when it is not usable, why."""

    state: EntryState
    reason: str = ""

    @property
    def usable(self) -> bool:
        """True when the entry may be used as it is (possibly after recording it)."""
        return self.state in (EntryState.OK, EntryState.MANUAL)


def utc_now() -> str:
    """The current UTC time as an ISO 8601 string (seconds)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --- single files ---------------------------------------------------------------------------


def meta_path(file: Path) -> Path:
    """The sidecar record of a downloaded file."""
    return file.with_name(file.name + META_SUFFIX)


def write_file_meta(file: Path, *, url: str | None, sha256: str, size: int, source: str) -> None:
    """Record a complete file: where it came from, its sha256 and size."""
    atomic_write_json(
        meta_path(file),
        {
            "format": RECORD_FORMAT,
            "file": file.name,
            "url": url,
            "sha256": sha256,
            "size": size,
            "source": source,
            "recorded_at": utc_now(),
        },
    )


def check_file(file: Path, *, verify: bool = True, expected_sha256: str | None = None) -> Check:
    """Compare a cached file with its sidecar record (and ``expected_sha256`` when given).

    ``verify`` hashes the content; without it only the size is compared.
    """
    if not file.is_file():
        return Check(EntryState.MISSING, f"{file} does not exist")
    meta = read_json(meta_path(file))
    size = file.stat().st_size
    if meta is None:
        if size == 0:
            return Check(EntryState.PARTIAL, f"{file} is empty")
        if expected_sha256 and verify and sha256_file(file) != expected_sha256.lower():
            return Check(EntryState.CORRUPT, f"sha256 of {file} does not match the published checksum")
        return Check(EntryState.MANUAL)
    if meta.get("size") != size:
        return Check(EntryState.CORRUPT, f"{file} has {size} bytes, its record says {meta.get('size')}")
    recorded = str(meta.get("sha256", "")).lower()
    if expected_sha256 and recorded != expected_sha256.lower():
        return Check(EntryState.CORRUPT, f"the record of {file} has another sha256 than the published one")
    if verify and sha256_file(file) != recorded:
        return Check(EntryState.CORRUPT, f"sha256 of {file} does not match its record")
    return Check(EntryState.OK)


# --- extracted folders --------------------------------------------------------------------------


def missing_package_files(folder: Path) -> list[str]:
    """Names an inference package needs that ``folder`` lacks (or has empty)."""

    def present(name: str) -> bool:
        path = folder / name
        return path.is_file() and path.stat().st_size > 0

    missing = [name for name in REQUIRED_FILES if not present(name)]
    if not any(present(name) for name in GRAPH_FILES):
        missing.insert(0, " or ".join(GRAPH_FILES))
    return missing


def folder_files(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every regular file under ``folder`` (the marker excluded)."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and path.name != MARKER_NAME:
            rel = path.relative_to(folder).as_posix()
            files[rel] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    return files


def write_marker(folder: Path, **fields: Any) -> None:
    """Write the completion marker of ``folder``: ``fields`` plus the record of every file."""
    record = {"format": RECORD_FORMAT, **fields, "completed_at": utc_now(), "files": folder_files(folder)}
    atomic_write_json(folder / MARKER_NAME, record)


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The completion marker of ``folder``, or None."""
    return read_json(folder / MARKER_NAME)


def check_folder(folder: Path, *, verify: bool = True) -> Check:
    """Compare an extracted inference package with its completion marker.

    A folder without a marker that holds every needed file counts as placed by
    hand (MANUAL); one that lacks files is PARTIAL.
    """
    if not folder.is_dir():
        return Check(EntryState.MISSING, f"{folder} does not exist")
    marker = read_marker(folder)
    if marker is None or not isinstance(marker.get("files"), dict):
        missing = missing_package_files(folder)
        if missing:
            return Check(
                EntryState.PARTIAL, f"{folder} has no completion marker and lacks {', '.join(missing)}"
            )
        return Check(EntryState.MANUAL)
    for rel, info in marker["files"].items():
        path = folder / rel
        if not path.is_file():
            return Check(EntryState.PARTIAL, f"{path} is missing")
        size = path.stat().st_size
        if size != info.get("size"):
            return Check(EntryState.CORRUPT, f"{path} has {size} bytes, the marker says {info.get('size')}")
        if verify and sha256_file(path) != info.get("sha256"):
            return Check(EntryState.CORRUPT, f"sha256 of {path} does not match the completion marker")
    missing = missing_package_files(folder)
    if missing:
        return Check(EntryState.PARTIAL, f"{folder} lacks {', '.join(missing)}")
    return Check(EntryState.OK)


def tree_size(path: Path) -> int:
    """Bytes used by a file or by all files under a folder (symlinks not followed)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # a file removed while walking
                total += os.lstat(os.path.join(root, name)).st_size
    return total
