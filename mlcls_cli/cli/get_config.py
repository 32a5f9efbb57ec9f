"""`mlcls get-config` (being written)."""

from __future__ import annotations

from typing import Annotated

import typer

from mlcls_cli.cli.common import handle_errors
from mlcls_cli.cli.placeholder import not_yet


@handle_errors
def command(
    args: Annotated[list[str] | None, typer.Argument(help="Arguments.")] = None,
) -> None:
    """Being written."""
    not_yet("get-config")
