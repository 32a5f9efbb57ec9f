"""Run PaddleClas's own models on the deterministic weights and input of ``golden.py``; store the logits.

A development tool, not a test: it needs a PaddleClas checkout and an environment where
``ppcls`` imports (paddlepaddle, scikit-learn, opencv, ...). The tests compare mlcls's
models with the stored ``golden/<Model>.npz`` files, so they run without PaddleClas.

    python tests/models/make_goldens.py --paddleclas /path/to/PaddleClas PP-LCNet_x0_25 ResNet18_vd
    python tests/models/make_goldens.py --paddleclas /path/to/PaddleClas --all

The goldens in this repository were made with PaddleClas d178931f (2024-10-18) and
paddlepaddle 3.3.1 on CPU.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from tests.models.golden import GOLDEN_DIR, fill, golden_input  # noqa: E402

_L = "ppcls.arch.backbone.legendary_models."
_Z = "ppcls.arch.backbone.model_zoo."
NUM_CLASSES = 10
GAINS = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0)


def _table() -> dict[str, tuple[str, str, int]]:
    """Our model name -> (PaddleClas module, function, golden input size)."""
    table: dict[str, tuple[str, str, int]] = {}
    for s in ("x0_25", "x0_35", "x0_5", "x0_75", "x1_0", "x1_5", "x2_0", "x2_5"):
        table[f"PP-LCNet_{s}"] = (_L + "pp_lcnet", f"PPLCNet_{s}", 64)
    for s in ("small", "base", "large"):
        table[f"PP-LCNetV2_{s}"] = (_L + "pp_lcnet_v2", f"PPLCNetV2_{s}", 64)
    for b in range(7):
        table[f"PP-HGNetV2-B{b}"] = (_L + "pp_hgnet_v2", f"PPHGNetV2_B{b}", 64)
    for s in ("tiny", "small", "base"):
        table[f"PP-HGNet_{s}"] = (_L + "pp_hgnet", f"PPHGNet_{s}", 64)
    for d in (18, 34, 50, 101, 152):
        table[f"ResNet{d}"] = (_L + "resnet", f"ResNet{d}", 64)
    for d in (18, 34, 50, 101, 152, 200):
        table[f"ResNet{d}_vd"] = (_L + "resnet", f"ResNet{d}_vd", 64)
    for s in ("x0_25", "x0_5", "x0_75"):
        table[f"MobileNetV1_{s}"] = (_L + "mobilenet_v1", f"MobileNetV1_{s}", 64)
    table["MobileNetV1_x1_0"] = (_L + "mobilenet_v1", "MobileNetV1", 64)
    for s in ("x0_25", "x0_5", "x1_5", "x2_0"):
        table[f"MobileNetV2_{s}"] = (_Z + "mobilenet_v2", f"MobileNetV2_{s}", 64)
    table["MobileNetV2_x1_0"] = (_Z + "mobilenet_v2", "MobileNetV2", 64)
    for size in ("large", "small"):
        for s in ("x0_35", "x0_5", "x0_75", "x1_0", "x1_25"):
            table[f"MobileNetV3_{size}_{s}"] = (_L + "mobilenet_v3", f"MobileNetV3_{size}_{s}", 64)
    for s in ("conv_small", "conv_medium", "conv_large", "hybrid_medium", "hybrid_large"):
        table[f"MobileNetV4_{s}"] = (_L + "mobilenet_v4", f"MobileNetV4_{s}", 64)
    for s in ("tiny", "small", "base_224", "base_384", "large_224", "large_384"):
        table[f"ConvNeXt_{s}"] = (_Z + "convnext", f"ConvNeXt_{s}", 64)
    for s in ("T0", "T1", "T2", "S", "M", "L"):
        table[f"FasterNet-{s}"] = (_Z + "fasternet", f"FasterNet_{s}", 64)
    for s in ("S1", "S2", "S3", "S4"):
        table[f"StarNet-{s}"] = (_Z + "starnet", f"StarNet_{s}", 64)
    for name, size in (
        ("tiny_patch4_window7_224", 224),
        ("small_patch4_window7_224", 224),
        ("base_patch4_window7_224", 224),
        ("base_patch4_window12_384", 384),
        ("large_patch4_window7_224", 224),
        ("large_patch4_window12_384", 384),
    ):
        table[f"SwinTransformer_{name}"] = (_L + "swin_transformer", f"SwinTransformer_{name}", size)
    table["CLIP_vit_base_patch16_224"] = (_Z + "foundation_vit", "CLIP_vit_base_patch16_224", 224)
    table["CLIP_vit_large_patch14_224"] = (_Z + "foundation_vit", "CLIP_vit_large_patch14_224", 224)
    return table


TABLE = _table()


def make(name: str) -> Path:
    """Build PaddleClas's ``name`` with NUM_CLASSES outputs, fill it, run the golden input, save the logits.

    The first gain of GAINS whose logits are of moderate size (mean |y| in 0.05..100) and
    tell the two images apart (mean |y0 - y1| above 2 % of mean |y|) is kept.
    """
    import paddle

    module, func, size = TABLE[name]
    model = getattr(importlib.import_module(module), func)(pretrained=False, class_num=NUM_CLASSES)
    model.eval()
    data = paddle.to_tensor(golden_input(size))
    for gain in GAINS:
        fill(model, gain)
        with paddle.no_grad():
            logits = model(data).numpy()
        size_ok = 0.05 <= float(np.abs(logits).mean()) <= 100
        if size_ok and float(np.abs(logits[0] - logits[1]).mean()) > 0.02 * float(np.abs(logits).mean()):
            break
    else:
        raise SystemExit(f"{name}: no gain of {GAINS} gives usable logits")
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    out = GOLDEN_DIR / f"{name}.npz"
    np.savez_compressed(
        out,
        logits=logits.astype(np.float32),
        size=np.int64(size),
        num_classes=np.int64(NUM_CLASSES),
        gain=np.float64(gain),
    )
    return out


def main(argv: list[str] | None = None) -> int:
    """Make the goldens of the models named (or of all with ``--all``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paddleclas", type=Path, required=True, help="a PaddleClas checkout")
    parser.add_argument("--all", action="store_true")
    parser.add_argument("models", nargs="*")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(args.paddleclas))
    from ppcls.utils import logger

    logger.init_logger()
    for name in TABLE if args.all else args.models:
        path = make(name)
        with np.load(path) as data:
            print(f"{name}: {path.name} {data['logits'].shape}, gain {float(data['gain'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
