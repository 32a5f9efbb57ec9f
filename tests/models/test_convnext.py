"""ConvNeXt: PaddleClas layout and sizes of all six models, forward parity with PaddleClas, stochastic depth, export."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models import golden
from tests.models.export_checks import export_round_trip
from tests.models.shared_checks import (
    assert_forward_at,
    assert_matches_golden,
    assert_paddleclas_layout,
    family_models,
    golden_model,
)

pytestmark = pytest.mark.paddle

MODELS = family_models("ConvNeXt")
TINY = "ConvNeXt_tiny"


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def tiny(paddle):
    """ConvNeXt_tiny (10 classes) with the golden's weights, in eval mode."""
    return golden_model(TINY)


def test_the_family_has_six_models() -> None:
    suffixes = ["tiny", "small", "base_224", "base_384", "large_224", "large_384"]
    assert sorted(MODELS) == sorted(f"ConvNeXt_{s}" for s in suffixes)


@pytest.mark.parametrize("name", MODELS)
def test_layout_and_size_equal_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


def test_unknown_variant_is_refused(paddle) -> None:
    from mlcls_cli.models.backbones.convnext import build_convnext

    with pytest.raises(ValueError, match="unknown ConvNeXt variant"):
        build_convnext(10, variant="huge")


# ---------------------------------------------------------------- forward


def test_forward_equals_paddleclas(paddle, tiny) -> None:
    # One golden covers the family: the six models differ only in depth and width.
    assert assert_matches_golden(TINY, tiny) < 1e-3


@pytest.mark.parametrize(("height", "width"), [(224, 224), (96, 160)])
def test_forward_at_other_sizes(paddle, tiny, height: int, width: int) -> None:
    assert_forward_at(tiny, height, width, 10)


def test_channels_first_layer_norm(paddle) -> None:
    from mlcls_cli.models.backbones.convnext import LayerNorm2D

    norm = LayerNorm2D(6)
    rng = np.random.default_rng(0)
    norm.weight.set_value(rng.uniform(0.5, 1.5, 6).astype("float32"))
    norm.bias.set_value(rng.normal(0, 1, 6).astype("float32"))
    x = rng.normal(2, 3, (2, 6, 3, 5)).astype("float32")
    mean = x.mean(1, keepdims=True)
    var = x.var(1, keepdims=True)
    scale, shift = norm.weight.numpy()[:, None, None], norm.bias.numpy()[:, None, None]
    want = (x - mean) / np.sqrt(var + 1e-6) * scale + shift
    np.testing.assert_allclose(norm(paddle.to_tensor(x)).numpy(), want, rtol=1e-5, atol=1e-5)


def test_layer_norm_epsilon_and_layer_scale(paddle, tiny) -> None:
    from mlcls_cli.models.backbones.convnext import ConvNeXtBlock

    assert tiny.norm._epsilon == 1e-6
    assert tiny.stages[0][0].norm._epsilon == 1e-6
    assert tiny.downsample_layers[0][1].epsilon == 1e-6
    assert tiny.downsample_layers[1][0].epsilon == 1e-6
    np.testing.assert_array_equal(ConvNeXtBlock(8).gamma.numpy(), np.full(8, 1e-6, dtype="float32"))


# ---------------------------------------------------------------- stochastic depth


def test_drop_path_rates_grow_linearly_to_one_tenth(paddle) -> None:
    from mlcls_cli.models.backbones.convnext import ConvNeXt

    with paddle.LazyGuard():
        model = ConvNeXt("tiny", 10)
        off = ConvNeXt("tiny", 10, drop_path_rate=0.0)
    rates = [block.drop_path.p for stage in model.stages for block in stage]
    np.testing.assert_allclose(rates, np.linspace(0, 0.1, 18), rtol=0, atol=1e-12)
    assert [b.drop_path.p for b in off.stages[3]] == [0.0] * 3


def test_drop_path_acts_per_sample_in_training_only(paddle) -> None:
    from mlcls_cli.models.backbones.drop_path import DropPath

    layer = DropPath(0.5)
    x = paddle.ones([400, 3, 2, 2])
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    layer.train()
    paddle.seed(5)
    per_sample = layer(x).numpy().reshape(400, -1)
    assert set(np.unique(per_sample)) == {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()  # one decision per sample
    assert 120 < int((per_sample[:, 0] == 0).sum()) < 280


def test_drop_path_rejects_bad_probability() -> None:
    from mlcls_cli.models.backbones.drop_path import DropPath, drop_path_rates

    with pytest.raises(ValueError):
        DropPath(1.0)
    assert drop_path_rates(0.3, 1) == [0.0]
    assert drop_path_rates(0.3, 4) == pytest.approx([0.0, 0.1, 0.2, 0.3])


def test_train_mode_is_stochastic_and_eval_deterministic(paddle) -> None:
    from mlcls_cli.models.backbones.convnext import ConvNeXt

    paddle.seed(8)
    model = ConvNeXt("tiny", 10, drop_path_rate=0.5)
    golden.fill(model)
    x = paddle.to_tensor(golden.golden_input(32))
    model.eval()
    with paddle.no_grad():
        a, b = model(x).numpy(), model(x).numpy()
        model.train()
        c = model(x).numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("legacy", [False, True], ids=["pir", "legacy"])
def test_export_runs_in_paddle_inference(paddle, tiny, tmp_path, legacy: bool) -> None:
    """Both graph formats reproduce the model in Paddle Inference with oneDNN (legacy: no sqrt binding)."""
    assert export_round_trip(tiny, TINY, 64, tmp_path / "pkg", legacy) < 1e-4
