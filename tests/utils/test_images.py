"""The one image opener: what every command that decodes pictures accepts and refuses, the same way."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from mlcls_cli.errors import DatasetError
from mlcls_cli.utils.images import MAX_IMAGE_PIXELS, ImageReadError, open_image


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def huge_header_png(width: int = 10_000, height: int = 10_000) -> bytes:
    """A tiny file whose PNG header claims ``width`` x ``height`` pixels (a decompression-bomb shape)."""
    data = bytearray(png_bytes(Image.new("RGB", (1, 1))))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def test_paths_bytes_and_files_decode_to_rgb(tmp_path: Path) -> None:
    data = png_bytes(Image.new("RGBA", (3, 2), (10, 20, 30, 0)))
    (tmp_path / "a.png").write_bytes(data)
    for source in (tmp_path / "a.png", str(tmp_path / "a.png"), data, io.BytesIO(data)):
        image = open_image(source)
        assert (image.mode, image.size, image.getpixel((0, 0))) == ("RGB", (3, 2), (10, 20, 30))
    assert open_image(png_bytes(Image.new("L", (2, 2), 77))).getpixel((1, 1)) == (77, 77, 77)
    assert open_image(png_bytes(Image.new("P", (2, 2)))).mode == "RGB"


def test_exif_orientation_is_applied_and_a_broken_exif_is_ignored() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    Image.new("RGB", (6, 2)).save(buffer, format="JPEG", exif=exif.tobytes())
    assert open_image(buffer.getvalue()).size == (2, 6)
    broken = buffer.getvalue().replace(b"Exif\x00\x00", b"Exif\x00\x00\xff\xff\xff", 1)
    assert open_image(broken).size in ((2, 6), (6, 2))  # decoded either way, never an error


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"this is not a picture", "not_image"),
        (png_bytes(Image.new("RGB", (64, 64)))[:60], "corrupt"),
        (huge_header_png(), "too_large"),
        (huge_header_png(30_000, 30_000), "too_large"),  # beyond Pillow's own hard limit too
    ],
)
def test_refusals_have_a_kind_and_a_reason(data: bytes, kind: str) -> None:
    with pytest.raises(ImageReadError) as info:
        open_image(data)
    assert info.value.kind == kind and info.value.reason


def test_the_pixel_limit_is_a_parameter() -> None:
    data = png_bytes(Image.new("RGB", (100, 100)))
    with pytest.raises(ImageReadError, match="100x100 pixels, the limit is 9999"):
        open_image(data, max_pixels=9_999)
    assert open_image(data, max_pixels=10_000).size == (100, 100)
    assert MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS


def test_missing_files_and_folders(tmp_path: Path) -> None:
    for source in (tmp_path / "missing.png", tmp_path):
        with pytest.raises(ImageReadError) as info:
            open_image(source)
        assert info.value.kind == "missing"


def test_every_command_refuses_an_oversized_image_the_same_way(tmp_path: Path) -> None:
    """Training, prediction, the service and check all see the same limit (the one opener)."""
    from mlcls_cli.data.check import probe_image
    from mlcls_cli.engine.transforms import load_image
    from mlcls_cli.inference.inputs import InputError, InputItem
    from mlcls_cli.inference.inputs import load_image as load_input
    from mlcls_cli.serving.errors import ApiError
    from mlcls_cli.serving.inputs import decode_image

    path = tmp_path / "bomb.png"
    path.write_bytes(huge_header_png())
    with pytest.raises(DatasetError, match="too large"):
        load_image(path)
    with pytest.raises(InputError, match="too large"):
        load_input(InputItem("path", str(path), str(path), "bomb", ".png"))
    with pytest.raises(ApiError) as info:
        decode_image(path.read_bytes())
    assert info.value.status == 413
    assert probe_image(str(path)).kind == "image.too_large"
