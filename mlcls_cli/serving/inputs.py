"""Turn the request's ``image`` field (base64 text or an http(s) URL) into pixels.

Every failure is an :class:`ApiError` with a 4xx status and a message that says
what was wrong, so that bad input never becomes a server error.
"""

from __future__ import annotations

import base64
import binascii
import re

from PIL import Image

from mlcls_cli.serving.errors import ApiError
from mlcls_cli.utils import images, urls
from mlcls_cli.utils.images import MAX_IMAGE_PIXELS, ImageReadError, open_image
from mlcls_cli.utils.urls import FetchError, fetch_url

_DATA_URI = re.compile(r"^data:[^,;]*(;[^,;]*)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(rb"\s+")


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
        return open_image(data, max_pixels=max_pixels)
    except ImageReadError as exc:
        if exc.kind == images.TOO_LARGE:
            raise ApiError(413, f"image {exc.reason}") from None
        if exc.kind == images.EMPTY:
            raise ApiError(400, "`image` decoded to an empty picture") from None
        what = "not a recognised image format" if exc.kind == images.NOT_IMAGE else exc.reason
        raise ApiError(
            400, f"`image` could not be decoded as an image ({what}); send a JPEG, PNG, BMP, ... file"
        ) from None


#: HTTP status of each kind of URL failure.
_FETCH_STATUS = {urls.OFFLINE: 403, urls.SCHEME: 400, urls.INVALID: 400, urls.EMPTY: 400, urls.TOO_LARGE: 413}


def fetch_image_url(url: str, *, max_bytes: int, timeout: float) -> bytes:
    """Download the image at ``url`` through the shared fetcher; failures become ``ApiError``.

    Refusals: 403 when the server runs offline (``MLCLS_OFFLINE=1``), 400 for a
    malformed URL or another scheme, 413 for a file above ``max_bytes``, 502 when
    the remote server cannot be reached, times out or answers with an error status.
    """
    try:
        return fetch_url(url, max_bytes=max_bytes, timeout=timeout)
    except FetchError as exc:
        status = _FETCH_STATUS.get(exc.kind, 502)
        if exc.kind == urls.OFFLINE:
            message = "this server runs offline (MLCLS_OFFLINE=1): send the image as base64, not as a URL"
        elif exc.kind == urls.TOO_LARGE:
            message = f"the image at the URL is {exc.reason}"
        else:
            message = f"fetching the image URL failed: {exc.reason}"
        raise ApiError(status, message) from None
