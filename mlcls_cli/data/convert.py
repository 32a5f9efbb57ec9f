"""COCO detection annotations -> MLClsDataset (``label.txt``, ``train.txt``, ``val.txt``).

Input layout (PaddleX's)::

    <root>/images/...                      image files, named by each image's ``file_name``
    <root>/annotations/instance_train.json  (also instances_train.json, instances_train2017.json)
    <root>/annotations/instance_val.json    (also instances_val.json, instances_val2017.json)

How mlcls converts, and where it differs from PaddleX on purpose:

- One class mapping for both splits: the union of the categories of the two files, sorted by
  COCO category id and numbered 0..K-1. ``label.txt`` holds these contiguous ids (so it passes
  the check) and ``coco_category_map.json`` keeps the original COCO ids
  (``{"0": {"coco_id": 1, "name": "person"}, ...}``). PaddleX numbers each file separately in
  array order and writes the COCO ids into ``label.txt``.
- Every listed image becomes one line, in ascending image id. An image without annotations
  is kept as a negative (all-zero vector). An image whose file is missing is skipped and
  reported, never written.
- Every annotation marks its class present, crowd ones (``iscrowd: 1``) included, as PaddleX
  does: a crowd region still shows the class.
- The previous ``train.txt``/``val.txt``/``label.txt`` are kept as ``*.bak`` (an existing backup is
  never overwritten) and all files are replaced together (:mod:`mlcls_cli.data.safety`); with
  ``output_dir`` the source folder is not touched at all.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlcls_cli import console
from mlcls_cli.data import safety
from mlcls_cli.data.listfile import IMAGES_DIR, LABEL_FILE, TRAIN_LIST, VAL_LIST, find_root_with
from mlcls_cli.errors import DatasetError, ExitCode, InputMissingError, MlclsError, UsageError

SUPPORTED_SOURCES = ("coco", "folders")
CATEGORY_MAP_FILE = "coco_category_map.json"
ANNOTATIONS_DIR = "annotations"
SPLITS = ("train", "val")
_EXAMPLES = 5


def annotation_candidates(split: str) -> tuple[str, ...]:
    """The annotation file names accepted for ``split``, in order of preference."""
    return (f"instance_{split}.json", f"instances_{split}.json", f"instances_{split}2017.json")


@dataclass
class ClassEntry:
    """One class of the converted dataset: its new id, COCO id, name and positives per split."""

    index: int
    coco_id: int
    name: str
    train: int = 0
    val: int = 0


@dataclass
class SplitStats:
    """What conversion did with one annotation file."""

    split: str
    annotation_file: str
    images: int = 0
    lines: int = 0
    negatives: int = 0
    missing: int = 0
    invalid_names: int = 0
    annotations: int = 0
    crowd: int = 0
    orphan_annotations: int = 0
    missing_examples: list[str] = field(default_factory=list)


@dataclass
class ConvertSummary:
    """The result of :func:`convert_coco`."""

    source_type: str
    dataset_root: str
    output_dir: str
    classes: list[ClassEntry]
    splits: dict[str, SplitStats]
    val_only_categories: list[int]
    files: list[str]
    backups_created: list[str]
    backups_kept: list[str]
    images_link: str

    @property
    def num_classes(self) -> int:
        """Number of classes written to ``label.txt``."""
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the summary."""
        data = asdict(self)
        data["num_classes"] = self.num_classes
        return data


def normalize_source_type(src_type: str | None) -> str:
    """Return the canonical source type (``"coco"`` or ``"folders"``) or raise a usage error listing them."""
    value = (src_type or "").strip().lower()
    if value not in SUPPORTED_SOURCES:
        supported = ", ".join(s.upper() for s in SUPPORTED_SOURCES)
        raise UsageError(
            f"unsupported source dataset type {src_type!r}; supported: {supported}",
            hint="use --from coco (COCO detection -> MLClsDataset; CheckDataset.convert.src_dataset_type: COCO) "
            "or --from folders (one sub-folder per class -> ClsDataset)",
        )
    return value


def find_coco_root(dataset_dir: str | os.PathLike[str]) -> Path:
    """The folder holding ``annotations/`` (and ``images/``): ``dataset_dir`` or the only one below it."""
    return find_root_with(
        dataset_dir,
        ANNOTATIONS_DIR,
        layout_hint=f"a COCO dataset has {IMAGES_DIR}/ and {ANNOTATIONS_DIR}/instance_train.json + instance_val.json",
        missing_error=InputMissingError,
    )


def find_annotation_files(root: Path) -> dict[str, Path]:
    """Locate the train and val annotation files under ``root/annotations``."""
    folder = root / ANNOTATIONS_DIR
    found: dict[str, Path] = {}
    missing: list[str] = []
    for split in SPLITS:
        hits = [folder / name for name in annotation_candidates(split) if (folder / name).is_file()]
        if not hits:
            missing.append(split)
            continue
        if len(hits) > 1:
            console.warn(
                f"several {split} annotation files in {folder}: using {hits[0].name}, "
                f"ignoring {', '.join(h.name for h in hits[1:])}"
            )
        found[split] = hits[0]
    if missing:
        looked = "; ".join(f"{s}: {', '.join(annotation_candidates(s))}" for s in missing)
        raise InputMissingError(
            f"no {' and no '.join(missing)} annotation file in {folder} (looked for {looked})",
            hint="name them annotations/instance_train.json and annotations/instance_val.json",
        )
    return found


def _load_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise InputMissingError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise DatasetError(f"{path} is not UTF-8 text", hint="re-save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            hint="fix the file or export it again from the annotation tool",
        ) from None
    if not isinstance(data, dict):
        raise DatasetError(
            f"{path} holds a JSON {type(data).__name__}, not a COCO object",
            hint='a COCO file is an object with "images", "annotations" and "categories" arrays',
        )
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f'{path} has no "{key}" array', hint="is this a COCO detection file?")
    if not isinstance(data.get("annotations", []), list):
        raise DatasetError(f'{path}: "annotations" is not an array')
    data.setdefault("annotations", [])
    _validate_records(path, data)
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_records(path: Path, data: dict[str, Any]) -> None:
    """Check the fields conversion reads, so that a bad file gives a message instead of a traceback."""
    seen_images: set[Any] = set()
    for pos, img in enumerate(data["images"]):
        if (
            not isinstance(img, dict)
            or not isinstance(img.get("id"), (int, str))
            or not isinstance(img.get("file_name"), str)
        ):
            raise DatasetError(
                f'{path}: images[{pos}] needs an "id" and a "file_name" string', hint="fix that image entry"
            )
        if img["id"] in seen_images:
            raise DatasetError(
                f"{path}: image id {img['id']!r} appears twice", hint="image ids must be unique"
            )
        seen_images.add(img["id"])
    for pos, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")) or not isinstance(cat.get("name"), str):
            raise DatasetError(
                f'{path}: categories[{pos}] needs an integer "id" and a "name" string',
                hint="fix that category entry",
            )
        name = cat["name"].strip()
        if not name or any(ch in name for ch in "\r\n"):
            raise DatasetError(
                f"{path}: category {cat['id']} has an empty name or a line break in it",
                hint="give every category a one-line, non-empty name",
            )
    for pos, ann in enumerate(data["annotations"]):
        if (
            not isinstance(ann, dict)
            or not isinstance(ann.get("image_id"), (int, str))
            or not _is_int(ann.get("category_id"))
        ):
            raise DatasetError(
                f'{path}: annotations[{pos}] needs an "image_id" and an integer "category_id"',
                hint="fix that annotation entry",
            )
        # pycocotools indexes annotations by "id"; hand-written files sometimes leave it out.
        ann.setdefault("id", ("mlcls-annotation", pos))


def _index(data: dict[str, Any]) -> Any:
    """Build a pycocotools index of ``data`` without its progress prints reaching stdout."""
    try:
        from pycocotools.coco import COCO
    except ImportError:
        raise MlclsError(
            "pycocotools is not installed; COCO conversion needs it",
            hint="pip install pycocotools",
            exit_code=ExitCode.UNAVAILABLE,
        ) from None
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = data
        coco.createIndex()
    return coco


def _categories(path: Path, data: dict[str, Any]) -> dict[int, str]:
    cats: dict[int, str] = {}
    for cat in data["categories"]:
        cid, name = cat["id"], cat["name"].strip()
        if cid in cats and cats[cid] != name:
            raise DatasetError(
                f"{path}: category id {cid} is named both {cats[cid]!r} and {name!r}",
                hint="each category id needs one name",
            )
        cats[cid] = name
    return cats


def build_class_map(per_split: dict[str, dict[int, str]], files: dict[str, Path]) -> list[ClassEntry]:
    """The shared class list: the union of all categories, sorted by COCO id, numbered 0..K-1."""
    union: dict[int, str] = {}
    for split, cats in per_split.items():
        for cid, name in cats.items():
            if cid in union and union[cid] != name:
                raise DatasetError(
                    f"category id {cid} is {union[cid]!r} in {files['train'].name} "
                    f"but {name!r} in {files[split].name}",
                    hint="both annotation files must use the same category ids and names",
                )
            union.setdefault(cid, name)
    if not union:
        raise DatasetError(
            "the annotation files list no categories", hint='add the "categories" array (id and name)'
        )
    classes = [ClassEntry(index=i, coco_id=cid, name=union[cid]) for i, cid in enumerate(sorted(union))]
    dupes = [name for name, n in Counter(c.name for c in classes).items() if n > 1]
    if dupes:
        console.warn(f"several category ids share a name: {', '.join(sorted(dupes))}")
    return classes


def _resolve_image(images_dir: str, file_name: str) -> str | None:
    """The dataset-relative POSIX path of an image: ``images/<file_name>``, else ``images/<basename>``."""
    name = file_name.replace("\\", "/")
    base = name.rsplit("/", 1)[-1]
    candidates = []
    if name and not name.startswith("/") and ".." not in name.split("/"):
        candidates.append(name)
    if base and base != name:
        candidates.append(base)
    for cand in candidates:
        if os.path.isfile(os.path.join(images_dir, cand)):
            return f"{IMAGES_DIR}/{cand}"
    return None


def _sort_key(image_id: Any) -> tuple[int, Any]:
    # Ascending image id; ids that are not numbers (rare) go after the numbers, in string order.
    if isinstance(image_id, (int, float)) and not isinstance(image_id, bool):
        return (0, image_id)
    return (1, str(image_id))


def _convert_split(
    split: str, path: Path, coco: Any, root: Path, mapping: dict[int, int], classes: list[ClassEntry]
) -> tuple[list[str], SplitStats]:
    stats = SplitStats(split=split, annotation_file=path.relative_to(root).as_posix())
    image_ids = sorted(coco.imgs, key=_sort_key)
    stats.images = len(image_ids)
    stats.annotations = len(coco.dataset["annotations"])
    stats.orphan_annotations = sum(len(v) for k, v in coco.imgToAnns.items() if k not in coco.imgs)
    k = len(classes)
    per_class = [0] * k
    lines: list[str] = []
    images_dir = root / IMAGES_DIR
    images_str = str(images_dir)
    with console.progress(f"convert {split}", total=len(image_ids), unit="images") as bar:
        for image_id in image_ids:
            bar.advance(1)
            file_name = coco.imgs[image_id]["file_name"]
            if any(ch in file_name for ch in "\t\r\n"):
                stats.invalid_names += 1
                continue
            rel = _resolve_image(images_str, file_name)
            if rel is None:
                stats.missing += 1
                if len(stats.missing_examples) < _EXAMPLES:
                    stats.missing_examples.append(file_name)
                continue
            vector = ["0"] * k
            for ann in coco.imgToAnns.get(image_id, []):
                cid = ann["category_id"]
                if cid not in mapping:
                    raise DatasetError(
                        f"{path}: annotation {ann['id']} of image {image_id!r} has category_id {cid!r}, "
                        "which no categories entry defines",
                        hint='add that category to "categories" or remove the annotation',
                    )
                vector[mapping[cid]] = "1"
                if ann.get("iscrowd"):
                    stats.crowd += 1
            positives = [pos for pos, value in enumerate(vector) if value == "1"]
            if not positives:
                stats.negatives += 1
            for pos in positives:
                per_class[pos] += 1
            lines.append(f"{rel}\t{','.join(vector)}")  # the canonical format_list_line() layout
    stats.lines = len(lines)
    for entry, n in zip(classes, per_class, strict=True):
        setattr(entry, split, n)
    _report_split(stats, images_dir)
    return lines, stats


def _report_split(stats: SplitStats, images_dir: Path) -> None:
    name = stats.annotation_file
    console.info(
        f"{name}: {stats.lines} of {stats.images} images written, {stats.negatives} without annotations "
        "kept as negatives (all-zero labels)"
    )
    if stats.missing:
        examples = ", ".join(stats.missing_examples)
        console.warn(
            f"{name}: {stats.missing} image files not found under {images_dir}, skipped (e.g. {examples})"
        )
    if stats.invalid_names:
        console.warn(f"{name}: {stats.invalid_names} images have a TAB or line break in file_name, skipped")
    if stats.orphan_annotations:
        console.warn(f"{name}: {stats.orphan_annotations} annotations refer to image ids that are not listed")
    if stats.images and not stats.lines:
        raise DatasetError(
            f"{name}: none of its {stats.images} images was found under {images_dir}",
            hint=f"put the image files in {images_dir} (file_name is resolved relative to it)",
        )
    if not stats.images:
        console.warn(f"{name} lists no images; the {stats.split} list will be empty")


def convert_coco(
    dataset_dir: str | os.PathLike[str],
    *,
    output_dir: str | os.PathLike[str] | None = None,
    src_type: str = "coco",
) -> ConvertSummary:
    """Convert a COCO-layout folder into an MLClsDataset, in place or into ``output_dir``."""
    source = normalize_source_type(src_type)
    if source != "coco":
        raise UsageError(
            f"convert_coco reads COCO annotations, not {src_type!r}",
            hint="class folders are converted by mlcls_cli.data.folders.convert_folders (--from folders)",
        )
    root = find_coco_root(dataset_dir)
    safety.recover_interrupted(root)
    files = find_annotation_files(root)
    datasets: dict[str, dict[str, Any]] = {}
    cats: dict[str, dict[int, str]] = {}
    for split, path in files.items():
        console.info(f"reading {path}")
        datasets[split] = _load_json(path)
        cats[split] = _categories(path, datasets[split])
    classes = build_class_map(cats, files)
    val_only = sorted(set(cats["val"]) - set(cats["train"]))
    if val_only:
        names = ", ".join(f"{cid} {cats['val'][cid]}" for cid in val_only[:10])
        console.warn(
            f"{len(val_only)} categories appear only in {files['val'].name} ({names}); "
            "they are kept in label.txt"
        )
    mapping = {c.coco_id: c.index for c in classes}
    lists: dict[str, list[str]] = {}
    stats: dict[str, SplitStats] = {}
    for split in SPLITS:
        coco = _index(datasets[split])
        lists[split], stats[split] = _convert_split(split, files[split], coco, root, mapping, classes)

    target = Path(output_dir) if output_dir is not None else root
    in_place = safety.same_folder(target, root)
    contents: dict[str, str] = {
        LABEL_FILE: "".join(f"{c.index} {c.name}\n" for c in classes),
        TRAIN_LIST: "".join(line + "\n" for line in lists["train"]),
        VAL_LIST: "".join(line + "\n" for line in lists["val"]),
        CATEGORY_MAP_FILE: json.dumps(
            {str(c.index): {"coco_id": c.coco_id, "name": c.name} for c in classes},
            indent=2,
            ensure_ascii=False,
        )
        + "\n",
    }
    result = safety.write_files(target, contents, backup=(TRAIN_LIST, VAL_LIST, LABEL_FILE))
    safety.log_backups(result)
    link = "source" if in_place else safety.link_images(root, target)
    console.success(
        f"converted {root} -> {target}: {len(classes)} classes, label.txt ids 0..{len(classes) - 1}"
    )
    return ConvertSummary(
        source_type=source.upper(),
        dataset_root=str(root),
        output_dir=str(target),
        classes=classes,
        splits=stats,
        val_only_categories=val_only,
        files=[str(p) for p in result.written],
        backups_created=[str(p) for p in result.backups_created],
        backups_kept=[str(p) for p in result.backups_kept],
        images_link=link,
    )
