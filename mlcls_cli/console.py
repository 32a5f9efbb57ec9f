"""Output conventions shared by every command.

stdout carries results only (a human table, or one JSON document with ``--json``);
logs, warnings, errors and progress go to stderr. Colour follows ``--no-color``,
``NO_COLOR`` and whether the stream is a terminal. Progress is a live rich bar on
a terminal and plain periodic lines otherwise, so CI logs stay readable.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.console import Console

from mlcls_cli.utils.env import ENV_DEBUG, ENV_NO_PROGRESS, env_flag


@dataclass
class UIState:
    """Global switches set once by the CLI callback."""

    json: bool = False
    quiet: bool = False
    debug: bool = False
    no_color: bool = False


state = UIState()
_consoles: dict[str, Console] = {}


def configure(
    *, json_output: bool = False, quiet: bool = False, debug: bool = False, no_color: bool = False
) -> None:
    """Set the global output switches and rebuild the consoles."""
    state.json = json_output
    state.quiet = quiet
    state.debug = debug or env_flag(ENV_DEBUG)
    state.no_color = no_color or bool(os.environ.get("NO_COLOR"))  # no-color.org: any non-empty value
    _consoles.clear()


_PADDLE_QUIETED: dict[str, Any] = {}


def quiet_paddle(*, debug: bool) -> None:
    """Keep Paddle's import-time warning and C++ INFO/WARNING logs off stderr unless debugging.

    Both must be set before paddle is imported, which happens lazily in the commands.
    Called again with ``debug=True`` (``--debug`` after the command), it undoes what it set.
    """
    import warnings

    if debug:
        if _PADDLE_QUIETED.pop("glog", False):
            os.environ.pop("GLOG_minloglevel", None)
        if _PADDLE_QUIETED.pop("warning", False):
            warnings.filterwarnings("default", message="No ccache found", category=UserWarning)
        return
    if "GLOG_minloglevel" not in os.environ:
        os.environ["GLOG_minloglevel"] = "2"  # noqa: SIM112 (glog spells it so)
        _PADDLE_QUIETED["glog"] = True
    if not _PADDLE_QUIETED.get("warning"):
        warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
        _PADDLE_QUIETED["warning"] = True


def _colour_kwargs() -> dict[str, Any]:
    # color_system=None drops every escape code (bold too); no_color alone keeps bold/underline
    return {"color_system": None, "no_color": True} if state.no_color else {}


def err_console() -> Console:
    """The stderr console (logs, warnings, progress)."""
    if "err" not in _consoles:
        _consoles["err"] = Console(stderr=True, highlight=False, soft_wrap=True, **_colour_kwargs())
    return _consoles["err"]


#: Width of results written to a file or pipe: wide enough that no table cell (a path, a class name) is cut.
UNBOUNDED_WIDTH = 4096


def out_console() -> Console:
    """The stdout console (results); off a terminal, tables are as wide as their content, never cut."""
    if "out" not in _consoles:
        console = Console(highlight=False, soft_wrap=True, **_colour_kwargs())
        if not console.is_terminal:
            console = Console(highlight=False, soft_wrap=True, width=UNBOUNDED_WIDTH, **_colour_kwargs())
        _consoles["out"] = console
    return _consoles["out"]


def info(message: str) -> None:
    """Log an informational line on stderr (hidden by ``--quiet``)."""
    if not state.quiet:
        err_console().print(message, markup=False)


def success(message: str) -> None:
    """Log a success line in green on stderr (hidden by ``--quiet``)."""
    if not state.quiet:
        err_console().print(message, style="green", markup=False)


def warn(message: str) -> None:
    """Log a warning on stderr (always shown)."""
    err_console().print(f"warning: {message}", style="yellow", markup=False)


def error(message: str) -> None:
    """Print an error on stderr (always shown)."""
    err_console().print(f"error: {message}", style="bold red", markup=False)


def emit_json(obj: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n")
    sys.stdout.flush()


def emit_json_line(obj: Any) -> None:
    """Write one compact JSON line to stdout (JSON Lines streams)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "__fspath__"):
        return os.fspath(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def progress_enabled() -> bool:
    """False with ``--quiet`` or ``MLCLS_NO_PROGRESS=1``: no bars and no periodic progress lines."""
    return not state.quiet and not env_flag(ENV_NO_PROGRESS)


def stderr_is_live() -> bool:
    """True when live progress bars make sense (stderr is a terminal and progress is enabled)."""
    if not progress_enabled():
        return False
    return err_console().is_terminal and not err_console().is_dumb_terminal


class ProgressReporter:
    """Progress over a known total: a live bar on a terminal, periodic plain lines elsewhere."""

    def __init__(
        self, description: str, total: int | None, unit: str = "items", interval: float = 5.0
    ) -> None:
        self.description = description
        self.total = total
        self.unit = unit
        self.interval = interval
        self.completed = 0
        self.fields: dict[str, Any] = {}
        self._start = time.monotonic()
        self._last_line = self._start
        self._progress: Any = None
        self._task: Any = None
        self._printed = -1  # completed count of the last plain line
        self._plain = False

    def __enter__(self) -> ProgressReporter:
        self._plain = progress_enabled() and not stderr_is_live()
        if stderr_is_live():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            if self.unit == "bytes":
                from rich.progress import DownloadColumn, TransferSpeedColumn

                count_columns: tuple[Any, ...] = (DownloadColumn(), TransferSpeedColumn())
            else:
                count_columns = (MofNCompleteColumn(), TextColumn("{task.fields[rate]}"))
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                *count_columns,
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[extra]}"),
                console=err_console(),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, rate="", extra="")
        return self

    def advance(self, n: int = 1, **fields: Any) -> None:
        """Record ``n`` more finished items and optional display fields (loss=..., lr=...)."""
        self.completed += n
        self.fields.update(fields)
        now = time.monotonic()
        if self._progress is not None:
            self._progress.update(self._task, advance=n, rate=self._rate_text(now), extra=self._fields_text())
        elif self._plain and now - self._last_line >= self.interval:
            self._last_line = now
            self._plain_line(now)

    def _rate_text(self, now: float) -> str:
        rate = self.completed / max(now - self._start, 1e-9)
        if self.unit == "bytes":
            return f"{human_bytes(rate)}/s"
        return f"{rate:.1f} {self.unit}/s"

    def _fields_text(self) -> str:
        return " ".join(f"{k}={_fmt(v)}" for k, v in self.fields.items())

    def _plain_line(self, now: float) -> None:
        if self.unit == "bytes":
            done = human_bytes(self.completed) + (f"/{human_bytes(self.total)}" if self.total else "")
        else:
            done = f"{self.completed}" + (f"/{self.total}" if self.total else "") + f" {self.unit}"
        pct = f" ({100 * self.completed / self.total:.0f}%)" if self.total else ""
        extra = self._fields_text()
        self._printed = self.completed
        line = f"{self.description}: {done}{pct}, {self._rate_text(now)}"
        err_console().print(line + (f", {extra}" if extra else ""), markup=False, highlight=False)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        elif self._plain and self.completed and exc[0] is None and self._printed != self.completed:
            self._plain_line(time.monotonic())

    @property
    def elapsed(self) -> float:
        """Seconds since the reporter started."""
        return time.monotonic() - self._start


def human_bytes(n: float) -> str:
    """Format a byte count with a binary unit, e.g. ``12.3 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@contextmanager
def progress(
    description: str, total: int | None, unit: str = "items", interval: float = 5.0
) -> Iterator[ProgressReporter]:
    """Context manager yielding a :class:`ProgressReporter`."""
    with ProgressReporter(description, total, unit=unit, interval=interval) as reporter:
        yield reporter
