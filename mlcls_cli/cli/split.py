"""`mlcls split DATASET --train-percent 90 --val-percent 10`: re-partition train/val."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlcls_cli import console
from mlcls_cli.cli.common import DatasetTypeOpt, cli_command
from mlcls_cli.data.split import SplitSummary, split_dataset, validate_percents

DatasetArg = Annotated[
    Path,
    typer.Argument(
        metavar="DATASET",
        help="ClsDataset or MLClsDataset folder (images/, label.txt, train.txt, val.txt).",
        show_default=False,
    ),
]
TrainOpt = Annotated[
    int,
    typer.Option("--train-percent", metavar="N", help="Share of lines for train, 1..99.", show_default=False),
]
ValOpt = Annotated[
    int,
    typer.Option(
        "--val-percent",
        metavar="N",
        help="Share of lines for val, 1..99; the two add up to 100.",
        show_default=False,
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Shuffle seed; the same seed gives the same split.")]
StratifyOpt = Annotated[
    bool | None,
    typer.Option(
        "--stratify/--no-stratify",
        help="Choose val lines so that class frequencies match and every class with 2+ samples "
        "(positives) appears in both splits where possible. [default: on for a ClsDataset, off for an "
        "MLClsDataset]",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        metavar="DIR",
        help="Write the new lists and label.txt to DIR (images/ becomes a link to the source images) "
        "and leave DATASET untouched. Default: in place, previous lists kept as *.bak.",
    ),
]


@cli_command()
def command(
    dataset: DatasetArg,
    train_percent: TrainOpt,
    val_percent: ValOpt,
    seed: SeedOpt = 0,
    stratify: StratifyOpt = None,
    output: OutputOpt = None,
    dataset_type: DatasetTypeOpt = None,
) -> None:
    """Merge train.txt and val.txt, shuffle with a fixed seed and write new lists by percentage.

    train gets round-half-up(N * train_percent / 100) lines and val the rest. Blank lines are dropped
    and duplicate lines kept once; every other line is moved verbatim. A ClsDataset is split by class
    (each class keeps its share, and a sample in both splits when it has 2+).
    """
    validate_percents(train_percent, val_percent)
    summary = split_dataset(
        dataset,
        train_percent=train_percent,
        val_percent=val_percent,
        seed=seed,
        stratify=stratify,
        output_dir=output,
        dataset_type=dataset_type,
    )
    if console.state.json:
        console.emit_json(summary.to_dict())
        return
    _render(summary)


def _render(summary: SplitSummary) -> None:
    from rich.table import Table

    out = console.out_console()
    before = summary.source_lines
    mode = "stratified" if summary.stratify else "random"
    out.print(
        f"{summary.output_dir}: {summary.total} lines ({summary.dataset_type}, {mode}, seed {summary.seed}): "
        f"train {before.get('train', 0)} -> {summary.train} ({summary.train_percent}%), "
        f"val {before.get('val', 0)} -> {summary.val} ({summary.val_percent}%)",
        markup=False,
    )
    per = "samples" if summary.dataset_type == "ClsDataset" else "positives"
    table = Table(title=f"{per} per class", title_justify="left")
    for col in ("id", "name", "train before", "val before", "train after", "val after"):
        table.add_column(col, justify="left" if col == "name" else "right")
    for i, name in enumerate(summary.class_names):
        table.add_row(
            str(i),
            name,
            str(summary.counts_before["train"][i]),
            str(summary.counts_before["val"][i]),
            str(summary.counts_after["train"][i]),
            str(summary.counts_after["val"][i]),
        )
    out.print(table)
