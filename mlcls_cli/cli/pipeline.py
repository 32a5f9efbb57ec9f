"""`mlcls pipeline`: run the multi-label classification pipeline, PaddleX-style."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlcls_cli.cli.common import BackendOpt, PrecisionOpt, cli_command, complete_pipeline
from mlcls_cli.cli.predict import (
    BatchOpt,
    DeviceOpt,
    InputOpt,
    InputsArg,
    PipelineOverrideOpt,
    SaveOpt,
    ThreadsOpt,
    ThresholdOpt,
    TopKOpt,
    gather_inputs,
    run_and_report,
)


@cli_command(json_help="One JSON object per image on stdout (JSON Lines).")
def command(
    pipeline: Annotated[
        str,
        typer.Option(
            "--pipeline",
            "-p",
            metavar="NAME|FILE",
            help="multi_label_image_classification (or image_multilabel_classification), or a pipeline YAML "
            "from `mlcls get-config multi_label_image_classification --save-path x.yaml`.",
            autocompletion=complete_pipeline,
        ),
    ],
    inputs: InputsArg = None,
    input_opt: InputOpt = None,
    device: DeviceOpt = None,
    save_path: SaveOpt = None,
    threshold: ThresholdOpt = None,
    top_k: TopKOpt = None,
    batch_size: BatchOpt = None,
    cpu_threads: ThreadsOpt = None,
    backend: BackendOpt = None,
    precision: PrecisionOpt = None,
    override: PipelineOverrideOpt = None,
) -> None:
    """Run a pipeline: `mlcls pipeline --pipeline multi_label_image_classification --input photo.jpg`.

    Options given here beat the YAML's values (model, model_dir, batch_size, device,
    threshold, backend, precision). Output and exit codes as `mlcls predict`.
    """
    items = gather_inputs(inputs, input_opt)
    from mlcls_cli.inference.pipeline import create_pipeline
    from mlcls_cli.inference.postprocess import parse_threshold_text

    thr: Any = parse_threshold_text(threshold) if threshold is not None else None
    runner = create_pipeline(
        pipeline,
        device=device,
        config_overrides=override,
        cpu_threads=cpu_threads,
        backend=backend,
        precision=precision,
    )
    run_and_report(runner, items, batch_size=batch_size, threshold=thr, top_k=top_k, save_path=save_path)


__all__ = ["command"]
