"""The command surface: help, version, global options, exit codes, and import laziness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlcls_cli import __version__
from mlcls_cli.cli.app import app
from mlcls_cli.errors import EXIT_CODE_HELP, ExitCode

runner = CliRunner()
SUBCOMMANDS = [
    "check",
    "convert",
    "split",
    "train",
    "eval",
    "export",
    "predict",
    "pipeline",
    "get-config",
    "models",
    "version",
]


def run_cli(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mlcls_cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        **kw,
    )


def test_help_lists_every_subcommand_and_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in SUBCOMMANDS:
        assert name in result.output
    text = " ".join(result.output.split())
    for code in (0, 1, 2, 65, 66, 69, 70, 74, 78, 130, 141):
        assert f" {code} " in text


def test_command_summaries_are_whole_sentences() -> None:
    from mlcls_cli.cli.app import SUMMARIES

    result = CliRunner().invoke(app, ["--help"], terminal_width=80)
    text = " ".join(result.output.split())
    for name, summary in SUMMARIES.items():
        assert summary.endswith(".") and not summary.endswith("..."), name
        assert f"{name} {summary}" in text, name  # shown whole, never cut with "..."
    assert "..." not in text.split("Commands:")[1].split("Exit codes")[0]


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name: str) -> None:
    result = runner.invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_exit_code_table_is_complete() -> None:
    assert {int(c) for c in ExitCode} == {int(c) for c in EXIT_CODE_HELP}


def test_version_plain_and_json() -> None:
    assert runner.invoke(app, ["--version"]).output.strip() == f"mlcls {__version__}"
    result = runner.invoke(app, ["version", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["mlcls"] == __version__
    result = runner.invoke(app, ["--json", "version"])
    assert json.loads(result.output)["mlcls"] == __version__


def test_usage_error_exit_2_subprocess() -> None:
    proc = run_cli("check", "--no-such-option")
    assert proc.returncode == ExitCode.USAGE == 2
    assert proc.stdout == ""
    assert "No such option" in proc.stderr


def test_invalid_config_exit_78_subprocess() -> None:
    proc = run_cli("get-config", "--resolved", "-o", "Train.epoch=3")
    assert proc.returncode == 78
    assert "did you mean Train.epochs_iters?" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_missing_config_file_exit_66_subprocess(tmp_path: Path) -> None:
    proc = run_cli("get-config", "--resolved", "-c", str(tmp_path / "missing.yaml"))
    assert proc.returncode == 66
    assert "missing.yaml does not exist" in proc.stderr


def test_io_failure_exit_74_subprocess(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli("get-config", "ResNet50_ML", "--save-path", str(blocker / "sub" / "c.yaml"))
    assert proc.returncode == 74
    assert "cannot write" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_debug_shows_traceback() -> None:
    proc = run_cli("--debug", "get-config", "--resolved", "-o", "Train.epoch=3")
    assert proc.returncode == 78
    assert "Traceback" in proc.stderr


def test_interrupt_exit_130_subprocess(tmp_path: Path) -> None:
    fifo = tmp_path / "cfg.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcls_cli", "get-config", "--resolved", "-c", str(fifo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writer = None
    deadline = time.monotonic() + 60
    while writer is None:  # the open succeeds once mlcls has the pipe open for reading
        try:
            writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
    try:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        os.close(writer)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err


def test_config_from_a_pipe_is_accepted(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            "bash",
            "-c",
            f"{sys.executable} -m mlcls_cli get-config --resolved -c <(printf 'Train:\\n  epochs_iters: 3\\n')",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "epochs_iters: 3" in proc.stdout


def test_help_does_not_import_paddle() -> None:
    proc = run_cli("--help", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert proc.returncode == 0
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "typer" in imported  # the profile really ran
    assert not any(name == "paddle" or name.startswith("paddle.") for name in imported)


def test_no_color_env_gives_plain_errors() -> None:
    proc = run_cli("get-config", "nope", env={"NO_COLOR": "1", "FORCE_COLOR": "1"})
    assert proc.returncode == 2
    assert "\x1b[" not in proc.stderr


def _commands() -> list[list[str]]:
    """Every runnable command path, e.g. ["check"], ["models", "download"]."""
    paths = [[name] for name in SUBCOMMANDS if name != "models"]
    paths += [["models", sub] for sub in ("list", "download", "path", "clean", "info")]
    return [*paths, ["serve"]]


@pytest.mark.parametrize("path", _commands(), ids=" ".join)
def test_global_switches_are_accepted_after_every_command(path: list[str]) -> None:
    text = runner.invoke(app, [*path, "--help"]).output
    for flag in ("--json", "--quiet", "--debug", "--no-color"):
        assert flag in text, f"{' '.join(path)} lacks {flag}"


def test_debug_after_the_command_shows_the_traceback_the_hint_asks_for(tmp_path: Path) -> None:
    plain = run_cli("check", str(tmp_path / "missing"))
    assert plain.returncode == 66 and "Traceback" not in plain.stderr
    debug = run_cli("check", str(tmp_path / "missing"), "--debug", "--no-color")
    assert debug.returncode == 66
    assert "Traceback" in debug.stderr and "\x1b[" not in debug.stderr


@pytest.mark.parametrize(("value", "traceback"), [("1", True), ("yes", True), ("false", False), ("0", False)])
def test_mlcls_debug_reads_booleans(tmp_path: Path, value: str, traceback: bool) -> None:
    proc = run_cli("check", str(tmp_path / "missing"), env={"MLCLS_DEBUG": value})
    assert proc.returncode == 66
    assert ("Traceback" in proc.stderr) is traceback


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MLCLS_DEBUG", "maybe", "is not a boolean"),
        ("MLCLS_OFFLINE", "maybe", "is not a boolean"),
        ("MLCLS_NO_PROGRESS", "2", "is not a boolean"),
        ("MLCLS_CPU_THREADS", "1.5", "is not an integer"),
        ("MLCLS_URL_TIMEOUT", "0", "must be a positive number"),
    ],
)
def test_a_bad_environment_value_is_a_usage_error_at_start(name: str, value: str, message: str) -> None:
    proc = run_cli("version", env={name: value})
    assert proc.returncode == 2, proc.stderr
    assert f"{name}={value!r} {message}" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
