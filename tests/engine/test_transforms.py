"""Train/eval transforms: exact eval arithmetic, Cutout, reproducibility, and image loading errors."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcls_cli.engine.transforms import (
    Normalize,
    apply_cutout,
    build_eval_transform,
    build_train_transform,
    load_image,
)
from mlcls_cli.errors import DatasetError, ExitCode
from mlcls_cli.models.registry import IMAGENET_MEAN, IMAGENET_STD


def noise_image(width: int = 40, height: int = 30, seed: int = 0) -> Image.Image:
    """A random RGB image (every pixel differs, so any change is visible)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def reference_eval(img: Image.Image, size: int) -> np.ndarray:
    """inference.yml preprocessing written out: PIL bilinear resize, x*(1/255), -mean, /std, HWC->CHW."""
    arr = np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR)).astype("float32")
    mean = np.array(IMAGENET_MEAN, dtype="float32")
    std = np.array(IMAGENET_STD, dtype="float32")
    return ((arr * np.float32(1 / 255) - mean) / std).transpose(2, 0, 1)


def test_eval_transform_matches_inference_preprocessing() -> None:
    img = noise_image(50, 37)
    out = build_eval_transform(24)(img)
    assert out.shape == (3, 24, 24)
    assert out.dtype == np.float32
    assert out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, reference_eval(img, 24))


def test_eval_transform_known_pixel_values() -> None:
    img = Image.new("RGB", (8, 8), (255, 0, 128))
    out = build_eval_transform(4)(img)
    expected = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    for channel, value in enumerate(expected):
        np.testing.assert_allclose(out[channel], value, rtol=1e-6)


def test_eval_transform_converts_grey_and_rgba_to_rgb() -> None:
    grey = Image.new("L", (10, 10), 100)
    rgba = Image.new("RGBA", (10, 10), (100, 100, 100, 7))
    transform = build_eval_transform(10)
    np.testing.assert_array_equal(transform(grey), transform(rgba))
    assert transform(grey).shape == (3, 10, 10)


def test_custom_mean_std() -> None:
    img = Image.new("RGB", (4, 4), (51, 102, 153))
    out = build_eval_transform(4, mean=(0, 0, 0), std=(1, 1, 1))(img)
    np.testing.assert_allclose(out[:, 0, 0], [0.2, 0.4, 0.6], rtol=1e-6)


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_bad_image_size_is_rejected(size: object) -> None:
    with pytest.raises(ValueError, match="image_size"):
        build_eval_transform(size)  # type: ignore[arg-type]


def test_normalize_rejects_non_rgb() -> None:
    with pytest.raises(ValueError, match="RGB"):
        Normalize()(np.zeros((4, 4), dtype=np.uint8))


def test_train_transform_without_augmentation_equals_eval() -> None:
    img = noise_image()
    plain = build_train_transform(16, cutout=False, randaugment=False)
    np.testing.assert_array_equal(plain(img, np.random.default_rng(0)), build_eval_transform(16)(img))


def test_train_transform_is_a_function_of_the_generator_only() -> None:
    img = noise_image()
    transform = build_train_transform(32)
    random.seed(1)
    np.random.seed(1)
    first = transform(img, np.random.default_rng(123))
    random.seed(2)
    np.random.seed(2)
    second = transform(img, np.random.default_rng(123))
    np.testing.assert_array_equal(first, second)
    assert first.shape == (3, 32, 32)
    assert first.dtype == np.float32
    outputs = {transform(img, np.random.default_rng(seed)).tobytes() for seed in range(8)}
    assert len(outputs) == 8


def test_train_transform_accepts_python_random() -> None:
    img = noise_image()
    transform = build_train_transform(16)
    a = transform(img, random.Random(5))
    b = transform(img, random.Random(5))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="Generator"):
        transform(img, 5)  # type: ignore[arg-type]


def _changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, np.ndarray] | None:
    changed = np.any(before != after, axis=2)
    if not changed.any():
        return None
    rows = np.flatnonzero(changed.any(axis=1))
    cols = np.flatnonzero(changed.any(axis=0))
    box = after[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return len(rows), len(cols), box


def test_cutout_fills_one_clipped_square_with_one_colour() -> None:
    base = Image.new("RGB", (32, 32), (10, 20, 30))
    before = np.asarray(base)
    sides = set()
    for seed in range(60):
        after = np.asarray(apply_cutout(base, 16, np.random.default_rng(seed)))
        found = _changed_box(before, after)
        if found is None:  # the random colour happened to be the background colour
            continue
        height, width, box = found
        assert height <= 16 and width <= 16
        assert (box == box[0, 0]).all(), "the hole is filled with a single colour"
        sides.add((height, width))
    assert (16, 16) in sides, "an unclipped hole is exactly length x length"
    assert any(h < 16 or w < 16 for h, w in sides), "holes near the border are clipped"


def test_train_transform_cutout_side_is_half_the_image() -> None:
    base = Image.new("RGB", (64, 64), (10, 20, 30))
    transform = build_train_transform(64, randaugment=False)
    eval_out = build_eval_transform(64)(base)
    biggest = 0
    for seed in range(40):
        out = transform(base, np.random.default_rng(seed))
        changed = np.any(out != eval_out, axis=0)
        biggest = max(biggest, int(changed.any(axis=1).sum()))
    assert biggest == 32


def test_load_image_applies_exif_orientation(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), (0, 255, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif)
    loaded = load_image(path)
    assert loaded.size == (20, 40)
    assert loaded.mode == "RGB"


def test_load_image_converts_palette_and_grey(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.new("L", (5, 6), 77).save(path)
    loaded = load_image(path)
    assert loaded.mode == "RGB"
    assert loaded.getpixel((0, 0)) == (77, 77, 77)


def test_load_image_corrupt_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(DatasetError) as info:
        load_image(path)
    assert str(path) in info.value.message
    assert info.value.hint
    assert info.value.exit_code == ExitCode.DATAERR


def test_load_image_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    noise_image(64, 64).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"cut\.png"):
        load_image(path)


def test_load_image_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_image(tmp_path / "nope.png")


def test_transforms_module_does_not_import_paddle() -> None:
    code = "import sys, mlcls_cli.engine.transforms; print('paddle' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
