"""Does fine-tuning from a synthetic pretraining beat training from scratch on the sample dataset?

Real projects fine-tune from weights pretrained on a large dataset (PaddleX's official
COCO weights), which the offline quick start cannot download. This measures the
stand-in one could ship: ``SmallCNN_ML`` pretrained with ``mlcls train`` on a larger and
richer synthetic multi-label set (2,000 training scenes of 1-4 objects, six shapes x six
colours = 12 labels, textured backgrounds; the sample dataset's 6 labels are among them,
as everyday objects of a user's photos are among COCO's 80 classes), then fine-tuned on
``examples/sample_dataset`` with the quick start's recipe (the 12-class head replaced by
a fresh 6-class one), against the same recipe from scratch, over seeds and run lengths.
Prints the best val mAP of each run and the mean difference. About 8 minutes on 2 CPU
cores (the pretraining alone about 4.5).

    python benchmarks/bench_finetune.py [--epochs 5 10 20] [--seeds 3] [--pretrain-epochs 15]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parents[1]

SHAPES = ["circle", "square", "triangle", "star", "cross", "diamond"]
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (40, 70, 220),
    "yellow": (230, 210, 40),
    "magenta": (200, 50, 200),
    "cyan": (40, 200, 210),
}
CLASSES = SHAPES + list(COLOURS)


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    if shape == "square":
        corners = [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]
    elif shape == "triangle":
        corners = [(0.0, -1.0), (-0.87, 0.5), (0.87, 0.5)]
    elif shape == "diamond":
        corners = [(0.0, -1.0), (0.6, 0.0), (0.0, 1.0), (-0.6, 0.0)]
    elif shape == "star":
        corners = [
            ((1.0 if k % 2 == 0 else 0.45) * math.sin(k * math.pi / 5), -(1.0 if k % 2 == 0 else 0.45) * math.cos(k * math.pi / 5))
            for k in range(10)
        ]  # fmt: skip
    else:  # cross
        a, b = 0.33, 1.0
        corners = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)]  # fmt: skip
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * cos - y * sin), cy + r * (x * sin + y * cos)) for x, y in corners]


def draw_scene(rng: random.Random, size: int) -> tuple[Image.Image, list[int]]:
    """One scene of 1-4 objects on a noisy two-tone background, with its 12-label multi-hot vector."""
    top, bottom = rng.randint(110, 240), rng.randint(110, 240)
    image = Image.new("RGB", (size, size))
    pixels = image.load()
    for y in range(size):
        base = top + (bottom - top) * y // max(1, size - 1)
        for x in range(size):
            v = max(0, min(255, base + rng.randint(-12, 12)))
            pixels[x, y] = (v, v, v)
    draw = ImageDraw.Draw(image)
    present: set[str] = set()
    for _ in range(rng.randint(1, 4)):
        shape = rng.choice(SHAPES)
        colour = rng.choice(list(COLOURS))
        r = rng.randint(size // 10, size // 4)
        cx, cy = rng.randint(r, size - r), rng.randint(r, size - r)
        fill = tuple(max(0, min(255, c + rng.randint(-30, 30))) for c in COLOURS[colour])
        if shape == "circle":
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
        else:
            draw.polygon(_polygon(shape, cx, cy, r, rng.uniform(-0.3, 0.3)), fill=fill)
        present.update((shape, colour))
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return image, [1 if name in present else 0 for name in CLASSES]


def train(mlcls: list[str], dataset: Path, out: Path, *args: str) -> dict:
    """Run ``mlcls train`` quietly; return its JSON summary."""
    cmd = [*mlcls, "train", str(dataset), "--output", str(out), "-q", "--json", *args]
    return json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--val", type=int, default=200)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--pretrain-epochs", type=int, default=15)
    parser.add_argument("--epochs", type=int, nargs="+", default=[5, 10, 20], help="fine-tuning run lengths")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    mlcls = [sys.executable, "-m", "mlcls_cli"]
    sample = REPO / "examples" / "sample_dataset"
    recipe = REPO / "examples" / "sample_train.yaml"
    with tempfile.TemporaryDirectory(prefix="mlcls-bench-finetune-") as tmp:
        data = Path(tmp) / "shapes12"
        started = time.perf_counter()
        maker = runpy.run_path(str(REPO / "examples" / "make_sample_dataset.py"))
        maker["make_dataset"](data, args.train, args.val, args.size, 0, draw=draw_scene, classes=CLASSES)
        summary = train(
            mlcls, data, Path(tmp) / "pretrain", "--model", "SmallCNN_ML", "--no-pretrained", "--device", "cpu",
            "--epochs", str(args.pretrain_epochs), "--batch-size", "32", "--image-size", str(args.size),
            "-o", "Train.eval_interval=3", "-o", "Train.keep_epoch_checkpoints=0",
        )  # fmt: skip
        weights = summary["best"]["pdparams"]
        pretrain = {
            "val_mAP": round(summary["best"]["MultiLabelMAP"], 4),
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(
            f"pretraining: SmallCNN_ML on {args.train} synthetic 12-label scenes, {args.pretrain_epochs} epochs: "
            f"val mAP {pretrain['val_mAP']:.4f} in {pretrain['seconds']:.0f} s (drawing included)"
        )
        rows = []
        for epochs in args.epochs:
            for seed in range(args.seeds):
                scores = {}
                for mode, start in (
                    ("fine-tuned", f"Train.pretrain_weight_path={weights}"),
                    ("scratch", "Train.pretrain_weight_path=null"),
                ):
                    out = Path(tmp) / f"{mode}-{epochs}-{seed}"
                    s = train(mlcls, sample, out, "-c", str(recipe), "--epochs", str(epochs), "-o", start,
                              "-o", f"Train.seed={seed}", "-o", "Train.eval_interval=1", "-o", "Train.keep_epoch_checkpoints=0")  # fmt: skip
                    scores[mode] = s["best"]["MultiLabelMAP"]
                    shutil.rmtree(out, ignore_errors=True)
                rows.append((epochs, seed, scores["fine-tuned"], scores["scratch"]))
                print(
                    f"  {epochs:3d} epochs, seed {seed}: fine-tuned {scores['fine-tuned']:.4f}  scratch {scores['scratch']:.4f}"
                )
        for epochs in args.epochs:
            mine = [(f, s) for e, _, f, s in rows if e == epochs]
            ft = sum(f for f, _ in mine) / len(mine)
            sc = sum(s for _, s in mine) / len(mine)
            print(
                f"{epochs:3d} epochs: fine-tuned mean {ft:.4f}, scratch mean {sc:.4f}, difference {ft - sc:+.4f}"
            )


if __name__ == "__main__":
    main()
