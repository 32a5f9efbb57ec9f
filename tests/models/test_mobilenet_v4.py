"""MobileNetV4 conv/hybrid: PaddleClas layout, sizes and forward; attention shapes, drop path, export."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models import golden
from tests.models.mobilenet_checks import (
    assert_matches_golden,
    assert_paddleclas_layout,
    family_models,
    golden_logits,
)

pytestmark = pytest.mark.paddle

MODELS = family_models("MobileNetV4")
#: PaddleX's training configs (PaddleClas ppcls/configs/ImageNet/MobileNetV4/*.yaml, Arch.drop_path_rate).
RECIPE_DROP_PATH = {
    "conv_small": 0.03,
    "conv_medium": 0.1,
    "conv_large": 0.35,
    "hybrid_medium": 0.1,
    "hybrid_large": 0.1,
}


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


def test_the_family_has_five_models() -> None:
    assert sorted(MODELS) == sorted(f"MobileNetV4_{v}" for v in RECIPE_DROP_PATH)


@pytest.mark.parametrize("name", MODELS)
def test_layout_and_size_equal_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


@pytest.mark.parametrize("name", MODELS)
def test_forward_equals_paddleclas(paddle, name: str) -> None:
    # conv_small: plain conv + UIB; conv_medium/large: edge residual first; hybrids: attention
    # (medium with strided keys/values at 1/16, large also with GELU and 8 heads).
    assert_matches_golden(name)


def test_drop_path_changes_nothing_in_eval(paddle) -> None:
    ours, expected = golden_logits("MobileNetV4_hybrid_medium", drop_path_rate=0.9)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))


@pytest.mark.parametrize("variant", list(RECIPE_DROP_PATH))
def test_drop_path_rates_per_block(paddle, variant: str) -> None:
    from mlcls_cli.models.backbones.mobilenet_v4 import (
        ConvBnAct,
        MobileAttention,
        UniversalInvertedResidual,
        build_mobilenet_v4,
    )

    with paddle.LazyGuard():
        model = build_mobilenet_v4(10, variant)
    rate, count = RECIPE_DROP_PATH[variant], len(model.blocks)
    for i, block in enumerate(model.blocks):
        expected = rate * i / count
        if i == 0:
            assert block.drop_path is None
        elif isinstance(block, ConvBnAct):
            # As PaddleClas: a plain conv layer has no shortcut, so its drop path drops the whole output.
            assert block.drop_path.prob == pytest.approx(expected)
        else:
            assert isinstance(block, (UniversalInvertedResidual, MobileAttention))
            assert block.drop_path.prob == pytest.approx(expected)
    assert model.conv_stem.drop_path is None and model.conv_head.drop_path is None


def test_drop_path_function(paddle) -> None:
    from mlcls_cli.models.backbones.mobilenet_v4 import drop_path

    x = paddle.ones([4000, 2, 3, 3])
    out = drop_path(x, 0.25, training=True).numpy()
    per_sample = out.reshape(4000, -1)
    assert (per_sample == per_sample[:, :1]).all()  # whole samples kept or dropped
    np.testing.assert_allclose(np.unique(per_sample), [0.0, 1 / 0.75], rtol=1e-6)
    assert 0.22 < (per_sample[:, 0] == 0).mean() < 0.28
    assert drop_path(x, 0.25, training=False) is x


@pytest.mark.filterwarnings("ignore:When training, we now always track")
@pytest.mark.parametrize("kind", ["conv", "uib", "attention"])
def test_drop_path_drops_the_branch_in_training(paddle, kind: str) -> None:
    from mlcls_cli.models.backbones.mobilenet_v4 import (
        MQA,
        UIB,
        ConvBnAct,
        MobileAttention,
        UniversalInvertedResidual,
    )

    if kind == "conv":  # no shortcut: a dropped sample is all zeros
        block = ConvBnAct(8, 8, 1, act="relu", drop_path_rate=0.75)
    elif kind == "uib":
        block = UniversalInvertedResidual(8, UIB(8, 16, 3, 3, 1), "relu", True, drop_path_rate=0.75)
    else:
        block = MobileAttention(8, MQA(8, 4, 3, 2, 2), True, drop_path_rate=0.75)
    x = paddle.rand([400, 8, 4, 4]) + 0.5
    block.train()
    out = block(x).numpy().reshape(400, -1)
    base = np.zeros_like(out) if kind == "conv" else x.numpy().reshape(400, -1)
    dropped = (out == base).all(axis=1)
    assert 0.65 < dropped.mean() < 0.85
    block.eval()
    assert not (block(x).numpy().reshape(400, -1) == base).all(axis=1).any()


@pytest.mark.filterwarnings("ignore:When training, we now always track")
def test_training_randomness_is_drop_path_only(paddle) -> None:
    # PaddleClas builds a classifier dropout but never applies it: without drop path, training is deterministic.
    from mlcls_cli.models.backbones.mobilenet_v4 import build_mobilenet_v4

    x = paddle.rand([4, 3, 64, 64])
    model = build_mobilenet_v4(3, "conv_small", drop_path_rate=0.0)
    model.train()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())
    model = build_mobilenet_v4(3, "conv_small", drop_path_rate=0.5)
    model.train()
    assert np.abs(model(x).numpy() - model(x).numpy()).max() > 0


def test_layer_scale_only_in_hybrids(paddle) -> None:
    from mlcls_cli.models.backbones.mobilenet_v4 import MobileAttention, build_mobilenet_v4

    with paddle.LazyGuard():
        conv = build_mobilenet_v4(10, "conv_medium")
    assert not any("layer_scale" in key for key in conv.state_dict())
    hybrid = build_mobilenet_v4(10, "hybrid_medium")
    attention = [block for block in hybrid.blocks if isinstance(block, MobileAttention)]
    assert len(attention) == 8
    assert [block.key_down_proj is not None for block in attention] == [True] * 4 + [False] * 4
    np.testing.assert_array_equal(attention[0].layer_scale.gamma.numpy(), np.full([160], 1e-5, "float32"))
    assert attention[0].scale == pytest.approx(256**-0.5)


@pytest.mark.parametrize("variant", list(RECIPE_DROP_PATH))
def test_activation_is_relu_or_exact_gelu(paddle, variant: str) -> None:
    # The goldens cannot tell exact from tanh GELU (hybrid_large's logits differ by ~1e-4 relative).
    from math import erf, sqrt

    from mlcls_cli.models.backbones.mobilenet_v4 import build_mobilenet_v4

    with paddle.LazyGuard():
        model = build_mobilenet_v4(10, variant)
    x = np.linspace(-4, 4, 81).astype("float32")
    if variant == "hybrid_large":
        expected = 0.5 * x * (1 + np.array([erf(v / sqrt(2)) for v in x]))
    else:
        expected = np.maximum(x, 0)
    for act in (model.conv_stem.act, model.blocks[-2].pw_exp.act, model.conv_head.act):
        np.testing.assert_allclose(act(paddle.to_tensor(x)).numpy(), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("MobileNetV4_conv_small", (96, 128)),
        ("MobileNetV4_hybrid_medium", (96, 128)),
        ("MobileNetV4_hybrid_medium", (200, 200)),
    ],
)
def test_second_input_size(paddle, name: str, size: tuple[int, int]) -> None:
    # 200 px puts a 13 x 13 map into the strided attention (7 x 7 keys), where PaddleClas's reshape fails.
    from mlcls_cli.models import build_model

    model = build_model(name, 3)
    golden.fill(model, 1.0)
    model.eval()
    h, w = size
    x = paddle.rand([2, 3, h, w])
    assert list(model.forward_features(x).shape) == [2, 960, -(-h // 32), -(-w // 32)]
    out = model(x).numpy()
    assert out.shape == (2, 3) and np.isfinite(out).all()
    assert np.abs(out[0] - out[1]).max() > 0


@pytest.mark.slow
def test_hybrid_exports_with_a_dynamic_batch(paddle, tmp_path) -> None:
    from paddle.static import InputSpec

    from mlcls_cli.models import build_model

    model = build_model("MobileNetV4_hybrid_medium", 4)
    golden.fill(model, 1.0)
    model.eval()
    x = paddle.to_tensor(golden.golden_input(64, batch=3))
    with paddle.no_grad():
        expected = model(x).numpy()
    spec = [InputSpec([None, 3, 64, 64], "float32", "x")]
    paddle.jit.save(
        paddle.jit.to_static(model, input_spec=spec, full_graph=True), str(tmp_path / "inference")
    )
    loaded = paddle.jit.load(str(tmp_path / "inference"))
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_unknown_variant_raises() -> None:
    from mlcls_cli.models.backbones.mobilenet_v4 import build_mobilenet_v4

    with pytest.raises(ValueError, match="hybrid_small"):
        build_mobilenet_v4(10, "hybrid_small")
