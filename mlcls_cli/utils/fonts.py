"""Find a font file able to draw class names, without ever downloading one.

Order: the file named by ``MLCLS_FONT``; when the text has characters DejaVu Sans
cannot draw (Chinese, Japanese, Korean, ...), an installed font that can (Noto Sans
CJK, WenQuanYi, Droid Sans Fallback, ...); else DejaVu Sans, which ships with
matplotlib. When nothing installed covers the text, the text is drawn anyway
(missing glyphs show as boxes) and one warning says how to fix it.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path

from mlcls_cli import console
from mlcls_cli.utils.env import ENV_FONT

# Family-name fragments of widely installed fonts with CJK coverage, most preferred first.
CJK_FAMILY_HINTS: tuple[str, ...] = (
    "Noto Sans CJK",
    "Noto Sans SC",
    "Noto Sans TC",
    "Noto Sans JP",
    "Noto Sans KR",
    "Source Han Sans",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "PingFang",
    "Microsoft YaHei",
    "SimHei",
    "Hiragino Sans",
    "AR PL UMing",
    "AR PL UKai",
    "Arial Unicode",
    "Noto Serif CJK",
)

_warned: set[str] = set()


def warn_once(key: str, message: str) -> None:
    """Print a warning on stderr the first time ``key`` is seen in this process."""
    if key not in _warned:
        _warned.add(key)
        console.warn(message)


def dejavu_sans_path() -> str | None:
    """Path of the DejaVuSans.ttf that ships with matplotlib (found without importing matplotlib)."""
    spec = importlib.util.find_spec("matplotlib")
    for base in (spec.submodule_search_locations or []) if spec else []:
        path = Path(base) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if path.is_file():
            return str(path)
    return None


@lru_cache(maxsize=32)
def _codepoints(path: str) -> frozenset[int] | None:
    """The code points a font file maps to glyphs, or None when it cannot be read."""
    try:
        from fontTools.ttLib import TTFont

        font = TTFont(path, lazy=True, fontNumber=0)
        try:
            cmap = font.getBestCmap() or {}
        finally:
            font.close()
    except Exception:  # any unreadable or unusual font file: coverage unknown
        return None
    return frozenset(cmap)


def missing_chars(path: str | None, text: str) -> str:
    """The distinct characters of ``text`` (ignoring whitespace) that the font at ``path`` lacks."""
    wanted = sorted({c for c in text if not c.isspace() and c.isprintable()})
    if path is None:
        return "".join(c for c in wanted if ord(c) > 0x7E)
    codes = _codepoints(path)
    if codes is None:  # coverage unknown: assume the usual Latin/Greek/Cyrillic reach of a Western font
        return "".join(c for c in wanted if ord(c) >= 0x2E80)
    return "".join(c for c in wanted if ord(c) not in codes)


@lru_cache(maxsize=1)
def system_cjk_fonts() -> tuple[str, ...]:
    """Installed font files whose family looks CJK-capable, in preference order."""
    try:
        from matplotlib import font_manager
    except ImportError:
        return ()
    found: list[tuple[int, str]] = []
    for entry in font_manager.fontManager.ttflist:
        for rank, hint in enumerate(CJK_FAMILY_HINTS):
            if hint.lower() in entry.name.lower():
                found.append((rank, entry.fname))
                break
    seen: set[str] = set()
    ordered: list[str] = []
    for _, fname in sorted(found):
        if fname not in seen:
            seen.add(fname)
            ordered.append(fname)
    return tuple(ordered)


def needs_wide_font(text: str) -> bool:
    """True when DejaVu Sans cannot draw some character of ``text``."""
    return bool(missing_chars(dejavu_sans_path(), text))


def find_font(text_sample: str | None = None) -> str | None:
    """Return the path of a font able to draw ``text_sample`` (None: use Pillow's built-in font).

    Honours ``MLCLS_FONT``, then looks for an installed CJK-capable font when the text
    needs one, then falls back to matplotlib's DejaVu Sans. Warns once when the text
    has characters no font found can draw; it is drawn anyway.
    """
    override = os.environ.get(ENV_FONT, "").strip()
    if override:
        if Path(override).is_file():
            return override
        warn_once(
            f"env:{override}",
            f"{ENV_FONT}={override} is not a file; using the default fonts instead",
        )
    default = dejavu_sans_path()
    if not text_sample:
        return default
    lacking = missing_chars(default, text_sample)
    if not lacking:
        return default
    best, best_lacking = default, lacking
    for candidate in system_cjk_fonts():
        still = missing_chars(candidate, lacking)
        if not still:
            return candidate
        if len(still) < len(best_lacking):
            best, best_lacking = candidate, still
    sample = best_lacking[:10]
    warn_once(
        f"glyphs:{sample}",
        f"no installed font can draw some class-name characters ({sample!r}); they may show as boxes. "
        f"Install a CJK font (e.g. fonts-noto-cjk) or set {ENV_FONT}=/path/to/font.ttf",
    )
    return best


__all__ = [
    "CJK_FAMILY_HINTS",
    "ENV_FONT",
    "dejavu_sans_path",
    "find_font",
    "missing_chars",
    "needs_wide_font",
    "system_cjk_fonts",
    "warn_once",
]
