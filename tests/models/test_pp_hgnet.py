"""PP-HGNet (tiny, small, base): PaddleClas layout, golden logits, HG block and ESE by hand, head dropout, export."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models import golden
from tests.models.shared_checks import (
    assert_exports,
    assert_forward_at,
    assert_matches_golden,
    assert_paddleclas_layout,
    family_models,
    golden_model,
)

pytestmark = pytest.mark.paddle

MODELS = family_models("PP-HGNet")


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def tiny(paddle):
    return golden_model("PP-HGNet_tiny")


def test_three_sizes_are_registered() -> None:
    assert sorted(MODELS) == ["PP-HGNet_base", "PP-HGNet_small", "PP-HGNet_tiny"]


@pytest.mark.parametrize("name", MODELS)
def test_layout_equals_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


def test_tiny_matches_paddleclas_golden(tiny) -> None:
    assert_matches_golden("PP-HGNet_tiny", tiny)


def test_base_matches_paddleclas_golden(paddle) -> None:
    """base: 7 convolutions per block and the x0.8 dropout before the classifier."""
    assert_matches_golden("PP-HGNet_base")


def test_forward_at_another_size(tiny) -> None:
    assert_forward_at(tiny, 96, 160, 10)


def test_dropout_before_the_classifier(paddle) -> None:
    from mlcls_cli.models import build_model

    with paddle.LazyGuard():
        probs = {name: build_model(name, 10).dropout for name in MODELS}
    assert {name: d.p for name, d in probs.items()} == {
        "PP-HGNet_base": 0.2,
        "PP-HGNet_small": 0.0,
        "PP-HGNet_tiny": 0.0,
    }
    assert all(d.mode == "downscale_in_infer" for d in probs.values())


def test_head_is_pool_conv_relu_without_scaling_for_tiny(paddle, tiny) -> None:
    x = paddle.to_tensor(golden.golden_input(64))
    with paddle.no_grad():
        pooled = tiny.forward_features(x).mean(axis=[2, 3], keepdim=True)
        want = tiny.fc(paddle.nn.functional.relu(tiny.last_conv(pooled)).flatten(1)).numpy()
        got = tiny(x).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_hg_block_by_hand(paddle) -> None:
    """Chained 3x3 convs, concat with the input, 1x1 aggregation, ESE gate (sigmoid), identity added."""
    import paddle.nn.functional as F

    from mlcls_cli.models.backbones.pp_hgnet import HGBlock

    block = HGBlock(6, 4, 6, layer_num=3, identity=True)
    golden.fill(block, 1.0)
    block.eval()
    x = paddle.to_tensor(np.random.default_rng(3).standard_normal((2, 6, 7, 5)).astype("float32"))
    with paddle.no_grad():
        got = block(x).numpy()
        outs = [x]
        for layer in block.layers:
            outs.append(F.relu(layer.bn(layer.conv(outs[-1]))))
        agg = block.aggregation_conv
        y = F.relu(agg.bn(agg.conv(paddle.concat(outs, axis=1))))
        gate = 1 / (1 + np.exp(-block.att.conv(y.mean(axis=[2, 3], keepdim=True)).numpy()))
        want = y.numpy() * gate + x.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_stage_structure(paddle) -> None:
    from mlcls_cli.models import build_model

    with paddle.LazyGuard():
        model = build_model("PP-HGNet_base", 10)
    assert [layer.conv._stride[0] for layer in model.stem] == [2, 1, 1]
    assert [stage.downsample is not None for stage in model.stages] == [False, True, True, True]
    assert [stage.downsample.conv._groups for stage in model.stages[1:]] == [320, 640, 960]
    assert [[b.identity for b in stage.blocks] for stage in model.stages] == [
        [False],
        [False, True],
        [False, True, True],
        [False, True],
    ]
    assert all(len(b.layers) == 7 for stage in model.stages for b in stage.blocks)


@pytest.mark.slow
def test_exports_to_legacy(paddle, tiny, tmp_path) -> None:
    assert_exports(tiny, tmp_path)


def test_unknown_variant_raises() -> None:
    from mlcls_cli.models.backbones.pp_hgnet import build_pp_hgnet

    with pytest.raises(ValueError, match="large"):
        build_pp_hgnet(10, "large")
