"""build_model: registry lookup, lazy paddle import, class count, and delegation to every builder."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mlcls_cli.errors import ExitCode, UsageError
from mlcls_cli.models import build_model, get_model_info, model_names
from mlcls_cli.models.registry import MODELS
from tests.models.tsv import read_tsv, state_dict_rows

HEAD_KEYS = ("query_pos_embed.weight", "group_conv.weight", "group_conv.bias")


def test_importing_models_does_not_import_paddle() -> None:
    code = "import sys, mlcls_cli.models, mlcls_cli.models.builders; print('paddle' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_reexports() -> None:
    assert model_names() == list(MODELS)
    assert get_model_info("PP-LCNet_x1_0_ML").in_channels == 1280


def test_unknown_name_is_a_usage_error_with_a_suggestion() -> None:
    with pytest.raises(UsageError) as info:
        build_model("PP-HGNetV2-B4-ML")
    assert info.value.exit_code == ExitCode.USAGE
    assert "PP-HGNetV2-B4_ML" in (info.value.hint or "")


@pytest.mark.parametrize("bad", [0, -3, 2.5, "33", True])
def test_bad_class_count_is_a_usage_error(bad) -> None:
    with pytest.raises(UsageError, match="num_classes"):
        build_model("PP-LCNet_x1_0_ML", num_classes=bad)


def test_every_registered_builder_exists() -> None:
    import importlib

    for info in MODELS.values():
        module, _, func = info.builder.partition(":")
        assert callable(getattr(importlib.import_module(module), func)), info.name


def _head_prefix(name: str) -> str:
    return "head." if name.startswith("CLIP") else "fc."


@pytest.mark.paddle
@pytest.mark.parametrize(
    "name",
    [
        "PP-LCNet_x1_0_ML",
        "PP-HGNetV2-B0_ML",
        "PP-HGNetV2-B4_ML",
        pytest.param("PP-HGNetV2-B6_ML", marks=pytest.mark.slow),
    ],
)
def test_cnn_models_with_33_classes(name: str) -> None:
    import paddle

    model = build_model(name, num_classes=np.int64(33))
    model.eval()
    out = model(paddle.rand([2, 3, 64, 64]))
    assert list(out.shape) == [2, 33]
    want = []
    for key, shape in read_tsv(name):  # the 80-class layout with the class-dependent head entries resized
        if key.startswith("fc.") and key[3:] in HEAD_KEYS:
            shape = [33, *shape[1:]]
        want.append((key, shape))
    assert state_dict_rows(model) == want


@pytest.mark.paddle
@pytest.mark.parametrize(
    "name", ["ResNet50_ML", pytest.param("CLIP_vit_base_patch16_448_ML", marks=pytest.mark.slow)]
)
def test_delegated_models_with_33_classes(name: str) -> None:
    import paddle

    model = build_model(name, num_classes=33)
    model.eval()
    assert list(model(paddle.rand([1, 3, 64, 64])).shape) == [1, 33]
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    prefix = _head_prefix(name)
    assert shapes[prefix + "group_conv.weight"] == [33, 768, 1, 1]
    assert shapes[prefix + "group_conv.bias"] == [33]
    assert shapes[prefix + "query_pos_embed.weight"] == [33, 768]
