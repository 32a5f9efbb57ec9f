"""ResNet50_ML and the single-label ResNets (vb and vd): PaddleClas layout, sizes, blocks and shortcuts by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models.shared_checks import (
    assert_exports,
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


@pytest.fixture(scope="module")
def resnet(paddle):
    from mlcls_cli.models.backbones.resnet import build_resnet50_ml

    paddle.seed(11)
    model = build_resnet50_ml(80)
    model.eval()
    return model


def test_state_dict_equals_paddleclas(resnet) -> None:
    assert state_dict_rows(resnet) == read_tsv("ResNet50_ML")


def test_total_numel(resnet) -> None:
    assert total_numel(resnet) == 30_773_264


def test_backbone_numel_without_head(paddle) -> None:
    from mlcls_cli.models.backbones.resnet import ResNet50

    backbone = ResNet50()
    assert total_numel(backbone) == 23_561_152
    assert not any(key.startswith("fc.") for key in backbone.state_dict())


def test_official_layout_loads_completely(paddle) -> None:
    from mlcls_cli.models.backbones.resnet import build_resnet50_ml

    model = build_resnet50_ml(80)
    rng = np.random.default_rng(0)
    state = {key: rng.standard_normal(shape).astype("float32") for key, shape in read_tsv("ResNet50_ML")}
    missing, unexpected = model.set_state_dict(state)
    assert list(missing) == [] and list(unexpected) == []
    loaded = model.state_dict()
    for key in ("stem.0.conv.weight", "blocks.13.short.bn._variance", "fc.group_conv.bias"):
        np.testing.assert_array_equal(loaded[key].numpy(), state[key])


def test_forward_small(paddle, resnet) -> None:
    with paddle.no_grad():
        out = resnet(paddle.rand([2, 3, 64, 64]))
    assert list(out.shape) == [2, 80]
    assert np.isfinite(out.numpy()).all()


def test_num_classes_sets_head_width(paddle) -> None:
    from mlcls_cli.models.backbones.resnet import build_resnet50_ml

    model = build_resnet50_ml(5)
    model.eval()
    with paddle.no_grad():
        assert list(model(paddle.rand([1, 3, 32, 32])).shape) == [1, 5]
    assert list(model.state_dict()["fc.group_conv.weight"].shape) == [5, 768, 1, 1]


def test_feature_map_is_stride_32(paddle) -> None:
    from mlcls_cli.models.backbones.resnet import ResNet50

    backbone = ResNet50()
    backbone.eval()
    with paddle.no_grad():
        assert list(backbone(paddle.rand([1, 3, 96, 64])).shape) == [1, 2048, 3, 2]


@pytest.mark.slow
def test_forward_448(paddle, resnet) -> None:
    with paddle.no_grad():
        assert list(resnet(paddle.rand([1, 3, 448, 448])).shape) == [1, 80]


def _randomize_bn(paddle, layer) -> None:
    """Give a ConvBNLayer non-trivial running statistics and affine parameters."""
    rng = np.random.default_rng(3)
    bn = layer.bn
    c = bn.weight.shape[0]
    bn.weight.set_value(rng.uniform(0.5, 1.5, c).astype("float32"))
    bn.bias.set_value(rng.normal(0, 0.1, c).astype("float32"))
    bn._mean.set_value(rng.normal(0, 0.1, c).astype("float32"))
    bn._variance.set_value(rng.uniform(0.5, 2.0, c).astype("float32"))


def _conv_bn(paddle, layer, x, stride: int, relu: bool):
    """conv (no bias, 'same' padding) then eval-mode batch norm, written from the spec."""
    import paddle.nn.functional as F

    w = layer.conv.weight
    y = F.conv2d(x, w, stride=stride, padding=(w.shape[-1] - 1) // 2)
    bn = layer.bn
    scale = bn.weight / paddle.sqrt(bn._variance + 1e-5)
    y = (y - bn._mean.reshape([1, -1, 1, 1])) * scale.reshape([1, -1, 1, 1]) + bn.bias.reshape([1, -1, 1, 1])
    return F.relu(y) if relu else y


def test_bottleneck_is_vb(paddle) -> None:
    """Stride on the 3x3, strided 1x1 projection shortcut, ReLU after the sum."""
    from mlcls_cli.models.backbones.resnet import BottleneckBlock

    paddle.seed(5)
    block = BottleneckBlock(64, 32, stride=2, project=True)
    for name in ("conv0", "conv1", "conv2", "short"):
        _randomize_bn(paddle, getattr(block, name))
    block.eval()
    x = paddle.rand([2, 64, 10, 10]) - 0.5
    with paddle.no_grad():
        got = block(x).numpy()
        y = _conv_bn(paddle, block.conv0, x, 1, True)
        y = _conv_bn(paddle, block.conv1, y, 2, True)
        y = _conv_bn(paddle, block.conv2, y, 1, False)
        want = paddle.nn.functional.relu(y + _conv_bn(paddle, block.short, x, 2, False)).numpy()
    assert got.shape == (2, 128, 5, 5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_stem_and_stage_strides(resnet) -> None:
    assert list(resnet.stem[0].conv.weight.shape) == [64, 3, 7, 7]
    strided = [i for i, block in enumerate(resnet.blocks) if block.conv1.conv._stride[0] == 2]
    assert strided == [3, 7, 13]
    assert all(block.conv0.conv._stride[0] == 1 for block in resnet.blocks)
    projected = [i for i, block in enumerate(resnet.blocks) if block.short is not None]
    assert projected == [0, 3, 7, 13]


# ---------------------------------------------------------------- single-label ResNet*, ResNet*_vd (PaddleClas ResNet)

CLS_MODELS = family_models("ResNet")


def test_eleven_resnets_are_registered() -> None:
    vb = [f"ResNet{d}" for d in (18, 34, 50, 101, 152)]
    vd = [f"ResNet{d}_vd" for d in (18, 34, 50, 101, 152, 200)]
    assert sorted(CLS_MODELS) == sorted(vb + vd)


@pytest.mark.parametrize("name", CLS_MODELS)
def test_single_label_layout_equals_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


# Basic (18) and bottleneck (50) blocks, each in vb and vd.
@pytest.mark.parametrize("name", ["ResNet18", "ResNet18_vd", "ResNet50", "ResNet50_vd"])
def test_single_label_matches_paddleclas_golden(paddle, name: str) -> None:
    assert_matches_golden(name)


def test_one_backbone_for_both_tasks(paddle) -> None:
    from mlcls_cli.models import build_model
    from mlcls_cli.models.ml_decoder import MLDecoder

    with paddle.LazyGuard():
        single = build_model("ResNet50", 1000)
        multi = build_model("ResNet50_ML", 80)
    assert type(single) is type(multi)
    assert isinstance(single.fc, paddle.nn.Linear) and isinstance(multi.fc, MLDecoder)
    backbone = [row for row in state_dict_rows(single) if not row[0].startswith("fc.")]
    assert backbone == [row for row in state_dict_rows(multi) if not row[0].startswith("fc.")]


def test_vd_stem_and_shortcuts(paddle) -> None:
    from mlcls_cli.models import build_model

    with paddle.LazyGuard():
        vd = build_model("ResNet34_vd", 10)
        vb = build_model("ResNet34", 10)
    assert [list(layer.conv.weight.shape) for layer in vd.stem] == [
        [32, 3, 3, 3],
        [32, 32, 3, 3],
        [64, 32, 3, 3],
    ]
    assert [layer.conv._stride[0] for layer in vd.stem] == [2, 1, 1]
    # Every stage's first block projects (even the first, 64 -> 64); vd pools there, except in the first.
    projected = [i for i, block in enumerate(vd.blocks) if block.short is not None]
    assert projected == [0, 3, 7, 13]
    assert [vd.blocks[i].short.pool is not None for i in projected] == [False, True, True, True]
    assert all(vd.blocks[i].short.conv._stride[0] == 1 for i in projected)
    assert [vb.blocks[i].short.conv._stride[0] for i in projected] == [1, 2, 2, 2]
    assert all(vb.blocks[i].short.pool is None for i in projected)
    # Basic blocks stride their first 3x3.
    assert [i for i, block in enumerate(vd.blocks) if block.conv0.conv._stride[0] == 2] == [3, 7, 13]


def _avg_pool_2x2_same(x: np.ndarray) -> np.ndarray:
    """2x2/2 average over the cells inside the image (an odd edge averages what is there)."""
    n, c, h, w = x.shape
    out = np.zeros((n, c, -(-h // 2), -(-w // 2)), dtype=np.float64)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean(axis=(2, 3))
    return out


def test_vd_shortcut_average_pools_without_counting_padding(paddle) -> None:
    from mlcls_cli.models.backbones.resnet import ConvBNLayer

    layer = ConvBNLayer(4, 6, 1, stride=2, act=False, avg_down=True)
    _randomize_bn(paddle, layer)
    layer.eval()
    x = np.random.default_rng(2).standard_normal((2, 4, 7, 9)).astype("float32")
    with paddle.no_grad():
        got = layer(paddle.to_tensor(x)).numpy()
    bn = layer.bn
    w = layer.conv.weight.numpy()[:, :, 0, 0]
    scale = bn.weight.numpy() / np.sqrt(bn._variance.numpy() + 1e-5)
    y = np.einsum("oc,nchw->nohw", w, _avg_pool_2x2_same(x))
    want = (y - bn._mean.numpy()[:, None, None]) * scale[:, None, None] + bn.bias.numpy()[:, None, None]
    assert got.shape == (2, 6, 4, 5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_single_label_fc_init_is_uniform_within_one_over_sqrt_fan_in(paddle) -> None:
    from mlcls_cli.models import build_model

    paddle.seed(1)
    weight = build_model("ResNet18", 1000).fc.weight.numpy()
    bound = 1 / np.sqrt(512)
    assert np.abs(weight).max() <= bound and np.abs(weight).max() > 0.99 * bound


def test_single_label_forward_at_another_size(paddle) -> None:
    """Odd sizes: the vd shortcuts pool a ragged edge."""
    assert_forward_at(golden_model("ResNet18_vd"), 97, 75, 10)


@pytest.mark.slow
def test_vd_exports_to_legacy_and_onnx(paddle, tmp_path) -> None:
    assert_exports(golden_model("ResNet18_vd"), tmp_path, onnx=True)


def test_unknown_variant_raises() -> None:
    from mlcls_cli.models.backbones.resnet import build_resnet

    with pytest.raises(ValueError, match="200'"):
        build_resnet(10, "200")  # PaddleClas has ResNet200_vd only
