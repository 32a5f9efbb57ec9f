"""`mlcls get-config`: print or save a packaged config, or the resolved result of a file plus overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlcls_cli import console
from mlcls_cli.cli.common import ConfigOpt, OverrideOpt, cli_command, complete_config_name
from mlcls_cli.errors import UsageError
from mlcls_cli.utils.atomic import atomic_write_text


def _target_path(save_path: Path, name: str) -> Path:
    if save_path.suffix.lower() in (".yaml", ".yml"):
        return save_path
    return save_path / f"{name}.yaml"


@cli_command()
def command(
    name: Annotated[
        str | None,
        typer.Argument(
            help="A model name (see `mlcls models`) or a pipeline name (multi_label_image_classification).",
            autocompletion=complete_config_name,
        ),
    ] = None,
    save_path: Annotated[
        Path | None,
        typer.Option("--save-path", help="Write to DIR/NAME.yaml, or to this file if it ends in .yaml/.yml."),
    ] = None,
    resolved: Annotated[
        bool,
        typer.Option("--resolved", help="Print the merged result of -c FILE and -o overrides, validated."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing file given by --save-path.")
    ] = False,
    config: ConfigOpt = None,
    override: OverrideOpt = None,
) -> None:
    """Print a packaged config as YAML (or save it), e.g. `mlcls get-config PP-LCNet_x1_0_ML > my.yaml`."""
    from mlcls_cli.config import config_kind, default_config_text, ignored_keys_set, resolve_config

    if name is None and not resolved:
        raise UsageError("give a model or pipeline name", hint="e.g. `mlcls get-config PP-LCNet_x1_0_ML`")
    if resolved or config is not None or override:
        cfg = resolve_config(name, config_file=config, overrides=override)
        for key in ignored_keys_set(cfg):
            console.warn(f"{key} is accepted for PaddleX compatibility but not used by mlcls")
        text, data, out_name = cfg.to_yaml(), cfg.data, name or cfg.name
    else:
        config_kind(name)  # validates the name with a did-you-mean hint
        text, data, out_name = default_config_text(name), None, name

    if save_path is not None:
        target = _target_path(save_path, out_name)
        if target.exists() and not force:
            raise UsageError(
                f"{target} already exists", hint="pass --force to overwrite it, or choose another --save-path"
            )
        atomic_write_text(target, text)
        console.success(f"The config has been saved to: {target}")
        if console.state.json:
            console.emit_json({"path": str(target), "name": out_name})
        return
    if console.state.json:
        import yaml

        console.emit_json(data if data is not None else yaml.safe_load(text))
        return
    typer.echo(text, nl=not text.endswith("\n"))


__all__ = ["command"]
