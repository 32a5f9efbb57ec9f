"""Preprocessing from inference.yml: resize (PIL and cv2-style), normalise, CHW, ignored and unknown operators."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mlcls_cli.errors import ConfigError
from mlcls_cli.inference.preprocess import Preprocessor
from mlcls_cli.models.export import inference_config

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _image(w: int = 50, h: int = 30, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def _reference(image: Image.Image, size: int) -> np.ndarray:
    """What PaddleX computes for our exports: PIL bilinear resize, (x/255 - mean)/std, CHW."""
    pixels = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
    return ((pixels * np.float32(1 / 255) - MEAN) / STD).transpose(2, 0, 1)


def test_exported_config_matches_the_paddlex_recipe() -> None:
    pre = Preprocessor.from_config(inference_config(model_name="m", label_list=["a"], input_size=48))
    image = _image()
    out = pre(image)
    assert out.dtype == np.float32 and out.shape == (3, 48, 48)
    np.testing.assert_allclose(out, _reference(image, 48), atol=1e-5)
    assert pre.output_size == (48, 48)


def test_array_and_pil_inputs_agree_and_grey_is_converted() -> None:
    pre = Preprocessor.from_config(inference_config(model_name="m", label_list=["a"], input_size=16))
    image = _image()
    np.testing.assert_array_equal(pre(image), pre(np.asarray(image)))
    grey = image.convert("L")
    np.testing.assert_array_equal(pre(grey), pre(grey.convert("RGB")))


def _ops(**resize) -> list:
    return [
        {"ResizeImage": resize},
        {"NormalizeImage": {"scale": "1.0/255.0", "mean": [0, 0, 0], "std": [1, 1, 1], "order": ""}},
        {"ToCHWImage": None},
    ]


def test_size_as_width_height_and_resize_short() -> None:
    image = _image(50, 30)
    assert Preprocessor(_ops(size=[20, 10], backend="pil"))(image).shape == (3, 10, 20)
    short = Preprocessor(_ops(resize_short=15, backend="pil"))
    assert short(image).shape == (3, 15, 25)  # 50x30 -> 25x15, aspect kept
    assert short.output_size is None


def test_cv2_backend_bilinear_follows_opencv_sampling() -> None:
    # OpenCV INTER_LINEAR doubling [0, 100] gives [0, 25, 75, 100] (pixel-centre aligned, clamped edges)
    row = np.array([[0, 100]], dtype=np.uint8)
    pixels = np.repeat(np.repeat(row[:, :, None], 3, axis=2), 2, axis=0)  # 2x2x3
    pre = Preprocessor(_ops(size=[4, 2], backend="cv2", interpolation="bilinear"))
    out = pre.resize(pixels)
    np.testing.assert_array_equal(out[0, :, 0], [0, 25, 75, 100])
    # shrinking by 2 averages pixel pairs without any wider anti-alias filter
    wide = np.array([[0, 200, 40, 40, 0, 0, 100, 100]], dtype=np.uint8)
    wide = np.repeat(wide[:, :, None], 3, axis=2)
    out = Preprocessor(_ops(size=[4, 1], backend="cv2")).resize(wide)
    np.testing.assert_array_equal(out[0, :, 0], [100, 40, 0, 100])


def test_cv2_nearest_and_default_backend_is_cv2() -> None:
    row = np.arange(8, dtype=np.uint8)[None, :, None].repeat(3, axis=2)
    out = Preprocessor(_ops(size=[4, 1], interpolation="nearest")).resize(row)
    np.testing.assert_array_equal(out[0, :, 0], [0, 2, 4, 6])


def test_pil_backend_antialiases_unlike_cv2() -> None:
    stripes = np.zeros((64, 64, 3), dtype=np.uint8)
    stripes[:, ::2] = 255
    pil = Preprocessor(_ops(size=8, backend="pil")).resize(stripes)
    cv2 = Preprocessor(_ops(size=8, backend="cv2")).resize(stripes)
    assert abs(float(pil.mean()) - 127.5) < 3  # averaged over the whole footprint
    assert pil.std() < 3
    np.testing.assert_array_equal(
        pil, np.asarray(Image.fromarray(stripes).resize((8, 8), Image.Resampling.BILINEAR))
    )
    assert not np.array_equal(pil, cv2)


@pytest.mark.parametrize(
    "name", ["bicubic", "INTER_CUBIC", "area", "lanczos", "nearest", "hamming", "LINEAR"]
)
def test_interpolation_names(name: str) -> None:
    assert Preprocessor(_ops(size=5, backend="pil", interpolation=name))(_image()).shape == (3, 5, 5)


def test_crop_and_decode_are_ignored() -> None:
    ops = [{"DecodeImage": {"to_rgb": True}}, *_ops(size=12, backend="pil")]
    ops.insert(2, {"CropImage": {"size": 4}})
    assert Preprocessor(ops)(_image()).shape == (3, 12, 12)


def test_without_normalize_or_chw() -> None:
    pre = Preprocessor([{"ResizeImage": {"size": 6, "backend": "pil"}}])
    out = pre(_image())
    assert out.shape == (6, 6, 3) and out.dtype == np.float32 and out.max() > 1


def test_hwc_normalize_matches_chw() -> None:
    norm = {"NormalizeImage": {"scale": 0.5, "mean": [1, 2, 3], "std": [2, 4, 8]}}
    chw = Preprocessor([{"ResizeImage": {"size": 6, "backend": "pil"}}, norm, {"ToCHWImage": None}])
    hwc = Preprocessor([{"ResizeImage": {"size": 6, "backend": "pil"}}, norm])
    image = _image()
    np.testing.assert_allclose(chw(image), hwc(image).transpose(2, 0, 1), rtol=1e-6)
    pixels = np.asarray(image.resize((6, 6), Image.Resampling.BILINEAR), dtype=np.float64)
    np.testing.assert_allclose(hwc(image), (pixels * 0.5 - [1, 2, 3]) / [2, 4, 8], rtol=1e-5)


@pytest.mark.parametrize(
    ("ops", "fragment"),
    [
        ([{"RandomFlip": {}}], "unsupported preprocessing operator 'RandomFlip'"),
        ([{"ResizeImage": {}}], "needs size or resize_short"),
        ([{"ResizeImage": {"size": 0}}], "size must be a positive integer"),
        ([{"ResizeImage": {"size": 8, "backend": "skimage"}}], "unknown backend"),
        ([{"ResizeImage": {"size": 8, "interpolation": "magic"}}], "unknown interpolation"),
        ([{"NormalizeImage": {"channel_num": 4}}], "channel_num 4"),
        ([{"NormalizeImage": {"mean": [0, 0]}}], "list of 3 numbers"),
        ([{"NormalizeImage": {"scale": "x"}}], "must be a number"),
        (["ToCHWImage"], "one operator name"),
        ({"ToCHWImage": None}, "must be a list"),
    ],
)
def test_bad_operators_are_config_errors(ops, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        Preprocessor(ops)
    assert fragment in info.value.message


def test_missing_preprocess_section() -> None:
    with pytest.raises(ConfigError, match=r"no PreProcess\.transform_ops"):
        Preprocessor.from_config({"Global": {}})
