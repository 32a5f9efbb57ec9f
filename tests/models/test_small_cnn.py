"""SmallCNN_ML, mlcls's own small model: layout, forward at any size, export, and no official files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlcls_cli.errors import ModelUnavailableError
from mlcls_cli.models import build_model, get_model_info

pytestmark = pytest.mark.paddle

LAYOUT = [
    ("backbone.blocks.0.conv.weight", [32, 3, 3, 3]),
    ("backbone.blocks.0.bn.weight", [32]),
    ("backbone.blocks.0.bn.bias", [32]),
    ("backbone.blocks.0.bn._mean", [32]),
    ("backbone.blocks.0.bn._variance", [32]),
    ("backbone.blocks.1.conv.weight", [64, 32, 3, 3]),
    ("backbone.blocks.1.bn.weight", [64]),
    ("backbone.blocks.1.bn.bias", [64]),
    ("backbone.blocks.1.bn._mean", [64]),
    ("backbone.blocks.1.bn._variance", [64]),
    ("backbone.blocks.2.conv.weight", [128, 64, 3, 3]),
    ("backbone.blocks.2.bn.weight", [128]),
    ("backbone.blocks.2.bn.bias", [128]),
    ("backbone.blocks.2.bn._mean", [128]),
    ("backbone.blocks.2.bn._variance", [128]),
    ("fc.weight", [128, 5]),
    ("fc.bias", [5]),
]


def test_layout_and_registry_figures() -> None:
    model = build_model("SmallCNN_ML", 5)
    assert [(k, list(v.shape)) for k, v in model.state_dict().items()] == LAYOUT
    info = get_model_info("SmallCNN_ML")
    total = sum(int(np.prod(v.shape)) for v in build_model("SmallCNN_ML", 80).state_dict().values())
    assert total == info.total_params
    assert not info.official and info.pretrained_url is None and info.inference_urls() == []


@pytest.mark.parametrize("size", [16, 33, 64, 200])
def test_forward_at_any_size(size: int) -> None:
    import paddle

    model = build_model("SmallCNN_ML", 7)
    model.eval()
    assert list(model(paddle.rand([2, 3, size, size])).shape) == [2, 7]


def test_the_output_depends_on_the_image() -> None:
    import paddle

    paddle.seed(0)
    model = build_model("SmallCNN_ML", 3)
    model.eval()
    out = model(paddle.rand([4, 3, 32, 32])).numpy()
    assert np.ptp(out, axis=0).max() > 1e-3


@pytest.mark.parametrize("legacy", [False, True])
def test_exported_package_matches_dygraph(tmp_path: Path, legacy: bool) -> None:
    import paddle

    from mlcls_cli.inference.predictor import Predictor
    from mlcls_cli.models.export import export_model

    paddle.seed(1)
    model = build_model("SmallCNN_ML", 4)
    model.eval()
    export_model(
        model,
        tmp_path / "pkg",
        model_name="SmallCNN_ML",
        label_list=list("abcd"),
        input_size=64,
        legacy_format=legacy,
    )
    batch = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype("float32")
    expected = 1 / (1 + np.exp(-model(paddle.to_tensor(batch)).numpy()))
    got = Predictor(tmp_path / "pkg", device="cpu", backend="paddle").run(batch)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_no_official_files_to_download() -> None:
    from mlcls_cli.hub import ensure_inference_model, ensure_pretrained_weights

    for ensure in (ensure_inference_model, ensure_pretrained_weights):
        with pytest.raises(ModelUnavailableError, match="mlcls's own model") as info:
            ensure("SmallCNN_ML")
        assert "--no-pretrained" in (info.value.hint or "")
