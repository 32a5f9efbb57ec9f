"""Where cached models and files live, what the cache holds, and removing entries.

Layout under the cache root (``MLCLS_HOME``, else the platform cache folder)::

    models/<MODEL>/inference/                      extracted *_infer.tar + .mlcls-complete.json
    models/<MODEL>/<MODEL>_pretrained.pdparams     + <file>.meta.json (url, sha256, size)
    models/<MODEL>/<MODEL>_infer.tar               only while installing, or when placed by hand
    files/<sha256(url)[:16]>/<basename>            other downloads (URL inputs)
    tmp/<key>-<basename>.part                      unfinished downloads (+ .part.json)
    locks/*.lock                                   one lock file per artifact
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from mlcls_cli.errors import UsageError
from mlcls_cli.hub.lock import LockBusyError, file_lock
from mlcls_cli.hub.manifest import (
    META_SUFFIX,
    EntryState,
    check_file,
    check_folder,
    meta_path,
    read_json,
    tree_size,
)
from mlcls_cli.utils.env import ENV_HOME

INFERENCE_SUFFIX = "_infer.tar"
PRETRAINED_SUFFIX = "_pretrained.pdparams"
PART_SUFFIX = ".part"
PART_META_SUFFIX = ".part.json"
_EXTRACT_TMP = re.compile(r"^\.inference\.(extract|old)-")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._+-]")


def cache_root() -> Path:
    """The cache root: ``$MLCLS_HOME`` when set, else ``platformdirs.user_cache_dir("mlcls")``."""
    env = os.environ.get(ENV_HOME, "").strip()
    if env:
        return Path(os.path.abspath(os.path.expanduser(env)))
    import platformdirs

    return Path(platformdirs.user_cache_dir("mlcls", appauthor=False))


def models_root() -> Path:
    """The folder holding one sub-folder per model."""
    return cache_root() / "models"


def model_dir(name: str) -> Path:
    """The cache folder of model ``name``."""
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise UsageError(f"invalid model name {name!r}", hint="run `mlcls models` to list the zoo")
    return models_root() / name


def inference_dir(name: str) -> Path:
    """Where the extracted inference package of ``name`` lives."""
    return model_dir(name) / "inference"


def archive_path(name: str) -> Path:
    """Where the ``<name>_infer.tar`` archive goes (downloaded, or placed by hand)."""
    return model_dir(name) / f"{name}{INFERENCE_SUFFIX}"


def pretrained_path(name: str) -> Path:
    """Where the pretrained training weights ``<name>_pretrained.pdparams`` live."""
    return model_dir(name) / f"{name}{PRETRAINED_SUFFIX}"


def tmp_dir() -> Path:
    """The folder of unfinished downloads."""
    return cache_root() / "tmp"


def locks_dir() -> Path:
    """The folder of lock files."""
    return cache_root() / "locks"


def files_dir() -> Path:
    """The folder of downloads that are not zoo models."""
    return cache_root() / "files"


def url_basename(url: str) -> str:
    """A safe file name taken from the last path segment of ``url``."""
    name = PurePosixPath(unquote(urlparse(url).path)).name
    name = _UNSAFE_CHARS.sub("_", name).lstrip(".")
    return name or "download"


def url_cache_path(url: str) -> Path:
    """Where ``fetch_file(url)`` without a destination caches the file."""
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return files_dir() / digest / url_basename(url)


def artifact_key(dest: Path) -> str:
    """A short stable id of a destination path (names its lock and part files)."""
    return hashlib.sha256(os.path.abspath(dest).encode("utf-8")).hexdigest()[:16]


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
    except ValueError:
        return False
    return True


def part_path(dest: Path) -> Path:
    """The ``.part`` file of an unfinished download of ``dest``.

    Inside the cache it lives in ``<root>/tmp/``; elsewhere beside ``dest``, so that
    the final rename never crosses file systems.
    """
    if _inside(dest, cache_root()):
        return tmp_dir() / f"{artifact_key(dest)}-{dest.name}{PART_SUFFIX}"
    return dest.with_name(dest.name + PART_SUFFIX)


def part_meta_path(part: Path) -> Path:
    """The record of what a ``.part`` file is a prefix of (URL, validators, size)."""
    return part.with_name(part.name[: -len(PART_SUFFIX)] + PART_META_SUFFIX)


def lock_path(dest: Path) -> Path:
    """The lock file guarding the download of ``dest``."""
    return locks_dir() / f"{artifact_key(dest)}.lock"


def model_lock_path(name: str) -> Path:
    """The lock file guarding the installation of model ``name``'s inference package."""
    model_dir(name)  # validates the name
    return locks_dir() / f"model-{name}-inference.lock"


# --- what is cached -----------------------------------------------------------------------


@dataclass(frozen=True)
class CacheEntry:
    """One thing in the cache."""

    kind: str  # inference | pretrained | archive | file | onnx | part | leftover
    name: str  # model name, or file name for other downloads
    path: Path
    size: int
    state: EntryState
    detail: str = ""
    model: str | None = None
    lock: Path | None = field(default=None, compare=False)

    @property
    def is_leftover(self) -> bool:
        """True for things ``clean(partial_only=True)`` removes."""
        return self.kind in ("part", "leftover") or self.state in (EntryState.PARTIAL, EntryState.CORRUPT)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "kind": self.kind,
            "name": self.name,
            "model": self.model,
            "path": str(self.path),
            "size": self.size,
            "state": self.state.value,
            "detail": self.detail,
        }


def _model_of(basename: str) -> str | None:
    for suffix in (INFERENCE_SUFFIX, PRETRAINED_SUFFIX):
        if basename.endswith(suffix) and len(basename) > len(suffix):
            return basename[: -len(suffix)]
    return None


def _file_entry(kind: str, name: str, path: Path, model: str | None, verify: bool) -> CacheEntry:
    check = check_file(path, verify=verify)
    size = tree_size(path) + (tree_size(meta_path(path)) if meta_path(path).exists() else 0)
    return CacheEntry(kind, name, path, size, check.state, check.reason, model, lock_path(path))


def _model_entries(folder: Path, verify: bool) -> list[CacheEntry]:
    name = folder.name
    entries: list[CacheEntry] = []
    model_lock = model_lock_path(name)
    for path in sorted(folder.iterdir()):
        if path.name == "inference" and path.is_dir():
            check = check_folder(path, verify=verify)
            entries.append(
                CacheEntry(
                    "inference", name, path, tree_size(path), check.state, check.reason, name, model_lock
                )
            )
        elif _EXTRACT_TMP.match(path.name):
            entries.append(
                CacheEntry(
                    "leftover",
                    name,
                    path,
                    tree_size(path),
                    EntryState.PARTIAL,
                    "unfinished extraction",
                    name,
                    model_lock,
                )
            )
        elif path.name.endswith(META_SUFFIX):
            data_file = path.with_name(path.name[: -len(META_SUFFIX)])
            if not data_file.exists():
                entries.append(
                    CacheEntry(
                        "leftover",
                        name,
                        path,
                        tree_size(path),
                        EntryState.PARTIAL,
                        "record without its file",
                        name,
                        lock_path(data_file),
                    )
                )
        elif path.is_file() and path.name.endswith(".pdparams"):
            entries.append(_file_entry("pretrained", name, path, name, verify))
        elif path.is_file() and path.name.endswith(".tar"):
            # the archive is only touched while the model's inference lock is held
            entries.append(replace(_file_entry("archive", name, path, name, verify), lock=model_lock))
    return entries


def _tmp_entries() -> list[CacheEntry]:
    entries: list[CacheEntry] = []
    folder = tmp_dir()
    if not folder.is_dir():
        return entries
    for path in sorted(folder.iterdir()):
        key, _, rest = path.name.partition("-")
        if path.name.endswith(PART_SUFFIX):
            basename = rest[: -len(PART_SUFFIX)]
            kind, detail = "part", "unfinished download"
        elif path.name.endswith(PART_META_SUFFIX):
            if (folder / (path.name[: -len(PART_META_SUFFIX)] + PART_SUFFIX)).exists():
                continue  # counted with its part
            basename = rest[: -len(PART_META_SUFFIX)]
            kind, detail = "leftover", "record without its .part file"
        else:
            basename, kind, detail = path.name, "leftover", "unknown temporary file"
        size = tree_size(path)
        if kind == "part" and part_meta_path(path).exists():
            size += tree_size(part_meta_path(path))
        lock = locks_dir() / f"{key}.lock" if rest else None
        entries.append(
            CacheEntry(kind, basename, path, size, EntryState.PARTIAL, detail, _model_of(basename), lock)
        )
    return entries


def list_cached(*, verify: bool = False) -> list[CacheEntry]:
    """Everything in the cache: model packages, weights, other files and leftovers.

    ``verify`` hashes every file against its record (slow for big models);
    without it, entries are checked by presence and size.
    """
    entries: list[CacheEntry] = []
    if models_root().is_dir():
        for folder in sorted(models_root().iterdir()):
            if folder.is_dir():
                entries.extend(_model_entries(folder, verify))
    if files_dir().is_dir():
        for sub in sorted(files_dir().iterdir()):
            if not sub.is_dir():
                continue
            for path in sorted(sub.iterdir()):
                if path.name.endswith(META_SUFFIX):
                    continue
                entries.append(_file_entry("file", path.name, path, None, verify))
    entries.extend(_onnx_entries())
    entries.extend(_tmp_entries())
    return entries


def onnx_dir() -> Path:
    """Where packages without ``inference.onnx`` have their converted graph, one folder per package hash."""
    return cache_root() / "onnx"


def _onnx_entries() -> list[CacheEntry]:
    """Converted ONNX graphs (named by model, from their source record) and unfinished conversions."""
    entries: list[CacheEntry] = []
    folder = onnx_dir()
    if not folder.is_dir():
        return entries
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        record = read_json(sub / "source.json") or {}
        model = record.get("model_name") if isinstance(record.get("model_name"), str) else None
        complete = (sub / "inference.onnx").is_file() and bool(record)
        failed = (sub / "failed.json").is_file()
        state = EntryState.OK if complete else EntryState.CORRUPT if failed else EntryState.PARTIAL
        detail = (
            f"converted from {record.get('package')}"
            if complete
            else "the conversion failed"
            if failed
            else "unfinished conversion"
        )
        entries.append(
            CacheEntry(
                "onnx", model or sub.name[:12], sub, tree_size(sub), state, detail, model, sub / ".lock"
            )
        )
    return entries


def cache_size() -> int:
    """Bytes used by the whole cache."""
    root = cache_root()
    return tree_size(root) if root.exists() else 0


# --- removing entries ---------------------------------------------------------------------


@dataclass
class CleanResult:
    """What ``clean`` removed, how many bytes that freed, and what it left because it was in use."""

    removed: list[CacheEntry] = field(default_factory=list)
    busy: list[CacheEntry] = field(default_factory=list)

    @property
    def freed(self) -> int:
        """Bytes freed."""
        return sum(entry.size for entry in self.removed)


def _remove(entry: CacheEntry) -> None:
    path = entry.path
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    if entry.kind in ("pretrained", "archive", "file"):
        meta_path(path).unlink(missing_ok=True)
    if entry.kind == "part":
        part_meta_path(path).unlink(missing_ok=True)


def _prune_empty(folder: Path) -> None:
    if not folder.is_dir():
        return
    for sub in sorted(folder.iterdir()):
        if sub.is_dir() and not sub.is_symlink() and not any(sub.iterdir()):
            sub.rmdir()


def entries_to_clean(name: str | None = None, partial_only: bool = False) -> list[CacheEntry]:
    """The entries ``clean`` with the same arguments would remove (busy ones included)."""
    if name is not None:
        model_dir(name)  # validates the name
    return [
        entry
        for entry in list_cached()
        if (name is None or entry.model == name) and (not partial_only or entry.is_leftover)
    ]


def clean(name: str | None = None, partial_only: bool = False) -> CleanResult:
    """Remove cache entries: all, or those of model ``name``; only leftovers with ``partial_only``.

    Leftovers are ``.part`` files, unfinished extractions and entries that are
    incomplete or no longer match their record. An entry whose lock another
    process holds (a download in progress) is left alone and reported as busy.
    """
    result = CleanResult()
    for entry in entries_to_clean(name, partial_only):
        try:
            if entry.lock is None:
                _remove(entry)
            else:
                with file_lock(entry.lock, timeout=0):
                    _remove(entry)
        except LockBusyError:
            result.busy.append(entry)
            continue
        result.removed.append(entry)
    _prune_empty(models_root())
    _prune_empty(files_dir())
    return result
