"""Swin Transformer: PaddleClas layout and sizes of all six models, forward parity (window 7 and 12), windows."""

from __future__ import annotations

import numpy as np
import pytest

from tests.models import golden
from tests.models.family_checks import check_layout, export_round_trip, lazy_build, max_golden_difference

pytestmark = [
    pytest.mark.paddle,
    # golden.fill leaves integer buffers out of the dict it loads, and paddle says so for each index.
    pytest.mark.filterwarnings("ignore:Skip loading for .*relative_position_index:UserWarning"),
]

MODELS = [
    "SwinTransformer_tiny_patch4_window7_224",
    "SwinTransformer_small_patch4_window7_224",
    "SwinTransformer_base_patch4_window7_224",
    "SwinTransformer_base_patch4_window12_384",
    "SwinTransformer_large_patch4_window7_224",
    "SwinTransformer_large_patch4_window12_384",
]
TINY = "SwinTransformer_tiny_patch4_window7_224"


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def tiny(paddle):
    from mlcls_cli.models import build_model

    paddle.seed(6)
    model = build_model(TINY, 10)
    model.eval()
    return model


# ---------------------------------------------------------------- layout and sizes


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_and_numel_equal_paddleclas(name: str) -> None:
    model = check_layout(name)
    index = model.state_dict()["layers.0.blocks.0.attn.relative_position_index"]
    assert "int64" in str(index.dtype)


def test_unknown_variant_is_refused() -> None:
    from mlcls_cli.models.backbones.swin_transformer import build_swin_transformer

    with pytest.raises(ValueError, match="unknown SwinTransformer variant"):
        build_swin_transformer(10, variant="huge_patch4_window7_224")


def test_state_dict_round_trips_with_the_index_buffer(paddle, tiny) -> None:
    from mlcls_cli.models import build_model

    other = build_model(TINY, 10)
    missing, unexpected = other.set_state_dict(tiny.state_dict())
    assert list(missing) == [] and list(unexpected) == []
    np.testing.assert_array_equal(
        other.layers[2].blocks[3].attn.relative_position_index.numpy(),
        tiny.layers[2].blocks[3].attn.relative_position_index.numpy(),
    )


# ---------------------------------------------------------------- forward


def test_forward_matches_paddleclas_window7(paddle, tiny) -> None:
    assert max_golden_difference(tiny, TINY) < 1e-3


@pytest.mark.slow
def test_forward_matches_paddleclas_window12_at_384(paddle) -> None:
    """Base at 384 px, window 12 (~15 s on 2 CPU cores)."""
    from mlcls_cli.models import build_model

    name = "SwinTransformer_base_patch4_window12_384"
    assert max_golden_difference(build_model(name, 10), name) < 1e-3


@pytest.mark.parametrize("size", [(100, 132), (112, 120), (64, 66)])
def test_forward_at_sizes_that_need_padding(paddle, tiny, size: tuple[int, int]) -> None:
    x = paddle.to_tensor(golden.golden_input(size))
    with paddle.no_grad():
        out = tiny(x).numpy()
    assert out.shape == (2, 10)
    assert np.isfinite(out).all()
    assert np.abs(out[0] - out[1]).max() > 1e-4


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
    [
        (TINY, 0.2),
        ("SwinTransformer_small_patch4_window7_224", 0.3),
        ("SwinTransformer_large_patch4_window12_384", 0.1),
    ],
)
def test_drop_path_rates(paddle, name: str, last_rate: float) -> None:
    model = lazy_build(name, 10)
    rates = [block.drop_path.p for stage in model.layers for block in stage.blocks]
    np.testing.assert_allclose(rates, np.linspace(0, last_rate, len(rates)), rtol=0, atol=1e-12)


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
    """The exported graph (both formats) reproduces the model in Paddle Inference with oneDNN."""
    golden.fill(tiny)
    assert export_round_trip(tiny, 100, tmp_path / "pkg", legacy) < 1e-4
