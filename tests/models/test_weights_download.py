"""Loading weights from URLs through the real downloader, against a live HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcls_cli.errors import ExitCode, ModelUnavailableError
from mlcls_cli.hub.cache import pretrained_path
from mlcls_cli.models.registry import get_model_info
from tests.hub.conftest import hub_env, zoo  # noqa: F401  (fixtures)

pytestmark = pytest.mark.paddle


def _model(class_num: int, seed: int):
    import paddle

    from mlcls_cli.models.backbones.pp_lcnet import build_pp_lcnet_ml

    paddle.seed(seed)
    model = build_pp_lcnet_ml("x0_25", class_num=class_num)
    model.eval()
    return model


def _saved(tmp_path: Path, class_num: int = 80, seed: int = 1) -> tuple[bytes, object]:
    from mlcls_cli.models.weights import save_weights

    model = _model(class_num, seed)
    path = save_weights(model, tmp_path / "w.pdparams")
    return Path(path).read_bytes(), model


def _same_outputs(a, b) -> bool:
    import numpy as np
    import paddle

    x = paddle.rand([1, 3, 32, 32])
    return bool(np.allclose(a(x).numpy(), b(x).numpy(), atol=1e-6))


def test_any_url_is_downloaded_once_and_cached(zoo, hub_env, tmp_path: Path) -> None:  # noqa: F811
    from mlcls_cli.models.weights import load_weights

    body, reference = _saved(tmp_path)
    url = zoo.add("/weights/custom.pdparams", body)
    first = _model(80, seed=2)
    assert load_weights(first, url).complete
    assert _same_outputs(first, reference)
    second = _model(80, seed=3)
    assert load_weights(second, url).complete
    assert len(zoo.hits_for("custom.pdparams")) == 1  # the second load came from the cache


def test_official_pretrained_url_uses_the_zoo_cache_and_the_mirror(zoo, hub_env, tmp_path: Path) -> None:  # noqa: F811
    from mlcls_cli.models.weights import load_weights

    body, _ = _saved(tmp_path, class_num=80)
    info = get_model_info("PP-LCNet_x1_0_ML")
    zoo.add_official(info.pretrained_url, body)
    model = _model(3, seed=4)  # fine-tuning on 3 classes: the 80-class head is skipped
    result = load_weights(model, info.pretrained_url)
    assert result.skipped and not result.missing
    assert (
        pretrained_path("PP-LCNet_x1_0_ML").read_bytes() == body
    )  # where `mlcls models download --pretrained` puts it


def test_offline_url_is_unavailable_without_a_connection(zoo, hub_env, monkeypatch) -> None:  # noqa: F811
    from mlcls_cli.models.weights import load_weights

    monkeypatch.setenv("MLCLS_OFFLINE", "1")
    url = zoo.add("/weights/never.pdparams", b"x")
    with pytest.raises(ModelUnavailableError) as info:
        load_weights(_model(4, seed=5), url)
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert zoo.connections == 0
