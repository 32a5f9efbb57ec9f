"""MobileNetV3 large/small x0.35 .. x1.25: PaddleClas layout, sizes and forward; the x0.8 and SE-gate traps."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models import golden
from tests.models.mobilenet_checks import assert_matches_golden, assert_paddleclas_layout, family_models

pytestmark = pytest.mark.paddle

MODELS = family_models("MobileNetV3")


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def small(paddle):
    """MobileNetV3_small_x0_35 on its golden weights, eval mode."""
    from mlcls_cli.models import build_model

    model = build_model("MobileNetV3_small_x0_35", 10)
    golden.fill(model, 1.5)
    model.eval()
    return model


def test_the_family_has_ten_models() -> None:
    scales = ("x0_35", "x0_5", "x0_75", "x1_0", "x1_25")
    assert [f"MobileNetV3_{size}_{s}" for size in ("large", "small") for s in scales] == MODELS


@pytest.mark.parametrize("name", MODELS)
def test_layout_and_size_equal_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


@pytest.mark.parametrize("name", MODELS)
def test_forward_equals_paddleclas(paddle, name: str) -> None:
    assert_matches_golden(name)


def test_eval_multiplies_the_head_features_by_0_8(paddle, small) -> None:
    x = paddle.to_tensor(golden.golden_input(64))
    with paddle.no_grad():
        features = small.hardswish(small.last_conv(small.avg_pool(small.forward_features(x))))
        scaled = small.fc(small.flatten(features * 0.8)).numpy()
        unscaled = small.fc(small.flatten(features)).numpy()
        got = small(x).numpy()
    np.testing.assert_allclose(got, scaled, rtol=1e-5, atol=1e-6)
    assert np.abs(got - unscaled).max() > 1e-3
    assert small.dropout.p == pytest.approx(0.2) and small.dropout.mode == "downscale_in_infer"


def test_se_gate_is_clip_0_2x_plus_0_5(paddle, small) -> None:
    se = small.blocks[0].mid_se  # small's first block has SE
    x = paddle.to_tensor(
        np.random.default_rng(1).normal(0, 3, (2, se.conv1.weight.shape[1], 5, 5)).astype("float32")
    )
    with paddle.no_grad():
        logits = se.conv2(se.relu(se.conv1(se.avg_pool(x)))).numpy()
        got = se(x).numpy()
    assert np.abs(logits).max() > 1.0  # the two slopes differ here
    np.testing.assert_allclose(got, x.numpy() * np.clip(0.2 * logits + 0.5, 0, 1), rtol=1e-5, atol=1e-6)
    assert np.abs(got - x.numpy() * np.clip(logits / 6 + 0.5, 0, 1)).max() > 1e-3


def test_se_and_shortcuts_follow_the_block_table(paddle) -> None:
    from mlcls_cli.models.backbones.mobilenet_v3 import ARCHS, build_mobilenet_v3

    for size in ("large", "small"):
        model = build_mobilenet_v3(3, f"{size}_x1_0")
        specs, _ = ARCHS[size]
        assert [block.mid_se is not None for block in model.blocks] == [spec.se for spec in specs]
        assert sum(block.shortcut for block in model.blocks) == {"large": 10, "small": 6}[size]


def test_second_input_size(paddle) -> None:
    from mlcls_cli.models import build_model

    model = build_model("MobileNetV3_large_x0_35", 3)
    model.eval()
    assert list(model.forward_features(paddle.rand([2, 3, 96, 128])).shape) == [2, 336, 3, 4]
    out = model(paddle.rand([2, 3, 96, 128]))
    assert list(out.shape) == [2, 3] and np.isfinite(out.numpy()).all()


@pytest.mark.filterwarnings("ignore:When training, we now always track")
def test_training_drops_head_features_without_rescaling(paddle) -> None:
    from mlcls_cli.models.backbones.mobilenet_v3 import MobileNetV3

    model = MobileNetV3(3, "small", 0.35)
    model.train()
    features = paddle.ones([2000, 1280])
    kept = model.dropout(features).numpy()
    assert set(np.unique(kept)) == {0.0, 1.0}  # downscale_in_infer: no 1/(1-p) in training
    assert 0.17 < 1 - kept.mean() < 0.23
    x = paddle.rand([4, 3, 64, 64])
    assert np.abs(model(x).numpy() - model(x).numpy()).max() > 0


def test_make_divisible_matches_the_published_widths() -> None:
    from mlcls_cli.models.backbones.mobilenet_v3 import make_divisible

    assert [make_divisible(16 * s) for s in (0.35, 0.5, 0.75, 1.0, 1.25)] == [8, 8, 16, 16, 24]
    assert [make_divisible(960 * s) for s in (0.35, 0.5, 0.75, 1.0, 1.25)] == [336, 480, 720, 960, 1200]


def test_unknown_variant_raises() -> None:
    from mlcls_cli.models.backbones.mobilenet_v3 import build_mobilenet_v3

    with pytest.raises(ValueError, match="medium_x1_0"):
        build_mobilenet_v3(10, "medium_x1_0")
    with pytest.raises(ValueError, match="large_x2_0"):
        build_mobilenet_v3(10, "large_x2_0")
