"""The config merger: precedence, YAML typing, schema errors with suggestions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlcls_cli.config import config_kind, default_config_text, parse_override, resolve_config
from mlcls_cli.errors import ConfigError, ExitCode, InputMissingError, UsageError
from mlcls_cli.models.registry import MODELS


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_defaults_file_options_overrides(tmp_path: Path) -> None:
    cfg_file = write(
        tmp_path / "c.yaml", "Train:\n  epochs_iters: 7\n  batch_size: 5\n  learning_rate: 0.3\n"
    )
    cfg = resolve_config(
        "PP-LCNet_x1_0_ML",
        config_file=cfg_file,
        options={"Train.batch_size": 9, "Train.learning_rate": 0.2, "Global.output": None},
        overrides=["Train.learning_rate=0.01"],
    )
    assert cfg.get("Train.epochs_iters") == 7  # file beats defaults
    assert cfg.get("Train.batch_size") == 9  # option beats file
    assert cfg.get("Train.learning_rate") == 0.01  # -o beats option
    assert cfg.get("Global.output") == "output"  # None option = not given
    assert cfg.get("Train.warmup_steps") == 5  # untouched default
    assert cfg.sources["Train.learning_rate"] == "-o Train.learning_rate=0.01"


@pytest.mark.parametrize("name", list(MODELS))
def test_packaged_model_defaults_match_registry(name: str) -> None:
    cfg = resolve_config(name)
    info = MODELS[name]
    assert cfg.get("Global.model") == name
    assert cfg.get("Train.batch_size") == info.batch_size
    assert cfg.get("Train.learning_rate") == pytest.approx(info.learning_rate)
    assert cfg.get("Train.pretrain_weight_path") == info.pretrained_url
    assert set(cfg.data) == {"Global", "CheckDataset", "Train", "Evaluate", "Export", "Predict"}


def test_model_chosen_by_global_model_override() -> None:
    cfg = resolve_config(overrides=["Global.model=ResNet50_ML"])
    assert cfg.name == "ResNet50_ML"
    assert cfg.get("Train.batch_size") == 64


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("Train.epochs_iters=10", "Train.epochs_iters", 10),
        ("Train.learning_rate=0.5", "Train.learning_rate", 0.5),
        ("Global.device=gpu:0,1", "Global.device", "gpu:0,1"),
        ("Global.output=./out=dir", "Global.output", "./out=dir"),
        ("Train.resume_path=null", "Train.resume_path", None),
        ("CheckDataset.split.enable=True", "CheckDataset.split.enable", True),
        ("Predict.threshold=[0.5,0.4]", "Predict.threshold", [0.5, 0.4]),
        ("Global.output=", "Global.output", ""),
    ],
)
def test_override_values_are_yaml_typed(text: str, key: str, value: object) -> None:
    assert parse_override(text) == (key, value)


def test_values_are_never_evaluated() -> None:
    # PaddleX eval()s override values; we must not
    cfg = resolve_config("ResNet50_ML", overrides=["Global.output=__import__('os').getcwd()"])
    assert cfg.get("Global.output") == "__import__('os').getcwd()"


def test_schema_coerces_types_from_strings(tmp_path: Path) -> None:
    cfg_file = write(tmp_path / "c.yaml", "Train:\n  learning_rate: 1e-4\nGlobal:\n  output: 2024\n")
    cfg = resolve_config("ResNet50_ML", config_file=cfg_file, overrides=["Train.epochs_iters=3.0"])
    assert cfg.get("Train.learning_rate") == pytest.approx(1e-4)  # YAML 1.1 reads 1e-4 as a string
    assert cfg.get("Global.output") == "2024"
    assert cfg.get("Train.epochs_iters") == 3


def test_unknown_keys_and_wrong_types_are_all_reported() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_config(
            "ResNet50_ML",
            overrides=[
                "Train.epoch_iters=10",
                "Train.batch_size=abc",
                "Golbal.outptu=x",
                "Train.epochs_iters=0",
            ],
        )
    text = str(err.value)
    assert err.value.exit_code == ExitCode.CONFIG == 78
    assert "did you mean Train.epochs_iters?" in text
    assert "did you mean Global.output?" in text
    assert "Train.batch_size must be an integer >= 1, got 'abc'" in text
    assert "Train.epochs_iters must be an integer >= 1, got 0" in text
    assert "4 problems" in text


def test_section_cannot_be_replaced_by_a_value() -> None:
    with pytest.raises(ConfigError, match="Train is a section"):
        resolve_config("ResNet50_ML", overrides=["Train=3"])


def test_unknown_key_in_file_names_the_file(tmp_path: Path) -> None:
    cfg_file = write(tmp_path / "bad.yaml", "Train:\n  lr: 0.1\n")
    with pytest.raises(ConfigError) as err:
        resolve_config("ResNet50_ML", config_file=cfg_file)
    assert "unknown key Train.lr" in str(err.value)
    assert str(cfg_file) in str(err.value)


def test_invalid_yaml_reports_line(tmp_path: Path) -> None:
    cfg_file = write(tmp_path / "bad.yaml", "Train:\n  epochs_iters: [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+:\d+: invalid YAML"):
        resolve_config(config_file=cfg_file)


def test_missing_config_file_is_input_missing(tmp_path: Path) -> None:
    with pytest.raises(InputMissingError):
        resolve_config(config_file=tmp_path / "nope.yaml")


def test_unknown_model_suggests() -> None:
    with pytest.raises(ConfigError, match="did you mean 'ResNet50_ML'"):
        resolve_config(overrides=["Global.model=ResNet50-ML"])


def test_paddlex_style_file_loads_with_ignored_keys(tmp_path: Path) -> None:
    text = default_config_text("PP-LCNet_x1_0_ML").replace(
        "  epochs_iters: 20\n", "  epochs_iters: 20\n  amp: O1\n  uniform_output_enabled: True\n"
    )
    cfg = resolve_config(config_file=write(tmp_path / "px.yaml", text))
    assert cfg.get("Train.amp") == "O1"
    from mlcls_cli.config import ignored_keys_set

    assert "Train.amp" in ignored_keys_set(cfg)
    assert "Train.uniform_output_enabled" in ignored_keys_set(cfg)
    assert "Train.dy2st" not in ignored_keys_set(cfg)  # mlcls runs it (paddle.jit.to_static)


@pytest.mark.parametrize("name", ["multi_label_image_classification", "image_multilabel_classification"])
def test_both_pipeline_names(name: str) -> None:
    assert config_kind(name) == "pipeline"
    data = yaml.safe_load(default_config_text(name))
    assert data["pipeline_name"] == name
    assert data["SubModules"]["ImageMultiLabelClassification"]["model_name"] == "PP-LCNet_x1_0_ML"
    cfg = resolve_config(
        name, overrides=["SubModules.ImageMultiLabelClassification.threshold={default: 0.5, 3: 0.7}"]
    )
    assert cfg.get("SubModules.ImageMultiLabelClassification.threshold") == {"default": 0.5, 3: 0.7}


def test_pipeline_threshold_mapping_needs_default() -> None:
    with pytest.raises(ConfigError, match="'default' key"):
        resolve_config(
            "image_multilabel_classification",
            overrides=["SubModules.ImageMultiLabelClassification.threshold={3: 0.7}"],
        )


def test_unknown_config_name() -> None:
    with pytest.raises(UsageError, match="did you mean"):
        config_kind("PP-LCNet_x1_0_MLL")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("Train.epochz", "Train.epochs_iters"),
        ("Train.epoch", "Train.epochs_iters"),
        ("Train.lr", "Train.learning_rate"),
        ("Train.batchsize", "Train.batch_size"),
        ("Train.eval_intervall", "Train.eval_interval"),
        ("Global.devic", "Global.device"),
        ("Trian.epochs_iters", "Train.epochs_iters"),
    ],
)
def test_a_misspelt_key_gets_the_closest_key(typed: str, meant: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_config("PP-LCNet_x1_0_ML", overrides=[f"{typed}=3"])
    assert f"did you mean {meant}?" in str(err.value)


def test_a_leaf_like_no_key_lists_its_section() -> None:
    with pytest.raises(ConfigError) as err:
        resolve_config("PP-LCNet_x1_0_ML", overrides=["Train.xyz=3"])
    assert "did you mean" not in str(err.value)
    assert "the keys of Train are: " in str(err.value) and "epochs_iters" in str(err.value)
