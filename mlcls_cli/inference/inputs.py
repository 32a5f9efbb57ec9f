"""Prediction inputs: expand what the user gave into a lazy stream of images, and load each one.

Accepted, as in PaddleX: an image path; a folder (walked recursively in sorted order,
image files only, hidden files and folders skipped); an ``http(s)://`` URL (fetched
into a temporary file with a size limit and a timeout); a numpy array; a dict
``{"img": <any of these>}``; or a list of these. Also accepted: a PIL image and the
bytes of an encoded image file.

Numpy arrays follow PaddleX (OpenCV's convention): ``HxWx3`` uint8 in **BGR** order
(``HxWx4`` BGRA, ``HxW`` grey also work). Pass ``arr[..., ::-1]`` for an RGB array,
or a ``PIL.Image``, which is always read as RGB.

Files are decoded with Pillow, EXIF orientation applied, converted to RGB.
Nothing here imports paddle.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlparse

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mlcls_cli.errors import InputMissingError
from mlcls_cli.utils.env import ENV_URL_MAX_BYTES, ENV_URL_TIMEOUT, env_number

#: Suffixes a folder walk picks up (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Suffixes ``save_to_img`` keeps; anything else is saved as PNG.
SAVE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

DEFAULT_URL_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_URL_TIMEOUT = 30.0
_CHUNK = 64 * 1024


class InputError(InputMissingError):
    """One input cannot be used: missing, unreadable, not an image, or a failed URL (exit 66)."""


@dataclass(frozen=True)
class InputFailure:
    """An input that was skipped, and why."""

    input: str
    reason: str

    def __str__(self) -> str:
        return f"{self.input}: {self.reason}"


@dataclass
class InputItem:
    """One image to predict, not loaded yet."""

    kind: str  # "path" | "url" | "array" | "image" | "bytes"
    source: Any
    input_path: str | None  # what the result reports (None for in-memory inputs, like PaddleX)
    stem: str  # file-name stem for saved results
    suffix: str  # image suffix for saved pictures
    rel_dir: str = ""  # folder of the file relative to the folder input it came from
    index: int = 0  # position in the whole input stream


@dataclass(frozen=True)
class URLSettings:
    """Limits of URL inputs."""

    max_bytes: int = DEFAULT_URL_MAX_BYTES
    timeout: float = DEFAULT_URL_TIMEOUT
    allowed: bool = True


def url_settings(
    max_bytes: int | None = None, timeout: float | None = None, allowed: bool = True
) -> URLSettings:
    """URL limits: the values given, else ``MLCLS_URL_MAX_BYTES`` / ``MLCLS_URL_TIMEOUT``, else 50 MiB / 30 s."""
    return URLSettings(
        max_bytes=int(max_bytes or env_number(ENV_URL_MAX_BYTES, DEFAULT_URL_MAX_BYTES, int, positive=True)),
        timeout=float(timeout or env_number(ENV_URL_TIMEOUT, DEFAULT_URL_TIMEOUT, float, positive=True)),
        allowed=allowed,
    )


def is_url(text: str) -> bool:
    """True for an ``http://`` or ``https://`` address."""
    return text.lower().startswith(("http://", "https://"))


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """True when the name has an image suffix a folder walk picks up."""
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_SUFFIXES


def _walk(root: Path) -> Iterator[Path]:
    """Image files under ``root``, depth first, each folder's entries in sorted name order."""
    try:
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir():  # symlinked folders are followed only when named directly
                if not entry.is_symlink():
                    yield from _walk(Path(entry.path))
            elif entry.is_file() and is_image_file(entry.name):
                yield Path(entry.path)
        except OSError:
            continue


def count_inputs(inputs: Any) -> int:
    """How many entries (images and failures) :func:`iter_inputs` yields; folders are walked, nothing decoded."""
    return sum(1 for _ in iter_inputs(inputs))


def _suffix_of(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    return suffix if suffix in SAVE_SUFFIXES else ".png"


def _url_item(url: str) -> InputItem:
    name = os.path.basename(unquote(urlparse(url).path))
    stem = os.path.splitext(name)[0] or "url_" + hashlib.sha256(url.encode()).hexdigest()[:8]
    return InputItem("url", url, url, stem, _suffix_of(name))


def _path_items(text: str) -> Iterator[InputItem | InputFailure]:
    path = Path(text).expanduser()
    if path.is_dir():
        for file in _walk(path):
            rel = file.parent.relative_to(path)
            yield InputItem(
                "path",
                str(file),
                str(file),
                file.stem,
                _suffix_of(file.name),
                "" if rel == Path() else str(rel),
            )
    elif path.is_file():
        yield InputItem("path", str(path), text, path.stem, _suffix_of(path.name))
    elif path.exists():
        yield InputFailure(text, "not a regular file or folder")
    else:
        yield InputFailure(text, "no such file or folder")


def _expand(obj: Any, counter: list[int]) -> Iterator[InputItem | InputFailure]:
    if isinstance(obj, dict):
        if "img" not in obj:
            yield InputFailure(repr(obj)[:80], 'a dict input needs the key "img"')
            return
        yield from _expand(obj["img"], counter)
    elif isinstance(obj, (list, tuple)):
        for element in obj:
            yield from _expand(element, counter)
    elif isinstance(obj, np.ndarray):
        counter[0] += 1
        yield InputItem("array", obj, None, f"array_{counter[0] - 1}", ".png")
    elif isinstance(obj, Image.Image):
        counter[0] += 1
        yield InputItem("image", obj, None, f"image_{counter[0] - 1}", ".png")
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        counter[0] += 1
        yield InputItem("bytes", bytes(obj), None, f"bytes_{counter[0] - 1}", ".png")
    elif isinstance(obj, (str, os.PathLike)):
        text = os.fspath(obj)
        if isinstance(text, bytes):
            text = os.fsdecode(text)
        if is_url(text):
            yield _url_item(text)
        elif text.lower().endswith(".pdf"):
            yield InputFailure(text, "PDF inputs are not supported; convert the pages to images first")
        else:
            yield from _path_items(text)
    else:
        yield InputFailure(repr(obj)[:80], f"unsupported input type {type(obj).__name__}")


def iter_inputs(inputs: Any) -> Iterator[InputItem | InputFailure]:
    """Lazily expand ``inputs`` into images to load, and failures (missing paths...) in input order."""
    counter = [0]
    for position, item in enumerate(_expand(inputs, counter)):
        if isinstance(item, InputItem):
            item.index = position
        yield item


def _open_image(fp: Any) -> Image.Image:
    im = Image.open(fp)
    im.load()  # a file Pillow opened itself is closed here for single-frame images
    if im.getexif().get(0x0112, 1) not in (1, None):
        im = ImageOps.exif_transpose(im)
    return im if im.mode == "RGB" else im.convert("RGB")


def _array_to_image(arr: np.ndarray) -> Image.Image:
    """A PaddleX-style (BGR) array as an RGB PIL image."""
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and float(np.nanmax(arr)) <= 1.0:
            raise InputError(
                "a float array in [0, 1] was given",
                hint="pass uint8 pixels (0-255), e.g. (arr * 255).astype('uint8')",
            )
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        return Image.fromarray(arr, "L").convert("RGB")
    if arr.ndim == 3 and arr.shape[2] == 1:
        return Image.fromarray(arr[:, :, 0], "L").convert("RGB")
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(arr[:, :, 2::-1]), "RGB")
    raise InputError(f"an array of shape {arr.shape} is not an image", hint="pass HxWx3 uint8 BGR pixels")


def fetch_url(url: str, settings: URLSettings, dest: IO[bytes]) -> int:
    """Download ``url`` into the open binary file ``dest``; return the byte count; raise InputError on failure."""
    from mlcls_cli.hub.download import is_offline

    if not settings.allowed:
        raise InputError("URL inputs are disabled here")
    if is_offline():
        raise InputError("MLCLS_OFFLINE=1 forbids downloading URL inputs", hint="download the image first")
    import requests

    deadline = time.monotonic() + settings.timeout
    too_large = f"raise {ENV_URL_MAX_BYTES}, or download the file first"
    received = 0
    try:
        with requests.get(url, stream=True, timeout=(settings.timeout, settings.timeout)) as resp:
            if resp.status_code != 200:
                raise InputError(f"HTTP {resp.status_code} {resp.reason or ''}".strip())
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > settings.max_bytes:
                raise InputError(
                    f"too large: {int(declared)} bytes, the limit is {settings.max_bytes}", hint=too_large
                )
            for chunk in resp.iter_content(_CHUNK):
                received += len(chunk)
                if received > settings.max_bytes:
                    raise InputError(f"too large: more than {settings.max_bytes} bytes", hint=too_large)
                if time.monotonic() > deadline:
                    raise requests.Timeout()
                dest.write(chunk)
    except requests.Timeout:
        raise InputError(f"timed out after {settings.timeout:g} s", hint=f"raise {ENV_URL_TIMEOUT}") from None
    except requests.RequestException as exc:
        raise InputError(f"download failed: {type(exc).__name__}: {exc}") from None
    return received


def load_image(item: InputItem, settings: URLSettings | None = None) -> Image.Image:
    """Decode one input to an RGB PIL image; raises InputError (the reason) when it cannot."""
    try:
        if item.kind == "path":
            return _open_image(item.source)
        if item.kind == "url":
            with tempfile.TemporaryFile(prefix="mlcls-url-") as fp:
                fetch_url(item.source, settings or url_settings(), fp)
                fp.seek(0)
                return _open_image(fp)
        if item.kind == "bytes":
            return _open_image(io.BytesIO(item.source))
        if item.kind == "image":
            return item.source.convert("RGB") if item.source.mode != "RGB" else item.source
        if item.kind == "array":
            return _array_to_image(item.source)
    except InputError:
        raise
    except FileNotFoundError:
        raise InputError("no such file") from None
    except UnidentifiedImageError:
        raise InputError("not an image Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"refused: {exc}") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"cannot decode: {exc}") from None
    raise InputError(f"unsupported input kind {item.kind!r}")


def describe(item: InputItem) -> str:
    """A short name of an input for messages."""
    if item.input_path is not None:
        return item.input_path
    if item.kind == "array":
        return f"array #{item.stem.rsplit('_', 1)[-1]} {tuple(item.source.shape)}"
    return f"{item.kind} input #{item.stem.rsplit('_', 1)[-1]}"


__all__ = [
    "DEFAULT_URL_MAX_BYTES",
    "DEFAULT_URL_TIMEOUT",
    "ENV_URL_MAX_BYTES",
    "ENV_URL_TIMEOUT",
    "IMAGE_SUFFIXES",
    "InputError",
    "InputFailure",
    "InputItem",
    "URLSettings",
    "count_inputs",
    "describe",
    "fetch_url",
    "is_image_file",
    "is_url",
    "iter_inputs",
    "load_image",
    "url_settings",
]
