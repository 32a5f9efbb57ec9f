"""AsymmetricLoss against a numpy computation of the models.md formula, and its gradients."""

from __future__ import annotations

import numpy as np
import paddle
import pytest

from mlcls_cli.engine.loss import AsymmetricLoss

pytestmark = pytest.mark.paddle


def numpy_asl(logits, targets, gamma_pos=0.0, gamma_neg=4.0, clip=0.05, eps=1e-8, reduction="sum"):
    """The per-element formula of models.md 3.1, written with numpy (float64)."""
    p = 1.0 / (1.0 + np.exp(-logits))
    p_neg = np.minimum(1.0 - p + clip, 1.0) if clip else 1.0 - p
    pt = np.where(targets == 1, p, p_neg)
    weight = (1.0 - pt) ** np.where(targets == 1, gamma_pos, gamma_neg)
    loss = -np.log(np.maximum(pt, eps)) * weight
    return {"sum": loss.sum(), "mean": loss.mean(), "none": loss}[reduction]


def case(seed: int = 0, shape: tuple[int, int] = (5, 7)):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, shape)
    targets = (rng.random(shape) < 0.4).astype("float64")
    return logits, targets


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"gamma_pos": 1.0, "gamma_neg": 2.0, "clip": 0.1},
        {"gamma_pos": 0.0, "gamma_neg": 0.0, "clip": 0.0},
        {"reduction": "mean"},
        {"clip": 0.0},
    ],
)
def test_matches_numpy_formula(kwargs: dict) -> None:
    logits, targets = case()
    loss = AsymmetricLoss(**kwargs)(paddle.to_tensor(logits), paddle.to_tensor(targets))
    assert loss.shape == []
    np.testing.assert_allclose(float(loss), numpy_asl(logits, targets, **kwargs), rtol=1e-10)


def test_float32_and_reduction_none() -> None:
    logits, targets = case(1)
    out = AsymmetricLoss(reduction="none")(
        paddle.to_tensor(logits.astype("float32")), paddle.to_tensor(targets.astype("float32"))
    )
    assert out.shape == [5, 7]
    np.testing.assert_allclose(
        out.numpy(), numpy_asl(logits, targets, reduction="none"), rtol=2e-5, atol=1e-6
    )


def test_hand_computed_values() -> None:
    # positive with logit 0: p = 0.5, gamma_pos 0 -> -log(0.5)
    # negative with logit 0: p_neg = min(0.5 + 0.05, 1) = 0.55, weight 0.45^4 -> -log(0.55) * 0.45^4
    loss = AsymmetricLoss()(paddle.to_tensor([[0.0, 0.0]], dtype="float64"), paddle.to_tensor([[1.0, 0.0]]))
    expected = -np.log(0.5) - np.log(0.55) * 0.45**4
    assert float(loss) == pytest.approx(expected, rel=1e-12)


def test_easy_negatives_are_discarded_by_the_clip() -> None:
    # p = sigmoid(-5) ~ 0.0067 < clip -> p_neg = 1 -> zero loss and zero gradient
    x = paddle.to_tensor([[-5.0]], dtype="float64", stop_gradient=False)
    loss = AsymmetricLoss()(x, paddle.to_tensor([[0.0]], dtype="float64"))
    loss.backward()
    assert float(loss) == 0.0
    assert x.grad.numpy().item() == 0.0


def test_half_precision_logits_give_a_float32_loss() -> None:
    logits, targets = case(2)
    x = paddle.to_tensor(logits.astype("float16"))
    loss = AsymmetricLoss()(x, paddle.to_tensor(targets.astype("float32")))
    assert loss.dtype == paddle.float32
    np.testing.assert_allclose(
        float(loss), numpy_asl(logits.astype("float16").astype("float64"), targets), rtol=1e-4
    )


def numeric_grad(fn, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (fn(up) - fn(down)) / (2 * h)
    return grad


def paddle_grad(loss_fn: AsymmetricLoss, logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    x = paddle.to_tensor(logits, stop_gradient=False)
    loss_fn(x, paddle.to_tensor(targets)).backward()
    return x.grad.numpy()


def test_gradient_with_focal_weight_gradient_enabled_matches_numeric() -> None:
    logits, targets = case(3, (3, 4))
    kwargs = {"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05}
    got = paddle_grad(AsymmetricLoss(disable_focal_loss_grad=False, **kwargs), logits, targets)
    want = numeric_grad(lambda z: numpy_asl(z, targets, **kwargs), logits)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


def test_focal_weight_is_a_constant_for_the_gradient_by_default() -> None:
    logits, targets = case(4, (3, 4))
    kwargs = {"gamma_pos": 1.0, "gamma_neg": 4.0, "clip": 0.05}
    got = paddle_grad(AsymmetricLoss(**kwargs), logits, targets)

    p = 1.0 / (1.0 + np.exp(-logits))
    p_neg = np.minimum(1.0 - p + 0.05, 1.0)
    pt = np.where(targets == 1, p, p_neg)
    frozen = (1.0 - pt) ** np.where(targets == 1, 1.0, 4.0)

    def loss_with_frozen_weight(z: np.ndarray) -> float:
        q = 1.0 / (1.0 + np.exp(-z))
        q_neg = np.minimum(1.0 - q + 0.05, 1.0)
        qt = np.where(targets == 1, q, q_neg)
        return float((-np.log(np.maximum(qt, 1e-8)) * frozen).sum())

    want = numeric_grad(loss_with_frozen_weight, logits)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
    full = paddle_grad(AsymmetricLoss(disable_focal_loss_grad=False, **kwargs), logits, targets)
    assert not np.allclose(got, full), "detaching the focal weight changes the gradient"


def test_bad_reduction() -> None:
    with pytest.raises(ValueError, match="reduction"):
        AsymmetricLoss(reduction="max")
