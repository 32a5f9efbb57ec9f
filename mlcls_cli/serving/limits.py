"""A request-body size limit, enforced before the body is read into memory.

A pure ASGI middleware (no FastAPI import), so the limit works with any FastAPI
version. A declared ``Content-Length`` above the limit is refused at once; a
body without one (chunked) is counted while it streams in and refused as soon
as it passes the limit. The whole body is then handed on to the app in one
piece, so nothing downstream can read more than the limit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mlcls_cli.serving.errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: After refusing a body, read and discard at most this much more of it, so that a
#: client still sending gets to read the 413 instead of a connection reset.
DRAIN_LIMIT = 32 * 1024 * 1024


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.3g} MiB"


class BodyLimitMiddleware:
    """Answer 413 (JSON error body) to any HTTP request whose body is larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _send_error(send, 400, "invalid Content-Length header")
                return
            if length > self.max_bytes:
                # A client waiting for "100 Continue" has not sent the body: answer now.
                if headers.get(b"expect", b"").lower() != b"100-continue":
                    await _drain(receive, min(length, DRAIN_LIMIT))
                await _send_error(send, 413, self._too_large(f"{length} bytes"))
                return

        chunks: list[bytes] = []
        total = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            total += len(body)
            more = bool(message.get("more_body", False))
            if total > self.max_bytes:
                if more:
                    await _drain(receive, DRAIN_LIMIT)
                await _send_error(send, 413, self._too_large(f"more than {self.max_bytes} bytes"))
                return
            chunks.append(body)

        replayed = False
        whole = b"".join(chunks)

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, size: str) -> str:
        return (
            f"request body too large: {size}, the limit is {_mib(self.max_bytes)}; "
            "send a smaller image (the server's limit is set with --max-body-mb)"
        )


async def _drain(receive: Receive, budget: int) -> None:
    """Read and discard up to ``budget`` bytes of the rest of the body."""
    seen = 0
    while seen <= budget:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _send_error(send: Send, status: int, message: str) -> None:
    payload = json.dumps(error_body(status, message), separators=(",", ":")).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
