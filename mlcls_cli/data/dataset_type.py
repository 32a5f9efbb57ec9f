"""The two dataset types, how a dataset's type is recognised, and the model-task check.

An ``MLClsDataset`` (multi-label) list line ends in a comma-separated 0/1 vector after
a TAB; a ``ClsDataset`` (single-label) line ends in one class id after one space. Both
share the folder layout and ``label.txt``. A model's task decides which type it
trains on, as in PaddleX (``PP-LCNet_x1_0`` single-label, ``PP-LCNet_x1_0_ML``
multi-label).

Detection reads the label field (what follows the last TAB, else the last space) of
the first :data:`DETECT_LINES` non-blank lines of ``train.txt``, then ``val.txt``, and
lets each line vote:

- a field with a comma is a vector: MLClsDataset;
- a single integer when ``label.txt`` has 2+ classes is a class id: ClsDataset (a
  vector would need a value per class), and so is an integer other than 0 or 1;
- otherwise (a 1-class dataset, or ``label.txt`` unreadable, with a 0 or 1) only the
  separator tells: TAB for MLClsDataset, space for ClsDataset. Such a guess is marked
  ambiguous; ``--dataset-type`` settles it.

The majority of the votes wins (a tie, or no readable line, means MLClsDataset, the
type mlcls checked before it knew two). Lines of the other type then fail the check
with ``list.type_mismatch``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlcls_cli.data.listfile import LABEL_FILE, TRAIN_LIST, VAL_LIST, locate_dataset_root
from mlcls_cli.errors import DatasetError, UsageError
from mlcls_cli.models.registry import TASK_CLS, TASK_ML

ML_DATASET = "MLClsDataset"
CLS_DATASET = "ClsDataset"
DATASET_TYPES = (CLS_DATASET, ML_DATASET)
DETECT_LINES = 100

_TYPE_OF_TASK = {TASK_ML: ML_DATASET, TASK_CLS: CLS_DATASET}
_LINE_FORMAT = {ML_DATASET: "'<image path><TAB><0,1,...>'", CLS_DATASET: "'<image path> <class id>'"}


class DatasetTypeError(DatasetError):
    """The dataset is of the other type than a model's task needs (exit 65)."""


@dataclass(frozen=True)
class TypeGuess:
    """What detection decided: the type, why (a phrase for logs), whether only a weak clue decided it."""

    dataset_type: str
    reason: str
    ambiguous: bool = False
    votes: tuple[tuple[str, int], ...] = ()


def normalize_dataset_type(value: str) -> str:
    """``ClsDataset`` or ``MLClsDataset`` from any letter case; anything else is a usage error."""
    text = str(value).strip().lower()
    for name in DATASET_TYPES:
        if text == name.lower():
            return name
    raise UsageError(
        f"unknown dataset type {value!r}",
        hint="use ClsDataset (single-label: '<image path> <class id>' lines) or MLClsDataset "
        "(multi-label: '<image path><TAB><0,1,...>' lines)",
    )


def dataset_type_for_task(task: str) -> str:
    """The dataset type a model task trains on: ClsDataset for single-label, MLClsDataset for multi-label."""
    try:
        return _TYPE_OF_TASK[task]
    except KeyError:
        raise UsageError(f"unknown model task {task!r}", hint=f"one of {', '.join(_TYPE_OF_TASK)}") from None


def line_format(dataset_type: str) -> str:
    """How a list line of ``dataset_type`` looks, for messages."""
    return _LINE_FORMAT[dataset_type]


def _num_classes(root: Path) -> int | None:
    """``max id + 1`` of the readable ``label.txt`` lines, or None when there are none."""
    try:
        with open(root / LABEL_FILE, encoding="utf-8-sig", errors="replace") as fh:
            ids = []
            for raw in fh:
                head = raw.strip().split(None, 1)[0] if raw.strip() else ""
                try:
                    ids.append(int(head))
                except ValueError:
                    continue
    except OSError:
        return None
    return max(ids) + 1 if ids else None


def _vote(raw: str, num_classes: int | None) -> tuple[str, bool] | None:
    """The type one list line suggests and whether that is a firm clue; None for a line that says nothing."""
    line = raw.rstrip("\r\n")
    if not line.strip():
        return None
    tab = "\t" in line
    label = line.rsplit("\t", 1)[1] if tab else line.strip().rsplit(" ", 1)[-1]
    label = label.strip()
    if "," in label:
        return ML_DATASET, True
    try:
        value = int(label)
    except ValueError:
        return None
    if (num_classes is not None and num_classes >= 2) or value not in (0, 1):
        return CLS_DATASET, True
    return (ML_DATASET if tab else CLS_DATASET), False


def guess_dataset_type(root: str | os.PathLike[str], max_lines: int = DETECT_LINES) -> TypeGuess:
    """Detect the type of the dataset whose root is ``root`` from its list lines (see the module doc)."""
    base = Path(root)
    k = _num_classes(base)
    firm = {ML_DATASET: 0, CLS_DATASET: 0}
    weak = {ML_DATASET: 0, CLS_DATASET: 0}
    read: list[str] = []
    for name in (TRAIN_LIST, VAL_LIST):
        seen = 0
        try:
            with open(base / name, encoding="utf-8-sig", errors="replace") as fh:
                for raw in fh:
                    if seen >= max_lines:
                        break
                    vote = _vote(raw, k)
                    if raw.strip():
                        seen += 1
                    if vote is not None:
                        (firm if vote[1] else weak)[vote[0]] += 1
        except OSError:
            continue
        if seen:
            read.append(f"{seen} line{'s' if seen > 1 else ''} of {name}")
        if sum(firm.values()) + sum(weak.values()) >= max_lines:
            break
    where = " and ".join(read) or "no list line"
    for votes, ambiguous in ((firm, False), (weak, True)):
        if any(votes.values()):
            winner = CLS_DATASET if votes[CLS_DATASET] > votes[ML_DATASET] else ML_DATASET
            if ambiguous:
                reason = (
                    f"only the {'space' if winner == CLS_DATASET else 'TAB'} separator of {where} tells "
                    f"(a {'1-class ' if k == 1 else ''}label field of 0 or 1 fits both types)"
                )
            else:
                reason = f"from the label field of {where}"
            return TypeGuess(winner, reason, ambiguous, tuple(sorted(votes.items())))
    return TypeGuess(ML_DATASET, f"{where} to read the type from; {ML_DATASET} assumed", True)


def detect_dataset_type(dataset_dir: str | os.PathLike[str]) -> str:
    """``ClsDataset`` or ``MLClsDataset``: the type of the dataset in (or below) ``dataset_dir``.

    The root is found as ``mlcls check`` finds it; a missing folder raises
    :class:`~mlcls_cli.errors.InputMissingError`, a folder without a dataset
    :class:`~mlcls_cli.errors.DatasetError`.
    """
    return guess_dataset_type(locate_dataset_root(dataset_dir)).dataset_type


def _counterpart(model: str | None, dataset_type: str) -> str:
    """A model of the same family that fits ``dataset_type``, for the hint (a generic example otherwise)."""
    fallback = "PP-LCNet_x1_0" if dataset_type == CLS_DATASET else "PP-LCNet_x1_0_ML"
    if not model:
        return fallback
    from mlcls_cli.models.registry import MODELS

    other = model.removesuffix("_ML") if dataset_type == CLS_DATASET else f"{model}_ML"
    return other if other in MODELS and other != model else fallback


def require_dataset_type(dataset_dir: str | os.PathLike[str], task: str, *, model: str | None = None) -> str:
    """Check that the dataset fits a model's ``task``; returns the dataset type to read it as.

    A dataset whose lines clearly are of the other type raises :class:`DatasetTypeError`
    (a :class:`DatasetError`, exit 65) naming the model's task, the dataset's type and the fix; an ambiguous
    dataset (1 class, no readable line) is read as the task's type.
    """
    expected = dataset_type_for_task(task)
    root = locate_dataset_root(dataset_dir)
    guess = guess_dataset_type(root)
    if guess.ambiguous or guess.dataset_type == expected:
        return expected
    who = f"model {model}" if model else "the model"
    kind = "single-label" if expected == CLS_DATASET else "multi-label"
    found = "single-label" if guess.dataset_type == CLS_DATASET else "multi-label"
    if expected == CLS_DATASET:
        fix = (
            f"train a multi-label model on it (e.g. {_counterpart(model, ML_DATASET)}), or give {who} a "
            f"ClsDataset ({line_format(CLS_DATASET)} lines; `mlcls convert DIR --from folders` makes one "
            "from one sub-folder per class)"
        )
    else:
        fix = (
            f"train a single-label model on it (e.g. {_counterpart(model, CLS_DATASET)}), or give {who} an "
            f"MLClsDataset ({line_format(ML_DATASET)} lines; `mlcls convert DIR --from coco` makes one)"
        )
    raise DatasetTypeError(
        f"{who} is {kind} ({task}) and trains on a {expected}, but {root} is a {found} "
        f"{guess.dataset_type} ({guess.reason})",
        hint=fix,
    )


__all__ = [
    "CLS_DATASET",
    "DATASET_TYPES",
    "DETECT_LINES",
    "ML_DATASET",
    "DatasetTypeError",
    "TypeGuess",
    "dataset_type_for_task",
    "detect_dataset_type",
    "guess_dataset_type",
    "line_format",
    "normalize_dataset_type",
    "require_dataset_type",
]
