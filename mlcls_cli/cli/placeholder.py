"""Commands whose implementation arrives in a later release."""

from __future__ import annotations

from mlcls_cli.errors import ModelUnavailableError


def not_yet(command: str) -> None:
    """Raise the clear 'not implemented in this version' error for ``command``."""
    from mlcls_cli import __version__

    raise ModelUnavailableError(
        f"`mlcls {command}` is not implemented in mlcls {__version__} yet",
        hint="check, convert, split, get-config, models and version work today; see README.md",
    )
