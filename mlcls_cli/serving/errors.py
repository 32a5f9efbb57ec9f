"""The error a request handler raises to answer with a JSON error body and an HTTP status.

Also the readable ``errorMsg`` of a request that fails schema validation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any


class ApiError(Exception):
    """A request the service refuses: ``status`` is the HTTP status, ``message`` the ``errorMsg``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers  # extra response headers, e.g. Retry-After with a 503


def new_log_id() -> str:
    """A fresh request id (uuid4 text), as PaddleX puts in ``logId``."""
    return str(uuid.uuid4())


def error_body(status: int, message: str, log_id: str | None = None) -> dict[str, Any]:
    """The PaddleX error body: ``{"logId", "errorCode": <status>, "errorMsg"}``."""
    return {"logId": log_id or new_log_id(), "errorCode": int(status), "errorMsg": message}


# What each request field must be, for the sentences of validation errors (paths as in the messages).
_EXPECTED = {
    "image": "a string (the image file's bytes in base64, or an http(s) URL)",
    "threshold": 'a number, a list of numbers (one per class) or an object such as {"default": 0.5, "3": 0.8}',
    "threshold[]": "a number",  # an item of a threshold list or a value of a threshold object
    "visualize": "true, false or null",
    "inferenceParams": 'an object such as {"topK": 5}',
    "inferenceParams.topK": "an integer of at least 1",
}
_BODY_EXAMPLE = '{"image": "<base64>"}'
_MAX_SHOWN = 60  # characters of a rejected value quoted in a message
_TYPE_TAGS = frozenset({"float", "int", "str", "bool", "none"})


def _is_union_tag(part: Any) -> bool:
    """pydantic names the member of a union an error came from inside ``loc`` ("float", "list[...]")."""
    return isinstance(part, str) and (part in _TYPE_TAGS or "[" in part)


def _path(error: dict[str, Any]) -> tuple[Any, ...]:
    """The location in the request JSON: ``body`` and union member names dropped; () for the whole body."""
    if error.get("type") == "json_invalid":  # its loc ends with a character position, not a field
        return ()
    loc = list(error.get("loc", ()))
    parts = loc[1:] if loc and loc[0] == "body" else loc
    return tuple(p for p in parts if not _is_union_tag(p))


def _dotted(path: Sequence[Any]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _shown(value: Any) -> str:
    """A rejected value as JSON, or its kind and length when it is long."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) <= _MAX_SHOWN:
        return text
    kind = {dict: "an object", list: "an array", str: "a string"}.get(type(value), "a value")
    return f"{kind} of {len(text)} characters"


def _expected(path: Sequence[Any]) -> str | None:
    if len(path) > 1 and path[0] == "threshold":
        return _EXPECTED["threshold[]"]
    return _EXPECTED.get(_dotted(path))


def _sentence(path: tuple[Any, ...], error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    has_input = "input" in error
    value = error.get("input")
    if not path:  # the body as a whole
        if kind == "json_invalid":
            reason = str((error.get("ctx") or {}).get("error") or "cannot be parsed")
            where = error["loc"][1] if len(error.get("loc", ())) > 1 else None
            at = f" (at position {where})" if isinstance(where, int) else ""
            return f"The request body is not valid JSON: {reason[:1].lower()}{reason[1:]}{at}."
        if kind == "missing" or value is None:
            return f"The request body is empty: send a JSON object such as {_BODY_EXAMPLE}."
        return f"The request body must be a JSON object such as {_BODY_EXAMPLE}, got {_shown(value)}."
    name = _dotted(path)
    if kind == "missing":
        return f"{name} is required."
    expected = _expected(path)
    got = f", got {_shown(value)}" if has_input else ""
    if expected is not None:
        return f"{name} must be {expected}{got}."
    message = str(error.get("msg") or "is not valid")
    return f"{name}: {message[:1].lower()}{message[1:]}{got}."


def validation_message(errors: Sequence[dict[str, Any]]) -> str:
    """The ``errorMsg`` for request validation errors: one sentence per problem, in request order.

    A problem is a place in the request: pydantic's several errors for one value of
    a union field (one per accepted type) make one sentence, about the innermost
    place that failed (``threshold[1] must be a number``) when the value had the
    right shape, else about the field.
    """
    by_path: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for error in errors:
        by_path.setdefault(_path(error), []).append(error)
    # a union value whose items were checked: keep the items' problems, drop the field-level mismatches
    paths = [p for p in by_path if not any(len(q) > len(p) and q[: len(p)] == p for q in by_path)]
    return " ".join(_sentence(path, by_path[path][0]) for path in paths)
