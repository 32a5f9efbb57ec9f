"""Planning an export: which weights file, model, class names and size; refusals before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcls_cli.config import resolve_config
from mlcls_cli.engine.exporter import check_format, locate_export_weights, plan_export, read_labels
from mlcls_cli.errors import InputMissingError, UsageError
from tests.datasets import make_dataset


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_weights_are_found_from_a_file_prefix_checkpoint_or_run_folder(tmp_path: Path) -> None:
    best = _touch(tmp_path / "run" / "best_model" / "best_model.pdparams")
    epoch = _touch(tmp_path / "run" / "epoch_3" / "epoch_3.pdparams")
    assert locate_export_weights(best) == best
    assert locate_export_weights(tmp_path / "run" / "best_model" / "best_model") == best  # PaddleX prefix
    assert locate_export_weights(tmp_path / "run" / "epoch_3") == epoch
    assert locate_export_weights(tmp_path / "run") == best


def test_missing_weights_are_66_and_a_folder_without_them_is_2(tmp_path: Path) -> None:
    with pytest.raises(InputMissingError, match="weights not found") as info:
        locate_export_weights(tmp_path / "none.pdparams")
    assert info.value.exit_code == 66
    _touch(tmp_path / "odd" / "other.pdparams")
    with pytest.raises(UsageError, match=r"holds no odd\.pdparams") as usage:
        locate_export_weights(tmp_path / "odd")
    assert "other.pdparams" in str(usage.value.hint)
    for name in ("inference.json", "inference.pdiparams"):
        _touch(tmp_path / "pkg" / name)
    with pytest.raises(UsageError, match="already an inference package"):
        locate_export_weights(tmp_path / "pkg")


def test_labels_come_from_a_label_file_or_a_dataset_folder(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=["a b", "été"], train=2, val=1)
    assert read_labels(made.label_file) == (["a b", "été"], str(made.label_file))
    assert read_labels(made.root)[0] == ["a b", "été"]
    assert read_labels(tmp_path)[0] == ["a b", "été"]  # the folder above: the only dataset below it
    with pytest.raises(InputMissingError, match="label file not found"):
        read_labels(tmp_path / "labels.txt")


def test_format_names() -> None:
    assert [check_format(v) for v in (None, "ONNX", " all ")] == ["paddle", "onnx", "all"]
    with pytest.raises(UsageError, match="unknown export format 'tflite'"):
        check_format("tflite")


@pytest.mark.paddle
def test_plan_reads_model_size_and_names_from_a_training_run(tmp_path: Path) -> None:
    from mlcls_cli.models import build_model
    from mlcls_cli.models.weights import save_weights

    run = tmp_path / "run"
    weights = save_weights(build_model("SmallCNN_ML", 2), run / "best_model" / "best_model.pdparams")
    (run / "config.yaml").write_text("Global:\n  model: SmallCNN_ML\nTrain:\n  image_size: 40\n")
    (run / "label_dict.txt").write_text("0 sky\n1 sea\n", encoding="utf-8")
    plan = plan_export(resolve_config(None, kind="model"), weights=str(run), output=tmp_path / "pkg")
    assert (plan.model_name, plan.image_size, plan.label_names) == ("SmallCNN_ML", 40, ["sky", "sea"])
    assert plan.weights_file == weights and plan.labels_from == str(run / "label_dict.txt")
    assert (plan.format, plan.onnx, plan.legacy) == ("paddle", False, False)
    assert not (tmp_path / "pkg").exists()  # planning writes nothing

    overridden = plan_export(
        resolve_config("SmallCNN_ML", overrides=["Export.format=all"]),
        weights=str(weights),
        image_size=24,
        output=tmp_path / "pkg",
    )
    assert (overridden.image_size, overridden.format, overridden.onnx) == (24, "all", True)


@pytest.mark.paddle
def test_the_recorded_model_wins_over_the_configs_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlcls_cli.models import build_model
    from mlcls_cli.models.weights import save_weights

    run = tmp_path / "run"
    save_weights(build_model("SmallCNN_ML", 2), run / "best_model" / "best_model.pdparams")
    (run / "config.yaml").write_text("Global:\n  model: SmallCNN_ML\n")
    (run / "label_dict.txt").write_text("0 sky\n1 sea\n", encoding="utf-8")
    cfg = resolve_config(None, kind="model", overrides=["Global.model=PP-LCNet_x1_0_ML"])  # PaddleX -c/-o
    plan = plan_export(cfg, weights=str(run), output=tmp_path / "pkg")
    assert (plan.model_name, plan.image_size) == ("SmallCNN_ML", 64)  # SmallCNN_ML's own size, not 448
    assert "trained as SmallCNN_ML, not PP-LCNet_x1_0_ML" in capsys.readouterr().err


@pytest.mark.paddle
def test_plan_refuses_an_occupied_target_before_reading_weights(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="already holds other files"):
        plan_export(resolve_config("SmallCNN_ML"), weights=str(tmp_path / "none"), output=tmp_path / "busy")


@pytest.mark.paddle
def test_plan_without_a_model_record_asks_for_model(tmp_path: Path) -> None:
    from mlcls_cli.models import build_model
    from mlcls_cli.models.weights import save_weights

    weights = save_weights(build_model("SmallCNN_ML", 2), tmp_path / "w.pdparams")
    with pytest.raises(UsageError, match="cannot tell which model") as info:
        plan_export(resolve_config(None, kind="model"), weights=str(weights), output=tmp_path / "pkg")
    assert "--model" in str(info.value.hint)
    with pytest.raises(UsageError, match="cannot tell the names of the 2 classes") as names:
        plan_export(
            resolve_config("SmallCNN_ML"), weights=str(weights), model="SmallCNN_ML", output=tmp_path / "p"
        )
    assert "--labels" in str(names.value.hint)
