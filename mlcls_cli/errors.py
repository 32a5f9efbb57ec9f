"""Exit codes and the exception types that map a known failure to one of them.

Every failure a user can cause or fix is raised as an :class:`MlclsError`
subclass; the CLI prints its message (what, where, how to fix) on stderr and
exits with its code. Anything else is a bug and exits with ``UNEXPECTED``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented process exit codes (BSD ``sysexits.h`` above 2)."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    DATAERR = 65
    NOINPUT = 66
    UNAVAILABLE = 69
    SOFTWARE = 70
    IOERR = 74
    BUSY = 75
    CONFIG = 78
    INTERRUPTED = 130
    BROKEN_PIPE = 141


EXIT_CODE_HELP: dict[int, str] = {
    ExitCode.OK: "success (check passed)",
    ExitCode.UNEXPECTED: "unexpected internal error (a bug: rerun with --debug and report it)",
    ExitCode.USAGE: "usage error (bad option or value)",
    ExitCode.DATAERR: "dataset invalid (check found problems)",
    ExitCode.NOINPUT: "input missing (dataset, image, weights or config file not found)",
    ExitCode.UNAVAILABLE: "model or device unavailable (download failed, offline and not cached, no usable GPU, "
    "a backend, PaddlePaddle or a training logger's library not installed)",
    ExitCode.SOFTWARE: "training failed (NaN loss), a run could not continue, or an ONNX conversion failed "
    "(paddle2onnx error, or its graph disagrees with Paddle Inference)",
    ExitCode.IOERR: "I/O failure (cannot write, disk full, checksum mismatch)",
    ExitCode.BUSY: "busy: another training is running into the same output folder (retry when it ends)",
    ExitCode.CONFIG: "invalid config (unknown key, wrong type)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitCode.BROKEN_PIPE: "stdout was closed early (e.g. `| head`): stopped quietly, as a shell reports SIGPIPE",
}


def exit_code_table() -> str:
    """Return the exit-code table as plain text lines ``code  meaning``."""
    return "\n".join(f"{int(code):>3}  {text}" for code, text in EXIT_CODE_HELP.items())


class MlclsError(Exception):
    """A known failure: a message for the user, an optional hint and an exit code."""

    exit_code: int = ExitCode.UNEXPECTED

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(MlclsError):
    """An option or argument value that cannot work (exit 2)."""

    exit_code = ExitCode.USAGE


class DatasetError(MlclsError):
    """The dataset is malformed (exit 65)."""

    exit_code = ExitCode.DATAERR


class InputMissingError(MlclsError):
    """A file or folder the user named does not exist (exit 66)."""

    exit_code = ExitCode.NOINPUT


class ModelUnavailableError(MlclsError):
    """A model file cannot be had: offline, download failed, or not implemented here (exit 69)."""

    exit_code = ExitCode.UNAVAILABLE


class TrainingError(MlclsError):
    """Training cannot continue, e.g. the loss became NaN (exit 70)."""

    exit_code = ExitCode.SOFTWARE


class IOFailure(MlclsError):
    """Reading or writing failed, or a checksum did not match (exit 74)."""

    exit_code = ExitCode.IOERR


class OutputBusyError(MlclsError):
    """The output folder is held by another running training (exit 75, sysexits' EX_TEMPFAIL: retry later)."""

    exit_code = ExitCode.BUSY


class ConfigError(MlclsError):
    """The configuration is invalid: unknown key, wrong type, bad value (exit 78)."""

    exit_code = ExitCode.CONFIG


class PaddleMissingError(MlclsError):
    """PaddlePaddle is not installed but the command needs it (exit 69)."""

    exit_code = ExitCode.UNAVAILABLE

    def __init__(self) -> None:
        super().__init__(
            "PaddlePaddle is not installed; this command needs it.",
            hint='install the CPU build with `pip install "mlcls[cpu]"`, or `paddlepaddle-gpu` for a GPU box',
        )
