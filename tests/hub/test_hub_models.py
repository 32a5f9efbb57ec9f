"""ensure_inference_model / ensure_pretrained_weights against a live local mirror."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from mlcls_cli.errors import ExitCode, IOFailure, ModelUnavailableError, UsageError
from mlcls_cli.hub import cached_state, ensure_inference_model, ensure_pretrained_weights
from mlcls_cli.hub.cache import archive_path, inference_dir, model_dir, pretrained_path, tmp_dir
from mlcls_cli.hub.manifest import MARKER_NAME
from mlcls_cli.models.registry import INFERENCE_VERSIONS, get_model_info
from tests.hub.hubkit import MODEL, ZooServer, make_tar, package_files, payload

INFO = get_model_info(MODEL)
REPO = Path(__file__).resolve().parents[2]


def _serve_package(zoo: ZooServer, version: str = INFERENCE_VERSIONS[0], **options: object) -> bytes:
    data = make_tar(package_files())
    zoo.add_official(INFO.inference_url(version), data, **options)
    return data


def _assert_package(folder: Path) -> None:
    for name, data in package_files().items():
        assert (folder / name).read_bytes() == data


def test_inference_model_is_downloaded_extracted_and_marked(zoo: ZooServer, hub_env: Path) -> None:
    data = _serve_package(zoo)
    folder = ensure_inference_model(MODEL)
    assert folder == hub_env / "models" / MODEL / "inference"
    _assert_package(folder)
    marker = json.loads((folder / MARKER_NAME).read_text())
    assert (
        marker["url"]
        == zoo.endpoint + "/paddlex/official_inference_model/paddle3.0.0/PP-LCNet_x1_0_ML_infer.tar"
    )
    assert marker["archive_sha256"] == hashlib.sha256(data).hexdigest()
    assert marker["archive_size"] == len(data)
    assert marker["source"] == "download" and marker["completed_at"]
    assert set(marker["files"]) == set(package_files())
    assert not archive_path(MODEL).exists()  # only the extracted folder is kept
    assert not any(tmp_dir().iterdir())
    assert sorted(p.name for p in model_dir(MODEL).iterdir()) == ["inference"]
    assert cached_state(MODEL) == {"inference": True, "pretrained": False}


def test_cached_model_is_used_without_network(
    zoo: ZooServer, hub_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _serve_package(zoo)
    first = ensure_inference_model(MODEL)
    connections = zoo.connections
    monkeypatch.setenv("MLCLS_OFFLINE", "1")
    assert ensure_inference_model(MODEL) == first
    monkeypatch.delenv("MLCLS_OFFLINE")
    assert ensure_inference_model(MODEL) == first
    assert zoo.connections == connections == 1


def test_older_version_folder_is_tried_after_404(zoo: ZooServer, hub_env: Path) -> None:
    _serve_package(zoo, version="paddle3.0rc0")
    folder = ensure_inference_model(MODEL)
    _assert_package(folder)
    assert [(hit.path.split("/")[-2], hit.status) for hit in zoo.hits] == [
        ("paddle3.0.0", 404),
        ("paddle3.0rc0", 200),
    ]
    assert "paddle3.0rc0" in json.loads((folder / MARKER_NAME).read_text())["url"]


def test_404_on_every_version_is_unavailable(zoo: ZooServer, hub_env: Path) -> None:
    with pytest.raises(ModelUnavailableError) as info:
        ensure_inference_model(MODEL)
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    for version in INFERENCE_VERSIONS:
        assert version in info.value.message
    assert len(zoo.hits) == len(INFERENCE_VERSIONS)
    assert not inference_dir(MODEL).exists()


def test_altered_cached_file_is_detected_and_repaired(zoo: ZooServer, hub_env: Path) -> None:
    _serve_package(zoo)
    folder = ensure_inference_model(MODEL)
    params = folder / "inference.pdiparams"
    damaged = bytearray(params.read_bytes())
    damaged[10] ^= 0x01  # same size, different content
    params.write_bytes(bytes(damaged))
    assert ensure_inference_model(MODEL) == folder
    _assert_package(folder)
    assert len(zoo.hits) == 2


def test_partial_entry_without_marker_is_repaired(zoo: ZooServer, hub_env: Path) -> None:
    _serve_package(zoo)
    partial = inference_dir(MODEL)
    partial.mkdir(parents=True)
    (partial / "inference.yml").write_text("Global: {}\n")  # an interrupted copy: files missing
    folder = ensure_inference_model(MODEL)
    _assert_package(folder)
    assert (folder / MARKER_NAME).is_file()
    assert len(zoo.hits) == 1


def test_entry_with_a_missing_file_is_repaired(zoo: ZooServer, hub_env: Path) -> None:
    _serve_package(zoo)
    folder = ensure_inference_model(MODEL)
    (folder / "inference.json").unlink()
    assert cached_state(MODEL)["inference"] is False
    _assert_package(ensure_inference_model(MODEL))
    assert len(zoo.hits) == 2


def test_damaged_entry_is_refused_offline(zoo: ZooServer, hub_env: Path) -> None:
    _serve_package(zoo)
    folder = ensure_inference_model(MODEL)
    (folder / "inference.pdiparams").write_bytes(b"truncated")
    with pytest.raises(ModelUnavailableError, match="damaged"):
        ensure_inference_model(MODEL, offline=True)
    assert len(zoo.hits) == 1


def test_offline_missing_model_names_file_url_and_place(
    zoo: ZooServer, hub_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCLS_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as info:
        ensure_inference_model(MODEL)
    error = info.value
    assert error.exit_code == ExitCode.UNAVAILABLE
    assert "PP-LCNet_x1_0_ML_infer.tar" in error.message
    assert (
        zoo.endpoint + "/paddlex/official_inference_model/paddle3.0.0/PP-LCNet_x1_0_ML_infer.tar"
        in error.message
    )
    assert str(archive_path(MODEL)) in (error.hint or "")
    assert str(inference_dir(MODEL)) in (error.hint or "")
    assert "mlcls models download PP-LCNet_x1_0_ML" in (error.hint or "")
    assert zoo.connections == 0
    assert not hub_env.exists()  # an offline miss creates nothing (no lock files either)


def test_folder_placed_by_hand_is_used_offline(zoo: ZooServer, hub_env: Path) -> None:
    folder = inference_dir(MODEL)
    folder.mkdir(parents=True)
    for name, data in package_files().items():
        (folder / name).write_bytes(data)
    assert ensure_inference_model(MODEL, offline=True) == folder
    marker = json.loads((folder / MARKER_NAME).read_text())
    assert marker["source"] == "manual"
    assert zoo.connections == 0
    # from now on it is checked like a download: an altered file is noticed
    (folder / "inference.yml").write_text("changed\n")
    with pytest.raises(ModelUnavailableError, match="damaged"):
        ensure_inference_model(MODEL, offline=True)


def test_archive_placed_by_hand_is_extracted_offline_and_kept(zoo: ZooServer, hub_env: Path) -> None:
    archive = archive_path(MODEL)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(make_tar(package_files()))
    folder = ensure_inference_model(MODEL, offline=True)
    _assert_package(folder)
    assert json.loads((folder / MARKER_NAME).read_text())["source"] == "archive"
    assert archive.is_file()
    assert zoo.connections == 0


def test_broken_archive_placed_by_hand_is_replaced_online(zoo: ZooServer, hub_env: Path) -> None:
    _serve_package(zoo)
    archive = archive_path(MODEL)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"not a tar at all" * 64)
    _assert_package(ensure_inference_model(MODEL))
    assert len(zoo.hits) == 1


def test_archive_without_model_files_is_refused(zoo: ZooServer, hub_env: Path) -> None:
    zoo.add_official(INFO.inference_url(), make_tar({"README.txt": b"hello"}))
    with pytest.raises(IOFailure, match="lacks"):
        ensure_inference_model(MODEL)
    assert not inference_dir(MODEL).exists()
    assert not archive_path(MODEL).exists()


def test_served_archive_with_path_traversal_writes_nothing_outside(zoo: ZooServer, hub_env: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b"owned"
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    zoo.add_official(INFO.inference_url(), buffer.getvalue())
    with pytest.raises(IOFailure, match="refusing to extract"):
        ensure_inference_model(MODEL)
    found = [p for p in hub_env.parent.rglob("escaped.txt")]
    assert found == []
    assert not inference_dir(MODEL).exists()


def test_force_downloads_a_fresh_copy(zoo: ZooServer, hub_env: Path) -> None:
    _serve_package(zoo)
    ensure_inference_model(MODEL)
    _assert_package(ensure_inference_model(MODEL, force=True))
    assert len(zoo.hits) == 2


def test_pretrained_weights_download_and_record(zoo: ZooServer, hub_env: Path) -> None:
    weights = payload(150_000, seed=3)
    zoo.add_official(INFO.pretrained_url, weights)
    path = ensure_pretrained_weights(MODEL)
    assert path == pretrained_path(MODEL) == hub_env / "models" / MODEL / f"{MODEL}_pretrained.pdparams"
    assert path.read_bytes() == weights
    meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
    assert meta["sha256"] == hashlib.sha256(weights).hexdigest()
    assert ensure_pretrained_weights(MODEL) == path
    assert len(zoo.hits) == 1
    assert cached_state(MODEL) == {"inference": False, "pretrained": True}


def test_pretrained_weights_placed_by_hand_are_used_offline(zoo: ZooServer, hub_env: Path) -> None:
    dest = pretrained_path(MODEL)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"weights placed by hand")
    assert ensure_pretrained_weights(MODEL, offline=True) == dest
    assert zoo.connections == 0


def test_pretrained_weights_offline_error_says_where(zoo: ZooServer, hub_env: Path) -> None:
    with pytest.raises(ModelUnavailableError) as info:
        ensure_pretrained_weights(MODEL, offline=True)
    assert f"{MODEL}_pretrained.pdparams" in info.value.message
    assert str(pretrained_path(MODEL)) in (info.value.hint or "")
    assert "--pretrained" in (info.value.hint or "")
    assert zoo.connections == 0


def test_pretrained_weights_404_is_unavailable(zoo: ZooServer, hub_env: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="not found"):
        ensure_pretrained_weights(MODEL)


def test_unknown_model_is_a_usage_error(hub_env: Path) -> None:
    with pytest.raises(UsageError, match="did you mean"):
        ensure_inference_model("PP-LCNet_x1_O")


class _StderrPump:
    """Read a process's stderr in a thread, so a test can wait for one line while it runs."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._proc = proc
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self.lines.append(line)

    def wait_for(self, needle: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(needle in line for line in self.lines):
                return True
            if self._proc.poll() is not None and not self._thread.is_alive():
                return False
            time.sleep(0.02)
        return False

    def text(self) -> str:
        self._thread.join(timeout=30)
        return "".join(self.lines)


def test_two_processes_download_the_model_once(zoo: ZooServer, hub_env: Path) -> None:
    gate = threading.Event()
    _serve_package(zoo, gate=gate)  # the first answer waits until the second process is waiting
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "mlcls_cli", "models", "download", MODEL]
    procs: list[subprocess.Popen] = []
    try:
        procs.append(
            subprocess.Popen(
                command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
        assert zoo.first_request.wait(60), "the first process never reached the server"
        procs.append(
            subprocess.Popen(
                command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
        pump = _StderrPump(procs[1])
        waiting = pump.wait_for("waiting for another process", 60)
        gate.set()
        out_first, err_first = procs[0].communicate(timeout=60)
        procs[1].wait(timeout=60)
        assert procs[1].stdout is not None
        out_second = procs[1].stdout.read()
        err_second = pump.text()
    finally:
        gate.set()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert waiting, err_second
    assert procs[0].returncode == 0, err_first
    assert procs[1].returncode == 0, err_second
    expected = str(inference_dir(MODEL))
    assert out_first.strip() == out_second.strip() == expected
    tar_hits = [hit for hit in zoo.hits if hit.path.endswith("_infer.tar")]
    assert len(tar_hits) == 1 and tar_hits[0].status == 200 and tar_hits[0].range is None
    _assert_package(Path(expected))


def test_archive_left_by_an_interrupted_install_is_used_then_removed(zoo: ZooServer, hub_env: Path) -> None:
    from mlcls_cli.hub import fetch_file

    _serve_package(zoo)
    fetch_file(INFO.inference_url(), archive_path(MODEL))  # downloaded and recorded, never extracted
    folder = ensure_inference_model(MODEL, offline=True)
    _assert_package(folder)
    assert json.loads((folder / MARKER_NAME).read_text())["source"] == "download"
    assert not archive_path(MODEL).exists()
    assert len(zoo.hits) == 1


def test_cache_root_follows_mlcls_home_then_platform_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import platformdirs

    from mlcls_cli.hub import cache_root

    monkeypatch.setenv("MLCLS_HOME", str(tmp_path / "custom"))
    assert cache_root() == tmp_path / "custom"
    monkeypatch.setenv("MLCLS_HOME", "~/somewhere")
    assert cache_root() == Path.home() / "somewhere"
    monkeypatch.delenv("MLCLS_HOME")
    assert cache_root() == Path(platformdirs.user_cache_dir("mlcls", appauthor=False))
