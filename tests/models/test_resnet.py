"""ResNet50_ML: PaddleClas parameter layout, sizes, and the "vb" bottleneck checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

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
