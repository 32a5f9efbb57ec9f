"""Benchmark `mlcls check` on a synthetic dataset against naive sequential image loops, like with like.

    python benchmarks/bench_check.py                 # 10,000 JPEGs of 64x48, 20 classes, in a temp dir
    python benchmarks/bench_check.py --n 2000 --dir /tmp/bench_ds --repeat 1

Two comparisons, each against the loop that does the same image work in one thread:
``mlcls check`` (every header read) against ``PIL.Image.open(p).size`` per image, and
``mlcls check --decode`` (every image decoded) against ``Image.open(p).load()`` per
image. For each: wall time, images/s, the time of the check's image phase alone (the
check also parses the lists, computes statistics and draws the plots), and the ratios.
Best of ``--repeat`` runs.
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


def naive_headers(paths: list[Path]) -> None:
    """The baseline of the header check: read every image's header, one after the other."""
    for path in paths:
        with Image.open(path) as im:
            _ = im.size


def naive_decode(paths: list[Path]) -> None:
    """The baseline of ``--decode``: open and decode every image, one after the other."""
    for path in paths:
        with Image.open(path) as im:
            im.load()


def drop_page_cache() -> None:
    """Empty the OS page cache (Linux, root only), so the next run reads every file from disk."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as fh:
        fh.write("3\n")


def best_of(repeat: int, fn: Callable[[], object], cold: bool = False) -> tuple[float, object]:
    """Fastest wall time of ``repeat`` calls (each from a cold page cache with ``cold``), and the last value."""
    best = float("inf")
    value: object = None
    for _ in range(repeat):
        if cold:
            drop_page_cache()
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
    parser.add_argument(
        "--cold",
        action="store_true",
        help="drop the page cache before every run (Linux, root): files come from disk",
    )
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
        cache = "cold page cache (dropped before every run)" if args.cold else "warm page cache"
        print(f"cpu cores: {os.cpu_count()}, check threads: {threads}, best of {args.repeat}, {cache}")
        out = Path(tmp) / "out"

        print(
            f"{'mode':<34} {'wall s':>8} {'images/s':>10} {'image phase s':>14} "
            f"{'wall ratio':>11} {'phase ratio':>12}"
        )
        last: dict[str, float] = {}
        for decode, baseline in (
            (False, naive_headers),
            (True, naive_decode),
        ):
            base_t, _ = best_of(args.repeat, lambda baseline=baseline: baseline(paths), args.cold)
            t, report = best_of(
                args.repeat,
                lambda decode=decode: check_dataset(
                    root, output_dir=out, decode=decode, workers=args.workers, progress=False
                ),
                args.cold,
            )
            assert report.passed, report.result["errors"]  # type: ignore[attr-defined]
            last = report.timings  # type: ignore[attr-defined]
            naive_label = "naive Image.open().size" if not decode else "naive Image.open().load()"
            cmd = "mlcls check" + (" --decode" if decode else "")
            print(f"{naive_label + ', 1 thread':<34} {base_t:8.3f} {args.n / base_t:10.0f} {base_t:14.3f}")
            print(
                f"{cmd:<34} {t:8.3f} {args.n / t:10.0f} {last['images']:14.3f} "
                f"{base_t / t:10.2f}x {base_t / last['images']:11.2f}x"
            )
        print("phases of the last --decode run: " + ", ".join(f"{k} {v:.3f} s" for k, v in last.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
