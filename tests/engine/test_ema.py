"""ModelEMA: the blend, integer entries, decay warmup, swapping weights in and out, state round trip."""

from __future__ import annotations

import math

import numpy as np
import paddle
import pytest
from paddle import nn

from mlcls_cli.engine.ema import ModelEMA

pytestmark = pytest.mark.paddle


class Net(nn.Layer):
    """Linear + BatchNorm1D (float buffers) and an integer buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1D(4)
        self.register_buffer("steps", paddle.to_tensor([0], dtype="int64"))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        return self.bn(self.fc(x))


def state(model: nn.Layer) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def perturb(model: nn.Layer, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with paddle.no_grad():
        for key, value in model.state_dict().items():
            if key == "steps":
                value.set_value(paddle.to_tensor([seed + 10], dtype="int64"))
            else:
                value.set_value(paddle.to_tensor(rng.normal(size=value.shape).astype("float32")))


def test_plain_decay_blends_every_float_entry_and_copies_ints() -> None:
    paddle.seed(0)
    model = Net()
    ema = ModelEMA(model, decay=0.9, warmup=False)
    start = state(model)
    perturb(model, 1)
    current = state(model)
    ema.update(model)
    got = {k: v.numpy() for k, v in ema.state_dict().items()}
    assert set(got) == set(start) and "bn._mean" in got and "bn._variance" in got
    for key in start:
        if key == "steps":
            np.testing.assert_array_equal(got[key], current[key])
        else:
            np.testing.assert_allclose(got[key], 0.9 * start[key] + 0.1 * current[key], rtol=1e-6, atol=1e-7)
    assert ema.updates == 1


def test_blend_over_several_updates() -> None:
    paddle.seed(0)
    model = Net()
    ema = ModelEMA(model, decay=0.5, warmup=False)
    expected = state(model)["fc.weight"]
    for seed in range(1, 5):
        perturb(model, seed)
        expected = 0.5 * expected + 0.5 * state(model)["fc.weight"]
        ema.update(model)
    np.testing.assert_allclose(ema.state_dict()["fc.weight"].numpy(), expected, rtol=1e-6)


def test_update_does_not_touch_the_model_or_track_gradients() -> None:
    paddle.seed(0)
    model = Net()
    ema = ModelEMA(model)
    perturb(model, 3)
    before = state(model)
    ema.update(model)
    for key, value in state(model).items():
        np.testing.assert_array_equal(value, before[key])
    assert all(t.stop_gradient for t in ema.state_dict().values())


def test_warmup_decay_formula() -> None:
    model = Net()
    ema = ModelEMA(model, decay=0.9997)
    assert ema.current_decay(1) == pytest.approx(0.9997 * (1 - math.exp(-1 / 2000)))
    assert ema.current_decay(2000) == pytest.approx(0.9997 * (1 - math.exp(-1)))
    assert ema.current_decay(10**6) == pytest.approx(0.9997)
    assert ModelEMA(model, decay=0.9997, warmup=False).current_decay(1) == 0.9997
    # the first warmed-up update nearly copies the model
    perturb(model, 4)
    ema.update(model)
    np.testing.assert_allclose(
        ema.state_dict()["fc.bias"].numpy(), state(model)["fc.bias"], rtol=1e-3, atol=1e-3
    )


def test_applied_to_swaps_in_and_restores() -> None:
    paddle.seed(0)
    model = Net()
    ema = ModelEMA(model, decay=0.5, warmup=False)
    perturb(model, 5)
    ema.update(model)
    raw = state(model)
    averaged = {k: v.numpy().copy() for k, v in ema.state_dict().items()}
    x = paddle.ones([2, 3])
    model.eval()
    with ema.applied_to(model) as inside:
        assert inside is model
        for key, value in state(model).items():
            np.testing.assert_array_equal(value, averaged[key])
        out_ema = model(x).numpy()
    for key, value in state(model).items():
        np.testing.assert_array_equal(value, raw[key])
    assert not np.allclose(model(x).numpy(), out_ema)


def test_applied_to_restores_after_an_exception() -> None:
    paddle.seed(0)
    model = Net()
    ema = ModelEMA(model, decay=0.5, warmup=False)
    perturb(model, 6)
    raw = state(model)
    with pytest.raises(RuntimeError), ema.applied_to(model):
        raise RuntimeError("evaluation failed")
    np.testing.assert_array_equal(state(model)["fc.weight"], raw["fc.weight"])


def test_copy_to_copies_values() -> None:
    paddle.seed(0)
    model = Net()
    ema = ModelEMA(model, decay=0.5, warmup=False)
    perturb(model, 7)
    ema.update(model)
    target = Net()
    ema.copy_to(target)
    np.testing.assert_array_equal(target.fc.weight.numpy(), ema.state_dict()["fc.weight"].numpy())
    perturb(target, 8)
    assert not np.array_equal(target.fc.weight.numpy(), ema.state_dict()["fc.weight"].numpy())


def test_state_round_trip_through_disk(tmp_path) -> None:
    paddle.seed(0)
    model = Net()
    ema = ModelEMA(model, decay=0.8)
    for seed in range(3):
        perturb(model, seed)
        ema.update(model)
    path = tmp_path / "w.pdema"
    paddle.save(ema.state_dict(), str(path))
    restored = ModelEMA(Net(), decay=0.8, updates=ema.updates)
    restored.set_state_dict(paddle.load(str(path)))
    perturb(model, 9)
    ema.update(model)
    restored.update(model)
    for key, value in ema.state_dict().items():
        np.testing.assert_array_equal(restored.state_dict()[key].numpy(), value.numpy())


def test_set_state_dict_checks_keys_and_shapes() -> None:
    ema = ModelEMA(Net())
    good = {k: v.clone() for k, v in ema.state_dict().items()}
    with pytest.raises(KeyError, match="missing"):
        ema.set_state_dict({k: v for k, v in good.items() if k != "fc.bias"})
    with pytest.raises(ValueError, match="shape"):
        ema.set_state_dict({**good, "fc.bias": paddle.zeros([5])})
    numpy_state = {k: v.numpy() for k, v in good.items()}
    ema.set_state_dict(numpy_state)


def test_bad_decay() -> None:
    with pytest.raises(ValueError, match="decay"):
        ModelEMA(Net(), decay=1.0)
