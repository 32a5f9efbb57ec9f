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
from tests.conftest import REPO, SAMPLE_CLS_DATASET, SAMPLE_DATASET

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
        "export",
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


def test_sample_cls_dataset_generator_reproduces_the_bundled_dataset(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "make_sample_cls_dataset.py"), str(out)],
        check=True,
        capture_output=True,
    )
    for name in ("label.txt", "train.txt", "val.txt"):
        assert (out / name).read_text() == (SAMPLE_CLS_DATASET / name).read_text()
    bundled = sorted((SAMPLE_CLS_DATASET / "images").iterdir())
    assert [p.name for p in bundled] == sorted(p.name for p in (out / "images").iterdir())
    for image in bundled[::7]:
        assert np.array_equal(
            np.asarray(Image.open(image)), np.asarray(Image.open(out / "images" / image.name))
        )


def test_sample_cls_dataset_is_a_small_valid_clsdataset(tmp_path: Path) -> None:
    from mlcls_cli.data.check import check_dataset

    report = check_dataset(SAMPLE_CLS_DATASET, output_dir=tmp_path, progress=False, plots=False)
    assert report.passed and report.problems.counts == {}
    assert report.dataset_type == "ClsDataset" and not report.type_ambiguous
    assert report.class_names == ["circle", "square", "triangle", "cross", "ring"]
    assert [c["train"] for c in report.statistics["per_class"]] == [18] * 5
    assert [c["val"] for c in report.statistics["per_class"]] == [6] * 5
    assert report.statistics["image_size"]["width"] == {"min": 64, "median": 64, "max": 64}
    size = sum(p.stat().st_size for p in SAMPLE_CLS_DATASET.rglob("*") if p.is_file())
    assert size < 100_000  # kept small in the repository


@pytest.mark.slow
@pytest.mark.paddle
def _run_script(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run an examples/ script with `mlcls` on PATH (this interpreter), offline."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "mlcls"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mlcls_cli "$@"\n')
    shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "MLCLS_OFFLINE": "1"}
    return subprocess.run(
        ["bash", str(REPO / "examples" / script), str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_quickstart_script_runs_the_whole_lifecycle_offline(tmp_path: Path) -> None:
    proc = _run_script("quickstart.sh", tmp_path)
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


@pytest.mark.slow
@pytest.mark.paddle
def test_single_label_quickstart_runs_offline_and_learns(tmp_path: Path) -> None:
    proc = _run_script("quickstart_cls.sh", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "out"
    check = json.loads((out / "check_dataset_result.json").read_text())
    assert check["check_pass"] is True and check["dataset_type"] == "ClsDataset"
    evaluation = json.loads((out / "evaluate_result.json").read_text())
    assert evaluation["metrics"]["val.top1"] >= 0.7  # chance is 0.2; README promises about 0.95
    assert (out / "confusion_matrix.png").is_file()
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 120 and all(len(r["class_ids"]) == 2 for r in rows)
    assert len(list((out / "predict").glob("*_res.png"))) == 120


#: README examples that are parsed but not run here, and why; every entry must still be in README.
NOT_RUN = {
    "train ./dataset/mlcls_nus_examples --model PP-LCNet_x1_0_ML": "20 epochs at 448 px: an hour on a CPU",
    "train ./dataset/mlcls_nus_examples --model PP-HGNetV2-B4_ML --epochs 10 --batch-size 16 --lr 1e-4 "
    "--device gpu:0": "needs a GPU",
    "train ./dataset/mlcls_nus_examples --device gpu:0,1": "needs two GPUs",
    "train ./dataset/mlcls_nus_examples --device cpu --nproc 2 --image-size 224": (
        "20 epochs at 224 px: too slow here (tests/engine/test_distributed.py runs 2 CPU processes)"
    ),
    "train ./dataset/mlcls_nus_examples --device gpu:0,1,2,3 --nnodes 2 --node-rank 0 --master 10.0.0.1:6170": (
        "needs two machines with four GPUs (tests/engine/test_multinode.py runs two CPU nodes on 127.0.0.1)"
    ),
    "train ./dataset/mlcls_nus_examples --device gpu:0,1,2,3 --nnodes 2 --node-rank 1 --master 10.0.0.1:6170": (
        "needs two machines with four GPUs (tests/engine/test_multinode.py runs two CPU nodes on 127.0.0.1)"
    ),
    "train ./dataset/mlcls_nus_examples --resume auto": (
        "continues an interrupted run (tests/cli/test_train_eval_cli.py resumes after a real Ctrl-C)"
    ),
    "train -c PP-LCNet_x1_0_ML.yaml -o Global.dataset_dir=./dataset/x -o Train.epochs_iters=10": (
        "10 epochs at 448 px: too slow on a CPU"
    ),
    "train ./dataset/mlcls_nus_examples --model PP-LCNet_x1_0_ML --logger tensorboard --logger mlflow": (
        "20 epochs at 448 px (tests/engine/test_loggers.py trains with each logger and reads back what it wrote)"
    ),
    "predict https://example.com/a.jpg --model PP-HGNetV2-B4_ML --threshold 0.4 --top-k 3": (
        "needs the internet (URL inputs are tested against a local server)"
    ),
    "train ./dataset/cls_flowers_examples --model PP-LCNet_x1_0": (
        "20 epochs at 224 px from ImageNet weights: too slow on a CPU (tests/engine/test_single_label_e2e.py trains)"
    ),
}


def _not_run_here(commands: list[str]) -> dict[str, str]:
    """NOT_RUN, plus the bf16 examples on a CPU without bf16 (they exit 69 there, as documented)."""
    from mlcls_cli.inference.backends.openvino_runtime import cpu_supports_bf16

    skipped = dict(NOT_RUN)
    if not cpu_supports_bf16():
        skipped |= {c: "this CPU has no bf16" for c in commands if "--precision bf16" in c}
    return skipped


def _readme_shell_commands() -> list[tuple[list[str], str | None, str]]:
    """README's `mlcls` commands in order: arguments, the file a `>` redirect names, the block's text."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            part = re.split(r"&&|\|(?!\|)", line)[0]
            words = shlex.split(part, comments=True)
            if words[:1] != ["mlcls"]:
                continue
            redirect = None
            if ">" in words:
                i = words.index(">")
                words, redirect = words[:i], words[i + 1]
            out.append((words[1:], redirect, block))
    return out


def _block_lines(block: str, program: str) -> list[list[str]]:
    """The lines of a README block that run ``program`` (e.g. the client beside `mlcls serve`)."""
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith(program)]


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


def _official_weights(root: Path, num_classes: int = 80) -> bytes:
    """A real PP-LCNet_x1_0_ML state dict (random weights): what the official pretrained URL serves here."""
    import paddle

    from mlcls_cli.models import build_model

    paddle.seed(0)
    path = root / f"lcnet_{num_classes}.pdparams"
    paddle.save(build_model("PP-LCNet_x1_0_ML", num_classes).state_dict(), str(path))
    return path.read_bytes()


def _official_package(root: Path) -> bytes:
    """A real, exported PP-LCNet_x1_0_ML package (random weights, the sample labels) as an _infer.tar."""
    from mlcls_cli.models import build_model
    from mlcls_cli.models.export import export_model
    from tests.inference.kit import make_tar

    names = [line.split(" ", 1)[1] for line in (SAMPLE_DATASET / "label.txt").read_text().splitlines()]
    model = build_model("PP-LCNet_x1_0_ML", len(names))
    model.eval()
    package = export_model(
        model, root / "pkg", model_name="PP-LCNet_x1_0_ML", label_list=names, input_size=64
    )
    return make_tar(package)


def _official_cls_package(root: Path) -> bytes:
    """A real, exported PP-LCNet_x0_5 package (random weights, ImageNet's 1000 names): the single-label pipeline's default."""
    from mlcls_cli.models import build_model
    from mlcls_cli.models.export import export_model
    from mlcls_cli.models.imagenet import imagenet1k_labels
    from tests.inference.kit import make_tar

    model = build_model("PP-LCNet_x0_5", 1000)
    model.eval()
    package = export_model(
        model,
        root / "pkg_cls",
        model_name="PP-LCNet_x0_5",
        label_list=list(imagenet1k_labels()),
        input_size=224,
    )
    return make_tar(package, top="PP-LCNet_x0_5_infer")


def _sandbox(root: Path) -> None:
    """What README's examples expect in the current folder: datasets, photos, examples/."""
    import shutil

    for name in ("mlcls_nus_examples", "x"):
        shutil.copytree(SAMPLE_DATASET, root / "dataset" / name)
    # single-label: a ClsDataset under PaddleX's demo name, and the same images as one folder per class
    shutil.copytree(SAMPLE_CLS_DATASET, root / "dataset" / "cls_flowers_examples")
    names = (SAMPLE_CLS_DATASET / "label.txt").read_text().splitlines()
    for split in ("train", "val"):
        for line in (SAMPLE_CLS_DATASET / f"{split}.txt").read_text().splitlines():
            path, class_id = line.split(" ")
            folder = root / "dataset" / "flowers" / split / names[int(class_id)].split(" ", 1)[1]
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copy(SAMPLE_CLS_DATASET / path, folder)
    _write_coco(root / "dataset" / "det_coco_examples")
    shutil.copytree(REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    images = sorted((SAMPLE_DATASET / "images").iterdir())
    Image.open(images[0]).convert("RGB").save(root / "photo.jpg")
    Image.open(images[1]).convert("RGB").save(root / "a.jpg")
    (root / "my.pdparams").write_bytes(_official_weights(root, 6))  # README's "my.pdparams"
    (root / "photos").mkdir()
    for image in images[:5]:
        shutil.copy(image, root / "photos" / image.name)


@pytest.mark.slow
def test_readme_examples_run_as_written(tmp_path: Path) -> None:
    """Run every `mlcls` example of README as written, in order, in a sandbox with a local model mirror.

    The sandbox holds README's datasets (copies of the sample dataset), photos and examples/;
    the mirror serves a real PP-LCNet_x1_0_ML package as the official one. `mlcls serve` runs in
    the background while the client lines of its block run. Only the examples in NOT_RUN are
    skipped, each with its reason.
    """

    from mlcls_cli.models.registry import MODELS
    from tests.hub.hubkit import make_tar, package_files, start_server, stop_server

    _sandbox(tmp_path)
    commands = _readme_shell_commands()
    listed = {" ".join(args) for args, _, _ in commands}
    assert set(NOT_RUN) <= listed, f"stale NOT_RUN entries: {set(NOT_RUN) - listed}"
    not_run = _not_run_here(sorted(listed))
    server, thread = start_server()
    try:
        for info in (i for i in MODELS.values() if i.official):
            real = info.name == "PP-LCNet_x1_0_ML"
            if real:
                body = _official_package(tmp_path)
            elif info.name == "PP-LCNet_x0_5":  # the image_classification pipeline's default model
                body = _official_cls_package(tmp_path)
            else:
                body = make_tar(package_files(info.name), top=f"{info.name}_infer")
            server.add_official(info.inference_url(), body)
            weights = _official_weights(tmp_path) if real else b"pretrained weights of " + info.name.encode()
            server.add_official(info.pretrained_url, weights)
        env = {**os.environ, "MLCLS_HOME": str(tmp_path / "home"), "MLCLS_MODEL_ENDPOINT": server.endpoint}
        ran = 0
        for args, redirect, block in commands:
            if " ".join(args) in not_run:
                continue
            if args[:1] in (["check"], ["export"]) and "-c" in args:  # a file made by get-config
                subprocess.run(
                    [sys.executable, "-m", "mlcls_cli", "get-config", "PP-LCNet_x1_0_ML", "--save-path", ".", "--force"],
                    cwd=tmp_path, env=env, check=True, capture_output=True,
                )  # fmt: skip
            if (
                args[:1] == ["pipeline"]
                and "my_pipeline.yaml" in args
                and not (tmp_path / "my_pipeline.yaml").exists()
            ):
                subprocess.run(
                    [sys.executable, "-m", "mlcls_cli", "get-config", "multi_label_image_classification", "--save-path", "my_pipeline.yaml"],
                    cwd=tmp_path, env=env, check=True, capture_output=True,
                )  # fmt: skip
            if args[:1] == ["serve"]:
                _run_serve_block(args, block, tmp_path, env)
                ran += 1
                continue
            proc = subprocess.run(
                [sys.executable, "-m", "mlcls_cli", *args],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert proc.returncode == 0, (
                f"`mlcls {' '.join(args)}` exited {proc.returncode}:\n{proc.stderr[-3000:]}"
            )
            if redirect:
                (tmp_path / redirect).write_text(proc.stdout)
            ran += 1
    finally:
        stop_server(server, thread)
    assert ran >= 30 and ran + len(not_run) == len(commands)
    assert (tmp_path / "dataset" / "det_coco_mlcls" / "label.txt").read_text() == "0 cat\n1 dog\n"
    assert (tmp_path / "configs" / "multi_label_image_classification.yaml").exists()
    assert json.loads((tmp_path / "output" / "train_result.json").read_text())["done_flag"] is True
    assert (tmp_path / "output" / "thresholds.json").exists()
    rows = [json.loads(line) for line in (tmp_path / "preds.jsonl").read_text().splitlines()]
    assert len(rows) == 5 and all(
        set(r) >= {"input_path", "class_ids", "scores", "label_names"} for r in rows
    )
    assert len(list((tmp_path / "out").glob("*_res.json"))) == 5
    # the single-label lifecycle
    assert (tmp_path / "dataset" / "flowers_cls" / "label.txt").is_file()
    assert (
        json.loads((tmp_path / "output_cls" / "evaluate_result.json").read_text())["metrics"]["val.top1"]
        >= 0.5
    )
    assert (tmp_path / "output_cls" / "pkg" / "inference.onnx").is_file()


def _run_serve_block(args: list[str], block: str, cwd: Path, env: dict[str, str]) -> None:
    """Start `mlcls serve` as written, run its block's client lines against it, stop it with Ctrl-C."""
    import shutil
    import signal
    import time

    import requests

    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcls_cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        port = int(args[args.index("--port") + 1])
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:] if proc.stderr else ""
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.3)
        for words in _block_lines(block, "python "):
            words = [sys.executable, *words[1:]]
            client = subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
            assert client.returncode == 0, client.stderr[-2000:]
        for words in _block_lines(block, "curl "):
            if shutil.which("curl") is None:  # the same request without curl
                assert requests.get(f"http://127.0.0.1:{port}/health", timeout=10).json()["errorCode"] == 0
                continue
            answer = subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
            assert answer.returncode == 0 and json.loads(answer.stdout)["errorMsg"] == "Healthy"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
