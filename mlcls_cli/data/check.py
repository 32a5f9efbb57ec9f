"""Validate a dataset and report every problem, with statistics, a histogram and demo images.

Both dataset types go through the same checker: an MLClsDataset (multi-label,
``<path>\\t<0,1,...>`` lines) and a ClsDataset (single-label, ``<path> <class id>`` lines,
read exactly as PaddleX's checker reads them). The type is detected from the lists
(:mod:`mlcls_cli.data.dataset_type`) unless the caller forces one; only the line parsing,
a few severities and hints, and the per-class rules differ by type. Each parsed line
keeps its positive class ids, never a one-hot vector, so ImageNet-size lists stay small.

Unlike PaddleX's checker, which stops at the first bad line, :func:`check_dataset`
reads everything and collects each problem with a kind code, severity, file, line,
message and fix hint, then writes ``<output>/check_dataset_result.json`` with
PaddleX's keys first (so tools reading PaddleX results keep working) and ours after.
Paddle-free; images are probed from their headers in a thread pool (``decode=True``
decodes them fully).
"""

from __future__ import annotations

import io
import os
import posixpath
import random
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlcls_cli import __version__
from mlcls_cli.data.dataset_type import (
    CLS_DATASET,
    ML_DATASET,
    TypeGuess,
    guess_dataset_type,
    normalize_dataset_type,
)
from mlcls_cli.data.listfile import (
    IMAGES_DIR,
    LABEL_FILE,
    TRAIN_LIST,
    VAL_LIST,
    LineError,
    locate_dataset_root,
    parse_class_id,
    parse_label_line,
    parse_vector,
    read_lines,
    split_cls_line,
    split_list_line,
)
from mlcls_cli.data.stats import compute_statistics_ids, counts_by_class
from mlcls_cli.errors import DatasetError, InputMissingError, UsageError
from mlcls_cli.utils.atomic import atomic_write_bytes, atomic_write_json

ERROR = "error"
WARNING = "warning"

RESULT_FILE = "check_dataset_result.json"
CHECK_DIR = "check_dataset"
DEMO_DIR = "demo_img"
HISTOGRAM_FILE = "histogram.png"
DEMO_PER_SPLIT = 10
DEMO_SEED = 123  # PaddleX seeds its per-split shuffle with 123: same picks on a valid dataset
DEMO_MAX_SIDE = 1280  # larger photos are shrunk for the demo so the check stays fast
SPLITS = (("train", TRAIN_LIST), ("val", VAL_LIST))
UNUSUAL_MODES = frozenset({"CMYK", "YCbCr", "LAB", "HSV", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})

# kind -> (severity, default fix hint). The kinds are a stable, documented interface.
KINDS: dict[str, tuple[str, str]] = {
    "layout.root_not_found": (
        ERROR,
        "an MLClsDataset folder holds images/, label.txt, train.txt and val.txt; pass it or a folder above it",
    ),
    "layout.ambiguous_root": (
        ERROR,
        "pass the dataset root itself (the folder holding images/ and label.txt)",
    ),
    "layout.missing_images_dir": (ERROR, "put the images in an images/ folder next to label.txt"),
    "layout.missing_file": (
        ERROR,
        "label.txt holds '<id> <name>' lines; train.txt and val.txt hold '<image path><TAB><0,1,...>' lines "
        "(`mlcls convert` and `mlcls split` can write them)",
    ),
    "file.not_utf8": (ERROR, "re-save the file as UTF-8"),
    "file.bom": (WARNING, "accepted here, but PaddleX misreads the first line: re-save as UTF-8 without BOM"),
    "label.crlf": (
        WARNING,
        "accepted here, but PaddleX keeps the '\\r' in class names: convert to LF line endings (dos2unix)",
    ),
    "label.blank_line": (WARNING, "skipped here, but PaddleX rejects blank lines: delete it"),
    "label.malformed": (ERROR, "write '<id> <name>': an integer id, one space, then the class name"),
    "label.tab_separator": (WARNING, "accepted here, but PaddleX splits on a space: write '<id> <name>'"),
    "label.duplicate_id": (ERROR, "give every class its own id"),
    "label.duplicate_name": (
        WARNING,
        "rename one class unless intended (PaddleX's histogram merges equal names)",
    ),
    "label.ids_not_from_zero": (ERROR, "renumber the classes from 0: vector position i is class id i"),
    "label.ids_gap": (ERROR, "number the classes 0..K-1 without gaps"),
    "label.empty": (ERROR, "write one '<id> <name>' line per class"),
    "list.blank_line": (WARNING, "skipped here, but PaddleX rejects blank lines: delete it"),
    "list.fields": (ERROR, "write '<image path><TAB><0,1,...>' with exactly one TAB"),
    "list.space_separator": (
        WARNING,
        "accepted here, but PaddleX needs a TAB between the path and the vector",
    ),
    "list.vector_values": (ERROR, "the label vector is comma-separated 0/1 values, one per class"),
    "list.vector_length": (ERROR, "write one 0/1 value per class of label.txt, in id order"),
    "list.path_escapes": (
        ERROR,
        "image paths are relative to the dataset root and stay inside it, e.g. images/x.jpg",
    ),
    "list.backslash_path": (WARNING, "accepted (read as '/'), but write '/' so the list works everywhere"),
    "list.duplicate_line": (
        WARNING,
        "the image is listed twice with the same labels and counts twice in training: delete the repeat",
    ),
    "list.conflicting_labels": (
        ERROR,
        "the image is listed twice with different labels: keep one line with the right vector",
    ),
    "list.empty": (ERROR, "the list holds no samples: add lines, or run `mlcls split`"),
    "list.no_positive": (
        WARNING,
        "legal (a negative sample: none of the classes); check the vector if that is not intended",
    ),
    "image.missing": (ERROR, "fix the path (relative to the dataset root) or add the file"),
    "image.unreadable": (ERROR, "the file is not an image Pillow can read: replace it or remove its line"),
    "image.empty": (ERROR, "the image has zero width or height: replace it or remove its line"),
    "image.too_large": (
        ERROR,
        "training and prediction refuse images this large (a decompression-bomb guard): downscale it",
    ),
    "image.decode_failed": (ERROR, "the image is corrupt or truncated: re-export it or remove its line"),
    "image.unusual_mode": (WARNING, "it is converted to RGB for training; check its colours look right"),
    "split.overlap": (
        WARNING,
        "the image is in both train and val, which inflates validation scores: keep it in one split",
    ),
    "classes.no_train_positives": (
        WARNING,
        "no train sample has this class, so the model cannot learn it: add examples or drop the class",
    ),
    "classes.no_val_positives": (
        WARNING,
        "no val sample has this class, so evaluation excludes it (its AP is undefined): add examples",
    ),
    # ClsDataset line grammar: PaddleX's checker splits on every space and needs exactly 2 fields
    "list.tab_separator": (
        ERROR,
        "ClsDataset lines use ONE SPACE between the path and the class id (PaddleX splits on ' '): "
        "replace the TAB with a space",
    ),
    "list.path_spaces": (
        ERROR,
        "PaddleX splits ClsDataset lines on every space, so a path cannot contain one: rename the file or "
        "folder (e.g. spaces to '_') and fix the line",
    ),
    "list.trailing_space": (
        ERROR,
        "delete the space(s) at the end of the line: PaddleX's checker splits on every space",
    ),
    "list.extra_space": (
        ERROR,
        "write exactly one space between the image path and the class id, none before or after",
    ),
    "list.class_id": (ERROR, "the second field is an integer class id from label.txt (0..K-1)"),
    "list.class_id_range": (
        ERROR,
        "use an id listed in label.txt; PaddleX does not check this, and training then crashes or learns "
        "the wrong class",
    ),
    "list.type_mismatch": (
        ERROR,
        "the line is of the other dataset type: check with the right --dataset-type, or fix the line",
    ),
    "classes.no_train_samples": (
        WARNING,
        "no train image has this class, so the model cannot learn it: add images or drop the class",
    ),
    "classes.no_val_samples": (
        WARNING,
        "no val image has this class, so validation does not measure it: add images or run `mlcls split`",
    ),
}

# What differs for a ClsDataset: the line format in hints, and blank lines, which PaddleX's
# ClsDataset checker rejects like any other line it cannot split (mlcls reads it the same way).
_CLS_KINDS: dict[str, tuple[str, str]] = {
    "layout.root_not_found": (
        ERROR,
        "a ClsDataset folder holds images/, label.txt, train.txt and val.txt; pass it or a folder above it "
        "(`mlcls convert DIR --from folders` makes one from one sub-folder per class)",
    ),
    "layout.missing_file": (
        ERROR,
        "label.txt holds '<id> <name>' lines; train.txt and val.txt hold '<image path> <class id>' lines "
        "(`mlcls convert --from folders` and `mlcls split` can write them)",
    ),
    "label.ids_not_from_zero": (ERROR, "renumber the classes from 0: class id i is the model's output i"),
    "list.blank_line": (ERROR, "delete the blank line: PaddleX's checker rejects it"),
    "list.fields": (ERROR, "write '<image path> <class id>': the path, one space, the integer class id"),
    "list.duplicate_line": (
        WARNING,
        "the image is listed twice with the same class and counts twice in training: delete the repeat",
    ),
    "list.conflicting_labels": (
        ERROR,
        "the image is listed twice with different class ids: keep one line with the right class "
        "(an image with several labels needs an MLClsDataset)",
    ),
}
_TYPE_KINDS: dict[str, dict[str, tuple[str, str]]] = {ML_DATASET: {}, CLS_DATASET: _CLS_KINDS}


def kind_table(dataset_type: str = ML_DATASET) -> dict[str, tuple[str, str]]:
    """Severity and default hint of every kind when checking a ``dataset_type`` dataset."""
    return {**KINDS, **_TYPE_KINDS[dataset_type]}


@dataclass(frozen=True)
class Problem:
    """One finding: kind code, severity, where (file relative to the dataset root, 1-based line), what, fix."""

    kind: str
    severity: str
    file: str | None
    line: int | None
    message: str
    hint: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: kind, file, line, message, hint."""
        return {
            "kind": self.kind,
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "hint": self.hint,
        }


class ProblemLog:
    """Collects problems: a count per kind and up to ``max_examples`` examples each.

    Severities and default hints come from :func:`kind_table` of :attr:`dataset_type`.
    """

    def __init__(self, max_examples: int = 5, dataset_type: str = ML_DATASET) -> None:
        self.max_examples = max_examples
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[Problem]] = {}
        self.table = kind_table(dataset_type)
        self._dataset_type = dataset_type

    @property
    def dataset_type(self) -> str:
        """The dataset type whose severities and hints apply."""
        return self._dataset_type

    @dataset_type.setter
    def dataset_type(self, value: str) -> None:
        self._dataset_type = value
        self.table = kind_table(value)

    def add(
        self, kind: str, file: str | None, line: int | None, message: str, hint: str | None = None
    ) -> None:
        """Record one problem of ``kind`` (severity and default hint come from :attr:`table`)."""
        severity, default_hint = self.table[kind]
        self.counts[kind] = self.counts.get(kind, 0) + 1
        bucket = self.examples.setdefault(kind, [])
        if len(bucket) < self.max_examples:
            bucket.append(Problem(kind, severity, file, line, message, hint or default_hint))

    def kinds(self, severity: str) -> list[str]:
        """Kinds seen with ``severity``, in first-seen order."""
        return [k for k in self.counts if self.table[k][0] == severity]

    def count(self, severity: str) -> int:
        """Total number of problems with ``severity``."""
        return sum(self.counts[k] for k in self.kinds(severity))

    def section(self, severity: str) -> dict[str, Any]:
        """The JSON block for ``severity``: total count, count per kind, examples."""
        kinds = self.kinds(severity)
        return {
            "count": sum(self.counts[k] for k in kinds),
            "counts": {k: self.counts[k] for k in kinds},
            "examples": [p.to_dict() for k in kinds for p in self.examples.get(k, [])],
        }


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What probing one image found: size and mode, or the problem kind and detail."""

    ok: bool
    width: int = 0
    height: int = 0
    mode: str = ""
    kind: str = ""
    detail: str = ""


@dataclass(slots=True)
class _Entry:
    """One list line whose fields could be split, as parsed."""

    split: str
    lineno: int
    raw_path: str
    rel: str | None  # normalised POSIX path inside the root; None when it escapes
    positives: tuple[int, ...] | None  # class ids (one for a ClsDataset); None when the label is invalid
    label_text: str = ""  # the invalid label as written, to compare repeats; "" when valid
    image_ok: bool = False


@dataclass
class CheckReport:
    """Everything a check found and wrote."""

    dataset_dir: Path
    output_dir: Path
    result_path: Path
    root: Path | None
    problems: ProblemLog
    result: dict[str, Any]
    class_names: list[str] = field(default_factory=list)
    images_checked: int = 0
    decode: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    dataset_type: str = ML_DATASET
    #: how the type was decided: "forced" (by the caller) or the detection's reason
    type_source: str = ""
    type_ambiguous: bool = False

    @property
    def passed(self) -> bool:
        """True when no error was found."""
        return self.problems.count(ERROR) == 0

    @property
    def error_count(self) -> int:
        """Number of errors."""
        return self.problems.count(ERROR)

    @property
    def warning_count(self) -> int:
        """Number of warnings."""
        return self.problems.count(WARNING)

    @property
    def statistics(self) -> dict[str, Any]:
        """The ``statistics`` block of the result."""
        return self.result.get("statistics") or {}


def probe_image(path: str, decode: bool = False) -> ImageInfo:
    """Read an image's header (and with ``decode`` all its pixels); never raises."""
    from PIL import Image, UnidentifiedImageError

    from mlcls_cli.utils.images import MAX_IMAGE_PIXELS  # also silences Pillow's warning: reported here

    try:
        with Image.open(path) as im:
            width, height = im.size
            mode = im.mode
            if width <= 0 or height <= 0:
                return ImageInfo(False, width, height, mode, "image.empty", f"size {width}x{height}")
            if width * height > MAX_IMAGE_PIXELS:
                detail = f"{width}x{height} pixels, the limit is {MAX_IMAGE_PIXELS}"
                return ImageInfo(False, width, height, mode, "image.too_large", detail)
            if decode:
                try:
                    im.load()
                except Exception as exc:  # any decoder failure means a broken file
                    return ImageInfo(False, width, height, mode, "image.decode_failed", _describe(exc))
            return ImageInfo(True, width, height, mode)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return ImageInfo(False, kind="image.missing", detail="file not found")
    except UnidentifiedImageError:
        return ImageInfo(False, kind="image.unreadable", detail="not a recognised image format")
    except Image.DecompressionBombError as exc:
        return ImageInfo(False, kind="image.too_large", detail=str(exc))
    except Exception as exc:  # corrupt headers raise OSError, SyntaxError, ValueError, ...
        return ImageInfo(False, kind="image.unreadable", detail=_describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def default_workers(decode: bool = False) -> int:
    """Default thread count for probing images.

    Header reads mostly wait on I/O (2 per core, at most 8); decoding is CPU work that
    Pillow does without holding the GIL (1 per core, at most 32).
    """
    cores = os.cpu_count() or 1
    return min(32, cores) if decode else min(8, 2 * cores)


def _probe_all(
    paths: list[str],
    decode: bool,
    workers: int,
    on_done: Callable[[int], None] | None,
) -> dict[str, ImageInfo]:
    """Probe every path in a thread pool (Pillow releases the GIL while decoding)."""
    results: dict[str, ImageInfo] = {}
    if not paths:
        return results
    chunk = max(8, min(256, len(paths) // (workers * 4) or 1))
    chunks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    workers = min(workers, len(chunks))

    def run(batch: list[str]) -> list[tuple[str, ImageInfo]]:
        return [(p, probe_image(p, decode)) for p in batch]

    if workers <= 1:
        for batch in chunks:
            results.update(run(batch))
            if on_done:
                on_done(len(batch))
        return results
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlcls-check")
    try:
        futures = [pool.submit(run, batch) for batch in chunks]
        for future in as_completed(futures):
            done = future.result()
            results.update(done)
            if on_done:
                on_done(len(done))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: do not wait for the queued chunks
        raise
    pool.shutdown()
    return results


# --------------------------------------------------------------------------- text files


def _read_text(path: Path, rel: str, log: ProblemLog, crlf_kind: str | None = None) -> list[str] | None:
    """Read a dataset text file's lines, logging a missing file, bad encoding, BOM or CRLF."""
    if not path.is_file():
        log.add("layout.missing_file", rel, None, f"{rel} not found in the dataset root")
        return None
    try:
        lines = read_lines(path)
        raw = path.read_bytes()
    except InputMissingError as exc:
        log.add("layout.missing_file", rel, None, exc.message)
        return None
    except DatasetError as exc:
        log.add("file.not_utf8", rel, None, exc.message)
        return None
    except OSError as exc:
        log.add("layout.missing_file", rel, None, f"cannot read {rel}: {exc.strerror or exc}")
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        log.add("file.bom", rel, 1, f"{rel} starts with a UTF-8 byte-order mark")
    if crlf_kind and b"\r\n" in raw:
        log.add(crlf_kind, rel, None, f"{rel} has Windows (CRLF) line endings")
    return lines


@dataclass
class _Labels:
    num_classes: int
    names: list[str]
    line_of: dict[int, int]


_TAB_AFTER_ID = re.compile(r"\s*-?\d+\t")


def _check_labels(root: Path, log: ProblemLog) -> _Labels | None:
    """Validate ``label.txt``; returns the class table, or None when it cannot be used."""
    lines = _read_text(root / LABEL_FILE, LABEL_FILE, log, crlf_kind="label.crlf")
    if lines is None:
        return None
    names: dict[int, str] = {}
    line_of: dict[int, int] = {}
    name_line: dict[str, int] = {}
    content = 0
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            log.add("label.blank_line", LABEL_FILE, lineno, "blank line")
            continue
        content += 1
        try:
            index, name = parse_label_line(raw)
        except LineError as exc:
            log.add("label.malformed", LABEL_FILE, lineno, exc.message)
            continue
        if _TAB_AFTER_ID.match(raw):
            log.add("label.tab_separator", LABEL_FILE, lineno, f"a TAB separates id {index} from its name")
        if index in names:
            log.add(
                "label.duplicate_id",
                LABEL_FILE,
                lineno,
                f"class id {index} already used on line {line_of[index]} ({names[index]!r})",
            )
            continue
        if name in name_line:
            log.add(
                "label.duplicate_name",
                LABEL_FILE,
                lineno,
                f"class name {name!r} already used on line {name_line[name]}",
            )
        else:
            name_line[name] = lineno
        names[index] = name
        line_of[index] = lineno
    if not names:
        if not content:
            log.add("label.empty", LABEL_FILE, None, "label.txt lists no classes")
        return None
    low, high = min(names), max(names)
    if low != 0:
        log.add("label.ids_not_from_zero", LABEL_FILE, line_of[low], f"the smallest class id is {low}, not 0")
    if high < 0:
        return None
    missing = [i for i in range(high + 1) if i not in names]
    if missing:
        shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
        log.add(
            "label.ids_gap",
            LABEL_FILE,
            None,
            f"ids are not contiguous: {len(missing)} missing below {high} ({shown})",
        )
    # as PaddleX: the vector length is max id + 1; unnamed positions are shown by number
    table = [names.get(i, str(i)) for i in range(high + 1)]
    return _Labels(num_classes=high + 1, names=table, line_of=line_of)


_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]")


def _normalise(raw_path: str) -> tuple[str | None, bool]:
    """Return (normalised POSIX path, or None when it leaves the root; whether it had backslashes)."""
    backslash = "\\" in raw_path
    path = raw_path.replace("\\", "/")
    if path.startswith("/") or _WINDOWS_ABS.match(raw_path):
        return None, backslash
    norm = posixpath.normpath(path)
    if norm == ".." or norm.startswith("../") or norm == ".":
        return None, backslash
    return norm, backslash


def _parse_list(
    split: str, rel_file: str, lines: list[str], num_classes: int | None, log: ProblemLog, shared: _Interner
) -> list[_Entry]:
    """Parse every line of one MLClsDataset list file, logging each bad line."""
    entries: list[_Entry] = []
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            log.add("list.blank_line", rel_file, lineno, "blank line")
            continue
        try:
            raw_path, vector_text = split_list_line(raw)
        except LineError as exc:
            log.add("list.fields", rel_file, lineno, exc.message)
            continue
        if "\t" not in raw:
            log.add("list.space_separator", rel_file, lineno, "a space, not a TAB, separates path and vector")
        rel = _check_path(raw_path, rel_file, lineno, log)
        positives: tuple[int, ...] | None = None
        if "," not in vector_text and num_classes is not None and num_classes >= 2 and _is_int(vector_text):
            log.add(
                "list.type_mismatch",
                rel_file,
                lineno,
                f"a single class id {vector_text.strip()!r}, as in a ClsDataset, where an MLClsDataset line "
                f"holds {num_classes} comma-separated 0/1 values",
                "this dataset is read as an MLClsDataset ('<image path><TAB><0,1,...>'); if it is "
                "single-label, check it with --dataset-type ClsDataset and train a single-label model",
            )
        else:
            try:
                vector = parse_vector(vector_text)
            except LineError as exc:
                log.add("list.vector_values", rel_file, lineno, exc.message)
            else:
                if num_classes is not None and len(vector) != num_classes:
                    log.add(
                        "list.vector_length",
                        rel_file,
                        lineno,
                        f"label vector has {len(vector)} values but label.txt has {num_classes} classes",
                    )
                else:
                    positives = shared(tuple(i for i, v in enumerate(vector) if v == 1))
        label_text = "" if positives is not None else vector_text.replace(" ", "")
        entries.append(_Entry(split, lineno, raw_path, rel, positives, label_text))
    if not entries:
        log.add("list.empty", rel_file, None, f"{rel_file} holds no samples")
    return entries


class _Interner(dict[tuple[int, ...], tuple[int, ...]]):
    """One tuple object per distinct label set, so that a million lines of a class share it."""

    def __call__(self, ids: tuple[int, ...]) -> tuple[int, ...]:
        if len(self) >= 100_000:  # many distinct multi-label sets: stop caching rather than grow
            return self.get(ids, ids)
        return self.setdefault(ids, ids)


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _check_path(raw_path: str, rel_file: str, lineno: int, log: ProblemLog) -> str | None:
    """The normalised path of a line, logging a path that escapes the root or uses backslashes."""
    rel, backslash = _normalise(raw_path)
    if rel is None:
        log.add("list.path_escapes", rel_file, lineno, f"{raw_path!r} points outside the dataset root")
    elif backslash:
        log.add("list.backslash_path", rel_file, lineno, f"{raw_path!r} uses backslashes")
    return raw_path if rel == raw_path else rel  # keep one string object per line when nothing changed


def _parse_cls_list(
    split: str, rel_file: str, lines: list[str], labels: _Labels | None, log: ProblemLog, shared: _Interner
) -> list[_Entry]:
    """Parse every line of one ClsDataset list file as PaddleX's checker splits it, logging each bad line."""
    entries: list[_Entry] = []
    num_classes = labels.num_classes if labels else None
    id_of_name = {name: i for i, name in enumerate(labels.names)} if labels else {}
    for lineno, raw in enumerate(lines, start=1):
        try:
            raw_path, token = split_cls_line(raw)
        except LineError as exc:
            log.add(exc.kind or "list.fields", rel_file, lineno, exc.message, exc.hint)
            continue
        rel = _check_path(raw_path, rel_file, lineno, log)
        positives: tuple[int, ...] | None = None
        try:
            positives = shared((parse_class_id(token, num_classes),))
        except LineError as exc:
            hint = exc.hint
            if exc.kind == "list.class_id" and token.strip() in id_of_name:
                hint = f"{token.strip()!r} is a class name: write its id {id_of_name[token.strip()]} instead"
            log.add(exc.kind or "list.class_id", rel_file, lineno, exc.message, hint)
        entries.append(
            _Entry(split, lineno, raw_path, rel, positives, "" if positives is not None else token.strip())
        )
    if not entries:
        log.add("list.empty", rel_file, None, f"{rel_file} holds no samples")
    return entries


def _same_labels(a: _Entry, b: _Entry) -> bool:
    """Whether two entries carry the same labels (compared as text when both are invalid)."""
    if a.positives is not None and b.positives is not None:
        return a.positives == b.positives
    return a.positives is None and b.positives is None and a.label_text == b.label_text


def _check_duplicates(rel_file: str, entries: list[_Entry], log: ProblemLog) -> None:
    """Log repeated images within one list: identical labels and conflicting ones."""
    word = "class id" if log.dataset_type == CLS_DATASET else "label vector"
    first: dict[str, _Entry] = {}
    for entry in entries:
        if entry.rel is None:
            continue
        seen = first.get(entry.rel)
        if seen is None:
            first[entry.rel] = entry
        elif _same_labels(seen, entry):
            log.add("list.duplicate_line", rel_file, entry.lineno, f"{entry.rel} repeats line {seen.lineno}")
        else:
            log.add(
                "list.conflicting_labels",
                rel_file,
                entry.lineno,
                f"{entry.rel} is on line {seen.lineno} with a different {word}",
            )


# --------------------------------------------------------------------------- root and outputs


def _resolve_root(dataset_dir: Path, log: ProblemLog) -> Path | None:
    """Find the dataset root as PaddleX does; log layout problems instead of raising."""
    try:
        return locate_dataset_root(dataset_dir)
    except DatasetError as exc:
        if exc.message.startswith("several"):
            log.add("layout.ambiguous_root", None, None, exc.message)
            return None
        if any((dataset_dir / name).exists() for name in (LABEL_FILE, TRAIN_LIST, VAL_LIST)):
            log.add(
                "layout.missing_images_dir", IMAGES_DIR, None, f"no {IMAGES_DIR}/ folder in {dataset_dir}"
            )
            return dataset_dir
        log.add("layout.root_not_found", None, None, exc.message)
        return None


def _label_file_ref(root: Path, output_dir: Path) -> str:
    """``label.txt`` relative to ``<output>/check_dataset``, as PaddleX writes it."""
    target = os.path.abspath(root / LABEL_FILE)
    try:
        return Path(os.path.relpath(target, os.path.abspath(output_dir / CHECK_DIR))).as_posix()
    except ValueError:  # another drive on Windows
        return Path(target).as_posix()


def _demo_name(split: str, rel: str, used: set[str]) -> str:
    """A demo file name unique in the folder: ``<split>_<stem>[_<n>].<jpg|png>``."""
    stem, ext = posixpath.splitext(posixpath.basename(rel))
    suffix = ".jpg" if ext.lower() in (".jpg", ".jpeg") else ".png"
    name = f"{split}_{stem}{suffix}"
    n = 2
    while name in used:
        name = f"{split}_{stem}_{n}{suffix}"
        n += 1
    used.add(name)
    return name


def _clear_demo_dir(demo_dir: Path) -> None:
    """Remove demo images of a previous run so the folder matches this result."""
    if demo_dir.is_dir():
        for item in demo_dir.iterdir():
            if item.is_file():
                item.unlink(missing_ok=True)


def _write_demos(
    root: Path,
    output_dir: Path,
    per_split: dict[str, tuple[int, list[_Entry]]],
    names: list[str],
    log: ProblemLog,
) -> dict[str, list[str]]:
    """Draw up to 10 labelled samples per split; returns their paths relative to ``output_dir``."""
    from mlcls_cli.utils.draw import draw_label_banner, load_display_image
    from mlcls_cli.utils.fonts import find_font

    demo_dir = output_dir / CHECK_DIR / DEMO_DIR
    _clear_demo_dir(demo_dir)
    font_path = find_font(" ".join(names))
    used: set[str] = set()
    written: dict[str, list[str]] = {}
    for split, (line_count, entries) in per_split.items():
        by_line = {e.lineno: e for e in entries if e.positives is not None and e.image_ok}
        order = list(range(1, line_count + 1))
        random.Random(DEMO_SEED).shuffle(order)  # same permutation as PaddleX's seed(123) + shuffle
        paths: list[str] = []
        for lineno in order:
            if len(paths) >= DEMO_PER_SPLIT:
                break
            entry = by_line.get(lineno)
            if entry is None or entry.rel is None or entry.positives is None:
                continue
            try:
                image = load_display_image(root / entry.rel, max_side=DEMO_MAX_SIDE)
            except Exception as exc:  # the header was fine but the pixels are not
                entry.image_ok = False
                log.add("image.decode_failed", f"{split}.txt", entry.lineno, f"{entry.rel}: {_describe(exc)}")
                continue
            items = [names[i] for i in entry.positives]
            drawn = draw_label_banner(image, items, font_path=font_path, empty_text="(no labels)")
            name = _demo_name(split, entry.rel, used)
            buffer = io.BytesIO()
            if name.endswith(".jpg"):
                drawn.save(buffer, format="JPEG", quality=90)
            else:
                drawn.save(buffer, format="PNG")
            atomic_write_bytes(demo_dir / name, buffer.getvalue())
            paths.append(f"{CHECK_DIR}/{DEMO_DIR}/{name}")
        written[split] = paths
    return written


# --------------------------------------------------------------------------- the check


def failure_message(log: ProblemLog) -> str:
    """The ``err_msg`` of a failed check: the error count, then a line per error kind (first place, hint)."""
    kinds = log.kinds(ERROR)
    lines = [f"dataset check failed: {log.count(ERROR)} error(s) in {len(kinds)} kind(s)"]
    for kind in kinds:
        first = log.examples[kind][0] if log.examples.get(kind) else None
        where = ""
        if first is not None and first.file:
            where = f" at {first.file}:{first.line}" if first.line else f" at {first.file}"
        what = f": {first.message}" if first is not None else ""
        hint = first.hint if first is not None else log.table[kind][1]
        lines.append(f"- {kind} x{log.counts[kind]}{where}{what} (hint: {hint})")
    return "\n".join(lines)


def check_dataset(
    dataset_dir: str | os.PathLike[str],
    *,
    output_dir: str | os.PathLike[str] = "output",
    decode: bool = False,
    max_examples: int = 5,
    workers: int | None = None,
    progress: bool = True,
    plots: bool = True,
    dataset_type: str | None = None,
) -> CheckReport:
    """Check a dataset, write ``<output_dir>/check_dataset_result.json`` and return the report.

    Every problem is collected (never only the first). The histogram and up to 10
    demo images per split go to ``<output_dir>/check_dataset/`` unless ``plots`` is
    False. A missing ``dataset_dir`` raises :class:`InputMissingError` (after writing a
    failed result, as PaddleX does); a broken dataset does not raise: see ``report.passed``. A
    failed check writes ``done_flag: false`` with PaddleX's ``err_type`` and ``err_msg``
    next to the full report. ``dataset_type`` (``ClsDataset`` or ``MLClsDataset``) checks the
    dataset as that type; by default the type is detected from the lists
    (:func:`mlcls_cli.data.dataset_type.guess_dataset_type`).
    """
    forced = normalize_dataset_type(dataset_type) if dataset_type is not None else None
    if max_examples < 0:
        raise UsageError(f"max_examples must be >= 0, got {max_examples}")
    if workers is not None and workers < 1:
        raise UsageError(f"workers must be >= 1, got {workers}")
    dataset = Path(dataset_dir)
    out = Path(output_dir)
    result_path = out / RESULT_FILE
    if not dataset.is_dir():
        message = (
            f"dataset folder {dataset} does not exist"
            if not dataset.exists()
            else f"{dataset} is not a folder"
        )
        atomic_write_json(
            result_path,
            {
                "done_flag": False,
                "check_pass": False,
                "err_type": "InputMissingError",
                "err_msg": message,
                "mlcls_version": __version__,
            },
        )
        raise InputMissingError(
            message, hint="pass the dataset folder (holding images/, label.txt, train.txt, val.txt)"
        )

    timings: dict[str, float] = {}
    started = time.perf_counter()
    log = ProblemLog(max_examples, forced or ML_DATASET)
    root = _resolve_root(dataset, log)
    guess = TypeGuess(forced, "forced") if forced else TypeGuess(ML_DATASET, "no dataset root found", True)
    if root is not None and not forced:
        guess = guess_dataset_type(root)
        log.dataset_type = guess.dataset_type
    labels: _Labels | None = None
    per_split: dict[str, tuple[int, list[_Entry]]] = {}
    infos: dict[str, ImageInfo] = {}
    if root is not None:
        labels = _check_labels(root, log)
        k = labels.num_classes if labels else None
        shared = _Interner()
        for split, list_name in SPLITS:
            lines = _read_text(root / list_name, list_name, log)
            if lines is None:
                continue
            if log.dataset_type == CLS_DATASET:
                entries = _parse_cls_list(split, list_name, lines, labels, log, shared)
            else:
                entries = _parse_list(split, list_name, lines, k, log, shared)
            _check_duplicates(list_name, entries, log)
            per_split[split] = (len(lines), entries)
            del lines
        _check_overlap(per_split, log)
        timings["parse"] = time.perf_counter() - started
        t0 = time.perf_counter()
        infos = _check_images(root, per_split, log, decode, workers or default_workers(decode), progress)
        timings["images"] = time.perf_counter() - t0
        if labels is not None:
            _check_label_usage(labels, per_split, log)

    names = labels.names if labels else []
    statistics = _statistics(labels, per_split, infos, log.dataset_type)
    histogram: str | None = None
    demos: dict[str, list[str]] = {}
    if plots and root is not None and labels is not None:
        t0 = time.perf_counter()
        demos = _write_demos(root, out, per_split, names, log)
        timings["demos"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        histogram = _write_histogram(root, out, labels, per_split)
        timings["histogram"] = time.perf_counter() - t0
    elif plots:
        _clear_demo_dir(out / CHECK_DIR / DEMO_DIR)

    passed = log.count(ERROR) == 0
    # PaddleX writes done_flag false with err_type and err_msg when a check fails; scripts test those
    failure = {} if passed else {"err_type": DatasetError.__name__, "err_msg": failure_message(log)}
    result = {
        "done_flag": passed,
        "check_pass": passed,
        **failure,
        "attributes": {
            "label_file": _label_file_ref(root, out) if root is not None else None,
            "num_classes": labels.num_classes if labels else None,
            "train_samples": len(per_split["train"][1]) if "train" in per_split else 0,
            "train_sample_paths": demos.get("train", []),
            "val_samples": len(per_split["val"][1]) if "val" in per_split else 0,
            "val_sample_paths": demos.get("val", []),
        },
        "analysis": {"histogram": histogram},
        "dataset_path": (root if root is not None else dataset).resolve().name,
        "show_type": "image",
        "dataset_type": log.dataset_type,
        "errors": log.section(ERROR),
        "warnings": log.section(WARNING),
        "statistics": statistics,
        "mlcls_version": __version__,
    }
    atomic_write_json(result_path, result)
    timings["total"] = time.perf_counter() - started
    return CheckReport(
        dataset_dir=dataset,
        output_dir=out,
        result_path=result_path,
        root=root,
        problems=log,
        result=result,
        class_names=names,
        images_checked=len(infos),
        decode=decode,
        timings=timings,
        dataset_type=log.dataset_type,
        type_source=guess.reason,
        type_ambiguous=guess.ambiguous,
    )


def _check_overlap(per_split: dict[str, tuple[int, list[_Entry]]], log: ProblemLog) -> None:
    """Log images listed in both train and val (reported at their val line)."""
    if "train" not in per_split or "val" not in per_split:
        return
    train_paths = {e.rel for e in per_split["train"][1] if e.rel is not None}
    reported: set[str] = set()
    for entry in per_split["val"][1]:
        if entry.rel in train_paths and entry.rel not in reported:
            reported.add(entry.rel)
            log.add("split.overlap", VAL_LIST, entry.lineno, f"{entry.rel} is also in {TRAIN_LIST}")


def _check_images(
    root: Path,
    per_split: dict[str, tuple[int, list[_Entry]]],
    log: ProblemLog,
    decode: bool,
    workers: int,
    progress: bool,
) -> dict[str, ImageInfo]:
    """Probe each distinct image once; log problems at the first line naming it."""
    first_ref: dict[str, _Entry] = {}
    for _, entries in per_split.values():
        for entry in entries:
            if entry.rel is not None and entry.rel not in first_ref:
                first_ref[entry.rel] = entry
    rels = list(first_ref)
    paths = [str(root / rel) for rel in rels]
    infos_by_path = _run_probes(paths, decode, workers, progress)
    infos = {rel: infos_by_path[path] for rel, path in zip(rels, paths, strict=True)}
    for rel, entry in first_ref.items():
        info = infos[rel]
        where = f"{entry.split}.txt"
        if not info.ok:
            log.add(info.kind, where, entry.lineno, f"{rel}: {info.detail}")
        elif info.mode in UNUSUAL_MODES:
            log.add("image.unusual_mode", where, entry.lineno, f"{rel}: mode {info.mode}")
    for _, entries in per_split.values():
        for entry in entries:
            entry.image_ok = entry.rel is not None and infos[entry.rel].ok
    return infos


def _run_probes(paths: list[str], decode: bool, workers: int, progress: bool) -> dict[str, ImageInfo]:
    """Probe images with a progress display when asked."""
    if not progress:
        return _probe_all(paths, decode, workers, None)
    from mlcls_cli import console

    label = "decoding images" if decode else "checking images"
    with console.progress(label, len(paths), unit="images") as bar:
        return _probe_all(paths, decode, workers, bar.advance)


def _check_label_usage(
    labels: _Labels, per_split: dict[str, tuple[int, list[_Entry]]], log: ProblemLog
) -> None:
    """Log classes without samples (positives) per split and, in an MLClsDataset, all-negative samples."""
    single = log.dataset_type == CLS_DATASET
    word = "samples" if single else "positives"
    for split, kind in (("train", f"classes.no_train_{word}"), ("val", f"classes.no_val_{word}")):
        if split not in per_split:
            continue
        items = [e.positives for e in per_split[split][1] if e.positives is not None]
        if not items:
            continue
        for i, count in enumerate(counts_by_class(items, labels.num_classes)):
            if count == 0:
                log.add(
                    kind,
                    LABEL_FILE,
                    labels.line_of.get(i),
                    f"class {i} ({labels.names[i]!r}) has no {split} {word}",
                )
    if single:
        return
    for split, list_name in SPLITS:
        for entry in per_split.get(split, (0, []))[1]:
            if entry.positives is not None and not entry.positives:
                log.add(
                    "list.no_positive",
                    list_name,
                    entry.lineno,
                    f"{entry.rel or entry.raw_path} has no positive label",
                )


def _statistics(
    labels: _Labels | None,
    per_split: dict[str, tuple[int, list[_Entry]]],
    infos: dict[str, ImageInfo],
    dataset_type: str = ML_DATASET,
) -> dict[str, Any]:
    """Statistics over the valid labels; image sizes from the readable headers."""
    sizes: Iterable[tuple[int, int]] = [(i.width, i.height) for i in infos.values() if i.ok]
    if labels is None:
        from mlcls_cli.data.stats import size_statistics

        return {
            "num_classes": None,
            "samples": {s: len(e) for s, (_, e) in per_split.items()},
            "image_size": size_statistics(sizes),
        }
    splits = {split: _valid_positives(per_split, split) for split, _ in SPLITS}
    return compute_statistics_ids(labels.names, splits, sizes, single_label=dataset_type == CLS_DATASET)


def _valid_positives(per_split: dict[str, tuple[int, list[_Entry]]], split: str) -> list[tuple[int, ...]]:
    return [e.positives for e in per_split.get(split, (0, []))[1] if e.positives is not None]


def _write_histogram(
    root: Path, output_dir: Path, labels: _Labels, per_split: dict[str, tuple[int, list[_Entry]]]
) -> str | None:
    """Draw the class histogram; returns its path relative to ``output_dir``."""
    from mlcls_cli.data.plots import class_histogram

    counts = {
        split: counts_by_class(_valid_positives(per_split, split), labels.num_classes) for split, _ in SPLITS
    }
    class_histogram(
        labels.names,
        counts["train"],
        counts["val"],
        output_dir / CHECK_DIR / HISTOGRAM_FILE,
        title=f"{root.name}: images per class",
    )
    return f"{CHECK_DIR}/{HISTOGRAM_FILE}"


__all__ = [
    "CHECK_DIR",
    "DEMO_DIR",
    "ERROR",
    "HISTOGRAM_FILE",
    "KINDS",
    "RESULT_FILE",
    "WARNING",
    "CheckReport",
    "ImageInfo",
    "Problem",
    "ProblemLog",
    "check_dataset",
    "default_workers",
    "failure_message",
    "probe_image",
]
