"""Shell completion scripts: committed files are current, and completion really answers."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from completions.generate import FILES, HERE, render


@pytest.mark.parametrize("shell", sorted(FILES))
def test_committed_completion_scripts_are_current(shell: str) -> None:
    committed = (HERE / FILES[shell]).read_text(encoding="utf-8")
    assert committed == render(shell), "stale: run `python completions/generate.py`"
    assert "mlcls" in committed


def test_bash_completion_lists_subcommands_and_options() -> None:
    code = "from mlcls_cli.cli.app import main; main()"
    env = {**os.environ, "_MLCLS_COMPLETE": "complete_bash", "COMP_WORDS": "mlcls ch", "COMP_CWORD": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    assert "check" in out.split()
    env.update(COMP_WORDS="mlcls get-config --", COMP_CWORD="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout
    assert "--save-path" in out.split()


def _complete(words: str) -> list[str]:
    code = "from mlcls_cli.cli.app import main; main()"
    env = {
        **os.environ,
        "_MLCLS_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    ).stdout.split()


def _models(prefix: str) -> set[str]:
    from mlcls_cli.models.registry import MODELS

    found = {name for name in MODELS if name.startswith(prefix)}
    assert len(found) > 1  # both tasks' models, e.g. PP-HGNetV2-B0 and PP-HGNetV2-B0_ML
    return found


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("mlcls predict --model PP-HG", _models("PP-HG")),
        ("mlcls eval --model Res", _models("Res")),
        ("mlcls train --model Sm", {"SmallCNN_ML", "SmallCNN"}),
        ("mlcls train --device cp", {"cpu"}),
        ("mlcls serve --model CLIP", {"CLIP_vit_base_patch16_448_ML", *_models("CLIP_vit_")}),
        ("mlcls models download PP-LCNet_x1", {"PP-LCNet_x1_0_ML", "PP-LCNet_x1_0", "PP-LCNet_x1_5"}),
        ("mlcls get-config multi", {"multi_label_image_classification"}),
        ("mlcls get-config image_", {"image_multilabel_classification", "image_classification"}),
        ("mlcls pipeline --pipeline mu", {"multi_label_image_classification"}),
        ("mlcls predict --device gpu", {"gpu", "gpu:0", "gpu:1", "gpu:0,1"}),
        ("mlcls eval --device c", {"cpu"}),
    ],
)
def test_values_are_completed(words: str, expected: set[str]) -> None:
    assert set(_complete(words)) == expected
