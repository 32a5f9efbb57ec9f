"""Helpers of the service tests: a small exported model, a live uvicorn server, test images."""

from __future__ import annotations

import base64
import http.server
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

LABELS = ["cat", "dog", "狗 (dog)"]
INPUT_SIZE = 64
MODEL_NAME = "PP-LCNet_x1_0_ML"


def export_small_model(out_dir: Path, *, seed: int = 7) -> Path:
    """A randomly initialised PP-LCNet_x1_0_ML with 3 classes, exported at 64 px with label names.

    Freshly initialised, the network gives every image nearly the same scores, so a
    linear term on the mean colour is added to its logits: different test images
    then get clearly different scores, and mixed-up answers would show.
    """
    import paddle
    from paddle import nn

    from mlcls_cli.models import build_model
    from mlcls_cli.models.export import export_model

    class ColourSensitive(nn.Layer):
        def __init__(self, base: nn.Layer, num_classes: int) -> None:
            super().__init__()
            self.base = base
            self.pool = nn.AdaptiveAvgPool2D(1)  # not x.mean(): oneDNN's reduce_mean prints on stdout
            self.colour = nn.Linear(3, num_classes)

        def forward(self, x: Any) -> Any:
            return self.base(x) + self.colour(paddle.flatten(self.pool(x), start_axis=1))

    paddle.seed(seed)
    model = ColourSensitive(build_model(MODEL_NAME, num_classes=len(LABELS)), len(LABELS))
    # threshold 0 in inference.yml keeps every class, so the tests see all three categories
    return export_model(
        model, out_dir, model_name=MODEL_NAME, label_list=LABELS, input_size=INPUT_SIZE, threshold=0.0
    )


def write_pipeline_yaml(path: Path, model_dir: Path, *, visualize: bool = True) -> Path:
    """A pipeline YAML (PaddleX layout) running ``model_dir`` on the CPU."""
    path.write_text(
        "pipeline_name: image_multilabel_classification\n"
        "device: cpu\n"
        "SubModules:\n"
        "  ImageMultiLabelClassification:\n"
        "    module_name: image_multilabel_classification\n"
        f"    model_name: {MODEL_NAME}\n"
        f"    model_dir: {model_dir.as_posix()}\n"
        "    batch_size: 1\n"
        "Serving:\n"
        f"  visualize: {'true' if visualize else 'false'}\n",
        encoding="utf-8",
    )
    return path


def image_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (32, 32)) -> bytes:
    """A small picture (a colour ramp with noise, different for each seed) encoded as ``fmt``."""
    rng = np.random.default_rng(seed)
    width, height = size
    ramp = np.linspace(0.0, 1.0, width)[None, :, None]
    pixels = (
        rng.integers(0, 256, 3)[None, None, :]
        + rng.integers(-60, 61, 3)[None, None, :] * ramp
        + rng.normal(0.0, 8.0, (height, width, 3))
    )
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass
class LiveServer:
    """A uvicorn server running in a thread of the test process."""

    url: str
    server: Any
    thread: threading.Thread

    def endpoint(self) -> str:
        return self.url + "/multilabel-image-classification"


@contextmanager
def live_server(app: Any) -> Iterator[LiveServer]:
    """Serve ``app`` with a real uvicorn on 127.0.0.1 (a free port) until the block ends."""
    from mlcls_cli.serving.server import bind_socket, bound_url, make_server

    sock = bind_socket("127.0.0.1", 0)
    server = make_server(app, quiet=True)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(bound_url(sock), server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


class _FileHandler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes]]] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path, (404, b"missing"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def file_server(routes: dict[str, tuple[int, bytes]]) -> Iterator[str]:
    """A stdlib HTTP server on 127.0.0.1 answering GET ``path`` with ``(status, body)``; yields its URL."""
    handler = type("Handler", (_FileHandler,), {"routes": dict(routes)})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
