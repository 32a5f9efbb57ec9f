"""Two CPU processes through paddle.distributed.launch (gloo): disjoint data, identical weights, one set of outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlcls_cli.engine.distributed import World, gather_strided
from tests.datasets import make_cls_dataset, make_dataset


def test_gather_is_the_identity_for_one_process() -> None:
    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert gather_strided(rows, 4, World()) is rows


@pytest.mark.slow
@pytest.mark.paddle
@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("PP-LCNet_x1_0_ML", []),
        # single-label, with the per-rank Mixup/CutMix draws and an EMA in play
        (
            "PP-LCNet_x0_25",
            ["-o", "Train.mixup_alpha=0.4", "-o", "Train.cutmix_alpha=1.0", "-o", "Train.ema_decay=0.9"],
        ),
    ],
)
def test_two_cpu_processes_train_on_disjoint_data_and_agree(
    tmp_path: Path, model: str, extra: list[str]
) -> None:
    maker = make_dataset if model.endswith("_ML") else make_cls_dataset
    made = maker(tmp_path / "ds", classes=3, train=10, val=5)
    out = tmp_path / "out"
    seen = tmp_path / "seen"
    env = {
        **os.environ,
        "MLCLS_DEBUG_SEEN_DIR": str(seen),
        "CUDA_VISIBLE_DEVICES": "",
    }  # empty must be tolerated
    cmd = [
        sys.executable,
        "-m",
        "mlcls_cli",
        "train",
        str(made.root),
        "--model",
        model,
        "--no-pretrained",
        "--device",
        "cpu",
        "--nproc",
        "2",
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--image-size",
        "32",
        "--lr",
        "0.001",
        "-O",
        str(out),
        "-o",
        "Train.save_interval=5",
        *extra,
        "--json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    assert summary["nproc"] == 2 and summary["done_flag"] is True
    assert summary["metric"] == ("MultiLabelMAP" if model.endswith("_ML") else "top1")
    assert "LAUNCH INFO" not in proc.stderr  # the launcher's chatter is filtered

    per_rank = {}
    for rank in (0, 1):
        lines = (seen / f"seen.rank{rank}.jsonl").read_text().splitlines()
        per_rank[rank] = {rec["epoch"]: rec["indices"] for rec in map(json.loads, lines)}
    for epoch in (1, 2):
        a, b = per_rank[0][epoch], per_rank[1][epoch]
        assert len(a) == len(b) == 5
        assert not set(a) & set(b)  # each rank trained on its own half
        assert sorted(a + b) == list(range(10))
    assert per_rank[0][1] != per_rank[0][2]  # reshuffled each epoch
    hashes = {(seen / f"weights.rank{r}.sha256").read_text() for r in (0, 1)}
    assert len(hashes) == 1  # identical weights (parameters and averaged batch-norm statistics)

    result = json.loads((out / "train_result.json").read_text())
    assert result["done_flag"] is True
    assert (out / "best_model" / "inference" / "inference.json").is_file()
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records if r["type"] == "event"] == [
        "start",
        "done",
    ]  # written once, by rank 0
    assert sum(r["images"] for r in records if r["type"] == "epoch") == 20  # both ranks' images are counted
    shutil.rmtree(out)
