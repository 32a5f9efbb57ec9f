"""Turn the request's ``image`` field (base64 text or an http(s) URL) into pixels.

Every failure is an :class:`ApiError` with a 4xx status and a message that says
what was wrong, so that bad input never becomes a server error.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import time
from typing import Any

from PIL import Image, ImageOps

from mlcls_cli.serving.errors import ApiError

#: Decoded images above this many pixels are refused (Pillow's own bomb limit).
MAX_IMAGE_PIXELS = 89_478_485
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_DATA_URI = re.compile(r"^data:[^,;]*(;[^,;]*)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(rb"\s+")


def url_scheme(text: str) -> str | None:
    """The lower-case scheme if ``text`` looks like a URL (``scheme://...``), else None."""
    match = _SCHEME.match(text.strip())
    return match.group(1).lower() if match else None


def decode_base64(text: str) -> bytes:
    """Decode standard base64 (whitespace ignored; a ``data:...;base64,`` prefix tolerated)."""
    body = _DATA_URI.sub("", text.strip(), count=1)
    try:
        raw = _WHITESPACE.sub(b"", body.encode("ascii"))
        data = base64.b64decode(raw, validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise ApiError(
            400,
            "`image` is neither an http(s) URL nor valid base64: send the file's bytes in standard base64 "
            "(A-Z a-z 0-9 + /, padded with =)",
        ) from None
    if not data:
        raise ApiError(400, "`image` is empty: send the base64 of an image file, or an http(s) URL")
    return data


def decode_image(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode image file bytes to a loaded RGB PIL image, EXIF orientation applied.

    Raises ``ApiError`` 400 for bytes that are not a readable image and 413 for an
    image with more than ``max_pixels`` pixels. Only the first frame of an animation is used.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise ApiError(
                    413, f"image too large: {width}x{height} pixels, the limit is {max_pixels} pixels"
                )
            im.load()
            rgb = _upright(im).convert("RGB")
            rgb.load()
    except ApiError:
        raise
    except MemoryError:
        raise
    except Image.DecompressionBombError:
        raise ApiError(413, f"image too large: more than {max_pixels} pixels") from None
    except Exception as exc:  # Pillow's decoders raise many types for corrupt data
        kind = "not a recognised image format" if isinstance(exc, Image.UnidentifiedImageError) else str(exc)
        raise ApiError(
            400, f"`image` could not be decoded as an image ({kind}); send a JPEG, PNG, BMP, ... file"
        ) from None
    if rgb.width == 0 or rgb.height == 0:
        raise ApiError(400, "`image` decoded to an empty picture")
    return rgb


def _upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a damaged EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # EXIF parsing errors come in many types; the pixels are still good
        return im


def fetch_url(url: str, *, max_bytes: int, timeout: float) -> bytes:
    """Download ``url`` (http or https) with a size limit and an overall time limit.

    Refusals: 400 for a malformed URL or another scheme, 413 for a file above
    ``max_bytes``, 502 when the remote server cannot be reached, times out or
    answers with an error status.
    """
    import requests

    scheme = url_scheme(url)
    if scheme not in ("http", "https"):
        raise ApiError(400, f"unsupported URL scheme {scheme!r}: only http and https URLs are fetched")
    deadline = time.monotonic() + timeout
    try:
        with requests.get(url, stream=True, timeout=timeout, allow_redirects=True) as response:
            if response.status_code >= 400:
                raise ApiError(
                    502, f"fetching the image URL failed: the server answered HTTP {response.status_code}"
                )
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ApiError(413, _too_big(max_bytes, f"{declared} bytes"))
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_content(chunk_size=64 * 1024):
                total += len(chunk)
                if total > max_bytes:
                    raise ApiError(413, _too_big(max_bytes, f"more than {max_bytes} bytes"))
                if time.monotonic() > deadline:
                    raise ApiError(502, f"fetching the image URL timed out after {timeout:g} s")
                chunks.append(chunk)
    except ApiError:
        raise
    except requests.exceptions.Timeout:
        raise ApiError(502, f"fetching the image URL timed out after {timeout:g} s") from None
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
    ):
        raise ApiError(400, "`image` is not a valid URL") from None
    except requests.exceptions.RequestException as exc:
        raise ApiError(502, f"fetching the image URL failed: {_reason(exc)}") from None
    data = b"".join(chunks)
    if not data:
        raise ApiError(400, "the image URL returned an empty body")
    return data


def _too_big(max_bytes: int, size: str) -> str:
    return f"the image at the URL is too large: {size}, the limit is {max_bytes} bytes"


def _reason(exc: Any) -> str:
    """A short reason for a requests failure, without the long urllib3 chains."""
    text = str(exc.args[0] if getattr(exc, "args", None) else exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "host name not found"
    return type(exc).__name__
