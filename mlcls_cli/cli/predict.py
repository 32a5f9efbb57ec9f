"""`mlcls predict`: label images with a zoo model, an inference package, or the pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlcls_cli import console
from mlcls_cli.cli.common import (
    BackendOpt,
    PrecisionOpt,
    cli_command,
    complete_device,
    complete_model,
    complete_pipeline,
)
from mlcls_cli.errors import InputMissingError, UsageError

InputsArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="INPUT",
        help="Images: files, folders (recursive), http(s) URLs. Also accepted with --input.",
        show_default=False,
    ),
]
InputOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--input", "-i", metavar="INPUT", help="An input (repeatable), PaddleX spelling.", show_default=False
    ),
]
ThresholdOpt = Annotated[
    str | None,
    typer.Option(
        "--threshold",
        "-t",
        metavar="T",
        help='Keep classes with score > T: 0.5 | 0.5,0.3,... (per class) | {"default":0.5,"3":0.7} '
        "| a thresholds.json from `mlcls eval --tune-thresholds`. Default: the model's (0.5).",
        show_default=False,
    ),
]
TopKOpt = Annotated[
    int | None,
    typer.Option(
        "--top-k",
        "--topk",
        "-k",
        min=1,
        metavar="K",
        help="Keep at most K labels per image (single-label: the K best; default: the package's, 5).",
        show_default=False,
    ),
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size", "-b", min=1, metavar="N", help="Images per batch [default: 1, or the pipeline's]."
    ),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        "-d",
        metavar="DEVICE",
        help="cpu, gpu or gpu:N [default: gpu:0 when available, else cpu].",
        autocompletion=complete_device,
    ),
]
SaveOpt = Annotated[
    Path | None,
    typer.Option(
        "--save-path",
        "--save_path",
        "-s",
        metavar="DIR",
        help="Folder for <name>_res.json and <name>_res.<ext> (the picture) of every image.",
        show_default=False,
    ),
]
PipelineOverrideOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--override",
        "-o",
        metavar="KEY=VALUE",
        help="Override a pipeline config key (with --pipeline), e.g. "
        "-o SubModules.ImageMultiLabelClassification.batch_size=8 (repeatable; YAML-typed).",
        show_default=False,
    ),
]
ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--cpu-threads",
        min=1,
        metavar="N",
        help="Math threads of the backend on CPU [default: one per core, or MLCLS_CPU_THREADS].",
    ),
]


def _echo_human(result: Any) -> None:
    name = result.input_path if result.input_path is not None else result.stem
    if result.label_names:
        labels = ", ".join(f"{n} ({s:.5f})" for n, s in zip(result.label_names, result.scores, strict=True))
    else:
        labels = "(no label above the threshold)"
    typer.echo(f"{name}\t{labels}")


def _emit(result: Any) -> None:
    if console.state.json:
        console.emit_json_line(result.to_dict())
    else:
        _echo_human(result)


def run_and_report(predictor: Any, inputs: list[str], **options: Any) -> None:
    """Run the prediction loop, print the summary on stderr, exit 66 when some inputs were unusable."""
    from mlcls_cli.inference.runner import run_prediction

    summary = run_prediction(predictor, inputs, emit=_emit, **options)
    failed = len(summary.failures)
    if summary.predicted == 0 and failed == 0:
        raise InputMissingError(
            f"no images found in {', '.join(inputs)}",
            hint="folders are searched recursively for .jpg .jpeg .png .bmp .webp .tif .tiff files",
        )
    rate = f", {summary.images_per_second:.1f} images/s" if summary.predicted > 1 else ""
    saved = (
        f"; results saved in {options['save_path']}" if options.get("save_path") and summary.predicted else ""
    )
    console.info(f"predicted {summary.predicted} image(s) in {summary.seconds:.2f} s{rate}{saved}")
    if failed:
        raise InputMissingError(
            f"{failed} of {failed + summary.predicted} input(s) could not be used (listed above)",
            hint="the others were predicted; fix or remove the inputs listed above",
        )


def gather_inputs(inputs: list[str] | None, input_opt: list[str] | None) -> list[str]:
    """Positional inputs followed by ``--input`` ones; a usage error when there are none."""
    items = [*(inputs or []), *(input_opt or [])]
    if not items:
        raise UsageError(
            "give at least one input image, folder or URL",
            hint="e.g. mlcls predict photo.jpg --model PP-LCNet_x1_0_ML",
        )
    return items


@cli_command(json_help="One JSON object per image on stdout (JSON Lines).")
def command(
    inputs: InputsArg = None,
    input_opt: InputOpt = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="NAME",
            help="A zoo model name (see `mlcls models`).",
            show_default=False,
            autocompletion=complete_model,
        ),
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model-dir",
            metavar="DIR",
            help="An inference package folder, or a training output folder holding inference/.",
            show_default=False,
        ),
    ] = None,
    pipeline: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            "-p",
            metavar="NAME|FILE",
            help="A pipeline name (multi_label_image_classification) or pipeline YAML file.",
            show_default=False,
            autocompletion=complete_pipeline,
        ),
    ] = None,
    threshold: ThresholdOpt = None,
    top_k: TopKOpt = None,
    batch_size: BatchOpt = None,
    device: DeviceOpt = None,
    save_path: SaveOpt = None,
    cpu_threads: ThreadsOpt = None,
    backend: BackendOpt = None,
    precision: PrecisionOpt = None,
    override: PipelineOverrideOpt = None,
) -> None:
    """Predict labels: `mlcls predict photo.jpg --model PP-LCNet_x1_0_ML`, or a folder with --model-dir DIR.

    stdout gets one line per image (`path<TAB>label (score), ...`), or JSON Lines with
    --json; warnings, progress and the summary go to stderr. Exit code 66 when some
    inputs could not be read (the others are still predicted).
    """
    items = gather_inputs(inputs, input_opt)
    from mlcls_cli.inference.postprocess import parse_threshold_text

    thr = parse_threshold_text(threshold) if threshold is not None else None
    if pipeline is not None:
        from mlcls_cli.inference.pipeline import create_pipeline

        runner: Any = create_pipeline(
            pipeline,
            device=device,
            config_overrides=override,
            model_name=model,
            model_dir=str(model_dir) if model_dir is not None else None,
            cpu_threads=cpu_threads,
            backend=backend,
            precision=precision,
        )
    else:
        if override:
            raise UsageError(
                "-o overrides apply to --pipeline configs", hint="use --pipeline FILE.yaml -o KEY=VALUE"
            )
        if model is None and model_dir is None:
            raise UsageError(
                "give --model NAME, --model-dir DIR or --pipeline NAME|FILE",
                hint="e.g. --model PP-LCNet_x1_0_ML (downloaded once), or --model-dir output/best_model/inference",
            )
        from mlcls_cli.inference.model import create_model

        runner = create_model(
            model, model_dir, device=device, cpu_threads=cpu_threads, backend=backend, precision=precision
        )
    run_and_report(runner, items, batch_size=batch_size, threshold=thr, top_k=top_k, save_path=save_path)


__all__ = ["command", "gather_inputs", "run_and_report"]
