"""Prediction inputs: expand what the user gave into a lazy stream of images, and load each one.

Accepted, as in PaddleX: an image path; a folder (walked recursively in sorted order,
image files only, hidden files and folders skipped); an ``http(s)://`` URL (fetched
into a temporary file with a size limit and a timeout); a numpy array; a dict
``{"img": <any of these>}``; or a list of these. Also accepted: a PIL image and the
bytes of an encoded image file.

Numpy arrays follow PaddleX (OpenCV's convention): ``HxWx3`` uint8 in **BGR** order
(``HxWx4`` BGRA, ``HxW`` grey also work). Pass ``arr[..., ::-1]`` for an RGB array,
or a ``PIL.Image``, which is always read as RGB.

Files, bytes and URL bodies are decoded by the shared opener
(:func:`mlcls_cli.utils.images.open_image`: EXIF orientation applied, RGB, size
limit) and URLs fetched by the shared fetcher (:func:`mlcls_cli.utils.urls.fetch_url`,
which honours ``MLCLS_OFFLINE``). Nothing here imports paddle.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
from PIL import Image

from mlcls_cli.errors import InputMissingError
from mlcls_cli.utils.env import ENV_URL_MAX_BYTES, ENV_URL_TIMEOUT, env_number
from mlcls_cli.utils.images import ImageReadError, open_image
from mlcls_cli.utils.urls import FetchError, fetch_url, is_url

#: Suffixes a folder walk picks up (case-insensitive).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Suffixes ``save_to_img`` keeps; anything else is saved as PNG.
SAVE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

DEFAULT_URL_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_URL_TIMEOUT = 30.0


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


def fetch_input(url: str, settings: URLSettings | None = None) -> bytes:
    """The bytes behind a URL input; raises InputError (the reason) when it cannot be had."""
    settings = settings or url_settings()
    if not settings.allowed:
        raise InputError("URL inputs are disabled here")
    try:
        return fetch_url(url, max_bytes=settings.max_bytes, timeout=settings.timeout)
    except FetchError as exc:
        hints = {
            "too_large": f"raise {ENV_URL_MAX_BYTES}, or download the file first",
            "timeout": f"raise {ENV_URL_TIMEOUT}, or download the file first",
        }
        raise InputError(exc.reason, hint=hints.get(exc.kind)) from None


def load_image(item: InputItem, settings: URLSettings | None = None) -> Image.Image:
    """Decode one input to an RGB PIL image; raises InputError (the reason) when it cannot."""
    try:
        if item.kind == "path":
            return open_image(item.source)
        if item.kind == "url":
            return open_image(fetch_input(item.source, settings))
        if item.kind == "bytes":
            return open_image(item.source)
        if item.kind == "image":
            return item.source.convert("RGB") if item.source.mode != "RGB" else item.source
        if item.kind == "array":
            return _array_to_image(item.source)
    except ImageReadError as exc:
        raise InputError(exc.reason) from None
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
    "fetch_input",
    "is_image_file",
    "is_url",
    "iter_inputs",
    "load_image",
    "url_settings",
]
