"""One image's prediction: a dict with PaddleX's keys, printable, savable as JSON and as a picture.

Keys (and attributes), in PaddleX's order and types: ``input_path`` (None for
in-memory inputs), ``page_index`` (always None: no PDF support), ``input_img`` (the
input as an RGB ``uint8`` array, height x width x 3), ``class_ids`` (``int64``
array), ``scores`` (``float64`` array, 5 decimals, highest first), ``label_names``
(list of str). ``.json`` is ``{"res": {...}}`` without ``input_img`` and with plain
lists, and ``.img`` is ``{"res": PIL.Image}``: the image with PaddleX's red banner of
white ``label(score)`` items underneath (no banner when nothing was kept).

``input_img`` of a file input is read from the file when it is first used, so a
stream of results over a large folder does not hold every picture in memory; once
read, it stays with its result.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mlcls_cli.errors import IOFailure
from mlcls_cli.inference.inputs import SAVE_SUFFIXES
from mlcls_cli.models.registry import TASK_ML
from mlcls_cli.utils.atomic import atomic_open, atomic_write_text

KEYS = ("input_path", "page_index", "class_ids", "scores", "label_names")  # the JSON form's keys
INPUT_IMG = "input_img"
_PIL_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


class _NotRead:
    """Holds the place of ``input_img`` until it is first used."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<input_img: read on first use>"


_NOT_READ = _NotRead()


class ClassificationResult(dict):
    """The prediction for one image (see the module docstring), multi-label or single-label (``task``).

    Every way of reading the values (``[]``, ``get``, ``items``, ``values``,
    ``dict(res)``, ``{**res}``, ``copy``) yields the loaded ``input_img``.
    """

    def __init__(
        self,
        *,
        task: str = TASK_ML,
        input_path: str | None,
        class_ids: Sequence[int] | np.ndarray,
        scores: Sequence[float] | np.ndarray,
        label_names: Sequence[str],
        page_index: int | None = None,
        image: Image.Image | None = None,
        stem: str = "result",
        suffix: str = ".png",
        rel_dir: str = "",
    ) -> None:
        super().__init__(
            input_path=input_path,
            page_index=page_index,
            input_img=_NOT_READ,
            # PaddleX's types: int64/float64 for multi-label, int32/float32 for single-label (Topk)
            class_ids=np.asarray(class_ids, dtype=np.int64 if task == TASK_ML else np.int32).reshape(-1),
            scores=np.asarray(scores, dtype=np.float64 if task == TASK_ML else np.float32).reshape(-1),
            label_names=[str(n) for n in label_names],
        )
        self.task = task
        self._image = image
        self.stem = stem
        self.suffix = suffix if suffix in SAVE_SUFFIXES else ".png"
        #: sub-folder of the image relative to the folder input it came from ("" otherwise)
        self.rel_dir = rel_dir

    # --- input_img is read on first use; every read path goes through __getitem__

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        if value is _NOT_READ:
            value = self._read_input_img()
            dict.__setitem__(self, key, value)
        return value

    def __iter__(self) -> Iterator[Any]:
        # Defined so that dict(res), {**res} and res.copy() read values through __getitem__.
        return dict.__iter__(self)

    def get(self, key: Any, default: Any = None) -> Any:
        """``res[key]``, or ``default`` when the key is absent."""
        if key not in self:
            return default
        return self[key]

    def _read_all(self) -> None:
        if dict.get(self, INPUT_IMG) is _NOT_READ:
            self[INPUT_IMG]

    def items(self) -> Any:
        """The (key, value) pairs, ``input_img`` loaded."""
        self._read_all()
        return dict.items(self)

    def values(self) -> Any:
        """The values, ``input_img`` loaded."""
        self._read_all()
        return dict.values(self)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """``res[key]``; when absent, set it to ``default`` first."""
        if key in self:
            return self[key]
        return dict.setdefault(self, key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        """Remove ``key`` and return its value (``input_img`` loaded)."""
        if key in self:
            self[key]
        return dict.pop(self, key, *default)

    def popitem(self) -> tuple[Any, Any]:
        """Remove and return the last (key, value) pair."""
        self._read_all()
        return dict.popitem(self)

    def _picture(self) -> Image.Image:
        """The image to draw on: ``input_img`` once loaded (or set by the caller, as PaddleX draws), else the source."""
        value = dict.get(self, INPUT_IMG)
        if isinstance(value, np.ndarray):
            return Image.fromarray(value).convert("RGB")
        return self.source_image()

    def _read_input_img(self) -> np.ndarray:
        image = self.source_image()
        return np.array(image if image.mode == "RGB" else image.convert("RGB"))

    # attribute access to the keys, as PaddleX results allow
    @property
    def input_path(self) -> str | None:
        """The input's path or URL (None for arrays, PIL images and bytes)."""
        return self["input_path"]

    @property
    def page_index(self) -> int | None:
        """Page of a multi-page input; always None here."""
        return self["page_index"]

    @property
    def input_img(self) -> np.ndarray:
        """The input image: an RGB ``uint8`` array (height x width x 3), EXIF orientation applied."""
        return self[INPUT_IMG]

    @property
    def class_ids(self) -> np.ndarray:
        """Kept class ids (``int64`` array), highest score first."""
        return self["class_ids"]

    @property
    def scores(self) -> np.ndarray:
        """Scores of the kept classes (``float64`` array, 5 decimals), descending."""
        return self["scores"]

    @property
    def label_names(self) -> list[str]:
        """Names of the kept classes."""
        return self["label_names"]

    def to_dict(self) -> dict[str, Any]:
        """The result as a plain dict of JSON types (lists, no ``input_img``), keys in PaddleX's order."""
        return {
            "input_path": self.input_path,
            "page_index": self.page_index,
            "class_ids": [int(i) for i in self["class_ids"]],
            # 5 decimals as computed, also from a float32 array (PaddleX writes 0.6273599863052368 there)
            "scores": [round(float(s), 5) for s in self["scores"]],
            "label_names": [str(n) for n in self["label_names"]],
        }

    @property
    def json(self) -> dict[str, Any]:
        """``{"res": <the result dict>}``, as PaddleX's ``.json``."""
        return {"res": self.to_dict()}

    @property
    def img(self) -> dict[str, Image.Image]:
        """``{"res": <visualisation>}``: the image with the ``label(score)`` banner."""
        return {"res": self.visualize()}

    def source_image(self) -> Image.Image:
        """The input image (RGB, EXIF orientation applied); re-read from disk for file inputs."""
        if self._image is not None:
            return self._image
        if self.input_path is None:
            raise IOFailure("the input image of this result is not available")
        from mlcls_cli.utils.draw import load_display_image
        from mlcls_cli.utils.images import ImageReadError

        try:
            return load_display_image(self.input_path)
        except ImageReadError as exc:
            raise IOFailure(f"cannot re-read {self.input_path} to draw the result: {exc.reason}") from None

    def visualize(self) -> Image.Image:
        """The input image with a red banner of white label items below it.

        Multi-label: every kept ``label(score)``; single-label: the top-1 ``label score``
        with two decimals, the text PaddleX draws.
        """
        from mlcls_cli.utils.draw import draw_label_banner

        plain = self.to_dict()
        pairs = list(zip(plain["label_names"], plain["scores"], strict=True))
        if self.task == TASK_ML:
            items = [f"{name}({score})" for name, score in pairs]
        else:
            items = [f"{name} {score:.2f}" for name, score in pairs[:1]]
        return draw_label_banner(self._picture(), items)

    def print(
        self,
        json_format: bool | None = None,
        indent: int = 4,
        ensure_ascii: bool = False,
        *,
        format_json: bool | None = None,
    ) -> None:
        """Print ``{"res": ...}`` on stdout: indented JSON (default) or the Python form (``json_format=False``)."""
        as_json = True
        for flag in (json_format, format_json):
            if flag is not None:
                as_json = bool(flag)
        text = json.dumps(self.json, indent=indent, ensure_ascii=ensure_ascii) if as_json else repr(self.json)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def json_path(self, save_path: str | os.PathLike[str]) -> Path:
        """Where :meth:`save_to_json` writes for ``save_path``."""
        target = Path(save_path)
        if target.suffix.lower() == ".json" and not target.is_dir():
            return target
        return target / f"{self.stem}_res.json"

    def img_path(self, save_path: str | os.PathLike[str]) -> Path:
        """Where :meth:`save_to_img` writes for ``save_path``."""
        target = Path(save_path)
        if target.suffix.lower() in _PIL_FORMATS and not target.is_dir():
            return target
        return target / f"{self.stem}_res{self.suffix}"

    def save_to_json(
        self, save_path: str | os.PathLike[str], indent: int = 4, ensure_ascii: bool = False
    ) -> Path:
        """Write the result dict as JSON to ``save_path`` (a ``.json`` file, or a folder: ``<stem>_res.json``)."""
        target = self.json_path(save_path)
        atomic_write_text(target, json.dumps(self.to_dict(), indent=indent, ensure_ascii=ensure_ascii) + "\n")
        return target

    def save_to_img(self, save_path: str | os.PathLike[str]) -> Path:
        """Write the visualisation to ``save_path`` (an image file, or a folder: ``<stem>_res.<input ext>``)."""
        target = self.img_path(save_path)
        image = self.visualize()
        fmt = _PIL_FORMATS[target.suffix.lower()]
        options: dict[str, Any] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
        with atomic_open(target, "wb", encoding=None) as fh:
            image.save(fh, format=fmt, **options)
        return target

    def save_all(self, save_path: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Save the JSON and the picture into the folder ``save_path``."""
        return self.save_to_json(save_path), self.save_to_img(save_path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"


#: The name of mlcls 0.1, when every result was multi-label.
MLClassResult = ClassificationResult

__all__ = ["INPUT_IMG", "KEYS", "ClassificationResult", "MLClassResult"]
