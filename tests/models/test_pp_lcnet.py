"""PP-LCNet with the ML-Decoder head: PaddleClas layout, all scales, the eval-time dropout factor."""

from __future__ import annotations

import numpy as np
import pytest

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
