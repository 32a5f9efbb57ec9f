"""RandAugmentV4: policy sampling, magnitude ranges, the semantics of each operation, reproducibility."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from mlcls_cli.engine.randaugment import OPS, RANGES, RandAugmentV4, apply_op


def noise_image(size: int = 32, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def test_fifteen_ops_with_ten_step_ranges() -> None:
    assert len(OPS) == 15
    assert set(RANGES) == set(OPS)
    assert all(len(RANGES[name]) == 10 for name in OPS)
    assert RANGES["shearX"][9] == pytest.approx(0.3)
    assert RANGES["translateY"][9] == pytest.approx(150 / 331)
    assert RANGES["rotate"][9] == pytest.approx(30)
    assert RANGES["color"][9] == pytest.approx(0.9)
    assert RANGES["posterize"][0] == 8 and RANGES["posterize"][9] == 4
    assert RANGES["solarize"][0] == 256 and RANGES["solarize"][9] == 0
    assert RANGES["cutout"][9] == 20
    assert all(RANGES[name][0] == 0 for name in ("shearX", "translateX", "rotate", "brightness", "cutout"))


def test_policy_draws_cover_all_ops_and_indices_1_to_9() -> None:
    aug = RandAugmentV4()
    rng = np.random.default_rng(0)
    names: Counter[str] = Counter()
    indices: Counter[int] = Counter()
    applied = 0
    draws = 3000
    for _ in range(draws):
        policy = aug.draw(rng)
        assert len(policy) == 2
        for name, index, on in policy:
            names[name] += 1
            indices[index] += 1
            applied += on
    assert set(names) == set(OPS)
    assert set(indices) == set(range(1, 10))
    # 6000 Bernoulli(0.5) draws: the mean is 0.5 +- 0.02 at over 3 sigma
    assert abs(applied / (2 * draws) - 0.5) < 0.02
    assert min(names.values()) > 0.6 * (2 * draws / 15)


def test_same_generator_state_gives_same_image() -> None:
    aug = RandAugmentV4()
    img = noise_image()
    for seed in range(20):
        a = np.asarray(aug(img, np.random.default_rng(seed)))
        b = np.asarray(aug(img, np.random.default_rng(seed)))
        np.testing.assert_array_equal(a, b)
        c = np.asarray(aug(img, random.Random(seed)))
        d = np.asarray(aug(img, random.Random(seed)))
        np.testing.assert_array_equal(c, d)


def test_output_keeps_size_and_mode_and_sometimes_is_unchanged() -> None:
    aug = RandAugmentV4()
    img = noise_image()
    unchanged = 0
    for seed in range(200):
        out = aug(img, np.random.default_rng(seed))
        assert out.size == img.size and out.mode == "RGB"
        unchanged += np.array_equal(np.asarray(out), np.asarray(img))
    # both halves skipped with probability 1/4
    assert 20 < unchanged < 90


@pytest.mark.parametrize("name", OPS)
def test_every_op_runs_at_every_index(name: str) -> None:
    img = noise_image(24)
    for index in range(10):
        out = apply_op(img, name, index, np.random.default_rng(index))
        assert out.size == img.size and out.mode == "RGB"


@pytest.mark.parametrize(
    "name", ["shearX", "shearY", "translateX", "translateY", "rotate", "color", "contrast"]
)
def test_index_zero_is_identity(name: str) -> None:
    img = noise_image()
    out = apply_op(img, name, 0, np.random.default_rng(0))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img))


def test_invert_and_full_solarize() -> None:
    img = noise_image()
    arr = np.asarray(img)
    np.testing.assert_array_equal(np.asarray(apply_op(img, "invert", 3, random.Random(0))), 255 - arr)
    # threshold 0: every pixel is inverted
    np.testing.assert_array_equal(np.asarray(apply_op(img, "solarize", 9, random.Random(0))), 255 - arr)
    # threshold 256: nothing is
    np.testing.assert_array_equal(np.asarray(apply_op(img, "solarize", 0, random.Random(0))), arr)


def test_posterize_keeps_four_bits_at_index_9() -> None:
    out = np.asarray(apply_op(noise_image(), "posterize", 9, random.Random(0)))
    assert (out % 16 == 0).all()


def test_translate_fills_with_grey() -> None:
    img = noise_image(40)
    out = np.asarray(apply_op(img, "translateX", 9, np.random.default_rng(0)))
    shift = round(40 * 150 / 331)
    grey_cols = [c for c in range(40) if (out[:, c] == 128).all()]
    assert len(grey_cols) == shift


def test_rotate_is_counter_clockwise_with_grey_corners() -> None:
    img = Image.new("RGB", (40, 40), (255, 0, 0))
    out = np.asarray(apply_op(img, "rotate", 9, random.Random(0)))
    assert tuple(out[0, 0]) == (128, 128, 128)
    assert tuple(out[20, 20]) == (255, 0, 0)


def test_shear_uses_both_signs() -> None:
    img = noise_image()
    outputs = {np.asarray(apply_op(img, "shearX", 5, np.random.default_rng(s))).tobytes() for s in range(16)}
    assert len(outputs) == 2


def test_enhance_ops_use_both_signs() -> None:
    img = noise_image()
    means = {
        round(float(np.asarray(apply_op(img, "brightness", 9, random.Random(s))).mean()), 3)
        for s in range(16)
    }
    assert len(means) == 2
    low, high = sorted(means)
    assert low < np.asarray(img).mean() < high


def test_cutout_half_size_is_in_pixels_whatever_the_image_size() -> None:
    for side in (448, 64):  # PaddleClas's behaviour: magnitude index 9 is a half-size of 20 px
        white = Image.new("RGB", (side, side), (255, 255, 255))
        heights = []
        for seed in range(30):
            out = np.asarray(apply_op(white, "cutout", 9, np.random.default_rng(seed)))
            heights.append(int((out == 0).all(axis=2).any(axis=1).sum()))
        assert max(heights) == 40, side  # a hole fully inside the image is 40 rows high
        assert min(heights) >= 20, side  # at least half of it lies inside


def test_unknown_op_and_bad_index() -> None:
    img = noise_image()
    with pytest.raises(ValueError, match="unknown"):
        apply_op(img, "blur", 1, random.Random(0))
    with pytest.raises(ValueError, match=r"0\.\.9"):
        apply_op(img, "invert", 10, random.Random(0))
    with pytest.raises(ValueError, match="unknown"):
        RandAugmentV4(ops=("invert", "blur"))
