"""Service building blocks without paddle: image decoding, thresholds, hosts, the body limit."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import pytest
from PIL import Image

from mlcls_cli.serving.errors import ApiError
from mlcls_cli.serving.inputs import decode_base64, decode_image
from mlcls_cli.serving.limits import BodyLimitMiddleware
from mlcls_cli.serving.schemas import normalise_threshold
from mlcls_cli.serving.server import is_loopback, url_inputs_allowed
from mlcls_cli.serving.worker import categories_of
from mlcls_cli.utils.urls import url_scheme


def _png(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_base64_variants() -> None:
    data = b"\x00\x01binary\xff" * 20
    text = base64.b64encode(data).decode("ascii")
    assert decode_base64(text) == data
    assert decode_base64(base64.encodebytes(data).decode("ascii")) == data  # MIME line breaks
    assert decode_base64("data:image/png;base64," + text) == data  # a data: URI prefix is tolerated
    assert decode_base64(f"  {text}\n") == data
    for bad in ("@@@@", "QUJD=QUJD", "QUJ", "é" * 8, "-_-_"):
        with pytest.raises(ApiError) as err:
            decode_base64(bad)
        assert err.value.status == 400
    with pytest.raises(ApiError, match="empty"):
        decode_base64("  ")


def test_url_scheme() -> None:
    assert url_scheme("http://example.com/a.png") == "http"
    assert url_scheme("HTTPS://example.com/a.png") == "https"
    assert url_scheme("ftp://host/x") == "ftp"
    assert url_scheme(base64.b64encode(b"abc" * 10).decode()) is None
    assert url_scheme("iVBORw0KGgo=") is None


def test_decode_image_modes_and_orientation() -> None:
    rgba = Image.new("RGBA", (5, 3), (10, 20, 30, 0))
    decoded = decode_image(_png(rgba))
    assert (decoded.mode, decoded.size, decoded.getpixel((0, 0))) == ("RGB", (5, 3), (10, 20, 30))
    assert decode_image(_png(Image.new("L", (4, 4), 77))).getpixel((1, 1)) == (77, 77, 77)
    assert decode_image(_png(Image.new("P", (4, 4)))).mode == "RGB"

    # EXIF orientation 6 (rotate 90° clockwise to display): a 6x2 file is shown as 2x6
    exif = Image.Exif()
    exif[0x0112] = 6
    jpeg = _png(Image.new("RGB", (6, 2), (200, 0, 0)), "JPEG", exif=exif.tobytes())
    assert decode_image(jpeg).size == (2, 6)


def test_decode_image_refusals() -> None:
    with pytest.raises(ApiError) as err:
        decode_image(b"GIF89a but not really")
    assert err.value.status == 400
    with pytest.raises(ApiError) as err:
        decode_image(_png(Image.new("RGB", (100, 100))), max_pixels=9999)
    assert err.value.status == 413 and "100x100" in err.value.message
    assert decode_image(_png(Image.new("RGB", (100, 100))), max_pixels=10_000).size == (100, 100)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (0.3, 0.3),
        (1, 1.0),
        ([0.1, 0.2, 0.3], [0.1, 0.2, 0.3]),
        ({"default": 0.5, "2": 0.9}, {"default": 0.5, 2: 0.9}),
        ({"default": 1, "0": 0}, {"default": 1.0, 0: 0.0}),
    ],
)
def test_threshold_forms_accepted(value: Any, expected: Any) -> None:
    assert normalise_threshold(value, 3) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (True, "boolean"),
        (float("nan"), "finite"),
        ([0.1, float("inf"), 0.3], "finite"),
        ([0.1, 0.2], "3 values"),
        ({"2": 0.5}, '"default"'),
        ({"default": 0.5, "-1": 0.2}, "class ids"),
        ({"default": 0.5, "cat": 0.2}, "class ids"),
        ({"default": 0.5, "3": 0.2}, "not a class id"),
        ("0.5", "number"),
    ],
)
def test_threshold_forms_refused(value: Any, fragment: str) -> None:
    with pytest.raises(ApiError) as err:
        normalise_threshold(value, 3)
    assert err.value.status == 422 and fragment in err.value.message


def test_categories_sorted_with_names_or_ids() -> None:
    cats = categories_of([0, 2, 1], [0.2, 0.9, 0.2], ["a", "b", "c"])
    assert cats == [
        {"id": 2, "name": "b", "score": 0.9},
        {"id": 0, "name": "a", "score": 0.2},  # ties keep the given order
        {"id": 1, "name": "c", "score": 0.2},
    ]
    assert categories_of([4], [0.7], None) == [{"id": 4, "name": "4", "score": 0.7}]
    assert categories_of([], [], []) == []


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts_and_url_default(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    assert url_inputs_allowed(host, None) is loopback  # URL inputs default to on only on loopback
    assert url_inputs_allowed(host, True) is True
    assert url_inputs_allowed(host, False) is False


class _Recorder:
    """A tiny ASGI app that records the body it was given."""

    def __init__(self) -> None:
        self.body: bytes | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        self.body = message["body"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _run(app: Any, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes, int]:
    """Drive ``app`` with a request body sent in ``chunks``; return (status, body, chunks read)."""
    pending = list(chunks)
    sent: list[dict[str, Any]] = []
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        if not pending:
            return {"type": "http.disconnect"}
        read += 1
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, read


def test_body_limit_passes_small_bodies_whole() -> None:
    inner = _Recorder()
    status, _, _ = _run(BodyLimitMiddleware(inner, 10), [b"abc", b"defg"], [(b"content-length", b"7")])
    assert status == 200 and inner.body == b"abcdefg"


def test_body_limit_refuses_a_declared_length_before_reading() -> None:
    inner = _Recorder()
    headers = [(b"content-length", b"1000"), (b"expect", b"100-continue")]
    status, body, read = _run(BodyLimitMiddleware(inner, 10), [b"x" * 1000], headers)
    assert status == 413 and read == 0 and inner.body is None
    error = json.loads(body)
    assert error["errorCode"] == 413 and "too large" in error["errorMsg"]


def test_body_limit_counts_a_chunked_body() -> None:
    inner = _Recorder()
    status, body, read = _run(BodyLimitMiddleware(inner, 10), [b"12345", b"67890", b"!", b"more"], [])
    assert status == 413 and inner.body is None
    assert read == 4  # the rest is read and dropped, so that a client still sending gets the answer
    assert json.loads(body)["errorCode"] == 413


def test_body_limit_rejects_a_bad_content_length() -> None:
    status, body, _ = _run(BodyLimitMiddleware(_Recorder(), 10), [b"x"], [(b"content-length", b"ten")])
    assert status == 400 and "Content-Length" in json.loads(body)["errorMsg"]


def test_batching_settings_options_beat_the_pipeline_config() -> None:
    from mlcls_cli.cli.serve import _batching
    from mlcls_cli.config import resolve_config
    from mlcls_cli.errors import ConfigError

    class Pipe:
        def __init__(self, *overrides: str) -> None:
            self.config = resolve_config(
                "image_multilabel_classification", overrides=overrides, kind="pipeline"
            )

    assert _batching(Pipe(), None, None) == (1, 5.0)  # off by default
    configured = Pipe("Serving.batch_max_size=4", "Serving.batch_wait_ms=2.5")
    assert _batching(configured, None, None) == (4, 2.5)
    assert _batching(configured, 8, None) == (8, 2.5)
    assert _batching(configured, None, 0.0) == (4, 0.0)
    assert _batching(configured, 1, 10.0) == (1, 10.0)  # an option turns batching off again
    for bad in ("Serving.batch_max_size=0", "Serving.batch_wait_ms=-1", "Serving.batch_size=4"):
        with pytest.raises(ConfigError, match=r"Serving\.batch"):
            Pipe(bad)
