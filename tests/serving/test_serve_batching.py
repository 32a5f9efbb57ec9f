"""Dynamic batching in the service: batches really form, and every client gets its own answer.

Batch sizes are read from the worker's public ``batch_sizes()``. Batches are made to
form without relying on timing: either the batch thread's first inference is held
until the others are queued (``queued``), or the wait is so long that a batch only
runs once it is full.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

from mlcls_cli.errors import UsageError
from mlcls_cli.inference.model import MultiLabelModel
from mlcls_cli.serving.app import create_app
from mlcls_cli.serving.errors import ApiError
from mlcls_cli.serving.worker import InferenceWorker
from tests.serving.servekit import LiveServer, b64, image_bytes, live_server

#: A batch that never fills runs after this long: long enough that only full batches run in the tests.
FOREVER_MS = 120_000.0


def _post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = requests.post(url, json=payload, timeout=120)
    return response.status_code, response.json()


def _all_at_once(url: str, payloads: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        return list(pool.map(lambda p: _post(url, p), payloads))


def _wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


# --- a stand-in backend: scores are the image's mean colour; it can hold its first call or fail ----------


class _ColourPredictor:
    """Probabilities = the red, green, blue of each image's top-left pixel; a batch with a black image fails."""

    label_list = ("red", "green", "blue")
    task = "image_multilabel_classification"
    topk = None  # multi-label packages set no top-k
    threshold = 0.0
    device = "cpu"
    backend = "stand-in"
    precision = "fp32"
    model_name = "stand-in"
    model_dir = Path(".")

    def __init__(self, *, hold_first: bool = False) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.threads: set[str] = set()

    @staticmethod
    def preprocessor(image: Image.Image) -> np.ndarray:
        return np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        assert self.release.wait(60)
        if any(float(image.max()) == 0.0 for image in batch):
            raise RuntimeError("the backend cannot take a black image")
        return np.ascontiguousarray(batch[:, :, 0, 0])  # the colour of the top-left pixel


def _model(predictor: _ColourPredictor) -> MultiLabelModel:
    return MultiLabelModel(predictor, workers=0)  # type: ignore[arg-type]


def _png(colour: tuple[int, int, int]) -> str:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, format="PNG")
    return b64(buffer.getvalue())


def _expected(colour: tuple[int, int, int], threshold: float = 0.0, top_k: int | None = None) -> list[Any]:
    """The categories the stand-in gives a plain ``colour`` image with ``threshold`` and ``top_k``."""
    probs = np.asarray(colour, dtype=np.float32) / 255.0
    kept = sorted((i for i in range(3) if probs[i] > np.float32(threshold)), key=lambda i: -probs[i])
    names = _ColourPredictor.label_list
    return [{"id": i, "name": names[i], "score": float(np.around(np.float64(probs[i]), 5))} for i in kept][
        :top_k
    ]


COLOURS = [(200, 30, 60), (10, 220, 90), (40, 50, 240), (120, 130, 20), (250, 5, 100), (15, 160, 160)]


def test_requests_queued_during_an_inference_share_the_next_batch_and_keep_their_settings() -> None:
    predictor = _ColourPredictor(hold_first=True)
    # no waiting: a batch is what queued while the previous one ran
    worker = InferenceWorker(_model(predictor), batch_max_size=len(COLOURS), batch_wait_ms=0)
    settings = [(0.0, None), (0.3, None), (0.0, 1), (0.5, 2), (0.9, None), (0.1, 1)]
    app = create_app(worker, visualize_default=False)
    with live_server(app) as server, ThreadPoolExecutor(max_workers=1 + len(COLOURS)) as pool:
        first = pool.submit(_post, server.endpoint(), {"image": _png((1, 2, 3))})
        assert predictor.entered.wait(60)  # the first request is in the model, alone
        answers = [
            pool.submit(
                _post,
                server.endpoint(),
                {
                    "image": _png(colour),
                    "threshold": threshold,
                    "inferenceParams": {"topK": top_k},
                    "visualize": i % 2 == 0,
                },
            )
            for i, (colour, (threshold, top_k)) in enumerate(zip(COLOURS, settings, strict=True))
        ]
        _wait_until(lambda: worker.queued == len(COLOURS), "every request is queued")
        predictor.release.set()
        results = [a.result() for a in answers]
        assert first.result()[0] == 200
    worker.close()
    assert [status for status, _ in results] == [200] * len(COLOURS)
    for i, ((_, body), colour, (threshold, top_k)) in enumerate(zip(results, COLOURS, settings, strict=True)):
        assert body["result"]["categories"] == _expected(colour, threshold, top_k)
        assert ("image" in body["result"]) == (i % 2 == 0)
    assert worker.batch_sizes() == {1: 1, len(COLOURS): 1}
    assert predictor.threads == {"mlcls-batch"}  # every inference on the one batch thread


def test_a_failing_batch_fails_only_the_request_that_fails_alone() -> None:
    predictor = _ColourPredictor(hold_first=True)
    worker = InferenceWorker(_model(predictor), batch_max_size=4, batch_wait_ms=0)
    colours = [(200, 30, 60), (0, 0, 0), (10, 220, 90), (40, 50, 240)]  # the black one breaks the backend
    with live_server(create_app(worker, visualize_default=False)) as server:
        with ThreadPoolExecutor(max_workers=5) as pool:
            first = pool.submit(_post, server.endpoint(), {"image": _png((1, 2, 3))})
            assert predictor.entered.wait(60)
            answers = [pool.submit(_post, server.endpoint(), {"image": _png(c)}) for c in colours]
            _wait_until(lambda: worker.queued == 4, "every request is queued")
            predictor.release.set()
            results = [a.result() for a in answers]
            assert first.result()[0] == 200
        health = requests.get(server.url + "/health", timeout=30)
    worker.close()
    assert [status for status, _ in results] == [200, 500, 200, 200]
    assert results[1][1]["errorMsg"] == "Internal server error"
    for (_, body), colour in zip(results, colours, strict=True):
        if colour != (0, 0, 0):
            assert body["result"]["categories"] == _expected(colour)
    # the held call, the batch of 4 that failed, then its 4 requests one by one
    assert worker.batch_sizes() == {1: 5, 4: 1}
    assert health.status_code == 200


def test_bad_requests_are_refused_before_joining_a_batch() -> None:
    predictor = _ColourPredictor()
    worker = InferenceWorker(_model(predictor), batch_max_size=2, batch_wait_ms=FOREVER_MS)
    good = [{"image": _png((200, 30, 60))}, {"image": _png((10, 220, 90)), "threshold": 0.5}]
    bad = [
        {"image": _png((1, 1, 1)), "threshold": 1.5},  # refused by the model's threshold check
        {"image": _png((1, 1, 1)), "threshold": [0.5, 0.5]},  # refused by the request checks
        {"image": b64(b"not an image")},
    ]
    with live_server(create_app(worker, visualize_default=False)) as server:
        results = _all_at_once(server.endpoint(), good + bad)
    worker.close()
    # the two good requests fill the one batch that runs (were a bad one queued, it would never fill)
    assert [status for status, _ in results] == [200, 200, 422, 422, 400]
    assert results[0][1]["result"]["categories"] == _expected((200, 30, 60))
    assert results[1][1]["result"]["categories"] == _expected((10, 220, 90), 0.5)
    assert worker.batch_sizes() == {2: 1}


def test_health_answers_while_a_batch_runs() -> None:
    predictor = _ColourPredictor(hold_first=True)
    worker = InferenceWorker(_model(predictor), batch_max_size=8, batch_wait_ms=0)
    with live_server(create_app(worker)) as server, ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_post, server.endpoint(), {"image": _png((9, 9, 9))})
        assert predictor.entered.wait(60)
        health = requests.get(server.url + "/health", timeout=30)
        predictor.release.set()
        assert pending.result()[0] == 200
    worker.close()
    assert health.status_code == 200


def test_close_runs_the_queued_requests_at_once_then_refuses_new_ones() -> None:
    predictor = _ColourPredictor()
    worker = InferenceWorker(_model(predictor), batch_max_size=8, batch_wait_ms=FOREVER_MS)
    images = [Image.new("RGB", (8, 8), colour) for colour in COLOURS[:3]]

    async def scenario() -> tuple[list[Any], Any]:
        tasks = [asyncio.create_task(worker.predict_async(image, visualize=False)) for image in images]
        # three requests wait for a batch of 8 that will not fill before the test times out
        await asyncio.to_thread(_wait_until, lambda: worker.queued == 3, "three requests are queued")
        await asyncio.to_thread(worker.close)
        done = await asyncio.gather(*tasks)
        try:
            await worker.predict_async(images[0], visualize=False)
        except ApiError as exc:
            return done, exc
        return done, None

    done, refused = asyncio.run(scenario())
    assert [p.categories for p in done] == [_expected(c) for c in COLOURS[:3]]
    assert worker.batch_sizes() == {3: 1}
    assert isinstance(refused, ApiError) and refused.status == 503


def test_requests_given_up_while_queued_are_not_run() -> None:
    predictor = _ColourPredictor(hold_first=True)
    worker = InferenceWorker(_model(predictor), batch_max_size=8, batch_wait_ms=0)
    images = [Image.new("RGB", (8, 8), colour) for colour in COLOURS[:3]]

    async def scenario() -> list[Any]:
        tasks = [asyncio.create_task(worker.predict_async(images[0], visualize=False))]
        await asyncio.to_thread(predictor.entered.wait, 60)  # the first one is in the model, alone
        tasks += [asyncio.create_task(worker.predict_async(image, visualize=False)) for image in images[1:]]
        await asyncio.to_thread(_wait_until, lambda: worker.queued == 2, "two requests are queued")
        tasks[1].cancel()  # as when a client goes away
        await asyncio.wait([tasks[1]])
        predictor.release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    outcomes = asyncio.run(scenario())
    worker.close()
    assert isinstance(outcomes[1], asyncio.CancelledError)
    assert [outcomes[0].categories, outcomes[2].categories] == [_expected(COLOURS[0]), _expected(COLOURS[2])]
    assert worker.batch_sizes() == {1: 2}  # the cancelled request never reached the model


def test_a_batch_thread_that_dies_fails_its_requests_and_refuses_new_ones() -> None:
    class Fatal(BaseException):
        """Not an Exception: escapes the per-batch error handling, as a bug in the batch thread would."""

    class DyingPredictor(_ColourPredictor):
        def run(self, batch: np.ndarray) -> np.ndarray:
            raise Fatal("the backend pulled the plug")

    worker = InferenceWorker(_model(DyingPredictor()), batch_max_size=2, batch_wait_ms=FOREVER_MS)
    images = [Image.new("RGB", (8, 8), colour) for colour in COLOURS[:2]]

    async def scenario() -> list[Any]:
        tasks = [worker.predict_async(image, visualize=False) for image in images + images[:1]]
        first = await asyncio.gather(*tasks[:2], return_exceptions=True)
        try:
            await tasks[2]
        except ApiError as exc:
            return [*first, exc]
        return [*first, None]

    outcomes = asyncio.run(scenario())
    worker.close()
    assert [type(o) for o in outcomes] == [ApiError] * 3
    assert [o.status for o in outcomes] == [503] * 3
    assert "stopped after an error" in outcomes[2].message


@pytest.mark.parametrize(
    ("size", "wait", "fragment"),
    [
        (0, 5.0, "1..256"),
        (257, 5.0, "1..256"),
        (2.5, 5.0, "an integer"),
        (8, -1.0, ">= 0"),
        (8, float("nan"), ">= 0"),
    ],
    ids=["size-0", "size-257", "size-float", "wait-negative", "wait-nan"],
)
def test_batching_settings_are_checked(size: Any, wait: Any, fragment: str) -> None:
    with pytest.raises(UsageError, match="--batch") as caught:
        InferenceWorker(_model(_ColourPredictor()), batch_max_size=size, batch_wait_ms=wait)
    assert fragment in caught.value.message


def test_batching_needs_a_model() -> None:
    class Bare:
        label_list = ("only",)

        def predict(self, image: Any, **kwargs: Any) -> Any:
            raise AssertionError("not called")

    with pytest.raises(UsageError, match="create_pipeline"):
        InferenceWorker(Bare(), batch_max_size=4)
    assert InferenceWorker(Bare()).batch_sizes() == {}  # without batching any pipeline will do


# --- the real exported model, through the service as `mlcls serve` loads it --------------------------


@pytest.fixture(scope="module")
def batched_pipeline(pipeline_yaml: Path) -> Any:
    from mlcls_cli.serving.server import load_pipeline

    return load_pipeline(pipeline_yaml)


@pytest.fixture
def full_batches_server(batched_pipeline: Any) -> Iterator[tuple[LiveServer, InferenceWorker]]:
    """A server whose batches of 8 only run once full."""
    worker = InferenceWorker(batched_pipeline, batch_max_size=8, batch_wait_ms=FOREVER_MS)
    try:
        with live_server(create_app(worker, visualize_default=True)) as live:
            yield live, worker
    finally:
        worker.close()


REQUEST_SETTINGS: list[dict[str, Any]] = [
    {},
    {"threshold": 0.5},
    {"threshold": [0.9, 0.0, 0.4], "inferenceParams": {"topK": 1}},
    {"threshold": {"default": 0.95, "1": 0.0}},
    {"inferenceParams": {"topK": 2}},
    {"threshold": 0.3, "visualize": True},
    {"visualize": True},
    {"threshold": 0.0, "inferenceParams": {"topK": 3}},
]


def _same_categories(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """Same classes in the same order; scores equal up to the last of their 5 decimals.

    A batch may be computed with other kernels than one image alone, so the last
    digit may differ on some machines (it did not on the one this was written on).
    """
    assert [(c["id"], c["name"]) for c in got] == [(c["id"], c["name"]) for c in want]
    assert [c["score"] for c in got] == pytest.approx([c["score"] for c in want], abs=2e-5)


def _drawn(image_b64: str, categories: list[dict[str, Any]]) -> str:
    """The JPEG (base64) the service returns for ``image_b64`` labelled with ``categories``."""
    from mlcls_cli.inference.result import MLClassResult
    from mlcls_cli.serving.app import encode_jpeg_base64
    from mlcls_cli.serving.inputs import decode_base64, decode_image

    result = MLClassResult(
        input_path=None,
        class_ids=[c["id"] for c in categories],
        scores=[c["score"] for c in categories],
        label_names=[c["name"] for c in categories],
        image=decode_image(decode_base64(image_b64)),
    )
    return encode_jpeg_base64(result.img["res"])


@pytest.mark.paddle
def test_concurrent_clients_each_get_their_own_result_from_one_batch(
    full_batches_server: tuple[LiveServer, InferenceWorker], server: LiveServer
) -> None:
    live, worker = full_batches_server
    payloads = [
        {"image": b64(image_bytes(300 + i)), "visualize": False, **extra}
        for i, extra in enumerate(REQUEST_SETTINGS)
    ]
    # one by one on the server without batching: what each client must get
    expected = [_post(server.endpoint(), p) for p in payloads]
    assert [status for status, _ in expected] == [200] * 8
    plain = [
        _post(server.endpoint(), {"image": p["image"], "visualize": False})[1]["result"] for p in payloads
    ]
    assert len({json.dumps(r["categories"]) for r in plain}) == 8  # the images are told apart
    # plus requests refused before joining: a bad threshold and an image that cannot be decoded
    extra = [{"image": b64(image_bytes(1)), "threshold": 1.5}, {"image": b64(b"not an image")}]

    results = _all_at_once(live.endpoint(), payloads + extra)
    assert [status for status, _ in results] == [200] * 8 + [422, 400]
    for (_, got), (_, want), payload in zip(results[:8], expected, payloads, strict=True):
        _same_categories(got["result"]["categories"], want["result"]["categories"])
        assert ("image" in got["result"]) == bool(payload.get("visualize"))
        if "image" in got["result"]:  # the request's own picture, labelled with its own categories
            assert got["result"]["image"] == _drawn(payload["image"], got["result"]["categories"])
    assert worker.batch_sizes() == {8: 1}


@pytest.mark.paddle
def test_a_lone_request_runs_after_the_wait(batched_pipeline: Any, server: LiveServer) -> None:
    worker = InferenceWorker(batched_pipeline, batch_max_size=8, batch_wait_ms=20)
    payload = {"image": b64(image_bytes(42)), "visualize": False}
    with live_server(create_app(worker)) as live:
        answers = [_post(live.endpoint(), payload) for _ in range(2)]
    worker.close()
    assert [status for status, _ in answers] == [200, 200]
    assert (
        answers[0][1]["result"] == answers[1][1]["result"] == _post(server.endpoint(), payload)[1]["result"]
    )
    assert worker.batch_sizes() == {1: 2}  # each ran alone once its wait was over


def test_requests_beyond_max_queue_are_refused_at_once_with_503() -> None:
    predictor = _ColourPredictor(hold_first=True)
    worker = InferenceWorker(_model(predictor), batch_max_size=4, batch_wait_ms=0)
    app = create_app(worker, visualize_default=False, max_queue=2)
    with live_server(app) as server, ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(_post, server.endpoint(), {"image": _png((1, 2, 3))})
        assert predictor.entered.wait(60)  # in the model, held
        second = pool.submit(_post, server.endpoint(), {"image": _png((200, 30, 60))})
        _wait_until(lambda: worker.queued == 1, "the second request is queued")
        refused = requests.post(server.endpoint(), json={"image": _png((10, 220, 90))}, timeout=30)
        health = requests.get(server.url + "/health", timeout=30)
        predictor.release.set()
        assert first.result()[0] == 200
        assert second.result() == (200, second.result()[1])
        after = _post(server.endpoint(), {"image": _png((40, 50, 240))})  # room again
    worker.close()
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    body = refused.json()
    assert body["errorCode"] == 503 and "--max-queue" in body["errorMsg"]
    assert health.status_code == 200  # the limit is for inference requests only
    assert second.result()[1]["result"]["categories"] == _expected((200, 30, 60))
    assert after[0] == 200 and after[1]["result"]["categories"] == _expected((40, 50, 240))
