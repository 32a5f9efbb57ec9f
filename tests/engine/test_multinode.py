"""Training on several machines: the checks of --nnodes/--node-rank/--master, and two nodes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from mlcls_cli.engine.distributed import (
    LAUNCHER_ENV,
    Nodes,
    _collect,
    describe_batch,
    describe_world,
    launch_command,
    launch_env,
    node_dirs,
    resolve_nodes,
    same_run_fields,
)
from mlcls_cli.errors import MlclsError, OutputBusyError, UsageError
from tests.conftest import SAMPLE_DATASET
from tests.datasets import make_dataset

runner = CliRunner()
TINY = [
    "--model",
    "SmallCNN_ML",
    "--no-pretrained",
    "--device",
    "cpu",
    "--image-size",
    "32",
    "--batch-size",
    "2",
]


def _train(tmp_path: Path, *args: str) -> object:
    return runner.invoke(app, ["train", str(SAMPLE_DATASET), *TINY, "-O", str(tmp_path / "out"), *args])


# --------------------------------------------------------------------------- the checks, through the CLI


def test_several_nodes_need_a_master(tmp_path: Path) -> None:
    result = _train(tmp_path, "--nnodes", "2")
    assert result.exit_code == 2
    assert "--nnodes 2 needs --master HOST:PORT (Global.master)" in result.stderr
    assert "--node-rank 0 on node 0" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()  # refused before anything is written


@pytest.mark.parametrize(("nnodes", "rank"), [("2", "2"), ("2", "5"), ("1", "1")])
def test_the_node_rank_must_be_below_the_node_count(tmp_path: Path, nnodes: str, rank: str) -> None:
    result = _train(tmp_path, "--nnodes", nnodes, "--node-rank", rank, "--master", "127.0.0.1:6170")
    assert result.exit_code == 2
    assert f"--node-rank {rank} is out of range for --nnodes {nnodes}" in result.stderr


def test_a_negative_node_rank_is_a_usage_error(tmp_path: Path) -> None:
    assert _train(tmp_path, "--nnodes", "2", "--node-rank", "-1").exit_code == 2


@pytest.mark.parametrize(
    ("master", "says"),
    [
        ("10.0.0.1", "is not HOST:PORT"),
        ("10.0.0.1:", "is not HOST:PORT"),
        (":6170", "is not HOST:PORT"),
        ("10.0.0.1:http", "is not HOST:PORT"),
        ("fe80::1:6170", "IPv6 addresses are not supported"),
        ("[::1]:6170", "IPv6 addresses are not supported"),
        ("bad host:6170", "is not HOST:PORT"),
        ("10.0.0.1:0", "the port must be 1-65535, got 0"),
        ("10.0.0.1:70000", "the port must be 1-65535, got 70000"),
        ("no-such-host.invalid:6170", "cannot resolve the host"),
    ],
)
def test_a_bad_master_is_a_usage_error(tmp_path: Path, master: str, says: str) -> None:
    result = _train(tmp_path, "--nnodes", "2", "--node-rank", "1", "--master", master)
    assert result.exit_code == 2, result.output
    assert f"--master {master!r}" in result.stderr and says in result.stderr


def _not_here() -> str:
    """A reserved address that is not one of this machine's (a sandbox may use a documentation range).

    The RFC 5737 documentation ranges, the RFC 2544 benchmark range and the reserved
    240.0.0.0/4: no machine holds all of them.
    """
    candidates = ("198.51.100.7", "203.0.113.7", "192.0.2.77", "198.18.0.7", "240.0.0.7")
    for ip in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((ip, 0))
            except OSError:
                return ip
    raise AssertionError(f"every one of {candidates} is an address of this machine")


def test_node_0_must_own_the_master_address(tmp_path: Path) -> None:
    ip = _not_here()
    result = _train(tmp_path, "--nnodes", "2", "--node-rank", "0", "--master", f"{ip}:6170")
    assert result.exit_code == 2
    assert f"{ip} is not an address of this machine" in result.stderr
    assert (
        _train(
            tmp_path, "--nnodes", "2", "--node-rank", "0", "--master", "no-such-host.invalid:6170"
        ).exit_code
        == 2
    )


def test_the_config_keys_work_and_the_options_beat_them(tmp_path: Path) -> None:
    config = tmp_path / "nodes.yaml"
    config.write_text("Global:\n  nnodes: 2\n  node_rank: 1\n  master: 127.0.0.1:6170\n")
    result = _train(tmp_path, "-c", str(config), "--node-rank", "3")
    assert result.exit_code == 2 and "--node-rank 3 is out of range for --nnodes 2" in result.stderr
    result = _train(tmp_path, "-o", "Global.nnodes=3", "-o", "Global.node_rank=1")
    assert result.exit_code == 2 and "--nnodes 3 needs --master" in result.stderr
    result = _train(tmp_path, "-o", "Global.nnodes=0")
    assert result.exit_code == 78 and "Global.nnodes must be an integer >= 1 or null, got 0" in result.stderr


def test_help_lists_the_node_options() -> None:
    text = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    for option in ("--nnodes", "--node-rank", "--master"):
        assert option in text


# --------------------------------------------------------------------------- the pieces


def test_resolve_nodes() -> None:
    assert resolve_nodes(None, None, None) == Nodes()
    assert resolve_nodes(1, 0, None) == Nodes()
    assert resolve_nodes(2, 1, "localhost:6170") == Nodes(2, 1, "127.0.0.1:6170")  # resolved for the launcher
    assert resolve_nodes(2, 0, "127.0.0.1:6170").master == "127.0.0.1:6170"
    with pytest.raises(UsageError):
        resolve_nodes(0, 0, None)


def test_launch_command_names_the_nodes_and_node_0_advertises_the_master() -> None:
    def flags(cmd: list[str]) -> dict[str, str]:
        return {
            cmd[i]: cmd[i + 1]
            for i in range(len(cmd) - 1)
            if cmd[i] in ("--nnodes", "--rank", "--master", "--host")
        }

    node1 = launch_command(Path("j.json"), 4, Path("log"), (0, 1, 2, 3), Nodes(2, 1, "10.0.0.1:6170"))
    assert flags(node1) == {"--nnodes": "2", "--rank": "1", "--master": "10.0.0.1:6170"}
    assert (
        node1[node1.index("--devices") + 1] == "0,1,2,3" and node1[node1.index("--nproc_per_node") + 1] == "4"
    )
    node0 = launch_command(Path("j.json"), 4, Path("log"), (0, 1, 2, 3), Nodes(2, 0, "10.0.0.1:6170"))
    assert flags(node0)["--host"] == "10.0.0.1" and flags(node0)["--rank"] == "0"
    local = launch_command(Path("j.json"), 1, Path("log"), (), Nodes(2, 1, "127.0.0.1:6170"))
    assert flags(local)["--host"] == "127.0.0.1" and "--devices" not in local  # both nodes on this machine
    assert "--nnodes" not in launch_command(Path("j.json"), 2, Path("log"), (), Nodes())


@pytest.mark.paddle
def test_the_installed_launcher_reads_those_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    from paddle.distributed.launch.context.args_envs import parse_args

    cmd = launch_command(Path("/o/job.json"), 2, Path("/o/log"), (), Nodes(3, 2, "10.0.0.1:6170"))
    monkeypatch.delenv("PADDLE_TRAINER_ID", raising=False)
    monkeypatch.setattr(sys, "argv", ["launch", *cmd[3:]])
    args, unknown = parse_args()
    assert (args.nnodes, args.rank, args.master, args.nproc_per_node) == ("3", 2, "10.0.0.1:6170", 2)
    assert args.devices is None and args.max_restart == 0 and not unknown
    assert args.training_script == sys.executable and args.training_script_args[-1] == "/o/job.json"


def test_launch_env_drops_the_launchers_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LAUNCHER_ENV:
        monkeypatch.setenv(name, "7")
    env = launch_env(gpu=False)
    assert not set(LAUNCHER_ENV) & set(env)  # PADDLE_TRAINER_ID would replace --rank, PADDLE_MASTER --master


def test_node_folders_and_what_a_node_reports(tmp_path: Path) -> None:
    assert node_dirs(tmp_path, 0) == (tmp_path / ".mlcls_dist", tmp_path / "log")
    job, log = node_dirs(tmp_path, 2)
    assert (job, log) == (tmp_path / ".mlcls_dist" / "node2", tmp_path / "log" / "node2")
    job.mkdir(parents=True)
    node = Nodes(3, 2, "10.0.0.1:6170")
    summary = _collect(job, log, 0, False, [], node)  # no result.json on node 2: it is on node 0
    assert summary["node_rank"] == 2 and summary["results_on"] == "node 0" and summary["log_dir"] == str(log)
    (job / "error.5.json").write_text(
        json.dumps({"exit_code": 1, "message": "unexpected RuntimeError: reset"})
    )
    with pytest.raises(MlclsError) as info:
        _collect(job, log, 1, False, [], node)
    assert info.value.exit_code == 1 and "another node" in (info.value.hint or "")


def test_the_node_summary_says_where_the_results_are(capsys: pytest.CaptureFixture[str]) -> None:
    from mlcls_cli.cli.train import render_node_summary

    render_node_summary({"node_rank": 1, "nnodes": 2, "log_dir": "/o/log/node1"})
    assert capsys.readouterr().out.splitlines() == [
        "node: 1 of 2 finished; node 0 holds the results (its --output)",
        "logs: /o/log/node1",
    ]


def test_world_statements() -> None:
    assert describe_world(1) == "" and describe_world(2) == " x2 processes"
    assert describe_world(1, 2) == " x1 process per node x 2 nodes = 2 processes"
    assert describe_world(4, 2) == " x4 processes per node x 2 nodes = 8 processes"
    assert describe_batch(16, 1) == "" and describe_batch(16, 8) == " per process (128 per step)"


def test_nodes_may_differ_in_paths_and_devices_but_not_in_the_run() -> None:
    from mlcls_cli.engine.trainer import TrainPlan

    def plan(**changes: object) -> dict:
        base = TrainPlan("SmallCNN_ML", "/a/ds", "/a/out", ["x", "y"], 2, 2, 0.1, 1, 32)
        data = {
            **base.to_dict(),
            "dataset_identity": {"dir": "/a/ds", "classes": ["x", "y"], "train": {"sha256": "1"}},
        }
        data.update(changes)
        return data

    start = {"epoch": 0, "batch": 0, "step": 0}
    other_node = plan(
        dataset_dir="/mnt/b/ds",
        output_dir="/b/out",
        device="gpu:4,5",
        node_rank=1,
        pretrained="/b/cache/w.pdparams",
        dataset_identity={"dir": "/mnt/b/ds", "classes": ["x", "y"], "train": {"sha256": "1"}},
    )
    assert same_run_fields(plan(pretrained="/a/cache/w.pdparams"), start) == same_run_fields(
        other_node, start
    )
    assert same_run_fields(plan(), start) != same_run_fields(plan(pretrained="/a/w.pdparams"), start)
    assert same_run_fields(plan(), start) != same_run_fields(plan(epochs=3), start)
    assert same_run_fields(plan(), start) != same_run_fields(
        plan(nproc=2), start
    )  # as many processes per node
    assert same_run_fields(plan(), start) != same_run_fields(
        plan(), {**start, "epoch": 2}
    )  # another resume point
    lists = {"dir": "/a/ds", "classes": ["x", "y"], "train": {"sha256": "2"}}
    assert same_run_fields(plan(), start) != same_run_fields(plan(dataset_identity=lists), start)


def test_a_node_above_0_never_checks_its_output_folder(tmp_path: Path) -> None:
    from mlcls_cli.config import resolve_config
    from mlcls_cli.engine.rundir import lock_output
    from mlcls_cli.engine.trainer import plan_training

    def cfg(rank: int, *extra: str) -> object:
        nodes = ["Global.nnodes=2", f"Global.node_rank={rank}", "Global.master=127.0.0.1:6170"]
        return resolve_config(
            "SmallCNN_ML",
            overrides=[f"Global.output={tmp_path}", "Global.device=cpu", *nodes, *extra],
        )

    (tmp_path / "train.log").write_text("node 0's run, on a shared filesystem")
    lock = lock_output(tmp_path)  # node 0 is training into it
    try:
        plan = plan_training(cfg(1), SAMPLE_DATASET)[0]  # neither busy (75) nor an earlier run (2)
        assert (plan.nnodes, plan.node_rank, plan.master) == (2, 1, "127.0.0.1:6170")
        assert plan_training(cfg(1, "Train.resume_path=auto"), SAMPLE_DATASET)[0].resume is None
        with pytest.raises(OutputBusyError):  # node 0 owns the folder
            plan_training(cfg(0), SAMPLE_DATASET)
    finally:
        lock.release()


def test_overwrite_on_node_0_leaves_other_nodes_files_alone(tmp_path: Path) -> None:
    from mlcls_cli.engine.rundir import overwrite_earlier_run

    for name in ("train.log", ".mlcls_dist/job.json", ".mlcls_dist/node1/job.json", "log/workerlog.0"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "log/node1").mkdir()
    (tmp_path / "log/node1/workerlog.0").write_text("x")
    overwrite_earlier_run(tmp_path)
    assert (tmp_path / ".mlcls_dist/node1/job.json").is_file()  # node 1 may be running from a shared --output
    assert (tmp_path / "log/node1/workerlog.0").is_file()
    assert not (tmp_path / ".mlcls_dist/job.json").exists() and not (tmp_path / "log/workerlog.0").exists()


# --------------------------------------------------------------------------- two nodes on this machine


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(procs: list[subprocess.Popen[str]], outs: list[Path]) -> None:
    """Stop a hung run: Ctrl-C to each node (it stops its workers or launcher), then kill what is left."""
    for proc in procs:
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    for pid_file in [p for out in outs for p in out.glob(".mlcls_dist/**/pid.*")]:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
    for proc in procs:
        proc.kill()
        proc.communicate()


def _two_nodes(
    tmp_path: Path, datasets: list[Path], outs: list[Path], extra: list[list[str]], timeout: float = 300
) -> list[subprocess.CompletedProcess[str]]:
    """Run `mlcls train` as node 0 and node 1 of 2 on 127.0.0.1 at once; their results, in node order."""
    port = _free_port()
    env = {**os.environ, "MLCLS_DEBUG_SEEN_DIR": str(tmp_path / "seen")}
    procs = []
    for rank, (dataset, out, more) in enumerate(zip(datasets, outs, extra, strict=True)):
        cmd = [
            sys.executable,
            "-m",
            "mlcls_cli",
            "train",
            str(dataset),
            *TINY,
            "--epochs",
            "2",
            "-O",
            str(out),
        ]
        cmd += ["--nnodes", "2", "--node-rank", str(rank), "--master", f"127.0.0.1:{port}", *more, "--json"]
        procs.append(
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        )
    results = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    except subprocess.TimeoutExpired:
        _stop(procs, outs)
        pytest.fail(f"two nodes did not finish in {timeout} s")
    return results


@pytest.mark.paddle
def test_two_nodes_train_together_and_node_0_alone_writes_outputs(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=10, val=5)
    copy = shutil.copytree(made.root, tmp_path / "elsewhere" / "ds")  # node 1's copy of the dataset
    outs = [tmp_path / "node0", tmp_path / "node1"]
    node0, node1 = _two_nodes(tmp_path, [made.root, copy], outs, [[], []])
    assert node0.returncode == 0, node0.stderr[-3000:]
    assert node1.returncode == 0, node1.stderr[-3000:]

    summary = json.loads(node0.stdout)
    assert summary["done_flag"] is True and (summary["nnodes"], summary["nproc"], summary["world_size"]) == (
        2,
        1,
        2,
    )
    assert "device cpu x1 process per node x 2 nodes = 2 processes" in node0.stderr
    assert "batch 2 per process (4 per step)" in node0.stderr
    assert json.loads(node1.stdout) == {
        "done_flag": True,
        "node_rank": 1,
        "nnodes": 2,
        "master": _arg(node1.args, "--master"),
        "results_on": "node 0",
        "log_dir": str(outs[1] / "log" / "node1"),
    }
    for proc in (node0, node1):
        assert (
            "LAUNCH INFO" not in proc.stderr and "HTTP Request" not in proc.stderr
        )  # launcher chatter filtered

    seen = tmp_path / "seen"
    per_rank = {}
    for rank in (0, 1):
        lines = (seen / f"seen.rank{rank}.jsonl").read_text().splitlines()
        per_rank[rank] = {rec["epoch"]: rec["indices"] for rec in map(json.loads, lines)}
    for epoch in (1, 2):
        a, b = per_rank[0][epoch], per_rank[1][epoch]
        assert len(a) == len(b) == 5 and not set(a) & set(b)  # each node trained on its own half
        assert sorted(a + b) == list(range(10))  # together, the whole epoch
    hashes = {(seen / f"weights.rank{r}.sha256").read_text() for r in (0, 1)}
    assert len(hashes) == 1  # the same final weights: they trained together

    assert (outs[0] / "best_model" / "inference" / "inference.json").is_file()
    records = [json.loads(line) for line in (outs[0] / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["images"] for r in records if r["type"] == "epoch") == 20  # both nodes' images
    # node 1 wrote its logs and nothing else: no model, checkpoint or record
    files = sorted(str(p.relative_to(outs[1])) for p in outs[1].rglob("*") if p.is_file())
    assert files and all(f.startswith(("log/node1/", ".mlcls_dist/node1/")) for f in files), files
    assert "log/node1/workerlog.0" in files and ".mlcls_dist/node1/job.json" not in files
    assert not (outs[0] / ".mlcls_dist").exists()


def _arg(args: list[str], option: str) -> str:
    return args[args.index(option) + 1]


@pytest.mark.paddle
def test_nodes_started_with_different_settings_stop_and_say_what_differs(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=3, train=6, val=3)
    outs = [tmp_path / "node0", tmp_path / "node1"]
    node0, node1 = _two_nodes(tmp_path, [made.root, made.root], outs, [[], ["--lr", "0.5"]])
    for proc in (node0, node1):
        assert proc.returncode == 78, proc.stderr[-3000:]
        assert "node 1 (rank 1) was not started with the same run as node 0; not the same: learning_rate" in (
            proc.stderr
        )
    assert not (outs[0] / "train_result.json").exists() and not (outs[0] / "best_model").exists()
