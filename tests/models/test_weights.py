"""Weights: atomic save, load round trip, mismatch reports, and fine-tuning from 80-class weights."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from mlcls_cli.errors import ExitCode, InputMissingError, IOFailure
from mlcls_cli.models.weights import (
    STRUCTURED_NAME_KEY,
    WeightsMismatchError,
    load_weights,
    read_state_dict,
    save_weights,
)

pytestmark = pytest.mark.paddle

HEAD = ["fc.query_pos_embed.weight", "fc.group_conv.weight", "fc.group_conv.bias"]


@pytest.fixture(scope="module")
def paddle():
    import paddle

    return paddle


def _lcnet(paddle, class_num: int, seed: int):
    from mlcls_cli.models.backbones.pp_lcnet import build_pp_lcnet_ml

    paddle.seed(seed)
    model = build_pp_lcnet_ml("x0_25", class_num=class_num)
    model.eval()
    return model


def _arrays(model) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def saved80(paddle, tmp_path_factory) -> tuple[Path, dict[str, np.ndarray]]:
    """An 80-class model with non-default BN statistics, saved once for the module."""
    model = _lcnet(paddle, 80, seed=1)
    rng = np.random.default_rng(0)
    for key, value in model.state_dict().items():
        if key.endswith(("_mean", "_variance")):  # buffers must round-trip too
            value.set_value(paddle.to_tensor(rng.uniform(0.5, 1.5, size=value.shape).astype("float32")))
    path = save_weights(model, tmp_path_factory.mktemp("w") / "sub" / "model.pdparams")
    return path, _arrays(model)


def test_save_is_a_plain_paddle_pickle_with_nothing_left_behind(paddle, saved80) -> None:
    path, arrays = saved80
    assert [p.name for p in path.parent.iterdir()] == ["model.pdparams"]
    with open(path, "rb") as fh:
        raw = pickle.load(fh)
    assert STRUCTURED_NAME_KEY in raw  # paddle's bookkeeping entry, stripped on read
    state = read_state_dict(path)
    assert list(state) == list(arrays)
    loaded = paddle.load(str(path))
    assert set(loaded) == set(arrays)


def test_round_trip_gives_identical_outputs(paddle, saved80) -> None:
    path, arrays = saved80
    source = _lcnet(paddle, 80, seed=1)
    source.set_state_dict({k: paddle.to_tensor(v) for k, v in arrays.items()})
    target = _lcnet(paddle, 80, seed=2)
    x = paddle.rand([2, 3, 64, 64])
    before = target(x).numpy()

    result = load_weights(target, path)

    assert result.complete
    assert result.loaded == list(arrays)
    for key, value in target.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), arrays[key], err_msg=key)
    after = target(x).numpy()
    np.testing.assert_array_equal(after, source(x).numpy())
    assert not np.array_equal(before, after)


def test_strict_load_names_missing_unexpected_and_mis_shaped_keys(paddle, saved80) -> None:
    _, arrays = saved80
    state = dict(arrays)
    del state["blocks3.1.pw_conv.bn._variance"]
    state["blocks9.0.conv.weight"] = np.zeros([2, 2], "float32")
    state["last_conv.weight"] = np.zeros([1280, 64, 1, 1], "float32")
    model = _lcnet(paddle, 80, seed=3)
    before = _arrays(model)

    with pytest.raises(WeightsMismatchError) as info:
        load_weights(model, state)

    message = str(info.value)
    assert info.value.exit_code == ExitCode.CONFIG == 78
    assert "blocks3.1.pw_conv.bn._variance" in message
    assert "blocks9.0.conv.weight" in message
    assert "last_conv.weight [1280, 64, 1, 1] vs [1280, 128, 1, 1]" in message
    for key, value in model.state_dict().items():  # nothing was loaded
        np.testing.assert_array_equal(value.numpy(), before[key])


def test_non_strict_load_loads_what_fits_and_reports_the_rest(paddle, saved80) -> None:
    _, arrays = saved80
    state = dict(arrays)
    del state["conv1.bn.bias"]
    state["extra.weight"] = np.ones([3], "float32")
    state["last_conv.weight"] = np.zeros([1280, 64, 1, 1], "float32")
    model = _lcnet(paddle, 80, seed=4)

    result = load_weights(model, state, strict=False)

    assert result.missing == ["conv1.bn.bias"]
    assert result.unexpected == ["extra.weight"]
    assert result.mismatched == ["last_conv.weight"]
    assert len(result.loaded) == len(arrays) - 2
    np.testing.assert_array_equal(
        model.state_dict()["fc.group_conv.weight"].numpy(), arrays["fc.group_conv.weight"]
    )


def test_80_class_weights_into_a_33_class_model_skip_only_the_head(paddle, saved80, capsys) -> None:
    path, arrays = saved80
    model = _lcnet(paddle, 33, seed=5)
    fresh = _arrays(model)

    result = load_weights(model, path)

    assert result.skipped == HEAD
    assert not (result.missing or result.unexpected or result.mismatched)
    assert len(result.loaded) == len(arrays) - 3
    state = model.state_dict()
    for key in result.loaded:  # backbone and the class-independent decoder layers
        np.testing.assert_array_equal(state[key].numpy(), arrays[key], err_msg=key)
    for key in HEAD:
        np.testing.assert_array_equal(state[key].numpy(), fresh[key])
    assert list(state["fc.group_conv.bias"].shape) == [33]
    assert "class count differs (weights: 80, model: 33)" in capsys.readouterr().err
    model.eval()
    assert list(model(paddle.rand([1, 3, 32, 32])).shape) == [1, 33]


def test_head_mismatch_is_an_error_when_not_skipped(paddle, saved80) -> None:
    path, _ = saved80
    with pytest.raises(
        WeightsMismatchError, match=r"fc\.group_conv\.weight \[80, 768, 1, 1\] vs \[33, 768, 1, 1\]"
    ):
        load_weights(_lcnet(paddle, 33, seed=6), path, skip_head_on_mismatch=False)


def test_weights_of_another_model_are_rejected(paddle, saved80) -> None:
    from mlcls_cli.models.ml_decoder import MLDecoder

    path, _ = saved80
    with pytest.raises(WeightsMismatchError, match="not in the model") as info:
        load_weights(MLDecoder(class_num=80, in_channels=1280), path)
    assert "and " in str(info.value)  # long name lists are shortened


def test_float16_weights_are_cast_to_the_model_dtype(paddle, saved80) -> None:
    _, arrays = saved80
    half = {k: v.astype("float16") for k, v in arrays.items()}
    model = _lcnet(paddle, 80, seed=7)
    load_weights(model, half)
    value = model.state_dict()["last_conv.weight"]
    assert value.dtype == paddle.float32
    np.testing.assert_allclose(value.numpy(), arrays["last_conv.weight"], rtol=1e-3, atol=1e-3)


def test_missing_and_unreadable_files(paddle, tmp_path: Path) -> None:
    model = _lcnet(paddle, 4, seed=8)
    with pytest.raises(InputMissingError) as info:
        load_weights(model, tmp_path / "nope.pdparams")
    assert info.value.exit_code == ExitCode.NOINPUT
    junk = tmp_path / "junk.pdparams"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(IOFailure, match="cannot read weights"):
        load_weights(model, junk)


def test_save_failure_is_an_io_error(paddle, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(IOFailure, match="cannot write"):
        save_weights(_lcnet(paddle, 4, seed=11), blocker / "model.pdparams")


# --------------------------------------------------------------------------- weights to fine-tune from


def test_pretrained_weights_of_another_architecture_are_refused(paddle, tmp_path: Path) -> None:
    from mlcls_cli.models import build_model
    from mlcls_cli.models.weights import check_pretrained_file, load_pretrained

    lcnet = tmp_path / "lcnet.pdparams"
    save_weights(build_model("PP-LCNet_x1_0_ML", 80), lcnet)
    with pytest.raises(WeightsMismatchError) as info:
        check_pretrained_file("PP-HGNetV2-B0_ML", 3, lcnet)
    message = info.value.message
    assert info.value.exit_code == ExitCode.CONFIG == 78
    assert f"pretrained weights {lcnet} (Train.pretrain_weight_path) do not fit PP-HGNetV2-B0_ML" in message
    assert "backbone entries are missing (stem." in message
    assert "--no-pretrained" in (info.value.hint or "")
    hgnet = build_model("PP-HGNetV2-B0_ML", 3)
    before = {k: np.asarray(v).copy() for k, v in hgnet.state_dict().items()}
    with pytest.raises(WeightsMismatchError):
        load_pretrained(hgnet, lcnet, "PP-HGNetV2-B0_ML")
    for key, value in hgnet.state_dict().items():  # nothing was loaded
        np.testing.assert_array_equal(np.asarray(value), before[key], err_msg=key)


def test_pretrained_weights_may_differ_in_the_head_only(paddle, saved80, capsys) -> None:
    from mlcls_cli.models.weights import load_pretrained

    path, state = saved80
    model = _lcnet(paddle, 33, seed=5)
    result = load_pretrained(
        model, path, "PP-LCNet_x0_25_ML"
    )  # another class count: the head's three start afresh
    assert sorted(result.skipped) == sorted(HEAD) and not result.missing
    assert "shaped for another class count" in capsys.readouterr().err

    backbone_only = {k: v for k, v in state.items() if not k.startswith("fc.")}
    backbone_only["fc.weight"] = np.zeros((8, 1000), dtype="float32")  # an ImageNet classifier: not ours
    model = _lcnet(paddle, 33, seed=5)
    result = load_pretrained(model, backbone_only, "PP-LCNet_x0_25_ML")
    assert result.missing and all(k.startswith("fc.") for k in result.missing)
    assert result.unexpected == ["fc.weight"]
    np.testing.assert_array_equal(
        np.asarray(model.state_dict()["conv1.conv.weight"]), state["conv1.conv.weight"]
    )
    assert "no head entries" in capsys.readouterr().err

    reshaped = dict(state)
    reshaped["conv1.conv.weight"] = np.zeros((1, 3, 3, 3), dtype="float32")
    with pytest.raises(
        WeightsMismatchError, match=r"1 have another shape, file vs model \(conv1\.conv\.weight"
    ):
        load_pretrained(_lcnet(paddle, 33, seed=5), reshaped, "PP-LCNet_x0_25_ML")


def test_small_cnn_weights_for_another_class_count_fine_tune(paddle, tmp_path: Path) -> None:
    from mlcls_cli.models import build_model
    from mlcls_cli.models.weights import check_pretrained_file, load_pretrained

    path = save_weights(build_model("SmallCNN_ML", 5), tmp_path / "small.pdparams")
    check_pretrained_file("SmallCNN_ML", 3, path)
    result = load_pretrained(build_model("SmallCNN_ML", 3), path, "SmallCNN_ML")
    assert sorted(result.skipped) == ["fc.bias", "fc.weight"]
    with pytest.raises(WeightsMismatchError, match="do not fit PP-LCNet_x1_0_ML"):
        check_pretrained_file("PP-LCNet_x1_0_ML", 3, path)


# ---------------------------------------------------------------- class count of a weights file


def _state(name: str, classes: int) -> dict[str, np.ndarray]:
    from mlcls_cli.models import build_model

    return {k: v.numpy() for k, v in build_model(name, classes).state_dict().items()}


@pytest.mark.parametrize(
    ("name", "classes"), [("SmallCNN_ML", 5), ("PP-LCNet_x1_0_ML", 80), ("PP-LCNet_x1_0_ML", 3)]
)
def test_class_count_reads_the_head_of_any_zoo_model(paddle, name: str, classes: int) -> None:
    from mlcls_cli.models.weights import class_count

    assert class_count(name, _state(name, classes)) == classes


def test_class_count_is_none_for_weights_of_another_model(paddle) -> None:
    from mlcls_cli.models.weights import class_count

    small = _state("SmallCNN_ML", 3)
    assert class_count("PP-LCNet_x1_0_ML", small) is None
    assert class_count("SmallCNN_ML", _state("PP-LCNet_x1_0_ML", 3)) is None
    lopsided = dict(small, **{"fc.bias": np.zeros(4, dtype="float32")})  # weight says 3 classes, bias 4
    assert class_count("SmallCNN_ML", lopsided) is None


def test_coco_names_are_the_80_official_classes() -> None:
    from mlcls_cli.models.coco import COCO80_LABELS

    assert len(COCO80_LABELS) == len(set(COCO80_LABELS)) == 80
    # indices quoted by the PaddleX docs' example results
    assert [COCO80_LABELS[i] for i in (0, 21, 39, 43, 45, 46, 47, 49, 60, 79)] == [
        "person", "bear", "bottle", "knife", "bowl", "banana", "apple", "orange", "dining table", "toothbrush",
    ]  # fmt: skip
