"""CLIP ViT: the multi-label B/16 at 448 (forward checked against numpy) and the single-label B/16 and L/14 at 224."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.models import golden
from tests.models.shared_checks import (
    assert_forward_at,
    assert_matches_golden,
    assert_paddleclas_layout,
    family_models,
    golden_model,
)
from tests.models.tsv import read_tsv, state_dict_rows, total_numel

pytestmark = pytest.mark.paddle


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


@pytest.fixture(scope="module")
def clip(paddle):
    from mlcls_cli.models.backbones.clip_vit import build_clip_vit_base_patch16_448_ml

    paddle.seed(21)
    model = build_clip_vit_base_patch16_448_ml(80)
    model.eval()
    return model


@pytest.fixture(scope="module")
def small_vit(paddle):
    """A 2-block tower without head (same layer types) for the numpy comparison."""
    from mlcls_cli.models.backbones.clip_vit import CLIPVisionTransformer

    paddle.seed(22)
    model = CLIPVisionTransformer(depth=2)
    rng = np.random.default_rng(1)
    # Non-trivial norms, biases and class token so that a wrong wiring shows.
    for name, param in model.named_parameters():
        if name.endswith("bias") or name == "cls_token":
            param.set_value(rng.normal(0, 0.2, param.shape).astype("float32"))
        elif "norm" in name or "ln_pre" in name:
            param.set_value(rng.uniform(0.5, 1.5, param.shape).astype("float32"))
        elif name == "pos_embed":
            param.set_value(rng.normal(0, 0.5, param.shape).astype("float32"))
    model.eval()
    return model


# ---------------------------------------------------------------- numpy reference (models.md 2.5)


def _cubic_weights(t: float, a: float = -0.75) -> list[float]:
    def near(d: float) -> float:  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: float) -> float:  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _bicubic_matrix(size_in: int, size_out: int) -> np.ndarray:
    """Rows: output positions; columns: input positions (align_corners=False, edge-clamped taps)."""
    m = np.zeros((size_out, size_in))
    for o in range(size_out):
        src = (o + 0.5) * size_in / size_out - 0.5
        base = math.floor(src)
        for tap, w in zip(range(base - 1, base + 3), _cubic_weights(src - base), strict=True):
            m[o, min(max(tap, 0), size_in - 1)] += w
    return m


def _resize_pos(pos: np.ndarray, gh: int, gw: int) -> np.ndarray:
    side = round(math.sqrt(pos.shape[1] - 1))
    grid = pos[0, 1:].reshape(side, side, -1)  # [h, w, D]
    out = np.einsum("ah,hwd,bw->abd", _bicubic_matrix(side, gh), grid, _bicubic_matrix(side, gw))
    return np.concatenate([pos[:, :1], out.reshape(1, gh * gw, -1)], axis=1)


def _ln(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + 1e-5) * w + b


_erf = np.vectorize(math.erf)


def reference_tokens(p: dict[str, np.ndarray], images: np.ndarray, depth: int) -> np.ndarray:
    """All encoder output tokens (class token first, before the final norm), in float64."""
    x = images.astype(np.float64)
    b, _, h, w = x.shape
    gh, gw = -(-h // 16), -(-w // 16)
    x = np.pad(x, ((0, 0), (0, 0), (0, gh * 16 - h), (0, gw * 16 - w)))
    patches = x.reshape(b, 3, gh, 16, gw, 16).transpose(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, 3 * 256)
    t = patches @ p["patch_embed.proj.weight"].reshape(768, -1).T
    t = np.concatenate([np.broadcast_to(p["cls_token"], (b, 1, 768)), t], axis=1)
    t = _ln(t + _resize_pos(p["pos_embed"], gh, gw), p["ln_pre.weight"], p["ln_pre.bias"])
    n = t.shape[1]
    for i in range(depth):
        q = {k[len(f"blocks.{i}.") :]: v for k, v in p.items() if k.startswith(f"blocks.{i}.")}
        y = _ln(t, q["norm1.weight"], q["norm1.bias"])
        qkv = (
            (y @ q["attn.qkv.weight"] + q["attn.qkv.bias"]).reshape(b, n, 3, 12, 64).transpose(2, 0, 3, 1, 4)
        )
        scores = (qkv[0] * 0.125) @ qkv[1].transpose(0, 1, 3, 2)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attn = scores / scores.sum(-1, keepdims=True)
        y = (attn @ qkv[2]).transpose(0, 2, 1, 3).reshape(b, n, 768)
        t = t + y @ q["attn.proj.weight"] + q["attn.proj.bias"]
        y = _ln(t, q["norm2.weight"], q["norm2.bias"]) @ q["mlp.fc1.weight"] + q["mlp.fc1.bias"]
        y = 0.5 * y * (1 + _erf(y / math.sqrt(2)))
        t = t + y @ q["mlp.fc2.weight"] + q["mlp.fc2.bias"]
    return t


def _params(model) -> dict[str, np.ndarray]:
    return {k: v.numpy().astype(np.float64) for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- layout and sizes


def test_state_dict_equals_paddleclas(clip) -> None:
    assert state_dict_rows(clip) == read_tsv("CLIP_vit_base_patch16_448_ML")


def test_total_numel(clip) -> None:
    assert total_numel(clip) == 92_421_712
    backbone = sum(int(np.prod(v.shape)) for k, v in clip.state_dict().items() if not k.startswith("head."))
    assert backbone == 86_192_640


def test_unused_proj_and_biasless_patch_conv(clip) -> None:
    keys = clip.state_dict()
    assert list(keys["proj"].shape) == [768, 512]
    assert "patch_embed.proj.bias" not in keys


# ---------------------------------------------------------------- forward


def test_forward_small(paddle, clip) -> None:
    with paddle.no_grad():
        out = clip(paddle.rand([2, 3, 32, 32]))
    assert list(out.shape) == [2, 80]
    assert np.isfinite(out.numpy()).all()


def test_size_not_divisible_by_16_is_zero_padded(paddle, clip) -> None:
    x = paddle.rand([1, 3, 40, 40])
    padded = paddle.nn.functional.pad(x, [0, 8, 0, 8])
    with paddle.no_grad():
        out = clip(x)
        want = clip(padded)
    assert list(out.shape) == [1, 80]
    np.testing.assert_allclose(out.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_forward_448(paddle, clip) -> None:
    with paddle.no_grad():
        assert list(clip(paddle.rand([1, 3, 448, 448])).shape) == [1, 80]


def test_head_sees_first_patch_token_not_cls(paddle, clip) -> None:
    x = paddle.rand([2, 3, 32, 32])
    with paddle.no_grad():
        out = clip(x).numpy()
        tokens = clip.forward_tokens(x)
        first_patch = clip.head(clip.norm(tokens[:, 1])).numpy()
        cls = clip.head(clip.norm(tokens[:, 0])).numpy()
    np.testing.assert_allclose(out, first_patch, rtol=1e-5, atol=1e-5)
    assert np.abs(out - cls).max() > 1e-2


def test_head_query_key_projections_have_no_effect(paddle, clip) -> None:
    """The head sees one memory token, so its attention weights are all 1 (models.md 2.5, point 6)."""
    from mlcls_cli.models.backbones.clip_vit import build_clip_vit_base_patch16_448_ml

    x = paddle.rand([1, 3, 32, 32])
    model = build_clip_vit_base_patch16_448_ml(80)
    missing, unexpected = model.set_state_dict(clip.state_dict())
    assert list(missing) == [] and list(unexpected) == []
    model.eval()
    attn = model.head.decoder.layers[0].cross_attn
    rng = np.random.default_rng(9)
    for lin in (attn.q_proj, attn.k_proj):
        lin.weight.set_value(rng.normal(0, 1, lin.weight.shape).astype("float32"))
    with paddle.no_grad():
        np.testing.assert_allclose(model(x).numpy(), clip(x).numpy(), rtol=1e-5, atol=1e-5)
        attn.v_proj.weight.set_value(rng.normal(0, 1, attn.v_proj.weight.shape).astype("float32"))
        assert np.abs(model(x).numpy() - clip(x).numpy()).max() > 1e-3


def test_tower_matches_numpy_reference(paddle, small_vit) -> None:
    """Patch embedding with padding, bicubic position resize, ln_pre, blocks, first patch token, norm."""
    images = np.random.default_rng(4).uniform(-1, 1, (2, 3, 40, 56)).astype("float32")
    with paddle.no_grad():
        got = small_vit(paddle.to_tensor(images)).numpy()
    p = _params(small_vit)
    tokens = reference_tokens(p, images, depth=2)
    want = _ln(tokens[:, 1], p["norm.weight"], p["norm.bias"])
    wrong = _ln(tokens[:, 0], p["norm.weight"], p["norm.bias"])
    assert got.shape == (2, 768)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert np.abs(got - wrong).max() > 1e-1


# ---------------------------------------------------------------- position embedding resize


def test_pos_embed_resize_to_14_is_identity(paddle, clip) -> None:
    from mlcls_cli.models.backbones.clip_vit import resize_pos_embed

    with paddle.no_grad():
        resized = resize_pos_embed(clip.pos_embed, 14, 14).numpy()
    np.testing.assert_allclose(resized, clip.pos_embed.numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("gh", "gw"), [(28, 28), (3, 5)])
def test_pos_embed_resize_is_bicubic(paddle, clip, gh: int, gw: int) -> None:
    from mlcls_cli.models.backbones.clip_vit import resize_pos_embed

    pos = clip.pos_embed.numpy()
    with paddle.no_grad():
        resized = resize_pos_embed(clip.pos_embed, gh, gw).numpy()
    assert resized.shape == (1, 1 + gh * gw, 768)
    np.testing.assert_array_equal(resized[:, 0], pos[:, 0])
    np.testing.assert_allclose(resized, _resize_pos(pos.astype(np.float64), gh, gw), rtol=0, atol=1e-5)


def test_gelu_is_exact(paddle) -> None:
    from mlcls_cli.models.backbones.clip_vit import gelu

    x = np.linspace(-4, 4, 81).astype("float32")
    want = 0.5 * x * (1 + _erf(x / math.sqrt(2)))
    np.testing.assert_allclose(gelu(paddle.to_tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- single-label CLIP_vit_*_224 (PaddleClas VisionTransformer)

CLS_MODELS = family_models("CLIP-ViT")


@pytest.fixture(scope="module")
def base_cls(paddle):
    return golden_model("CLIP_vit_base_patch16_224")


def test_two_clip_models_are_registered() -> None:
    assert CLS_MODELS == ["CLIP_vit_base_patch16_224", "CLIP_vit_large_patch14_224"]


@pytest.mark.parametrize("name", CLS_MODELS)
def test_single_label_layout_equals_paddleclas(paddle, name: str) -> None:
    assert_paddleclas_layout(name)


def test_base_matches_paddleclas_golden(base_cls) -> None:
    assert_matches_golden("CLIP_vit_base_patch16_224", base_cls)


@pytest.mark.slow
def test_large_matches_paddleclas_golden(paddle) -> None:
    """ViT-L/14: 24 blocks of width 1024, class token, no position resize at 224 (about 10 s on 2 cores)."""
    assert_matches_golden("CLIP_vit_large_patch14_224")


def test_single_label_forward_at_another_size(base_cls) -> None:
    """240 x 200: a 15 x 13 patch grid (zero-padded bottom row) and the position grid resized to it."""
    assert_forward_at(base_cls, 240, 200, 10)


def test_one_backbone_for_both_tasks(paddle) -> None:
    from mlcls_cli.models import build_model
    from mlcls_cli.models.backbones.clip_vit import LinearHead
    from mlcls_cli.models.ml_decoder import MLDecoder

    with paddle.LazyGuard():
        single = build_model("CLIP_vit_base_patch16_224", 1000)
        multi = build_model("CLIP_vit_base_patch16_448_ML", 80)
    assert type(single) is type(multi)
    assert isinstance(single.head, LinearHead) and isinstance(multi.head, MLDecoder)
    tower = [row for row in state_dict_rows(single) if not row[0].startswith("head.")]
    assert tower == [row for row in state_dict_rows(multi) if not row[0].startswith("head.")]
    assert state_dict_rows(single)[-2:] == [
        ("head.fc_head.weight", [768, 1000]),
        ("head.fc_head.bias", [1000]),
    ]


@pytest.mark.parametrize(
    ("variant", "token", "size"), [("base_patch16_224", 1, 48), ("large_patch14_224", 0, 42)]
)
def test_head_reads_first_patch_token_of_b16_and_class_token_of_l14(
    paddle, variant: str, token: int, size: int
) -> None:
    from mlcls_cli.models.backbones.clip_vit import CLIPVisionTransformer

    paddle.seed(3)
    tower = CLIPVisionTransformer(variant, depth=1)
    tower.eval()
    x = paddle.to_tensor(golden.golden_input(size))
    with paddle.no_grad():
        got = tower(x).numpy()
        tokens = tower.forward_tokens(x)
        want = tower.norm(tokens[:, token]).numpy()
        other = tower.norm(tokens[:, 1 - token]).numpy()
    assert tokens.shape[1] == 1 + (size // tower.patch_embed.patch_size) ** 2
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.abs(got - other).max() > 1e-2


def test_proj_is_unused(paddle) -> None:
    from mlcls_cli.models.backbones.clip_vit import CLIPVisionTransformer, LinearHead

    tower = CLIPVisionTransformer("large_patch14_224", head=LinearHead(1024, 5, init_scale=1.0), depth=1)
    tower.eval()
    x = paddle.to_tensor(golden.golden_input(28))
    with paddle.no_grad():
        before = tower(x).numpy()
        tower.proj.set_value(paddle.randn(tower.proj.shape))
        after = tower(x).numpy()
    assert list(tower.proj.shape) == [1024, 512]
    np.testing.assert_array_equal(before, after)


def test_linear_head_starts_near_zero(paddle) -> None:
    """PaddleClas scales the head's initial weights by 0.001 (``head_init_scale``)."""
    from mlcls_cli.models.backbones.clip_vit import LinearHead

    head = LinearHead(768, 10)
    weight = head.fc_head.weight.numpy()
    assert 0 < np.abs(weight).max() < 2e-4
    assert not head.fc_head.bias.numpy().any()


def test_unknown_variant_raises() -> None:
    from mlcls_cli.models.backbones.clip_vit import build_clip_vit_cls

    with pytest.raises(ValueError, match="huge_patch14_224"):
        build_clip_vit_cls(10, "huge_patch14_224")
