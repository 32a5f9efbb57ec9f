"""`mlcls convert DATASET --from coco`: COCO annotations -> MLClsDataset lists."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlcls_cli import console
from mlcls_cli.cli.common import cli_command
from mlcls_cli.data.convert import ConvertSummary, convert_coco, normalize_source_type

DatasetArg = Annotated[
    Path,
    typer.Argument(
        metavar="DATASET",
        help="COCO folder: images/ and annotations/instance_train.json + instance_val.json.",
        show_default=False,
    ),
]
FromOpt = Annotated[
    str,
    typer.Option(
        "--from",
        metavar="TYPE",
        help="Source annotation format: coco (case-insensitive).",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        metavar="DIR",
        help="Write label.txt and the lists to DIR (images/ becomes a link to the source images) "
        "and leave DATASET untouched. Default: in place, previous lists kept as *.bak.",
    ),
]


@cli_command()
def command(
    dataset: DatasetArg,
    src_type: FromOpt,
    output: OutputOpt = None,
) -> None:
    """Convert COCO detection annotations into an MLClsDataset (label.txt, train.txt, val.txt).

    Classes are the union of both files' categories sorted by COCO id and numbered 0..K-1; the
    COCO ids are kept in coco_category_map.json. Images without annotations are kept as negatives,
    images whose file is missing are skipped and reported; crowd annotations count as positives.
    """
    normalize_source_type(src_type)
    summary = convert_coco(dataset, output_dir=output, src_type=src_type)
    if console.state.json:
        console.emit_json(summary.to_dict())
        return
    _render(summary)


def _render(summary: ConvertSummary) -> None:
    from rich.table import Table

    out = console.out_console()
    splits = Table(title=f"COCO -> MLClsDataset: {summary.output_dir}", title_justify="left")
    for col in ("split", "images", "written", "negatives", "missing", "annotations", "crowd"):
        splits.add_column(col, justify="left" if col == "split" else "right")
    for stats in summary.splits.values():
        splits.add_row(
            stats.split,
            str(stats.images),
            str(stats.lines),
            str(stats.negatives),
            str(stats.missing + stats.invalid_names),
            str(stats.annotations),
            str(stats.crowd),
        )
    out.print(splits)
    for stats in summary.splits.values():
        out.print(f"{stats.split}: {stats.annotation_file}", markup=False)
    classes = Table(
        title=f"{summary.num_classes} classes (COCO ids kept in coco_category_map.json)", title_justify="left"
    )
    for col in ("id", "coco id", "name", "train", "val"):
        classes.add_column(col, justify="left" if col == "name" else "right")
    for c in summary.classes:
        classes.add_row(str(c.index), str(c.coco_id), c.name, str(c.train), str(c.val))
    out.print(classes)
