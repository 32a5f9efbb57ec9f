"""Interrupt and resume: a resumed run retraces the uninterrupted one (weights, EMA, metrics).

The run learns (its pixels determine the labels), so every state a resume restores changes
what follows: without the optimizer moments, the schedule position, the EMA weights and
update count, or the random state of the ML-Decoder's dropout, the resumed run's weights,
learning rates or scores drift from the uninterrupted run's and these tests fail. The EMA
uses a short decay warm-up (``ema_warmup_tau=4``) so that it differs from the raw weights.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mlcls_cli.config import resolve_config
from mlcls_cli.engine.trainer import Trainer, TrainPlan, plan_training
from tests.datasets import make_learnable_dataset

pytestmark = [pytest.mark.paddle, pytest.mark.slow]


def _plan(dataset: Path, out: Path, *extra: str) -> TrainPlan:
    cfg = resolve_config(
        "PP-LCNet_x1_0_ML",
        overrides=[
            f"Global.output={out}",
            "Global.device=cpu",
            "Train.pretrain_weight_path=null",
            "Train.image_size=16",
            "Train.epochs_iters=4",
            "Train.batch_size=4",
            "Train.learning_rate=0.002",
            "Train.warmup_steps=1",
            "Train.save_interval=2",
            "Train.seed=7",
            "Train.cutout=false",
            "Train.randaugment=false",
            "Train.loss_gamma_neg=0",
            "Train.loss_clip=0",
            "Train.ema_decay=0.9",
            "Train.ema_warmup_tau=4",
            "Train.log_interval=1",
            *extra,
        ],
    )
    return plan_training(cfg, dataset)[0]


def _weights(path: Path) -> dict[str, np.ndarray]:
    import paddle

    return {k: np.asarray(v) for k, v in paddle.load(str(path)).items()}


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _evals(out: Path) -> list[tuple[int, float, float]]:
    return [
        (r["epoch"], r["MultiLabelMAP"], r["MultiLabelMAP_ema"]) for r in _records(out) if r["type"] == "eval"
    ]


def _learning_rates(out: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["lr"]) for r in _records(out) if r["type"] == "train"]


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        np.testing.assert_allclose(wa[key], wb[key], rtol=1e-6, atol=1e-7, err_msg=key)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_learnable_dataset(tmp_path_factory.mktemp("ds") / "ds", train=24, val=12, size=16).root


@pytest.fixture(scope="module")
def uninterrupted(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("straight")
    Trainer(_plan(dataset, out)).fit()
    yield out
    shutil.rmtree(out, ignore_errors=True)  # checkpoints are large; keep only a failing test's


def test_the_uninterrupted_run_learns(uninterrupted: Path) -> None:
    evals = _evals(uninterrupted)
    raw = [score for _, score, _ in evals]
    assert [epoch for epoch, _, _ in evals] == [1, 2, 3, 4]
    assert len(set(raw)) == len(raw), raw  # the scores move: the model's outputs depend on the images
    assert raw[-1] >= raw[0] + 0.1 and raw[-1] >= 0.8, raw
    assert any(abs(ema - score) > 1e-3 for _, score, ema in evals), evals  # the EMA is not the model


@pytest.mark.parametrize("where", ["epoch_end", "mid_epoch"])
def test_resume_retraces_the_uninterrupted_run(
    where: str, dataset: Path, uninterrupted: Path, tmp_path: Path
) -> None:
    hooks: dict[str, list] = {"hooks": [], "step_hooks": []}
    if where == "epoch_end":  # stop after epoch 2 of 4
        hooks["hooks"].append(lambda t, epoch: t.request_stop("test") if epoch == 2 else None)
    else:  # stop after the first batch of epoch 3 (6 batches per epoch)
        hooks["step_hooks"].append(
            lambda t, epoch, done: t.request_stop("test") if (epoch, done) == (3, 1) else None
        )
    with pytest.raises(KeyboardInterrupt):
        Trainer(_plan(dataset, tmp_path), **hooks).fit()
    states = json.loads((tmp_path / "latest" / "latest.info.json").read_text())
    assert states["epoch"] == 2
    assert not (tmp_path / "best_model" / "inference").exists()  # exported only at the end
    assert json.loads((tmp_path / "train_result.json").read_text())["done_flag"] is False

    summary = Trainer(_plan(dataset, tmp_path, "Train.resume_path=auto")).fit()
    assert summary["resumed_from"].endswith("latest/latest")
    for name in (
        "latest/latest.pdparams",
        "latest/latest.pdema",
        "epoch_4/epoch_4.pdparams",
        "best_model/best_model.pdparams",
    ):
        _assert_same_weights(uninterrupted / name, tmp_path / name)
    np.testing.assert_allclose(_learning_rates(tmp_path), _learning_rates(uninterrupted), rtol=1e-9)
    np.testing.assert_allclose(_evals(tmp_path), _evals(uninterrupted), rtol=1e-6)
    result = json.loads((tmp_path / "train_result.json").read_text())
    assert result["done_flag"] is True
    assert [result["models"][f"last_{i}"].get("epoch") for i in (1, 2, 3)] == [4, 2, None]
    records = _records(tmp_path)
    steps = [r["step"] for r in records if r["type"] == "train"]
    assert steps == sorted(steps) and len(steps) == len(set(steps))  # no duplicate steps after the resume
    assert [r["event"] for r in records if r["type"] == "event"] == ["start", "interrupted", "resume", "done"]
    shutil.rmtree(tmp_path)


def test_resume_refuses_a_finished_run(dataset: Path, uninterrupted: Path) -> None:
    from mlcls_cli.errors import UsageError

    with pytest.raises(UsageError, match="nothing left to train"):
        Trainer(_plan(dataset, uninterrupted, "Train.resume_path=auto")).fit()
