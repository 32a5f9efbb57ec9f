"""Forward latency of the zoo models: eager (dygraph) versus the exported inference package.

For each model: build it (random weights; latency does not depend on their values),
time ``model(x)`` in eval mode under ``paddle.no_grad``, export it with
:func:`mlcls_cli.models.export.export_model` and time the package through
``paddle.inference`` (CPU, oneDNN on, default settings unless ``--threads``),
for each batch size. Prints one table row per model and batch: ms per image
(median over the timed repeats) and the dygraph/exported ratio.

    python benchmarks/bench_models.py --models PP-LCNet_x1_0_ML ResNet50_ML
    python benchmarks/bench_models.py --size 224 --batch-sizes 1 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlcls_cli.models.registry import model_names


@dataclass
class Row:
    model: str
    batch: int
    dygraph_ms: float
    exported_ms: float

    @property
    def ratio(self) -> float:
        return self.dygraph_ms / self.exported_ms


def _median_ms_per_image(run: Callable[[], None], batch: int, warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0 / batch


def _dygraph_runner(model, x: np.ndarray) -> Callable[[], None]:
    import paddle

    tensor = paddle.to_tensor(x)

    def run() -> None:
        with paddle.no_grad():
            model(tensor).numpy()  # .numpy() waits for the result

    return run


def _predictor_runner(package: Path, x: np.ndarray, threads: int | None) -> Callable[[], None]:
    from paddle import inference

    from mlcls_cli.models.export import find_model_files

    model_file, params_file = find_model_files(package)
    config = inference.Config(str(model_file), str(params_file))
    config.disable_glog_info()
    if threads:
        config.set_cpu_math_library_num_threads(threads)
    predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    output = predictor.get_output_handle(predictor.get_output_names()[0])

    def run() -> None:
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(x)
        predictor.run()
        output.copy_to_cpu()

    return run


def bench_model(
    name: str, size: int, batches: list[int], warmup: int, repeats: int, threads: int | None
) -> list[Row]:
    """Time one zoo model eagerly and exported, for each batch size."""
    import paddle

    from mlcls_cli.models import build_model
    from mlcls_cli.models.export import export_model

    paddle.seed(0)
    model = build_model(name)
    model.eval()
    rng = np.random.default_rng(0)
    inputs = {b: rng.uniform(-2, 2, (b, 3, size, size)).astype("float32") for b in batches}
    dygraph = {
        b: _median_ms_per_image(_dygraph_runner(model, inputs[b]), b, warmup, repeats) for b in batches
    }
    with tempfile.TemporaryDirectory(prefix="mlcls-bench-") as tmp:
        start = time.perf_counter()
        package = export_model(
            model,
            Path(tmp) / "inference",
            model_name=name,
            label_list=[str(i) for i in range(80)],
            input_size=size,
        )
        print(f"  exported {name} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        rows = []
        for b in batches:
            exported = _median_ms_per_image(
                _predictor_runner(package, inputs[b], threads), b, warmup, repeats
            )
            rows.append(Row(name, b, dygraph[b], exported))
    return rows


def format_table(rows: list[Row]) -> str:
    """Render the rows as a fixed-width text table."""
    header = (
        f"{'model':<30} {'batch':>5} {'dygraph ms/img':>15} {'exported ms/img':>16} {'dygraph/exported':>17}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.model:<30} {r.batch:>5} {r.dygraph_ms:>15.1f} {r.exported_ms:>16.1f} {r.ratio:>16.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=model_names(), choices=model_names(), metavar="NAME")
    parser.add_argument("--size", type=int, default=448, help="square input side in pixels (default 448)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8], metavar="N")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs; the median is reported (default 5)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="paddle.inference CPU math threads (default: its own, 1)"
    )
    args = parser.parse_args(argv)

    import paddle

    print(
        f"paddle {paddle.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"input {args.size}x{args.size}, warmup {args.warmup}, repeats {args.repeats} (median), "
        f"inference threads {args.threads or 'default'}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    rows: list[Row] = []
    for name in args.models:
        print(f"benchmarking {name} ...", file=sys.stderr)
        rows.extend(bench_model(name, args.size, args.batch_sizes, args.warmup, args.repeats, args.threads))
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
