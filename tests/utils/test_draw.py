"""Label banners at any input size: the picture undistorted, the canvas not widened, text legible, banner bounded."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mlcls_cli.utils import fonts
from mlcls_cli.utils.draw import (
    BANNER_MAX_RATIO,
    MIN_FONT_SIZE,
    MIN_WORK_WIDTH,
    draw_label_banner,
    layout_banner,
    load_font,
    work_scale,
)

# the PaddleX documentation's example result
DOC_ITEMS = [
    "banana(0.99972)",
    "orange(0.99601)",
    "apple(0.99277)",
    "bowl(0.65718)",
    "dining table(0.56914)",
    "knife(0.56436)",
    "bottle(0.52865)",
]
SIZES = [(64, 64), (64, 48), (448, 448), (4000, 3000), (2000, 50), (50, 2000)]
STRIPS = {(2000, 50), (50, 2000)}  # extreme aspect ratios: only the absolute floors apply


@pytest.fixture(autouse=True)
def _default_fonts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fonts.ENV_FONT, raising=False)


def _noise(width: int, height: int) -> Image.Image:
    """Every pixel different from its neighbours, so any resampling other than whole blocks shows."""
    rng = np.random.default_rng(width * 10_007 + height)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def _text_rows(banner: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) pixel row of each run of banner rows holding white text."""
    inked = (banner[..., 1] > 128).any(axis=1)  # white text on red: green is high only where text is
    runs: list[tuple[int, int]] = []
    start = None
    for y, on in enumerate([*inked, False]):
        if on and start is None:
            start = y
        elif not on and start is not None:
            runs.append((start, y - 1))
            start = None
    return runs


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_picture_undistorted_canvas_not_widened(size: tuple[int, int]) -> None:
    width, height = size
    image = _noise(width, height)
    drawn = draw_label_banner(image, DOC_ITEMS)
    factor = drawn.width // width
    assert factor >= 1 and drawn.width == width * factor  # no strip added beside the picture
    top = np.asarray(drawn)[: height * factor]
    expected = np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)
    np.testing.assert_array_equal(top, expected)  # same aspect ratio, each pixel an equal square block


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_text_is_legible_and_the_banner_bounded(size: tuple[int, int]) -> None:
    width, height = size
    drawn = draw_label_banner(_noise(width, height), DOC_ITEMS)
    factor = drawn.width // width
    picture_h = height * factor
    banner = np.asarray(drawn)[picture_h:]
    banner_h = banner.shape[0]
    assert banner_h <= max(BANNER_MAX_RATIO * picture_h, 2 * MIN_FONT_SIZE)
    runs = _text_rows(banner)
    assert runs, "no text drawn"
    ink = max(last - first + 1 for first, last in runs)  # "(" and ")" span a line's full height
    assert ink >= 12
    if size not in STRIPS:
        assert drawn.width >= MIN_WORK_WIDTH
        assert ink >= 0.03 * drawn.width  # in proportion to the picture, as seen at any zoom
    # nothing is cut off at the right edge: the last column of the banner is plain red
    assert (banner[:, -1] == (255, 0, 0)).all()


def test_work_scale_enlarges_small_images_by_whole_factors() -> None:
    assert work_scale(64, 64) == 7  # 448 px: the first whole multiple of 64 reaching MIN_WORK_WIDTH
    assert 64 * 6 < MIN_WORK_WIDTH <= 64 * 7
    assert work_scale(448, 448) == 1 and work_scale(4000, 3000) == 1
    assert work_scale(200, 10) == 2
    assert work_scale(50, 2000) == 2  # a very tall image stops at the size cap
    assert work_scale(1, 1) == MIN_WORK_WIDTH


def test_font_is_proportional_with_a_floor() -> None:
    assert layout_banner(["a"], 1000, 1000).font_size > layout_banner(["a"], 448, 448).font_size
    assert layout_banner(["a"], 100, 1000).font_size == MIN_FONT_SIZE
    # a flat strip: the font shrinks to the floor rather than make the banner taller than the picture
    assert layout_banner(DOC_ITEMS, 2000, 50).font_size == MIN_FONT_SIZE


def test_too_many_items_end_with_a_count_of_the_rest() -> None:
    items = [f"class {i}(0.{90 - i:02d}000)" for i in range(80)]
    layout = layout_banner(items, 448, 448)
    assert layout.height <= BANNER_MAX_RATIO * 448
    shown = [text for row in layout.rows for text in row]
    assert 0 < layout.hidden < 80 and shown[-1] == f"+{layout.hidden} more"
    assert shown[:-1] == items[: 80 - layout.hidden]
    drawn = draw_label_banner(Image.new("RGB", (448, 448)), items)
    assert drawn.size == (448, 448 + layout.height)


def test_items_wider_than_the_picture_wrap_inside_it() -> None:
    layout = layout_banner(["dining table(0.56914)", "a rather long class name without a score"], 100, 4000)
    font = load_font(layout.font_size, fonts.find_font())
    lines = [text for row in layout.rows for text in row]
    assert len(lines) > 2
    assert all(font.getlength(line) <= 100 - 2 * layout.pad_x for line in lines)
    assert "".join(lines).replace(" ", "") == "diningtable(0.56914)aratherlongclassnamewithoutascore"
    assert lines[:2] == ["dining table", "(0.56914)"]  # the score stays in one piece
