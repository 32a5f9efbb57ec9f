"""Every installed inference backend on one exported package, side by side: speed and agreement.

For each backend and precision (Paddle Inference fp32, ONNX Runtime fp32, OpenVINO
fp32 and bf16 where the CPU has it), on the same images:

- **model-only** ms/img at batch 1 and 8: ``run`` on preprocessed tensors;
- **end to end** images/s at batch 1 and 8: ``create_model(...).predict`` over a folder
  of JPEGs (decode, resize, normalise, infer, post-process), the model already loaded;
- **agreement** with Paddle Inference: max |diff| of the probabilities, and the share
  of images whose top-3 classes are the same.

The rows are measured alternately, round by round, and the median of ``--repeats``
rounds is reported, with each speed as a ratio to Paddle Inference. ``auto`` is what
``mlcls predict`` picks by default.

    python benchmarks/bench_backends.py
    python benchmarks/bench_backends.py --model PP-HGNetV2-B0_ML --images 32 --repeats 3
    python benchmarks/bench_backends.py --model-dir output/best_model/inference
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import export_random, make_images


def _configurations(bf16: bool) -> list[tuple[str, str]]:
    from mlcls_cli.inference.backends import installed

    rows = [("paddle", "fp32")]
    if installed("onnxruntime"):
        rows.append(("onnxruntime", "fp32"))
    if installed("openvino"):
        rows.append(("openvino", "fp32"))
        from mlcls_cli.inference.backends.openvino_runtime import cpu_supports_bf16

        if bf16 and cpu_supports_bf16():
            rows.append(("openvino", "bf16"))
    return rows


def _tensors(model_dir: Path, paths: list[Path]) -> np.ndarray:
    from mlcls_cli.inference.inputs import InputItem, load_image
    from mlcls_cli.inference.package import InferencePackage
    from mlcls_cli.inference.preprocess import Preprocessor

    config = InferencePackage.open(model_dir).config
    pre = Preprocessor.from_config(config, crop="Topk" in (config.get("PostProcess") or {}))
    return np.stack([pre(load_image(InputItem("path", str(p), str(p), p.stem, ".jpg"))) for p in paths])


def _model_only(model: Any, data: np.ndarray, batch: int) -> Callable[[], float]:
    batches = [data[i : i + batch] for i in range(0, len(data), batch)]
    model.predictor.run(batches[0])  # warm-up

    def run() -> float:
        start = time.perf_counter()
        for b in batches:
            model.predictor.run(b)
        return (time.perf_counter() - start) / len(data) * 1000.0

    return run


def _end_to_end(model: Any, folder: Path, count: int, batch: int) -> Callable[[], float]:
    # multi-label: threshold 0 keeps every class, the most post-processing; single-label: the top 5
    options = {} if model.task == "image_classification" else {"threshold": 0.0}
    list(model.predict(folder, batch_size=batch, **options))  # warm-up

    def run() -> float:
        start = time.perf_counter()
        done = sum(1 for _ in model.predict(folder, batch_size=batch, **options))
        if done != count:
            raise SystemExit(f"predicted {done} of {count} images")
        return count / (time.perf_counter() - start)

    return run


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="PP-LCNet_x1_0_ML", help="zoo model to export with random weights")
    parser.add_argument("--model-dir", type=Path, default=None, help="an existing package instead")
    parser.add_argument("--size", type=int, default=448, help="input size of the exported model")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--image-size", default="640x480", help="WxH of the generated JPEGs")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument(
        "--cpu-threads", type=int, default=None, help="math threads (default: each backend's)"
    )
    parser.add_argument("--workers", type=int, default=None, help="loader threads (default: automatic)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-bf16", action="store_true", help="skip OpenVINO bf16")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.image_size.lower().split("x"))
    os.environ.setdefault("MLCLS_NO_PROGRESS", "1")

    from mlcls_cli.inference.model import create_model

    with tempfile.TemporaryDirectory(prefix="mlcls-bench-backends-") as tmp:
        root = Path(tmp)
        os.environ.setdefault("MLCLS_HOME", str(root / "home"))  # converted graphs go to a throw-away cache
        folder = root / "images"
        folder.mkdir()
        paths = make_images(folder, args.images, width, height)
        from mlcls_cli.models.registry import TASK_CLS, get_model_info

        classes = 1000 if args.model_dir is None and get_model_info(args.model).task == TASK_CLS else 80
        model_dir = args.model_dir or export_random(args.model, args.size, root / "model", classes)
        data = _tensors(model_dir, paths)
        rows = _configurations(not args.no_bf16)
        models = {
            row: create_model(
                model_dir=model_dir,
                device="cpu",
                backend=row[0],
                precision=row[1],
                cpu_threads=args.cpu_threads,
                workers=args.workers,
            )
            for row in rows
        }
        auto = create_model(model_dir=model_dir, device="cpu", cpu_threads=args.cpu_threads)
        probs = {row: np.concatenate([m.predictor.run(data[i : i + 8]) for i in range(0, len(data), 8)])
                 for row, m in models.items()}  # fmt: skip
        reference = probs[("paddle", "fp32")]
        top3 = np.argsort(-reference, axis=1)[:, :3]
        timers: dict[tuple[str, str, str, int], Callable[[], float]] = {}
        for row, model in models.items():
            for batch in args.batch_sizes:
                timers[(*row, "model", batch)] = _model_only(model, data, batch)
                timers[(*row, "e2e", batch)] = _end_to_end(model, folder, len(paths), batch)
        samples: dict[tuple[str, str, str, int], list[float]] = {key: [] for key in timers}
        for _ in range(args.repeats):  # round by round, so a change in machine load hits every row alike
            for key, timer in timers.items():
                samples[key].append(timer())
        medians = {key: statistics.median(values) for key, values in samples.items()}

    report: dict[str, Any] = {
        "model": args.model if args.model_dir is None else str(args.model_dir),
        "input_size": args.size,
        "images": args.images,
        "image_size": f"{width}x{height}",
        "cpus": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "auto": f"{auto.backend} {auto.precision}",
        "rows": [],
    }
    for row, model in models.items():
        diff = float(np.max(np.abs(probs[row] - reference)))
        same = float(
            np.mean(
                [set(a) == set(b) for a, b in zip(np.argsort(-probs[row], axis=1)[:, :3], top3, strict=True)]
            )
        )
        entry: dict[str, Any] = {
            "backend": row[0],
            "precision": row[1],
            "threads": model.predictor.cpu_threads,
            "loader_threads": model.workers,
            "max_abs_diff": diff,
            "top3_agreement": same,
        }
        for batch in args.batch_sizes:
            ms = medians[(*row, "model", batch)]
            ips = medians[(*row, "e2e", batch)]
            entry[f"model_ms_per_img_b{batch}"] = round(ms, 2)
            entry[f"model_speedup_b{batch}"] = round(medians[("paddle", "fp32", "model", batch)] / ms, 2)
            entry[f"e2e_images_per_s_b{batch}"] = round(ips, 2)
            entry[f"e2e_speedup_b{batch}"] = round(ips / medians[("paddle", "fp32", "e2e", batch)], 2)
        report["rows"].append(entry)
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"{report['model']} @ {args.size}px, {args.images} JPEGs {width}x{height}, {os.cpu_count()} CPUs, "
        f"median of {args.repeats}; auto picks {report['auto']}"
    )
    header = f"{'backend':<12} {'prec':<5} {'thr':>3} {'ld':>2}"
    for batch in args.batch_sizes:
        header += f" {'ms/img b' + str(batch):>11} {'x':>5} {'img/s b' + str(batch):>10} {'x':>5}"
    print(header + f" {'max|diff|':>9} {'top3':>5}")
    for entry in report["rows"]:
        line = f"{entry['backend']:<12} {entry['precision']:<5} {entry['threads']:>3} {entry['loader_threads']:>2}"
        for batch in args.batch_sizes:
            line += (
                f" {entry[f'model_ms_per_img_b{batch}']:>11.1f} {entry[f'model_speedup_b{batch}']:>5.2f}"
                f" {entry[f'e2e_images_per_s_b{batch}']:>10.1f} {entry[f'e2e_speedup_b{batch}']:>5.2f}"
            )
        print(line + f" {entry['max_abs_diff']:>9.1e} {entry['top3_agreement']:>5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
