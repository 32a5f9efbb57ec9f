"""MLClassResult: keys and attributes, print, .json/.img, file names of save_to_json/save_to_img, the banner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcls_cli.inference.result import MLClassResult
from tests.inference.kit import BLUE, save, solid


def _result(path: Path | None = None, image: Image.Image | None = None, **kw) -> MLClassResult:
    values = {"class_ids": [2, 0], "scores": [0.99972, 0.5], "label_names": ["banana", "狗"]}
    values.update(kw)
    return MLClassResult(
        input_path=str(path) if path else None,
        image=image,
        stem=path.stem if path else "array_0",
        suffix=path.suffix.lower() if path else ".png",
        **values,
    )


def test_keys_attributes_and_json(tmp_path: Path) -> None:
    res = _result(tmp_path / "photo.jpg")
    assert list(res) == ["input_path", "page_index", "input_img", "class_ids", "scores", "label_names"]
    assert res.input_path == res["input_path"] and res.page_index is None
    assert res.class_ids.tolist() == [2, 0] and res.scores.tolist() == [0.99972, 0.5]
    assert res.label_names == ["banana", "狗"]
    assert res.json == {"res": res.to_dict()}
    assert json.loads(json.dumps(res.json)) == res.json
    assert list(res.to_dict()) == ["input_path", "page_index", "class_ids", "scores", "label_names"]


def test_class_ids_and_scores_are_numpy_arrays_as_in_paddlex() -> None:
    res = _result(image=solid(BLUE))
    assert isinstance(res["class_ids"], np.ndarray) and res["class_ids"].dtype == np.int64
    assert isinstance(res["scores"], np.ndarray) and res["scores"].dtype == np.float64
    assert res["class_ids"].tolist() == [2, 0] and res["scores"].tolist() == [0.99972, 0.5]
    assert res.class_ids is res["class_ids"] and res.scores is res["scores"]
    assert isinstance(res["label_names"], list)
    empty = _result(image=solid(BLUE), class_ids=[], scores=[], label_names=[])
    assert empty["class_ids"].shape == (0,) and empty["class_ids"].dtype == np.int64
    assert empty["scores"].shape == (0,) and empty.to_dict()["class_ids"] == []
    # the JSON form stays plain lists of Python numbers
    plain = res.to_dict()
    assert plain["class_ids"] == [2, 0] and all(type(i) is int for i in plain["class_ids"])
    assert plain["scores"] == [0.99972, 0.5] and all(type(s) is float for s in plain["scores"])


def test_input_img_is_the_rgb_array_of_the_input(tmp_path: Path) -> None:
    picture = Image.fromarray(np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3), "RGB")
    in_memory = _result(image=picture)
    arr = in_memory["input_img"]
    assert isinstance(arr, np.ndarray) and arr.dtype == np.uint8 and arr.shape == (4, 6, 3)
    np.testing.assert_array_equal(arr, np.asarray(picture))  # RGB order, as PaddleX's reader gives
    assert in_memory.input_img is arr and in_memory.get("input_img") is arr
    # file inputs: read from the file on first use (a folder's pixels are not all kept in memory)
    src = save(picture, tmp_path / "p.png")
    from_file = _result(src)
    assert not isinstance(dict.__getitem__(from_file, "input_img"), np.ndarray)  # a key, not loaded yet
    np.testing.assert_array_equal(from_file["input_img"], np.asarray(picture))
    assert dict(from_file)["input_img"] is from_file["input_img"]
    copied = {**_result(src)}
    assert isinstance(copied["input_img"], np.ndarray)
    assert all(isinstance(v, np.ndarray) for k, v in _result(src).items() if k == "input_img")


def test_print_json_and_python_forms(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    res = _result(tmp_path / "photo.jpg")
    res.print()
    out = capsys.readouterr().out
    assert json.loads(out) == res.json and '    "res"' in out and "狗" in out
    assert json.loads(out)["res"]["scores"] == [0.99972, 0.5] and "input_img" not in out
    res.print(json_format=False)
    assert capsys.readouterr().out.strip() == repr(res.json)
    res.print(format_json=True, indent=2, ensure_ascii=True)
    assert "\\u72d7" in capsys.readouterr().out


def test_save_to_json_names(tmp_path: Path) -> None:
    res = _result(tmp_path / "photo.jpg")
    out = res.save_to_json(tmp_path / "out")
    assert out == tmp_path / "out" / "photo_res.json"
    assert json.loads(out.read_text(encoding="utf-8")) == res.to_dict()
    assert "    " in out.read_text(encoding="utf-8")  # indent 4
    exact = res.save_to_json(tmp_path / "named" / "res.json")
    assert exact == tmp_path / "named" / "res.json" and exact.is_file()
    assert _result().save_to_json(tmp_path) == tmp_path / "array_0_res.json"


def test_save_to_img_names_formats_and_banner(tmp_path: Path) -> None:
    src = save(solid(BLUE, size=(400, 200)), tmp_path / "in" / "photo.jpg")
    res = _result(src)
    out = res.save_to_img(tmp_path / "out")
    assert out == tmp_path / "out" / "photo_res.jpg"
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.width == 400 and im.height > 200
        bottom = np.asarray(im.convert("RGB"))[200:]
    red = (bottom[..., 0] > 200) & (bottom[..., 1] < 60) & (bottom[..., 2] < 60)
    white = (bottom > 200).all(axis=-1)
    assert red.mean() > 0.5 and white.any()  # red banner with white text
    png = res.save_to_img(tmp_path / "exact.png")
    assert png == tmp_path / "exact.png" and Image.open(png).format == "PNG"
    assert _result(image=solid(BLUE)).save_to_img(tmp_path) == tmp_path / "array_0_res.png"


def test_banner_stays_readable_on_tiny_and_wide_images(tmp_path: Path) -> None:
    tiny = _result(image=solid(BLUE, size=(8, 8))).img["res"]
    assert tiny.width == 400 and tiny.height > 400 + 14  # drawn on an enlarged copy, not on a red strip
    wide = _result(image=solid(BLUE, size=(2000, 50))).img["res"]
    assert wide.width == 2000 and 50 < wide.height <= 50 + 2 * 14  # one row of text, not a huge banner


def test_no_kept_label_means_no_banner() -> None:
    image = solid(BLUE, size=(30, 20))
    res = _result(image=image, class_ids=[], scores=[], label_names=[])
    assert res.img["res"].size == (30, 20)


def test_file_results_reread_the_image(tmp_path: Path) -> None:
    src = save(solid(BLUE, size=(30, 20)), tmp_path / "a.png")
    res = _result(src)
    assert res.source_image().size == (30, 20)
    src.unlink()
    from mlcls_cli.errors import IOFailure

    with pytest.raises(IOFailure, match="cannot re-read"):
        res.save_to_img(tmp_path / "out")
    with pytest.raises(IOFailure, match="cannot re-read"):
        res["input_img"]


def test_the_picture_is_drawn_from_input_img_once_loaded_or_replaced(tmp_path: Path) -> None:
    src = save(solid(BLUE, size=(400, 200)), tmp_path / "a.png")
    res = _result(src)
    loaded = res["input_img"]
    src.unlink()  # no second read needed
    assert res.img["res"].getpixel((10, 10)) == tuple(int(c) for c in loaded[10, 10])
    res["input_img"] = np.zeros((200, 400, 3), dtype=np.uint8)  # as PaddleX, the result draws input_img
    assert res.img["res"].getpixel((10, 10)) == (0, 0, 0)
