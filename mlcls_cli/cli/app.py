"""The ``mlcls`` Typer application: global options and subcommand registration."""

from __future__ import annotations

from typing import Annotated

import typer

from mlcls_cli import __version__, console
from mlcls_cli.cli import (
    check,
    convert,
    evaluate,
    export,
    get_config,
    models_cmd,
    pipeline,
    predict,
    serve,
    split,
    train,
    version,
)
from mlcls_cli.cli.common import handle_errors
from mlcls_cli.errors import exit_code_table
from mlcls_cli.utils.env import check_environment

EPILOG = (
    "Exit codes: 0 success | 1 unexpected error (bug) | 2 usage | 65 dataset invalid | "
    "66 input missing | 69 model, device or package unavailable | 70 training or ONNX conversion failed | "
    "74 I/O failure | "
    "78 invalid config | 130 interrupted | 141 stdout closed (e.g. | head).  "
    "Environment: MLCLS_HOME (cache root), MLCLS_MODEL_ENDPOINT (model mirror), MLCLS_OFFLINE=1, "
    "MLCLS_DOWNLOAD_RETRIES, MLCLS_DOWNLOAD_RETRY_DELAY, MLCLS_DOWNLOAD_TIMEOUT, MLCLS_CPU_THREADS, "
    "MLCLS_URL_MAX_BYTES, MLCLS_URL_TIMEOUT, MLCLS_FONT (font for drawn labels), MLCLS_DEBUG=1, "
    "MLCLS_NO_PROGRESS=1, NO_COLOR.  Details: README.md."
)

app = typer.Typer(
    name="mlcls",
    help="Image multi-label classification on PaddlePaddle: check, convert, split, train, eval, export, "
    "predict, serve.",
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"mlcls {__version__}")
        raise typer.Exit()


@app.callback()
@handle_errors
def main_callback(
    json_output: Annotated[
        bool, typer.Option("--json", help="Results as one JSON document on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr; no progress.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks (also MLCLS_DEBUG=1).")] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colour (also NO_COLOR).")] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Image multi-label classification on PaddlePaddle, PaddleX-compatible."""
    check_environment()
    console.configure(json_output=json_output, quiet=quiet, debug=debug, no_color=no_color)
    console.quiet_paddle(debug=console.state.debug)


#: One complete line per command for `mlcls --help` (click would cut the docstring's first line).
SUMMARIES = {
    "check": "Validate a dataset: all problems, statistics, plots, demo images.",
    "convert": "Convert COCO detection annotations into an MLClsDataset.",
    "split": "Re-split train/val reproducibly (seeded, optionally stratified).",
    "train": "Fine-tune a model: PaddleX outputs, resume, several devices.",
    "eval": "Score weights on a split: mAP, per-class AP/P/R/F1, thresholds.",
    "export": "Turn weights into an inference package (Paddle, ONNX).",
    "predict": "Label images, folders or URLs: text, JSON Lines, pictures.",
    "pipeline": "Run a PaddleX-style pipeline (a name or a YAML file).",
    "serve": "Serve the PaddleX-compatible HTTP API.",
    "get-config": "Print or save a packaged config, or show a resolved one.",
    "models": "List, download and locate zoo models; clean the cache.",
    "version": "Print the versions of mlcls, Python, PaddlePaddle and more.",
}

for _name, _module, _needs_args in (
    ("check", check, True),
    ("convert", convert, True),
    ("split", split, True),
    ("train", train, True),
    ("eval", evaluate, True),
    ("export", export, True),
    ("predict", predict, True),
    ("pipeline", pipeline, True),
    ("serve", serve, False),
    ("get-config", get_config, True),
):
    app.command(_name, no_args_is_help=_needs_args, short_help=SUMMARIES[_name])(_module.command)
app.add_typer(models_cmd.app, name="models", short_help=SUMMARIES["models"])
app.command("version", short_help=SUMMARIES["version"])(version.command)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="mlcls")


__all__ = ["app", "exit_code_table", "main"]
