"""`mlcls convert DATASET --from coco|folders`: COCO annotations -> MLClsDataset, class folders -> ClsDataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlcls_cli import console
from mlcls_cli.cli.common import cli_command
from mlcls_cli.data.convert import ConvertSummary, convert_coco, normalize_source_type
from mlcls_cli.data.folders import FoldersSummary, convert_folders
from mlcls_cli.errors import UsageError

DatasetArg = Annotated[
    Path,
    typer.Argument(
        metavar="DATASET",
        help="COCO folder (images/ and annotations/instance_train.json + instance_val.json), or with "
        "--from folders a folder of class folders (DIR/<class>/*.jpg, or DIR/train/<class>/... and "
        "DIR/val/<class>/...).",
        show_default=False,
    ),
]
FromOpt = Annotated[
    str,
    typer.Option(
        "--from",
        metavar="TYPE",
        help="Source format (case-insensitive): coco (-> MLClsDataset) or folders (one sub-folder per "
        "class -> ClsDataset).",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        metavar="DIR",
        help="Write the dataset to DIR and leave DATASET untouched (images/ links to the source images). "
        "Default for coco: in place, previous lists kept as *.bak; for folders: DATASET_cls beside DATASET.",
    ),
]
ValPercentOpt = Annotated[
    int | None,
    typer.Option(
        "--val-percent",
        metavar="N",
        help="folders without a val/ tree: share of each class's images for val, 1..99. [default: 20]",
        show_default=False,
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed", help="folders: shuffle seed of the --val-percent split. [default: 0]", show_default=False
    ),
]


@cli_command()
def command(
    dataset: DatasetArg,
    src_type: FromOpt,
    output: OutputOpt = None,
    val_percent: ValPercentOpt = None,
    seed: SeedOpt = None,
) -> None:
    """Convert COCO detection annotations into an MLClsDataset, or class folders into a ClsDataset.

    coco: classes are the union of both files' categories sorted by COCO id and numbered 0..K-1; the
    COCO ids are kept in coco_category_map.json. Images without annotations are kept as negatives,
    images whose file is missing are skipped and reported; crowd annotations count as positives.

    folders: classes are the folder names in sorted order; the new folder links to the images (nothing
    is copied) and the source is not changed. Without a val/ tree, --val-percent of each class goes to
    val (seeded). Non-image files, and images whose path has a space, are skipped and counted.
    """
    source = normalize_source_type(src_type)
    if source == "folders":
        summary = convert_folders(
            dataset, output_dir=output, val_percent=val_percent, seed=0 if seed is None else seed
        )
        if console.state.json:
            console.emit_json(summary.to_dict())
            return
        _render_folders(summary)
        return
    for name, value in (("--val-percent", val_percent), ("--seed", seed)):
        if value is not None:
            raise UsageError(f"{name} applies to --from folders only", hint=f"drop {name} for --from coco")
    coco_summary = convert_coco(dataset, output_dir=output, src_type=src_type)
    if console.state.json:
        console.emit_json(coco_summary.to_dict())
        return
    _render(coco_summary)


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


def _render_folders(summary: FoldersSummary) -> None:
    from rich.table import Table

    out = console.out_console()
    skipped = (
        f"skipped: {summary.skipped_non_images} non-image files, {summary.skipped_whitespace} images with a "
        f"space in their path, {summary.skipped_outside} files outside class folders"
    )
    out.print(
        f"class folders -> ClsDataset: {summary.output_dir} ({summary.layout} layout): "
        f"train {summary.train}, val {summary.val}; {skipped}",
        markup=False,
    )
    table = Table(title=f"{summary.num_classes} classes", title_justify="left")
    for col in ("id", "name", "folder", "train", "val"):
        table.add_column(col, justify="left" if col in ("name", "folder") else "right")
    for c in summary.classes:
        folder = c.folder if c.link == c.folder else f"{c.folder} (linked as {c.link})"
        table.add_row(str(c.index), c.name, folder, str(c.train), str(c.val))
    out.print(table)
