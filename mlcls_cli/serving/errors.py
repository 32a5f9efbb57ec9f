"""The error a request handler raises to answer with a JSON error body and an HTTP status."""

from __future__ import annotations

import uuid
from typing import Any


class ApiError(Exception):
    """A request the service refuses: ``status`` is the HTTP status, ``message`` the ``errorMsg``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def new_log_id() -> str:
    """A fresh request id (uuid4 text), as PaddleX puts in ``logId``."""
    return str(uuid.uuid4())


def error_body(status: int, message: str, log_id: str | None = None) -> dict[str, Any]:
    """The PaddleX error body: ``{"logId", "errorCode": <status>, "errorMsg"}``."""
    return {"logId": log_id or new_log_id(), "errorCode": int(status), "errorMsg": message}
