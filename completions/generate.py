"""Regenerate the shell completion scripts in this folder from the installed ``mlcls`` app.

Run ``python completions/generate.py`` after changing the CLI; a test fails when
the committed scripts differ from what the app generates.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = {"bash": "mlcls.bash", "zsh": "_mlcls", "fish": "mlcls.fish"}


def render(shell: str) -> str:
    """The completion script for ``shell`` as the current app produces it."""
    env = {**os.environ, "_MLCLS_COMPLETE": f"source_{shell}"}
    code = "from mlcls_cli.cli.app import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout


def main() -> None:
    for shell, name in FILES.items():
        (HERE / name).write_text(render(shell), encoding="utf-8")
        print(f"wrote completions/{name}")


if __name__ == "__main__":
    main()
