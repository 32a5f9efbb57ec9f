"""Label banners drawn under an image, in the PaddleX style: white names on a red strip.

Used for the ``check`` demo images (class names) and for prediction images
(``label(score)`` items). The picture is never distorted and the canvas is never
widened: an image narrower than :data:`MIN_WORK_WIDTH` is drawn on a copy enlarged by
a whole factor (each pixel becomes a square block), so that text in proportion to the
width stays legible. The font is :data:`FONT_WIDTH_RATIO` of the width, at least
:data:`MIN_FONT_SIZE` px; it shrinks (not below that floor) to keep the banner within
:data:`BANNER_SOFT_RATIO` of the image height, and the items that would make the
banner taller than :data:`BANNER_MAX_RATIO` of the image are summed up as ``+N more``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from mlcls_cli.utils.fonts import find_font
from mlcls_cli.utils.images import open_image

BANNER_RED = (255, 0, 0)
TEXT_WHITE = (255, 255, 255)
FONT_WIDTH_RATIO = 0.045
MIN_FONT_SIZE = 14
MIN_WORK_WIDTH = 400
MAX_WORK_SIDE = 4096  # enlarging stops before the long side passes this (very tall, narrow images)
BANNER_SOFT_RATIO = 0.3
BANNER_MAX_RATIO = 0.5
_SHRINK = 0.85  # font size step while the banner is too tall

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def load_display_image(path: str | os.PathLike[str], max_side: int | None = None) -> Image.Image:
    """Open an image for drawing: EXIF orientation applied, RGB, and shrunk to ``max_side`` if given.

    Raises :class:`~mlcls_cli.utils.images.ImageReadError` when the file cannot be used.
    """
    image = open_image(path, max_side=max_side)  # JPEG: decoded at a reduced scale, much faster
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def load_font(size: int, font_path: str | None = None) -> Font:
    """Load ``font_path`` at ``size`` pixels, falling back to Pillow's built-in font."""
    if font_path:
        try:
            return ImageFont.truetype(font_path, size)
        except OSError:
            pass
    return ImageFont.load_default(size)


def work_scale(width: int, height: int) -> int:
    """The whole factor an image of this size is enlarged by before its banner is drawn (1: kept as is)."""
    if width <= 0 or height <= 0 or width >= MIN_WORK_WIDTH:
        return 1
    wanted = math.ceil(MIN_WORK_WIDTH / width)
    room = MAX_WORK_SIDE // max(width, height)
    return max(1, min(wanted, room))


@dataclass
class BannerLayout:
    """The banner's text rows and geometry for one font size."""

    font_size: int
    rows: list[list[str]]
    line_height: int
    pad_x: int
    pad_y: int
    gap: int
    hidden: int = 0  # trailing items replaced by the "+N more" marker

    @property
    def height(self) -> int:
        """Banner height in pixels."""
        return len(self.rows) * self.line_height + 2 * self.pad_y


_BREAKS = re.compile(r"(?<=\s)|(?=\()")  # break after a space or before "(score)"


def _wrap(text: str, measure: Callable[[str], float], avail: float) -> list[str]:
    """Split an item too wide for a row into lines that fit: at spaces and "(", else between characters."""
    lines: list[str] = []
    current = ""
    for token in (t for t in _BREAKS.split(text) if t):
        if measure(current + token) <= avail:
            current += token
            continue
        if current.strip():
            lines.append(current.rstrip())
        current = ""
        token = token.lstrip()
        if measure(token) <= avail:
            current = token
            continue
        for char in token:
            if current and measure(current + char) > avail:
                lines.append(current)
                current = ""
            current += char
    if current.strip():
        lines.append(current.rstrip())
    return lines or [text]


def _pack(texts: Sequence[str], measure: Callable[[str], float], avail: float, gap: float) -> list[list[str]]:
    """Rows of items, greedily, each no wider than ``avail``; an item wider than a row gets rows of its own."""
    rows: list[list[str]] = []
    current: list[str] = []
    used = 0.0
    for text in texts:
        width = measure(text)
        if width > avail:
            if current:
                rows.append(current)
                current, used = [], 0.0
            rows.extend([line] for line in _wrap(text, measure, avail))
            continue
        extra = width if not current else gap + width
        if current and used + extra > avail:
            rows.append(current)
            current, used = [text], width
        else:
            current.append(text)
            used += extra
    if current:
        rows.append(current)
    return rows


def _font_for(size: int, font_path: str | None, cache: dict[int, Font]) -> Font:
    if size not in cache:
        cache[size] = load_font(size, font_path)
    return cache[size]


def _layout_at(texts: Sequence[str], font: Font, size: int, width: int) -> BannerLayout:
    ascent, descent = font.getmetrics() if isinstance(font, ImageFont.FreeTypeFont) else (size, size // 4)
    pad_x = max(4, size // 3)
    pad_y = max(3, size // 4)
    gap = size
    widths: dict[str, float] = {}

    def measure(text: str) -> float:
        if text not in widths:
            widths[text] = font.getlength(text)
        return widths[text]

    rows = _pack(texts, measure, width - 2 * pad_x, gap)
    line_height = math.ceil((ascent + descent) * 1.15)
    return BannerLayout(size, rows, line_height, pad_x, pad_y, gap)


def _more(count: int) -> str:
    return f"+{count} more"


def layout_banner(
    texts: Sequence[str],
    width: int,
    height: int,
    *,
    font_path: str | None = None,
    font_size: int | None = None,
    min_font_size: int = MIN_FONT_SIZE,
    fonts: dict[int, Font] | None = None,
) -> BannerLayout:
    """Choose the font size and rows of a banner for ``texts`` under a ``width`` x ``height`` picture.

    ``font_path`` defaults to :func:`find_font` for the text. ``font_size`` fixes
    the size; otherwise it is :data:`FONT_WIDTH_RATIO` of the
    width, shrunk towards ``min_font_size`` while the banner is taller than
    :data:`BANNER_SOFT_RATIO` of ``height``. Trailing items that would make it taller
    than :data:`BANNER_MAX_RATIO` of ``height`` (one row is always allowed) are
    replaced by ``+N more``.
    """
    cache = fonts if fonts is not None else {}
    if font_path is None:
        font_path = find_font(" ".join(texts))
    size = font_size or max(min_font_size, round(width * FONT_WIDTH_RATIO))
    layout = _layout_at(texts, _font_for(size, font_path, cache), size, width)
    while font_size is None and size > min_font_size and layout.height > BANNER_SOFT_RATIO * height:
        size = max(min_font_size, int(size * _SHRINK))
        layout = _layout_at(texts, _font_for(size, font_path, cache), size, width)
    limit = max(BANNER_MAX_RATIO * height, layout.line_height + 2 * layout.pad_y)
    if layout.height <= limit:
        return layout
    font = _font_for(size, font_path, cache)
    max_rows = max(1, int((limit - 2 * layout.pad_y) // layout.line_height))
    shown = sum(len(row) for row in layout.rows[:max_rows])  # upper bound; wrapped items count once per row
    shown = min(shown, len(texts) - 1)
    while shown > 0:
        trial = _layout_at([*texts[:shown], _more(len(texts) - shown)], font, size, width)
        if len(trial.rows) <= max_rows:
            trial.hidden = len(texts) - shown
            return trial
        shown -= 1
    layout.rows = layout.rows[:max_rows]  # not even the first item fits beside the marker: cut its lines
    return layout


def draw_label_banner(
    image: Image.Image,
    items: Sequence[str],
    *,
    font_path: str | None = None,
    font_size: int | None = None,
    min_font_size: int = MIN_FONT_SIZE,
    background: tuple[int, int, int] = BANNER_RED,
    foreground: tuple[int, int, int] = TEXT_WHITE,
    empty_text: str | None = None,
) -> Image.Image:
    """Return a new RGB image: ``image`` on top (enlarged by :func:`work_scale`), a banner of ``items`` below.

    The canvas is exactly as wide as the (enlarged) image and the picture keeps its
    aspect ratio. With no items the image is returned unchanged (as RGB) unless
    ``empty_text`` is given, which is then drawn alone. ``font_path`` defaults to
    :func:`find_font` for the text, so non-Latin names use a CJK font when one is
    installed.
    """
    base = image if image.mode == "RGB" else image.convert("RGB")
    texts = [str(t) for t in items] or ([empty_text] if empty_text else [])
    if not texts:
        return base.copy()
    factor = work_scale(*base.size)
    if factor > 1:  # whole factor + nearest neighbour: every source pixel becomes an equal square
        base = base.resize((base.width * factor, base.height * factor), Image.Resampling.NEAREST)
    width, height = base.size
    path = font_path if font_path is not None else find_font(" ".join(texts))
    fonts: dict[int, Font] = {}
    layout = layout_banner(
        texts, width, height, font_path=path, font_size=font_size, min_font_size=min_font_size, fonts=fonts
    )
    font = _font_for(layout.font_size, path, fonts)
    canvas = Image.new("RGB", (width, height + layout.height), background)
    canvas.paste(base, (0, 0))
    pen = ImageDraw.Draw(canvas)
    for r, row in enumerate(layout.rows):
        x = float(layout.pad_x)
        y = height + layout.pad_y + r * layout.line_height
        for text in row:
            pen.text((x, y), text, font=font, fill=foreground)
            x += font.getlength(text) + layout.gap
    return canvas


__all__ = [
    "BANNER_MAX_RATIO",
    "BANNER_RED",
    "BANNER_SOFT_RATIO",
    "FONT_WIDTH_RATIO",
    "MIN_FONT_SIZE",
    "MIN_WORK_WIDTH",
    "TEXT_WHITE",
    "BannerLayout",
    "draw_label_banner",
    "layout_banner",
    "load_display_image",
    "load_font",
    "work_scale",
]
