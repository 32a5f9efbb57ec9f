"""The class histogram, the label banner drawing and the font lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mlcls_cli.data.plots import class_histogram, figure_width
from mlcls_cli.utils import fonts
from mlcls_cli.utils.draw import BANNER_RED, draw_label_banner


@pytest.fixture(autouse=True)
def _fresh_font_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "_warned", set())
    monkeypatch.delenv(fonts.ENV_FONT, raising=False)


def _mono_font() -> str:
    path = Path(fonts.dejavu_sans_path() or "").with_name("DejaVuSansMono.ttf")
    assert path.is_file()
    return str(path)


def test_histogram_three_classes(tmp_path: Path) -> None:
    out = class_histogram(["cat", "dog", "car"], [5, 9, 1], [2, 3, 0], tmp_path / "h" / "hist.png", title="t")
    with Image.open(out) as im:
        assert im.format == "PNG"
        assert im.size[0] >= 1000 and im.size[1] >= 600


def test_histogram_width_grows_with_classes_and_is_capped(tmp_path: Path) -> None:
    names = [f"class {i}" for i in range(80)]
    out = class_histogram(names, list(range(80)), [1] * 80, tmp_path / "hist.png")
    with Image.open(out) as im:
        wide = im.size[0]
    assert wide > 2500
    assert figure_width(3) == 8.0
    assert figure_width(80) > figure_width(40) > figure_width(3)
    assert figure_width(100_000) == figure_width(1_000_000)


def test_histogram_with_many_classes_and_no_counts(tmp_path: Path) -> None:
    out = class_histogram([f"c{i}" for i in range(310)], [0] * 310, [0] * 310, tmp_path / "hist.png")
    with Image.open(out) as im:
        assert im.size[0] <= 6500


def test_histogram_with_non_latin_names(tmp_path: Path) -> None:
    out = class_histogram(["猫", "狗", "自行车"], [3, 1, 2], [1, 1, 1], tmp_path / "hist.png", title="数据")
    with Image.open(out) as im:
        assert im.format == "PNG"


def test_banner_below_the_image() -> None:
    image = Image.new("RGB", (400, 200), (0, 128, 0))
    drawn = draw_label_banner(image, ["cat", "dog"])
    assert drawn.width == 400 and drawn.height > 200
    assert drawn.getpixel((200, 100)) == (0, 128, 0)
    assert drawn.getpixel((399, drawn.height - 1)) == BANNER_RED
    banner = drawn.crop((0, 200, 400, drawn.height))
    assert (255, 255, 255) in {c for _, c in banner.getcolors(10_000)}


def test_font_scales_with_width_and_tiny_images_are_enlarged() -> None:
    small = draw_label_banner(Image.new("RGB", (40, 40)), ["a"])
    large = draw_label_banner(Image.new("RGB", (1000, 1000)), ["a"])
    assert small.size[0] == 400 and small.height - 400 >= 2 * 14  # drawn on a copy 10x as large
    assert large.height - 1000 > small.height - 400  # the font follows the width


def test_long_items_wrap_without_widening_the_picture() -> None:
    image = Image.new("RGB", (60, 60))
    one = draw_label_banner(image, ["x"])
    many = draw_label_banner(image, ["person", "bicycle", "traffic light", "umbrella", "dining table"])
    assert many.height > one.height
    assert many.width == one.width == 60 * 7  # enlarged by a whole factor, never padded


def test_no_items_keeps_the_image_and_empty_text_draws() -> None:
    image = Image.new("L", (50, 30), 7)
    same = draw_label_banner(image, [])
    assert same.size == (50, 30) and same.mode == "RGB"
    marked = draw_label_banner(image, [], empty_text="(no labels)")
    assert marked.height > 30


def test_label_with_score_items() -> None:
    drawn = draw_label_banner(Image.new("RGB", (300, 200)), ["banana(0.99972)", "orange(0.99601)"])
    assert drawn.height > 200


def test_find_font_defaults_to_dejavu() -> None:
    path = fonts.find_font("cat dog")
    assert path is not None and path.endswith("DejaVuSans.ttf")
    assert fonts.find_font() == path


def test_env_font_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    mono = _mono_font()
    monkeypatch.setenv(fonts.ENV_FONT, mono)
    assert fonts.find_font("猫") == mono


def test_missing_env_font_warns_once_and_falls_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(fonts.ENV_FONT, "/no/such/font.ttf")
    first = fonts.find_font("cat")
    second = fonts.find_font("cat")
    assert first == second and first is not None and first.endswith("DejaVuSans.ttf")
    assert capsys.readouterr().err.count("/no/such/font.ttf") == 1


def test_cjk_text_needs_a_wide_font() -> None:
    assert fonts.needs_wide_font("汽车")
    assert not fonts.needs_wide_font("Ünïcödé café")
    assert fonts.missing_chars(fonts.dejavu_sans_path(), "a猫 b") == "猫"


def test_cjk_text_uses_a_system_cjk_font_or_warns(capsys: pytest.CaptureFixture[str]) -> None:
    path = fonts.find_font("汽车")
    assert path is not None and Path(path).is_file()
    if fonts.system_cjk_fonts():
        assert not fonts.missing_chars(path, "汽车") or "汽" in capsys.readouterr().err
    else:
        assert "MLCLS_FONT" in capsys.readouterr().err


def test_banner_uses_env_font(monkeypatch: pytest.MonkeyPatch) -> None:
    image = Image.new("RGB", (200, 100))
    default = draw_label_banner(image, ["iiiiiiii"])
    monkeypatch.setenv(fonts.ENV_FONT, _mono_font())
    mono = draw_label_banner(image, ["iiiiiiii"])
    assert default.tobytes() != mono.tobytes()


def test_load_display_image_applies_exif_and_shrinks(tmp_path: Path) -> None:
    from mlcls_cli.utils.draw import load_display_image

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (2000, 1000), (10, 20, 30)).save(path, exif=exif)
    assert load_display_image(path).size == (1000, 2000)
    shrunk = load_display_image(path, max_side=1280)
    assert shrunk.mode == "RGB" and shrunk.size == (640, 1280)
