"""FasterNet: PaddleClas layout and sizes of T0 .. L, forward parity with PaddleClas (GELU and ReLU), export."""

from __future__ import annotations

import math

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

MODELS = family_models("FasterNet")
T0 = "FasterNet-T0"


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def t0(paddle):
    """FasterNet-T0 (10 classes) with the golden's weights, in eval mode."""
    return golden_model(T0)


def test_the_family_has_six_models() -> None:
    assert sorted(MODELS) == sorted(f"FasterNet-{s}" for s in ("T0", "T1", "T2", "S", "M", "L"))


@pytest.mark.parametrize("name", MODELS)
def test_layout_and_size_equal_paddleclas(paddle, name: str) -> None:
    from mlcls_cli.models import get_model_info

    assert_paddleclas_layout(name)
    assert get_model_info(name).in_channels == 1280


def test_unknown_variant_is_refused(paddle) -> None:
    from mlcls_cli.models.backbones.fasternet import build_fasternet

    with pytest.raises(ValueError, match="unknown FasterNet variant"):
        build_fasternet(10, variant="XL")


@pytest.mark.parametrize("name", [T0, "FasterNet-T2"])  # GELU (T0, T1) and ReLU (T2 .. L)
def test_forward_equals_paddleclas(paddle, name: str) -> None:
    assert assert_matches_golden(name) < 1e-3


@pytest.mark.parametrize(("height", "width"), [(224, 224), (96, 160)])
def test_forward_at_other_sizes(paddle, t0, height: int, width: int) -> None:
    assert_forward_at(t0, height, width, 10)


def test_partial_conv_touches_only_the_first_quarter(paddle) -> None:
    from mlcls_cli.models.backbones.fasternet import PartialConv

    layer = PartialConv(16)
    assert list(layer.partial_conv3.weight.shape) == [4, 4, 3, 3]
    x = paddle.rand([2, 16, 5, 6])
    with paddle.no_grad():
        y = layer(x)
        want = layer.partial_conv3(x[:, :4])
    np.testing.assert_array_equal(y[:, 4:].numpy(), x[:, 4:].numpy())
    np.testing.assert_allclose(y[:, :4].numpy(), want.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("variant", "act", "last_rate"),
    [("T0", "GELU", 0.0), ("T1", "GELU", 0.02), ("T2", "ReLU", 0.05), ("S", "ReLU", 0.1), ("L", "ReLU", 0.3)],
)
def test_activation_and_drop_path_per_variant(paddle, variant: str, act: str, last_rate: float) -> None:
    from mlcls_cli.models.backbones.fasternet import FasterNet

    with paddle.LazyGuard():
        model = FasterNet(variant, 10)
    assert type(model.avgpool_pre_head[2]).__name__ == act
    assert type(model.stages[0].blocks[0].mlp[2]).__name__ == act
    rates = [block.drop_path.p for stage in list(model.stages)[::2] for block in stage.blocks]
    np.testing.assert_allclose(rates, np.linspace(0, last_rate, len(rates)), rtol=0, atol=1e-12)


def test_patch_embedding_batch_norm_momentum(t0) -> None:
    assert t0.patch_embed.norm._momentum == pytest.approx(0.1)
    assert t0.stages[1].norm._momentum == pytest.approx(0.9)
    assert t0.stages[0].blocks[0].mlp[1]._momentum == pytest.approx(0.9)


def test_gelu_is_exact(paddle) -> None:
    from mlcls_cli.models.backbones.fasternet import GELU

    x = np.linspace(-4, 4, 33).astype("float32")
    want = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x]
    np.testing.assert_allclose(GELU()(paddle.to_tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("legacy", [False, True], ids=["pir", "legacy"])
def test_export_runs_in_paddle_inference(paddle, t0, tmp_path, legacy: bool) -> None:
    assert export_round_trip(t0, T0, 64, tmp_path / "pkg", legacy) < 1e-4
