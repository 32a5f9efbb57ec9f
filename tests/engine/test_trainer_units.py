"""Training building blocks without a training run: devices, checkpoints, result files, planning errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlcls_cli.config import Config, resolve_config
from mlcls_cli.engine.checkpoint import load_checkpoint, resolve_resume_path, save_checkpoint
from mlcls_cli.engine.device import DeviceSpec, parse_device, resolve_device
from mlcls_cli.engine.distributed import ENV_SEEN_DIR, WORKER_CODE, launch_command, launch_env
from mlcls_cli.engine.outputs import RunFiles, TrainResult
from mlcls_cli.engine.trainer import TrainPlan, plan_training
from mlcls_cli.errors import (
    ConfigError,
    DatasetError,
    InputMissingError,
    ModelUnavailableError,
    UsageError,
)
from tests.conftest import SAMPLE_DATASET
from tests.datasets import make_dataset

# --------------------------------------------------------------------------- devices


@pytest.mark.parametrize(
    ("text", "kind", "ids"),
    [
        ("cpu", "cpu", ()),
        ("CPU", "cpu", ()),
        ("gpu", "gpu", (0,)),
        ("gpu:1", "gpu", (1,)),
        ("gpu:0,1,3", "gpu", (0, 1, 3)),
    ],
)
def test_parse_device(text: str, kind: str, ids: tuple[int, ...]) -> None:
    assert parse_device(text) == (kind, ids)


@pytest.mark.parametrize("text", ["gpu:a", "gpu:0,0", "npu:0", "tpu", "cpu:0", ""])
def test_parse_device_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_device(text)


def test_cpu_processes_and_labels() -> None:
    spec = resolve_device("cpu", 2)
    assert spec == DeviceSpec("cpu", (), 2)
    assert spec.distributed and spec.label() == "cpu x2" and spec.config_value() == "cpu"
    assert DeviceSpec("gpu", (0, 1), 2).label() == "gpu:0,1"
    assert DeviceSpec("gpu", (2, 3), 2).paddle_device(1) == "gpu:3"
    with pytest.raises(UsageError, match="at least 1"):
        resolve_device("cpu", 0)


@pytest.mark.paddle
def test_gpu_request_on_a_cpu_build_is_device_unavailable() -> None:
    from mlcls_cli.engine.device import gpu_count
    from mlcls_cli.inference.device import DeviceUnavailableError

    if gpu_count():  # the default must then be a GPU
        assert resolve_device(None).kind == "gpu"
        return
    assert resolve_device(None) == DeviceSpec("cpu", (), 1)
    with pytest.raises(DeviceUnavailableError, match="no usable GPU") as info:
        resolve_device("gpu:0,1")
    assert info.value.exit_code == 69 and "--device cpu" in (info.value.hint or "")


# --------------------------------------------------------------------------- launcher command line


def test_launch_command_cpu_has_no_devices_and_env_drops_cuda_visible(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cmd = launch_command(Path("/o/job.json"), 2, Path("/o/log"))
    assert cmd[1:4] == ["-m", "paddle.distributed.launch", "--nproc_per_node"]
    assert "--devices" not in cmd and cmd[-1] == "/o/job.json" and WORKER_CODE in cmd
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert "CUDA_VISIBLE_DEVICES" not in launch_env(gpu=False)
    assert launch_env(gpu=True)["CUDA_VISIBLE_DEVICES"] == ""
    gpu = launch_command(Path("j.json"), 2, Path("log"), (0, 1))
    assert gpu[gpu.index("--devices") + 1] == "0,1"


# --------------------------------------------------------------------------- checkpoints


@pytest.mark.paddle
def test_checkpoint_round_trip_and_resume_path_forms(tmp_path: Path) -> None:
    import numpy as np
    import paddle

    state = {"w": paddle.to_tensor(np.arange(6, dtype="float32").reshape(2, 3))}
    folder = save_checkpoint(
        tmp_path,
        "epoch_3",
        model_state=state,
        optimizer_state={"m": paddle.ones([2])},
        states={"epoch": 3, "batch": 0},
        ema_state=state,
        info={"metric": 0.5, "epoch": 3},
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "epoch_3.info.json",
        "epoch_3.pdema",
        "epoch_3.pdopt",
        "epoch_3.pdparams",
        "epoch_3.pdstates",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    prefix = folder / "epoch_3"
    for spec in ("auto", folder, prefix, f"{prefix}.pdparams", f"{prefix}.pdstates"):
        assert resolve_resume_path(spec, tmp_path) == prefix
    ckpt = load_checkpoint(prefix)
    assert ckpt.states == {"epoch": 3, "batch": 0} and ckpt.info["metric"] == 0.5
    np.testing.assert_array_equal(np.asarray(ckpt.model["w"]), np.arange(6).reshape(2, 3))

    save_checkpoint(tmp_path, "latest", model_state=state, states={"epoch": 4})
    assert resolve_resume_path("auto", tmp_path) == tmp_path / "latest" / "latest"  # latest wins over epoch_N


def test_resume_path_errors(tmp_path: Path) -> None:
    with pytest.raises(InputMissingError, match="no checkpoint to resume"):
        resolve_resume_path("auto", tmp_path)
    with pytest.raises(InputMissingError, match="not found"):
        resolve_resume_path(tmp_path / "nope", tmp_path)
    weights_only = tmp_path / "w"
    weights_only.mkdir()
    (weights_only / "w.pdparams").write_bytes(b"x")
    with pytest.raises(InputMissingError, match="no training state") as info:
        resolve_resume_path(weights_only, tmp_path)
    assert "pretrain_weight_path" in (info.value.hint or "")


# --------------------------------------------------------------------------- train_result.json and logs


def test_train_result_follows_paddlex_update_rules(tmp_path: Path) -> None:
    result = TrainResult(tmp_path, "PP-LCNet_x1_0_ML", ema=True)
    result.save()
    data = json.loads((tmp_path / "train_result.json").read_text())
    assert list(data) == [
        "model_name",
        "label_dict",
        "train_log",
        "visualdl_log",
        "config",
        "models",
        "done_flag",
    ]
    assert data["label_dict"] == "label_dict.txt" and data["done_flag"] is False
    assert list(data["models"]) == ["last_1", "last_2", "last_3", "last_4", "last_5", "best"]

    for epoch in range(1, 8):
        result.record_epoch(f"epoch_{epoch}", epoch / 10, epoch)
    result.record_best(0.6, 6)
    models = json.loads((tmp_path / "train_result.json").read_text())["models"]
    assert [models[f"last_{i}"]["epoch"] for i in range(1, 6)] == [7, 6, 5, 4, 3]
    assert models["last_1"]["pdparams"] == "epoch_7/epoch_7.pdparams"
    assert models["last_1"]["pdema"] == "epoch_7/epoch_7.pdema"
    assert models["best"]["score"] == 0.6 and "pdmodel" not in models["best"]  # no package yet
    result.record_best_inference()
    result.finish()
    data = json.loads((tmp_path / "train_result.json").read_text())
    assert data["models"]["best"]["pdmodel"] == "best_model/inference/inference.json"
    assert data["models"]["best"]["inference_config"] == "best_model/inference/inference.yml"
    assert data["done_flag"] is True


def test_train_result_forgets_deleted_checkpoints_and_skips_missing_ones_on_resume(tmp_path: Path) -> None:
    result = TrainResult(tmp_path, "PP-LCNet_x1_0_ML", ema=False)
    for epoch in range(1, 4):
        (tmp_path / f"epoch_{epoch}").mkdir()
        (tmp_path / f"epoch_{epoch}" / f"epoch_{epoch}.pdparams").write_bytes(b"w")
        result.record_epoch(f"epoch_{epoch}", None, epoch)
    result.forget(["epoch_1"])
    models = json.loads((tmp_path / "train_result.json").read_text())["models"]
    assert [models[f"last_{i}"].get("epoch") for i in (1, 2, 3)] == [3, 2, None]

    (tmp_path / "epoch_2" / "epoch_2.pdparams").unlink()  # deleted by hand before a resume
    resumed = TrainResult(tmp_path, "PP-LCNet_x1_0_ML", ema=False)
    resumed.load_existing()
    assert [resumed.data["models"][f"last_{i}"].get("epoch") for i in (1, 2, 3)] == [3, None, None]


def test_metrics_prune_keeps_records_up_to_the_checkpoint(tmp_path: Path) -> None:
    files = RunFiles(tmp_path)
    files.prepare()
    for step in range(1, 6):
        files.metric({"type": "train", "step": step})
    (tmp_path / "metrics.jsonl").open("a").write('{"type": "tr')  # a torn last line
    assert files.prune_metrics(3) == 3
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    files.log("two\nlines")
    assert len((tmp_path / "train.log").read_text().splitlines()) == 2


# --------------------------------------------------------------------------- planning


def _cfg(tmp_path: Path, *extra: str) -> Config:
    return resolve_config(
        "PP-LCNet_x1_0_ML",
        overrides=[f"Global.output={tmp_path / 'out'}", "Global.device=cpu", *extra],
    )


def test_plan_reads_classes_and_config(tmp_path: Path) -> None:
    plan, spec = plan_training(
        _cfg(tmp_path, "Train.pretrain_weight_path=null", "Train.image_size=64", "Train.epochs_iters=3"),
        SAMPLE_DATASET,
    )
    assert plan.label_names == ["circle", "square", "triangle", "red", "green", "blue"]
    assert (plan.image_size, plan.epochs, plan.pretrained, spec.nproc) == (64, 3, None, 1)
    assert "num_classes: 6" in plan.config_text and "mode: train" in plan.config_text
    assert TrainPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


def test_num_classes_that_contradict_label_txt_are_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lists 6 classes"):
        plan_training(
            _cfg(tmp_path, "Train.num_classes=80", "Train.pretrain_weight_path=null"), SAMPLE_DATASET
        )


def test_broken_dataset_is_refused_with_a_pointer_to_check(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=4, val=2)
    made.set_list_line("train", 2, "images/missing.png\t1,0,0")
    with pytest.raises(DatasetError) as info:
        plan_training(_cfg(tmp_path, "Train.pretrain_weight_path=null"), made.root)
    assert "train.txt:2" in info.value.message
    assert "mlcls check" in (info.value.hint or "")


def test_offline_without_cached_pretrained_weights_says_how_to_train_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCLS_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as info:
        plan_training(_cfg(tmp_path), SAMPLE_DATASET)
    assert "--no-pretrained" in (info.value.hint or "")
    assert info.value.exit_code == 69


def test_missing_local_pretrained_file(tmp_path: Path) -> None:
    with pytest.raises(InputMissingError, match="pretrained weights not found"):
        plan_training(
            _cfg(tmp_path, f"Train.pretrain_weight_path={tmp_path / 'nope.pdparams'}"), SAMPLE_DATASET
        )


def test_resume_auto_without_checkpoint_starts_a_new_run(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "Train.resume_path=auto", "Train.pretrain_weight_path=null")
    assert plan_training(cfg, SAMPLE_DATASET)[0].resume is None


def test_seen_dir_variable_name_is_stable() -> None:
    assert ENV_SEEN_DIR == "MLCLS_DEBUG_SEEN_DIR"


@pytest.mark.paddle
@pytest.mark.filterwarnings("ignore:When training, we now always track")
def test_optimizer_state_survives_other_generated_parameter_names() -> None:
    import numpy as np
    import paddle

    from mlcls_cli.engine.checkpoint import local_optimizer_state, portable_optimizer_state
    from mlcls_cli.engine.optim import build_optimizer

    def model_and_step() -> tuple[paddle.nn.Layer, paddle.optimizer.Optimizer]:
        paddle.seed(3)
        net = paddle.nn.Sequential(paddle.nn.Linear(3, 4), paddle.nn.BatchNorm1D(4), paddle.nn.Linear(4, 2))
        opt, _ = build_optimizer(net, learning_rate=0.1, epochs=2, iters_per_epoch=2, warmup_epochs=0)
        net(paddle.ones([5, 3])).sum().backward()
        opt.step()
        return net, opt

    first, opt = model_and_step()
    saved = portable_optimizer_state(opt.state_dict(), first)
    assert "@0.weight@moment1_0" in saved and "LR_Scheduler" in saved
    second, opt2 = model_and_step()  # built later: paddle names its parameters differently
    assert first[0].weight.name != second[0].weight.name
    restored = local_optimizer_state(saved, second)
    key = f"{second[0].weight.name}_moment1_0"
    np.testing.assert_array_equal(np.asarray(restored[key]), np.asarray(saved["@0.weight@moment1_0"]))
    opt2.set_state_dict(restored)


def test_resume_mismatches_of_a_checkpoint_without_a_dataset_record() -> None:
    from mlcls_cli.engine.trainer import resume_mismatches

    plan = TrainPlan(
        model_name="PP-LCNet_x1_0_ML",
        dataset_dir="/d",
        output_dir="/o",
        label_names=["a", "b", "c"],
        epochs=2,
        batch_size=2,
        learning_rate=0.1,
        warmup_epochs=0,
        image_size=64,
    )
    assert resume_mismatches(plan, {"model_name": "PP-LCNet_x1_0_ML"}, {"image_size": 64}) == []
    diffs = resume_mismatches(plan, {"model_name": "ResNet50_ML"}, {"image_size": 32, "num_classes": 5})
    assert diffs == [
        "model ResNet50_ML (checkpoint) vs PP-LCNet_x1_0_ML (this run)",
        "image size 32 vs 64",
        "5 classes vs 3",
    ]


def test_a_warmup_as_long_as_the_run_is_capped_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, _ = plan_training(
        _cfg(tmp_path, "Train.pretrain_weight_path=null", "Train.epochs_iters=2"), SAMPLE_DATASET
    )
    assert plan.warmup_epochs == 5  # the packaged default
    err = capsys.readouterr().err
    assert "warning: the warm-up (Train.warmup_steps=5 epochs) is not shorter than the run (2 epochs)" in err
    assert "first half of the run" in err
    plan_training(_cfg(tmp_path, "Train.pretrain_weight_path=null", "Train.epochs_iters=6"), SAMPLE_DATASET)
    assert "warm-up" not in capsys.readouterr().err
