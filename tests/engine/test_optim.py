"""build_optimizer and LRSchedule: the lr curve, resume, decay groups, lr multipliers, frozen params."""

from __future__ import annotations

import itertools
import math

import numpy as np
import paddle
import pytest
from paddle import nn

from mlcls_cli.engine.optim import LRSchedule, build_optimizer, no_decay_names, trainable_parameters

pytestmark = pytest.mark.paddle


def closed_form(
    t: int, *, lr: float, warm: int, total: int, start: float = 1e-6, eta_min: float = 1e-10
) -> float:
    if t < warm:
        return start + (lr - start) * t / warm
    return eta_min + (lr - eta_min) * 0.5 * (1 + math.cos(math.pi * min(1.0, (t - warm) / (total - warm))))


def run(schedule: LRSchedule, steps: int) -> list[float]:
    out = []
    for _ in range(steps):
        out.append(schedule())
        schedule.step()
    return out


def test_lr_curve_matches_closed_form() -> None:
    sched = LRSchedule(1e-3, epochs=10, iters_per_epoch=7, warmup_epochs=2)
    lrs = run(sched, 80)
    assert sched.warmup_iters == 14 and sched.total_iters == 70
    for t in (0, 1, 7, 13, 14, 15, 30, 42, 69):
        assert lrs[t] == pytest.approx(closed_form(t, lr=1e-3, warm=14, total=70), rel=1e-12, abs=1e-15)
    assert lrs[0] == pytest.approx(1e-6)
    assert lrs[14] == pytest.approx(1e-3)
    assert lrs[14 + 28] == pytest.approx((1e-3 + 1e-10) / 2)  # half way through the cosine
    assert lrs[70] == pytest.approx(1e-10)
    assert lrs[79] == pytest.approx(1e-10), "after the end the lr stays at eta_min"
    assert all(a <= b for a, b in itertools.pairwise(lrs[:15])), "warmup increases"
    assert all(a >= b for a, b in itertools.pairwise(lrs[14:71])), "cosine decreases"


def test_no_warmup_starts_at_the_peak() -> None:
    sched = LRSchedule(0.1, epochs=4, iters_per_epoch=5, warmup_epochs=0, eta_min=0.0)
    lrs = run(sched, 20)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[10] == pytest.approx(0.05)


def test_warmup_longer_than_training_is_clamped_to_half() -> None:
    sched = LRSchedule(0.01, epochs=2, iters_per_epoch=10, warmup_epochs=5)
    assert sched.warmup_iters == 10 and sched.cosine_iters == 10
    lrs = run(sched, 20)
    assert lrs[10] == pytest.approx(0.01)
    assert lrs[19] < lrs[10] / 10


def test_bad_schedule_arguments() -> None:
    with pytest.raises(ValueError, match="epochs"):
        LRSchedule(0.1, epochs=0, iters_per_epoch=3, warmup_epochs=0)
    with pytest.raises(ValueError, match="warmup"):
        LRSchedule(0.1, epochs=2, iters_per_epoch=3, warmup_epochs=-1)


def test_restored_schedule_continues_identically() -> None:
    a = LRSchedule(1e-3, epochs=6, iters_per_epoch=5, warmup_epochs=2)
    run(a, 13)
    state = a.state_dict()
    assert state["last_epoch"] == 13
    b = LRSchedule(1e-3, epochs=6, iters_per_epoch=5, warmup_epochs=2)
    b.set_state_dict(state)
    assert b() == a()
    assert run(b, 20) == run(a, 20)


def test_restore_rejects_foreign_state() -> None:
    with pytest.raises(RuntimeError, match="last_epoch"):
        LRSchedule(1e-3, epochs=2, iters_per_epoch=2, warmup_epochs=0).set_state_dict({"lr": 1.0})


class Tiny(nn.Layer):
    """Conv + BN + Linear, a frozen embedding, and a 2-D weight with an lr multiplier of 0.01."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2D(3, 4, 3)
        self.bn = nn.BatchNorm2D(4)
        self.fc = nn.Linear(4, 2)
        self.frozen = nn.Embedding(3, 4)
        self.frozen.weight.stop_gradient = True
        self.slow = self.create_parameter([2, 2], attr=paddle.ParamAttr(learning_rate=0.01))
        self.scale = self.create_parameter([1], attr=paddle.ParamAttr(learning_rate=0.01))

    def forward(self, x: paddle.Tensor) -> paddle.Tensor:
        y = self.bn(self.conv(x)).mean(axis=[2, 3])
        return paddle.matmul(self.fc(y), self.slow) * self.scale + self.frozen.weight.sum() * 0


def snapshot(model: nn.Layer) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_parameter_groups() -> None:
    paddle.seed(0)
    model = Tiny()
    params = trainable_parameters(model)
    assert model.frozen.weight.name not in {p.name for p in params}
    skip = no_decay_names(params)
    assert model.fc.bias.name in skip and model.bn.weight.name in skip and model.scale.name in skip
    assert model.fc.weight.name not in skip and model.conv.weight.name not in skip


def test_decay_only_on_multi_dim_params_and_lr_multiplier_respected() -> None:
    paddle.seed(0)
    model = Tiny()
    # constant lr 0.5 for the whole first iteration: no warmup, long cosine
    opt, sched = build_optimizer(
        model, learning_rate=0.5, epochs=1000, iters_per_epoch=1, warmup_epochs=0, weight_decay=0.1
    )
    before = snapshot(model)
    # a zero gradient isolates the decoupled weight decay: Adam's step is 0 / (0 + eps) = 0
    loss = sum((p * 0).sum() for p in model.parameters() if not p.stop_gradient)
    loss.backward()
    opt.step()
    after = snapshot(model)
    decay = 1 - 0.5 * 0.1
    np.testing.assert_allclose(after["fc.weight"], before["fc.weight"] * decay, rtol=1e-6)
    np.testing.assert_allclose(after["conv.weight"], before["conv.weight"] * decay, rtol=1e-6)
    np.testing.assert_allclose(after["slow"], before["slow"] * (1 - 0.5 * 0.01 * 0.1), rtol=1e-6)
    for key in ("fc.bias", "conv.bias", "bn.weight", "bn.bias", "scale", "frozen.weight"):
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    assert sched() == pytest.approx(0.5)


def test_lr_multiplier_scales_the_adam_step() -> None:
    paddle.seed(0)
    model = Tiny()
    opt, _ = build_optimizer(
        model, learning_rate=0.1, epochs=1000, iters_per_epoch=1, warmup_epochs=0, weight_decay=0
    )
    before = snapshot(model)
    (model.scale.sum() + model.fc.bias.sum()).backward()
    opt.step()
    after = snapshot(model)
    # the first Adam step moves each parameter by lr * sign(grad) (up to eps)
    np.testing.assert_allclose(before["fc.bias"] - after["fc.bias"], 0.1, rtol=1e-5)
    np.testing.assert_allclose(before["scale"] - after["scale"], 0.1 * 0.01, atol=1e-6)


def train_steps(model: nn.Layer, opt, sched, steps: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        x = paddle.to_tensor(rng.normal(size=(2, 3, 6, 6)).astype("float32"))
        loss = (model(x) ** 2).sum()
        loss.backward()
        opt.step()
        opt.clear_grad()
        sched.step()


KWARGS = {"learning_rate": 1e-2, "epochs": 3, "iters_per_epoch": 4, "warmup_epochs": 1}


def test_resumed_optimizer_and_schedule_continue_identically() -> None:
    # paddle keys optimizer state by generated parameter and accumulator names; each "process" runs
    # under a fresh name scope, as the trainer does, so the names match
    with paddle.utils.unique_name.guard():
        paddle.seed(1)
        model = Tiny()
        model.eval()  # BN uses running stats, so the comparison is about the optimizer alone
        opt, sched = build_optimizer(model, **KWARGS)
        train_steps(model, opt, sched, 5, seed=0)
        weights = {k: v.clone() for k, v in model.state_dict().items()}
        # state_dict() holds the live accumulators: copy them, as saving to disk does
        opt_state = {k: v.clone() if isinstance(v, paddle.Tensor) else v for k, v in opt.state_dict().items()}
        train_steps(model, opt, sched, 4, seed=1)
        expected = snapshot(model)
    assert "LR_Scheduler" in opt_state

    with paddle.utils.unique_name.guard():
        paddle.seed(99)
        fresh = Tiny()
        fresh.eval()
        fresh.set_state_dict(weights)
        opt2, sched2 = build_optimizer(fresh, **KWARGS)
        opt2.set_state_dict(opt_state)
        assert sched2.last_epoch == 5
        assert sched2() == pytest.approx(closed_form(5, lr=1e-2, warm=4, total=12))
        train_steps(fresh, opt2, sched2, 4, seed=1)
        got = snapshot(fresh)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    assert sched2() == sched()


def test_without_restoring_the_optimizer_the_run_differs() -> None:
    # the resume test above would pass trivially if the Adam moments did not matter
    with paddle.utils.unique_name.guard():
        paddle.seed(1)
        model = Tiny()
        model.eval()
        opt, sched = build_optimizer(model, **KWARGS)
        train_steps(model, opt, sched, 5, seed=0)
        weights = {k: v.clone() for k, v in model.state_dict().items()}
        train_steps(model, opt, sched, 4, seed=1)
        expected = snapshot(model)
    with paddle.utils.unique_name.guard():
        fresh = Tiny()
        fresh.eval()
        fresh.set_state_dict(weights)
        opt2, sched2 = build_optimizer(fresh, **KWARGS)
        sched2.set_state_dict({"last_epoch": 5})
        train_steps(fresh, opt2, sched2, 4, seed=1)
        got = snapshot(fresh)
    assert not np.allclose(got["fc.weight"], expected["fc.weight"], rtol=1e-6, atol=1e-7)


def test_model_without_trainable_parameters() -> None:
    layer = nn.Linear(2, 2)
    for p in layer.parameters():
        p.stop_gradient = True
    with pytest.raises(ValueError, match="trainable"):
        build_optimizer(layer, learning_rate=0.1, epochs=1, iters_per_epoch=1, warmup_epochs=0)
