"""`mlcls version`: versions of mlcls, Python and the libraries it drives."""

from __future__ import annotations

import platform

from mlcls_cli import __version__, console
from mlcls_cli.cli.common import cli_command


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _backends() -> dict[str, str | None]:
    """Installed inference backends and converter with their versions (nothing imported)."""
    from mlcls_cli.inference.backends import available_backends

    return available_backends()


@cli_command()
def command() -> None:
    """Print the versions of mlcls, Python, PaddlePaddle, the inference backends and key libraries (nothing heavy is imported)."""
    paddle = _dist_version("paddlepaddle") or _dist_version("paddlepaddle-gpu")
    info = {
        "mlcls": __version__,
        "python": platform.python_version(),
        "paddlepaddle": paddle,
        "typer": _dist_version("typer"),
        "numpy": _dist_version("numpy"),
        "platform": platform.platform(),
        "backends": _backends(),
    }
    if console.state.json:
        console.emit_json(info)
        return
    for key, value in info.items():
        if key == "backends":
            value = ", ".join(f"{name} {ver or '(not installed)'}" for name, ver in value.items())
        console.out_console().print(f"{key:<13}{value if value else 'not installed'}", markup=False)
