"""Helpers shared by the benchmark scripts: photo-like JPEGs and an exported model with random weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_images(folder: Path, count: int, width: int, height: int) -> list[Path]:
    """JPEGs with smooth gradients and noise (compress and decode like photos, unlike pure noise)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for i in range(count):
        base = np.stack(
            [128 + 100 * np.sin(xx / (20 + i) + c) * np.cos(yy / (30 + 2 * c + i)) for c in range(3)],
            axis=-1,
        )
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        path = folder / f"img_{i:04d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def export_random(model_name: str, size: int, out: Path, num_classes: int = 80) -> Path:
    """Export ``model_name`` with random weights (speed does not depend on their values); returns the package."""
    import paddle

    from mlcls_cli.models import build_model
    from mlcls_cli.models.export import export_model

    paddle.seed(0)
    model = build_model(model_name, num_classes=num_classes)
    model.eval()
    return export_model(
        model, out, model_name=model_name, label_list=[f"c{i}" for i in range(num_classes)], input_size=size
    )
