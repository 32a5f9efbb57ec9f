"""MobileNetV1 x0.25 .. x1.0: PaddleClas layout and sizes, forward equal to PaddleClas's on every scale."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models.mobilenet_checks import assert_matches_golden, assert_paddleclas_layout, family_models

pytestmark = pytest.mark.paddle

MODELS = family_models("MobileNetV1")


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


def test_the_family_has_four_models() -> None:
    assert MODELS == ["MobileNetV1_x0_25", "MobileNetV1_x0_5", "MobileNetV1_x0_75", "MobileNetV1_x1_0"]


@pytest.mark.parametrize("name", MODELS)
def test_layout_and_size_equal_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


@pytest.mark.parametrize("name", MODELS)
def test_forward_equals_paddleclas(paddle, name: str) -> None:
    assert_matches_golden(name)


def test_widths_truncate_like_paddleclas(paddle) -> None:
    from mlcls_cli.models.backbones.mobilenet_v1 import build_mobilenet_v1

    model = build_mobilenet_v1(5, "x0_75")
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes["conv.conv.weight"] == [24, 3, 3, 3]
    assert shapes["blocks.0.depthwise_conv.conv.weight"] == [24, 1, 3, 3]
    assert shapes["blocks.12.pointwise_conv.conv.weight"] == [768, 768, 1, 1]
    assert model.out_channels == 768


def test_second_input_size(paddle) -> None:
    from mlcls_cli.models import build_model

    model = build_model("MobileNetV1_x0_25", 3)
    model.eval()
    assert list(model.forward_features(paddle.rand([2, 3, 96, 128])).shape) == [2, 256, 3, 4]
    out = model(paddle.rand([2, 3, 96, 128]))
    assert list(out.shape) == [2, 3] and np.isfinite(out.numpy()).all()


@pytest.mark.filterwarnings("ignore:When training, we now always track")
def test_training_forward_has_no_randomness(paddle) -> None:
    from mlcls_cli.models import build_model

    model = build_model("MobileNetV1_x0_25", 3)
    model.train()
    x = paddle.rand([4, 3, 64, 64])
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())


def test_unknown_variant_raises() -> None:
    from mlcls_cli.models.backbones.mobilenet_v1 import build_mobilenet_v1

    with pytest.raises(ValueError, match="x2_0"):
        build_mobilenet_v1(10, "x2_0")
