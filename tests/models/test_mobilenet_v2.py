"""MobileNetV2 x0.25 .. x2.0: PaddleClas layout and sizes, forward equal to PaddleClas's, several per process."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models.mobilenet_checks import assert_matches_golden, assert_paddleclas_layout, family_models

pytestmark = pytest.mark.paddle

MODELS = family_models("MobileNetV2")


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


def test_the_family_has_five_models() -> None:
    assert [f"MobileNetV2_{s}" for s in ("x0_25", "x0_5", "x1_0", "x1_5", "x2_0")] == MODELS


@pytest.mark.parametrize("name", MODELS)
def test_layout_and_size_equal_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


@pytest.mark.parametrize("name", MODELS)
def test_forward_equals_paddleclas(paddle, name: str) -> None:
    assert_matches_golden(name)


def test_many_models_in_one_process(paddle) -> None:
    # PaddleClas names every parameter globally ("conv1_1_weights"), so a second model fails to build there.
    from mlcls_cli.models import build_model

    models = [build_model(name, 4) for name in ("MobileNetV2_x0_25", "MobileNetV2_x1_0", "MobileNetV2_x0_25")]
    names = [p.name for model in models for p in model.parameters()]
    assert len(names) == len(set(names))
    x = paddle.rand([1, 3, 64, 64])
    for model in models:
        model.eval()
        assert list(model(x).shape) == [1, 4]
    assert not any("weights" in key or "offset" in key for key in models[0].state_dict())


def test_only_later_blocks_of_a_stage_have_a_shortcut(paddle) -> None:
    from mlcls_cli.models.backbones.mobilenet_v2 import STAGES, build_mobilenet_v2

    model = build_mobilenet_v2(3, "x1_0")
    for index, (_, _, num_blocks, _) in enumerate(STAGES, start=2):
        stage = getattr(model, f"conv{index}")
        assert stage._first_block.shortcut is False
        assert [block.shortcut for block in stage._rest] == [True] * (num_blocks - 1)


def test_second_input_size(paddle) -> None:
    from mlcls_cli.models import build_model

    model = build_model("MobileNetV2_x0_25", 3)
    model.eval()
    assert list(model.forward_features(paddle.rand([2, 3, 96, 128])).shape) == [2, 1280, 3, 4]
    out = model(paddle.rand([2, 3, 96, 128]))
    assert list(out.shape) == [2, 3] and np.isfinite(out.numpy()).all()


@pytest.mark.filterwarnings("ignore:When training, we now always track")
def test_training_forward_has_no_randomness(paddle) -> None:
    from mlcls_cli.models import build_model

    model = build_model("MobileNetV2_x0_25", 3)
    model.train()
    x = paddle.rand([4, 3, 64, 64])
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())


def test_unknown_variant_raises() -> None:
    from mlcls_cli.models.backbones.mobilenet_v2 import build_mobilenet_v2

    with pytest.raises(ValueError, match="x0_75"):
        build_mobilenet_v2(10, "x0_75")
