"""The one reader of ``MLCLS_*`` environment switches and numbers, with a clear error for bad values.

Booleans (``MLCLS_DEBUG``, ``MLCLS_OFFLINE``, ``MLCLS_NO_PROGRESS``) accept
``1/0``, ``true/false``, ``yes/no`` and ``on/off`` in any case; unset or empty means
the default. Anything else is a usage error (exit 2) naming the variable, so a typo
never silently flips a switch.
"""

from __future__ import annotations

import os
from typing import Any

from mlcls_cli.errors import UsageError

# every documented variable (README, "Environment variables"); the modules that use them import these names
ENV_HOME = "MLCLS_HOME"
ENV_ENDPOINT = "MLCLS_MODEL_ENDPOINT"
ENV_FONT = "MLCLS_FONT"
ENV_DEBUG = "MLCLS_DEBUG"
ENV_OFFLINE = "MLCLS_OFFLINE"
ENV_NO_PROGRESS = "MLCLS_NO_PROGRESS"
ENV_RETRIES = "MLCLS_DOWNLOAD_RETRIES"
ENV_RETRY_DELAY = "MLCLS_DOWNLOAD_RETRY_DELAY"
ENV_TIMEOUT = "MLCLS_DOWNLOAD_TIMEOUT"
ENV_CPU_THREADS = "MLCLS_CPU_THREADS"
ENV_URL_MAX_BYTES = "MLCLS_URL_MAX_BYTES"
ENV_URL_TIMEOUT = "MLCLS_URL_TIMEOUT"

#: Boolean switches, and numbers with (type, must be positive).
SWITCHES = (ENV_DEBUG, ENV_OFFLINE, ENV_NO_PROGRESS)
NUMBERS: dict[str, tuple[type, bool]] = {
    ENV_RETRIES: (int, False),
    ENV_RETRY_DELAY: (float, False),
    ENV_TIMEOUT: (float, True),
    ENV_CPU_THREADS: (int, True),
    ENV_URL_MAX_BYTES: (int, True),
    ENV_URL_TIMEOUT: (float, True),
}

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def env_flag(name: str, default: bool = False) -> bool:
    """The boolean value of ``name`` (``default`` when unset or empty); other values are a UsageError."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    word = raw.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise UsageError(
        f"{name}={raw!r} is not a boolean",
        hint=f"set {name} to 1/true/yes/on or 0/false/no/off, or unset it",
    )


def env_number(name: str, default: float, kind: type = float, *, positive: bool = False) -> Any:
    """The value of ``name`` as ``kind`` (``default`` when unset); negative values (or 0 with ``positive``) are refused."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    what = "an integer" if kind is int else "a number"
    try:
        value = kind(raw)
    except ValueError:
        raise UsageError(f"{name}={raw!r} is not {what}", hint=f"unset {name} or give {what}") from None
    if value < 0 or (positive and value == 0):
        bound = f"a positive {'integer' if kind is int else 'number'}" if positive else f"{what} >= 0"
        raise UsageError(f"{name}={raw!r} must be {bound}", hint=f"unset {name} or give {bound}")
    return value


def is_offline() -> bool:
    """True when ``MLCLS_OFFLINE`` is on: no network connection may be opened (models or URL inputs)."""
    return env_flag(ENV_OFFLINE)


def check_environment() -> None:
    """Read every ``MLCLS_*`` switch and number once, so a bad value fails at start-up with a usage error."""
    for name in SWITCHES:
        env_flag(name)
    for name, (kind, positive) in NUMBERS.items():
        env_number(name, 0, kind, positive=positive)
