"""One image's prediction: a dict with PaddleX's keys, printable, savable as JSON and as a picture.

Keys (and attributes): ``input_path`` (None for in-memory inputs), ``page_index``
(always None: no PDF support), ``class_ids``, ``scores`` (5 decimals, highest
first), ``label_names``. ``.json`` is ``{"res": {...}}`` and ``.img`` is
``{"res": PIL.Image}``: the image with PaddleX's red banner of white
``label(score)`` items underneath (no banner when nothing was kept).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from PIL import Image

from mlcls_cli.errors import IOFailure
from mlcls_cli.inference.inputs import SAVE_SUFFIXES
from mlcls_cli.utils.atomic import atomic_open, atomic_write_text

KEYS = ("input_path", "page_index", "class_ids", "scores", "label_names")
_PIL_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


class MLClassResult(dict):
    """The prediction for one image (see the module docstring)."""

    def __init__(
        self,
        *,
        input_path: str | None,
        class_ids: list[int],
        scores: list[float],
        label_names: list[str],
        page_index: int | None = None,
        image: Image.Image | None = None,
        stem: str = "result",
        suffix: str = ".png",
        rel_dir: str = "",
    ) -> None:
        super().__init__(
            input_path=input_path,
            page_index=page_index,
            class_ids=list(class_ids),
            scores=list(scores),
            label_names=list(label_names),
        )
        self._image = image
        self.stem = stem
        self.suffix = suffix if suffix in SAVE_SUFFIXES else ".png"
        #: sub-folder of the image relative to the folder input it came from ("" otherwise)
        self.rel_dir = rel_dir

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
    def class_ids(self) -> list[int]:
        """Kept class ids, highest score first."""
        return self["class_ids"]

    @property
    def scores(self) -> list[float]:
        """Scores of the kept classes (5 decimals), descending."""
        return self["scores"]

    @property
    def label_names(self) -> list[str]:
        """Names of the kept classes."""
        return self["label_names"]

    def to_dict(self) -> dict[str, Any]:
        """The result as a plain dict of JSON types, keys in PaddleX's order."""
        return {k: (list(self[k]) if isinstance(self[k], list) else self[k]) for k in KEYS}

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
        """The input image with a red banner of white ``label(score)`` items below it."""
        from mlcls_cli.utils.draw import draw_label_banner

        items = [f"{name}({score})" for name, score in zip(self.label_names, self.scores, strict=True)]
        return draw_label_banner(self.source_image(), items)

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
        return f"MLClassResult({dict.__repr__(self)})"


__all__ = ["KEYS", "MLClassResult"]
