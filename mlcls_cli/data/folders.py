"""One sub-folder per class -> ClsDataset: ``mlcls convert DIR --from folders``.

PaddleX has no converter for its single-label module; this one reads the most common
layout (torchvision's ``ImageFolder``, Keras' ``image_dataset_from_directory``)::

    DIR/train/<class>/**/*.jpg   DIR/val/<class>/**/*.jpg   (val/ also named valid/ or validation/)
    DIR/train/<class>/**/*.jpg                              (val taken from train by --val-percent)
    DIR/<class>/**/*.jpg                                    (one tree, split by --val-percent)

How it converts, and why:

- The output is a new folder (default ``<DIR>_cls`` beside ``DIR``); ``DIR`` is only read.
  Nothing is copied: ``<out>/images/`` holds one relative symbolic link per class folder
  (``images/<class>`` for one tree, ``images/train/<class>`` and ``images/val/<class>`` for
  train/val trees), so the lists read ``images/train/cat/x.jpg 0``.
- Classes are the class folder names in sorted (code point) order, numbered 0..K-1: the
  ids torchvision's ``ImageFolder`` gives the same folders. ``label.txt`` holds the names
  as written (spaces and any Unicode allowed there: PaddleX splits it on the first space);
  the folder *links* replace whitespace with ``_``, because PaddleX splits list lines on
  every space. An image whose own path inside its class folder has whitespace cannot be
  linked that way: it is skipped and reported (rename it and run again).
- Files that are not images (by suffix, as ``mlcls predict`` walks folders), hidden files
  and folders, and files outside class folders are skipped and counted. A class folder
  without images is left out of ``label.txt`` and reported. A class found only in val is
  an error (the model could not learn it); a ``test/`` tree is ignored, as PaddleX ignores
  ``test.txt``.
- Without a val tree, val is taken from each class by ``val_percent`` (default 20) with
  :func:`mlcls_cli.data.split.stratified_class_assignment`: seeded, by class, the same
  rounding as ``mlcls split``.
- ``class_folders.json`` records the source and each class's folders. Running again into
  the same output is safe: the lists are replaced together with the first ``.bak`` kept
  (:mod:`mlcls_cli.data.safety`), links are updated, and links of classes that are gone are
  removed. Any other non-empty output folder is refused.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlcls_cli import console
from mlcls_cli.data import safety
from mlcls_cli.data.listfile import IMAGES_DIR, LABEL_FILE, TRAIN_LIST, VAL_LIST
from mlcls_cli.data.split import stratified_class_assignment, train_count
from mlcls_cli.errors import DatasetError, InputMissingError, IOFailure, UsageError

TRAIN_DIR = "train"
VAL_DIRS = ("val", "valid", "validation")
IGNORED_DIRS = ("test",)
SIDECAR = "class_folders.json"
DEFAULT_VAL_PERCENT = 20
OUTPUT_SUFFIX = "_cls"
LAYOUT_TRAIN_VAL = "train/val"
LAYOUT_TRAIN = "train"
LAYOUT_TREE = "classes"
_EXAMPLES = 5
_WHITESPACE = re.compile(r"\s+")
_LAYOUT_HINT = (
    "expected one sub-folder per class: DIR/<class>/*.jpg, or DIR/train/<class>/*.jpg "
    "(with an optional DIR/val/<class>/...)"
)


@dataclass
class FolderClass:
    """One class of the converted dataset: id, name, source folder, link name and images per split."""

    index: int
    name: str
    folder: str
    link: str
    train: int = 0
    val: int = 0


@dataclass
class FoldersSummary:
    """The result of :func:`convert_folders`."""

    source_type: str
    dataset_root: str
    output_dir: str
    layout: str
    val_percent: int | None
    seed: int | None
    classes: list[FolderClass]
    train: int
    val: int
    skipped_non_images: int = 0
    skipped_whitespace: int = 0
    skipped_outside: int = 0
    skipped_hidden: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    empty_classes: list[str] = field(default_factory=list)
    classes_without_val: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    backups_created: list[str] = field(default_factory=list)
    backups_kept: list[str] = field(default_factory=list)
    links: dict[str, int] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        """Number of classes written to ``label.txt``."""
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the summary."""
        data = asdict(self)
        data["num_classes"] = self.num_classes
        return data


@dataclass
class _Skipped:
    non_images: int = 0
    whitespace: int = 0
    outside: int = 0
    hidden: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, what: str, path: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        bucket = self.examples.setdefault(what, [])
        if len(bucket) < _EXAMPLES:
            bucket.append(path)


def _visible_dirs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if not e.name.startswith(".") and e.is_dir())


def _image_suffixes() -> tuple[str, ...]:
    from mlcls_cli.inference.inputs import IMAGE_SUFFIXES

    return IMAGE_SUFFIXES


def _scan_tree(base: Path, tree: str, skipped: _Skipped) -> dict[str, list[str]]:
    """Images per class folder of ``base/tree``: sorted POSIX paths relative to the class folder."""
    folder = base / tree if tree else base
    suffixes = _image_suffixes()
    classes: dict[str, list[str]] = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        shown = f"{tree}/{entry.name}" if tree else entry.name
        if entry.name.startswith("."):
            skipped.note("hidden", shown)
        elif entry.is_dir():
            classes[entry.name] = _images_in(Path(entry.path), shown, suffixes, skipped)
        else:
            skipped.note("outside", shown)
    return classes


def _images_in(class_dir: Path, shown: str, suffixes: tuple[str, ...], skipped: _Skipped) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(class_dir):
        rel_dir = Path(dirpath).relative_to(class_dir).as_posix()
        prefix = "" if rel_dir == "." else f"{rel_dir}/"
        for d in [d for d in dirnames if d.startswith(".")]:
            skipped.note("hidden", f"{shown}/{prefix}{d}")
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            rel = f"{prefix}{name}"
            if name.startswith("."):
                skipped.note("hidden", f"{shown}/{rel}")
            elif os.path.splitext(name)[1].lower() not in suffixes:
                skipped.note("non_images", f"{shown}/{rel}")
            elif any(ch.isspace() for ch in rel):
                skipped.note("whitespace", f"{shown}/{rel}")
            else:
                found.append(rel)
    return sorted(found)


def _link_names(folders: list[str]) -> dict[str, str]:
    """A link name per class folder: the folder name with whitespace as ``_``, unique among them."""
    names: dict[str, str] = {}
    used = {f for f in folders if not _WHITESPACE.search(f)}
    for folder in folders:
        if folder in used and not _WHITESPACE.search(folder):
            names[folder] = folder
            continue
        base = _WHITESPACE.sub("_", folder.strip()) or "class"
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base}_{n}", n + 1
        used.add(candidate)
        names[folder] = candidate
    return names


@dataclass
class _Plan:
    layout: str
    trees: dict[str, str]  # split -> source tree ("" for DIR itself)
    per_split: dict[str, dict[str, list[str]]]  # split -> class folder -> images
    split_from_train: bool


def _plan_layout(source: Path, val_percent: int | None, skipped: _Skipped) -> _Plan:
    dirs = _visible_dirs(source)
    has_train = TRAIN_DIR in dirs and bool(_visible_dirs(source / TRAIN_DIR))
    vals = [d for d in VAL_DIRS if d in dirs and _visible_dirs(source / d)]
    if not has_train:
        if vals:
            raise DatasetError(
                f"{source} has {vals[0]}/ with class folders but no {TRAIN_DIR}/ with class folders",
                hint=_LAYOUT_HINT,
            )
        return _Plan(LAYOUT_TREE, {"train": ""}, {"train": _scan_tree(source, "", skipped)}, True)
    if len(vals) > 1:
        raise DatasetError(
            f"{source} has several validation trees ({', '.join(v + '/' for v in vals)})",
            hint="keep one of them (val/, valid/ or validation/)",
        )
    others = [d for d in dirs if d not in (TRAIN_DIR, *vals)]
    ignored = [d for d in others if d in IGNORED_DIRS]
    if ignored:
        console.info(f"ignoring {', '.join(d + '/' for d in ignored)} (PaddleX reads train and val only)")
    unknown = [d for d in others if d not in IGNORED_DIRS]
    if unknown:
        console.warn(f"ignoring folders beside {TRAIN_DIR}/: {', '.join(unknown[:10])}")
    for entry in os.scandir(source):
        if entry.is_file() and not entry.name.startswith("."):
            skipped.note("outside", entry.name)
    if vals:
        if val_percent is not None:
            raise UsageError(
                f"--val-percent splits a tree without val images, but {source} has {vals[0]}/",
                hint=f"drop --val-percent to use {vals[0]}/ as it is, or move its images into {TRAIN_DIR}/",
            )
        trees = {"train": TRAIN_DIR, "val": vals[0]}
        per_split = {split: _scan_tree(source, tree, skipped) for split, tree in trees.items()}
        return _Plan(LAYOUT_TRAIN_VAL, trees, per_split, False)
    return _Plan(LAYOUT_TRAIN, {"train": TRAIN_DIR}, {"train": _scan_tree(source, TRAIN_DIR, skipped)}, True)


def _check_source(source: Path) -> None:
    if not source.exists():
        raise InputMissingError(f"folder {source} does not exist", hint="check the path")
    if not source.is_dir():
        raise InputMissingError(f"{source} is not a folder", hint="pass the folder holding the class folders")
    if (source / IMAGES_DIR).is_dir() and any((source / n).is_file() for n in (LABEL_FILE, TRAIN_LIST)):
        raise UsageError(
            f"{source} already is a dataset ({IMAGES_DIR}/ with {LABEL_FILE} or {TRAIN_LIST})",
            hint="check it with `mlcls check`, re-split it with `mlcls split`; --from folders reads class folders",
        )


def _check_output(source: Path, out: Path) -> None:
    """Refuse an output that would change the source or someone else's files (exit 2)."""
    src, dst = source.resolve(), out.resolve()
    if dst == src or src in dst.parents:
        raise UsageError(
            f"the output {out} is the source folder or inside it",
            hint="write the dataset to a new folder outside the source, e.g. --output "
            f"{source.parent / (source.name + OUTPUT_SUFFIX)}",
        )
    if out.exists() and not out.is_dir():
        raise UsageError(f"the output {out} exists and is not a folder", hint="choose a new --output folder")
    if out.is_dir() and any(out.iterdir()) and not (out / SIDECAR).is_file():
        raise UsageError(
            f"the output {out} exists, is not empty and was not written by `mlcls convert --from folders`",
            hint="choose a new --output folder (nothing was changed)",
        )
    images = out / IMAGES_DIR
    if images.is_symlink() or (images.exists() and not images.is_dir()):
        raise UsageError(
            f"{images} is a link or a file, so links written into it would land elsewhere",
            hint="choose a new --output folder (nothing was changed)",
        )


def _link_targets(source: Path, out: Path, plan: _Plan, classes: list[FolderClass]) -> dict[Path, Path]:
    """Where each class link goes (absolute path in the output) and what it points at (absolute source)."""
    links: dict[Path, Path] = {}
    for split, tree in plan.trees.items():
        holder = out / IMAGES_DIR if plan.layout != LAYOUT_TRAIN_VAL else out / IMAGES_DIR / split
        base = source / tree if tree else source
        for c in classes:
            if c.folder in plan.per_split[split]:
                links[holder / c.link] = (base / c.folder).resolve()
    return links


def _image_prefix(plan: _Plan, split: str, c: FolderClass) -> str:
    if plan.layout == LAYOUT_TRAIN_VAL:
        return f"{IMAGES_DIR}/{split}/{c.link}/"
    return f"{IMAGES_DIR}/{c.link}/"


def _our_links(out: Path) -> list[Path]:
    """The symlinks in ``out/images`` and one level of folders below it."""
    images = out / IMAGES_DIR
    if not images.is_dir() or images.is_symlink():
        return []
    found: list[Path] = []
    for entry in images.iterdir():
        if entry.is_symlink():
            found.append(entry)
        elif entry.is_dir():
            found.extend(p for p in entry.iterdir() if p.is_symlink())
    return found


def _make_links(links: dict[Path, Path], out: Path) -> dict[str, int]:
    """Create or update the class links (relative symlinks); links of other paths are left for later."""
    counts = {"created": 0, "updated": 0, "kept": 0, "removed": 0}
    for path in links:
        inner = [out / q for q in path.relative_to(out).parents if q != Path(".")]
        if path.exists() and not path.is_symlink() and not any(p.is_symlink() for p in inner):
            raise UsageError(
                f"{path} exists and is not a link",
                hint="choose a new --output folder, or move that file or folder away (nothing was changed)",
            )
    for path, target in links.items():
        for parent in [out / q for q in path.relative_to(out).parents if q != Path(".")]:
            if parent.is_symlink():  # a stale class link where a folder is now needed
                parent.unlink()
                counts["removed"] += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            relative = os.path.relpath(target, path.parent.resolve())
        except ValueError:  # another drive on Windows
            relative = str(target)
        if path.is_symlink():
            if os.readlink(path) == relative:
                counts["kept"] += 1
                continue
            counts["updated"] += 1
        else:
            counts["created"] += 1
        tmp = path.with_name(f".{path.name}.mlcls-link")
        try:
            tmp.unlink(missing_ok=True)
            os.symlink(relative, tmp, target_is_directory=True)
            os.replace(tmp, path)
        except (OSError, NotImplementedError) as exc:
            tmp.unlink(missing_ok=True)
            raise IOFailure(
                f"cannot create the link {path} -> {relative}: {exc}",
                hint="the output needs symbolic links (on Windows: enable Developer Mode, or run as "
                "administrator); nothing was written to the lists",
            ) from exc
    return counts


def _remove_stale_links(out: Path, keep: set[Path], counts: dict[str, int]) -> None:
    for link in _our_links(out):
        if link not in keep:
            link.unlink()
            counts["removed"] += 1
    images = out / IMAGES_DIR
    for sub in list(images.iterdir()) if images.is_dir() else []:
        if sub.is_dir() and not sub.is_symlink() and not any(sub.iterdir()):
            sub.rmdir()


def validate_val_percent(val_percent: Any) -> int | None:
    """``None`` or an integer 1..99; anything else is a usage error."""
    if val_percent is None:
        return None
    if not isinstance(val_percent, int) or isinstance(val_percent, bool) or not 1 <= val_percent <= 99:
        raise UsageError(
            f"--val-percent must be an integer between 1 and 99, got {val_percent!r}",
            hint=f"for example --val-percent {DEFAULT_VAL_PERCENT}",
        )
    return val_percent


def convert_folders(
    source_dir: str | os.PathLike[str],
    *,
    output_dir: str | os.PathLike[str] | None = None,
    val_percent: int | None = None,
    seed: int = 0,
) -> FoldersSummary:
    """Convert one-sub-folder-per-class images into a new ClsDataset folder (the source is only read).

    ``output_dir`` defaults to ``<source_dir>_cls`` beside it. ``val_percent`` (default 20)
    applies when there is no val tree.
    """
    val_percent = validate_val_percent(val_percent)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UsageError(f"seed must be an integer, got {seed!r}", hint="for example --seed 0")
    source = Path(source_dir)
    _check_source(source)
    out = (
        Path(output_dir)
        if output_dir is not None
        else source.parent / f"{source.resolve().name}{OUTPUT_SUFFIX}"
    )
    _check_output(source, out)
    skipped = _Skipped()
    plan = _plan_layout(source, val_percent, skipped)
    train_folders = plan.per_split["train"]
    if not train_folders:
        raise DatasetError(f"no class sub-folders in {source / plan.trees['train']}", hint=_LAYOUT_HINT)
    if "val" in plan.per_split:
        val_only = sorted(f for f, imgs in plan.per_split["val"].items() if imgs and not train_folders.get(f))
        if val_only:
            raise DatasetError(
                f"{len(val_only)} classes have images in {plan.trees['val']}/ but none in {TRAIN_DIR}/: "
                + ", ".join(val_only[:10]),
                hint="the model cannot learn a class without train images: add them to train/, or remove "
                "those val folders",
            )
    bad = [f for f in train_folders if len(f.splitlines()) != 1 or not f.strip()]
    if bad:
        console.warn(f"skipping class folders whose name cannot be a label.txt line: {bad[:5]}")
    counted = {
        f: len(imgs) + sum(len(plan.per_split[s].get(f, [])) for s in plan.per_split if s != "train")
        for f, imgs in train_folders.items()
        if f not in bad
    }
    empty = [f for f, n in counted.items() if n == 0]
    folders = [f for f, n in counted.items() if n > 0]
    if empty:
        console.warn(f"{len(empty)} class folders hold no images and are left out: {', '.join(empty[:10])}")
    if not folders:
        raise DatasetError(
            f"no images found in the class folders of {source}",
            hint=f"image files end in {', '.join(_image_suffixes())}; {_LAYOUT_HINT}",
        )
    if len(folders) == 1:
        where = source / plan.trees["train"] / folders[0]
        raise DatasetError(
            f"only one class folder with images ({folders[0]}): classification needs 2 or more",
            hint=f"if the classes are the folders inside it, pass {where} instead",
        )
    links = _link_names(folders)
    classes = [FolderClass(index=i, name=f.strip(), folder=f, link=links[f]) for i, f in enumerate(folders)]
    if plan.split_from_train and val_percent is None:
        val_percent = DEFAULT_VAL_PERCENT
        console.info(
            f"no val tree: {val_percent}% of each class goes to val (seed {seed}); see --val-percent"
        )
    lists = _assign(plan, classes, val_percent, seed)
    without_val = [c.name for c in classes if c.val == 0]
    _report(source, skipped, without_val)

    targets = _link_targets(source, out, plan, classes)
    out.mkdir(parents=True, exist_ok=True)
    link_counts = _make_links(targets, out)
    sidecar = {
        "source": str(source.resolve()),
        "layout": plan.layout,
        "val_percent": val_percent if plan.split_from_train else None,
        "seed": seed if plan.split_from_train else None,
        "classes": [
            {
                "id": c.index,
                "name": c.name,
                "folders": {
                    split: f"{tree}/{c.folder}" if tree else c.folder
                    for split, tree in plan.trees.items()
                    if c.folder in plan.per_split[split]
                },
            }
            for c in classes
        ],
    }
    contents = {
        LABEL_FILE: "".join(f"{c.index} {c.name}\n" for c in classes),
        TRAIN_LIST: "".join(line + "\n" for line in lists["train"]),
        VAL_LIST: "".join(line + "\n" for line in lists["val"]),
        SIDECAR: json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n",
    }
    result = safety.write_files(out, contents, backup=(TRAIN_LIST, VAL_LIST, LABEL_FILE))
    safety.log_backups(result)
    _remove_stale_links(out, set(targets), link_counts)
    console.success(
        f"converted {source} -> {out}: {len(classes)} classes, train {len(lists['train'])}, "
        f"val {len(lists['val'])} ({plan.layout} layout)"
    )
    return FoldersSummary(
        source_type="FOLDERS",
        dataset_root=str(source),
        output_dir=str(out),
        layout=plan.layout,
        val_percent=sidecar["val_percent"],
        seed=sidecar["seed"],
        classes=classes,
        train=len(lists["train"]),
        val=len(lists["val"]),
        skipped_non_images=skipped.non_images,
        skipped_whitespace=skipped.whitespace,
        skipped_outside=skipped.outside,
        skipped_hidden=skipped.hidden,
        examples=skipped.examples,
        empty_classes=empty,
        classes_without_val=without_val,
        files=[str(p) for p in result.written],
        backups_created=[str(p) for p in result.backups_created],
        backups_kept=[str(p) for p in result.backups_kept],
        links=link_counts,
    )


def _assign(
    plan: _Plan, classes: list[FolderClass], val_percent: int | None, seed: int
) -> dict[str, list[str]]:
    """The list lines of train and val, sorted by class then path; counts are stored on ``classes``."""
    items: dict[str, list[tuple[int, str]]] = {"train": [], "val": []}
    for split, folders in plan.per_split.items():
        for c in classes:
            prefix = _image_prefix(plan, split, c)
            items[split].extend((c.index, prefix + rel) for rel in folders.get(c.folder, []))
    if plan.split_from_train:
        pool = items["train"]
        percent = val_percent if val_percent is not None else DEFAULT_VAL_PERCENT
        n_val = len(pool) - train_count(len(pool), 100 - percent)
        order = list(range(len(pool)))
        random.Random(seed).shuffle(order)
        in_val = stratified_class_assignment([pool[i][0] for i in order], n_val)
        items = {"train": [], "val": []}
        for pos, i in enumerate(order):
            items["val" if in_val[pos] else "train"].append(pool[i])
    lines: dict[str, list[str]] = {}
    for split in ("train", "val"):
        entries = sorted(items[split])
        for c in classes:
            setattr(c, split, 0)
        for class_id, _ in entries:
            setattr(classes[class_id], split, getattr(classes[class_id], split) + 1)
        lines[split] = [f"{path} {class_id}" for class_id, path in entries]
    return lines


def _report(source: Path, skipped: _Skipped, without_val: list[str]) -> None:
    def examples(what: str) -> str:
        return ", ".join(skipped.examples.get(what, []))

    if skipped.whitespace:
        console.warn(
            f"skipped {skipped.whitespace} images whose path inside the class folder has a space (PaddleX "
            f"splits ClsDataset lines on spaces; rename them, e.g. spaces to '_', and run again): "
            f"{examples('whitespace')}"
        )
    if skipped.non_images:
        console.info(f"skipped {skipped.non_images} files that are not images: {examples('non_images')}")
    if skipped.outside:
        console.info(f"skipped {skipped.outside} files outside the class folders: {examples('outside')}")
    if skipped.hidden:
        console.info(f"skipped {skipped.hidden} hidden files and folders in {source}")
    if without_val:
        console.warn(
            f"{len(without_val)} classes have no val images, so validation does not measure them: "
            + ", ".join(without_val[:10])
        )


__all__ = [
    "DEFAULT_VAL_PERCENT",
    "SIDECAR",
    "FolderClass",
    "FoldersSummary",
    "convert_folders",
    "validate_val_percent",
]
