"""With --quiet, a command that loads paddle prints nothing on stderr (no ccache warning, no C++ logs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_DATASET
from tests.inference.kit import cli_env, export_package

pytestmark = pytest.mark.paddle


def test_quiet_predict_has_a_silent_stderr(tmp_path: Path) -> None:
    _, package = export_package(tmp_path / "pkg")
    image = SAMPLE_DATASET / "images" / "scene_0001.png"
    proc = subprocess.run(
        [sys.executable, "-m", "mlcls_cli", "-q", "predict", str(image), "--model-dir", str(package)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith(str(image))


@pytest.mark.parametrize(("debug", "expected"), [(False, "2"), (True, "None")])
def test_paddle_cpp_logs_are_only_silenced_without_debug(debug: bool, expected: str) -> None:
    code = (
        "import os; from mlcls_cli.console import quiet_paddle; "
        f"quiet_paddle(debug={debug}); print(os.environ.get('GLOG_minloglevel'))"
    )
    env = {k: v for k, v in cli_env().items() if k != "GLOG_minloglevel"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.stdout.strip() == expected
