"""Export round trip of a single-label zoo model in both graph formats, run as mlcls's CPU predictor runs it.

:func:`tests.models.shared_checks.assert_exports` checks that a backbone traces into the legacy
graph; this also checks the default (PIR) graph, the single-label softmax the exporter adds
for a registry name, and Paddle Inference with oneDNN enabled, whose fusion passes and
kernels have failed on graphs that run fine without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.models import golden


def export_round_trip(model: Any, name: str, size: int, folder: Path, legacy: bool) -> float:
    """Export ``model`` as zoo model ``name`` at ``size`` px; return the largest gap of Paddle Inference's
    probabilities from ``softmax(model(x))`` on the golden input (CPU, oneDNN, IR optimisation on).
    """
    import paddle
    from paddle import inference

    from mlcls_cli.models.export import export_model, find_model_files

    model.eval()
    x = golden.golden_input(size)
    with paddle.no_grad():
        want = paddle.nn.functional.softmax(model(paddle.to_tensor(x)), axis=-1).numpy()
    labels = [f"c{i}" for i in range(want.shape[1])]
    export_model(model, folder, model_name=name, label_list=labels, input_size=size, legacy_format=legacy)
    model_file, params_file = find_model_files(folder)
    assert model_file.name == ("inference.pdmodel" if legacy else "inference.json")
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
