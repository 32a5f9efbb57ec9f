"""StarNet: PaddleClas layout and sizes of S1 .. S4, forward parity with PaddleClas, drop-path rates, export."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models.export_checks import export_round_trip
from tests.models.shared_checks import (
    assert_forward_at,
    assert_matches_golden,
    assert_paddleclas_layout,
    family_models,
    golden_model,
)

pytestmark = pytest.mark.paddle

MODELS = family_models("StarNet")
S1 = "StarNet-S1"


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def s1(paddle):
    """StarNet-S1 (10 classes) with the golden's weights, in eval mode."""
    return golden_model(S1)


def test_the_family_has_four_models() -> None:
    assert sorted(MODELS) == [f"StarNet-S{i}" for i in range(1, 5)]


@pytest.mark.parametrize("name", MODELS)
def test_layout_and_size_equal_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


def test_unknown_variant_is_refused(paddle) -> None:
    from mlcls_cli.models.backbones.starnet import build_starnet

    with pytest.raises(ValueError, match="unknown StarNet variant"):
        build_starnet(10, variant="S9")


def test_forward_equals_paddleclas(paddle, s1) -> None:
    # One golden covers the family: S1 .. S4 differ only in width and depth.
    assert assert_matches_golden(S1, s1) < 1e-3


@pytest.mark.parametrize(("height", "width"), [(224, 224), (100, 75)])
def test_forward_at_other_sizes(paddle, s1, height: int, width: int) -> None:
    assert_forward_at(s1, height, width, 10)


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
    assert export_round_trip(s1, S1, 64, tmp_path / "pkg", legacy) < 1e-4
