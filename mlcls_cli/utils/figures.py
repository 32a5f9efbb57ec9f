"""Shared pieces of the PNG plots (check histogram, eval curves): fonts and atomic saving.

matplotlib is imported lazily; figures are drawn through its object API on an Agg
canvas, so no global backend is switched and no display is needed.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

from mlcls_cli.utils import fonts
from mlcls_cli.utils.atomic import atomic_write_bytes


def font_families(text: str) -> list[str]:
    """matplotlib font families able to draw ``text``: DejaVu Sans plus the font found for it, if other."""
    from matplotlib import font_manager

    path = fonts.find_font(text)
    if not path or path == fonts.dejavu_sans_path():
        return ["DejaVu Sans"]
    try:
        font_manager.fontManager.addfont(path)
        name = font_manager.FontProperties(fname=path).get_name()
    except (OSError, RuntimeError, ValueError):
        return ["DejaVu Sans"]
    # a user-chosen font (MLCLS_FONT) leads; a CJK fallback only fills the glyphs DejaVu lacks
    if path == os.environ.get(fonts.ENV_FONT, "").strip():
        return [name, "DejaVu Sans"]
    return ["DejaVu Sans", name]


def save_png(fig: Any, path: str | os.PathLike[str], dpi: int) -> Path:
    """Lay out ``fig`` and write it as a PNG atomically; returns the path."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # missing glyphs were already reported once by fonts.find_font; matplotlib repeats per glyph
        warnings.filterwarnings("ignore", message=r".*[Gg]lyph .* missing from")
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=dpi)
    target = Path(path)
    atomic_write_bytes(target, buffer.getvalue())
    return target
