"""Test kit for the hub: a real HTTP file server on 127.0.0.1, programmable per route, and archive builders.

Each route can fail its first requests with 500, cut the body after some bytes
(aborting the connection, or closing it cleanly so the body is shorter than its
Content-Length), ignore Range requests, or wait for an event before sending the
body. Every request and every accepted connection is recorded.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import socket
import struct
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "PP-LCNet_x1_0_ML"
MIRROR_PREFIX = "/mirror"


@dataclass
class Route:
    """How the server answers one path."""

    body: bytes
    status: int = 200
    fail_first: int = 0  # answer 500 to the first N requests
    cut_after: int | None = None  # send only this many body bytes ...
    cut_times: int = 1  # ... in this many answers
    cut_mode: str = "reset"  # "reset" aborts the TCP connection; "close" ends it cleanly (short body)
    ignore_range: bool = False  # always answer 200 with the whole body
    gate: threading.Event | None = None  # wait for this before sending the body
    chunk_delay: float = 0.0  # seconds between 16 KiB chunks
    etag: str = '"v1"'
    requests: int = 0
    cuts: int = 0


@dataclass
class Hit:
    """One request the server saw."""

    path: str
    range: str | None
    status: int


@dataclass
class ZooServer:
    """The running server: its routes, what it saw, and URL helpers."""

    httpd: ThreadingHTTPServer
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    first_request: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def endpoint(self) -> str:
        """The value for ``MLCLS_MODEL_ENDPOINT``."""
        return self.base + MIRROR_PREFIX

    def add(self, path: str, body: bytes, **options: object) -> str:
        """Serve ``body`` at ``path``; return its URL."""
        self.routes[path] = Route(body=body, **options)  # type: ignore[arg-type]
        return self.base + path

    def add_official(self, official_url: str, body: bytes, **options: object) -> str:
        """Serve ``body`` where the mirror maps ``official_url``; return the mirrored URL."""
        path = MIRROR_PREFIX + re.sub(r"^https?://[^/]+", "", official_url)
        return self.add(path, body, **options)

    def hits_for(self, path_part: str) -> list[Hit]:
        """Requests whose path contains ``path_part``."""
        return [hit for hit in self.hits if path_part in hit.path]


def _handler(server: ZooServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output clean
            pass

        def _record(self, status: int) -> None:
            with server.lock:
                server.hits.append(Hit(self.path, self.headers.get("Range"), status))
            server.first_request.set()

        def do_GET(self) -> None:
            route = server.routes.get(self.path)
            if route is None:
                self._record(404)
                self.send_error(404)
                return
            with server.lock:
                route.requests += 1
                failing = route.requests <= route.fail_first
            if failing:
                self._record(500)
                self.send_error(500, "planned failure")
                return
            body, start, status = route.body, 0, 200
            asked = re.match(r"bytes=(\d+)-$", self.headers.get("Range", ""))
            if asked and not route.ignore_range:
                start = int(asked.group(1))
                if start >= len(body):
                    self._record(416)
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            payload = body[start:]
            self._record(status)
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", route.etag)
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            if route.gate is not None:
                route.gate.wait(timeout=60)
            with server.lock:
                cut = route.cut_after is not None and route.cuts < route.cut_times
                if cut:
                    route.cuts += 1
            if cut:
                self.wfile.write(payload[: route.cut_after])
                self.wfile.flush()
                if route.cut_mode == "reset":
                    time.sleep(0.2)  # let the client drain what was sent; a reset discards unread data
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            for offset in range(0, len(payload), 16384):
                self.wfile.write(payload[offset : offset + 16384])
                if route.chunk_delay:
                    time.sleep(route.chunk_delay)

        def finish(self) -> None:
            with contextlib.suppress(OSError):  # the connection was cut on purpose
                super().finish()

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ZooServer

    def verify_request(self, request: object, client_address: object) -> bool:
        with self.owner.lock:
            self.owner.connections += 1
        return True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # cut connections raise in the handler thread; that is the point


def payload(size: int, seed: int = 0) -> bytes:
    """Deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


def package_files(model: str = MODEL, params_size: int = 200_000) -> dict[str, bytes]:
    """The files of a small fake inference package."""
    return {
        "inference.json": b'{"program": "fake graph for tests"}\n',
        "inference.pdiparams": payload(params_size, seed=7),
        "inference.yml": f"Global:\n  model_name: {model}\n".encode(),
    }


def make_tar(files: dict[str, bytes], top: str | None = f"{MODEL}_infer") -> bytes:
    """A tar archive of ``files``, wrapped in folder ``top`` unless it is None."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if top:
            info = tarfile.TarInfo(top)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def start_server() -> tuple[ZooServer, threading.Thread]:
    """Start a server on a free port in a daemon thread."""
    httpd = _Server(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server = ZooServer(httpd)
    httpd.owner = server
    httpd.RequestHandlerClass = _handler(server)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


def stop_server(server: ZooServer, thread: threading.Thread) -> None:
    """Release every waiting answer and stop the server."""
    for route in server.routes.values():
        if route.gate is not None:
            route.gate.set()
    server.httpd.shutdown()
    server.httpd.server_close()
    thread.join(timeout=5)
