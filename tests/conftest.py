"""Suite-wide fixtures: keep every test away from the user's real cache and settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DATASET = REPO / "examples" / "sample_dataset"
SAMPLE_CLS_DATASET = REPO / "examples" / "sample_cls_dataset"


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the model cache at a temp folder and clear variables that change behaviour."""
    monkeypatch.setenv("MLCLS_HOME", str(tmp_path_factory.mktemp("mlcls_home")))
    for var in (
        "MLCLS_OFFLINE",
        "MLCLS_MODEL_ENDPOINT",
        "MLCLS_DEBUG",
        "NO_COLOR",
        "FORCE_COLOR",
        "MLCLS_FONT",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLCLS_NO_PROGRESS", "1")
    os.environ.setdefault("PYTHONUTF8", "1")


@pytest.fixture(autouse=True)
def _reset_console() -> None:
    """Each test starts with default output switches (the CLI callback sets them globally)."""
    from mlcls_cli import console

    console.configure()
