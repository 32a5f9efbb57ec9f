"""Training throughput: `mlcls train` against a bare paddle loop on the same model, batch and input size.

The CLI runs as a subprocess (``python -m mlcls_cli train``) on a synthetic dataset:
scenes from ``examples/make_sample_dataset.py`` for a multi-label model, shapes from
``examples/make_sample_cls_dataset.py`` for a single-label one. Its images/s come from
the per-epoch records of ``metrics.jsonl``: the training loop as the CLI runs it (data
loading and augmentation, forward, the task's loss, NaN check, backward, optimizer
step, schedule step, EMA update when the recipe has one, Mixup/CutMix when it has
them, progress), without start-up, evaluation or checkpoints; the first epoch is a
warm-up and is left out. The floor is a bare loop on tensors preloaded before timing:
forward, the same loss, backward, the recipe's optimizer step, nothing else; it runs
before and after the CLI and the mean is used. Prints both and the ratio (target: at
least 0.90 on CPU).

Then a learning check, so that a change that hurts learning shows up as a number: the
CLI trains a model that can learn from scratch (``SmallCNN_ML`` on the bundled
``examples/sample_dataset``, or ``SmallCNN`` on ``examples/sample_cls_dataset`` for a
single-label model; ``--learning-model`` chooses another) for a fixed number of epochs
with the packaged recipe, over several seeds, and prints the validation metric after
the last epoch and the best one (mean, min, max), next to chance level.

    python benchmarks/bench_train.py
    python benchmarks/bench_train.py --model PP-LCNet_x1_0        # single-label, its family's recipe
    python benchmarks/bench_train.py --image-size 64 --batch-size 16 --epochs 4 --train-images 160
    python benchmarks/bench_train.py --skip-throughput --learning-seeds 5     # the learning check alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def single_label(model: str) -> bool:
    from mlcls_cli.models.registry import TASK_CLS, get_model_info

    return get_model_info(model).task == TASK_CLS


def make_data(root: Path, train_images: int, size: int, model: str) -> tuple[Path, int]:
    """Write a synthetic dataset for ``model``'s task with about ``train_images`` training images; returns (root, classes)."""
    if single_label(model):
        maker = runpy.run_path(str(REPO / "examples" / "make_sample_cls_dataset.py"))
        maker["make_dataset"](root, train_per_class=-(-train_images // 5), val_per_class=2, size=size)
        return root, 5
    maker = runpy.run_path(str(REPO / "examples" / "make_sample_dataset.py"))
    maker["make_dataset"](root, n_train=train_images, n_val=8, size=size)
    return root, 6


def run_cli(dataset: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    """Train with the real CLI; return the steady-state training images/s and the wall time."""
    cmd = [
        sys.executable, "-m", "mlcls_cli", "train", str(dataset), "--model", args.model, "--no-pretrained",
        "--device", "cpu", "--image-size", str(args.image_size), "--batch-size", str(args.batch_size),
        "--epochs", str(args.epochs), "--lr", "0.001", "-O", str(out), "-q",
        "-o", "Train.warmup_steps=1", "-o", f"Train.eval_interval={args.epochs}",
        "-o", f"Train.save_interval={args.epochs + 1}", "-o", "Train.log_interval=1000",
    ]  # fmt: skip
    if not args.augment and single_label(args.model):
        cmd += ["-o", "Train.randaugment=false", "-o", "Train.random_erasing=0"]
        cmd += ["-o", "Train.mixup_alpha=0", "-o", "Train.cutmix_alpha=0"]
    elif not args.augment:
        cmd += ["-o", "Train.cutout=false", "-o", "Train.randaugment=false"]
    if args.workers is not None:
        cmd += ["-o", f"Train.num_workers={args.workers}"]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in records if r["type"] == "epoch"][1:]
    images = sum(r["images"] for r in epochs)
    seconds = sum(r["seconds"] for r in epochs)
    return {"images_per_s": images / seconds, "images": images, "seconds": seconds, "wall_s": wall}


def learning_check(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Train ``args.learning_model`` on the bundled sample dataset per seed; the val metric after the last epoch and the best."""
    from mlcls_cli.data.listfile import load_samples

    cls = single_label(args.learning_model)
    dataset = REPO / "examples" / ("sample_cls_dataset" if cls else "sample_dataset")
    names = (dataset / "label.txt").read_text(encoding="utf-8").splitlines()
    metric = "top1" if cls else "MultiLabelMAP"
    if cls:
        chance = 1.0 / len(names)
    else:  # uninformed scores rank positives at random: the AP of a class is its positive rate
        labels = np.array([s.labels for s in load_samples(dataset / "val.txt", len(names))], dtype=float)
        chance = float(labels.mean(axis=0).mean())
    runs = []
    for seed in range(args.learning_seeds):
        out = tmp / f"learn-{seed}"
        cmd = [
            sys.executable, "-m", "mlcls_cli", "train", str(dataset), "--model", args.learning_model,
            "--no-pretrained", "--device", "cpu", "--epochs", str(args.learning_epochs), "-O", str(out), "-q",
            "-o", f"Train.seed={seed}", "-o", "Train.eval_interval=1", "-o", "Train.log_interval=1000",
            "-o", f"Train.save_interval={args.learning_epochs + 1}", "-o", "Train.keep_epoch_checkpoints=0",
            *[arg for pair in args.learning_override for arg in ("-o", pair)],
        ]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        evals = [r for r in records if r["type"] == "eval"]
        runs.append(
            {"seed": seed, "last": evals[-1]["score"], "best": max(r["score"] for r in evals), "wall_s": wall}
        )
    last = [r["last"] for r in runs]
    best = [r["best"] for r in runs]
    return {
        "model": args.learning_model,
        "dataset": dataset.name,
        "epochs": args.learning_epochs,
        "metric": metric,
        "chance": round(chance, 4),
        "last_mean": round(statistics.mean(last), 4),
        "last_min": round(min(last), 4),
        "last_max": round(max(last), 4),
        "best_mean": round(statistics.mean(best), 4),
        "runs": [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in runs],
    }


def run_bare(args: argparse.Namespace, steps: int, classes: int, warmup: int = 3) -> float:
    """Images/s of forward + loss + backward + optimizer step on preloaded tensors."""
    import paddle
    from paddle.base import core

    from mlcls_cli.engine.device import training_threads
    from mlcls_cli.engine.loss import AsymmetricLoss, SmoothedCrossEntropy
    from mlcls_cli.engine.optim import build_optimizer
    from mlcls_cli.engine.recipes import recipe_for
    from mlcls_cli.models import build_model
    from mlcls_cli.models.registry import get_model_info

    paddle.set_device("cpu")
    core.set_num_threads(training_threads(1))  # the same math threads as `mlcls train` uses
    paddle.seed(0)
    model = build_model(args.model, classes)
    model.train()
    rng = np.random.default_rng(0)
    shape = (args.batch_size, 3, args.image_size, args.image_size)
    if single_label(args.model):
        recipe = recipe_for(args.model, get_model_info(args.model).family)
        optimizer, _ = build_optimizer(
            model, learning_rate=1e-3, epochs=1, iters_per_epoch=steps + warmup, warmup_epochs=0,
            optimizer=recipe.optimizer, weight_decay=recipe.weight_decay,
        )  # fmt: skip
        loss_fn: Any = SmoothedCrossEntropy(recipe.label_smoothing)
        targets = [rng.integers(0, classes, args.batch_size).astype("int64") for _ in range(4)]
    else:
        optimizer, _ = build_optimizer(
            model, learning_rate=1e-3, epochs=1, iters_per_epoch=steps + warmup, warmup_epochs=0
        )
        loss_fn = AsymmetricLoss()
        targets = [(rng.random((args.batch_size, classes)) > 0.5).astype("float32") for _ in range(4)]
    batches = [
        (paddle.to_tensor(rng.normal(size=shape).astype("float32")), paddle.to_tensor(y)) for y in targets
    ]

    def step(i: int) -> None:
        x, y = batches[i % len(batches)]
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.clear_grad()

    for i in range(warmup):
        step(i)
    started = time.perf_counter()
    for i in range(steps):
        step(i)
    return steps * args.batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="PP-LCNet_x1_0_ML")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4, help="the first is a warm-up and is not counted")
    parser.add_argument("--train-images", type=int, default=160)
    parser.add_argument(
        "--workers", type=int, default=None, help="Train.num_workers (default: mlcls's choice)"
    )
    parser.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        help="no Cutout/RandAugment/RandomErasing/mixing",
    )
    parser.add_argument("--skip-throughput", action="store_true", help="only the learning check")
    parser.add_argument(
        "--learning-model",
        default=None,
        help="the learning check's model (default: SmallCNN_ML, or SmallCNN for a single-label --model)",
    )
    parser.add_argument("--learning-epochs", type=int, default=20)
    parser.add_argument("--learning-seeds", type=int, default=3, help="0 skips the learning check")
    parser.add_argument(
        "--learning-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for the learning runs (repeatable), e.g. Train.cutout=false",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.learning_model is None:
        args.learning_model = "SmallCNN" if single_label(args.model) else "SmallCNN_ML"
    import warnings

    warnings.filterwarnings("ignore")
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    with tempfile.TemporaryDirectory(prefix="mlcls-bench-train-") as tmp:
        learning = learning_check(args, Path(tmp)) if args.learning_seeds > 0 else None
        if args.skip_throughput:
            report_learning(learning, args.json, machine)
            return
        steps = (args.epochs - 1) * -(-args.train_images // args.batch_size)
        dataset, classes = make_data(Path(tmp) / "data", args.train_images, args.image_size, args.model)
        bare_before = run_bare(args, steps, classes)
        cli = run_cli(dataset, Path(tmp) / "out", args)
        bare_after = run_bare(args, steps, classes)
    bare = statistics.mean([bare_before, bare_after])
    ratio = cli["images_per_s"] / bare
    result = {
        "model": args.model,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "augment": args.augment,
        "timed_images": cli["images"],
        "bare_images_per_s": round(bare, 2),
        "bare_runs": [round(bare_before, 2), round(bare_after, 2)],
        "cli_images_per_s": round(cli["images_per_s"], 2),
        "cli_wall_s": round(cli["wall_s"], 1),
        "ratio": round(ratio, 3),
        "target": 0.9,
        "machine": machine,
        "learning": learning,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{args.model}, {args.image_size}px, batch {args.batch_size}, augment {args.augment}, {result['machine']}"
    )
    print(
        f"bare paddle loop (preloaded tensors): {bare:8.2f} images/s  (runs: {bare_before:.2f}, {bare_after:.2f})"
    )
    print(
        f"mlcls train (training loop)        : {cli['images_per_s']:8.2f} images/s  over {cli['images']} images"
    )
    print(f"ratio                              : {ratio:8.3f}  (target >= 0.90)")
    report_learning(learning, False, None)


def report_learning(learning: dict[str, Any] | None, as_json: bool, machine: str | None) -> None:
    """Print the learning check (JSON when asked)."""
    if as_json:
        print(json.dumps({"machine": machine, "learning": learning}))
        return
    if learning is None:
        return
    seeds = ", ".join(f"{r['last']:.4f}" for r in learning["runs"])
    print(
        f"learning check: {learning['model']} on {learning['dataset']}, {learning['epochs']} epochs, "
        f"{len(learning['runs'])} seeds{f' ({machine})' if machine else ''}"
    )
    print(
        f"  val {learning['metric']} after the last epoch: mean {learning['last_mean']:.4f} "
        f"(min {learning['last_min']:.4f}, max {learning['last_max']:.4f}; seeds: {seeds}); "
        f"best epoch mean {learning['best_mean']:.4f}; chance {learning['chance']:.4f}"
    )


if __name__ == "__main__":
    main()
