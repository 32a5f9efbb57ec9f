"""Checks shared by the MobileNetV1-V4 test files: PaddleClas layout, registry sizes, golden logits."""

from __future__ import annotations

import importlib

import numpy as np

from mlcls_cli.models.registry_cls import single_label_models
from tests.models import golden
from tests.models.tsv import read_tsv, state_dict_rows, total_numel


def family_models(family: str) -> list[str]:
    """Names of the registry's single-label models of ``family``, in registry order."""
    return [info.name for info in single_label_models() if info.family == family]


def assert_paddleclas_layout(name: str) -> None:
    """``name``'s state_dict equals PaddleClas's listing at 1000 classes; at 7 only the classifier changes.

    Also: the total numel is the registry's ``total_params`` and the classifier input is its
    ``in_channels``. The models are built under ``LazyGuard`` (shapes only, no memory).
    """
    import paddle

    from mlcls_cli.models import build_model, get_model_info

    info = get_model_info(name)
    with paddle.LazyGuard():
        model = build_model(name, 1000)
        seven = build_model(name, 7)
    rows = state_dict_rows(model)
    assert rows == read_tsv(name)
    assert total_numel(model) == info.total_params
    (weight_key, weight_shape), (bias_key, bias_shape) = rows[-2:]
    assert weight_key.endswith(".weight") and bias_key.endswith(".bias")
    assert weight_shape == [info.in_channels, 1000] and bias_shape == [1000]
    assert state_dict_rows(seven) == [*rows[:-2], (weight_key, [info.in_channels, 7]), (bias_key, [7])]


def golden_logits(name: str, **build_kwargs) -> tuple[np.ndarray, np.ndarray]:
    """(ours, PaddleClas's) eval-mode logits on the golden weights and input of ``name``.

    Ours is built by the registry's builder with ``build_kwargs`` added to the registry's own.
    """
    import paddle

    from mlcls_cli.models import get_model_info

    info = get_model_info(name)
    stored = golden.load_golden(name)
    module_name, _, func_name = info.builder.partition(":")
    builder = getattr(importlib.import_module(module_name), func_name)
    model = builder(int(stored["num_classes"]), **dict(info.builder_kwargs), **build_kwargs)
    golden.fill(model, float(stored["gain"]))
    model.eval()
    with paddle.no_grad():
        ours = model(paddle.to_tensor(golden.golden_input(int(stored["size"])))).numpy()
    return ours, stored["logits"]


def assert_matches_golden(name: str, **build_kwargs) -> None:
    """Our eval-mode logits equal PaddleClas's stored ones (rtol 1e-4, atol 1e-4 x max |logit|)."""
    ours, expected = golden_logits(name, **build_kwargs)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))
