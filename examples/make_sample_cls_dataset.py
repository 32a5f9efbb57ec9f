"""Generate the bundled single-label sample dataset: one shape per image, the shape is the class.

Run ``python examples/make_sample_cls_dataset.py [OUT_DIR]`` (default ``examples/sample_cls_dataset``).
The output is deterministic: the same seed writes the same images and lists.
Five classes: circle, square, triangle, cross, ring. Every 64x64 PNG holds one shape of a
random colour, size, position and rotation on a plain light background, so only the
shape tells the class (a ring is a hollow circle: the model must look at the middle).
The lists are a ClsDataset: ``images/shape_0000.png 3``, one space, balanced classes.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

CLASSES = ["circle", "square", "triangle", "cross", "ring"]


def _polygon(
    cx: float, cy: float, points: list[tuple[float, float]], angle: float
) -> list[tuple[float, float]]:
    """``points`` (relative to the centre) rotated by ``angle`` radians and moved to ``(cx, cy)``."""
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]


def draw_shape(rng: random.Random, class_id: int, size: int) -> Image.Image:
    """Draw one image of class ``class_id``."""
    shade = rng.randint(190, 245)
    image = Image.new("RGB", (size, size), (shade, shade, shade))
    draw = ImageDraw.Draw(image)
    colour = tuple(rng.randint(0, 150) for _ in range(3))
    r = rng.randint(size // 6, size // 3)
    cx, cy = rng.randint(r + 2, size - r - 3), rng.randint(r + 2, size - r - 3)
    angle = rng.uniform(0, math.pi / 2)
    name = CLASSES[class_id]
    if name == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif name == "ring":
        width = max(2, r // 3)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=width)
    elif name == "square":
        h = r * 0.8
        draw.polygon(_polygon(cx, cy, [(-h, -h), (h, -h), (h, h), (-h, h)], angle), fill=colour)
    elif name == "triangle":
        corners = [(r * math.cos(a), r * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
        draw.polygon(_polygon(cx, cy, corners, angle * 4 / 3), fill=colour)
    else:  # cross: two bars
        w = max(2, r // 3)
        for bar in ([(-r, -w), (r, -w), (r, w), (-r, w)], [(-w, -r), (w, -r), (w, r), (-w, r)]):
            draw.polygon(_polygon(cx, cy, bar, angle), fill=colour)
    return image


def make_dataset(
    out_dir: Path, train_per_class: int = 18, val_per_class: int = 6, size: int = 64, seed: int = 11
) -> None:
    """Write images/, label.txt, train.txt and val.txt under ``out_dir``."""
    rng = random.Random(seed)
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    (out_dir / "label.txt").write_text(
        "".join(f"{i} {name}\n" for i, name in enumerate(CLASSES)), encoding="utf-8"
    )
    index = 0
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        lines = []
        for i in range(per_class * len(CLASSES)):
            class_id = i % len(CLASSES)
            name = f"shape_{index:04d}.png"
            draw_shape(rng, class_id, size).save(images / name, optimize=True)
            lines.append(f"images/{name} {class_id}\n")
            index += 1
        (out_dir / f"{split}.txt").write_text("".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=str(Path(__file__).parent / "sample_cls_dataset"))
    parser.add_argument("--train-per-class", type=int, default=18)
    parser.add_argument("--val-per-class", type=int, default=6)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    make_dataset(Path(args.out_dir), args.train_per_class, args.val_per_class, args.size, args.seed)
    total = (args.train_per_class + args.val_per_class) * len(CLASSES)
    print(f"wrote {total} images to {args.out_dir}")


if __name__ == "__main__":
    main()
