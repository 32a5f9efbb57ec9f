"""Inputs: paths, folders (recursive, sorted, images only), URLs (limits), arrays (BGR), dicts, lists, bytes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcls_cli.inference.inputs import (
    InputError,
    InputFailure,
    InputItem,
    count_inputs,
    iter_inputs,
    load_image,
    url_settings,
)
from tests.inference.kit import BLUE, RED, encode, file_server, save, solid


def _items(inputs) -> list:
    return list(iter_inputs(inputs))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for rel in ["b.jpg", "a.png", "sub/z.JPG", "sub/deeper/c.bmp", "a_dir/y.webp", "A.jpeg"]:
        save(solid(RED), root / rel)
    (root / "notes.txt").write_text("not an image")
    (root / "scan.pdf").write_bytes(b"%PDF-1.4")
    save(solid(RED), root / ".hidden.jpg")
    save(solid(RED), root / ".cache" / "x.jpg")
    return root


def test_folder_is_walked_recursively_in_sorted_order_with_images_only(tree: Path) -> None:
    items = _items(str(tree))
    assert all(isinstance(i, InputItem) for i in items)
    rel = [Path(i.input_path).relative_to(tree).as_posix() for i in items]
    assert rel == ["A.jpeg", "a.png", "a_dir/y.webp", "b.jpg", "sub/deeper/c.bmp", "sub/z.JPG"]
    assert [i.rel_dir for i in items] == ["", "", "a_dir", "", "sub/deeper", "sub"]
    assert [i.stem for i in items] == ["A", "a", "y", "b", "c", "z"]
    assert items[0].suffix == ".jpeg" and items[-1].suffix == ".jpg"
    assert count_inputs(str(tree)) == 6


def test_missing_and_unsupported_inputs_become_failures_in_order(tree: Path) -> None:
    items = _items([str(tree / "b.jpg"), str(tree / "missing.jpg"), str(tree / "scan.pdf"), 3.5])
    assert isinstance(items[0], InputItem) and items[0].input_path == str(tree / "b.jpg")
    assert items[1] == InputFailure(str(tree / "missing.jpg"), "no such file or folder")
    assert isinstance(items[2], InputFailure) and "PDF" in items[2].reason
    assert isinstance(items[3], InputFailure) and "unsupported input type float" in items[3].reason
    assert [i.index for i in items if isinstance(i, InputItem)] == [0]


def test_dicts_lists_and_in_memory_inputs(tree: Path) -> None:
    arr = np.zeros((4, 5, 3), dtype=np.uint8)
    pil = solid(BLUE)
    items = _items([{"img": str(tree / "sub")}, arr, {"img": [pil, b"bytes"]}, {"image": "x"}])
    kinds = [i.kind if isinstance(i, InputItem) else "failure" for i in items]
    assert kinds == ["path", "path", "array", "image", "bytes", "failure"]
    assert [i.stem for i in items[2:5]] == ["array_0", "image_1", "bytes_2"]
    assert items[2].input_path is None and items[2].suffix == ".png"
    assert 'needs the key "img"' in items[5].reason


def test_array_inputs_are_bgr_like_paddlex() -> None:
    bgr = np.zeros((3, 4, 3), dtype=np.uint8)
    bgr[..., 0] = 200  # blue channel first
    image = load_image(next(iter_inputs(bgr)))
    assert image.mode == "RGB" and image.size == (4, 3)
    assert image.getpixel((0, 0)) == (0, 0, 200)
    grey = load_image(next(iter_inputs(np.full((3, 4), 7, dtype=np.uint8))))
    assert grey.getpixel((1, 1)) == (7, 7, 7)
    bgra = np.dstack([bgr, np.full((3, 4), 255, np.uint8)])
    assert load_image(next(iter_inputs(bgra))).getpixel((0, 0)) == (0, 0, 200)
    with pytest.raises(InputError, match="not an image"):
        load_image(next(iter_inputs(np.zeros((2, 2, 5), np.uint8))))
    with pytest.raises(InputError, match="float array"):
        load_image(next(iter_inputs(np.zeros((2, 2, 3), np.float32))))


def test_files_bytes_and_exif_orientation(tmp_path: Path) -> None:
    image = solid(RED, size=(40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    loaded = load_image(next(iter_inputs(str(path))))
    assert loaded.size == (20, 40) and loaded.mode == "RGB"
    palette = tmp_path / "p.png"
    image.convert("P").save(palette)
    assert load_image(next(iter_inputs(palette))).mode == "RGB"
    from_bytes = load_image(next(iter_inputs(encode(image))))
    assert from_bytes.size == (40, 20)


def test_unreadable_files_raise_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not really a jpeg")
    with pytest.raises(InputError, match="not an image"):
        load_image(next(iter_inputs(bad)))
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(encode(solid(RED, size=(64, 64)))[:100])
    with pytest.raises(InputError):
        load_image(next(iter_inputs(truncated)))
    gone = next(iter_inputs(bad))
    bad.unlink()
    with pytest.raises(InputError, match="no such file"):
        load_image(gone)
    with pytest.raises(InputError, match="not an image"):
        load_image(next(iter_inputs(b"garbage")))


def test_url_inputs_download_with_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    png = encode(solid(BLUE, size=(30, 20)))
    with file_server() as server:
        ok = server.add("/img/photo%20one.png", png)
        streamed = server.add("/stream.png", png, send_length=False)
        slow = server.add("/slow.png", png, delay=3.0)
        missing = server.base + "/nothing.png"
        item = next(iter_inputs(ok + "?x=1"))
        assert item.kind == "url" and item.input_path == ok + "?x=1"
        assert item.stem == "photo one" and item.suffix == ".png"
        assert load_image(item, url_settings()).size == (30, 20)

        with pytest.raises(InputError, match=rf"too large: {len(png)} bytes, the limit is {len(png) - 1}"):
            load_image(next(iter_inputs(ok)), url_settings(max_bytes=len(png) - 1))
        with pytest.raises(InputError, match="too large: more than"):
            load_image(next(iter_inputs(streamed)), url_settings(max_bytes=len(png) - 1))
        assert load_image(next(iter_inputs(streamed)), url_settings(max_bytes=len(png))).size == (30, 20)
        with pytest.raises(InputError, match="HTTP 404"):
            load_image(next(iter_inputs(missing)), url_settings())
        start = time.monotonic()
        with pytest.raises(InputError, match=r"timed out after 0\.5 s"):
            load_image(next(iter_inputs(slow)), url_settings(timeout=0.5))
        assert time.monotonic() - start < 2.5

        with pytest.raises(InputError, match="disabled"):
            load_image(next(iter_inputs(ok)), url_settings(allowed=False))
        monkeypatch.setenv("MLCLS_URL_MAX_BYTES", "10")
        with pytest.raises(InputError, match="the limit is 10"):
            load_image(next(iter_inputs(ok)), url_settings())
        monkeypatch.delenv("MLCLS_URL_MAX_BYTES")
        monkeypatch.setenv("MLCLS_OFFLINE", "1")
        with pytest.raises(InputError, match="MLCLS_OFFLINE"):
            load_image(next(iter_inputs(ok)), url_settings())
        assert server.hits.get("/img/photo%20one.png") == 3  # disabled and offline never connect


def test_url_without_a_file_name_gets_a_stable_stem() -> None:
    item = next(iter_inputs("https://example.com/"))
    assert item.stem.startswith("url_") and item.stem == next(iter_inputs("https://example.com/")).stem
    assert item.suffix == ".png"


def test_bad_url_settings_are_usage_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlcls_cli.errors import UsageError

    monkeypatch.setenv("MLCLS_URL_TIMEOUT", "soon")
    with pytest.raises(UsageError, match="MLCLS_URL_TIMEOUT"):
        url_settings()
