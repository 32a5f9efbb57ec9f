"""The service around stand-in pipelines: one inference at a time, a free event loop, JSON 500 for bugs."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from mlcls_cli.serving.app import create_app
from mlcls_cli.serving.worker import InferenceWorker
from tests.serving.servekit import b64, image_bytes, live_server


class _Result:
    def __init__(self, value: float) -> None:
        self.class_ids = [0]
        self.scores = [value]
        self.label_names = ["only"]


class _CountingPipeline:
    """Records how many predict calls run at once; each one can be held until released."""

    label_list = ("only",)

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self._guard = threading.Lock()

    def predict(self, image: Any, **kwargs: Any) -> Any:
        with self._guard:
            self.running += 1
            self.most = max(self.most, self.running)
        self.entered.set()
        self.release.wait(30)
        time.sleep(0.01)  # give a second caller the chance to overlap, were calls not serialised
        with self._guard:
            self.running -= 1
        yield _Result(round(image.getpixel((0, 0))[0] / 255, 5))


class _BrokenPipeline:
    label_list = ("only",)

    def predict(self, image: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the pipeline")


def _payload(seed: int) -> dict[str, Any]:
    return {"image": b64(image_bytes(seed)), "visualize": False}


def test_calls_into_the_pipeline_never_overlap() -> None:
    pipeline = _CountingPipeline()
    worker = InferenceWorker(pipeline)
    with live_server(create_app(worker)) as server, ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(lambda s: requests.post(server.endpoint(), json=_payload(s), timeout=60), range(8))
        )
    worker.close()
    assert [a.status_code for a in answers] == [200] * 8
    assert pipeline.most == 1


def test_health_answers_while_an_inference_runs() -> None:
    pipeline = _CountingPipeline()
    pipeline.release.clear()  # the first inference blocks until the health check came back
    worker = InferenceWorker(pipeline)
    with live_server(create_app(worker)) as server, ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(requests.post, server.endpoint(), json=_payload(1), timeout=60)
        assert pipeline.entered.wait(30)
        health = requests.get(server.url + "/health", timeout=30)
        still_running = pipeline.running == 1
        pipeline.release.set()
        assert pending.result().status_code == 200
    worker.close()
    assert health.status_code == 200 and still_running


def test_a_bug_is_a_json_500() -> None:
    worker = InferenceWorker(_BrokenPipeline())
    with live_server(create_app(worker)) as server:
        response = requests.post(server.endpoint(), json=_payload(1), timeout=60)
        health = requests.get(server.url + "/health", timeout=10)
    worker.close()
    assert response.status_code == 500
    body = response.json()
    assert (body["errorCode"], body["errorMsg"]) == (500, "Internal server error") and body["logId"]
    assert health.status_code == 200  # the server keeps serving
