"""Throughput of `mlcls predict` against the bare predictor on preprocessed tensors (the floor).

One model is exported (random weights; speed does not depend on their values) and a
folder of JPEG photos-sized images is generated. Then, on CPU:

- **floor**: ``Predictor.run`` (Paddle Inference) on batches that were decoded and preprocessed
  beforehand: the inference cost alone;
- **predict**: the code path of ``mlcls predict FOLDER --json`` in this process
  (:func:`mlcls_cli.inference.runner.run_prediction`: folder walk, decoding,
  preprocessing, batching, inference, postprocessing, one JSON line per image),
  with the model already loaded, so process start-up and model loading are excluded.

Both run at the same batch size, alternately (so that a change in machine load hits
both alike); the median of ``--repeats`` runs of each is reported as images/s, with
predict/floor as a ratio (target: at least 0.85 at batch 8).

    python benchmarks/bench_predict.py
    python benchmarks/bench_predict.py --images 64 --image-size 1280x960 --batch-size 8 --json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import export_random, make_images


def _floor_runner(model_dir: Path, paths: list[Path], batch: int, threads: int) -> Callable[[], float]:
    """A timed run of the bare predictor over pre-made batches; returns seconds."""
    from mlcls_cli.inference.inputs import InputItem, load_image
    from mlcls_cli.inference.predictor import Predictor
    from mlcls_cli.inference.preprocess import Preprocessor

    predictor = Predictor(model_dir, device="cpu", cpu_threads=threads, backend="paddle")
    pre = Preprocessor.from_config(predictor.config)
    tensors = [pre(load_image(InputItem("path", str(p), str(p), p.stem, ".jpg"))) for p in paths]
    batches = [np.stack(tensors[i : i + batch]) for i in range(0, len(tensors), batch)]
    predictor.run(batches[0])  # warm-up (oneDNN kernels)

    def run() -> float:
        start = time.perf_counter()
        for b in batches:
            predictor.run(b)
        return time.perf_counter() - start

    return run


def _predict_runner(
    model_dir: Path, folder: Path, count: int, batch: int, threads: int, workers: int | None
) -> Callable[[], float]:
    """A timed run of the `mlcls predict --json` code path over the folder; returns seconds."""
    from mlcls_cli.inference.model import create_model
    from mlcls_cli.inference.runner import run_prediction

    model = create_model(
        model_dir=model_dir, device="cpu", cpu_threads=threads, workers=workers, backend="paddle"
    )
    sink = io.StringIO()

    def emit(result) -> None:
        sink.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")

    list(model.predict(folder, batch_size=batch, threshold=0.0))  # warm-up

    def run() -> float:
        sink.seek(0)
        sink.truncate()
        summary = run_prediction(model, [str(folder)], emit=emit, batch_size=batch, progress=False)
        if summary.predicted != count:
            raise SystemExit(f"predicted {summary.predicted} of {count} images")
        return summary.seconds

    return run


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the result; exit 1 when the ratio is under ``--target``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="PP-LCNet_x1_0_ML")
    parser.add_argument("--size", type=int, default=448, help="model input size")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--image-size", default="640x480", help="WxH of the generated JPEGs")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cpu-threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None, help="loader threads (default: automatic)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.85)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.image_size.lower().split("x"))

    os.environ.setdefault("MLCLS_NO_PROGRESS", "1")
    with tempfile.TemporaryDirectory(prefix="mlcls-bench-predict-") as tmp:
        root = Path(tmp)
        folder = root / "images"
        folder.mkdir()
        paths = make_images(folder, args.images, width, height)
        model_dir = export_random(args.model, args.size, root / "model")
        floor_run = _floor_runner(model_dir, paths, args.batch_size, args.cpu_threads)
        predict_run = _predict_runner(
            model_dir, folder, len(paths), args.batch_size, args.cpu_threads, args.workers
        )
        # alternate the two so that a change in machine load affects both alike
        floor_times, predict_times = [], []
        for _ in range(args.repeats):
            floor_times.append(floor_run())
            predict_times.append(predict_run())
        floor = len(paths) / statistics.median(floor_times)
        e2e = len(paths) / statistics.median(predict_times)
    ratio = e2e / floor
    report = {
        "model": args.model,
        "input_size": args.size,
        "images": args.images,
        "image_size": f"{width}x{height}",
        "batch_size": args.batch_size,
        "cpu_threads": args.cpu_threads,
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "floor_images_per_s": round(floor, 2),
        "predict_images_per_s": round(e2e, 2),
        "ratio": round(ratio, 3),
        "target": args.target,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"model {args.model} @ {args.size}px, {args.images} JPEGs {width}x{height}, batch {args.batch_size}, "
            f"{args.cpu_threads} inference thread(s), {os.cpu_count()} CPUs"
        )
        print(f"floor (predictor on preprocessed tensors): {floor:8.2f} images/s")
        print(f"mlcls predict (decode..JSON lines):         {e2e:8.2f} images/s")
        print(f"ratio: {ratio:.3f} (target >= {args.target})")
    return 0 if ratio >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
