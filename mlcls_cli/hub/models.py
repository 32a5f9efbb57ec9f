"""Zoo models in the cache: get a verified inference package or pretrained weights, downloading when needed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mlcls_cli import console
from mlcls_cli.errors import IOFailure, ModelUnavailableError
from mlcls_cli.hub.cache import archive_path, inference_dir, model_lock_path, pretrained_path
from mlcls_cli.hub.download import (
    ENV_ENDPOINT,
    ENV_OFFLINE,
    OfflineError,
    RemoteNotFoundError,
    fetch_file,
    is_offline,
    mirror_url,
)
from mlcls_cli.hub.extract import UnsafeArchiveError, safe_extract
from mlcls_cli.hub.lock import file_lock
from mlcls_cli.hub.manifest import (
    GRAPH_FILES,
    REQUIRED_FILES,
    EntryState,
    check_file,
    check_folder,
    meta_path,
    missing_package_files,
    read_json,
    sha256_file,
    write_marker,
)
from mlcls_cli.models.registry import INFERENCE_VERSIONS, ModelInfo, get_model_info

#: Published sha256 of official files, keyed by official URL. The zoo publishes none
#: today; an entry added here is enforced on download and on every later use.
KNOWN_SHA256: dict[str, str] = {}

_Tuning = tuple[int | None, float | None, float | None]  # retries, timeout, retry_delay
_PACKAGE_FILES = f"{' or '.join(GRAPH_FILES)}, {', '.join(REQUIRED_FILES)}"


def _download_hint(name: str) -> str:
    return f"run `mlcls models download {name}` where the network is reachable (with the same MLCLS_HOME)"


def _require_official(info: ModelInfo, what: str) -> None:
    """Refuse mlcls's own models, which have no official files to download."""
    if not info.official:
        raise ModelUnavailableError(
            f"{info.name} has no official {what}: it is mlcls's own model, trained by you",
            hint=f"train it with `mlcls train DATASET --model {info.name} --no-pretrained`, then use "
            "its output (--model-dir OUTPUT/best_model/inference, or -o Train.pretrain_weight_path=FILE)",
        )


def _offline_inference_error(info: ModelInfo, reason: str) -> ModelUnavailableError:
    archive = archive_path(info.name)
    return ModelUnavailableError(
        f"the {info.name} inference model is not available offline ({reason}); {ENV_OFFLINE}=1 forbids "
        f"downloading {archive.name} from {mirror_url(info.inference_url())}",
        hint=f"{_download_hint(info.name)}, or copy the archive to {archive}, or its extracted files "
        f"({_PACKAGE_FILES}) into {inference_dir(info.name)}",
    )


def ensure_inference_model(
    name: str,
    *,
    offline: bool | None = None,
    verify: bool = True,
    force: bool = False,
    retries: int | None = None,
    timeout: float | None = None,
    retry_delay: float | None = None,
) -> Path:
    """Return the folder of ``name``'s inference package (inference.json|.pdmodel, .pdiparams, .yml).

    A complete cached copy is used as it is (``verify`` re-hashes its files against
    the completion marker); an archive or extracted folder placed in the cache by
    hand is accepted; a partial or altered entry is repaired. Otherwise the
    ``<name>_infer.tar`` is downloaded (newest version folder first, older ones on
    404), extracted safely and marked complete. ``offline`` defaults to
    ``MLCLS_OFFLINE``; ``force`` downloads a fresh copy.
    """
    info = get_model_info(name)
    _require_official(info, "inference package")
    target = inference_dir(name)
    offline = is_offline() if offline is None else offline
    check = check_folder(target, verify=verify)
    if not force and check.state is EntryState.OK:
        return target
    if not force and check.state is EntryState.MANUAL and not os.access(target.parent, os.W_OK):
        return target  # a read-only shared cache: use the files as they are, without recording them
    if offline and check.state is EntryState.MISSING and not archive_path(name).exists():
        raise _offline_inference_error(info, "a fresh copy was asked for" if force else "not in the cache")
    waiting = f"waiting for another process installing the {name} inference model"
    with file_lock(model_lock_path(name), waiting_message=waiting):
        return _ensure_inference_locked(info, target, offline, verify, force, (retries, timeout, retry_delay))


def _ensure_inference_locked(
    info: ModelInfo, target: Path, offline: bool, verify: bool, force: bool, tuning: _Tuning
) -> Path:
    check = check_folder(target, verify=verify)
    if not force:
        if check.state is EntryState.OK:
            return target
        if check.state is EntryState.MANUAL:
            console.info(f"using the {info.name} inference model placed by hand in {target}")
            write_marker(
                target, model=info.name, source="manual", url=None, archive_sha256=None, archive_size=None
            )
            return target
    if check.state in (EntryState.PARTIAL, EntryState.CORRUPT):
        if offline:
            raise _offline_inference_error(info, f"the cached copy is damaged: {check.reason}")
        console.warn(f"{check.reason}; repairing the cache entry")
        shutil.rmtree(target, ignore_errors=True)

    archive = archive_path(info.name)
    if archive.exists() and not force:
        installed = _install_from_cached_archive(info, archive, target, offline, verify)
        if installed is not None:
            return installed
    if offline:
        raise _offline_inference_error(info, "a fresh copy was asked for" if force else "not in the cache")
    url = _download_archive(info, archive, verify, force, tuning)
    try:
        return _install(info, archive, target, url=url, source="download")
    finally:
        _remove_file(archive)  # the extracted folder is what is kept; a bad archive is useless


def _install_from_cached_archive(
    info: ModelInfo, archive: Path, target: Path, offline: bool, verify: bool
) -> Path | None:
    """Install from an archive already in the cache; None when it is unusable and was removed."""
    check = check_file(archive, verify=verify)
    meta = read_json(meta_path(archive)) or {}
    downloaded = meta.get("source") == "download"
    if check.usable:
        try:
            path = _install(
                info, archive, target, url=meta.get("url"), source="download" if downloaded else "archive"
            )
        except UnsafeArchiveError:
            raise
        except IOFailure as exc:
            if offline:
                raise _offline_inference_error(info, f"{archive} cannot be used: {exc.message}") from None
            console.warn(f"{archive} cannot be used ({exc.message}); downloading it again")
        else:
            if downloaded:
                # left over from an interrupted install; an archive placed by hand stays
                _remove_file(archive)
            else:
                console.info(f"installed the {info.name} inference model from {archive}")
            return path
    elif offline:
        raise _offline_inference_error(info, f"the cached archive is damaged: {check.reason}")
    else:
        console.warn(f"{check.reason}; downloading it again")
    _remove_file(archive)
    return None


def _install(info: ModelInfo, archive: Path, target: Path, *, url: str | None, source: str) -> Path:
    """Extract ``archive`` into ``target`` and mark it complete."""
    meta = read_json(meta_path(archive)) or {}
    archive_sha = meta.get("sha256") or sha256_file(archive)
    archive_size = archive.stat().st_size

    def finalize(folder: Path) -> None:
        missing = missing_package_files(folder)
        if missing:
            raise IOFailure(
                f"{archive} is not an inference package: it lacks {', '.join(missing)}",
                hint=f"an inference package holds {_PACKAGE_FILES}; export one with `mlcls train` or get the official one",
            )
        write_marker(
            folder,
            model=info.name,
            source=source,
            url=url,
            archive_sha256=archive_sha,
            archive_size=archive_size,
        )

    return safe_extract(archive, target, before_commit=finalize)


def _download_archive(info: ModelInfo, archive: Path, verify: bool, force: bool, tuning: _Tuning) -> str:
    """Download ``<name>_infer.tar`` from the newest version folder that has it; return its URL."""
    retries, timeout, retry_delay = tuning
    tried: list[str] = []
    for version in INFERENCE_VERSIONS:
        official = info.inference_url(version)
        try:
            fetch_file(
                official,
                archive,
                sha256=KNOWN_SHA256.get(official),
                retries=retries,
                timeout=timeout,
                retry_delay=retry_delay,
                verify=verify,
                force=force,
                offline=False,
                description=f"{info.name} inference model",
            )
        except RemoteNotFoundError as exc:
            tried.append(exc.url)
            console.info(f"not found: {exc.url}; trying an older version folder")
            continue
        return mirror_url(official)
    raise ModelUnavailableError(
        f"no inference package of {info.name} was found (HTTP 404 at {', '.join(tried)})",
        hint=f"the zoo may have moved: set {ENV_ENDPOINT} to a mirror that has it, or get "
        f"{archive.name} elsewhere and copy it to {archive}",
    )


def ensure_pretrained_weights(
    name: str,
    *,
    offline: bool | None = None,
    verify: bool = True,
    force: bool = False,
    retries: int | None = None,
    timeout: float | None = None,
    retry_delay: float | None = None,
) -> Path:
    """Return the path of ``name``'s pretrained training weights ``<name>_pretrained.pdparams``.

    Same rules as :func:`ensure_inference_model`: a verified cached copy or one placed
    by hand is used, a damaged one is replaced, otherwise the file is downloaded.
    """
    info = get_model_info(name)
    _require_official(info, "pretrained weights")
    dest = pretrained_path(name)
    url = str(info.pretrained_url)
    try:
        return fetch_file(
            url,
            dest,
            sha256=KNOWN_SHA256.get(url),
            retries=retries,
            timeout=timeout,
            retry_delay=retry_delay,
            verify=verify,
            force=force,
            offline=offline,
            description=f"{name} pretrained weights",
        )
    except OfflineError as exc:
        raise ModelUnavailableError(
            f"the {name} pretrained weights are not available offline ({exc.reason}); {ENV_OFFLINE}=1 forbids "
            f"downloading {dest.name} from {mirror_url(url)}",
            hint=f"run `mlcls models download {name} --pretrained` where the network is reachable (with the same "
            f"MLCLS_HOME), or copy the file to {dest}",
        ) from None
    except RemoteNotFoundError as exc:
        raise ModelUnavailableError(
            f"the {name} pretrained weights were not found (HTTP 404 at {exc.url})",
            hint=f"set {ENV_ENDPOINT} to a mirror that has them, or copy the file to {dest}",
        ) from None


def cached_state(name: str, *, verify: bool = False) -> dict[str, bool]:
    """Whether ``name``'s inference package and pretrained weights can be used without a download."""
    folder = check_folder(inference_dir(name), verify=verify)
    archive = check_file(archive_path(name), verify=verify)
    weights = check_file(pretrained_path(name), verify=verify)
    return {"inference": folder.usable or archive.usable, "pretrained": weights.usable}


def _remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)
    meta_path(path).unlink(missing_ok=True)
