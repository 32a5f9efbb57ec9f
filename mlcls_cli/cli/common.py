"""Pieces shared by the subcommand modules: error handling and common options."""

from __future__ import annotations

import functools
import inspect
import os
import sys
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
        except BrokenPipeError:
            # the reader of stdout went away (`| head`): a normal end in a pipeline, not an error
            silence_stdout()
            raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
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


JSON_HELP = "Print the result as one JSON document on stdout."
#: The global switches every command also accepts after its name: (parameter, option names, help).
GLOBAL_FLAGS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("json_output", ("--json",), JSON_HELP),
    ("quiet", ("--quiet", "-q"), "Only errors on stderr; no progress."),
    ("debug", ("--debug",), "Show tracebacks (also MLCLS_DEBUG=1)."),
    ("no_color", ("--no-color",), "No colour or other escape codes (also NO_COLOR)."),
)


def silence_stdout() -> None:
    """Point stdout at the null device, so that nothing more (not even the exit-time flush) hits a closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (a test runner's buffer)
        pass


def apply_output_flags(
    json_output: bool = False, quiet: bool = False, debug: bool = False, no_color: bool = False
) -> None:
    """Let switches given after the command add to the global ones given before it."""
    if json_output:
        console.state.json = True
    if quiet:
        console.state.quiet = True
    if debug and not console.state.debug:
        console.state.debug = True
        console.quiet_paddle(debug=True)
    if no_color and not console.state.no_color:
        console.configure(
            json_output=console.state.json,
            quiet=console.state.quiet,
            debug=console.state.debug,
            no_color=True,
        )


def cli_command(*, json_help: str = JSON_HELP) -> Callable[[F], F]:
    """Make ``func`` a subcommand: known errors become exit codes, and the global switches work after it.

    ``--json``, ``-q/--quiet``, ``--debug`` and ``--no-color`` are added to the
    command's options (``json_help`` describes what ``--json`` prints there) and
    applied before ``func`` runs, so ``mlcls check DIR --debug`` equals
    ``mlcls --debug check DIR``.
    """

    def decorate(func: F) -> F:
        handled = handle_errors(func)
        signature = inspect.signature(func, eval_str=True)
        taken = set(signature.parameters)
        extra = [
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=False,
                annotation=Annotated[
                    bool, typer.Option(*decls, help=json_help if name == "json_output" else text)
                ],
            )
            for name, decls, text in GLOBAL_FLAGS
            if name not in taken
        ]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            flags = {name: bool(kwargs.pop(name, False)) for name, _, _ in GLOBAL_FLAGS if name not in taken}
            apply_output_flags(**flags)
            return handled(*args, **kwargs)

        params = list(signature.parameters.values())
        wrapper.__signature__ = signature.replace(parameters=[*params, *extra])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in [*params, *extra]}
        return wrapper  # type: ignore[return-value]

    return decorate


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


# --- shell completion of values (no paddle: the registry and config names are plain data) ---------------


def complete_model(incomplete: str) -> list[tuple[str, str]]:
    """Zoo model names starting with ``incomplete``, each with its description."""
    from mlcls_cli.models.registry import MODELS

    return [(name, info.description) for name, info in MODELS.items() if name.startswith(incomplete)]


def complete_pipeline(incomplete: str) -> list[str]:
    """Pipeline names starting with ``incomplete`` (a YAML file path is completed by the shell)."""
    from mlcls_cli.config.merge import PIPELINE_ALIASES

    return [name for name in sorted(PIPELINE_ALIASES) if name.startswith(incomplete)]


def complete_config_name(incomplete: str) -> list[str]:
    """Model and pipeline names (what ``mlcls get-config`` accepts) starting with ``incomplete``."""
    return [name for name, _ in complete_model(incomplete)] + complete_pipeline(incomplete)


def complete_device(incomplete: str) -> list[tuple[str, str]]:
    """Device spellings starting with ``incomplete``."""
    choices = [
        ("auto", "gpu:0 when a GPU is usable, else cpu"),
        ("cpu", "the CPU"),
        ("gpu", "the first GPU (gpu:0)"),
        ("gpu:0", "GPU number 0"),
        ("gpu:1", "GPU number 1"),
        ("gpu:0,1", "training: one process per listed GPU"),
    ]
    return [(value, text) for value, text in choices if value.startswith(incomplete.lower())]


def complete_backend(incomplete: str) -> list[tuple[str, str]]:
    """Backend names starting with ``incomplete``."""
    choices = [
        ("auto", "the fastest installed for the device (default)"),
        ("paddle", "Paddle Inference"),
        ("onnxruntime", "ONNX Runtime (CPU)"),
        ("openvino", "OpenVINO (CPU; fp32 or bf16)"),
        ("tensorrt", "Paddle Inference with TensorRT (GPU)"),
    ]
    return [(value, text) for value, text in choices if value.startswith(incomplete.lower())]


BackendOpt = Annotated[
    str | None,
    typer.Option(
        "--backend",
        metavar="NAME",
        help="auto (the fastest installed: onnxruntime, then openvino, then paddle on CPU; tensorrt, then "
        'paddle on GPU), paddle, onnxruntime, openvino or tensorrt. ONNX backends need `pip install "mlcls[hpi]"`.',
        autocompletion=complete_backend,
        show_default=False,
    ),
]
PrecisionOpt = Annotated[
    str | None,
    typer.Option(
        "--precision",
        metavar="P",
        help="fp32 (default), or bf16: OpenVINO on a CPU with bf16 support (faster; scores move by about 1e-2).",
        autocompletion=lambda incomplete: [p for p in ("fp32", "bf16") if p.startswith(incomplete)],
        show_default=False,
    ),
]


def complete_dataset_type(incomplete: str) -> list[tuple[str, str]]:
    """Dataset type names starting with ``incomplete`` (any case)."""
    choices = [
        ("ClsDataset", "single-label: '<image path> <class id>' lines"),
        ("MLClsDataset", "multi-label: '<image path><TAB><0,1,...>' lines"),
    ]
    return [(v, t) for v, t in choices if v.lower().startswith(incomplete.lower())]


DatasetTypeOpt = Annotated[
    str | None,
    typer.Option(
        "--dataset-type",
        metavar="TYPE",
        help="ClsDataset or MLClsDataset: read the dataset as this type. [default: read from the lists]",
        autocompletion=complete_dataset_type,
        show_default=False,
    ),
]
