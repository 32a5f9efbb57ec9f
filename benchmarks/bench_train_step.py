"""What makes a CPU training step faster? Variants of one step, timed side by side on preloaded tensors.

One step is forward, the task's loss, backward, optimizer step and clear_grad, on a
batch already in memory (data loading is measured apart, see below). Variants:

- ``dygraph``: the plain eager loop (what ``mlcls train`` runs; the baseline);
- ``to_static``: the model's forward converted with ``paddle.jit.to_static`` (the
  backward runs through the converted program too), same optimizer;
- ``multi_tensor``: the eager loop with ``Adam(use_multi_tensor=True)`` (one fused update
  for all parameters; paddle's AdamW has no such path, so this is an upper bound of what
  fusing the update could give, not a drop-in);
- ``bf16``: the eager loop under ``paddle.amp.auto_cast(dtype="bfloat16", level="O1")``
  (oneDNN bf16 kernels; this CPU has AMX);
- ``threads``: the eager loop with one math thread per core (paddle's CPU default is one
  thread; every other variant runs with one);
- ``loader``: not a step: how many images/s the training transform (decode, resize,
  Cutout, RandAugment, normalise) gives in this process, to tell whether loading in
  worker processes could pay off at that size.

The variants are timed in rounds (each variant once per round, the order rotating), and
the median over rounds is reported with the ratio to ``dygraph``.

    python benchmarks/bench_train_step.py --model PP-LCNet_x1_0_ML --sizes 64 224 448 --batch-size 8
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np


def make_step(variant: str, model_name: str, size: int, batch: int, classes: int) -> Callable[[], None]:
    """Build a model, optimizer and batch for ``variant``; return a function running one training step."""
    import paddle

    from mlcls_cli.engine.loss import AsymmetricLoss
    from mlcls_cli.engine.optim import trainable_parameters
    from mlcls_cli.models import build_model

    paddle.seed(0)
    model = build_model(model_name, classes)
    model.train()
    params = trainable_parameters(model)
    if variant == "multi_tensor":  # paddle's AdamW has no multi-tensor path; Adam's is the upper bound
        optimizer: Any = paddle.optimizer.Adam(learning_rate=1e-4, parameters=params, use_multi_tensor=True)
    else:
        optimizer = paddle.optimizer.AdamW(learning_rate=1e-4, parameters=params, weight_decay=1e-4)
    loss_fn = AsymmetricLoss()
    rng = np.random.default_rng(0)
    x = paddle.to_tensor(rng.normal(size=(batch, 3, size, size)).astype("float32"))
    y = paddle.to_tensor((rng.random((batch, classes)) > 0.5).astype("float32"))
    forward: Any = model
    if variant == "to_static":
        spec = [paddle.static.InputSpec([None, 3, size, size], "float32")]
        forward = paddle.jit.to_static(model, input_spec=spec, full_graph=True)

    def step() -> None:
        if variant == "bf16":
            with paddle.amp.auto_cast(dtype="bfloat16", level="O1"):
                logits = forward(x)
            loss = loss_fn(logits.astype("float32"), y)
        else:
            loss = loss_fn(forward(x), y)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()

    return step


def make_loader_step(size: int, batch: int) -> Callable[[], None]:
    """One batch of the multi-label training transform on PNG-encoded 640x480 photos-like images."""
    from PIL import Image

    from mlcls_cli.engine.transforms import build_train_transform

    rng = np.random.default_rng(0)
    blobs = []
    for _ in range(batch):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(buffer, format="JPEG")
        blobs.append(buffer.getvalue())
    transform = build_train_transform(size)
    draw = np.random.default_rng(1)

    def step() -> None:
        for blob in blobs:
            with Image.open(io.BytesIO(blob)) as image:
                transform(image.convert("RGB"), draw)

    return step


def time_steps(step: Callable[[], None], steps: int, threads: int = 1) -> float:
    """Seconds per step over ``steps`` steps, with ``threads`` math threads."""
    from paddle.base import core

    core.set_num_threads(threads)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="PP-LCNet_x1_0_ML")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224, 448])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="timed seconds per variant and round")
    parser.add_argument(
        "--variants", nargs="+", default=["dygraph", "to_static", "multi_tensor", "bf16", "threads", "loader"]
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import paddle

    paddle.set_device("cpu")
    print(
        f"{args.model}, batch {args.batch_size}, {args.classes} classes; paddle {paddle.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    )
    for size in args.sizes:
        steps: dict[str, Callable[[], None]] = {}
        per_step: dict[str, int] = {}
        for variant in args.variants:
            try:
                if variant == "loader":
                    steps[variant] = make_loader_step(size, args.batch_size)
                else:
                    kind = "dygraph" if variant == "threads" else variant
                    steps[variant] = make_step(kind, args.model, size, args.batch_size, args.classes)
                steps[variant]()  # warm-up (and conversion for to_static)
                first = time_steps(steps[variant], 1)
                per_step[variant] = max(1, int(args.seconds / max(first, 1e-6)))
            except Exception as exc:  # a variant this paddle build cannot run is reported, not fatal
                print(
                    f"  {size} px {variant}: failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                )
                steps.pop(variant, None)
        times: dict[str, list[float]] = {v: [] for v in steps}
        names = list(steps)
        for r in range(args.rounds):
            for variant in names[r % len(names) :] + names[: r % len(names)]:
                threads = (os.cpu_count() or 1) if variant == "threads" else 1
                times[variant].append(time_steps(steps[variant], per_step[variant], threads))
        base = statistics.median(times["dygraph"]) if "dygraph" in times else None
        for variant in names:
            seconds = statistics.median(times[variant])
            ips = args.batch_size / seconds
            ratio = f"  {base / seconds:5.2f}x dygraph" if base and variant != "loader" else ""
            print(f"  {size:4d} px {variant:13s} {ips:8.2f} images/s{ratio}")


if __name__ == "__main__":
    main()
