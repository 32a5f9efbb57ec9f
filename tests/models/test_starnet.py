"""StarNet: PaddleClas layout and sizes of S1 .. S4, forward parity with PaddleClas, drop-path rates."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models import golden
from tests.models.family_checks import check_layout, export_round_trip, max_golden_difference

pytestmark = pytest.mark.paddle

MODELS = ["StarNet-S1", "StarNet-S2", "StarNet-S3", "StarNet-S4"]


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def s1(paddle):
    from mlcls_cli.models import build_model

    paddle.seed(4)
    model = build_model("StarNet-S1", 10)
    model.eval()
    return model


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_and_numel_equal_paddleclas(name: str) -> None:
    check_layout(name)


def test_unknown_variant_is_refused() -> None:
    from mlcls_cli.models.backbones.starnet import build_starnet

    with pytest.raises(ValueError, match="unknown StarNet variant"):
        build_starnet(10, variant="S9")


def test_forward_matches_paddleclas(paddle, s1) -> None:
    assert max_golden_difference(s1, "StarNet-S1") < 1e-3


def test_forward_at_224_and_non_square(paddle, s1) -> None:
    with paddle.no_grad():
        out = s1(paddle.rand([1, 3, 224, 224]))
        odd = s1(paddle.rand([2, 3, 100, 75]))
    assert list(out.shape) == [1, 10] and list(odd.shape) == [2, 10]
    assert np.isfinite(out.numpy()).all() and np.isfinite(odd.numpy()).all()


def test_star_block_multiplies_the_two_branches(paddle) -> None:
    """Zeroing ``f2`` silences the branch (a sum instead of the product would not)."""
    from mlcls_cli.models.backbones.starnet import StarBlock

    block = StarBlock(8)
    block.eval()
    x = paddle.rand([1, 8, 9, 9])
    with paddle.no_grad():
        assert np.abs(block(x).numpy() - x.numpy()).max() > 1e-4
        block.f2.conv.weight.set_value(np.zeros([32, 8, 1, 1], dtype="float32"))
        block.f2.conv.bias.set_value(np.zeros([32], dtype="float32"))
        g_bias = block.g.bn(block.g.conv(paddle.zeros([1, 32, 9, 9])))
        want = x + block.dwconv2(g_bias)
        np.testing.assert_allclose(block(x).numpy(), want.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("variant", "last"), [("S1", 0.0), ("S2", 0.01), ("S3", 0.01), ("S4", 0.02)])
def test_drop_path_rates_are_the_training_configs(paddle, variant: str, last: float) -> None:
    from mlcls_cli.models.backbones.starnet import StarNet

    with paddle.LazyGuard():
        model = StarNet(variant, 10)
    rates = [layer.drop_path.p for stage in model.stages for layer in list(stage)[1:]]
    np.testing.assert_allclose(rates, np.linspace(0, last, len(rates)), rtol=0, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("legacy", [False, True], ids=["pir", "legacy"])
def test_export_runs_in_paddle_inference(paddle, s1, tmp_path, legacy: bool) -> None:
    """The exported graph (both formats) reproduces the model in Paddle Inference with oneDNN."""
    golden.fill(s1)
    assert export_round_trip(s1, 64, tmp_path / "pkg", legacy) < 1e-4
