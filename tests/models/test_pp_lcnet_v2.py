"""PP-LCNetV2 (small, base, large): PaddleClas layout, golden logits, re-parameterisation, SE, head, export."""

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

MODELS = family_models("PP-LCNetV2")


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def small(paddle):
    return golden_model("PP-LCNetV2_small")


def test_three_sizes_are_registered() -> None:
    assert sorted(MODELS) == ["PP-LCNetV2_base", "PP-LCNetV2_large", "PP-LCNetV2_small"]


@pytest.mark.parametrize("name", MODELS)
def test_layout_equals_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


def test_small_matches_paddleclas_golden(small) -> None:
    assert_matches_golden("PP-LCNetV2_small", small)


def test_forward_at_another_size(small) -> None:
    assert_forward_at(small, 96, 160, 10)


def test_re_parameterize_keeps_the_eval_output(paddle) -> None:
    from mlcls_cli.models.backbones.pp_lcnet_v2 import RepDepthwiseSeparable

    model = golden_model("PP-LCNetV2_small")
    x = paddle.to_tensor(golden.golden_input(64))
    rep_blocks = [b for b in model.sublayers() if isinstance(b, RepDepthwiseSeparable) and b.use_rep]
    assert len(rep_blocks) == 6  # stages 3 and 4 of small: 4 + 2 blocks
    before_weights = rep_blocks[0].dw_conv.weight.numpy().copy()
    with paddle.no_grad():
        before = model(x).numpy()
        model.re_parameterize()
        after = model(x).numpy()
        model.re_parameterize()  # a second call changes nothing
        again = model(x).numpy()
    assert all(b.is_repped for b in rep_blocks)
    assert np.abs(rep_blocks[0].dw_conv.weight.numpy() - before_weights).max() > 1e-3
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4 * np.abs(before).max())
    np.testing.assert_array_equal(again, after)


def test_depthwise_branches(paddle) -> None:
    """Kernel sizes 5, 3 (and 1 unless strided), each batch-normed, summed, then ReLU; plain blocks keep ReLU in dw_conv."""
    from mlcls_cli.models import build_model

    with paddle.LazyGuard():
        model = build_model("PP-LCNetV2_base", 10)
    stage3, stage4 = model.stages[2], model.stages[3]
    kernels = [[branch.conv.weight.shape[-1] for branch in block.dw_conv_list] for block in stage3]
    assert kernels == [[5, 3]] + [[5, 3, 1]] * 5
    assert [b.dw_conv._stride[0] for b in stage4] == [2, 1]
    assert all(b.dw_conv.bias is not None for b in [*stage3, *stage4])
    assert not model.stages[0][0].use_rep and model.stages[0][0].dw_conv.act is not None


def test_rep_block_forward_by_hand(paddle) -> None:
    import paddle.nn.functional as F

    from mlcls_cli.models.backbones.pp_lcnet_v2 import RepDepthwiseSeparable

    block = RepDepthwiseSeparable(8, 8, stride=1, kernel_size=5, split_pw=True, use_rep=True, use_se=True)
    golden.fill(block, 1.0)
    block.eval()
    x = paddle.to_tensor(np.random.default_rng(4).standard_normal((2, 8, 9, 9)).astype("float32"))
    with paddle.no_grad():
        got = block(x).numpy()
        y = F.relu(sum(branch(x) for branch in block.dw_conv_list))
        se = block.se
        gate = 1 / (1 + np.exp(-se.conv2(F.relu(se.conv1(y.mean(axis=[2, 3], keepdim=True)))).numpy()))
        y = paddle.to_tensor(y.numpy() * gate)
        want = block.pw_conv_2(block.pw_conv_1(y)).numpy()
    assert not block.use_shortcut  # use_shortcut was not asked for
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_residual_only_in_stage_4_after_its_first_block(paddle) -> None:
    from mlcls_cli.models import build_model

    with paddle.LazyGuard():
        model = build_model("PP-LCNetV2_large", 10)
    assert [[b.use_shortcut for b in stage] for stage in model.stages] == [
        [False, False],
        [False, False],
        [False] * 8,
        [False, True],
    ]
    assert [[b.se is not None for b in stage] for stage in model.stages][2:] == [[True] * 8, [False, False]]


def test_head_scales_by_0_8_at_eval(paddle, small) -> None:
    """avg pool -> last_conv -> ReLU -> Dropout(0.2, downscale_in_infer) -> flatten -> fc."""
    x = paddle.to_tensor(golden.golden_input(64))
    with paddle.no_grad():
        pooled = small.forward_features(x).mean(axis=[2, 3], keepdim=True)
        neck = paddle.nn.functional.relu(small.last_conv(pooled)).flatten(1)
        got = small(x).numpy()
        want = small.fc(0.8 * neck).numpy()
    assert small.dropout.p == pytest.approx(0.2) and small.dropout.mode == "downscale_in_infer"
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.abs(got - small.fc(neck).numpy()).max() > 1e-3


@pytest.mark.slow
def test_exports_to_legacy_and_onnx(paddle, tmp_path) -> None:
    """The sigmoid gates trace into the legacy graph too (paddle 3.3 binds sigmoid for dygraph/PIR only)."""
    assert_exports(golden_model("PP-LCNetV2_small"), tmp_path, onnx=True)


def test_unknown_variant_raises() -> None:
    from mlcls_cli.models.backbones.pp_lcnet_v2 import build_pp_lcnet_v2

    with pytest.raises(ValueError, match="tiny"):
        build_pp_lcnet_v2(10, "tiny")
