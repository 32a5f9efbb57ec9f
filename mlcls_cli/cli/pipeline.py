"""`mlcls pipeline`: not implemented in this version yet."""

from __future__ import annotations

from typing import Annotated

import typer

from mlcls_cli.cli.common import handle_errors
from mlcls_cli.cli.placeholder import not_yet


@handle_errors
def command(
    args: Annotated[list[str] | None, typer.Argument(help="Arguments (not implemented yet).")] = None,
) -> None:
    """Not implemented in this version yet."""
    not_yet("pipeline")
