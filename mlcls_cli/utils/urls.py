"""The one fetcher of URL inputs (images given as http(s) addresses to predict, pipeline and serve).

:func:`fetch_url` downloads into memory with a size limit and an overall time limit,
and refuses at once when ``MLCLS_OFFLINE`` is on. Every failure is a
:class:`FetchError` whose ``kind`` lets each caller choose its own error (a skipped
input in predict, an HTTP status in the service). Model files use the resumable,
verified downloader of :mod:`mlcls_cli.hub.download` instead.
"""

from __future__ import annotations

import re
import time
from typing import Any

from mlcls_cli.utils.env import ENV_OFFLINE, is_offline

#: ``FetchError.kind`` values.
OFFLINE, SCHEME, INVALID, STATUS, TOO_LARGE, TIMEOUT, UNREACHABLE, EMPTY = (
    "offline",
    "scheme",
    "invalid",
    "status",
    "too_large",
    "timeout",
    "unreachable",
    "empty",
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_CHUNK = 64 * 1024


class FetchError(Exception):
    """A URL that could not be fetched: ``kind``, a reason, and the HTTP status when the server answered."""

    def __init__(self, kind: str, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status


def url_scheme(text: str) -> str | None:
    """The lower-case scheme if ``text`` looks like a URL (``scheme://...``), else None."""
    match = _SCHEME.match(text.strip())
    return match.group(1).lower() if match else None


def is_url(text: str) -> bool:
    """True for an ``http://`` or ``https://`` address."""
    return url_scheme(text) in ("http", "https")


def fetch_url(url: str, *, max_bytes: int, timeout: float) -> bytes:
    """The body of ``url`` (http or https), at most ``max_bytes`` long, within ``timeout`` seconds in all."""
    if is_offline():
        raise FetchError(OFFLINE, f"{ENV_OFFLINE}=1 forbids downloading URL inputs; download the file first")
    scheme = url_scheme(url)
    if scheme not in ("http", "https"):
        raise FetchError(SCHEME, f"unsupported URL scheme {scheme!r}: only http and https URLs are fetched")
    import requests

    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    total = 0
    try:
        with requests.get(url, stream=True, timeout=(timeout, timeout), allow_redirects=True) as response:
            if response.status_code != 200:
                reason = f"the server answered HTTP {response.status_code} {response.reason or ''}".strip()
                raise FetchError(STATUS, reason, response.status_code)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FetchError(
                    TOO_LARGE, f"too large: {int(declared)} bytes, the limit is {max_bytes} bytes"
                )
            for chunk in response.iter_content(_CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise FetchError(
                        TOO_LARGE, f"too large: more than {max_bytes} bytes, the limit is {max_bytes} bytes"
                    )
                if time.monotonic() > deadline:
                    raise requests.Timeout()
                chunks.append(chunk)
    except FetchError:
        raise
    except requests.Timeout:
        raise FetchError(TIMEOUT, f"timed out after {timeout:g} s") from None
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
    ):
        raise FetchError(INVALID, "not a valid URL") from None
    except requests.RequestException as exc:
        raise FetchError(UNREACHABLE, f"cannot reach the server: {_reason(exc)}") from None
    if not chunks:
        raise FetchError(EMPTY, "the URL returned an empty body")
    return b"".join(chunks)


def _reason(exc: Any) -> str:
    """A short reason for a requests failure, without urllib3's long chains."""
    text = str(exc.args[0] if getattr(exc, "args", None) else exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "host name not found"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "its TLS certificate could not be verified"
    return type(exc).__name__


__all__ = ["FetchError", "fetch_url", "is_url", "url_scheme"]
