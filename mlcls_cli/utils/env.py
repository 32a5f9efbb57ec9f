"""Numbers read from ``MLCLS_*`` environment variables, with a clear error for bad values."""

from __future__ import annotations

import os
from typing import Any

from mlcls_cli.errors import UsageError


def env_number(name: str, default: float, kind: type = float, *, positive: bool = False) -> Any:
    """The value of ``name`` as ``kind`` (``default`` when unset); negative values (or 0 with ``positive``) are refused."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not a number", hint=f"unset {name} or give a number") from None
    if value < 0 or (positive and value == 0):
        bound = "a positive number" if positive else "a number >= 0"
        raise UsageError(f"{name}={raw!r} must be {bound}", hint=f"unset {name} or give {bound}")
    return value
