"""Devices: one parser and one "GPU not available" error (exit 69, same words) for every command."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcls_cli.engine.device import resolve_device as training_device
from mlcls_cli.errors import UsageError
from mlcls_cli.inference.device import DeviceUnavailableError, gpu_count, parse_device_list
from mlcls_cli.inference.device import resolve_device as inference_device
from tests.conftest import SAMPLE_DATASET
from tests.inference.kit import run_cli

pytestmark = pytest.mark.paddle
ABSENT = "gpu:7"  # no usable card on a CPU build; beyond the cards of any test machine otherwise


def test_parsing() -> None:
    assert parse_device_list("CPU") == ("cpu", ())
    assert parse_device_list("gpu") == ("gpu", (0,))
    assert parse_device_list("cuda:1, 2") == ("gpu", (1, 2))
    for bad, message in (
        ("gpu:x", "not a GPU number"),
        ("gpu:0,0", "twice"),
        ("cpu:0", "no card"),
        ("npu:0", "not supported"),
        ("tpu", "invalid device"),
    ):
        with pytest.raises(UsageError, match=message):
            parse_device_list(bad)


def test_training_and_inference_refuse_an_absent_gpu_alike() -> None:
    errors = []
    for resolve in (training_device, inference_device):
        with pytest.raises(DeviceUnavailableError) as info:
            resolve(ABSENT)
        errors.append(info.value)
    assert errors[0].message == errors[1].message and errors[0].hint == errors[1].hint
    assert errors[0].exit_code == 69 and "--device cpu" in (errors[0].hint or "")
    expected = "no usable GPU" if gpu_count() == 0 else "does not exist"
    assert expected in errors[0].message


@pytest.mark.slow
def test_every_command_exits_69_with_the_same_words(tmp_path: Path) -> None:
    commands = {
        "train": ["train", str(SAMPLE_DATASET), "--no-pretrained", "--output", str(tmp_path / "t")],
        "eval": ["eval", str(SAMPLE_DATASET), "--weights", str(tmp_path / "w.pdparams")],
        "predict": ["predict", str(SAMPLE_DATASET / "images"), "--model", "PP-LCNet_x1_0_ML"],
        "serve": ["serve", "--model", "PP-LCNet_x1_0_ML", "--port", "0"],
    }
    lines = {}
    for name, args in commands.items():
        proc = run_cli([*args, "--device", ABSENT], env=None)
        assert proc.returncode == 69, (name, proc.stderr)
        lines[name] = [ln for ln in proc.stderr.splitlines() if ln.startswith(("error:", "  hint:"))]
        assert "Traceback" not in proc.stderr
    assert len({tuple(v) for v in lines.values()}) == 1, lines
