"""The prediction loop behind ``mlcls predict`` and ``mlcls pipeline``: stream results to a sink and files.

Each result goes to ``emit`` as soon as its batch is done (JSON Lines or a human
line, chosen by the caller), and to ``<save_path>/<sub-folder>/<stem>_res.json`` and
``<stem>_res.<ext>`` when ``save_path`` is given; images from a folder input keep
their sub-folder under ``save_path``, so equal file names in different folders do
not overwrite each other. Unusable inputs are collected, not fatal.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcls_cli import console
from mlcls_cli.inference.inputs import InputFailure, count_inputs
from mlcls_cli.inference.result import ClassificationResult


@dataclass
class RunSummary:
    """What a prediction run did."""

    predicted: int = 0
    failures: list[InputFailure] = field(default_factory=list)
    seconds: float = 0.0
    saved: list[Path] = field(default_factory=list)

    @property
    def images_per_second(self) -> float:
        """Predicted images per second of wall time."""
        return self.predicted / self.seconds if self.seconds > 0 else 0.0


def _has_folder(inputs: list[Any]) -> bool:
    return any(isinstance(i, (str, os.PathLike)) and Path(os.fspath(i)).expanduser().is_dir() for i in inputs)


def run_prediction(
    predictor: Any,
    inputs: list[Any],
    *,
    emit: Callable[[ClassificationResult], None],
    batch_size: int | None = None,
    threshold: Any = None,
    top_k: int | None = None,
    save_path: str | os.PathLike[str] | None = None,
    progress: bool = True,
    keep_saved: bool = False,
) -> RunSummary:
    """Predict ``inputs`` with a model or pipeline, passing each result to ``emit``; return a summary.

    ``progress`` shows a progress bar (stderr) when a folder is among the inputs.
    Failed inputs are reported on stderr as they happen and listed in the summary.
    """
    summary = RunSummary()

    def on_failure(failure: InputFailure) -> None:
        summary.failures.append(failure)
        console.warn(f"skipped {failure.input}: {failure.reason}")

    total = count_inputs(inputs) if progress and _has_folder(inputs) else None
    start = time.monotonic()
    stream = predictor.predict(
        inputs, batch_size=batch_size, threshold=threshold, top_k=top_k, on_error=on_failure
    )
    target = Path(save_path) if save_path is not None else None
    with contextlib.ExitStack() as stack:
        stack.callback(stream.close)
        reporter = stack.enter_context(console.progress("predict", total, unit="images")) if total else None
        seen = 0
        for result in stream:
            emit(result)
            if target is not None:
                folder = target / result.rel_dir if result.rel_dir else target
                paths = (result.save_to_json(folder), result.save_to_img(folder))
                if keep_saved:
                    summary.saved.extend(paths)
            summary.predicted += 1
            if reporter is not None:
                done = summary.predicted + len(summary.failures)
                reporter.advance(done - seen)
                seen = done
    summary.seconds = time.monotonic() - start
    return summary


__all__ = ["RunSummary", "run_prediction"]
