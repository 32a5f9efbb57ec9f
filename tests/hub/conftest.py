"""Fixtures of the hub tests: a live file server and an isolated cache pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub.hubkit import ZooServer, start_server, stop_server


@pytest.fixture
def zoo() -> Iterator[ZooServer]:
    """A started file server on 127.0.0.1; routes are added by each test."""
    server, thread = start_server()
    try:
        yield server
    finally:
        stop_server(server, thread)


@pytest.fixture
def hub_env(zoo: ZooServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache root, the mirror pointing at ``zoo`` and short retry delays; returns the root."""
    home = tmp_path / "home"
    monkeypatch.setenv("MLCLS_HOME", str(home))
    monkeypatch.setenv("MLCLS_MODEL_ENDPOINT", zoo.endpoint)
    monkeypatch.setenv("MLCLS_DOWNLOAD_RETRY_DELAY", "0.01")
    monkeypatch.setenv("MLCLS_DOWNLOAD_TIMEOUT", "10")
    monkeypatch.delenv("MLCLS_DOWNLOAD_RETRIES", raising=False)
    monkeypatch.delenv("MLCLS_OFFLINE", raising=False)
    return home
