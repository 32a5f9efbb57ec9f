"""Pieces shared by the subcommand modules: error handling and common options."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from mlcls_cli import console
from mlcls_cli.errors import ExitCode, MlclsError

F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Turn known failures into one clear stderr message and their exit code.

    ``MlclsError`` prints its message and hint; Ctrl-C exits 130; any other
    exception is a bug: a one-line summary (the traceback with ``--debug``), exit 1.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except MlclsError as exc:
            if console.state.debug:
                console.err_console().print(traceback.format_exc(), markup=False)
            console.error(exc.message)
            if exc.hint:
                console.err_console().print(f"  hint: {exc.hint}", markup=False)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            console.error("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except Exception as exc:  # a bug: keep the message short unless --debug
            if console.state.debug:
                console.err_console().print(traceback.format_exc(), markup=False)
            console.error(f"unexpected {type(exc).__name__}: {exc}")
            if not console.state.debug:
                console.err_console().print(
                    "  hint: rerun with --debug for the traceback and report it", markup=False
                )
            raise typer.Exit(int(ExitCode.UNEXPECTED)) from None

    return wrapper  # type: ignore[return-value]


def apply_output_flags(json_output: bool = False, quiet: bool = False) -> None:
    """Let per-command ``--json``/``--quiet`` add to the global ones."""
    if json_output:
        console.state.json = True
    if quiet:
        console.state.quiet = True


JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as one JSON document on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="A YAML config file (PaddleX keys); packaged defaults fill the rest."
    ),
]
OverrideOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--override",
        "-o",
        metavar="KEY=VALUE",
        help="Override a config key, PaddleX spelling: -o Train.epochs_iters=10 (repeatable; YAML-typed).",
    ),
]
