"""Shell completion scripts: committed files are current, and completion really answers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from completions.generate import FILES, HERE, render


@pytest.mark.parametrize("shell", sorted(FILES))
def test_committed_completion_scripts_are_current(shell: str) -> None:
    committed = (HERE / FILES[shell]).read_text(encoding="utf-8")
    assert committed == render(shell), "stale: run `python completions/generate.py`"
    assert "mlcls" in committed


def test_bash_completion_lists_subcommands_and_options() -> None:
    code = "from mlcls_cli.cli.app import main; main()"
    env = {**os.environ, "_MLCLS_COMPLETE": "complete_bash", "COMP_WORDS": "mlcls ch", "COMP_CWORD": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    assert "check" in out.split()
    env.update(COMP_WORDS="mlcls get-config --", COMP_CWORD="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    assert "--save-path" in out.split()
