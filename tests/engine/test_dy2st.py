"""``Train.dy2st``: the forward converted by ``paddle.jit.to_static`` trains exactly as the eager one.

The same seed, data and recipe with and without the conversion give the same logged
losses, the same validation scores and the same final weights (to float rounding); the
best model loads and exports as any other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlcls_cli.config import resolve_config
from mlcls_cli.engine.trainer import Trainer, plan_training
from tests.datasets import make_learnable_dataset

pytestmark = [pytest.mark.paddle]


def _train(dataset: Path, out: Path, dy2st: bool, model: str = "SmallCNN_ML") -> dict[str, Any]:
    cfg = resolve_config(
        model,
        overrides=[
            f"Global.output={out}",
            "Global.device=cpu",
            "Train.pretrain_weight_path=null",
            "Train.image_size=16",
            "Train.epochs_iters=2",
            "Train.batch_size=5",  # 12 images: the last batch of each epoch is smaller
            "Train.warmup_steps=1",
            "Train.log_interval=1",
            "Train.ema_warmup_tau=4",
            f"Train.dy2st={str(dy2st).lower()}",
        ],
    )
    return Trainer(plan_training(cfg, dataset)[0]).fit()


def _records(out: Path, kind: str) -> list[dict[str, Any]]:
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["type"] == kind]


@pytest.mark.parametrize("model", ["SmallCNN_ML", "PP-LCNet_x1_0_ML"])
def test_static_forward_trains_like_the_eager_one(tmp_path: Path, model: str) -> None:
    import paddle

    dataset = make_learnable_dataset(tmp_path / "ds", train=12, val=6, size=16).root
    eager = _train(dataset, tmp_path / "eager", False, model)
    static = _train(dataset, tmp_path / "static", True, model)
    losses = [r["loss"] for r in _records(tmp_path / "eager", "train")]
    assert len(losses) == 6
    np.testing.assert_allclose([r["loss"] for r in _records(tmp_path / "static", "train")], losses, rtol=1e-5)
    for a, b in zip(_records(tmp_path / "eager", "eval"), _records(tmp_path / "static", "eval"), strict=True):
        assert a["MultiLabelMAP"] == pytest.approx(b["MultiLabelMAP"], abs=1e-6)
        assert a["MultiLabelMAP_ema"] == pytest.approx(b["MultiLabelMAP_ema"], abs=1e-6)
    wa = paddle.load(eager["best"]["pdparams"])
    wb = paddle.load(static["best"]["pdparams"])
    assert wa.keys() == wb.keys()
    for key in wa:
        np.testing.assert_allclose(
            np.asarray(wa[key]), np.asarray(wb[key]), rtol=1e-4, atol=1e-6, err_msg=key
        )
    assert (Path(static["best"]["inference_dir"]) / "inference.yml").is_file()
