"""ML-Decoder head: PaddleClas parameter layout and a forward pass checked against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.models.tsv import read_tsv, state_dict_rows, total_numel

pytestmark = pytest.mark.paddle


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


def _decoder(**kwargs):
    from mlcls_cli.models.ml_decoder import MLDecoder

    return MLDecoder(**kwargs)


# ---------------------------------------------------------------- numpy reference (models.md 1.3)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def reference_forward(
    p: dict[str, np.ndarray], x: np.ndarray, *, class_num: int, num_heads: int
) -> np.ndarray:
    """The eval-mode ML-Decoder written directly from the spec, in float64."""
    x = x.astype(np.float64)
    in_ch = p["input_proj.weight"].shape[1]
    if x.ndim == 3:
        x = x[..., None]
    elif x.ndim == 2:
        x = x.reshape(x.shape[0], in_ch, -1, 1)
    b = x.shape[0]
    w_in = p["input_proj.weight"][:, :, 0, 0]  # [E, C]
    feat = np.einsum("ec,bchw->behw", w_in, x) + p["input_proj.bias"][None, :, None, None]
    mem = np.maximum(feat, 0).reshape(b, w_in.shape[0], -1).transpose(0, 2, 1)  # [B, L, E]
    queries = np.broadcast_to(p["query_pos_embed.weight"], (b, *p["query_pos_embed.weight"].shape))

    pre = "decoder.layers.0."
    t = _layer_norm(2 * queries, p[pre + "norm1.weight"], p[pre + "norm1.bias"])
    a = pre + "cross_attn."
    q = t @ p[a + "q_proj.weight"] + p[a + "q_proj.bias"]  # Linear weights are [in, out]
    k = mem @ p[a + "k_proj.weight"] + p[a + "k_proj.bias"]
    v = mem @ p[a + "v_proj.weight"] + p[a + "v_proj.bias"]
    e = q.shape[-1]
    hd = e // num_heads
    heads = []
    for h in range(num_heads):
        sl = slice(h * hd, (h + 1) * hd)
        att = _softmax((q[..., sl] * hd**-0.5) @ k[..., sl].transpose(0, 2, 1))
        heads.append(att @ v[..., sl])
    attn = np.concatenate(heads, -1) @ p[a + "out_proj.weight"] + p[a + "out_proj.bias"]
    t = _layer_norm(t + attn, p[pre + "norm2.weight"], p[pre + "norm2.bias"])
    hidden = np.maximum(t @ p[pre + "linear1.weight"] + p[pre + "linear1.bias"], 0)
    ffn = hidden @ p[pre + "linear2.weight"] + p[pre + "linear2.bias"]
    t = _layer_norm(t + ffn, p[pre + "norm3.weight"], p[pre + "norm3.bias"])  # [B, Q, E]

    wg = p["group_conv.weight"][:, :, 0, 0]  # [Q*g, E]
    n_q = t.shape[1]
    g = wg.shape[0] // n_q
    logits = np.einsum("bqe,qje->bqj", t, wg.reshape(n_q, g, -1)).reshape(b, n_q * g) + p["group_conv.bias"]
    return logits[:, :class_num]


def _randomize(paddle, model, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    params = {}
    for name, value in model.state_dict().items():
        shape = list(value.shape)
        # fan-in scaling keeps activations O(1), so float32 rounding stays near 1e-6
        fan_in = shape[1] if len(shape) == 4 else shape[0] if len(shape) == 2 else 10
        arr = rng.normal(0.0, 1.0 / math.sqrt(fan_in), size=shape).astype("float32")
        if name.endswith(("norm1.weight", "norm2.weight", "norm3.weight")):
            arr += 1.0
        value.set_value(paddle.to_tensor(arr))
        params[name] = arr.astype(np.float64)
    return params


SMALL = {"in_channels": 16, "embed_dim": 32, "num_heads": 4, "mlp_hidden_dim": 48}


@pytest.mark.parametrize(
    ("class_num", "query_num", "shape"),
    [
        (5, None, (2, 16, 3, 4)),  # 4-D feature map
        (5, None, (2, 32)),  # 2-D vector: two memory positions of 16 channels
        (5, None, (3, 16, 7)),  # 3-D sequence
        (7, 3, (2, 16, 2, 2)),  # group factor 3: 9 outputs, the first 7 kept
    ],
)
def test_forward_matches_numpy_reference(paddle, class_num, query_num, shape) -> None:
    model = _decoder(class_num=class_num, query_num=query_num, **SMALL)
    model.eval()
    params = _randomize(paddle, model, seed=class_num + len(shape))
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    got = model(paddle.to_tensor(x)).numpy()
    want = reference_forward(params, x, class_num=class_num, num_heads=SMALL["num_heads"])
    assert got.shape == (shape[0], class_num)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_forward_matches_numpy_reference_at_full_size(paddle) -> None:
    model = _decoder(class_num=80, in_channels=64)
    model.eval()
    params = _randomize(paddle, model, seed=3)
    for shape in [(2, 64, 2, 3), (2, 64)]:
        x = np.random.default_rng(1).normal(size=shape).astype("float32")
        got = model(paddle.to_tensor(x)).numpy()
        np.testing.assert_allclose(
            got, reference_forward(params, x, class_num=80, num_heads=8), rtol=1e-5, atol=1e-5
        )


def test_dropout_only_acts_in_training(paddle) -> None:
    model = _decoder(class_num=4, **SMALL)
    x = paddle.to_tensor(np.random.default_rng(2).normal(size=(2, 16, 3, 3)).astype("float32"))
    model.eval()
    a, b = model(x).numpy(), model(x).numpy()
    np.testing.assert_array_equal(a, b)
    model.train()
    paddle.seed(0)
    assert not np.allclose(model(x).numpy(), a)


@pytest.mark.parametrize(("in_channels", "numel"), [(1280, 6_622_288), (2048, 7_212_112), (768, 6_229_072)])
def test_parameter_count(in_channels: int, numel: int) -> None:
    assert total_numel(_decoder(class_num=80, in_channels=in_channels)) == numel


def test_state_dict_layout_equals_paddleclas() -> None:
    want = [(k[len("fc.") :], s) for k, s in read_tsv("PP-LCNet_x1_0_ML") if k.startswith("fc.")]
    assert state_dict_rows(_decoder(class_num=80, in_channels=1280)) == want
    assert not any("self_attn" in k for k, _ in want)


def test_query_embedding_is_frozen_and_the_rest_trains() -> None:
    model = _decoder(class_num=6, **SMALL)
    frozen = [name for name, p in model.named_parameters() if p.stop_gradient]
    assert frozen == ["query_pos_embed.weight"]
    assert "query_pos_embed.weight" in model.state_dict()


@pytest.mark.parametrize(
    ("class_num", "query_num", "queries"),
    [(33, None, 33), (33, 0, 1), (33, -4, 1), (33, 500, 33), (33, 10, 10), (80, 80, 80)],
)
def test_query_num_is_clamped_and_sets_the_group_factor(class_num, query_num, queries) -> None:
    model = _decoder(class_num=class_num, query_num=query_num, **SMALL)
    g = math.ceil(class_num / queries)
    assert model.query_num == queries
    assert model.group_factor == g
    assert list(model.query_pos_embed.weight.shape) == [queries, SMALL["embed_dim"]]
    assert list(model.group_conv.weight.shape) == [queries * g, SMALL["embed_dim"], 1, 1]
    assert list(model.group_conv.bias.shape) == [queries * g]


def test_output_has_class_num_columns_with_groups(paddle) -> None:
    model = _decoder(class_num=33, query_num=10, **SMALL)
    model.eval()
    assert list(model(paddle.ones([3, 16, 2, 2])).shape) == [3, 33]


def test_bad_inputs_raise(paddle) -> None:
    model = _decoder(class_num=3, **SMALL)
    with pytest.raises(ValueError, match="multiple of 16"):
        model(paddle.ones([2, 20]))
    with pytest.raises(ValueError, match="5-D"):
        model(paddle.ones([1, 16, 1, 1, 1]))
    with pytest.raises(ValueError, match="class_num"):
        _decoder(class_num=0)
