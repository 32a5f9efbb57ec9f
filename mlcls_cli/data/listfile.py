"""The dataset text formats: ``label.txt`` and the ``train.txt``/``val.txt`` list files.

``label.txt`` holds ``<id> <name>`` per line (split on the first space, so names
may contain spaces); both dataset types share it.

An MLClsDataset list line is ``<relative image path>\\t<0,1,...>``: TAB is
canonical and always written; on read any whitespace before the label vector is
accepted, so paths with spaces and space-separated files both work.

A ClsDataset list line is ``<relative image path> <class id>`` with exactly one
space, read exactly as PaddleX's checker reads it: the line is split on every
space and must give two fields, so a TAB separator, a path with a space, a
doubled, leading or trailing space and a blank line are errors (PaddleX rejects
them), and the id is whatever Python's ``int()`` accepts. Each such problem has
its own :attr:`LineError.kind`.

The primitives here raise :class:`LineError` for one bad line; the checker
collects them into a full report, while the strict loaders used by training stop
at the first problem with a :class:`DatasetError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlcls_cli.errors import DatasetError, InputMissingError, MlclsError

LABEL_FILE = "label.txt"
TRAIN_LIST = "train.txt"
VAL_LIST = "val.txt"
IMAGES_DIR = "images"


class LineError(ValueError):
    """One malformed line: what is wrong, how to fix it and, where known, the checker's kind code."""

    def __init__(self, message: str, hint: str = "", kind: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind


@dataclass(frozen=True)
class Sample:
    """One list-file entry: the image path relative to the dataset root and its multi-hot vector."""

    path: str
    labels: tuple[int, ...]
    lineno: int = 0

    @property
    def positives(self) -> tuple[int, ...]:
        """The class ids marked 1 in the vector."""
        return tuple(i for i, v in enumerate(self.labels) if v == 1)


@dataclass(frozen=True, slots=True)
class ClsSample:
    """One ClsDataset list entry: the image path relative to the dataset root and its class id."""

    path: str
    class_id: int
    lineno: int = 0

    @property
    def positives(self) -> tuple[int, ...]:
        """The sample's class as a one-element tuple (the same shape as :attr:`Sample.positives`)."""
        return (self.class_id,)


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a text file as UTF-8 (a BOM is dropped), with clear errors for a missing or non-UTF-8 file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputMissingError(f"{p} does not exist") from None
    except OSError as exc:
        raise InputMissingError(f"cannot read {p}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"{p} is not UTF-8 text (byte {exc.start})",
            hint="re-save the file as UTF-8",
        ) from None


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """Read a text file as UTF-8 (a BOM is dropped) and return its lines without line endings."""
    return read_text(path).splitlines()


def parse_label_line(raw: str) -> tuple[int, str]:
    """Parse one ``label.txt`` line into ``(id, name)``."""
    line = raw.rstrip("\r")
    if not line.strip():
        raise LineError("blank line", "delete the blank line")
    head, sep, name = line.strip().partition(" ")
    if not sep and "\t" in head:
        head, _, name = head.partition("\t")
    try:
        index = int(head)
    except ValueError:
        raise LineError(
            f"expected '<id> <name>', got {line!r}",
            "each line must start with an integer class id, a space, then the class name",
        ) from None
    name = name.strip()
    if not name:
        raise LineError(f"class {index} has no name", "write the class name after the id and a space")
    return index, name


def split_list_line(raw: str) -> tuple[str, str]:
    """Split a list line into ``(image path, label vector text)``."""
    line = raw.rstrip("\r")
    if not line.strip():
        raise LineError("blank line", "delete the blank line")
    if "\t" in line:
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise LineError(
                f"expected 2 TAB-separated fields, got {len(fields)}: {line!r}",
                "write '<image path><TAB><0,1,...>' with exactly one TAB",
            )
        return fields[0].strip(), fields[1].strip()
    stripped = line.strip()
    head, _, vector = stripped.rpartition(" ")
    if not head.strip():
        raise LineError(
            f"expected '<image path><TAB><0,1,...>', got {line!r}",
            "add the label vector after the image path, separated by a TAB",
        )
    return head.strip(), vector.strip()


def parse_vector(text: str, num_classes: int | None = None) -> tuple[int, ...]:
    """Parse a comma-separated multi-hot vector, checking values are 0/1 and, if given, its length."""
    tokens = [t.strip() for t in text.split(",")]
    values: list[int] = []
    for pos, token in enumerate(tokens):
        try:
            value = int(token)
        except ValueError:
            raise LineError(
                f"label value {token!r} at position {pos} is not an integer",
                "the label vector is comma-separated 0/1 values, one per class",
            ) from None
        if value not in (0, 1):
            raise LineError(
                f"label value {value} at position {pos} is not 0 or 1",
                "multi-label vectors are multi-hot: 1 where the class is present, else 0",
            )
        values.append(value)
    if num_classes is not None and len(values) != num_classes:
        raise LineError(
            f"label vector has {len(values)} values but label.txt has {num_classes} classes",
            "write one 0/1 value per class, in label.txt order",
        )
    return tuple(values)


def format_list_line(path: str, labels: tuple[int, ...] | list[int]) -> str:
    """Format one canonical list line (POSIX path, TAB, comma-joined vector), without newline."""
    return f"{Path(path).as_posix() if os.sep != '/' else path}\t{','.join(str(int(v)) for v in labels)}"


CLS_LINE_HINT = "write '<image path> <class id>': the path, one space, the integer class id"
_TAB_HINT = (
    "ClsDataset lines use ONE SPACE between the path and the class id (PaddleX splits on ' '): "
    "replace the TAB with a space"
)
_TYPE_HINT_CLS_READ = (
    "this dataset is read as a ClsDataset ('<image path> <class id>'); if it is multi-label, "
    "check it with --dataset-type MLClsDataset and train a multi-label (_ML) model"
)


def split_cls_line(raw: str) -> tuple[str, str]:
    """Split a ClsDataset list line into ``(image path, class id text)`` as PaddleX's checker does.

    Exactly one space between two non-empty fields; anything else raises a
    :class:`LineError` whose ``kind`` names the problem.
    """
    line = raw.rstrip("\r")  # CRLF files pass PaddleX too: int() ignores the '\r'
    if not line.strip():
        raise LineError(
            "blank line", "delete the blank line: PaddleX's checker rejects it", "list.blank_line"
        )
    fields = line.split(" ")
    if len(fields) == 2 and fields[0] and fields[1].strip():
        return fields[0], fields[1]
    if "\t" in line:
        if "," in line.rsplit("\t", 1)[1]:
            raise LineError(
                f"TAB and a label vector, as in an MLClsDataset: {line!r}",
                _TYPE_HINT_CLS_READ,
                "list.type_mismatch",
            )
        raise LineError(f"a TAB separates the fields: {line!r}", _TAB_HINT, "list.tab_separator")
    if len(fields) == 1:
        if "," in line:
            raise LineError(
                f"expected '<image path> <class id>', got one field with commas: {line!r}",
                "separate the path and the class id with one space (a comma is not a separator)",
                "list.fields",
            )
        raise LineError(
            f"expected '<image path> <class id>', got one field: {line!r}", CLS_LINE_HINT, "list.fields"
        )
    body = line.rstrip(" ")
    if body != line:
        n = len(line) - len(body)
        raise LineError(
            f"{n} trailing space{'s' if n > 1 else ''} after {body.split(' ')[-1]!r}: {line!r}",
            "delete the space(s) at the end of the line: PaddleX's checker splits on every space",
            "list.trailing_space",
        )
    if line.startswith(" ") or "" in fields:
        where = "the line starts with a space" if line.startswith(" ") else "two spaces in a row"
        raise LineError(
            f"{where}: {line!r}",
            "write exactly one space between the image path and the class id, none before or after",
            "list.extra_space",
        )
    try:
        int(fields[-1])
    except ValueError:
        raise LineError(
            f"expected 2 space-separated fields, got {len(fields)}: {line!r}", CLS_LINE_HINT, "list.fields"
        ) from None
    path = " ".join(fields[:-1])
    raise LineError(
        f"the image path {path!r} contains a space",
        "PaddleX splits ClsDataset lines on every space, so a path cannot contain one: rename the file or "
        "folder (e.g. spaces to '_') and fix the line",
        "list.path_spaces",
    )


def parse_class_id(text: str, num_classes: int | None = None) -> int:
    """Parse a ClsDataset class id (as ``int()`` does) and, if ``num_classes`` is given, check 0 <= id < K."""
    try:
        value = int(text)
    except ValueError:
        token = text.strip()
        if "\t" in token:
            raise LineError(
                f"a TAB inside the class id field {token!r}", _TAB_HINT, "list.tab_separator"
            ) from None
        if "," in token:
            raise LineError(
                f"label {token!r} is a vector, as in an MLClsDataset, not a class id",
                _TYPE_HINT_CLS_READ,
                "list.type_mismatch",
            ) from None
        raise LineError(
            f"class id {token!r} is not an integer",
            "the second field is an integer class id from label.txt (0..K-1)",
            "list.class_id",
        ) from None
    if num_classes is not None and not 0 <= value < num_classes:
        raise LineError(
            f"class id {value} is not in label.txt (ids 0..{num_classes - 1})",
            "use an id listed in label.txt; PaddleX does not check this, and training then crashes or "
            "learns the wrong class",
            "list.class_id_range",
        )
    return value


def format_cls_line(path: str, class_id: int) -> str:
    """Format one ClsDataset list line (POSIX path, one space, class id), without newline.

    A path with whitespace raises ``ValueError``: PaddleX cannot read such a line.
    """
    posix = Path(path).as_posix() if os.sep != "/" else path
    if any(ch.isspace() for ch in posix):
        raise ValueError(f"image path {posix!r} contains whitespace, which a ClsDataset line cannot hold")
    return f"{posix} {int(class_id)}"


def find_root_with(
    dataset_dir: str | os.PathLike[str],
    marker: str,
    *,
    layout_hint: str,
    missing_error: type[MlclsError] = DatasetError,
) -> Path:
    """The folder holding ``marker/``: ``dataset_dir`` itself, else the only such folder below it (as PaddleX)."""
    base = Path(dataset_dir)
    if not base.exists():
        raise InputMissingError(f"dataset folder {base} does not exist", hint="check the path")
    if not base.is_dir():
        raise InputMissingError(f"{base} is not a folder", hint="pass the dataset folder, not a file")
    if (base / marker).is_dir():
        return base
    found = sorted(p.parent for p in base.glob(f"**/{marker}") if p.is_dir())
    if len(found) == 1:
        return found[0]
    if not found:
        raise missing_error(f"no {marker}/ folder found in or below {base}", hint=layout_hint)
    listing = ", ".join(str(p) for p in found[:5])
    raise DatasetError(
        f"several {marker}/ folders below {base}: {listing}",
        hint=f"pass the dataset root itself (the folder holding {marker}/)",
    )


def locate_dataset_root(dataset_dir: str | os.PathLike[str]) -> Path:
    """Return the dataset root: ``dataset_dir`` if it holds ``images/``, else the parent of the only ``**/images``."""
    return find_root_with(
        dataset_dir,
        IMAGES_DIR,
        layout_hint=f"an MLClsDataset has {IMAGES_DIR}/, {LABEL_FILE}, {TRAIN_LIST} and {VAL_LIST} in one folder",
    )


def load_label_names(label_file: str | os.PathLike[str]) -> list[str]:
    """Read ``label.txt`` strictly: ids must be exactly 0..K-1 (any order); returns names by id."""
    names: dict[int, str] = {}
    for lineno, raw in enumerate(read_lines(label_file), start=1):
        if not raw.strip():
            continue
        try:
            index, name = parse_label_line(raw)
        except LineError as exc:
            raise DatasetError(f"{label_file}:{lineno}: {exc.message}", hint=exc.hint) from None
        if index in names:
            raise DatasetError(
                f"{label_file}:{lineno}: class id {index} appears twice", hint="ids must be unique"
            )
        names[index] = name
    if not names:
        raise DatasetError(f"{label_file} lists no classes", hint="write one '<id> <name>' line per class")
    if sorted(names) != list(range(len(names))):
        raise DatasetError(
            f"{label_file}: class ids must be 0..{len(names) - 1} without gaps",
            hint="renumber the classes from 0; run `mlcls check` for details",
        )
    return [names[i] for i in range(len(names))]


def load_samples(list_file: str | os.PathLike[str], num_classes: int) -> list[Sample]:
    """Read a list file strictly (blank lines skipped); the first bad line raises :class:`DatasetError`."""
    samples: list[Sample] = []
    for lineno, raw in enumerate(read_lines(list_file), start=1):
        if not raw.strip():
            continue
        try:
            path, vector = split_list_line(raw)
            labels = parse_vector(vector, num_classes)
        except LineError as exc:
            raise DatasetError(
                f"{list_file}:{lineno}: {exc.message}", hint=exc.hint or "run `mlcls check` for a full report"
            ) from None
        samples.append(Sample(path=path, labels=labels, lineno=lineno))
    return samples


def load_cls_samples(list_file: str | os.PathLike[str], num_classes: int) -> list[ClsSample]:
    """Read a ClsDataset list strictly: the first line PaddleX's checker rejects (blank lines included),
    or an id outside 0..``num_classes``-1, raises :class:`DatasetError`."""
    samples: list[ClsSample] = []
    for lineno, raw in enumerate(read_lines(list_file), start=1):
        try:
            path, token = split_cls_line(raw)
            class_id = parse_class_id(token, num_classes)
        except LineError as exc:
            raise DatasetError(
                f"{list_file}:{lineno}: {exc.message}", hint=exc.hint or "run `mlcls check` for a full report"
            ) from None
        samples.append(ClsSample(path=path, class_id=class_id, lineno=lineno))
    return samples
