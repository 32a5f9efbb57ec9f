"""`mlcls eval DATASET --weights PATH`: the full report of trained weights on a split (either task)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlcls_cli import console
from mlcls_cli.cli.common import (
    BackendOpt,
    ConfigOpt,
    OverrideOpt,
    PrecisionOpt,
    cli_command,
    complete_device,
    complete_model,
)


@cli_command()
def command(
    dataset: Annotated[
        Path | None,
        typer.Argument(
            help="Dataset folder (images/, label.txt, val.txt). [default: Global.dataset_dir]",
            show_default=False,
        ),
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(
            "--weights",
            "-w",
            help="A .pdparams file or an inference package folder. [default: Evaluate.weight_path, "
            "output/best_model/best_model.pdparams]",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Zoo model of a .pdparams file. [default: from the run's config.yaml]",
            autocompletion=complete_model,
        ),
    ] = None,
    image_size: Annotated[
        int | None,
        typer.Option("--image-size", min=16, help="Input side. [default: the size the model was trained at]"),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", "-b", min=1, help="[default: the training batch size]")
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device", help="cpu, gpu or gpu:N. [default: gpu:0 if usable]", autocompletion=complete_device
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-O", help="Where evaluate_result.json and the plots go. [default: Global.output]"
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="val or train.")] = "val",
    threshold: Annotated[
        str | None,
        typer.Option(
            "--threshold", help="Score threshold for P/R/F1 (0..1), or a thresholds.json file. [default: 0.5]"
        ),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="k for the top-k metrics.")] = 3,
    tune_thresholds: Annotated[
        bool,
        typer.Option(
            "--tune-thresholds", help="Pick per-class thresholds maximising F1; write thresholds.json."
        ),
    ] = False,
    no_plots: Annotated[
        bool,
        typer.Option(
            "--no-plots", help="Skip the plots (pr_curves.png, ap_per_class.png; confusion_matrix.png)."
        ),
    ] = False,
    backend: BackendOpt = None,
    precision: PrecisionOpt = None,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Evaluate weights on a split: mAP and per-class AP/P/R/F1 (multi-label), or top-1/top-5 accuracy,
    per-class P/R/F1 and a confusion matrix (single-label).

    Writes evaluate_result.json (PaddleX keys first) and the plots in --output (pr_curves.png and
    ap_per_class.png, or confusion_matrix.png), and thresholds.json with --tune-thresholds
    (multi-label). Prints a per-class table, or the JSON with --json.
    """
    from mlcls_cli.config import resolve_config
    from mlcls_cli.engine.evaluator import plan_evaluation, run_evaluation

    if split not in ("val", "train"):
        from mlcls_cli.errors import UsageError

        raise UsageError(f"unknown split {split!r}", hint="use --split val or --split train")
    cfg = resolve_config(
        model,
        config_file=config,
        options={
            "Global.model": model,
            "Global.mode": "evaluate",
            "Global.dataset_dir": str(dataset) if dataset is not None else None,
            "Global.device": device,
            "Global.output": str(output) if output is not None else None,
            "Evaluate.weight_path": str(weights) if weights is not None else None,
        },
        overrides=override,
        kind="model",
    )
    plan = plan_evaluation(
        cfg,
        dataset=dataset,
        weights=weights,
        model=model,
        image_size=image_size,
        batch_size=batch_size,
        split=split,
        threshold=threshold,
        top_k=top_k,
        tune=tune_thresholds,
        plots=not no_plots,
        backend=backend,
        precision=precision,
    )
    result = run_evaluation(plan)
    if console.state.json:
        console.emit_json(result)
    else:
        render_report(result)


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def render_single_label(result: dict[str, Any]) -> None:
    """Print a single-label report: per-class P/R/F1 (worst recall first), accuracy, the most confused pairs."""
    from rich.table import Table

    out = console.out_console()
    rows = sorted(result["per_class"], key=lambda r: (r["support"] == 0, r["recall"], r["id"]))
    table = Table(
        title=f"{result['model_name'] or 'model'} on {result['split']} ({result['num_samples']} images)",
        title_justify="left",
    )
    for name, justify in (("class", "left"), ("support", "right")):
        table.add_column(name, justify=justify)
    for name in ("precision", "recall", "F1"):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(r["name"], str(r["support"]), _f(r["precision"]), _f(r["recall"]), _f(r["f1"]))
    out.print(table)
    lines = [
        f"top-1 accuracy: {_f(result['top1'])}   top-5 accuracy: {_f(result['top5'])}"
        + ("   (top-5 is 1.0 with fewer than 5 classes)" if len(result["per_class"]) < 5 else ""),
        "macro P/R/F1: " + " / ".join(_f(result["macro"][k]) for k in ("precision", "recall", "f1")),
        "weighted P/R/F1: " + " / ".join(_f(result["weighted"][k]) for k in ("precision", "recall", "f1")),
    ]
    if result["most_confused"]:
        pairs = [f"{c['true']} -> {c['predicted']} ({c['count']})" for c in result["most_confused"][:5]]
        lines.append("most confused: " + ", ".join(pairs))
    if result["classes_without_samples"]:
        lines.append("no images in this split: " + ", ".join(result["classes_without_samples"]))
    lines.append(f"report: {result['result_file']}")
    for line in lines:
        out.print(line, markup=False, highlight=False)


def render_report(result: dict[str, Any]) -> None:
    """Print the per-class table (sorted by AP) and the summary metrics on stdout."""
    from rich.table import Table

    if result.get("task") == "image_classification":
        render_single_label(result)
        return
    out = console.out_console()
    rows = sorted(result["per_class"], key=lambda r: (r["ap"] is None, -(r["ap"] or 0.0), r["id"]))
    thr = result["at_threshold"]["threshold"]
    table = Table(
        title=f"{result['model_name'] or 'model'} on {result['split']} ({result['num_samples']} images)",
        title_justify="left",
    )
    for name, justify in (("class", "left"), ("support", "right"), ("AP", "right")):
        table.add_column(name, justify=justify)
    at = "at threshold" if thr is None else f"@{thr:g}"
    for name in ("precision", "recall", "F1"):
        table.add_column(f"{name} {at}", justify="right")
    for r in rows:
        ap = "n/a" if r["ap"] is None else f"{r['ap']:.4f}"
        table.add_row(r["name"], str(r["support"]), ap, _f(r["precision"]), _f(r["recall"]), _f(r["f1"]))
    out.print(table)

    summary = Table(show_header=True, title="summary", title_justify="left")
    summary.add_column("metric")
    for name in ("CP", "CR", "CF1", "OP", "OR", "OF1"):
        summary.add_column(name, justify="right")
    summary.add_row(
        f"at threshold {'per class' if thr is None else f'{thr:g}'}",
        *(_f(result["at_threshold"][k]) for k in ("CP", "CR", "CF1", "OP", "OR", "OF1")),
    )
    if result.get("at_top_k"):
        top = result["at_top_k"]
        summary.add_row(f"top-{top['k']}", *(_f(top[k]) for k in ("CP", "CR", "CF1", "OP", "OR", "OF1")))
    tuned = result.get("tuned_thresholds")
    if tuned:
        summary.add_row(
            "tuned thresholds",
            *(_f(tuned["at_tuned"].get(k)) for k in ("CP", "CR", "CF1", "OP", "OR", "OF1")),
        )
    out.print(summary)
    lines = [
        f"MultiLabelMAP: {_f(result['MultiLabelMAP'])} (over {result['num_classes_evaluated']} of {result['num_classes']} classes)",
        f"hamming loss: {_f(result['hamming_loss'])}   subset accuracy: {_f(result['subset_accuracy'])}",
    ]
    if result["classes_without_positives"]:
        lines.append("no positives (excluded from mAP): " + ", ".join(result["classes_without_positives"]))
    lines.append(f"report: {result['result_file']}")
    if tuned:
        lines.append(f"thresholds: {tuned['file']}")
    for line in lines:
        out.print(line, markup=False, highlight=False)
