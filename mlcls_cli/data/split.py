"""Re-partition ``train.txt`` + ``val.txt`` into new train/val lists.

How mlcls splits, and where it differs from PaddleX on purpose:

- The lines of both files are pooled (train first), each kept verbatim except that line
  endings are normalised to ``\\n``: a last line without a newline stays its own line (PaddleX
  glues it to its neighbour). Blank lines are dropped; exact duplicate lines are kept once,
  with a warning (a line in both files would otherwise leak val images into training).
- The pool is shuffled with ``random.Random(seed)``: the default seed is the fixed value 0,
  so a split is reproducible (PaddleX shuffles with the unseeded global generator).
- ``n_train = round_half_up(N * train_percent / 100)``, computed in integers as
  ``(N * train_percent + 50) // 100``; val gets the other ``N - n_train`` lines. (PaddleX uses
  Python's ``round``, which rounds halves to even: 45 lines at 90/10 give 40 there, 41 here.)
- ``stratify=True`` keeps the same sizes but chooses the lines of each split: first a greedy
  set cover puts a few lines into the smaller split so that it holds every class with at
  least 2 positives (never taking a class's last positive from the other split); then
  iterative stratification places the rest, rarest class first, each line going to the split
  that still wants most positives of that class; a last pass swaps train/val pairs to cover
  classes still missing from one side. This is best effort: some label sets cannot be split
  that way at all (A{x,y} B{y,z} C{x,z}), and in very small datasets the greedy search can
  miss an arrangement that exists; such classes are warned about and listed in the summary.
- A ClsDataset (detected from the lists, or given as ``dataset_type``) is stratified by class
  by default: the same ``n_train``/``n_val`` totals, and each class gets its proportional share
  of val by the largest-remainder method, at least one sample in each split when it has two or
  more (a one-sample class stays in train). Only when val (or train) has fewer places than there
  are such classes does a class miss a split: then val holds one sample of each of the largest
  classes (train keeps one of each of the largest). Within a class the val samples are the
  first of the seeded shuffle. A line without a readable class id is moved verbatim as part of
  one more group. ``stratify=False`` gives the plain seeded shuffle.
- The previous lists are kept as ``train.txt.bak``/``val.txt.bak`` (an existing backup is never
  overwritten) and both files are replaced together (:mod:`mlcls_cli.data.safety`). With
  ``output_dir`` the lists and ``label.txt`` are written there and the source is not touched.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlcls_cli import console
from mlcls_cli.data import safety
from mlcls_cli.data.dataset_type import CLS_DATASET, guess_dataset_type, normalize_dataset_type
from mlcls_cli.data.listfile import (
    LABEL_FILE,
    TRAIN_LIST,
    VAL_LIST,
    LineError,
    load_label_names,
    locate_dataset_root,
    parse_vector,
    read_text,
    split_list_line,
)
from mlcls_cli.errors import DatasetError, InputMissingError, UsageError

DEFAULT_SEED = 0
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_SIDE_FILES = ("coco_category_map.json", "class_folders.json")
_REPAIR_TRIES = 200_000  # swap attempts per uncovered class before giving up on it


@dataclass
class SplitSummary:
    """The result of :func:`split_dataset`."""

    dataset_root: str
    output_dir: str
    seed: int
    stratify: bool
    train_percent: int
    val_percent: int
    source_lines: dict[str, int]
    total: int
    train: int
    val: int
    blank_lines_dropped: int
    duplicates_dropped: int
    unparsed_lines: int
    class_names: list[str]
    counts_before: dict[str, list[int]]
    counts_after: dict[str, list[int]]
    uncovered_classes: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    backups_created: list[str] = field(default_factory=list)
    backups_kept: list[str] = field(default_factory=list)
    images_link: str = "source"
    dataset_type: str = "MLClsDataset"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the summary."""
        return asdict(self)


def validate_percents(train_percent: Any, val_percent: Any) -> tuple[int, int]:
    """Check that the percentages are integers 1..99 summing to 100; return them as ints."""
    for name, value in (("train_percent", train_percent), ("val_percent", val_percent)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise UsageError(
                f"{name} must be an integer, got {value!r}",
                hint="for example --train-percent 90 --val-percent 10",
            )
        if not 1 <= value <= 99:
            raise UsageError(
                f"{name} must be between 1 and 99, got {value}",
                hint="both splits need some lines: for example --train-percent 90 --val-percent 10",
            )
    if train_percent + val_percent != 100:
        raise UsageError(
            f"train_percent ({train_percent}) + val_percent ({val_percent}) = "
            f"{train_percent + val_percent}, not 100",
            hint=f"for example --train-percent {train_percent} --val-percent {100 - train_percent}",
        )
    return train_percent, val_percent


def train_count(total: int, train_percent: int) -> int:
    """Lines that go to train: ``total * train_percent / 100`` rounded half up."""
    return (total * train_percent + 50) // 100


def read_list_lines(path: Path) -> tuple[list[str], int]:
    """The non-blank lines of a list file (verbatim, without line endings) and the number of blank ones."""
    text = read_text(path)
    pieces = _LINE_BREAK.split(text)
    if pieces and pieces[-1] == "":
        pieces.pop()  # the end of the last line, not an extra line
    lines = [p for p in pieces if p.strip()]
    return lines, len(pieces) - len(lines)


def _load_names(root: Path) -> list[str] | None:
    label_file = root / LABEL_FILE
    if not label_file.exists():
        console.warn(f"{label_file} does not exist; classes are counted by vector position")
        return None
    try:
        return load_label_names(label_file)
    except DatasetError as exc:
        console.warn(f"{exc.message}; classes are counted by vector position")
        return None


def _parse_labels(lines: list[str], num_classes: int | None) -> list[frozenset[int] | None]:
    """The positive class ids of each line, or None for a line that does not parse."""
    parsed: list[frozenset[int] | None] = []
    for line in lines:
        try:
            _, vector = split_list_line(line)
            values = parse_vector(vector, num_classes)
        except LineError:
            parsed.append(None)
            continue
        parsed.append(frozenset(i for i, v in enumerate(values) if v))
    return parsed


def class_ids_of(lines: list[str], num_classes: int | None) -> list[int]:
    """The class id of each ClsDataset line (its last whitespace-separated field), -1 when there is none.

    Lenient on purpose (a trailing space or a TAB still gives the id): splitting only groups
    lines by class and moves them verbatim; `mlcls check` reports the format problems.
    """
    ids: list[int] = []
    for line in lines:
        parts = line.strip().rsplit(None, 1)
        try:
            c = int(parts[1]) if len(parts) == 2 else -1
        except ValueError:
            c = -1
        ids.append(c if c >= 0 and (num_classes is None or c < num_classes) else -1)
    return ids


def _count(labels: list[frozenset[int] | None], num_classes: int) -> list[int]:
    counts = [0] * num_classes
    for item in labels:
        for c in item or ():
            counts[c] += 1
    return counts


@dataclass
class _Pool:
    lines: list[str] = field(default_factory=list)
    origin: list[str] = field(default_factory=list)  # "train.txt:<lineno>" of each line
    source_lines: dict[str, int] = field(default_factory=dict)
    blanks: int = 0
    duplicates: int = 0


def _read_pool(sources: dict[str, Path]) -> _Pool:
    """The distinct non-blank lines of the list files, in file order, with where each came from."""
    pool = _Pool()
    seen: dict[str, str] = {}
    examples: list[str] = []
    for name, path in sources.items():
        tag = name.removesuffix(".txt")
        if not path.exists():
            console.warn(f"{path} does not exist; splitting the lines of the other list only")
            pool.source_lines[tag] = 0
            continue
        lines, n_blank = read_list_lines(path)
        pool.blanks += n_blank
        pool.source_lines[tag] = len(lines)
        for lineno, line in enumerate(lines, start=1):
            where = f"{name}:{lineno}"
            if line in seen:
                pool.duplicates += 1
                if len(examples) < 3:
                    examples.append(f"{where} repeats {seen[line]}")
                continue
            seen[line] = where
            pool.lines.append(line)
            pool.origin.append(where)
    if pool.blanks:
        console.info(f"dropped {pool.blanks} blank lines")
    if pool.duplicates:
        console.warn(f"{pool.duplicates} duplicate lines kept once ({'; '.join(examples)})")
    return pool


def split_dataset(
    dataset_dir: str | Path,
    *,
    train_percent: int,
    val_percent: int,
    seed: int | None = DEFAULT_SEED,
    stratify: bool | None = None,
    output_dir: str | Path | None = None,
    dataset_type: str | None = None,
) -> SplitSummary:
    """Merge ``train.txt`` and ``val.txt``, shuffle with ``seed`` and write new lists by the given percentages.

    ``dataset_type`` (``ClsDataset``/``MLClsDataset``) is detected from the lists when not
    given; ``stratify`` defaults to True for a ClsDataset and False for an MLClsDataset.
    """
    train_percent, val_percent = validate_percents(train_percent, val_percent)
    if dataset_type is not None:
        dataset_type = normalize_dataset_type(dataset_type)
    seed = DEFAULT_SEED if seed is None else seed
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UsageError(f"seed must be an integer, got {seed!r}", hint="for example --seed 0")
    root = locate_dataset_root(dataset_dir)
    safety.recover_interrupted(root)  # a crashed earlier write must be undone before the lists are read
    sources = {TRAIN_LIST: root / TRAIN_LIST, VAL_LIST: root / VAL_LIST}
    if not any(p.exists() for p in sources.values()):
        raise InputMissingError(
            f"neither {TRAIN_LIST} nor {VAL_LIST} exists in {root}; there is nothing to split",
            hint="convert the annotations first (mlcls convert) or write the list files",
        )

    pool = _read_pool(sources)
    if not pool.lines:
        raise DatasetError(f"{TRAIN_LIST} and {VAL_LIST} in {root} hold no lines", hint="nothing to split")
    if dataset_type is None:
        guess = guess_dataset_type(root)
        dataset_type = guess.dataset_type
        console.info(f"splitting as {dataset_type} ({guess.reason})")
    if dataset_type == CLS_DATASET:
        return _split_cls(root, pool, train_percent, val_percent, seed, stratify is not False, output_dir)
    stratify = bool(stratify)

    names = _load_names(root)
    labels = _parse_labels(pool.lines, len(names) if names is not None else None)
    unparsed = [where for where, item in zip(pool.origin, labels, strict=True) if item is None]
    if unparsed:
        if stratify:
            raise DatasetError(
                f"{len(unparsed)} lines have no valid label vector (first: {unparsed[0]}); "
                "stratification needs every line's labels",
                hint="run `mlcls check` for details, or split without --stratify",
            )
        console.warn(
            f"{len(unparsed)} lines have no valid label vector (first: {unparsed[0]}); "
            "they are moved verbatim and not counted per class (run `mlcls check`)"
        )
    num_classes = (
        len(names) if names is not None else 1 + max((c for s in labels for c in s or ()), default=-1)
    )
    return _shuffle_and_write(
        root,
        pool,
        labels,
        names,
        num_classes,
        train_percent=train_percent,
        val_percent=val_percent,
        seed=seed,
        stratify=stratify,
        stratified="stratified",
        assign=lambda order, n_val: stratified_assignment(
            [labels[i] or frozenset() for i in order], n_val, val_percent
        ),
        uncovered_note="no arrangement found that puts a positive of these classes in both splits",
        unparsed=len(unparsed),
        output_dir=output_dir,
    )


def _shuffle_and_write(
    root: Path,
    pool: _Pool,
    labels: list[frozenset[int] | None],
    names: list[str] | None,
    num_classes: int,
    *,
    train_percent: int,
    val_percent: int,
    seed: int,
    stratify: bool,
    stratified: str,
    assign: Callable[[list[int], int], list[bool]],
    uncovered_note: str,
    unparsed: int,
    output_dir: str | Path | None,
    dataset_type: str = "MLClsDataset",
) -> SplitSummary:
    """Shuffle the pooled lines with ``seed``, put ``n_val`` of them in val (``assign`` when stratified), write.

    ``labels`` holds each line's classes (None: unreadable); ``assign(order, n_val)`` says,
    for the shuffled line indices ``order``, which go to val; ``uncovered_note`` warns of the
    classes left in one split (``{count}`` is their number). Both dataset types share this.
    """
    class_names = names if names is not None else [f"class_{i}" for i in range(num_classes)]
    before = {
        tag: _count(
            [x for x, o in zip(labels, pool.origin, strict=True) if o.startswith(f"{tag}.txt:")], num_classes
        )
        for tag in ("train", "val")
    }
    total = len(pool.lines)
    n_train = train_count(total, train_percent)
    n_val = total - n_train
    console.info(
        f"splitting {total} lines with seed {seed}{f' ({stratified})' if stratify else ''}: "
        f"train {train_percent}% -> {n_train}, val {val_percent}% -> {n_val}"
    )
    if n_train == 0 or n_val == 0:
        console.warn(f"with {total} lines one split is empty (train {n_train}, val {n_val})")
    order = list(range(total))
    random.Random(seed).shuffle(order)
    in_val = assign(order, n_val) if stratify else [pos >= n_train for pos in range(total)]
    train_idx = [i for pos, i in enumerate(order) if not in_val[pos]]
    val_idx = [i for pos, i in enumerate(order) if in_val[pos]]
    after = {
        "train": _count([labels[i] for i in train_idx], num_classes),
        "val": _count([labels[i] for i in val_idx], num_classes),
    }
    uncovered = [
        c
        for c in range(num_classes)
        if after["train"][c] + after["val"][c] >= 2 and not all(after[s][c] for s in after)
    ]
    if stratify and uncovered:
        note = uncovered_note.format(count=len(uncovered))
        console.warn(f"{note}: " + ", ".join(class_names[c] for c in uncovered[:10]))
    target, result, link = _write_split(root, pool, train_idx, val_idx, output_dir, seed)
    return SplitSummary(
        dataset_root=str(root),
        output_dir=str(target),
        seed=seed,
        stratify=stratify,
        train_percent=train_percent,
        val_percent=val_percent,
        source_lines=pool.source_lines,
        total=total,
        train=len(train_idx),
        val=len(val_idx),
        blank_lines_dropped=pool.blanks,
        duplicates_dropped=pool.duplicates,
        unparsed_lines=unparsed,
        class_names=class_names,
        counts_before=before,
        counts_after=after,
        uncovered_classes=uncovered if stratify else [],
        files=[str(p) for p in result.written],
        backups_created=[str(p) for p in result.backups_created],
        backups_kept=[str(p) for p in result.backups_kept],
        images_link=link,
        dataset_type=dataset_type,
    )


def _write_split(
    root: Path,
    pool: _Pool,
    train_idx: list[int],
    val_idx: list[int],
    output_dir: str | Path | None,
    seed: int,
) -> tuple[Path, safety.WriteResult, str]:
    """Write the new lists (in place with backups, or into ``output_dir`` with the side files and an images link)."""
    target = Path(output_dir) if output_dir is not None else root
    in_place = safety.same_folder(target, root)
    contents: dict[str, str | bytes] = {
        TRAIN_LIST: "".join(pool.lines[i] + "\n" for i in train_idx),
        VAL_LIST: "".join(pool.lines[i] + "\n" for i in val_idx),
    }
    if not in_place:
        for extra in (LABEL_FILE, *_SIDE_FILES):
            if (root / extra).is_file():
                contents[extra] = (root / extra).read_bytes()
    result = safety.write_files(target, contents, backup=(TRAIN_LIST, VAL_LIST, LABEL_FILE))
    safety.log_backups(result)
    link = "source" if in_place else safety.link_images(root, target)
    console.success(f"split {root} -> {target}: train {len(train_idx)}, val {len(val_idx)} (seed {seed})")
    return target, result, link


def _split_cls(
    root: Path,
    pool: _Pool,
    train_percent: int,
    val_percent: int,
    seed: int,
    stratify: bool,
    output_dir: str | Path | None,
) -> SplitSummary:
    """Split a ClsDataset's pooled lines, by class unless ``stratify`` is False."""
    names = _load_names(root)
    ids = class_ids_of(pool.lines, len(names) if names is not None else None)
    unparsed = [where for where, c in zip(pool.origin, ids, strict=True) if c < 0]
    if unparsed:
        console.warn(
            f"{len(unparsed)} lines have no readable class id (first: {unparsed[0]}); they are moved "
            f"verbatim{', as one more group' if stratify else ''} (run `mlcls check`)"
        )
    num_classes = len(names) if names is not None else 1 + max(ids, default=-1)
    return _shuffle_and_write(
        root,
        pool,
        [frozenset((c,)) if c >= 0 else None for c in ids],
        names,
        num_classes,
        train_percent=train_percent,
        val_percent=val_percent,
        seed=seed,
        stratify=stratify,
        stratified="stratified by class",
        assign=lambda order, n_val: stratified_class_assignment([ids[i] for i in order], n_val),
        uncovered_note="{count} classes with 2+ samples are not in both splits (the smaller split has "
        "fewer places than classes)",
        unparsed=len(unparsed),
        output_dir=output_dir,
        dataset_type=CLS_DATASET,
    )


def class_val_counts(sizes: dict[int, int], n_val: int) -> dict[int, int]:
    """How many samples of each class go to val so that they sum to ``n_val``.

    Proportional to the class sizes (largest remainder), with at least one sample on each
    side for every class of 2+ samples and one-sample classes kept in train, as far as the
    totals allow (see the module doc for when they do not).
    """
    total = sum(sizes.values())
    if not 0 <= n_val <= total:
        raise ValueError(f"n_val {n_val} is outside 0..{total}")
    lo = {c: 1 if n >= 2 else 0 for c, n in sizes.items()}
    hi = {c: n - 1 if n >= 2 else 0 for c, n in sizes.items()}
    by_size = sorted(sizes, key=lambda c: (-sizes[c], c))
    if sum(lo.values()) > n_val:  # val cannot hold every class: one sample of each of the largest
        chosen = {c for c in by_size if sizes[c] >= 2}
        chosen = set(sorted(chosen, key=lambda c: (-sizes[c], c))[:n_val])
        return {c: int(c in chosen) for c in sizes}
    if sum(hi.values()) < n_val:  # train cannot hold every class: it keeps one of each of the largest
        keep = set(by_size[: total - n_val])
        return {c: n - int(c in keep) for c, n in sizes.items()}
    val = {c: min(max(n * n_val // total, lo[c]), hi[c]) for c, n in sizes.items()}

    def excess(c: int) -> int:  # how far class c is above its exact quota, in units of 1/total
        return val[c] * total - sizes[c] * n_val

    missing = n_val - sum(val.values())
    while missing:
        if missing > 0:
            c = min((c for c in sizes if val[c] < hi[c]), key=lambda c: (excess(c), -sizes[c], c))
            val[c] += 1
            missing -= 1
        else:
            c = max((c for c in sizes if val[c] > lo[c]), key=lambda c: (excess(c), sizes[c], -c))
            val[c] -= 1
            missing += 1
    return val


def stratified_class_assignment(class_ids: list[int], n_val: int) -> list[bool]:
    """Choose exactly ``n_val`` of the (already shuffled) single-label samples for val, class by class.

    Returns a flag per sample (True = val): the first :func:`class_val_counts` samples of
    each class, in the given order. Id -1 (unreadable) is one more group.
    """
    want = class_val_counts(dict(Counter(class_ids)), n_val)
    flags: list[bool] = []
    for c in class_ids:
        take = want[c] > 0
        if take:
            want[c] -= 1
        flags.append(take)
    return flags


def stratified_assignment(labels: list[frozenset[int]], n_val: int, val_percent: int) -> list[bool]:
    """Choose exactly ``n_val`` of the (already shuffled) samples for val, keeping classes in both splits.

    Returns a flag per sample (True = val). Deterministic for a given input order.
    """
    total = len(labels)
    cap = {True: n_val, False: total - n_val}
    counts = Counter(c for item in labels for c in item)
    want: dict[bool, dict[int, int]] = {True: {}, False: {}}
    for c, n in counts.items():
        v = (n * val_percent + 50) // 100
        if n >= 2:
            v = min(max(v, 1), n - 1)
        want[True][c], want[False][c] = v, n - v
    left = dict(counts)  # positives of each class not yet placed
    assigned: list[bool | None] = [None] * total

    def place(i: int, side: bool) -> None:
        assigned[i] = side
        cap[side] -= 1
        for c in labels[i]:
            left[c] -= 1
            want[side][c] -= 1

    small = n_val <= total - n_val  # seed the smaller split: it is the one that can run out of room
    for i in _coverage_seed(labels, counts, cap[small]):
        place(i, small)
    members: dict[int, list[int]] = {c: [] for c in counts}
    for i, item in enumerate(labels):
        for c in item:
            members[c].append(i)
    while True:
        pending = [c for c, n in left.items() if n > 0]
        if not pending:
            break
        rarest = min(pending, key=lambda c: (left[c], c))
        for i in members[rarest]:
            if assigned[i] is None:
                place(i, _choose_side(want, cap, rarest, n_val, total - n_val))
    for i in range(total):
        if assigned[i] is None:
            place(i, cap[True] > 0)
    flags = [bool(a) for a in assigned]
    _repair_coverage(labels, flags, counts)
    return flags


def _coverage_seed(labels: list[frozenset[int]], counts: Counter[int], room: int) -> list[int]:
    """At most ``room`` samples that together hold every class with >= 2 positives (greedy set cover).

    A sample is only taken if each of its classes keeps a positive outside the seed. Taking the
    samples that cover most classes first keeps the seed small, which matters for a tiny split.
    """
    need = {c for c, n in counts.items() if n >= 2}
    outside = dict(counts)
    chosen: list[int] = []
    taken: set[int] = set()
    candidates = [i for i, item in enumerate(labels) if item & need]
    while need and len(chosen) < room:
        best, best_key = -1, (0, 0)
        for i in candidates:
            gain = labels[i] & need
            if i in taken or not gain or any(outside[c] <= 1 for c in labels[i] if counts[c] >= 2):
                continue
            key = (len(gain), -min(counts[c] for c in gain))
            if key > best_key:
                best, best_key = i, key
        if best < 0:
            break
        chosen.append(best)
        taken.add(best)
        need -= labels[best]
        for c in labels[best]:
            outside[c] -= 1
    return chosen


def _choose_side(
    want: dict[bool, dict[int, int]], cap: dict[bool, int], c: int, n_val: int, n_train: int
) -> bool:
    if cap[True] <= 0 or cap[False] <= 0:
        return cap[True] > 0
    if want[True][c] != want[False][c]:
        return want[True][c] > want[False][c]
    # Equal demand: the split that is relatively emptier (compare free/size without division).
    return cap[True] * n_train > cap[False] * n_val


def _repair_coverage(labels: list[frozenset[int]], in_val: list[bool], counts: Counter[int]) -> None:
    """Swap train/val pairs so that every class with >= 2 positives has a positive on both sides."""
    side_count: dict[bool, Counter[int]] = {True: Counter(), False: Counter()}
    for item, side in zip(labels, in_val, strict=True):
        side_count[side].update(item)

    def covered(c: int) -> bool:
        return side_count[True][c] > 0 and side_count[False][c] > 0

    def move(i: int, to: bool) -> None:
        side_count[not to].subtract(labels[i])
        side_count[to].update(labels[i])
        in_val[i] = to

    for c in sorted((c for c in counts if counts[c] >= 2), key=lambda c: (counts[c], c)):
        if covered(c):
            continue
        to = side_count[True][c] == 0  # True: a positive must move into val
        movers = [i for i, item in enumerate(labels) if c in item and in_val[i] != to]
        partners = sorted(
            (i for i, item in enumerate(labels) if c not in item and in_val[i] == to),
            key=lambda i: len(labels[i]),
        )
        done = False
        budget = _REPAIR_TRIES
        for s in movers:
            for t in partners:
                budget -= 1
                if budget < 0:
                    return
                affected = {x for x in labels[s] | labels[t] if counts[x] >= 2 and x != c and covered(x)}
                move(s, to)
                move(t, not to)
                if covered(c) and all(covered(x) for x in affected):
                    done = True
                    break
                move(s, not to)
                move(t, to)
            if done:
                break
