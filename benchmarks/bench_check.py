"""Benchmark `mlcls check` on a synthetic dataset against a naive sequential image loop.

    python benchmarks/bench_check.py                 # 10,000 JPEGs of 64x48, 20 classes, in a temp dir
    python benchmarks/bench_check.py --n 2000 --dir /tmp/bench_ds --repeat 1

Prints, for the naive baseline (``PIL.Image.open(p).load()`` per image, one thread),
the header-mode check and the ``--decode`` check: wall time, images/s, the time of the
image phase alone, and the speed ratio against the baseline. Best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from mlcls_cli.data.check import check_dataset, default_workers


def make_synthetic(root: Path, n: int, classes: int, size: tuple[int, int], seed: int = 0) -> list[Path]:
    """Write ``n`` random-colour JPEGs and an 80/20 train/val MLClsDataset under ``root``."""
    rng = random.Random(seed)
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    (root / "label.txt").write_text("".join(f"{i} class_{i}\n" for i in range(classes)), encoding="utf-8")
    lines: list[str] = []
    paths: list[Path] = []
    for i in range(n):
        rel = f"images/{i:06d}.jpg"
        path = root / rel
        if not path.exists():
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            Image.new("RGB", size, colour).save(path, quality=90)
        paths.append(path)
        vec = [0] * classes
        for c in rng.sample(range(classes), rng.randint(1, 3)):
            vec[c] = 1
        lines.append(f"{rel}\t{','.join(map(str, vec))}\n")
    cut = int(n * 0.8)
    (root / "train.txt").write_text("".join(lines[:cut]), encoding="utf-8")
    (root / "val.txt").write_text("".join(lines[cut:]), encoding="utf-8")
    return paths


def naive(paths: list[Path]) -> None:
    """The baseline: open and decode every image, one after the other."""
    for path in paths:
        with Image.open(path) as im:
            im.load()


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    """Fastest wall time of ``repeat`` calls, with the last call's return value."""
    best = float("inf")
    value: object = None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000, help="number of images")
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--size", default="64x48", help="image size WxH")
    parser.add_argument("--dir", type=Path, default=None, help="dataset folder (kept); default: a temp dir")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"check threads (default {default_workers()} for headers, {default_workers(True)} for --decode)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode; the best is shown")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory(prefix="mlcls-bench-") as tmp:
        root = args.dir or Path(tmp) / "ds"
        start = time.perf_counter()
        paths = make_synthetic(root, args.n, args.classes, (width, height))
        print(
            f"dataset: {root}  {args.n} JPEGs {width}x{height}, {args.classes} classes "
            f"(ready in {time.perf_counter() - start:.1f} s)"
        )
        threads = args.workers or f"{default_workers()} (headers), {default_workers(True)} (--decode)"
        print(f"cpu cores: {os.cpu_count()}, check threads: {threads}, best of {args.repeat}")
        out = Path(tmp) / "out"

        base_t, _ = best_of(args.repeat, lambda: naive(paths))
        rows = [("naive open+load, 1 thread", base_t, None)]
        for label, decode in (("mlcls check (headers)", False), ("mlcls check --decode", True)):
            t, report = best_of(
                args.repeat,
                lambda decode=decode: check_dataset(
                    root, output_dir=out, decode=decode, workers=args.workers, progress=False
                ),
            )
            assert report.passed, report.result["errors"]  # type: ignore[attr-defined]
            rows.append((label, t, report.timings))  # type: ignore[attr-defined]

        print(f"{'mode':<28} {'wall s':>8} {'images/s':>10} {'image phase s':>14} {'vs naive':>9}")
        for label, t, timings in rows:
            phase = f"{timings['images']:.3f}" if timings else f"{t:.3f}"
            print(f"{label:<28} {t:8.3f} {args.n / t:10.0f} {phase:>14} {base_t / t:8.2f}x")
        last = rows[-1][2] or {}
        print("phases of the last --decode run: " + ", ".join(f"{k} {v:.3f} s" for k, v in last.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
