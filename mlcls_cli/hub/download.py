"""Resumable, verified, lock-protected file downloads.

A download streams into a ``.part`` file while hashing; an interruption keeps the
part and the next attempt asks for the rest with an HTTP ``Range`` request (and
starts over when the server answers with the whole file). Connection errors,
timeouts and 5xx answers are retried with exponential backoff. The finished file
is checked against ``Content-Length`` and the expected sha256, recorded in a
``.meta.json`` sidecar, and renamed into place, all under a per-file lock.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlcls_cli import console
from mlcls_cli.errors import IOFailure, ModelUnavailableError, UsageError
from mlcls_cli.hub.cache import lock_path, part_meta_path, part_path, url_cache_path
from mlcls_cli.hub.lock import file_lock
from mlcls_cli.hub.manifest import (
    Check,
    EntryState,
    check_file,
    meta_path,
    read_json,
    sha256_file,
    write_file_meta,
)
from mlcls_cli.utils.atomic import atomic_write_json
from mlcls_cli.utils.env import (
    ENV_ENDPOINT,
    ENV_OFFLINE,
    ENV_RETRIES,
    ENV_RETRY_DELAY,
    ENV_TIMEOUT,
    env_number,
    is_offline,
)

#: Host whose URLs ``MLCLS_MODEL_ENDPOINT`` redirects (the official model zoo).
OFFICIAL_HOST = "paddle-model-ecology.bj.bcebos.com"
DEFAULT_RETRIES = 4
DEFAULT_RETRY_DELAY = 1.0
DEFAULT_TIMEOUT = 30.0
MAX_BACKOFF = 30.0
#: Bytes per read; an interrupted read loses at most this much of what it was receiving.
CHUNK_SIZE = 64 * 1024
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)")


class RemoteNotFoundError(ModelUnavailableError):
    """The server answered 404 or 410: the file is not there."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"not found (HTTP 404) at {url}", hint=f"check the URL, or the mirror in {ENV_ENDPOINT}"
        )
        self.url = url


class OfflineError(ModelUnavailableError):
    """The file is not usable from the cache and offline mode forbids downloading it."""

    def __init__(self, url: str, dest: Path, reason: str) -> None:
        super().__init__(
            f"{dest.name} is not available offline ({reason}) and {ENV_OFFLINE}=1 forbids downloading it from {url}",
            hint=f"copy the file to {dest}, or unset {ENV_OFFLINE} to download it",
        )
        self.url = url
        self.dest = dest
        self.reason = reason


def mirror_url(url: str) -> str:
    """``url`` with the scheme and host of the official zoo replaced by ``MLCLS_MODEL_ENDPOINT``.

    The endpoint may carry a path prefix (``http://host:8000/mirror``); the official
    path is kept after it. Other URLs are returned unchanged.
    """
    endpoint = os.environ.get(ENV_ENDPOINT, "").strip()
    if not endpoint:
        return url
    if not endpoint.startswith(("http://", "https://")):
        raise UsageError(
            f"{ENV_ENDPOINT}={endpoint!r} is not an http(s) URL",
            hint=f"set it like {ENV_ENDPOINT}=https://mirror.example.com/models, or unset it",
        )
    parsed = urlparse(url)
    if parsed.hostname != OFFICIAL_HOST:
        return url
    tail = parsed.path + (f"?{parsed.query}" if parsed.query else "")
    return endpoint.rstrip("/") + tail


class _Failure(Exception):
    """One failed attempt: ``kind`` is "network" (retry, keep the part) or "integrity" (bad content)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@dataclass
class _Settings:
    retries: int
    timeout: float
    retry_delay: float


def _settings(retries: int | None, timeout: float | None, retry_delay: float | None) -> _Settings:
    return _Settings(
        retries=int(retries if retries is not None else env_number(ENV_RETRIES, DEFAULT_RETRIES, int)),
        timeout=float(timeout if timeout is not None else env_number(ENV_TIMEOUT, DEFAULT_TIMEOUT)),
        retry_delay=float(
            retry_delay if retry_delay is not None else env_number(ENV_RETRY_DELAY, DEFAULT_RETRY_DELAY)
        ),
    )


def fetch_file(
    url: str,
    dest: str | os.PathLike[str] | None = None,
    *,
    sha256: str | None = None,
    size: int | None = None,
    retries: int | None = None,
    timeout: float | None = None,
    retry_delay: float | None = None,
    verify: bool = True,
    force: bool = False,
    offline: bool | None = None,
    description: str | None = None,
) -> Path:
    """Return a local, verified copy of ``url`` at ``dest``, downloading it if needed.

    Without ``dest`` the file is cached under ``<root>/files/<sha256(url)[:16]>/<name>``.
    A file already there is used when it matches its record (``verify`` hashes it)
    and ``sha256``/``size`` when given; a file placed there by hand is accepted and
    recorded. ``retries`` (``MLCLS_DOWNLOAD_RETRIES``, default 4), ``timeout`` in
    seconds (``MLCLS_DOWNLOAD_TIMEOUT``, 30) and the first backoff ``retry_delay``
    (``MLCLS_DOWNLOAD_RETRY_DELAY``, 1 s, doubled each retry) tune the download.
    ``offline`` (default: ``MLCLS_OFFLINE``) forbids any network access.

    Raises :class:`OfflineError` or :class:`RemoteNotFoundError` (both exit 69),
    :class:`ModelUnavailableError` when the network keeps failing, and
    :class:`IOFailure` (exit 74) when the content keeps failing its checks.
    """
    target = Path(dest) if dest is not None else url_cache_path(url)
    offline = is_offline() if offline is None else offline
    settings = _settings(retries, timeout, retry_delay)

    check = _check(target, sha256, size, verify)
    if not force and check.state is EntryState.OK:
        return target
    if not force and check.state is EntryState.MANUAL and not os.access(target.parent, os.W_OK):
        return target  # a read-only shared cache: use the file as it is, without recording it
    if offline and check.state is EntryState.MISSING:
        raise OfflineError(url, target, "not in the cache")
    with file_lock(
        lock_path(target), waiting_message=f"waiting for another process to finish downloading {target.name}"
    ):
        check = _check(target, sha256, size, verify)
        if not force and check.state is EntryState.OK:
            return target
        if not force and check.state is EntryState.MANUAL:
            _record_manual(target, url)
            return target
        if check.state in (EntryState.PARTIAL, EntryState.CORRUPT):
            if offline:
                raise OfflineError(url, target, check.reason)
            console.warn(f"{check.reason}; downloading it again")
            target.unlink(missing_ok=True)
            meta_path(target).unlink(missing_ok=True)
        if offline:
            raise OfflineError(url, target, "a fresh copy was asked for" if force else "not in the cache")
        _download(
            mirror_url(url), target, sha256=sha256, size=size, settings=settings, description=description
        )
    return target


def _check(target: Path, sha256: str | None, size: int | None, verify: bool) -> Check:
    check = check_file(target, verify=verify, expected_sha256=sha256)
    if check.usable and size is not None and target.stat().st_size != size:
        return Check(EntryState.CORRUPT, f"{target} has {target.stat().st_size} bytes, expected {size}")
    return check


def _record_manual(target: Path, url: str) -> None:
    """Accept a file placed by hand: record its checksum so later changes are detected."""
    console.info(f"using {target} (placed by hand); recording its checksum")
    write_file_meta(target, url=url, sha256=sha256_file(target), size=target.stat().st_size, source="manual")


# --- the download loop ----------------------------------------------------------------------


def _download(
    url: str,
    dest: Path,
    *,
    sha256: str | None,
    size: int | None,
    settings: _Settings,
    description: str | None,
) -> None:
    import requests

    from mlcls_cli import __version__

    part = part_path(dest)
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise IOFailure(
            f"cannot create {part.parent}: {exc.strerror or exc}",
            hint="check that the cache folder is writable",
        ) from exc
    console.info(f"downloading {url}")
    failures = attempts = 0
    high_water = part.stat().st_size if part.exists() else 0
    with requests.Session() as session:
        session.headers.update({"User-Agent": f"mlcls/{__version__}", "Accept-Encoding": "identity"})
        while True:
            try:
                digest, total = _attempt(session, url, part, settings.timeout, description or dest.name)
                _finish(url, part, dest, digest, total, sha256, size)
                return
            except _Failure as failure:
                attempts += 1
                now = part.stat().st_size if part.exists() else 0
                # an attempt that got further than any before does not use up a retry
                failures = 1 if (failure.kind == "network" and now > high_water) else failures + 1
                high_water = max(high_water, now)
                if failures > settings.retries:
                    _give_up(url, dest, failure, attempts)
                delay = min(settings.retry_delay * 2 ** (failures - 1), MAX_BACKOFF)
                console.warn(f"{failure.reason}; retrying in {delay:.2g} s ({failures}/{settings.retries})")
                time.sleep(delay)


def _give_up(url: str, dest: Path, failure: _Failure, count: int) -> None:
    attempts = f"{count} attempt{'s' if count != 1 else ''}"
    if failure.kind == "integrity":
        raise IOFailure(
            f"the download of {url} failed its checks after {attempts}: {failure.reason}",
            hint=f"the server may hold a damaged file: retry later, set {ENV_ENDPOINT} to another mirror, "
            f"or copy a good copy to {dest}",
        )
    raise ModelUnavailableError(
        f"cannot download {url} after {attempts}: {failure.reason}",
        hint=f"check the network (and HTTPS_PROXY), set {ENV_ENDPOINT} to a reachable mirror, or download "
        f"the file elsewhere and copy it to {dest}",
    )


def _resume_offset(part: Path, url: str) -> tuple[int, dict[str, Any]]:
    """Bytes already in ``part`` that belong to ``url`` (0 discards a stale part)."""
    meta = read_json(part_meta_path(part)) or {}
    if part.exists() and meta.get("url") == url:
        return part.stat().st_size, meta
    part.unlink(missing_ok=True)
    part_meta_path(part).unlink(missing_ok=True)
    return 0, {}


def _restart(part: Path) -> None:
    part.unlink(missing_ok=True)
    part_meta_path(part).unlink(missing_ok=True)


def _attempt(session: Any, url: str, part: Path, timeout: float, description: str) -> tuple[str, int | None]:
    """One request: append to ``part`` what the server sends; return the sha256 and announced size."""
    import requests

    offset, meta = _resume_offset(part, url)
    headers: dict[str, str] = {}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = meta.get("etag") if not str(meta.get("etag") or "").startswith("W/") else None
        validator = validator or meta.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    try:
        response = session.get(url, headers=headers, stream=True, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _Failure("network", f"cannot reach {urlparse(url).netloc}: {_short(exc)}") from None
    except requests.RequestException as exc:
        raise ModelUnavailableError(
            f"cannot download {url}: {_short(exc)}", hint=f"check the URL and {ENV_ENDPOINT}"
        ) from None
    with response:
        status = response.status_code
        if status in (404, 410):
            raise RemoteNotFoundError(url)
        if status == 416 and offset:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match and match.group(3) not in (None, "*") and int(match.group(3)) == offset:
                return _hash_part(part, offset), offset  # the part already holds the whole file
            _restart(part)
            raise _Failure("network", "the server refused to resume the download; starting over")
        if status >= 500 or status in (408, 429):
            raise _Failure(
                "network", f"HTTP {status} {response.reason or ''}".strip() + f" from {urlparse(url).netloc}"
            )
        if status not in (200, 206):
            raise ModelUnavailableError(
                f"cannot download {url}: HTTP {status} {response.reason or ''}".strip(),
                hint=f"check access to the server, or set {ENV_ENDPOINT} to a mirror",
            )
        total = _announced_total(response, offset)
        if status == 200 and offset:
            console.info("the server sent the whole file instead of the rest; starting over")
            _restart(part)
            offset = 0
            total = _announced_total(response, 0)
        elif status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or match.group(1) is None or int(match.group(1)) != offset:
                _restart(part)
                raise _Failure("network", "the server resumed at the wrong offset; starting over")
        atomic_write_json(
            part_meta_path(part),
            {
                "url": url,
                "etag": response.headers.get("ETag"),
                "last_modified": response.headers.get("Last-Modified"),
                "total": total,
            },
        )
        digest = _hash_part(part, offset, raw=True)
        received = _stream(response, part, offset, total, digest, description)
    if total is not None and received < total:
        raise _Failure("network", f"the connection closed after {received} of {total} bytes")
    return digest.hexdigest(), total


def _announced_total(response: Any, offset: int) -> int | None:
    """The full file size the response announces (Content-Range total, else Content-Length)."""
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if response.status_code == 206 and match and match.group(3) != "*":
        return int(match.group(3))
    length = response.headers.get("Content-Length")
    if length and length.isdigit():
        return offset + int(length) if response.status_code == 206 else int(length)
    return None


def _hash_part(part: Path, offset: int, raw: bool = False) -> Any:
    """A sha256 object fed with the first ``offset`` bytes of ``part`` (its hex digest unless ``raw``)."""
    digest = hashlib.sha256()
    if offset:
        with open(part, "rb") as fh:
            remaining = offset
            while remaining:
                chunk = fh.read(min(CHUNK_SIZE * 4, remaining))
                if not chunk:
                    break
                digest.update(chunk)
                remaining -= len(chunk)
    return digest if raw else digest.hexdigest()


def _stream(response: Any, part: Path, offset: int, total: int | None, digest: Any, description: str) -> int:
    """Append the response body to ``part`` while hashing and showing progress; return the bytes held."""
    import requests

    received = offset
    try:
        fh = open(part, "r+b" if offset else "wb")  # noqa: SIM115 - closed below, errors need the handle
    except OSError as exc:
        raise IOFailure(
            f"cannot write {part}: {exc.strerror or exc}", hint="check free disk space and permissions"
        ) from exc
    try:
        fh.seek(offset)
        fh.truncate()
        with console.progress(description, total, unit="bytes") as bar:
            if offset:
                bar.advance(offset)
            for chunk in response.iter_content(CHUNK_SIZE):
                if not chunk:
                    continue
                if total is not None and received + len(chunk) > total:
                    fh.close()
                    _restart(part)
                    raise _Failure("integrity", f"the server sent more than the announced {total} bytes")
                fh.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.advance(len(chunk))
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
        total_text = f" of {total}" if total is not None else ""
        raise _Failure(
            "network", f"the download stopped after {received}{total_text} bytes: {_short(exc)}"
        ) from None
    except OSError as exc:
        raise IOFailure(
            f"cannot write {part}: {exc.strerror or exc}", hint="check free disk space and permissions"
        ) from exc
    finally:
        if not fh.closed:
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
    return received


def _finish(
    url: str, part: Path, dest: Path, digest: str, total: int | None, sha256: str | None, size: int | None
) -> None:
    """Check the finished part, record it and rename it into place."""
    actual = part.stat().st_size
    if total is not None and actual != total:
        _restart(part)
        raise _Failure("integrity", f"got {actual} bytes, the server announced {total}")
    if size is not None and actual != size:
        _restart(part)
        raise _Failure("integrity", f"got {actual} bytes, expected {size}")
    if sha256 and digest != sha256.lower():
        _restart(part)
        raise _Failure("integrity", f"sha256 mismatch: expected {sha256.lower()}, got {digest}")
    try:
        write_file_meta(dest, url=url, sha256=digest, size=actual, source="download")
        os.replace(part, dest)
    except OSError as exc:
        raise IOFailure(
            f"cannot move the download into {dest}: {exc.strerror or exc}",
            hint="check free disk space and permissions",
        ) from exc
    part_meta_path(part).unlink(missing_ok=True)
    console.success(f"saved {dest} ({actual} bytes, sha256 {digest[:12]}…)")


def _short(exc: BaseException) -> str:
    """The root cause of a requests error in a few words (not urllib3's nested repr)."""
    cause: BaseException = exc
    for _ in range(5):  # requests error -> urllib3 MaxRetryError -> its reason
        inner = getattr(cause, "reason", None)
        nested = [arg for arg in cause.args if isinstance(arg, BaseException)]
        if isinstance(inner, BaseException):
            cause = inner
        elif nested:
            cause = nested[-1]
        else:
            break
    text = re.sub(r"^<[^>]*>:\s*", "", str(cause)) or type(cause).__name__
    return text if len(text) <= 160 else text[:157] + "..."
