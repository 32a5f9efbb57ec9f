"""PP-LCNet, multi-label (ML-Decoder head) and single-label (PaddleClas head): layout, all scales, the x0.8 at eval."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models import golden
from tests.models.shared_checks import (
    assert_forward_at,
    assert_matches_golden,
    assert_paddleclas_layout,
    family_models,
    golden_model,
)
from tests.models.tsv import read_tsv, state_dict_rows, total_numel

pytestmark = pytest.mark.paddle

# models.md 5.1: conv1, blocks2 .. blocks6 output widths and single-label trainable params (M, 1000 classes).
SCALE_TABLE = {
    "x0_25": ((8, 8, 16, 32, 64, 128), 1.521),
    "x0_35": ((8, 16, 24, 48, 88, 176), 1.643),
    "x0_5": ((8, 16, 32, 64, 128, 256), 1.880),
    "x0_75": ((16, 24, 48, 96, 192, 384), 2.357),
    "x1_0": ((16, 32, 64, 128, 256, 512), 2.953),
    "x1_5": ((24, 48, 96, 192, 384, 768), 4.500),
    "x2_0": ((32, 64, 128, 256, 512, 1024), 6.522),
    "x2_5": ((40, 80, 160, 320, 640, 1280), 9.018),
}


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def lcnet(paddle):
    from mlcls_cli.models.backbones.pp_lcnet import build_pp_lcnet_ml

    paddle.seed(7)
    model = build_pp_lcnet_ml("x1_0", class_num=80)
    model.eval()
    return model


def test_state_dict_equals_paddleclas(lcnet) -> None:
    assert state_dict_rows(lcnet) == read_tsv("PP-LCNet_x1_0_ML")


def test_total_numel(lcnet) -> None:
    assert total_numel(lcnet) == 8_304_752


def test_forward_small_batch(paddle, lcnet) -> None:
    out = lcnet(paddle.rand([2, 3, 64, 64]))
    assert list(out.shape) == [2, 80]
    assert np.isfinite(out.numpy()).all()


def test_forward_448(paddle, lcnet) -> None:
    assert list(lcnet(paddle.rand([1, 3, 448, 448])).shape) == [1, 80]


def test_features_are_stride_32(paddle, lcnet) -> None:
    assert list(lcnet.forward_features(paddle.rand([1, 3, 96, 128])).shape) == [1, 512, 3, 4]


def test_eval_scales_the_decoder_input_by_0_8(paddle) -> None:
    from mlcls_cli.models.backbones.pp_lcnet import build_pp_lcnet_ml

    model = build_pp_lcnet_ml("x0_25", class_num=4)
    rng = np.random.default_rng(0)
    for name, value in model.state_dict().items():  # a head far from its near-linear init
        if name.startswith("fc.") and "norm" not in name:
            fan_in = value.shape[1] if len(value.shape) == 4 else value.shape[0]
            value.set_value(
                paddle.to_tensor(rng.normal(0, 3 / fan_in**0.5, size=value.shape).astype("float32"))
            )
    model.eval()
    x = paddle.rand([2, 3, 64, 64])
    # A fresh backbone's features are ~1e-7; rescale last_conv so the decoder sees O(1) values.
    pre = model.last_conv(model.forward_features(x))
    model.last_conv.weight.set_value(model.last_conv.weight / pre.abs().mean())
    feat = model.act(model.last_conv(model.forward_features(x)))
    with_factor = model.fc(feat * 0.8).numpy()
    without = model.fc(feat).numpy()
    got = model(x).numpy()
    np.testing.assert_allclose(got, with_factor, rtol=1e-5, atol=1e-5)
    assert np.abs(got - without).max() > 1e-2


def test_dropout_is_downscale_in_infer(lcnet) -> None:
    assert lcnet.dropout.p == pytest.approx(0.2)
    assert lcnet.dropout.mode == "downscale_in_infer"


@pytest.mark.parametrize("scale", list(SCALE_TABLE))
def test_every_scale_has_the_published_widths(paddle, scale: str) -> None:
    from mlcls_cli.models.backbones.pp_lcnet import build_pp_lcnet_ml

    (c1, c2, c3, c4, c5, c6), trainable_m = SCALE_TABLE[scale]
    model = build_pp_lcnet_ml(scale, class_num=3)
    sd = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert sd["conv1.conv.weight"] == [c1, 3, 3, 3]
    assert sd["blocks2.0.pw_conv.conv.weight"] == [c2, c1, 1, 1]
    assert sd["blocks3.1.dw_conv.conv.weight"] == [c3, 1, 3, 3]
    assert sd["blocks4.1.pw_conv.conv.weight"] == [c4, c4, 1, 1]
    assert sd["blocks5.5.dw_conv.conv.weight"] == [c5, 1, 5, 5]
    assert sd["blocks6.0.se.conv1.weight"] == [c5 // 4, c5, 1, 1]
    assert sd["blocks6.1.se.conv2.weight"] == [c6, c6 // 4, 1, 1]
    assert sd["last_conv.weight"] == [1280, c6, 1, 1]
    assert sd["fc.input_proj.weight"] == [768, 1280, 1, 1]
    # The published single-label count is this backbone plus a 1280 -> 1000 linear classifier.
    backbone = sum(
        int(np.prod(p.shape))
        for n, p in model.named_parameters()
        if not p.stop_gradient and not n.startswith("fc.")
    )
    assert round((backbone + 1280 * 1000 + 1000) / 1e6, 3) == trainable_m
    model.eval()
    assert list(model(paddle.rand([1, 3, 32, 32])).shape) == [1, 3]


def test_make_divisible() -> None:
    from mlcls_cli.models.backbones.pp_lcnet import make_divisible

    assert [make_divisible(v) for v in (4.0, 5.6, 11.2, 22.4, 89.6, 179.2, 12.0)] == [
        8,
        8,
        16,
        24,
        88,
        176,
        16,
    ]


def test_unknown_scale_raises() -> None:
    from mlcls_cli.models.backbones.pp_lcnet import build_pp_lcnet_ml

    with pytest.raises(ValueError, match="x3_0"):
        build_pp_lcnet_ml("x3_0")


# ---------------------------------------------------------------- single-label PP-LCNet_x* (PaddleClas PPLCNet)

CLS_MODELS = family_models("PP-LCNet")


def test_all_eight_scales_are_registered() -> None:
    assert [f"PP-LCNet_{scale}" for scale in SCALE_TABLE] == CLS_MODELS


@pytest.mark.parametrize("name", CLS_MODELS)
def test_single_label_layout_equals_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


def test_x0_25_matches_paddleclas_golden(paddle) -> None:
    assert_matches_golden("PP-LCNet_x0_25")


def test_one_backbone_for_both_tasks(paddle) -> None:
    from mlcls_cli.models import build_model
    from mlcls_cli.models.ml_decoder import MLDecoder

    with paddle.LazyGuard():
        single = build_model("PP-LCNet_x1_0", 1000)
        multi = build_model("PP-LCNet_x1_0_ML", 80)
    assert type(single) is type(multi)
    assert isinstance(single.fc, paddle.nn.Linear) and isinstance(multi.fc, MLDecoder)
    backbone = [row for row in state_dict_rows(single) if not row[0].startswith("fc.")]
    assert backbone == [row for row in state_dict_rows(multi) if not row[0].startswith("fc.")]
    assert backbone[-1] == ("last_conv.weight", [1280, 512, 1, 1])


def test_single_label_head_pools_first_and_scales_by_0_8_at_eval(paddle) -> None:
    """avg pool -> last_conv -> Hardswish -> x0.8 -> flatten -> fc (PaddleClas's order)."""
    import paddle.nn.functional as F

    model = golden_model("PP-LCNet_x0_25")
    x = paddle.to_tensor(golden.golden_input(64))
    with paddle.no_grad():
        pooled = model.forward_features(x).mean(axis=[2, 3], keepdim=True)
        neck = F.hardswish(model.last_conv(pooled)).flatten(1)
        got = model(x).numpy()
        want = model.fc(0.8 * neck).numpy()
        unscaled = model.fc(neck).numpy()
        pooled_last = model.fc(
            0.8 * F.hardswish(model.last_conv(model.forward_features(x))).mean(axis=[2, 3])
        )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.abs(got - unscaled).max() > 1e-2
    assert np.abs(got - pooled_last.numpy()).max() > 1e-2


def test_single_label_dropout_keeps_values_unscaled_in_training(paddle) -> None:
    from mlcls_cli.models import build_model

    with paddle.LazyGuard():
        model = build_model("PP-LCNet_x0_25", 10)
    assert model.dropout.p == pytest.approx(0.2)
    model.train()
    paddle.seed(0)
    out = model.dropout(paddle.ones([20_000])).numpy()
    assert set(np.unique(out).tolist()) == {0.0, 1.0}  # dropped or kept as is, never / 0.8
    assert 0.18 < (out == 0).mean() < 0.22


def test_single_label_forward_at_another_size(paddle) -> None:
    assert_forward_at(golden_model("PP-LCNet_x0_25"), 97, 131, 10)


def test_single_label_unknown_scale_raises() -> None:
    from mlcls_cli.models.backbones.pp_lcnet import build_pp_lcnet

    with pytest.raises(ValueError, match="x3_0"):
        build_pp_lcnet(10, "x3_0")


def test_head_kinds(paddle) -> None:
    """None leaves the classifier out (the model returns the last_conv map); unknown kinds and misplaced options fail."""
    from mlcls_cli.models.backbones.pp_lcnet import PPLCNet

    with paddle.LazyGuard():
        bare = PPLCNet(0.25, head=None)
    assert not any(key.startswith("fc.") for key in bare.state_dict())
    golden.fill(bare)
    bare.eval()
    with paddle.no_grad():
        assert list(bare(paddle.rand([1, 3, 64, 96])).shape) == [1, 1280, 2, 3]
    with pytest.raises(ValueError, match="softmax"):
        PPLCNet(0.25, head="softmax")
    with pytest.raises(TypeError, match="query_num"):
        PPLCNet(0.25, head="linear", query_num=4)
