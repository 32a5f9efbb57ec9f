"""Swin Transformer: PaddleClas layout and sizes of all six models, forward parity (window 7 and 12), windows, export."""

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

pytestmark = [
    pytest.mark.paddle,
    # golden.fill leaves integer buffers out of the dict it loads, and paddle says so for each index.
    pytest.mark.filterwarnings("ignore:Skip loading for .*relative_position_index:UserWarning"),
]

MODELS = family_models("SwinTransformer")
TINY = "SwinTransformer_tiny_patch4_window7_224"
BASE_384 = "SwinTransformer_base_patch4_window12_384"


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def tiny(paddle):
    """Swin tiny (10 classes) with the golden's weights, in eval mode."""
    return golden_model(TINY)


# ---------------------------------------------------------------- layout and sizes


def test_the_family_has_six_models() -> None:
    sizes = ("tiny", "small", "base", "large")
    want = [f"SwinTransformer_{s}_patch4_window7_224" for s in sizes]
    want += [f"SwinTransformer_{s}_patch4_window12_384" for s in ("base", "large")]
    assert sorted(MODELS) == sorted(want)


@pytest.mark.parametrize("name", MODELS)
def test_layout_and_size_equal_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


@pytest.mark.parametrize(("name", "window"), [(TINY, 7), (BASE_384, 12)])
def test_index_buffer_is_int64_and_computed_under_lazy_guard(paddle, name: str, window: int) -> None:
    from mlcls_cli.models import build_model
    from mlcls_cli.models.backbones.swin_transformer import relative_position_index

    with paddle.LazyGuard():
        model = build_model(name, 10)
    index = model.state_dict()["layers.3.blocks.1.attn.relative_position_index"]
    assert "int64" in str(index.dtype)
    np.testing.assert_array_equal(index.numpy(), relative_position_index(window))


def test_unknown_variant_is_refused(paddle) -> None:
    from mlcls_cli.models.backbones.swin_transformer import build_swin_transformer

    with pytest.raises(ValueError, match="unknown SwinTransformer variant"):
        build_swin_transformer(10, variant="huge_patch4_window7_224")


def test_state_dict_round_trips_with_the_index_buffer(paddle, tiny) -> None:
    from mlcls_cli.models import build_model

    with paddle.LazyGuard():
        other = build_model(TINY, 10)
    missing, unexpected = other.set_state_dict(tiny.state_dict())
    assert list(missing) == [] and list(unexpected) == []
    for key, value in tiny.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key].numpy(), value.numpy(), err_msg=key)


# ---------------------------------------------------------------- forward


def test_forward_equals_paddleclas_window7(paddle, tiny) -> None:
    assert assert_matches_golden(TINY, tiny) < 1e-3


@pytest.mark.slow
def test_forward_equals_paddleclas_window12_at_384(paddle) -> None:
    """Base at 384 px, window 12 (~10-25 s on 2 busy CPU cores)."""
    assert assert_matches_golden(BASE_384) < 1e-3


@pytest.mark.parametrize(("height", "width"), [(100, 132), (112, 120), (64, 66)])
def test_forward_at_sizes_that_need_padding(paddle, tiny, height: int, width: int) -> None:
    # 100x132: 25x33 patches, padded in stage 1; 112x120: 28x30, one side already a multiple of 7
    # (PaddleClas still pads it by a whole window); 64x66: only W needs patch padding.
    assert_forward_at(tiny, height, width, 10)


def test_every_second_block_is_shifted_also_in_the_last_stage(tiny) -> None:
    shifts = [[block.shift for block in stage.blocks] for stage in tiny.layers]
    assert shifts == [[0, 3], [0, 3], [0, 3, 0, 3, 0, 3], [0, 3]]
    assert [stage.downsample is not None for stage in tiny.layers] == [True, True, True, False]


def test_layer_norm_epsilon(tiny) -> None:
    assert tiny.norm._epsilon == 1e-5
    assert tiny.patch_embed.norm._epsilon == 1e-5
    assert tiny.layers[0].blocks[0].norm1._epsilon == 1e-5
    assert tiny.layers[0].downsample.norm._epsilon == 1e-5


@pytest.mark.parametrize(
    ("name", "last_rate"),
    [(TINY, 0.2), ("SwinTransformer_small_patch4_window7_224", 0.3), (BASE_384, 0.5)],
)
def test_drop_path_rates(paddle, name: str, last_rate: float) -> None:
    from mlcls_cli.models import build_model

    with paddle.LazyGuard():
        model = build_model(name, 10)
    rates = [block.drop_path.p for stage in model.layers for block in stage.blocks]
    np.testing.assert_allclose(rates, np.linspace(0, last_rate, len(rates)), rtol=0, atol=1e-12)


def test_cyclic_shift_is_roll(paddle) -> None:
    from mlcls_cli.models.backbones.swin_transformer import cyclic_shift

    x = paddle.to_tensor(np.arange(2 * 5 * 7 * 3, dtype="float32").reshape(2, 5, 7, 3))
    for shift in (-3, 2, 0):
        want = paddle.roll(x, shifts=(shift, shift), axis=(1, 2))
        np.testing.assert_array_equal(cyclic_shift(x, shift).numpy(), want.numpy())


# ---------------------------------------------------------------- windows, masks, merging


@pytest.mark.parametrize("window", [7, 12])
def test_relative_position_index(window: int) -> None:
    from mlcls_cli.models.backbones.swin_transformer import relative_position_index

    index = relative_position_index(window)
    assert index.dtype == np.int64 and index.shape == (window * window, window * window)
    for q in (0, 5, window * window - 1):
        for k in (0, 3, window * window - 2):
            dy = q // window - k // window
            dx = q % window - k % window
            assert index[q, k] == (dy + window - 1) * (2 * window - 1) + dx + window - 1
    assert index.min() == 0 and index.max() == (2 * window - 1) ** 2 - 1


def _band(position: int, size: int, window: int, shift: int) -> int:
    return 0 if position < size - window else (1 if position < size - shift else 2)


@pytest.mark.parametrize(("height", "width", "window"), [(14, 21, 7), (7, 7, 7), (24, 12, 12)])
def test_shifted_window_mask(height: int, width: int, window: int) -> None:
    from mlcls_cli.models.backbones.swin_transformer import shifted_window_mask

    shift = window // 2
    mask = shifted_window_mask(height, width, window, shift)
    n_cols = width // window
    assert mask.shape == ((height // window) * n_cols, window * window, window * window)
    assert mask.dtype == np.float32
    for w in range(mask.shape[0]):
        for a in range(0, window * window, 5):
            for b in range(0, window * window, 3):
                ra, ca = (w // n_cols) * window + a // window, (w % n_cols) * window + a % window
                rb, cb = (w // n_cols) * window + b // window, (w % n_cols) * window + b % window
                same = (_band(ra, height, window, shift), _band(ca, width, window, shift)) == (
                    _band(rb, height, window, shift),
                    _band(cb, width, window, shift),
                )
                assert mask[w, a, b] == (0.0 if same else -100.0)


def test_padding_keeps_paddleclas_whole_extra_window() -> None:
    from mlcls_cli.models.backbones.swin_transformer import padding_to_multiple

    assert padding_to_multiple(56, 56, 7) == (0, 0)
    assert padding_to_multiple(25, 33, 7) == (3, 2)
    assert padding_to_multiple(28, 30, 7) == (7, 5)  # 28 is a multiple, yet gets a whole window
    assert padding_to_multiple(64, 66, 4) == (4, 2)


def test_window_partition_round_trip_and_order(paddle) -> None:
    from mlcls_cli.models.backbones.swin_transformer import window_partition, window_reverse

    x = np.arange(2 * 6 * 9 * 2, dtype="float32").reshape(2, 6, 9, 2)
    windows = window_partition(paddle.to_tensor(x), 3)
    assert list(windows.shape) == [2 * 2 * 3, 9, 2]
    np.testing.assert_array_equal(windows.numpy()[4], x[0, 3:6, 3:6].reshape(9, 2))  # image 0, row 1, col 1
    np.testing.assert_array_equal(window_reverse(windows, 3, 6, 9).numpy(), x)


def test_patch_merging_concatenates_in_paddleclas_order(paddle) -> None:
    from mlcls_cli.models.backbones.swin_transformer import PatchMerging

    merge = PatchMerging(2)
    merge.eval()
    x = np.random.default_rng(0).standard_normal((1, 5, 3, 2)).astype("float32")
    with paddle.no_grad():
        got = merge(paddle.to_tensor(x.reshape(1, 15, 2)), 5, 3).numpy()
    padded = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    parts = [padded[:, 0::2, 0::2], padded[:, 1::2, 0::2], padded[:, 0::2, 1::2], padded[:, 1::2, 1::2]]
    cat = np.concatenate(parts, axis=-1).reshape(1, 6, 8)
    normed = (cat - cat.mean(-1, keepdims=True)) / np.sqrt(cat.var(-1, keepdims=True) + 1e-5)
    want = normed @ merge.reduction.weight.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("legacy", [False, True], ids=["pir", "legacy"])
def test_export_runs_in_paddle_inference(paddle, tiny, tmp_path, legacy: bool) -> None:
    """At 100 px (window padding, shifted masks) both graph formats run in Paddle Inference with oneDNN."""
    assert export_round_trip(tiny, TINY, 100, tmp_path / "pkg", legacy) < 1e-4
