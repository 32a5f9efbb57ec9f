"""`mlcls train DATASET --model NAME`: fine-tune a zoo model; progress on stderr, the summary on stdout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlcls_cli import console
from mlcls_cli.cli.common import ConfigOpt, OverrideOpt, cli_command, complete_device, complete_model


def complete_logger(incomplete: str) -> list[str]:
    """Shell completion of ``--logger``."""
    from mlcls_cli.engine.loggers import LOGGERS

    return [name for name in LOGGERS if name.startswith(incomplete.lower())]


def _from_config(field_name: str, fmt: str = "{}") -> str:
    """``[default: from the model's config: 32 for A; 16 for B, C; else 64]`` (the registry mirrors the configs)."""
    from mlcls_cli.models.registry import describe_defaults

    return f"[default: from the model's config: {describe_defaults(field_name, fmt)}]"


@cli_command()
def command(
    dataset: Annotated[
        Path | None,
        typer.Argument(
            help="Dataset folder (images/, label.txt, train.txt, val.txt). [default: Global.dataset_dir]",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Zoo model to fine-tune (see `mlcls models`). [default: PP-LCNet_x1_0_ML]",
            autocompletion=complete_model,
        ),
    ] = None,
    epochs: Annotated[
        int | None,
        typer.Option("--epochs", min=1, help=f"Train.epochs_iters. {_from_config('epochs')}"),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            "-b",
            min=1,
            help=f"Train.batch_size (per process). {_from_config('batch_size')}",
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(
            "--lr",
            min=0.0,
            help=f"Train.learning_rate (peak, AdamW). {_from_config('learning_rate', '{:g}')}",
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            help="cpu, gpu, gpu:0 or gpu:0,1 (one process per GPU). [default: gpu:0 if usable, else cpu]",
            autocompletion=complete_device,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-O", help="Global.output: where checkpoints and logs go. [default: ./output]"
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            help="Continue a run: a checkpoint folder (e.g. output/latest), or 'auto': the newest checkpoint "
            "in --output (a new run when the folder holds no run yet).",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an earlier run in --output: its best model and records move to "
            "previous_run/, its other checkpoints are deleted; other files are left alone.",
        ),
    ] = False,
    image_size: Annotated[
        int | None,
        typer.Option(
            "--image-size",
            min=16,
            help="Train.image_size: square input side (eval, export and predict follow it).",
        ),
    ] = None,
    nproc: Annotated[
        int | None,
        typer.Option("--nproc", min=1, help="Data-parallel CPU processes (per node) (Train.nproc)."),
    ] = None,
    nnodes: Annotated[
        int | None,
        typer.Option(
            "--nnodes",
            min=1,
            help="Machines training together (Global.nnodes); each runs this command with its --node-rank. "
            "[default: 1]",
        ),
    ] = None,
    node_rank: Annotated[
        int | None,
        typer.Option(
            "--node-rank",
            min=0,
            help="This machine's rank, 0 to nnodes-1 (Global.node_rank); node 0 writes the outputs. "
            "[default: 0]",
        ),
    ] = None,
    master: Annotated[
        str | None,
        typer.Option(
            "--master",
            metavar="HOST:PORT",
            help="Node 0's address and a free port there, the same on every node (Global.master); "
            "needed with --nnodes > 1.",
        ),
    ] = None,
    logger: Annotated[
        list[str] | None,
        typer.Option(
            "--logger",
            metavar="NAME",
            help="Record the run in an experiment tracker: visualdl (in OUTPUT/vdl), tensorboard "
            "(OUTPUT/tensorboard) or mlflow (MLFLOW_TRACKING_URI, else OUTPUT/mlruns); repeat for several "
            '(Global.loggers). Each needs its extra, e.g. pip install "mlcls[tensorboard]".',
            autocompletion=complete_logger,
        ),
    ] = None,
    no_pretrained: Annotated[
        bool,
        typer.Option(
            "--no-pretrained",
            help="Train from scratch (Train.pretrain_weight_path=null); nothing is downloaded.",
        ),
    ] = False,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Fine-tune a model: checks the dataset, trains with the ML-Decoder recipe, writes PaddleX outputs.

    Outputs (in --output): train_result.json, train.log, metrics.jsonl, config.yaml, label_dict.txt,
    best_model/ (with inference/; -o Export.format=onnx adds inference.onnx), the newest epoch_N/,
    latest/. Ctrl-C saves latest/ and exits 130; continue with --resume auto. A folder holding an
    earlier run needs --resume or --overwrite (exit 2); one another training is using is refused
    (exit 75). Exit 65: the dataset fails `mlcls check`; 69: pretrained weights unavailable (offline:
    add --no-pretrained), paddle2onnx missing for Export.format onnx, or a --logger's library missing
    (checked before training); 70: the loss became NaN;
    78: the weights or checkpoint do not fit the model or settings.
    """
    from mlcls_cli.config import resolve_config
    from mlcls_cli.engine.loggers import parse_logger_names
    from mlcls_cli.engine.trainer import Trainer, plan_training

    loggers = parse_logger_names(logger) or None  # None: Global.loggers of the config decides

    overrides = (["Train.pretrain_weight_path=null"] if no_pretrained else []) + list(override or [])
    cfg = resolve_config(
        model,
        config_file=config,
        options={
            "Global.model": model,
            "Global.dataset_dir": str(dataset) if dataset is not None else None,
            "Global.device": device,
            "Global.output": str(output) if output is not None else None,
            "Train.epochs_iters": epochs,
            "Train.batch_size": batch_size,
            "Train.learning_rate": lr,
            "Train.resume_path": resume,
            "Train.image_size": image_size,
            "Train.nproc": nproc,
            "Global.nnodes": nnodes,
            "Global.node_rank": node_rank,
            "Global.master": master,
            "Global.loggers": loggers,
        },
        overrides=overrides,
        kind="model",
    )
    plan, spec = plan_training(cfg, dataset, overwrite=overwrite)
    if spec.distributed or plan.nnodes > 1:
        from mlcls_cli.engine.distributed import run_launched

        if plan.nnodes > 1:
            each = "process" if spec.nproc == 1 else "processes"
            console.info(
                f"node {plan.node_rank} of {plan.nnodes}: starting {spec.nproc} data-parallel {each} on "
                f"{spec.label()}, {spec.nproc * plan.nnodes} in all; waiting for all nodes at {plan.master} "
                "(paddle.distributed.launch)"
            )
        else:
            console.info(
                f"starting {spec.nproc} data-parallel processes on {spec.label()} (paddle.distributed.launch)"
            )
        summary = run_launched(
            plan.to_dict(), output_dir=Path(plan.output_dir), nproc=spec.nproc, gpu_ids=spec.ids
        )
    else:
        summary = Trainer(plan).fit()
    if console.state.json:
        console.emit_json(summary)
    elif summary.get("node_rank"):
        render_node_summary(summary)
    else:
        render_summary(summary)


def render_node_summary(summary: dict[str, Any]) -> None:
    """Print what a node R > 0 did (the results are on node 0) as ``key: value`` lines on stdout."""
    import sys

    rank, count = summary["node_rank"], summary["nnodes"]
    rows = [
        ("node", f"{rank} of {count} finished; node 0 holds the results (its --output)"),
        ("logs", summary["log_dir"]),
    ]
    sys.stdout.write("".join(f"{key}: {value}\n" for key, value in rows))
    sys.stdout.flush()


def summary_rows(summary: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The summary as ``(key, value)`` rows: the figures, and the result paths (never shortened)."""
    best, last = summary["best"], summary["last"]
    nproc, nnodes = summary.get("nproc", 1), summary.get("nnodes", 1)
    on_nodes = f" on {nnodes} nodes ({nproc * nnodes} processes)" if nnodes > 1 else ""

    def fmt(value: Any) -> str:
        return "-" if value is None else f"{value:.4f}"

    speed = summary.get("images_per_s")
    metric = summary.get("metric", "MultiLabelMAP")
    others = [f"{k} {fmt(v)}" for k, v in last.items() if k not in ("epoch", metric, f"{metric}_ema")]
    figures = [
        ("model", summary["model_name"]),
        (
            f"best {metric}",
            f"{fmt(best[metric])} (epoch {best['epoch']}, {best['weights']} weights)",
        ),
        (
            f"last {metric}",
            f"{fmt(last[metric])} model, {fmt(last[f'{metric}_ema'])} EMA (epoch {last['epoch']})"
            + (f"; {', '.join(others)}" if others else ""),
        ),
        (
            "epochs / image size",
            (
                f"{summary['epochs_run']} of {summary['epochs']} (early stop)"
                if summary.get("stopped_early")
                else str(summary["epochs"])
            )
            + f" / {summary['image_size']} px",
        ),
        ("device", summary["device"] + (f" x{nproc}" if nproc > 1 else "") + on_nodes),
        (
            "training time",
            f"{summary['train_seconds']:.1f} s" + (f" ({speed:.1f} images/s)" if speed else ""),
        ),
    ]
    paths = [
        ("best weights", best["pdparams"]),
        ("inference package", best["inference_dir"]),
        *([("ONNX graph", best["onnx"])] if best.get("onnx") else []),
        ("train_result.json", summary["train_result"]),
        *([("training curves", summary["training_curves"])] if summary.get("training_curves") else []),
    ]
    return figures, paths


def render_summary(summary: dict[str, Any]) -> None:
    """Print the end-of-training summary on stdout: plain ``key: value`` lines, a table on a terminal.

    Paths are printed whole on a line of their own in both forms (a terminal wraps them
    itself), so they can be copied.
    """
    import sys

    figures, paths = summary_rows(summary)
    out = console.out_console()
    if not out.is_terminal:
        sys.stdout.write("".join(f"{key}: {value}\n" for key, value in [*figures, *paths]))
        sys.stdout.flush()
        return
    from rich.table import Table

    table = Table(title=f"{summary['model_name']}: training done", title_justify="left", show_header=False)
    table.add_column("what", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in figures[1:]:
        table.add_row(key, value)
    out.print(table)
    for key, value in paths:
        out.print(f"{key}: {value}", markup=False, highlight=False, soft_wrap=True)
