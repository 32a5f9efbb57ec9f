"""Recipe differences from PaddleClas, measured: each variant trained over several seeds on the same data.

Two places where mlcls's multi-label recipe departed from PaddleClas's (issue 11):

- RandAugmentV4's "cutout" operation: PaddleClas blanks a square of half-size 0-20 px
  whatever the input size; mlcls used to scale that by ``size / 448`` (the recipe's size),
  so at 64 px PaddleClas's hole can cover 40x40 of the 64x64 image and the scaled one at
  most 6x6. No measurable difference (RESULTS.md), so mlcls now does as PaddleClas.
- The EMA decay: PaddleClas uses a fixed 0.9997; mlcls warms it up,
  ``0.9997 x (1 - exp(-updates / 2000))``, so an EMA of a short run is not its initial
  weights. Kept (RESULTS.md); ``Train.ema_warmup_tau=0`` gives PaddleClas's.

Variants: ``mlcls`` (the packaged recipe: PaddleClas's cutout, warmed-up EMA),
``scaled-cutout`` (the cutout scaled by ``size / 448``), ``pc-ema`` (PaddleClas's fixed
decay), ``scaled+pc-ema`` (both). The scaled-cutout variants run the CLI in a child
process that swaps in a scaled cutout operation; everything else is the packaged recipe. Prints, per variant, the best val
mAP (the better of the raw and EMA weights, as the trainer keeps) and the best EMA mAP,
as mean, min and max over seeds.

    python benchmarks/bench_recipe.py                                  # SmallCNN_ML, sample dataset, 30 epochs, 5 seeds
    python benchmarks/bench_recipe.py --model PP-LCNet_x1_0_ML --epochs 20 --seeds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {
    "mlcls": {"cutout": "fixed", "overrides": []},
    "scaled-cutout": {"cutout": "scaled", "overrides": []},
    "pc-ema": {"cutout": "fixed", "overrides": ["Train.ema_warmup_tau=0"]},
    "scaled+pc-ema": {"cutout": "scaled", "overrides": ["Train.ema_warmup_tau=0"]},
}


def child(argv: list[str]) -> None:
    """Run ``mlcls train argv`` in this process with the cutout half-size scaled by ``min(w, h) / 448``."""
    from mlcls_cli.engine import randaugment

    plain = randaugment.OPERATIONS["cutout"]
    randaugment.OPERATIONS["cutout"] = lambda img, m, rng: plain(img, m * min(img.size) / 448, rng)
    from mlcls_cli.cli.app import main

    sys.argv = ["mlcls", *argv]
    main()


def run(args: argparse.Namespace, variant: str, seed: int, out: Path) -> dict[str, float]:
    """Train one variant and seed; return its best score and best EMA score."""
    spec = VARIANTS[variant]
    argv = [
        "train", str(args.dataset), "--model", args.model, "--no-pretrained", "--device", "cpu",
        "--epochs", str(args.epochs), "--image-size", str(args.image_size), "--batch-size", str(args.batch_size),
        "--output", str(out), "-q", "--json",
        "-o", f"Train.seed={seed}", "-o", "Train.eval_interval=1", "-o", "Train.keep_epoch_checkpoints=0",
        *[a for o in spec["overrides"] for a in ("-o", o)],
    ]  # fmt: skip
    if spec["cutout"] == "scaled":
        code = f"import sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); import bench_recipe; "
        code += f"bench_recipe.child({argv!r})"
        cmd = [sys.executable, "-c", code]
    else:
        cmd = [sys.executable, "-m", "mlcls_cli", *argv]
    subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["type"] == "eval"]
    ema = [r["MultiLabelMAP_ema"] for r in evals if r.get("MultiLabelMAP_ema") is not None]
    return {"best": max(r["score"] for r in evals), "best_ema": max(ema) if ema else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="SmallCNN_ML")
    parser.add_argument("--dataset", type=Path, default=REPO / "examples" / "sample_dataset")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    print(
        f"{args.model} on {args.dataset.name}, {args.image_size} px, batch {args.batch_size}, "
        f"{args.epochs} epochs, seeds 0-{args.seeds - 1}"
    )
    results: dict[str, list[dict[str, float]]] = {v: [] for v in args.variants}
    with tempfile.TemporaryDirectory(prefix="mlcls-bench-recipe-") as tmp:
        for seed in range(args.seeds):  # seeds outermost: a drift of the machine hits every variant alike
            for variant in args.variants:
                result = run(args, variant, seed, Path(tmp) / f"{variant}-{seed}")
                results[variant].append(result)
                print(
                    f"  seed {seed} {variant:11s} best {result['best']:.4f}  best EMA {result['best_ema']:.4f}"
                )
    for variant, runs in results.items():
        best = [r["best"] for r in runs]
        ema = [r["best_ema"] for r in runs]
        print(
            f"{variant:11s} best mAP mean {statistics.mean(best):.4f} (min {min(best):.4f}, max {max(best):.4f}); "
            f"best EMA mAP mean {statistics.mean(ema):.4f} (min {min(ema):.4f}, max {max(ema):.4f})"
        )


if __name__ == "__main__":
    main()
