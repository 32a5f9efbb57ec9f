"""`mlcls export --model NAME --weights PATH|URL --output DIR`: turn weights into an inference package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlcls_cli import console
from mlcls_cli.cli.common import ConfigOpt, OverrideOpt, cli_command, complete_model


def complete_format(incomplete: str) -> list[tuple[str, str]]:
    """Export formats starting with ``incomplete``."""
    choices = [
        ("paddle", "the Paddle package (inference.json, .pdiparams, .yml)"),
        ("onnx", "the Paddle package plus inference.onnx"),
        ("all", "every format: the Paddle package plus inference.onnx"),
    ]
    return [(value, text) for value, text in choices if value.startswith(incomplete.lower())]


@cli_command()
def command(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Zoo model the weights belong to. [default: from the checkpoint or the run's config.yaml; "
            "the model of an official pretrained URL]",
            autocompletion=complete_model,
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            "-w",
            metavar="PATH|URL",
            help="A .pdparams file (or its prefix), a checkpoint folder (output/best_model, output/epoch_N) "
            "or an http(s) URL. [default: Export.weight_path: the official pretrained weights]",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-O",
            help="The package folder: new, empty, or an earlier package (replaced). [default: Global.output]",
        ),
    ] = None,
    image_size: Annotated[
        int | None,
        typer.Option(
            "--image-size",
            min=16,
            help="Input side of the package. [default: the size the weights were trained at; else the model's]",
        ),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            metavar="LABEL_TXT|DATASET",
            help="Class names: a label.txt or a dataset folder. [default: the checkpoint's, the run's "
            "label_dict.txt; COCO-2017 names for official 80-class weights]",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="paddle, onnx or all: onnx and all add inference.onnx (paddle2onnx, checked against "
            'Paddle Inference; needs `pip install "mlcls[hpi]"`). [default: Export.format: paddle]',
            autocompletion=complete_format,
            show_default=False,
        ),
    ] = None,
    legacy: Annotated[
        bool,
        typer.Option("--legacy", help="Write inference.pdmodel (pre-PIR graph) instead of inference.json."),
    ] = False,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Export weights as a PaddleX-compatible inference package (inference.json, .pdiparams, .yml).

    PaddleX style works too: mlcls export -c cfg.yaml -o Export.weight_path=W -o Global.output=DIR.
    The package is written in a folder beside --output and moved into place only when complete;
    on any failure --output is left as it was. Exit 66: weights or label file missing; 69: a URL
    cannot be downloaded, or paddle2onnx is missing; 70: the ONNX conversion failed or does not match
    Paddle Inference; 78: the weights do not fit the model or the number of class names.
    """
    from mlcls_cli.config import resolve_config
    from mlcls_cli.engine.exporter import check_format, plan_export, run_export

    if fmt is not None:
        fmt = check_format(fmt)  # a bad --format is a usage error (2), not a config one
    cfg = resolve_config(
        model,
        config_file=config,
        options={
            "Global.model": model,
            "Global.mode": "export",
            "Global.output": str(output) if output is not None else None,
            "Export.weight_path": weights,
            "Export.format": fmt,
        },
        overrides=override,
        kind="model",
    )
    plan = plan_export(
        cfg,
        weights=weights,
        model=model,
        output=output,
        image_size=image_size,
        labels=labels,
        fmt=fmt,
        legacy=legacy,
    )
    result = run_export(plan)
    if console.state.json:
        console.emit_json(result)
    else:
        render_result(result)


def render_result(result: dict[str, Any]) -> None:
    """Print what was exported on stdout as ``key: value`` lines (paths whole)."""
    import sys

    rows = [
        ("model", result["model_name"]),
        ("weights", result["weights_file"] or result["weights"]),
        ("classes", f"{result['num_classes']} (names from {result['labels_from']})"),
        ("image size", f"{result['image_size']} px"),
        ("files", ", ".join(result["files"])),
        ("inference package", result["output"]),
    ]
    sys.stdout.write("".join(f"{key}: {value}\n" for key, value in rows))
    sys.stdout.flush()
