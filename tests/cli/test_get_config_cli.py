"""`mlcls get-config`: stdout, --save-path rules, --resolved, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from mlcls_cli.cli.app import app

runner = CliRunner()


def test_prints_packaged_yaml_with_comments() -> None:
    result = runner.invoke(app, ["get-config", "PP-LCNet_x1_0_ML"])
    assert result.exit_code == 0
    assert result.output.startswith("# mlcls module config for PP-LCNet_x1_0_ML")
    data = yaml.safe_load(result.output)
    assert data["Train"]["epochs_iters"] == 20


def test_save_path_dir_and_file(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["get-config", "multi_label_image_classification", "--save-path", str(tmp_path / "cfgs")]
    )
    assert result.exit_code == 0, result.output
    saved = tmp_path / "cfgs" / "multi_label_image_classification.yaml"
    assert yaml.safe_load(saved.read_text())["pipeline_name"] == "multi_label_image_classification"
    result = runner.invoke(app, ["get-config", "ResNet50_ML", "--save-path", str(tmp_path / "mine.yml")])
    assert result.exit_code == 0
    assert yaml.safe_load((tmp_path / "mine.yml").read_text())["Global"]["model"] == "ResNet50_ML"


def test_save_path_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    target = tmp_path / "c.yaml"
    target.write_text("precious: true\n")
    result = runner.invoke(app, ["get-config", "ResNet50_ML", "--save-path", str(target)])
    assert result.exit_code == 2
    assert target.read_text() == "precious: true\n"
    result = runner.invoke(app, ["get-config", "ResNet50_ML", "--save-path", str(target), "--force"])
    assert result.exit_code == 0
    assert "ResNet50_ML" in target.read_text()


def test_resolved_merges_file_and_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("Global:\n  model: PP-HGNetV2-B0_ML\nTrain:\n  epochs_iters: 4\n")
    result = runner.invoke(app, ["get-config", "--resolved", "-c", str(cfg), "-o", "Train.batch_size=2"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.output)
    assert data["Global"]["model"] == "PP-HGNetV2-B0_ML"
    assert data["Train"]["epochs_iters"] == 4
    assert data["Train"]["batch_size"] == 2
    assert data["Train"]["learning_rate"] == 0.0001  # the packaged default (PaddleClas recipe)


def test_json_output() -> None:
    result = runner.invoke(app, ["get-config", "ResNet50_ML", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["Train"]["batch_size"] == 64


def test_unknown_name_is_usage_error_with_suggestion() -> None:
    result = runner.invoke(app, ["get-config", "PP-LCNet_x1_O_ML"])
    assert result.exit_code == 2
    assert "did you mean 'PP-LCNet_x1_0_ML'" in result.output


def test_single_label_config_shows_the_family_recipe() -> None:
    result = runner.invoke(app, ["get-config", "PP-LCNet_x1_0"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    assert data["Global"]["model"] == "PP-LCNet_x1_0"
    train = data["Train"]
    assert (train["batch_size"], train["learning_rate"], train["epochs_iters"]) == (256, 0.1, 20)
    assert (train["optimizer"], train["weight_decay"], train["label_smoothing"]) == ("momentum", 3e-5, 0.1)
    assert train["randaugment"] is False and train["ema_decay"] is None
    v4 = yaml.safe_load(runner.invoke(app, ["get-config", "MobileNetV4_conv_small"]).stdout)["Train"]
    assert (v4["optimizer"], v4["ema_decay"], v4["mixup_alpha"], v4["cutmix_alpha"]) == (
        "adamw",
        0.9998,
        0.8,
        1.0,
    )
