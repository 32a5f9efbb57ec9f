"""Single-label training pieces: the crop box, RandomErasing, the train/eval transforms, Mixup/CutMix,
the smoothed cross-entropy, Momentum and the constant schedule, and the recipe's Train.* keys."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from mlcls_cli.engine.mixing import draw_mix, mix_rng
from mlcls_cli.engine.recipes import recipe_for
from mlcls_cli.engine.transforms import (
    ClsEvalTransform,
    ClsTrainTransform,
    random_erasing,
    random_resized_crop_box,
)


def _image(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize(("width", "height"), [(96, 64), (64, 96), (10, 300), (50, 50)])
def test_crop_box_fits_the_image_and_follows_the_scale(width: int, height: int) -> None:
    areas = []
    for seed in range(300):
        left, top, w, h = random_resized_crop_box(width, height, np.random.default_rng(seed))
        assert left >= 0 and left + w <= width and top >= 0 and top + h <= height and w >= 1 and h >= 1
        areas.append(w * h / (width * height))
    if max(width / height, height / width) > 3:
        # PaddleClas clamps the area to what fits at an aspect near 1: only small crops of a long strip
        assert max(areas) < 0.1
    else:  # the area fraction is drawn from (0.08, 1): small and large crops both occur
        assert min(areas) < 0.2 and max(areas) > 0.6


def test_crop_box_scale_range_is_honoured() -> None:
    for seed in range(100):
        _, _, w, h = random_resized_crop_box(100, 100, np.random.default_rng(seed), scale=(0.5, 1.0))
        assert w * h >= 0.5 * 100 * 100 * 0.85  # int() truncation of both sides


def test_random_erasing_fills_one_box_with_noise_or_nothing() -> None:
    chw = np.zeros((3, 32, 32), dtype=np.float32)
    assert random_erasing(chw, np.random.default_rng(0), probability=0.0) is chw
    erased = [random_erasing(chw, np.random.default_rng(s), probability=1.0) for s in range(20)]
    changed = [(e != 0).any(axis=0) for e in erased]
    assert all(c.any() for c in changed)
    for mask in changed:  # one axis-aligned box, inside the image, at most a third of its area
        rows, cols = np.where(mask)
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert mask.sum() == box and box <= 32 * 32 / 3 + 32
    assert chw.max() == 0  # the input is not modified


def test_train_transform_is_a_function_of_the_generator() -> None:
    transform = ClsTrainTransform(48, interpolation="bicubic", randaugment=9, random_erasing=0.5)
    img = _image()
    a = transform(img, np.random.default_rng(7))
    b = transform(img, np.random.default_rng(7))
    c = transform(img, np.random.default_rng(8))
    assert a.shape == (3, 48, 48) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_train_transform_flips_half_the_time() -> None:
    # a left-dark, right-bright image: after a flip the left half is the brighter one
    pixels = np.zeros((40, 40, 3), dtype=np.uint8)
    pixels[:, 20:] = 255
    transform = ClsTrainTransform(40, crop_scale=(1.0, 1.0))
    flipped = 0
    for seed in range(200):
        out = transform(Image.fromarray(pixels), np.random.default_rng(seed))
        flipped += out[:, :, :10].mean() > out[:, :, -10:].mean()
    assert 70 < flipped < 130


def test_train_transform_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="interpolation"):
        ClsTrainTransform(32, interpolation="lanczos")
    with pytest.raises(ValueError, match="crop scale"):
        ClsTrainTransform(32, crop_scale=(0.0, 1.0))


def test_eval_transform_is_the_exported_preprocessing() -> None:
    """Resize the short side by the model's ratio (256/224 for PP-LCNet), centre crop, as inference.yml says."""
    from mlcls_cli.inference.preprocess import Preprocessor
    from mlcls_cli.models.export import preprocessing_ops

    ops = preprocessing_ops("PP-LCNet_x1_0", 112)
    assert ops[0] == {"ResizeImage": {"resize_short": 128}} and ops[1] == {"CropImage": {"size": 112}}
    img = _image(200, 150)
    out = ClsEvalTransform("PP-LCNet_x1_0", 112)(img)
    assert out.shape == (3, 112, 112)
    np.testing.assert_array_equal(out, Preprocessor(ops, crop=True)(img))
    bicubic = preprocessing_ops("PP-HGNetV2-B0", 224)[0]["ResizeImage"]
    assert bicubic == {"backend": "pil", "interpolation": "bicubic", "resize_short": 232}


def test_mix_draws_are_reproducible_and_consistent() -> None:
    assert draw_mix(mix_rng(0, 1, 0), 8, 32, 32) is None
    a = draw_mix(mix_rng(3, 2, 5), 8, 32, 32, mixup_alpha=0.8, cutmix_alpha=1.0)
    b = draw_mix(mix_rng(3, 2, 5), 8, 32, 32, mixup_alpha=0.8, cutmix_alpha=1.0)
    assert a == b and a is not None
    kinds = set()
    for batch in range(100):
        draw = draw_mix(mix_rng(0, 1, batch), 8, 32, 48, mixup_alpha=0.8, cutmix_alpha=1.0)
        assert draw is not None and 0.0 <= draw.lam <= 1.0
        assert sorted(draw.permutation) == list(range(8))
        kinds.add(draw.kind)
        if draw.kind == "cutmix":
            top, bottom, left, right = draw.box
            assert 0 <= top <= bottom <= 32 and 0 <= left <= right <= 48
            assert draw.lam == pytest.approx(1 - (bottom - top) * (right - left) / (32 * 48))
    assert kinds == {"mixup", "cutmix"}  # each batch picks one operator


@pytest.mark.paddle
def test_apply_mix_mixes_images_and_targets_alike() -> None:
    import paddle

    from mlcls_cli.engine.mixing import MixDraw, apply_mix

    images = paddle.to_tensor(
        np.arange(4, dtype=np.float32).reshape(4, 1, 1, 1) * np.ones((4, 3, 4, 4), np.float32)
    )
    labels = paddle.to_tensor(np.array([0, 1, 2, 0], dtype=np.int64))
    mixed, targets = apply_mix(images, labels, MixDraw("mixup", 0.75, (1, 0, 3, 2)), 3)
    np.testing.assert_allclose(mixed.numpy()[0], 0.75 * 0 + 0.25 * 1)
    np.testing.assert_allclose(targets.numpy()[0], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(targets.numpy().sum(axis=1), 1.0, rtol=1e-6)
    cut, targets = apply_mix(images, labels, MixDraw("cutmix", 0.75, (1, 0, 3, 2), (0, 2, 0, 2)), 3)
    # image 2's partner is image 3 (class 0): its top-left 2x2 box is pasted, the rest stays
    assert (cut.numpy()[2, :, :2, :2] == 3.0).all() and (cut.numpy()[2, :, 2:, :] == 2.0).all()
    np.testing.assert_allclose(targets.numpy()[2], [0.25, 0.0, 0.75])
    assert images.numpy()[2].max() == 2.0  # the input batch is not modified


@pytest.mark.paddle
def test_smoothed_cross_entropy_matches_the_formula() -> None:
    import paddle

    from mlcls_cli.engine.loss import SmoothedCrossEntropy

    logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]], dtype=np.float32)
    labels = np.array([0, 1])
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    for eps in (0.0, 0.1):
        target = np.eye(3)[labels] * (1 - eps) + eps / 3
        expected = float(-(target * log_p).sum(axis=1).mean())
        got = float(SmoothedCrossEntropy(eps)(paddle.to_tensor(logits), paddle.to_tensor(labels)))
        assert got == pytest.approx(expected, rel=1e-5)
    soft = np.array([[0.6, 0.4, 0.0], [0.0, 0.5, 0.5]], dtype=np.float32)
    got = float(SmoothedCrossEntropy(0.0)(paddle.to_tensor(logits), paddle.to_tensor(soft)))
    assert got == pytest.approx(float(-(soft * log_p).sum(axis=1).mean()), rel=1e-5)
    with pytest.raises(ValueError):
        SmoothedCrossEntropy(1.0)


@pytest.mark.paddle
def test_momentum_optimizer_and_constant_schedule() -> None:
    import paddle

    from mlcls_cli.engine.optim import build_optimizer

    net = paddle.nn.Linear(4, 3)
    optimizer, schedule = build_optimizer(
        net, learning_rate=0.1, epochs=4, iters_per_epoch=10, warmup_epochs=1, optimizer="momentum",
        schedule="constant", weight_decay=1e-4,
    )  # fmt: skip
    assert isinstance(optimizer, paddle.optimizer.Momentum)
    assert schedule.lr_at(0) < 0.1 and schedule.lr_at(10) == schedule.lr_at(39) == 0.1
    _, cosine = build_optimizer(net, learning_rate=0.1, epochs=4, iters_per_epoch=10, warmup_epochs=1)
    assert cosine.lr_at(39) < 0.01
    with pytest.raises(ValueError, match="optimizer"):
        build_optimizer(net, learning_rate=0.1, epochs=1, iters_per_epoch=1, warmup_epochs=0, optimizer="sgd")


def test_recipes_follow_paddlex_family_configs() -> None:
    lcnet = recipe_for("PP-LCNet_x1_0", "PP-LCNet")
    assert (lcnet.optimizer, lcnet.weight_decay, lcnet.label_smoothing, lcnet.mixup_alpha) == (
        "momentum", 3e-5, 0.1, 0.0,
    )  # fmt: skip
    assert recipe_for("PP-LCNet_x2_0", "PP-LCNet").weight_decay == 4e-5
    v4 = recipe_for("MobileNetV4_conv_small", "MobileNetV4")
    assert (v4.optimizer, v4.weight_decay, v4.ema_decay, v4.mixup_alpha, v4.cutmix_alpha) == (
        "adamw", 0.06, 0.9998, 0.8, 1.0,
    )  # fmt: skip
    assert recipe_for("ResNet50_vd", "ResNet").mixup_alpha == 0.2
    assert recipe_for("ResNet18", "ResNet").schedule == "constant"
    assert math.isclose(recipe_for("FasterNet-T0", "FasterNet").weight_decay, 0.005)
