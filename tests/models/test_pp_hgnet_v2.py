"""PP-HGNetV2, multi-label (ML-Decoder head) and single-label (PaddleClas head): layout, stem padding, lab, all sizes."""

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


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


def _build(variant: str, class_num: int = 80):
    from mlcls_cli.models.backbones.pp_hgnet_v2 import build_pp_hgnetv2_ml

    model = build_pp_hgnetv2_ml(variant, class_num=class_num)
    model.eval()
    return model


@pytest.fixture(scope="module")
def b0(paddle):
    paddle.seed(11)
    return _build("B0")


@pytest.fixture(scope="module")
def b4(paddle):
    return _build("B4")


@pytest.fixture(scope="module")
def b6(paddle):
    return _build("B6")


@pytest.mark.parametrize(
    ("fixture", "name", "numel"),
    [
        ("b0", "PP-HGNetV2-B0_ML", 11_171_934),
        ("b4", "PP-HGNetV2-B4_ML", 25_005_488),
        pytest.param("b6", "PP-HGNetV2-B6_ML", 80_586_304, marks=pytest.mark.slow),  # builds B6 (~3 s)
    ],
)
def test_state_dict_and_numel_equal_paddleclas(request, fixture: str, name: str, numel: int) -> None:
    model = request.getfixturevalue(fixture)
    assert state_dict_rows(model) == read_tsv(name)
    assert total_numel(model) == numel


@pytest.mark.parametrize("fixture", ["b0", "b4", "b6"])
def test_forward_small_batch(request, paddle, fixture: str) -> None:
    out = request.getfixturevalue(fixture)(paddle.rand([2, 3, 64, 64]))
    assert list(out.shape) == [2, 80]
    assert np.isfinite(out.numpy()).all()


def test_b0_forward_448(paddle, b0) -> None:
    assert list(b0(paddle.rand([1, 3, 448, 448])).shape) == [1, 80]


def test_b0_feature_strides(paddle, b0) -> None:
    x = paddle.rand([1, 3, 128, 96])
    x = b0.stem(x)
    shapes = [list(x.shape)]
    for stage in b0.stages:
        x = stage(x)
        shapes.append(list(x.shape))
    assert shapes == [[1, 16, 32, 24], [1, 64, 32, 24], [1, 256, 16, 12], [1, 512, 8, 6], [1, 1024, 4, 3]]


def test_stem_uses_paddle_same_padding(paddle, b0) -> None:
    """The 2x2 convs and the max-pool pad 0 before and 1 after, like Paddle's padding="SAME"."""
    import paddle.nn.functional as F

    stem = b0.stem
    x = paddle.rand([2, 16, 9, 7]) - 0.5  # odd sizes, negative values: a zero pad would show in the max-pool
    conv = stem.stem2a.conv
    np.testing.assert_allclose(
        conv(stem.stem2a.pad(x)).numpy(),
        F.conv2d(x, conv.weight, padding="SAME").numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_array_equal(
        stem.pool(stem.pool_pad(x)).numpy(), F.max_pool2d(x, 2, 1, padding="SAME", ceil_mode=True).numpy()
    )
    assert list(stem.pool(stem.pool_pad(x)).shape) == [2, 16, 9, 7]


def test_stem_concatenates_pool_branch_first(paddle, b0) -> None:
    import paddle.nn.functional as F

    stem = b0.stem
    x = paddle.rand([1, 3, 32, 32])
    y1 = stem.stem1(x)
    pooled = F.max_pool2d(y1, 2, 1, padding="SAME", ceil_mode=True)
    branch = stem.stem2b(stem.stem2a(y1))
    want = stem.stem4(stem.stem3(paddle.concat([pooled, branch], axis=1)))
    np.testing.assert_allclose(stem(x).numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


def test_lab_comes_after_relu(paddle) -> None:
    from mlcls_cli.models.backbones.pp_hgnet_v2 import ConvBNAct

    layer = ConvBNAct(4, 6, 3, use_lab=True)
    layer.eval()
    layer.lab.scale.set_value(paddle.to_tensor([-2.0]))
    layer.lab.bias.set_value(paddle.to_tensor([0.5]))
    x = paddle.randn([1, 4, 5, 5])
    pre = layer.bn(layer.conv(x)).numpy()
    np.testing.assert_allclose(layer(x).numpy(), -2.0 * np.maximum(pre, 0) + 0.5, rtol=1e-6, atol=1e-6)


def test_b0_head_input_is_lab_of_relu(paddle, b0) -> None:
    seen = []
    hook = b0.fc.register_forward_pre_hook(lambda layer, inputs: seen.append(inputs[0].numpy()))
    b0.lab.scale.set_value(paddle.to_tensor([-1.5]))
    b0.lab.bias.set_value(paddle.to_tensor([-0.25]))
    try:
        x = paddle.rand([1, 3, 64, 64])
        pre = b0.last_conv(b0.forward_features(x)).numpy()
        b0(x)
    finally:
        hook.remove()
        b0.lab.scale.set_value(paddle.to_tensor([1.0]))
        b0.lab.bias.set_value(paddle.to_tensor([0.0]))
    # ReLU then affine: mostly -0.25 here; affine then ReLU would give zeros.
    np.testing.assert_allclose(seen[0], -1.5 * np.maximum(pre, 0) - 0.25, rtol=1e-6, atol=1e-6)


def test_no_lab_without_activation(b0, b4) -> None:
    keys = list(b0.state_dict())
    assert "stem.stem1.lab.scale" in keys
    assert "stages.2.blocks.0.layers.0.conv2.lab.scale" in keys
    assert not any(
        k.startswith("stages.2.blocks.0.layers.0.conv1.lab") for k in keys
    )  # 1x1 of the light conv
    assert not any(k.startswith("stages.1.downsample.lab") for k in keys)
    assert b0.stages[1].downsample.act is None
    assert not any(".lab." in k or k.startswith("lab.") for k in b4.state_dict())


def test_lab_learning_rate_multiplier(b0) -> None:
    assert b0.lab.scale.optimize_attr["learning_rate"] == pytest.approx(0.01)


# Single-label trainable parameters (M, 1000 classes) from models.md 5.2; B0/B4/B6 are covered above.
@pytest.mark.parametrize(
    ("variant", "trainable_m"), [("B1", 6.343), ("B2", 11.221), ("B3", 16.292), ("B5", 39.569)]
)
def test_other_variants_match_published_sizes(paddle, variant: str, trainable_m: float) -> None:
    model = _build(variant, class_num=2)
    backbone = sum(
        int(np.prod(p.shape))
        for n, p in model.named_parameters()
        if not p.stop_gradient and not n.startswith("fc.")
    )
    assert round((backbone + 2048 * 1000 + 1000) / 1e6, 3) == trainable_m
    assert list(model(paddle.rand([1, 3, 32, 32])).shape) == [1, 2]


def test_unknown_variant_raises() -> None:
    with pytest.raises(ValueError, match="B9"):
        _build("B9")


# ---------------------------------------------------------------- single-label PP-HGNetV2-B* (PaddleClas PPHGNetV2)

CLS_MODELS = family_models("PP-HGNetV2")


def test_all_seven_sizes_are_registered() -> None:
    assert [f"PP-HGNetV2-B{i}" for i in range(7)] == CLS_MODELS


@pytest.mark.parametrize("name", CLS_MODELS)
def test_single_label_layout_equals_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


# B0 has the learnable affine blocks (lab) of B0-B3, B4 has none (like B5-B6).
@pytest.mark.parametrize("name", ["PP-HGNetV2-B0", "PP-HGNetV2-B4"])
def test_single_label_matches_paddleclas_golden(paddle, name: str) -> None:
    assert_matches_golden(name)


@pytest.mark.parametrize("size", ["B0", "B4", "B6"])
def test_one_backbone_for_both_tasks(paddle, size: str) -> None:
    from mlcls_cli.models import build_model
    from mlcls_cli.models.ml_decoder import MLDecoder

    with paddle.LazyGuard():
        single = build_model(f"PP-HGNetV2-{size}", 1000)
        multi = build_model(f"PP-HGNetV2-{size}_ML", 80)
    assert type(single) is type(multi)
    assert isinstance(single.fc, paddle.nn.Linear) and isinstance(multi.fc, MLDecoder)
    backbone = [row for row in state_dict_rows(single) if not row[0].startswith("fc.")]
    assert backbone == [row for row in state_dict_rows(multi) if not row[0].startswith("fc.")]


def test_single_label_head_is_pool_conv_relu_lab_without_dropout_scaling(paddle) -> None:
    """avg pool -> last_conv -> ReLU -> lab (B0-B3) -> dropout p=0 (x1) -> flatten -> fc."""
    model = golden_model("PP-HGNetV2-B0")
    assert model.dropout.p == 0
    assert "lab.scale" in model.state_dict()
    x = paddle.to_tensor(golden.golden_input(64))
    with paddle.no_grad():
        pooled = model.forward_features(x).mean(axis=[2, 3], keepdim=True)
        neck = paddle.nn.functional.relu(model.last_conv(pooled))
        got = model(x).numpy()
        want = model.fc(model.lab(neck).flatten(1)).numpy()
        without_lab = model.fc(neck.flatten(1)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert np.abs(got - without_lab).max() > 1e-3  # the golden weights' lab is not the identity
    b4 = golden_model("PP-HGNetV2-B4")
    assert b4.lab is None and b4.dropout.p == 0


def test_single_label_forward_at_another_size(paddle) -> None:
    assert_forward_at(golden_model("PP-HGNetV2-B0"), 96, 160, 10)
