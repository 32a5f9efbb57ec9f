"""Label banners drawn under an image, in the PaddleX style: white names on a red strip.

Used for the ``check`` demo images (class names) and for prediction images
(``label(score)`` items). The font is ~6% of the image width, with a floor so that
small images stay readable; the canvas widens when one item is wider than the image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from mlcls_cli.utils.fonts import find_font
from mlcls_cli.utils.images import open_image

BANNER_RED = (255, 0, 0)
TEXT_WHITE = (255, 255, 255)
FONT_WIDTH_RATIO = 0.06
MIN_FONT_SIZE = 12


def load_display_image(path: str | os.PathLike[str], max_side: int | None = None) -> Image.Image:
    """Open an image for drawing: EXIF orientation applied, RGB, and shrunk to ``max_side`` if given.

    Raises :class:`~mlcls_cli.utils.images.ImageReadError` when the file cannot be used.
    """
    image = open_image(path, max_side=max_side)  # JPEG: decoded at a reduced scale, much faster
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def load_font(size: int, font_path: str | None = None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Load ``font_path`` at ``size`` pixels, falling back to Pillow's built-in font."""
    if font_path:
        try:
            return ImageFont.truetype(font_path, size)
        except OSError:
            pass
    return ImageFont.load_default(size)


def _pack_rows(widths: Sequence[float], available: float, gap: float) -> list[list[int]]:
    """Greedily group item indices into rows no wider than ``available``."""
    rows: list[list[int]] = []
    current: list[int] = []
    used = 0.0
    for i, width in enumerate(widths):
        extra = width if not current else gap + width
        if current and used + extra > available:
            rows.append(current)
            current, used = [i], width
        else:
            current.append(i)
            used += extra
    if current:
        rows.append(current)
    return rows


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
    """Return a new RGB image: ``image`` on top, a banner below with ``items`` packed into rows.

    With no items the image is returned unchanged (as RGB) unless ``empty_text`` is
    given, which is then drawn alone. ``font_path`` defaults to :func:`find_font` for
    the text, so non-Latin names use a CJK font when one is installed.
    """
    base = image if image.mode == "RGB" else image.convert("RGB")
    texts = [str(t) for t in items] or ([empty_text] if empty_text else [])
    if not texts:
        return base.copy()
    width, height = base.size
    size = font_size or max(min_font_size, int(width * FONT_WIDTH_RATIO))
    font = load_font(size, font_path if font_path is not None else find_font(" ".join(texts)))

    pad = max(2, size // 4)
    gap = size * 0.8
    widths = [font.getlength(t) for t in texts]
    canvas_w = max(width, int(max(widths) + 2 * pad + 0.999))
    rows = _pack_rows(widths, canvas_w - 2 * pad, gap)
    ascent, descent = font.getmetrics() if hasattr(font, "getmetrics") else (size, 0)
    line_h = int((ascent + descent) * 1.2) or size
    canvas = Image.new("RGB", (canvas_w, height + len(rows) * line_h + pad), background)
    canvas.paste(base, (0, 0))

    pen = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        x = float(pad)
        y = height + r * line_h + pad // 2
        for i in row:
            pen.text((x, y), texts[i], font=font, fill=foreground)
            x += widths[i] + gap
    return canvas


__all__ = ["BANNER_RED", "TEXT_WHITE", "draw_label_banner", "load_display_image", "load_font"]
