"""`mlcls models`: list, download, path, clean, info, through CliRunner and real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from mlcls_cli.errors import ExitCode
from mlcls_cli.hub.cache import archive_path, inference_dir, model_lock_path, pretrained_path, tmp_dir
from mlcls_cli.models.registry import MODELS, get_model_info
from tests.hub.hubkit import MODEL, ZooServer, make_tar, package_files, payload

runner = CliRunner()
INFO = get_model_info(MODEL)
REPO = Path(__file__).resolve().parents[2]


def _serve(zoo: ZooServer, pretrained: bool = False) -> None:
    zoo.add_official(INFO.inference_url(), make_tar(package_files()))
    if pretrained:
        zoo.add_official(INFO.pretrained_url, payload(50_000, seed=5))


def test_models_without_subcommand_lists_the_zoo(hub_env: Path) -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for name in MODELS:
        assert name in result.stdout
    assert "77.96" in result.stdout and "Inference" in result.stdout
    assert str(hub_env) in result.stderr  # the cache root is a log line, not a result


def test_list_filters_by_task(hub_env: Path) -> None:
    single = runner.invoke(app, ["models", "list", "--task", "single-label", "--json"])
    assert single.exit_code == 0, single.output
    rows = json.loads(single.stdout)["models"]
    assert {r["task"] for r in rows} == {"image_classification"}
    assert len(rows) == sum(info.task == "image_classification" for info in MODELS.values()) >= 81
    lcnet = next(r for r in rows if r["name"] == "PP-LCNet_x1_0")
    assert (lcnet["top1"], lcnet["coco_map"]) == (71.32, None)
    table = runner.invoke(app, ["models", "--task", "multi-label"])
    assert table.exit_code == 0
    assert "PP-LCNet_x1_0_ML" in table.stdout and "PP-LCNet_x1_0 " not in table.stdout
    assert "ImageNet top-1" in table.stderr
    paddlex_name = runner.invoke(app, ["models", "list", "--task", "image_classification", "--json"])
    assert json.loads(paddlex_name.stdout)["models"] == rows
    bad = runner.invoke(app, ["models", "list", "--task", "detection"])
    assert bad.exit_code == 2 and "single-label" in bad.output


def test_list_json_reports_cached_state(zoo: ZooServer, hub_env: Path) -> None:
    _serve(zoo)
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["cache_root"] == str(hub_env)
    assert [m["name"] for m in doc["models"]] == list(MODELS)
    row = doc["models"][0]
    assert row["cached"] == {"inference": False, "pretrained": False}
    assert (row["coco_map"], row["size_mb"], row["input_size"]) == (77.96, 29.4, 448)

    assert runner.invoke(app, ["models", "download", MODEL]).exit_code == 0
    for args in (["models", "--json"], ["--json", "models"], ["--json", "models", "list"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, args
        assert json.loads(result.stdout)["models"][0]["cached"] == {"inference": True, "pretrained": False}


def test_download_prints_paths(zoo: ZooServer, hub_env: Path) -> None:
    _serve(zoo, pretrained=True)
    result = runner.invoke(app, ["models", "download", MODEL, "--pretrained"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(inference_dir(MODEL)), str(pretrained_path(MODEL))]
    result = runner.invoke(app, ["models", "download", MODEL, "--no-inference", "--pretrained", "--json"])
    assert json.loads(result.stdout) == {
        "models": [{"name": MODEL, "inference": None, "pretrained": str(pretrained_path(MODEL))}]
    }
    assert len(zoo.hits) == 2  # the second command found both cached


def test_download_refuses_bad_requests(hub_env: Path) -> None:
    result = runner.invoke(app, ["models", "download", "PP-LCNet"])
    assert result.exit_code == ExitCode.USAGE
    assert "names begin with 'PP-LCNet': PP-LCNet_x1_0_ML, " in result.stderr  # a family: list its models
    result = runner.invoke(app, ["models", "download", "pp-lcnet_x1_0_ml"])
    assert result.exit_code == ExitCode.USAGE and "did you mean 'PP-LCNet_x1_0_ML'" in result.stderr
    result = runner.invoke(app, ["models", "download", MODEL, "--no-inference"])
    assert result.exit_code == ExitCode.USAGE
    assert "nothing to download" in result.stderr


def test_path_exit_69_until_downloaded(zoo: ZooServer, hub_env: Path) -> None:
    _serve(zoo)
    result = runner.invoke(app, ["models", "path", MODEL])
    assert result.exit_code == ExitCode.UNAVAILABLE
    assert result.stdout == ""
    assert f"mlcls models download {MODEL}" in result.stderr
    assert zoo.connections == 0
    runner.invoke(app, ["models", "download", MODEL])
    result = runner.invoke(app, ["models", "path", MODEL])
    assert result.exit_code == 0
    assert result.stdout.strip() == str(inference_dir(MODEL))
    result = runner.invoke(app, ["models", "path", MODEL, "--pretrained"])
    assert result.exit_code == ExitCode.UNAVAILABLE
    assert "--pretrained" in result.stderr
    result = runner.invoke(app, ["--json", "models", "path", MODEL])
    assert json.loads(result.stdout) == {
        "name": MODEL,
        "kind": "inference",
        "path": str(inference_dir(MODEL)),
    }


def test_path_installs_an_archive_placed_by_hand(zoo: ZooServer, hub_env: Path) -> None:
    archive = archive_path(MODEL)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(make_tar(package_files()))
    result = runner.invoke(app, ["models", "path", MODEL])
    assert result.exit_code == 0, result.output
    assert (Path(result.stdout.strip()) / "inference.pdiparams").is_file()
    assert zoo.connections == 0


def test_clean_partial_only_removes_leftovers(zoo: ZooServer, hub_env: Path) -> None:
    _serve(zoo)
    runner.invoke(app, ["models", "download", MODEL])
    tmp_dir().mkdir(parents=True, exist_ok=True)
    part = tmp_dir() / f"0123456789abcdef-{MODEL}_pretrained.pdparams.part"
    part.write_bytes(b"half a file")
    broken = inference_dir("PP-HGNetV2-B0_ML")
    broken.mkdir(parents=True)
    (broken / "inference.yml").write_text("Global: {}\n")
    result = runner.invoke(app, ["models", "clean", "--partial", "--json"])
    assert result.exit_code == 0, result.output
    removed = {entry["path"] for entry in json.loads(result.stdout)["removed"]}
    assert removed == {str(part), str(broken)}
    assert not part.exists() and not broken.exists()
    assert (inference_dir(MODEL) / "inference.pdiparams").is_file()


def test_clean_needs_yes_when_not_interactive(zoo: ZooServer, hub_env: Path) -> None:
    _serve(zoo)
    runner.invoke(app, ["models", "download", MODEL])
    result = runner.invoke(app, ["models", "clean"])
    assert result.exit_code == ExitCode.USAGE
    assert "--yes" in result.stderr
    assert inference_dir(MODEL).is_dir()
    result = runner.invoke(app, ["models", "clean", MODEL, "--yes"])
    assert result.exit_code == 0, result.output
    assert str(inference_dir(MODEL)) in result.stdout
    assert not inference_dir(MODEL).exists()
    result = runner.invoke(app, ["models", "clean", "--yes"])
    assert result.exit_code == 0
    assert "nothing to remove" in result.stderr


def test_clean_everything(zoo: ZooServer, hub_env: Path) -> None:
    _serve(zoo, pretrained=True)
    runner.invoke(app, ["models", "download", MODEL, "--pretrained"])
    result = runner.invoke(app, ["models", "clean", "--yes", "--json"])
    doc = json.loads(result.stdout)
    assert {entry["kind"] for entry in doc["removed"]} == {"inference", "pretrained"}
    assert doc["freed"] > 200_000
    assert not (hub_env / "models" / MODEL).exists()


def test_info_and_cache_show_root_size_and_entries(zoo: ZooServer, hub_env: Path) -> None:
    _serve(zoo)
    runner.invoke(app, ["models", "download", MODEL])
    for name in ("info", "cache"):
        result = runner.invoke(app, ["models", name])
        assert result.exit_code == 0, result.output
        assert str(hub_env) in result.stdout and "inference" in result.stdout and "ok" in result.stdout
    doc = json.loads(runner.invoke(app, ["models", "info", "--json", "--verify"]).stdout)
    assert doc["cache_root"] == str(hub_env)
    assert doc["total_size"] > 200_000
    assert [(e["kind"], e["name"], e["state"]) for e in doc["entries"]] == [("inference", MODEL, "ok")]


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcls_cli", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_offline_download_exits_69_without_touching_the_network(zoo: ZooServer, hub_env: Path) -> None:
    _serve(zoo)
    proc = _run("models", "download", MODEL, env={"MLCLS_OFFLINE": "1"})
    assert proc.returncode == ExitCode.UNAVAILABLE, proc.stderr
    assert proc.stdout == ""
    assert "MLCLS_OFFLINE=1" in proc.stderr
    assert f"{MODEL}_infer.tar" in proc.stderr
    assert str(archive_path(MODEL)) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert zoo.connections == 0


def test_download_subprocess_through_the_mirror(zoo: ZooServer, hub_env: Path) -> None:
    _serve(zoo)
    proc = _run("models", "download", MODEL, env={})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(inference_dir(MODEL))
    assert (
        zoo.hits[0].path == "/mirror/paddlex/official_inference_model/paddle3.0.0/PP-LCNet_x1_0_ML_infer.tar"
    )


def test_failed_download_exits_69_with_a_hint(zoo: ZooServer, hub_env: Path) -> None:
    zoo.add_official(INFO.inference_url(), b"x", fail_first=99)
    proc = _run("models", "download", MODEL, env={"MLCLS_DOWNLOAD_RETRIES": "1"})
    assert proc.returncode == ExitCode.UNAVAILABLE
    assert "HTTP 500" in proc.stderr and "MLCLS_MODEL_ENDPOINT" in proc.stderr
    assert "Traceback" not in proc.stderr


HOLD_LOCK = (
    "import sys\n"
    "from mlcls_cli.hub.lock import file_lock\n"
    "with file_lock(sys.argv[1]):\n"
    "    print('locked', flush=True)\n"
    "    sys.stdin.read()\n"
)


def test_clean_keeps_an_entry_another_process_holds(zoo: ZooServer, hub_env: Path) -> None:
    _serve(zoo)
    runner.invoke(app, ["models", "download", MODEL])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(model_lock_path(MODEL))],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = runner.invoke(app, ["models", "clean", MODEL, "--yes", "--json"])
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["removed"] == []
    assert [entry["path"] for entry in doc["busy"]] == [str(inference_dir(MODEL))]
    assert "another process is using it" in result.stderr
    assert inference_dir(MODEL).is_dir()


def test_download_all_expands_to_the_whole_official_zoo(zoo: ZooServer, hub_env: Path) -> None:
    official = [info for info in MODELS.values() if info.official]
    assert len(official) < len(MODELS)  # mlcls's own SmallCNN_ML has nothing to download
    for seed, info in enumerate(official):
        zoo.add_official(info.pretrained_url, payload(1_000, seed=seed))
    result = runner.invoke(app, ["models", "download", "all", MODEL, "--no-inference", "--pretrained"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(pretrained_path(info.name)) for info in official]
    assert len(zoo.hits) == len(official)
