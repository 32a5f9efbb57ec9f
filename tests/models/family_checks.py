"""Checks shared by the single-label family tests: lazy builds, golden parity, export round trip.

Paddle is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.models import golden
from tests.models.tsv import read_tsv, state_dict_rows


def lazy_build(name: str, num_classes: int) -> Any:
    """``build_model(name, num_classes)`` under ``paddle.LazyGuard`` (no weights allocated)."""
    import paddle

    from mlcls_cli.models import build_model

    with paddle.LazyGuard():
        return build_model(name, num_classes)


def check_layout(name: str, head: str = "head") -> Any:
    """Assert the PaddleClas layout of ``name``: TSV rows, registry numel and head width, class count in the head only.

    Returns the lazily built 1000-class model.
    """
    from mlcls_cli.models import get_model_info

    info = get_model_info(name)
    model = lazy_build(name, 1000)
    rows = state_dict_rows(model)
    assert rows == read_tsv(name)
    assert sum(int(np.prod(shape)) for _, shape in rows) == info.total_params
    head_in = rows[-2][1][0]
    assert head_in == info.in_channels
    seven = state_dict_rows(lazy_build(name, 7))
    assert seven[:-2] == rows[:-2]
    assert seven[-2:] == [(f"{head}.weight", [head_in, 7]), (f"{head}.bias", [7])]
    return model


def max_golden_difference(model: Any, name: str) -> float:
    """Fill ``model`` as golden ``name`` was made, run its input in eval mode and compare with PaddleClas's logits.

    Asserts closeness (rtol 1e-4, atol 1e-4 x max |logit|) and returns the largest absolute difference.
    """
    import paddle

    data = golden.load_golden(name)
    golden.fill(model, float(data["gain"]))
    model.eval()
    with paddle.no_grad():
        got = model(paddle.to_tensor(golden.golden_input(int(data["size"])))).numpy()
    want = data["logits"]
    assert got.shape == want.shape == (2, int(data["num_classes"]))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))
    return float(np.abs(got - want).max())


def export_round_trip(model: Any, size: int, folder: Path, legacy: bool) -> float:
    """Export ``model`` (mlcls export, ``size`` px) and run the package in Paddle Inference on CPU with oneDNN,
    as mlcls's predictor does; return the largest difference from ``sigmoid(model(x))`` on the golden input.
    """
    import paddle
    from paddle import inference

    from mlcls_cli.models.export import export_model, find_model_files

    model.eval()
    x = golden.golden_input(size)
    with paddle.no_grad():
        want = 1.0 / (1.0 + np.exp(-model(paddle.to_tensor(x)).numpy().astype(np.float64)))
    labels = [f"c{i}" for i in range(want.shape[1])]
    export_model(
        model, folder, model_name="family-check", label_list=labels, input_size=size, legacy_format=legacy
    )
    model_file, params_file = find_model_files(folder)
    config = inference.Config(str(model_file), str(params_file))
    config.disable_gpu()
    config.enable_mkldnn()
    config.switch_ir_optim(True)
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.reshape(list(x.shape))
    handle.copy_from_cpu(x)
    predictor.run()
    got = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    assert got.shape == want.shape
    return float(np.abs(got - want).max())
