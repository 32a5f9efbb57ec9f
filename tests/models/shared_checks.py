"""Checks shared by the test files of PP-LCNet(V2), PP-HGNet(V2), ResNet and CLIP-ViT: layout, goldens, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlcls_cli.models.registry_cls import single_label_models
from tests.models import golden
from tests.models.tsv import read_tsv, state_dict_rows, total_numel


def family_models(family: str) -> list[str]:
    """Names of the registry's single-label models of ``family``, in registry order."""
    return [info.name for info in single_label_models() if info.family == family]


def assert_paddleclas_layout(name: str) -> None:
    """``name``'s state_dict equals PaddleClas's listing at 1000 classes; at 7 only the classifier changes.

    Also: the total numel is the registry's ``total_params`` and the classifier's input width
    its ``in_channels``. Built under ``LazyGuard``: shapes only, nothing allocated.
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


def golden_model(name: str):
    """``name`` built by the registry with the golden's class count and filled with the golden's weights, in eval mode.

    Built under ``LazyGuard``: :func:`golden.fill` sets every entry, so the random
    initialisation (seconds for the large models) is skipped.
    """
    import paddle

    from mlcls_cli.models import build_model

    stored = golden.load_golden(name)
    with paddle.LazyGuard():
        model = build_model(name, int(stored["num_classes"]))
    golden.fill(model, float(stored["gain"]))
    model.eval()
    return model


def golden_logits(name: str, model=None) -> tuple[np.ndarray, np.ndarray]:
    """(ours, PaddleClas's) eval-mode logits on the golden weights and input of ``name``.

    ``model`` is a :func:`golden_model` of ``name`` already built (one is built when None).
    """
    import paddle

    stored = golden.load_golden(name)
    model = golden_model(name) if model is None else model
    with paddle.no_grad():
        ours = model(paddle.to_tensor(golden.golden_input(int(stored["size"])))).numpy()
    return ours, stored["logits"]


def assert_matches_golden(name: str, model=None) -> float:
    """Our eval-mode logits equal PaddleClas's stored ones (rtol 1e-4, atol 1e-4 x max |logit|); returns the max difference."""
    ours, expected = golden_logits(name, model)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))
    return float(np.abs(ours - expected).max())


def assert_forward_at(model, height: int, width: int, num_classes: int) -> np.ndarray:
    """Run a batch of two ``height x width`` images: logits ``[2, num_classes]``, finite, differing per image."""
    import paddle

    x = paddle.to_tensor(golden.golden_input((height, width)))
    with paddle.no_grad():
        out = model(x).numpy()
    assert out.shape == (2, num_classes)
    assert np.isfinite(out).all()
    assert np.abs(out[0] - out[1]).max() > 0
    return out


def assert_exports(model, tmp_path: Path, size: int = 64, onnx: bool = False) -> None:
    """``model`` exports in the legacy ``.pdmodel`` format (and to ONNX when asked) and Paddle Inference agrees.

    The package computes ``sigmoid(model(x))`` (the exporter's multi-label output); what is
    checked here is that the backbone traces into the legacy static graph and runs there.
    """
    import paddle
    from paddle import inference

    from mlcls_cli.models.export import export_model, find_model_files

    model.eval()
    num_classes = int(model(paddle.zeros([1, 3, size, size])).shape[-1])
    out = tmp_path / "pkg"
    export_model(
        model,
        out,
        model_name="test",
        label_list=[str(i) for i in range(num_classes)],
        input_size=size,
        legacy_format=True,
        onnx=onnx,
    )
    model_file, params_file = find_model_files(out)
    assert model_file.name == "inference.pdmodel"
    assert (out / "inference.onnx").is_file() == onnx
    batch = golden.golden_input(size, batch=3)
    config = inference.Config(str(model_file), str(params_file))
    config.disable_glog_info()
    predictor = inference.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    handle.reshape(list(batch.shape))
    handle.copy_from_cpu(batch)
    predictor.run()
    got = predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
    with paddle.no_grad():
        want = paddle.nn.functional.sigmoid(model(paddle.to_tensor(batch))).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
