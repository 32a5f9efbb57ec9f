"""`mlcls check DATASET`: validate a dataset, print the report, write PaddleX's check outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mlcls_cli import console
from mlcls_cli.cli.common import ConfigOpt, DatasetTypeOpt, OverrideOpt, cli_command
from mlcls_cli.errors import ConfigError, ExitCode, UsageError

DEFAULT_OUTPUT = Path("output")


def _run_from_config(
    config: Path | None,
    overrides: list[str] | None,
    dataset: Path | None,
    output: Path | None,
    dataset_type: str | None = None,
) -> tuple[Path | None, Path | None, str | None]:
    """Resolve DATASET, --output and the dataset type from ``-c``/``-o`` and run the enabled convert/split steps.

    Precedence as everywhere: packaged defaults < the ``-c`` file < DATASET/--output <
    ``-o``. As in PaddleX, ``CheckDataset.convert`` runs first, then
    ``CheckDataset.split``, then the check. A ``Global.model`` given in the file or by
    ``-o`` decides the dataset type, as a PaddleX module does: a dataset of the other
    type fails with exit 65 before anything is changed.
    """
    if config is None and not overrides:
        return dataset, output, dataset_type
    from mlcls_cli.config import ignored_keys_set, resolve_config

    cfg = resolve_config(
        config_file=config,
        overrides=overrides,
        options={
            "Global.dataset_dir": str(dataset) if dataset is not None else None,
            "Global.output": str(output) if output is not None else None,
        },
    )
    for key in ignored_keys_set(cfg):
        console.warn(f"{key} is accepted for PaddleX compatibility but not used by mlcls")
    mode = cfg.get("Global.mode")
    if mode != "check_dataset":
        console.warn(f"Global.mode={mode} is ignored: `mlcls check` always checks the dataset")
    dataset_dir = cfg.get("Global.dataset_dir")
    if not dataset_dir:
        raise UsageError("no dataset given", hint="pass DATASET or set Global.dataset_dir in the config")
    if cfg.sources.get("Global.model", "packaged defaults") != "packaged defaults":
        dataset_type = _type_of_model(str(cfg.get("Global.model")), dataset_dir, dataset_type)
    if cfg.get("CheckDataset.convert.enable"):
        _convert_from_config(dataset_dir, cfg.get("CheckDataset.convert.src_dataset_type"))
    if cfg.get("CheckDataset.split.enable"):
        _split_from_config(
            dataset_dir,
            cfg.get("CheckDataset.split.train_percent"),
            cfg.get("CheckDataset.split.val_percent"),
        )
    return Path(dataset_dir), Path(cfg.get("Global.output")), dataset_type


def _type_of_model(model: str, dataset_dir: str, dataset_type: str | None) -> str:
    """The dataset type ``model`` trains on; exit 2 if --dataset-type says otherwise, 65 if the data does."""
    from mlcls_cli.data.dataset_type import (
        DatasetTypeError,
        dataset_type_for_task,
        normalize_dataset_type,
        require_dataset_type,
    )
    from mlcls_cli.errors import MlclsError
    from mlcls_cli.models.registry import get_model_info

    task = get_model_info(model).task
    expected = dataset_type_for_task(task)
    if dataset_type is not None and normalize_dataset_type(dataset_type) != expected:
        raise UsageError(
            f"--dataset-type {normalize_dataset_type(dataset_type)} contradicts Global.model {model}, "
            f"which trains on a {expected}",
            hint="drop --dataset-type (the model decides), or set Global.model to a model of the other task",
        )
    try:
        return require_dataset_type(dataset_dir, task, model=model)
    except DatasetTypeError:
        raise
    except MlclsError:
        return expected  # no dataset root to read: the check reports what is missing


def _convert_from_config(dataset_dir: str, src_type: str | None) -> None:
    from mlcls_cli.data.convert import convert_coco, normalize_source_type

    if not src_type:
        raise ConfigError(
            "CheckDataset.convert.enable is true but CheckDataset.convert.src_dataset_type is null",
            hint="set -o CheckDataset.convert.src_dataset_type=COCO",
        )
    if normalize_source_type(src_type) == "folders":
        raise ConfigError(
            "CheckDataset.convert.src_dataset_type=folders: class folders convert into a new folder, "
            "not in place",
            hint=f"run `mlcls convert {dataset_dir} --from folders --output OUT`, then `mlcls check OUT`",
        )
    convert_coco(dataset_dir, src_type=src_type)
    console.success("Convert dataset successfully !")


def _split_from_config(dataset_dir: str, train_percent: int | None, val_percent: int | None) -> None:
    from mlcls_cli.data.split import split_dataset

    if train_percent is None or val_percent is None:
        raise ConfigError(
            "CheckDataset.split.enable is true but train_percent/val_percent are not both set",
            hint="e.g. -o CheckDataset.split.train_percent=90 -o CheckDataset.split.val_percent=10",
        )
    try:
        split_dataset(dataset_dir, train_percent=train_percent, val_percent=val_percent)
    except UsageError as exc:  # a config value, so a config error
        raise ConfigError(
            f"CheckDataset.split: {exc.message}",
            hint="set CheckDataset.split.train_percent and val_percent to integers 1..99 that sum to 100",
        ) from None
    console.success("Split dataset successfully !")


@cli_command()
def command(
    dataset: Annotated[
        Path | None,
        typer.Argument(
            help="Dataset folder (holding images/, label.txt, train.txt, val.txt) or a folder above it.",
            show_default=False,
            metavar="DATASET",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-O",
            help="Where check_dataset_result.json and check_dataset/ go. [default: ./output]",
        ),
    ] = None,
    decode: Annotated[
        bool, typer.Option("--decode", help="Decode every image fully (slower; finds truncated files).")
    ] = False,
    max_examples: Annotated[
        int, typer.Option("--max-examples", min=0, help="Examples kept per problem kind.")
    ] = 5,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Threads reading images. [default: 2 per CPU core up to 8; with --decode 1 per core]",
        ),
    ] = None,
    no_plots: Annotated[
        bool, typer.Option("--no-plots", help="Skip the histogram and the demo images.")
    ] = False,
    dataset_type: DatasetTypeOpt = None,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Check a dataset: report every problem, class statistics, a histogram and labelled samples.

    The type (ClsDataset: '<image path> <class id>' lines; MLClsDataset: '<image path><TAB><0,1,...>'
    lines) is read from the lists unless --dataset-type or a Global.model in the config decides it.
    Exit 0 when it passes, 65 when it has errors (or does not fit Global.model), 66 when DATASET
    does not exist.
    """
    from mlcls_cli.data.check import ERROR, check_dataset
    from mlcls_cli.data.dataset_type import normalize_dataset_type

    if dataset_type is not None:
        dataset_type = normalize_dataset_type(dataset_type)
    dataset, output, dataset_type = _run_from_config(config, override, dataset, output, dataset_type)
    if dataset is None:
        raise UsageError("missing DATASET", hint="mlcls check path/to/dataset (see mlcls check --help)")
    report = check_dataset(
        dataset,
        output_dir=output or DEFAULT_OUTPUT,
        decode=decode,
        max_examples=max_examples,
        workers=workers,
        progress=True,
        plots=not no_plots,
        dataset_type=dataset_type,
    )
    if report.root is not None:
        how = "as given" if dataset_type is not None else report.type_source
        console.info(f"checked as {report.dataset_type} ({how})")
        if report.type_ambiguous and dataset_type is None:
            other = "MLClsDataset" if report.dataset_type == "ClsDataset" else "ClsDataset"
            console.warn(
                f"the type of {report.root} is ambiguous; pass --dataset-type {other} if it is "
                f"{'multi' if other == 'MLClsDataset' else 'single'}-label"
            )
    if console.state.json:
        console.emit_json(report.result)
    else:
        render_report(report)
    if report.passed:
        console.success("Check dataset passed !")
        return
    console.error(
        f"dataset check failed: {report.error_count} error(s) in {len(report.problems.kinds(ERROR))} kind(s)"
        + ("" if console.state.json else "; see the report above")
    )
    raise typer.Exit(int(ExitCode.DATAERR))


def _where(file: str | None, line: int | None) -> str:
    if not file:
        return "-"
    return f"{file}:{line}" if line else file


def render_report(report: Any) -> None:
    """Print the human summary and problem table on stdout."""
    from rich.text import Text

    out = console.out_console()
    result = report.result
    attrs = result["attributes"]
    stats = report.statistics
    root = report.root if report.root is not None else report.dataset_dir
    heading = Text(f"Dataset {root} ({result['dataset_type']}): ")
    heading.append(
        "passed" if report.passed else "FAILED", style="bold green" if report.passed else "bold red"
    )
    out.print(heading, highlight=False)
    out.print(
        f"  classes {attrs['num_classes'] if attrs['num_classes'] is not None else '?'}, "
        f"train {attrs['train_samples']} samples, val {attrs['val_samples']} samples, "
        f"{report.images_checked} images {'decoded' if report.decode else 'checked'}",
        markup=False,
    )
    splits = stats.get("splits") or {}
    for split in ("train", "val"):
        s = splits.get(split)
        if s and s["samples"]:
            ratio = s["imbalance_ratio"]
            if "largest_class_share" in s:  # single-label
                out.print(
                    f"  {split}: largest class {s['largest_class_share']:.1%} of the samples, "
                    f"imbalance {ratio if ratio is not None else '-'}, "
                    f"classes without samples: {len(s['classes_without_samples'])}",
                    markup=False,
                )
                continue
            out.print(
                f"  {split}: {s['label_cardinality']:.2f} labels/sample (density {s['label_density']:.3f}), "
                f"{s['negatives']} negatives, imbalance {ratio if ratio is not None else '-'}",
                markup=False,
            )
    size = stats.get("image_size") or {}
    if size.get("images"):
        w, h = size["width"], size["height"]
        out.print(
            f"  image size: width {w['min']}-{w['max']} (median {w['median']}), "
            f"height {h['min']}-{h['max']} (median {h['median']})",
            markup=False,
        )
    combos = stats.get("top_label_combinations") or []
    if combos:
        text = "; ".join(f"{'+'.join(c['labels']) or '(none)'} x{c['count']}" for c in combos[:3])
        out.print(f"  common label sets: {text}", markup=False)

    _render_problems(out, report.problems)
    out.print(f"Result: {report.result_path}", markup=False, highlight=False)
    histogram = result["analysis"]["histogram"]
    if histogram:
        out.print(f"Histogram: {report.output_dir / histogram}", markup=False, highlight=False)


def _render_problems(out: Any, problems: Any) -> None:
    """One table row per problem kind (errors first); a block list on narrow consoles."""
    from rich.table import Table
    from rich.text import Text

    from mlcls_cli.data.check import ERROR, WARNING

    kinds = problems.kinds(ERROR) + problems.kinds(WARNING)
    if not kinds:
        return
    rows = []
    for kind in kinds:
        severity, default_hint = problems.table[kind]
        first = problems.examples[kind][0] if problems.examples.get(kind) else None
        rows.append(
            (
                severity,
                kind,
                problems.counts[kind],
                _where(first.file, first.line) if first else "-",
                first.message if first else "",
                first.hint if first else default_hint,
            )
        )
    if out.width < 100:
        for severity, kind, count, where, message, hint in rows:
            head = Text(f"{severity:<8}", style="red" if severity == ERROR else "yellow")
            head.append(f"{kind} x{count}  at {where}")
            out.print(head)
            if message:
                out.print(Text(f"        {message}"))
            out.print(Text(f"        hint: {hint}", style="dim"))
        return
    table = Table(expand=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("first at", overflow="fold")
    table.add_column("message", overflow="fold", ratio=1)
    table.add_column("hint", overflow="fold", ratio=1)
    for severity, kind, count, where, message, hint in rows:
        table.add_row(
            Text(severity, style="red" if severity == ERROR else "yellow"),
            Text(kind),
            Text(str(count)),
            Text(where),
            Text(message),
            Text(hint, style="dim"),
        )
    out.print(table)
