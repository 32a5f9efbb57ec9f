"""Fixtures of the service tests: one small exported model, its pipeline, and live servers on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.servekit import LiveServer, export_small_model, live_server, write_pipeline_yaml

#: Body limit of the test servers (MiB): small, so the 413 tests send little.
TEST_MAX_BODY_MB = 1.0


@pytest.fixture(scope="session")
def model_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The exported 3-class model (64 px, random weights, threshold 0 in inference.yml)."""
    return export_small_model(tmp_path_factory.mktemp("serve_model") / "inference")


@pytest.fixture(scope="session")
def pipeline_yaml(model_package: Path) -> Path:
    """A pipeline YAML pointing model_dir at the exported package (visualize on)."""
    return write_pipeline_yaml(model_package.parent / "pipeline.yaml", model_package)


@pytest.fixture(scope="session")
def worker(pipeline_yaml: Path) -> Iterator[Any]:
    """The pipeline loaded as `mlcls serve` loads it, behind the service's inference worker."""
    from mlcls_cli.serving.server import load_pipeline
    from mlcls_cli.serving.worker import InferenceWorker

    worker = InferenceWorker(load_pipeline(pipeline_yaml))
    yield worker
    worker.close()


@pytest.fixture(scope="session")
def server(worker: Any) -> Iterator[LiveServer]:
    """A live server with URL inputs allowed (as on a loopback host) and a 1 MiB body limit."""
    from mlcls_cli.serving.app import create_app

    app = create_app(worker, visualize_default=True, allow_url_inputs=True, max_body_mb=TEST_MAX_BODY_MB)
    with live_server(app) as live:
        yield live


@pytest.fixture(scope="session")
def server_no_urls(worker: Any) -> Iterator[LiveServer]:
    """A live server with URL inputs refused (the default off loopback) and visualize off by default."""
    from mlcls_cli.serving.app import create_app

    app = create_app(worker, visualize_default=False, allow_url_inputs=False, max_body_mb=TEST_MAX_BODY_MB)
    with live_server(app) as live:
        yield live
