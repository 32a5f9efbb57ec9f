"""From-scratch training of a zoo model on small data: how it fails, and which recipe variant helps.

Issue 11 reported that PP-LCNet + ML-Decoder trained from scratch on a few hundred small
images memorises the training set and that some classes *saturate*: raw logits of +11
to +14 on every image, a false positive that the asymmetric loss (probability clip 0.05,
gamma_neg 4) hardly corrects. This trains ``--model`` from scratch on the bundled sample
dataset (or a larger one drawn the same way, ``--train-images``) with each recipe variant and seed, then reads the best weights' raw logits on
the train and val splits and prints:

- best val mAP and the train mAP of the same weights (the generalisation gap);
- saturation: the share of negative (image, class) pairs scored above logit 5 (a
  probability over 0.993), and the classes whose val logits are above 5 on every image.

Variants (``--variants``): ``recipe`` (the packaged one), ``bce`` (gamma_neg 0, clip 0:
plain binary cross-entropy, so a confident false positive is fully penalised),
``no-aug`` (no Cutout/RandAugment), ``low-lr`` and ``high-lr`` (the learning rate / 10 and x 10).

    python benchmarks/bench_scratch.py --model PP-LCNet_x1_0_ML --epochs 20 --seeds 2
"""

from __future__ import annotations

import argparse
import runpy
import statistics
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO / "examples" / "sample_dataset"
SATURATED = 5.0
VARIANTS: dict[str, list[str]] = {
    "recipe": [],
    "bce": ["Train.loss_gamma_neg=0", "Train.loss_clip=0"],
    "no-aug": ["Train.cutout=false", "Train.randaugment=false"],
    "low-lr": [],  # the learning rate / 10, set below
    "high-lr": [],  # the learning rate x 10
}


def logits_of(
    dataset: Path, model_name: str, weights: str, split: str, image_size: int, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Raw logits of ``weights`` on ``split`` of ``dataset``, with the multi-hot targets."""
    from mlcls_cli.data.listfile import load_samples
    from mlcls_cli.engine.dataset import MultiLabelDataset, build_loader
    from mlcls_cli.engine.evaluator import predict_logits
    from mlcls_cli.engine.transforms import build_eval_transform
    from mlcls_cli.models import build_model
    from mlcls_cli.models.weights import load_weights

    samples = load_samples(dataset / f"{split}.txt", classes)
    data = MultiLabelDataset(dataset, samples, classes, build_eval_transform(image_size), train=False)
    net = build_model(model_name, classes)
    load_weights(net, weights, strict=True, skip_head_on_mismatch=False)
    logits = predict_logits(net, build_loader(data, batch_size=16, shuffle=False, drop_last=False))
    return logits, np.array([s.labels for s in samples], dtype=float)


def run(args: argparse.Namespace, dataset: Path, variant: str, seed: int, out: Path) -> dict[str, Any]:
    """Train one variant from scratch and measure its best weights."""
    from mlcls_cli import console
    from mlcls_cli.config import resolve_config
    from mlcls_cli.engine.trainer import Trainer, plan_training
    from mlcls_cli.metrics.ap import mean_average_precision

    console.state.quiet = True
    overrides = [
        f"Global.output={out}", "Global.device=cpu", "Train.pretrain_weight_path=null",
        f"Train.image_size={args.image_size}", f"Train.epochs_iters={args.epochs}",
        f"Train.batch_size={args.batch_size}", f"Train.seed={seed}", "Train.keep_epoch_checkpoints=0",
        "Train.log_interval=1000", *VARIANTS[variant],
    ]  # fmt: skip
    if variant in ("low-lr", "high-lr"):
        lr = resolve_config(args.model).get("Train.learning_rate")
        overrides.append(f"Train.learning_rate={lr / 10 if variant == 'low-lr' else lr * 10}")
    cfg = resolve_config(args.model, overrides=overrides)
    summary = Trainer(plan_training(cfg, dataset)[0]).fit()
    classes = summary["num_classes"]
    weights = summary["best"]["pdparams"]
    val, val_y = logits_of(dataset, args.model, weights, "val", args.image_size, classes)
    train, train_y = logits_of(dataset, args.model, weights, "train", args.image_size, classes)
    both = np.concatenate([val, train])
    both_y = np.concatenate([val_y, train_y])
    negatives = both[both_y == 0]
    return {
        "val_map": summary["best"]["MultiLabelMAP"],
        "train_map": mean_average_precision(train, train_y),
        "saturated_negatives": float((negatives > SATURATED).mean()),
        "always_on": int((val > SATURATED).all(axis=0).sum()),
        "max_logit": float(both.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="PP-LCNet_x1_0_ML")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--train-images",
        type=int,
        default=0,
        help="draw a dataset of this many training scenes (and a quarter as many val) with "
        "examples/make_sample_dataset.py instead of using the bundled one",
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(
        f"{args.model} from scratch on {f'{args.train_images} drawn scenes' if args.train_images else 'sample_dataset'}, {args.image_size} px, batch {args.batch_size}, {args.epochs} epochs"
    )
    rows: dict[str, list[dict[str, Any]]] = {v: [] for v in args.variants}
    with tempfile.TemporaryDirectory(prefix="mlcls-bench-scratch-") as tmp:
        dataset = DATASET
        if args.train_images:
            maker = runpy.run_path(str(REPO / "examples" / "make_sample_dataset.py"))
            dataset = Path(tmp) / "data"
            maker["make_dataset"](dataset, n_train=args.train_images, n_val=max(8, args.train_images // 4))
        for seed in range(args.seeds):
            for variant in args.variants:
                r = run(args, dataset, variant, seed, Path(tmp) / f"{variant}-{seed}")
                rows[variant].append(r)
                print(
                    f"  seed {seed} {variant:7s} val mAP {r['val_map']:.4f}  train mAP {r['train_map']:.4f}  "
                    f"saturated negatives {r['saturated_negatives']:.3f}  always-on classes {r['always_on']}  "
                    f"max logit {r['max_logit']:.1f}",
                    flush=True,
                )
    for variant, runs in rows.items():
        mean = {k: statistics.mean(r[k] for r in runs) for k in runs[0]}
        print(
            f"{variant:7s} val mAP {mean['val_map']:.4f}  train mAP {mean['train_map']:.4f}  "
            f"saturated negatives {mean['saturated_negatives']:.3f}  always-on classes {mean['always_on']:.1f}"
        )


if __name__ == "__main__":
    main()
