"""The documentation stays true: every `mlcls` command in README.md parses, and the examples run."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer.main
from PIL import Image
from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from tests.conftest import REPO, SAMPLE_DATASET

README = REPO / "README.md"
runner = CliRunner()


def readme_commands() -> list[list[str]]:
    """Every `mlcls ...` invocation in README's bash blocks, as argument lists (pipes and redirects cut)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|(?!\|)", line):
                words = shlex.split(part, comments=True)
                if "mlcls" not in words[:1]:
                    continue
                cut = next((i for i, w in enumerate(words) if w.startswith((">", "2>"))), len(words))
                commands.append(words[1:cut])
    return commands


COMMANDS = readme_commands()


def test_readme_has_examples_of_every_subcommand() -> None:
    used = {
        next(w for w in c if not w.startswith("-")) for c in COMMANDS if any(not w.startswith("-") for w in c)
    }
    assert {
        "check",
        "convert",
        "split",
        "train",
        "eval",
        "predict",
        "pipeline",
        "serve",
        "get-config",
        "models",
    } <= used


def parse_without_running(args: list[str]) -> None:
    """Parse ``mlcls ARGS`` as the CLI would, converting every value, without running the command.

    Raises the parser's error for an unknown option or command, a missing argument or a bad value
    (``--epochs abc``); ``--help`` is not used, because it is eager and would skip the values.
    """
    group = typer.main.get_command(app)
    ctx = group.make_context("mlcls", list(args))
    rest = [*ctx._protected_args, *ctx.args]
    while rest:
        name, command, rest = group.resolve_command(ctx, rest)
        ctx = command.make_context(name, rest, parent=ctx)
        if not hasattr(command, "resolve_command"):
            return
        group, rest = command, [*ctx._protected_args, *ctx.args]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c)[:70] for c in COMMANDS])
def test_readme_command_parses(args: list[str]) -> None:
    parse_without_running(args)


@pytest.mark.parametrize(
    "args",
    [
        ["train", "ds", "--epochs", "abc"],
        ["train", "ds", "--epochs", "0"],
        ["predict", "x.jpg", "--top-k", "many"],
        ["split", "ds", "--train-percent", "ninety"],
        ["eval", "ds", "--no-such-option"],
        ["models", "nonsense"],
    ],
)
def test_the_parse_check_catches_bad_values(args: list[str]) -> None:
    with pytest.raises(Exception) as info:
        parse_without_running(args)
    assert type(info.value).__name__ in ("BadParameter", "NoSuchOption", "UsageError", "MissingParameter")


def test_sample_dataset_generator_reproduces_the_bundled_dataset(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "make_sample_dataset.py"), str(out)],
        check=True,
        capture_output=True,
    )
    for name in ("label.txt", "train.txt", "val.txt"):
        assert (out / name).read_text() == (SAMPLE_DATASET / name).read_text()
    for image in sorted((SAMPLE_DATASET / "images").iterdir())[::7]:
        assert np.array_equal(
            np.asarray(Image.open(image)), np.asarray(Image.open(out / "images" / image.name))
        )


@pytest.mark.slow
@pytest.mark.paddle
def test_quickstart_script_runs_the_whole_lifecycle_offline(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "mlcls"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mlcls_cli "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "MLCLS_OFFLINE": "1"}
    proc = subprocess.run(
        ["bash", str(REPO / "examples" / "quickstart.sh"), str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out"
    assert json.loads((out / "check_dataset_result.json").read_text())["check_pass"] is True
    assert json.loads((out / "train_result.json").read_text())["done_flag"] is True
    evaluation = json.loads((out / "evaluate_result.json").read_text())
    assert evaluation["done_flag"] is True and 0.0 <= evaluation["metrics"]["MultiLabelMAP"] <= 1.0
    assert (out / "thresholds.json").exists()
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 96
    assert set(rows[0]) >= {"input_path", "class_ids", "scores", "label_names"}
    assert len(list((out / "predict").glob("*_res.png"))) == 96


PADDLE_FREE = {"check", "convert", "split", "get-config", "models", "version"}


def _readme_shell_commands() -> list[tuple[list[str], str | None]]:
    """README's paddle-free `mlcls` commands in order, with the file a `>` redirect sends stdout to."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            part = re.split(r"&&|\|(?!\|)", line)[0]
            words = shlex.split(part, comments=True)
            if words[:1] != ["mlcls"]:
                continue
            sub = next((w for w in words[1:] if not w.startswith("-")), None)
            if sub not in PADDLE_FREE:
                continue
            redirect = None
            if ">" in words:
                i = words.index(">")
                words, redirect = words[:i], words[i + 1]
            out.append((words[1:], redirect))
    return out


def _write_coco(root: Path) -> None:
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    cats = [{"id": 1, "name": "cat"}, {"id": 7, "name": "dog"}]
    for split, ids in (("train", [1, 2, 3, 4, 5, 6]), ("val", [7, 8])):
        images, anns = [], []
        for i in ids:
            Image.new("RGB", (16, 16), (i * 25, 0, 0)).save(root / "images" / f"{i}.png")
            images.append({"id": i, "file_name": f"{i}.png", "width": 16, "height": 16})
            cat = 1 if i % 2 else 7
            anns.append(
                {"id": i, "image_id": i, "category_id": cat, "bbox": [0, 0, 4, 4], "area": 16, "iscrowd": 0}
            )
        doc = {"images": images, "annotations": anns, "categories": cats}
        (root / "annotations" / f"instance_{split}.json").write_text(json.dumps(doc))


@pytest.mark.slow
def test_readme_paddle_free_examples_run(tmp_path: Path) -> None:
    """Run README's check/convert/split/get-config/models/version examples as written, in a sandbox."""
    import shutil

    from mlcls_cli.models.registry import MODELS
    from tests.hub.hubkit import make_tar, package_files, start_server, stop_server

    for name in ("mlcls_nus_examples", "x"):
        shutil.copytree(SAMPLE_DATASET, tmp_path / "dataset" / name)
    _write_coco(tmp_path / "dataset" / "det_coco_examples")
    server, thread = start_server()
    try:
        for info in (i for i in MODELS.values() if i.official):
            server.add_official(
                info.inference_url(), make_tar(package_files(info.name), top=f"{info.name}_infer")
            )
            server.add_official(info.pretrained_url, b"pretrained weights of " + info.name.encode())
        env = {**os.environ, "MLCLS_HOME": str(tmp_path / "home"), "MLCLS_MODEL_ENDPOINT": server.endpoint}
        commands = _readme_shell_commands()
        assert len(commands) >= 15
        for args, redirect in commands:
            if args[:1] == ["check"] and "-c" in args:  # the README refers to a file made by get-config
                subprocess.run(
                    [sys.executable, "-m", "mlcls_cli", "get-config", "PP-LCNet_x1_0_ML", "--save-path", ".", "--force"],
                    cwd=tmp_path, env=env, check=True, capture_output=True,
                )  # fmt: skip
            proc = subprocess.run(
                [sys.executable, "-m", "mlcls_cli", *args],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert proc.returncode == 0, (
                f"`mlcls {' '.join(args)}` exited {proc.returncode}:\n{proc.stderr[-2000:]}"
            )
            if redirect:
                (tmp_path / redirect).write_text(proc.stdout)
    finally:
        stop_server(server, thread)
    assert (tmp_path / "dataset" / "det_coco_mlcls" / "label.txt").read_text() == "0 cat\n1 dog\n"
    assert (tmp_path / "configs" / "multi_label_image_classification.yaml").exists()
