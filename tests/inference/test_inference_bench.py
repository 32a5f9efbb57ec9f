"""benchmarks/bench_predict.py runs and reports both throughputs and their ratio."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.inference.kit import REPO, cli_env

pytestmark = [pytest.mark.paddle, pytest.mark.slow]


def test_bench_predict_smoke() -> None:
    args = ["--size", "64", "--images", "6", "--image-size", "96x64", "--batch-size", "4", "--repeats", "1"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_predict.py"), *args, "--target", "0", "--json"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["floor_images_per_s"] > 0 and report["predict_images_per_s"] > 0
    assert report["ratio"] == pytest.approx(
        report["predict_images_per_s"] / report["floor_images_per_s"], rel=0.01
    )
    assert report["batch_size"] == 4 and report["images"] == 6
