"""`mlcls models`: list the zoo (being written)."""

from __future__ import annotations

import typer

app = typer.Typer(help="List, download and locate zoo models.", no_args_is_help=False)


@app.callback(invoke_without_command=True)
def models_main(ctx: typer.Context) -> None:
    """List the model zoo."""
    from mlcls_cli.models.registry import model_names

    if ctx.invoked_subcommand is None:
        for name in model_names():
            typer.echo(name)
