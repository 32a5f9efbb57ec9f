"""Helpers of the inference tests: a small exported model, test images, a local HTTP file server, the CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
MODEL_NAME = "PP-LCNet_x1_0_ML"
LABELS = ["red", "green", "blue", "bright été 狗"]
SIZE = 64
OFFICIAL_TAR_PATH = f"/paddlex/official_inference_model/paddle3.0.0/{MODEL_NAME}_infer.tar"

RED, GREEN, BLUE, WHITE, BLACK = (230, 20, 20), (20, 230, 20), (20, 20, 230), (250, 250, 250), (5, 5, 5)


def build_model(seed: int = 3, *, with_backbone: bool = True, model_name: str = MODEL_NAME) -> Any:
    """``model_name`` (random weights, 4 classes) plus a fixed colour term, so scores follow the colours.

    A freshly initialised network gives nearly the same scores to every image; the
    term ``W @ mean(x)`` makes red, green, blue and bright images score high on
    classes 0, 1, 2 and 3 respectively.
    """
    import paddle
    from paddle import nn

    from mlcls_cli.models import build_model as zoo_model

    class ColourSensitive(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.base = zoo_model(model_name, num_classes=len(LABELS)) if with_backbone else None
            self.colour = nn.Conv2D(
                3, len(LABELS), 1
            )  # a 1x1 conv, not Linear: exports in the legacy format too

        def forward(self, x: Any) -> Any:
            colour = self.colour(x.mean(axis=[2, 3], keepdim=True)).flatten(1)
            return colour if self.base is None else self.base(x) + colour

    paddle.seed(seed)
    model = ColourSensitive()
    weight = np.array([[3, -2, -2], [-2, 3, -2], [-2, -2, 3], [1, 1, 1]], dtype="float32")
    model.colour.weight.set_value(weight.reshape(4, 3, 1, 1))
    model.colour.bias.set_value(np.array([-1.0, -1.0, -1.0, -2.5], dtype="float32"))
    model.eval()
    return model


def export_package(
    out_dir: Path,
    *,
    legacy: bool = False,
    threshold: float = 0.5,
    seed: int = 3,
    model_name: str = MODEL_NAME,
) -> tuple[Any, Path]:
    """Export :func:`build_model` at 64 px; returns ``(dygraph model, package folder)``.

    A single-label ``model_name`` gives a softmax package with its resize-and-crop and Topk.

    The legacy ``.pdmodel`` format gets the colour term alone: paddle 3.3 cannot trace
    the ML-Decoder head's matmul in the legacy static graph.
    """
    from mlcls_cli.models.export import export_model

    model = build_model(seed, with_backbone=not legacy, model_name=model_name)
    path = export_model(
        model,
        out_dir,
        model_name=model_name,
        label_list=LABELS,
        input_size=SIZE,
        threshold=threshold,
        legacy_format=legacy,
    )
    return model, path


def dygraph_probs(model: Any, batch: np.ndarray) -> np.ndarray:
    """``sigmoid(model(batch))`` in eager mode."""
    import paddle

    with paddle.no_grad():
        return paddle.nn.functional.sigmoid(model(paddle.to_tensor(batch))).numpy()


def solid(
    colour: tuple[int, int, int], size: tuple[int, int] = (40, 32), noise: int = 6, seed: int = 0
) -> Image.Image:
    """A nearly uniform RGB image of ``colour`` (width x height ``size``)."""
    rng = np.random.default_rng(seed)
    pixels = np.asarray(colour, dtype=np.int16)[None, None, :] + rng.integers(
        -noise, noise + 1, (size[1], size[0], 3)
    )
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def save(image: Image.Image, path: Path) -> Path:
    """Save ``image`` to ``path`` (format from the suffix), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    """``image`` encoded as ``fmt``."""
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def make_tar(package: Path, top: str = f"{MODEL_NAME}_infer") -> bytes:
    """An official-style ``<name>_infer.tar``: the package files under one top folder."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for file in sorted(package.iterdir()):
            tar.add(file, arcname=f"{top}/{file.name}")
    return buf.getvalue()


@dataclass
class Route:
    """How the server answers one path."""

    body: bytes
    status: int = 200
    delay: float = 0.0  # seconds before answering
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    content_type: str = "application/octet-stream"


@dataclass
class FileServer:
    """A started HTTP server on 127.0.0.1 with programmable routes; ``hits`` counts requests per path."""

    httpd: ThreadingHTTPServer
    routes: dict[str, Route] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def add(self, path: str, body: bytes, **options: Any) -> str:
        """Serve ``body`` at ``path``; return its URL."""
        self.routes[path] = Route(body=body, **options)
        return self.base + path


def _handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            server.hits[path] = server.hits.get(path, 0) + 1
            route = server.routes.get(path)
            if route is None:
                self.send_error(404)
                return
            if route.delay:
                time.sleep(route.delay)
            try:
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                if route.send_length:
                    self.send_header("Content-Length", str(len(route.body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(route.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@contextmanager
def file_server() -> Iterator[FileServer]:
    """A :class:`FileServer` running in a thread for the duration of the block."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    server = FileServer(httpd)
    httpd.RequestHandlerClass = _handler(server)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: this one (isolated by the suite's fixtures) plus ``extra``."""
    env = dict(os.environ)
    env.update(extra)
    env.setdefault("PYTHONUTF8", "1")
    return env


def run_cli(
    args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m mlcls_cli ARGS`` in a real process; capture text output."""
    return subprocess.run(
        [sys.executable, "-m", "mlcls_cli", *args],
        capture_output=True,
        text=True,
        env=env or cli_env(),
        cwd=cwd,
        timeout=timeout,
        encoding="utf-8",
    )
