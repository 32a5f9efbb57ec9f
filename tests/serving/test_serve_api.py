"""The HTTP service through a real uvicorn server on 127.0.0.1 and real HTTP requests, good and bad."""

from __future__ import annotations

import base64
import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.serving.servekit import LABELS, LiveServer, b64, file_server, image_bytes

pytestmark = pytest.mark.paddle


def _post(server: LiveServer, payload: Any, **kwargs: Any) -> requests.Response:
    return requests.post(server.endpoint(), json=payload, timeout=60, **kwargs)


def _ok(server: LiveServer, payload: dict[str, Any]) -> dict[str, Any]:
    response = _post(server, payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["logId", "result", "errorCode", "errorMsg"]
    assert (body["errorCode"], body["errorMsg"]) == (0, "Success")
    uuid.UUID(body["logId"])
    return body["result"]


def _error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"logId", "errorCode", "errorMsg"}
    assert body["errorCode"] == status
    uuid.UUID(body["logId"])
    return body["errorMsg"]


def _categories(server: LiveServer, seed: int, **extra: Any) -> list[dict[str, Any]]:
    return _ok(server, {"image": b64(image_bytes(seed)), "visualize": False, **extra})["categories"]


# --- good requests ----------------------------------------------------------------------------------


def test_health(server: LiveServer) -> None:
    response = requests.get(server.url + "/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert (body["errorCode"], body["errorMsg"]) == (0, "Healthy")
    uuid.UUID(body["logId"])


def test_base64_image_gives_the_pipelines_categories(server: LiveServer, worker: Any, tmp_path: Path) -> None:
    result = _ok(server, {"image": b64(image_bytes(1)), "visualize": False})
    assert list(result) == ["categories"]  # no picture when visualize is false
    cats = result["categories"]
    # threshold 0 in the package keeps all three classes, best first, with their label names
    assert sorted(c["id"] for c in cats) == [0, 1, 2]
    assert [c["score"] for c in cats] == sorted((c["score"] for c in cats), reverse=True)
    for c in cats:
        assert isinstance(c["id"], int) and isinstance(c["score"], float)
        assert c["name"] == LABELS[c["id"]]
        assert round(c["score"], 5) == c["score"] and 0.0 <= c["score"] <= 1.0
    # the same file predicted by the pipeline from disk (its own reader) gives the same answer
    path = tmp_path / "one.png"
    path.write_bytes(image_bytes(1))
    (res,) = list(worker.pipeline.predict(str(path)))
    assert [(c["id"], c["name"], c["score"]) for c in cats] == list(
        zip(res.class_ids, res.label_names, res.scores, strict=True)
    )


def test_visualize_true_returns_a_jpeg_of_the_labelled_image(server: LiveServer) -> None:
    result = _ok(server, {"image": b64(image_bytes(2)), "visualize": True})
    assert list(result) == ["categories", "image"]
    picture = Image.open(io.BytesIO(base64.b64decode(result["image"], validate=True)))
    assert picture.format == "JPEG"
    assert picture.width >= 32 and picture.height > 32  # the label banner is added below the image


def test_visualize_defaults_to_the_pipeline_setting(server: LiveServer, server_no_urls: LiveServer) -> None:
    payload = {"image": b64(image_bytes(3))}
    assert "image" in _ok(server, payload)  # Serving.visualize: true
    assert "image" not in _ok(server_no_urls, payload)  # created with visualize_default=False
    assert "image" in _ok(server_no_urls, {**payload, "visualize": True})
    assert "image" in _ok(server, {**payload, "visualize": None})


@pytest.mark.parametrize(
    ("threshold", "per_class"),
    [
        (0.5, [0.5, 0.5, 0.5]),
        (0, [0.0, 0.0, 0.0]),
        (1, [1.0, 1.0, 1.0]),
        ([0.9, 0.0, 0.4], [0.9, 0.0, 0.4]),
        ({"default": 0.95, "1": 0.0}, [0.95, 0.0, 0.95]),
        ({"default": 0.0, "2": 1.0, "0": 0.3}, [0.3, 0.0, 1.0]),
        (None, [0.0, 0.0, 0.0]),  # the package's own threshold (0)
    ],
    ids=["float", "int-zero", "int-one", "list", "mapping", "mapping-two-keys", "null"],
)
def test_threshold_forms(server: LiveServer, threshold: Any, per_class: list[float]) -> None:
    everything = _categories(server, 4)
    expected = [c for c in everything if c["score"] > per_class[c["id"]]]  # strict >, as PaddleX
    assert _categories(server, 4, threshold=threshold) == expected


def test_top_k_from_inference_params(server: LiveServer) -> None:
    everything = _categories(server, 5)
    assert _categories(server, 5, inferenceParams={"topK": 2}) == everything[:2]
    assert _categories(server, 5, inferenceParams={}) == everything


def test_formats_and_orientation(server: LiveServer) -> None:
    png = _categories(server, 6)
    bmp = _ok(server, {"image": b64(image_bytes(6, fmt="BMP")), "visualize": False})["categories"]
    assert png == bmp  # lossless formats decode to the same pixels
    # base64 wrapped at 76 columns (MIME style) is accepted
    wrapped = base64.encodebytes(image_bytes(6)).decode("ascii")
    assert "\n" in wrapped
    assert _ok(server, {"image": wrapped, "visualize": False})["categories"] == png


def test_url_input(server: LiveServer) -> None:
    with file_server({"/photo.png": (200, image_bytes(7))}) as base:
        by_url = _ok(server, {"image": base + "/photo.png", "visualize": False})["categories"]
    assert by_url == _categories(server, 7)


# --- refused requests -------------------------------------------------------------------------------


def test_url_input_refused_when_disabled(server_no_urls: LiveServer) -> None:
    with file_server({"/photo.png": (200, image_bytes(7))}) as base:
        message = _error(_post(server_no_urls, {"image": base + "/photo.png"}), 403)
    assert "URL inputs are disabled" in message and "--allow-url-inputs" in message


def test_url_fetch_failures(server: LiveServer) -> None:
    big = b"x" * (2 * 1024 * 1024)  # above the 1 MiB limit of the test server
    with file_server(
        {"/missing.png": (404, b"no"), "/big.png": (200, big), "/text": (200, b"hello")}
    ) as base:
        assert "HTTP 404" in _error(_post(server, {"image": base + "/missing.png"}), 502)
        assert "too large" in _error(_post(server, {"image": base + "/big.png"}), 413)
        assert "could not be decoded" in _error(_post(server, {"image": base + "/text"}), 400)
        port = base.rsplit(":", 1)[1]
    # the file server is stopped now: nothing listens on that port any more
    assert "connection refused" in _error(_post(server, {"image": f"http://127.0.0.1:{port}/x.png"}), 502)
    assert "only http and https" in _error(_post(server, {"image": "ftp://127.0.0.1/x.png"}), 400)
    assert "only http and https" in _error(_post(server, {"image": "file:///etc/passwd"}), 400)


@pytest.mark.parametrize(
    ("image", "status", "fragment"),
    [
        ("not base64 at all!", 400, "valid base64"),
        ("QUJD=QUJD", 400, "valid base64"),  # padding in the middle
        ("", 400, "empty"),
        (b64(b"just some text, not an image"), 400, "could not be decoded"),
        (b64(image_bytes(8)[:60]), 400, "could not be decoded"),  # a truncated PNG
        (b64(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), 400, "could not be decoded"),
    ],
    ids=["garbage", "bad-padding", "empty", "text", "truncated-png", "png-magic-only"],
)
def test_bad_images(server: LiveServer, image: str, status: int, fragment: str) -> None:
    assert fragment in _error(_post(server, {"image": image}), status)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_image_with_too_many_pixels(server: LiveServer) -> None:
    buffer = io.BytesIO()
    Image.new("1", (9500, 9500)).save(buffer, format="PNG")  # 90 Mpx, a few KB compressed
    assert len(buffer.getvalue()) < 200_000
    assert "too large" in _error(_post(server, {"image": b64(buffer.getvalue())}), 413)


def test_oversized_bodies(server: LiveServer) -> None:
    huge = {"image": "A" * (2 * 1024 * 1024)}
    # with a Content-Length header (requests sets it)
    assert "too large" in _error(_post(server, huge), 413)

    # chunked, no Content-Length: counted while it streams in
    def chunks():
        for _ in range(40):
            yield b"A" * 65536

    response = requests.post(
        server.endpoint(), data=chunks(), headers={"Content-Type": "application/json"}, timeout=60
    )
    assert "too large" in _error(response, 413)
    # the server is fine afterwards
    assert _categories(server, 9)


@pytest.mark.parametrize(
    ("threshold", "fragment"),
    [
        ({"x": 0.5, "default": 0.5}, "class ids"),
        ({"1": 0.5}, '"default"'),
        ({"default": None}, "threshold.default must be a number, got null."),
        ([0.5, 0.5], "3 values"),
        ({"default": 0.5, "3": 0.1}, "not a class id"),
        (1.5, "threshold"),  # refused by the pipeline: thresholds are within [0, 1]
        ([0.5, -0.1, 0.5], "threshold"),
    ],
    ids=["bad-key", "no-default", "null-default", "short-list", "key-out-of-range", "above-one", "negative"],
)
def test_bad_thresholds(server: LiveServer, threshold: Any, fragment: str) -> None:
    response = _post(server, {"image": b64(image_bytes(1)), "threshold": threshold})
    assert fragment in _error(response, 422)


THRESHOLD_FORMS = (
    'a number, a list of numbers (one per class) or an object such as {"default": 0.5, "3": 0.8}'
)


@pytest.mark.parametrize(
    ("threshold", "message"),
    [
        ("abc", f'threshold must be {THRESHOLD_FORMS}, got "abc".'),
        (True, f"threshold must be {THRESHOLD_FORMS}, got true."),
        ({"default": "0.5"}, 'threshold.default must be a number, got "0.5".'),
        ([0.5, "x", 0.5], 'threshold[1] must be a number, got "x".'),
        (
            {"default": "0.5", "3": None},
            'threshold.default must be a number, got "0.5". threshold.3 must be a number, got null.',
        ),
    ],
    ids=["string", "boolean", "dict-value", "list-item", "two-problems"],
)
def test_threshold_type_errors_are_one_sentence_each(
    server: LiveServer, threshold: Any, message: str
) -> None:
    assert _error(_post(server, {"image": b64(image_bytes(1)), "threshold": threshold}), 422) == message


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"threshold": 0.5}, "image is required."),
        (
            {"image": 123},
            "image must be a string (the image file's bytes in base64, or an http(s) URL), got 123.",
        ),
        (
            {"image": "eA==", "inferenceParams": {"topK": 0}},
            "inferenceParams.topK must be an integer of at least 1, got 0.",
        ),
        (
            {"image": "eA==", "inferenceParams": {"topK": "a"}},
            'inferenceParams.topK must be an integer of at least 1, got "a".',
        ),
        (
            {"image": "eA==", "inferenceParams": 5},
            'inferenceParams must be an object such as {"topK": 5}, got 5.',
        ),
        ({"image": "eA==", "visualize": "maybe"}, 'visualize must be true, false or null, got "maybe".'),
        (
            {"visualize": 3, "threshold": "x"},
            f'image is required. threshold must be {THRESHOLD_FORMS}, got "x". visualize must be true, false or null, got 3.',
        ),
        (
            ["not", "an", "object"],
            'The request body must be a JSON object such as {"image": "<base64>"}, got ["not", "an", "object"].',
        ),
    ],
    ids=[
        "missing",
        "not-a-string",
        "topk-below-1",
        "topk-not-int",
        "params-not-object",
        "visualize",
        "three",
        "list-body",
    ],
)
def test_schema_errors_are_one_readable_sentence_per_problem(
    server: LiveServer, payload: Any, message: str
) -> None:
    assert _error(_post(server, payload), 422) == message


def test_body_that_is_not_json_or_empty(server: LiveServer) -> None:
    headers = {"Content-Type": "application/json"}
    response = requests.post(server.endpoint(), data=b"{not json", headers=headers, timeout=10)
    message = _error(response, 422)
    assert message.startswith("The request body is not valid JSON: ") and message.endswith(".")
    assert "position 1" in message and "[{" not in message
    response = requests.post(server.endpoint(), data=b"", headers=headers, timeout=10)
    assert (
        _error(response, 422)
        == 'The request body is empty: send a JSON object such as {"image": "<base64>"}.'
    )


def test_a_huge_invalid_value_is_not_echoed_back(server: LiveServer) -> None:
    payload = {"image": b64(image_bytes(1)), "threshold": [0.5] * 50_000}  # wrong length, and big
    assert len(_error(_post(server, payload), 422)) < 1000
    message = _error(_post(server, {"image": ["x" * 500_000]}), 422)
    assert (
        message.endswith(f"got an array of {len(json.dumps(['x' * 500_000]))} characters.")
        and len(message) < 200
    )


def test_unknown_route_and_wrong_method(server: LiveServer) -> None:
    assert _error(requests.get(server.url + "/nope", timeout=10), 404) == "Not Found"
    assert _error(requests.post(server.url + "/predict", json={}, timeout=10), 404) == "Not Found"
    assert _error(requests.get(server.endpoint(), timeout=10), 405) == "Method Not Allowed"
    assert _error(requests.post(server.url + "/health", timeout=10), 405) == "Method Not Allowed"


# --- concurrency ------------------------------------------------------------------------------------


def test_concurrent_requests_match_sequential_ones(server: LiveServer) -> None:
    seeds = list(range(100, 116))
    sequential = [_categories(server, s) for s in seeds]
    assert len({json.dumps(c) for c in sequential}) == len(seeds)  # distinct images, distinct answers

    def one(seed: int) -> tuple[int, dict[str, Any]]:
        response = requests.post(
            server.endpoint(), json={"image": b64(image_bytes(seed)), "visualize": seed % 2 == 0}, timeout=120
        )
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(one, seeds))
    assert [status for status, _ in answers] == [200] * 16
    assert [body["result"]["categories"] for _, body in answers] == sequential
    assert [("image" in body["result"]) for _, body in answers] == [s % 2 == 0 for s in seeds]


def test_offline_server_refuses_url_inputs_without_a_connection(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.inference.kit import file_server as counting_server

    monkeypatch.setenv("MLCLS_OFFLINE", "1")  # the live server runs in this process
    with counting_server() as files:
        url = files.add("/photo.png", image_bytes(7))
        message = _error(_post(server, {"image": url}), 403)
        assert files.hits == {}
    assert "MLCLS_OFFLINE" in message and "base64" in message
