"""`mlcls models`: list the zoo, download models, locate cached files, inspect and clean the cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlcls_cli import console
from mlcls_cli.cli.common import cli_command, complete_model
from mlcls_cli.errors import ModelUnavailableError, UsageError

if TYPE_CHECKING:
    from mlcls_cli.hub.cache import CleanResult

app = typer.Typer(
    help="List, download and locate zoo models; inspect and clean the model cache (MLCLS_HOME).",
    no_args_is_help=False,
)

NamesArg = Annotated[
    list[str],
    typer.Argument(
        metavar="NAME",
        help="Model names (see `mlcls models`), or `all` for the whole zoo.",
        show_default=False,
        autocompletion=complete_model,
    ),
]
VerifyOpt = Annotated[
    bool, typer.Option("--verify", help="Hash every cached file against its record (slower for big models).")
]


def _human(size: int) -> str:
    """Bytes as B, kB, MB or GB (decimal units, like the zoo's sizes)."""
    if size < 1000:
        return f"{size} B"
    value, unit = size / 1000, "kB"
    for bigger in ("MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}"


def _resolve_names(names: list[str]) -> list[str]:
    """Zoo names in the order given, ``all`` expanded, unknown names refused before any work."""
    from mlcls_cli.models.registry import get_model_info, model_names

    resolved: list[str] = []
    for name in names:
        # `all` is the official zoo: mlcls's own models have nothing to download
        everything = [n for n in model_names() if get_model_info(n).official]
        for item in everything if name == "all" else [get_model_info(name).name]:
            if item not in resolved:
                resolved.append(item)
    return resolved


# --- list ---------------------------------------------------------------------------------


TASK_CHOICES = {
    "all": None,
    "multi-label": "image_multilabel_classification",
    "single-label": "image_classification",
    "image_multilabel_classification": "image_multilabel_classification",
    "image_classification": "image_classification",
}

TaskOpt = Annotated[
    str,
    typer.Option(
        "--task",
        help="Only the models of one task: multi-label or single-label (PaddleX names accepted).",
        autocompletion=lambda: ["all", "multi-label", "single-label"],
    ),
]


def _task_filter(task: str) -> str | None:
    key = task.strip().lower()
    if key not in TASK_CHOICES:
        raise UsageError(f"unknown task {task!r}", hint="use --task multi-label, single-label or all")
    return TASK_CHOICES[key]


def _zoo_rows(verify: bool, task: str | None = None) -> list[dict[str, Any]]:
    from mlcls_cli.hub import cached_state
    from mlcls_cli.models.registry import MODELS

    return [
        {
            "name": info.name,
            "task": info.task,
            "family": info.family,
            "coco_map": info.coco_map,
            "top1": info.top1,
            "size_mb": info.size_mb,
            "total_params": info.total_params,
            "input_size": info.input_size,
            "description": info.description,
            "official": info.official,
            "inference_url": info.inference_url() if info.official else None,
            "pretrained_url": info.pretrained_url,
            "cached": cached_state(info.name, verify=verify),
        }
        for info in MODELS.values()
        if task is None or info.task == task
    ]


def _accuracy(row: dict[str, Any]) -> str:
    value = row["coco_map"] if row["task"] == "image_multilabel_classification" else row["top1"]
    return f"{value:.2f}" if value is not None else "-"


def _show_zoo(verify: bool, task: str = "all") -> None:
    from rich import box
    from rich.table import Table

    from mlcls_cli.hub import cache_root

    rows = _zoo_rows(verify, _task_filter(task))
    if console.state.json:
        console.emit_json({"cache_root": str(cache_root()), "models": rows})
        return
    # compact enough for 80 columns with the longest name
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False, show_edge=False)
    table.add_column("Model", no_wrap=True)
    table.add_column("Task", no_wrap=True)
    for header in ("Acc.\n%", "Size\nMB", "Params", "Input"):
        table.add_column(header, justify="right")
    for header in ("Inference", "Pretrained"):
        table.add_column(header, justify="center")
    for row in rows:
        table.add_row(
            row["name"],
            "multi" if row["task"] == "image_multilabel_classification" else "single",
            _accuracy(row),
            f"{row['size_mb']:.1f}",
            f"{row['total_params'] / 1e6:.1f}M",
            str(row["input_size"]),
            ("yes" if row["cached"]["inference"] else "no") if row["official"] else "-",
            ("yes" if row["cached"]["pretrained"] else "no") if row["official"] else "-",
        )
    console.out_console().print(table)
    console.info("Acc.: COCO mAP for multi-label models, ImageNet top-1 for single-label ones")
    console.info(f"cache: {cache_root()}  (download with `mlcls models download NAME`)")
    own = [row["name"] for row in rows if not row["official"]]
    if own:
        console.info(f"{', '.join(own)}: mlcls's own, no official weights (train with --no-pretrained)")


@app.callback(invoke_without_command=True)
@cli_command()
def models_main(ctx: typer.Context, verify: VerifyOpt = False, task: TaskOpt = "all") -> None:
    """List the model zoo with what is cached (the same as `mlcls models list`)."""
    if ctx.invoked_subcommand is None:
        _show_zoo(verify, task)


@app.command("list")
@cli_command()
def list_command(verify: VerifyOpt = False, task: TaskOpt = "all") -> None:
    """List the model zoo: task, accuracy, size, input and whether each model is cached."""
    _show_zoo(verify, task)


# --- download -------------------------------------------------------------------------------


@app.command("download", no_args_is_help=True)
@cli_command()
def download_command(
    names: NamesArg,
    inference: Annotated[
        bool,
        typer.Option(
            "--inference/--no-inference", help="Get the inference package (*_infer.tar, extracted)."
        ),
    ] = True,
    pretrained: Annotated[
        bool,
        typer.Option(
            "--pretrained/--no-pretrained",
            help="Get the pretrained training weights (*_pretrained.pdparams).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Download again even when a verified copy is cached.")
    ] = False,
) -> None:
    """Download zoo models into the cache and print their paths (MLCLS_MODEL_ENDPOINT picks a mirror)."""
    if not inference and not pretrained:
        raise UsageError("nothing to download", hint="drop --no-inference or add --pretrained")
    from mlcls_cli.hub import ensure_inference_model, ensure_pretrained_weights

    results: list[dict[str, Any]] = []
    for name in _resolve_names(names):
        result: dict[str, Any] = {"name": name, "inference": None, "pretrained": None}
        if inference:
            result["inference"] = str(ensure_inference_model(name, force=force))
        if pretrained:
            result["pretrained"] = str(ensure_pretrained_weights(name, force=force))
        results.append(result)
        if not console.state.json:
            for key in ("inference", "pretrained"):
                if result[key]:
                    typer.echo(result[key])
    if console.state.json:
        console.emit_json({"models": results})


# --- path -----------------------------------------------------------------------------------


@app.command("path", no_args_is_help=True)
@cli_command()
def path_command(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME", help="A zoo model name.", show_default=False, autocompletion=complete_model
        ),
    ],
    pretrained: Annotated[
        bool,
        typer.Option("--pretrained", help="The pretrained weights file instead of the inference folder."),
    ] = False,
) -> None:
    """Print where a cached model is (exit 69 when it is not cached; never downloads)."""
    from mlcls_cli.hub import ensure_inference_model, ensure_pretrained_weights
    from mlcls_cli.hub.cache import inference_dir, pretrained_path
    from mlcls_cli.hub.manifest import EntryState, check_file, check_folder

    name = _resolve_names([name])[0]
    ensure = ensure_pretrained_weights if pretrained else ensure_inference_model
    what = "pretrained weights" if pretrained else "inference model"
    try:
        path = ensure(name, offline=True, verify=False)
    except ModelUnavailableError:
        expected = pretrained_path(name) if pretrained else inference_dir(name)
        check = check_file(expected, verify=False) if pretrained else check_folder(expected, verify=False)
        reason = "not downloaded yet" if check.state is EntryState.MISSING else check.reason
        flag = " --pretrained" if pretrained else ""
        raise ModelUnavailableError(
            f"the {name} {what} is not in the cache ({reason}); it belongs at {expected}",
            hint=f"run `mlcls models download {name}{flag}`",
        ) from None
    if console.state.json:
        console.emit_json(
            {"name": name, "kind": "pretrained" if pretrained else "inference", "path": str(path)}
        )
    else:
        typer.echo(str(path))


# --- clean ----------------------------------------------------------------------------------


@app.command("clean")
@cli_command()
def clean_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME",
            help="Models to remove (default: the whole cache).",
            show_default=False,
            autocompletion=complete_model,
        ),
    ] = None,
    partial: Annotated[
        bool,
        typer.Option("--partial", help="Only remove leftovers: .part files, unfinished or damaged entries."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove cache entries; entries a running download holds are kept."""
    from mlcls_cli.hub import cache_root, clean
    from mlcls_cli.hub.cache import CleanResult, entries_to_clean, models_root

    targets: list[str | None] = [_clean_target(n, models_root()) for n in names] if names else [None]
    planned = [entry for target in targets for entry in entries_to_clean(target, partial)]
    if not planned:
        _report_clean(CleanResult(), nothing="nothing to remove")
        return
    if not partial and not yes:
        prompt = f"Remove {len(planned)} cache entr{'y' if len(planned) == 1 else 'ies'} ({_human(sum(e.size for e in planned))}) from {cache_root()}?"
        if not sys.stdin.isatty():
            raise UsageError("refusing to remove cache entries without confirmation", hint="add --yes")
        if not typer.confirm(prompt, default=False, err=True):
            _report_clean(CleanResult(), nothing="nothing removed")
            return
    result = CleanResult()
    for target in targets:
        part = clean(target, partial_only=partial)
        result.removed.extend(part.removed)
        result.busy.extend(part.busy)
    _report_clean(result)


def _clean_target(name: str, models_root: Path) -> str:
    """A zoo name, or a model folder present in the cache even if the zoo no longer lists it."""
    if "/" not in name and "\\" not in name and name not in (".", "..") and (models_root / name).is_dir():
        return name
    return _resolve_names([name])[0]


def _report_clean(result: CleanResult, nothing: str = "") -> None:
    for entry in result.busy:
        console.warn(f"kept {entry.path}: another process is using it")
    if console.state.json:
        console.emit_json(
            {
                "removed": [e.to_dict() for e in result.removed],
                "freed": result.freed,
                "busy": [e.to_dict() for e in result.busy],
            }
        )
        return
    if nothing and not result.removed:
        console.info(nothing)
        return
    for entry in result.removed:
        typer.echo(str(entry.path))
    console.success(f"removed {len(result.removed)} entries, freed {_human(result.freed)}")


# --- info -----------------------------------------------------------------------------------


def _backends() -> dict[str, str | None]:
    from mlcls_cli.inference.backends import available_backends

    return available_backends()


@cli_command()
def info_command(verify: VerifyOpt = False) -> None:
    """Show the cache root, its total size and every entry (models, files, leftovers)."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from mlcls_cli.hub import cache_root, cache_size, list_cached

    entries = list_cached(verify=verify)
    env = {key: os.environ.get(key) for key in ("MLCLS_HOME", "MLCLS_MODEL_ENDPOINT", "MLCLS_OFFLINE")}
    if console.state.json:
        console.emit_json(
            {
                "cache_root": str(cache_root()),
                "total_size": cache_size(),
                "entries": [e.to_dict() for e in entries],
                "environment": env,
                "backends": _backends(),
            }
        )
        return
    out = console.out_console()
    out.print(f"Cache root: {cache_root()}", markup=False)
    out.print(f"Total size: {_human(cache_size())}", markup=False)
    for key, value in env.items():
        if value:
            out.print(f"{key}={value}", markup=False)
    from mlcls_cli.inference.backends import describe

    out.print(f"Backends: {describe()}", markup=False)
    if not entries:
        out.print("No entries.", markup=False)
        return
    table = Table(box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False, show_edge=False)
    for header in ("Kind", "Name", "State", "Size", "Path (under the root)"):
        table.add_column(header, justify="right" if header == "Size" else "left", overflow="fold")
    root = cache_root()
    for entry in entries:
        shown = entry.path.relative_to(root) if entry.path.is_relative_to(root) else entry.path
        table.add_row(
            entry.kind, escape(entry.name), entry.state.value, _human(entry.size), escape(str(shown))
        )
    out.print(table)


app.command("info")(info_command)
app.command("cache", help="Same as `mlcls models info`.")(info_command)
