"""Build small MLClsDatasets and ClsDatasets on disk for tests.

``make_dataset(tmp_path / "ds")`` writes ``images/``, ``label.txt``, ``train.txt`` and
``val.txt`` with tiny solid-colour images and deterministic multi-hot labels: every
class has a positive in train when ``train >= classes`` (and in val when
``val >= classes``). The returned :class:`MadeDataset` knows every path and vector,
so a test can break one line and assert on exactly that line.

``make_cls_dataset`` does the same for a single-label ClsDataset
(``<path> <class id>`` lines, sample ``i`` of a split in class ``i % K``); its
:class:`MadeClsDataset` knows every path and class id.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

DEFAULT_NAMES = ("cat", "dog", "car", "person", "tree", "boat", "bird", "bus")


@dataclass
class MadeDataset:
    """A dataset written by :func:`make_dataset`: its root and what each file holds."""

    root: Path
    names: list[str]
    train: list[tuple[str, list[int]]] = field(default_factory=list)
    val: list[tuple[str, list[int]]] = field(default_factory=list)
    separator: str = "\t"
    newline: str = "\n"

    @property
    def num_classes(self) -> int:
        """Number of classes in ``label.txt``."""
        return len(self.names)

    @property
    def label_file(self) -> Path:
        """Path of ``label.txt``."""
        return self.root / "label.txt"

    def list_file(self, split: str) -> Path:
        """Path of ``train.txt`` or ``val.txt``."""
        return self.root / f"{split}.txt"

    def samples(self, split: str) -> list[tuple[str, list[int]]]:
        """The (relative path, vector) entries of ``split`` as written."""
        return self.train if split == "train" else self.val

    def image(self, rel: str) -> Path:
        """Absolute path of an image given its list-file path."""
        return self.root / rel

    def list_lines(self, split: str) -> list[str]:
        """The lines of ``split``'s list file as currently on disk (no line endings)."""
        return self.list_file(split).read_text(encoding="utf-8").splitlines()

    def set_list_line(self, split: str, lineno: int, text: str) -> None:
        """Replace line ``lineno`` (1-based) of ``split``'s list file with ``text``."""
        lines = self.list_lines(split)
        lines[lineno - 1] = text
        self.write_list_lines(split, lines)

    def append_list_line(self, split: str, text: str) -> int:
        """Append ``text`` as a new line of ``split``'s list file; returns its 1-based line number."""
        lines = self.list_lines(split)
        lines.append(text)
        self.write_list_lines(split, lines)
        return len(lines)

    def write_list_lines(self, split: str, lines: Sequence[str]) -> None:
        """Overwrite ``split``'s list file with ``lines``."""
        self.list_file(split).write_bytes("".join(line + self.newline for line in lines).encode("utf-8"))

    def write_label_lines(self, lines: Sequence[str]) -> None:
        """Overwrite ``label.txt`` with ``lines``."""
        self.label_file.write_bytes("".join(line + self.newline for line in lines).encode("utf-8"))


def write_image(
    path: Path,
    size: tuple[int, int] = (32, 32),
    color: tuple[int, int, int] = (200, 80, 40),
    fmt: str | None = None,
) -> Path:
    """Write a solid-colour RGB image (format from ``fmt`` or the suffix) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format=fmt)
    return path


def format_line(rel: str, vector: Sequence[int], separator: str = "\t") -> str:
    """One list-file line: path, separator, comma-joined vector."""
    return f"{rel}{separator}{','.join(str(v) for v in vector)}"


def _vectors(count: int, num_classes: int, rng: random.Random, negatives: int) -> list[list[int]]:
    """Multi-hot vectors: sample i has class i % K, plus a random extra class now and then."""
    vectors: list[list[int]] = []
    for i in range(count):
        vec = [0] * num_classes
        if i < count - negatives:
            vec[i % num_classes] = 1
            if num_classes > 1 and rng.random() < 0.4:
                vec[rng.randrange(num_classes)] = 1
        vectors.append(vec)
    return vectors


def make_dataset(
    root: Path,
    *,
    classes: int | Sequence[str] = 3,
    train: int = 6,
    val: int = 3,
    image_size: tuple[int, int] = (32, 32),
    image_format: str = "png",
    negatives: int = 0,
    subfolders: Sequence[str] = (),
    separator: str = "\t",
    newline: str = "\n",
    seed: int = 0,
    prefix: str = "img",
) -> MadeDataset:
    """Write a valid MLClsDataset under ``root`` and describe it.

    ``classes`` is a class count (names from :data:`DEFAULT_NAMES`, then ``class_<i>``)
    or explicit names. ``negatives`` is how many samples per split are all-zero (the
    last ones). ``subfolders`` spreads images round-robin over ``images/<sub>/``.
    ``image_format`` is ``png``, ``jpg`` or ``bmp``. Images of the same index share a
    colour, so their content is deterministic.
    """
    if isinstance(classes, int):
        names = [DEFAULT_NAMES[i] if i < len(DEFAULT_NAMES) else f"class_{i}" for i in range(classes)]
    else:
        names = list(classes)
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    made = MadeDataset(root=root, names=names, separator=separator, newline=newline)
    made.write_label_lines([f"{i} {name}" for i, name in enumerate(names)])

    ext = "jpg" if image_format in ("jpg", "jpeg") else image_format
    index = 0
    for split, count in (("train", train), ("val", val)):
        entries = made.samples(split)
        for vector in _vectors(count, len(names), rng, min(negatives, count)):
            sub = f"{subfolders[index % len(subfolders)]}/" if subfolders else ""
            rel = f"images/{sub}{prefix}_{index:05d}.{ext}"
            color = ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256)
            write_image(root / rel, image_size, color)
            entries.append((rel, vector))
            index += 1
        made.write_list_lines(split, [format_line(rel, vec, separator) for rel, vec in entries])
    return made


def make_learnable_dataset(
    root: Path, *, train: int = 24, val: int = 12, size: int = 16, seed: int = 0
) -> MadeDataset:
    """Write a 3-class dataset whose pixels determine the labels, so a short run can learn it.

    Class ``k`` (red, green, blue) is positive exactly when colour channel ``k`` is bright
    (about 200 against about 50), with per-pixel noise so no two images are alike. Labels
    are independent coin flips per class (re-drawn when a vector would be all zero), and
    both splits hold a positive and a negative of every class.
    """
    import numpy as np

    names = ["red", "green", "blue"]
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    made = MadeDataset(root=root, names=names)
    made.write_label_lines([f"{i} {name}" for i, name in enumerate(names)])
    index = 0
    for split, count in (("train", train), ("val", val)):
        entries = made.samples(split)
        for i in range(count):
            if i < 6:  # one-hot, then their complements: every class positive and negative in each split
                vector = [int((c == i % 3) != (i >= 3)) for c in range(3)]
            else:
                vector = [int(v) for v in rng.integers(0, 2, 3)]
                if not any(vector):
                    vector[int(rng.integers(0, 3))] = 1
            base = np.where(np.asarray(vector, dtype=bool), 200.0, 50.0)
            pixels = base[None, None, :] + rng.normal(0.0, 25.0, (size, size, 3))
            rel = f"images/img_{index:05d}.png"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").save(root / rel)
            entries.append((rel, vector))
            index += 1
        made.write_list_lines(split, [format_line(rel, vec) for rel, vec in entries])
    return made


@dataclass
class MadeClsDataset(MadeDataset):
    """A ClsDataset written by :func:`make_cls_dataset`: its root and the (path, class id) of each line."""

    train: list[tuple[str, int]] = field(default_factory=list)  # type: ignore[assignment]
    val: list[tuple[str, int]] = field(default_factory=list)  # type: ignore[assignment]
    separator: str = " "

    def samples(self, split: str) -> list[tuple[str, int]]:  # type: ignore[override]
        """The (relative path, class id) entries of ``split`` as written."""
        return self.train if split == "train" else self.val

    def line(self, rel: str, class_id: int) -> str:
        """One list line in this dataset's format."""
        return format_cls_line(rel, class_id, self.separator)


def format_cls_line(rel: str, class_id: int, separator: str = " ") -> str:
    """One ClsDataset list line: path, separator, class id."""
    return f"{rel}{separator}{class_id}"


def make_cls_dataset(
    root: Path,
    *,
    classes: int | Sequence[str] = 3,
    train: int = 6,
    val: int = 3,
    image_size: tuple[int, int] = (32, 32),
    image_format: str = "png",
    class_of: Sequence[int] | None = None,
    separator: str = " ",
    newline: str = "\n",
    prefix: str = "img",
) -> MadeClsDataset:
    """Write a valid ClsDataset under ``root`` and describe it.

    ``classes`` is a class count (names from :data:`DEFAULT_NAMES`, then ``class_<i>``)
    or explicit names. Sample ``i`` of each split is in class ``i % K`` unless
    ``class_of`` gives the class of every sample (train first, then val). Images of
    the same index share a colour.
    """
    if isinstance(classes, int):
        names = [DEFAULT_NAMES[i] if i < len(DEFAULT_NAMES) else f"class_{i}" for i in range(classes)]
    else:
        names = list(classes)
    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    made = MadeClsDataset(root=root, names=names, separator=separator, newline=newline)
    made.write_label_lines([f"{i} {name}" for i, name in enumerate(names)])
    ext = "jpg" if image_format in ("jpg", "jpeg") else image_format
    index = 0
    for split, count in (("train", train), ("val", val)):
        entries = made.samples(split)
        for i in range(count):
            class_id = class_of[index] if class_of is not None else i % len(names)
            rel = f"images/{prefix}_{index:05d}.{ext}"
            color = ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256)
            write_image(root / rel, image_size, color)
            entries.append((rel, class_id))
            index += 1
        made.write_list_lines(split, [made.line(rel, c) for rel, c in entries])
    return made


__all__ = [
    "DEFAULT_NAMES",
    "MadeClsDataset",
    "MadeDataset",
    "format_cls_line",
    "format_line",
    "make_cls_dataset",
    "make_dataset",
    "make_learnable_dataset",
    "write_image",
]
