"""Generate the bundled sample dataset: synthetic scenes whose labels are the shapes and colours drawn.

Run ``python examples/make_sample_dataset.py [OUT_DIR]`` (default ``examples/sample_dataset``).
The output is deterministic: the same seed writes the same images and lists.
Six classes: circle, square, triangle (shapes) and red, green, blue (colours); every
image holds one to three shapes on a grey-ish background, and its label vector marks
each shape type and each colour present. Images are 64x64 PNG so CPU training is quick.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

CLASSES = ["circle", "square", "triangle", "red", "green", "blue"]
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220)}
SHAPES = ["circle", "square", "triangle"]


def draw_scene(rng: random.Random, size: int) -> tuple[Image.Image, list[int]]:
    """Draw one scene and return it with its multi-hot label vector."""
    shade = rng.randint(150, 235)
    image = Image.new("RGB", (size, size), (shade, shade, shade))
    draw = ImageDraw.Draw(image)
    present: set[str] = set()
    for _ in range(rng.randint(1, 3)):
        shape = rng.choice(SHAPES)
        colour = rng.choice(list(COLOURS))
        r = rng.randint(size // 8, size // 4)
        cx, cy = rng.randint(r, size - r), rng.randint(r, size - r)
        jitter = tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in COLOURS[colour])
        if shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=jitter)
        elif shape == "square":
            draw.rectangle((cx - r, cy - r, cx + r, cy + r), fill=jitter)
        else:
            draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=jitter)
        present.update((shape, colour))
    return image, [1 if name in present else 0 for name in CLASSES]


def make_dataset(
    out_dir: Path,
    n_train: int = 72,
    n_val: int = 24,
    size: int = 64,
    seed: int = 7,
    *,
    draw: Callable[[random.Random, int], tuple[Image.Image, list[int]]] | None = None,
    classes: Sequence[str] = CLASSES,
) -> None:
    """Write images/, label.txt, train.txt and val.txt under ``out_dir``.

    ``draw`` and ``classes`` replace the scene drawer and its label names (another synthetic set).
    """
    draw = draw or draw_scene
    rng = random.Random(seed)
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    (out_dir / "label.txt").write_text(
        "".join(f"{i} {name}\n" for i, name in enumerate(classes)), encoding="utf-8"
    )
    for split, count, offset in (("train", n_train, 0), ("val", n_val, n_train)):
        lines = []
        for i in range(offset, offset + count):
            image, labels = draw(rng, size)
            name = f"scene_{i:04d}.png"
            image.save(images / name, optimize=True)
            lines.append(f"images/{name}\t{','.join(map(str, labels))}\n")
        (out_dir / f"{split}.txt").write_text("".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=str(Path(__file__).parent / "sample_dataset"))
    parser.add_argument("--train", type=int, default=72)
    parser.add_argument("--val", type=int, default=24)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    make_dataset(Path(args.out_dir), args.train, args.val, args.size, args.seed)
    print(f"wrote {args.train + args.val} images to {args.out_dir}")


if __name__ == "__main__":
    main()
