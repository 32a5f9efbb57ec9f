"""create_pipeline: names, the YAML get-config writes, the 3.0-beta layout, overrides, name checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlcls_cli.config import default_config_text
from mlcls_cli.errors import ConfigError, InputMissingError, UsageError
from mlcls_cli.inference.pipeline import create_pipeline, load_pipeline_config, pipeline_settings
from tests.inference.kit import BLUE, MODEL_NAME, RED, export_package, solid


def _yaml(path: Path, **sub) -> Path:
    data = yaml.safe_load(default_config_text("multi_label_image_classification"))
    data["SubModules"]["ImageMultiLabelClassification"].update(sub)
    data["device"] = "cpu"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_names_and_files_resolve_without_paddle(tmp_path: Path) -> None:
    for name in ("multi_label_image_classification", "image_multilabel_classification"):
        settings = pipeline_settings(load_pipeline_config(name))
        assert settings["model_name"] == MODEL_NAME and settings["model_dir"] is None
        assert (
            settings["batch_size"] == 1 and settings["visualize"] is True and settings["check_name"] is False
        )
    path = _yaml(tmp_path / "p.yaml", model_dir="somewhere", batch_size=4, threshold=0.3)
    settings = pipeline_settings(load_pipeline_config(path))
    assert (settings["model_dir"], settings["batch_size"], settings["threshold"], settings["device"]) == (
        "somewhere",
        4,
        0.3,
        "cpu",
    )
    assert settings["check_name"] is False  # model_name is the packaged default, written back by get-config
    legacy = tmp_path / "old.yaml"
    legacy.write_text(
        "Global:\n  pipeline_name: multi_label_image_classification\n"
        "Pipeline:\n  model: ResNet50_ML\n  batch_size: 2\n  device: cpu\n  threshold: 0.7\n"
    )
    settings = pipeline_settings(load_pipeline_config(legacy))
    assert (settings["model_name"], settings["batch_size"], settings["device"], settings["threshold"]) == (
        "ResNet50_ML",
        2,
        "cpu",
        0.7,
    )
    assert settings["check_name"] is True


def test_unknown_names_and_bad_files() -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_pipeline_config("image_segmentation")
    with pytest.raises(InputMissingError, match="get-config"):
        load_pipeline_config("missing.yaml")
    with pytest.raises(TypeError, match="colour"):
        create_pipeline("image_multilabel_classification", colour="red")


def test_bad_yaml_values_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pipeline_name: image_multilabel_classification\nSubModules:\n  ImageMultiLabelClassification:\n    batch_sise: 2\n"
    )
    with pytest.raises(ConfigError, match="batch_size"):
        load_pipeline_config(bad)


@pytest.mark.paddle
@pytest.mark.slow
def test_pipeline_from_a_yaml_runs_the_package(tmp_path: Path) -> None:
    _, package = export_package(tmp_path / "pkg")
    path = _yaml(tmp_path / "p.yaml", model_dir=str(package), batch_size=2, threshold=0.5)
    pipe = create_pipeline(str(path))
    assert pipe.pipeline_name == "multi_label_image_classification" and pipe.visualize is True
    assert pipe.model.device == "cpu" and pipe.model.batch_size == 2
    results = list(pipe.predict([solid(RED), solid(BLUE)]))
    assert [r.label_names[0] for r in results] == ["red", "blue"]
    assert next(iter(pipe.predict(solid(RED), threshold=0.9999999))).class_ids.tolist() == []
    # keyword overrides beat the file; a model name given explicitly is checked against the package
    assert create_pipeline(path, batch_size=5, threshold=0.0).model.batch_size == 5
    with pytest.raises(UsageError, match="mismatch"):
        create_pipeline(path, model_name="ResNet50_ML")
    wrong = _yaml(tmp_path / "w.yaml", model_dir=str(package), model_name="ResNet50_ML")
    with pytest.raises(UsageError, match="mismatch"):
        create_pipeline(wrong)
    assert create_pipeline(
        wrong, config_overrides=["SubModules.ImageMultiLabelClassification.model_name=PP-LCNet_x1_0_ML"]
    )
