"""fetch_file against a live local HTTP server: resume, retries, checks, offline, mirror."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from mlcls_cli.errors import ExitCode, IOFailure, ModelUnavailableError, UsageError
from mlcls_cli.hub import OfflineError, RemoteNotFoundError, fetch_file, mirror_url
from mlcls_cli.hub.cache import files_dir, tmp_dir
from mlcls_cli.hub.download import CHUNK_SIZE
from tests.hub.hubkit import ZooServer, payload

BODY = payload(300_000, seed=1)
SHA = hashlib.sha256(BODY).hexdigest()


def _no_parts() -> bool:
    return not tmp_dir().exists() or not any(tmp_dir().glob("*.part"))


def test_download_writes_file_and_record(zoo: ZooServer, hub_env: Path, tmp_path: Path) -> None:
    url = zoo.add("/data/file.bin", BODY)
    dest = hub_env / "models" / "x" / "file.bin"
    assert fetch_file(url, dest, sha256=SHA) == dest
    assert dest.read_bytes() == BODY
    meta = json.loads((dest.parent / "file.bin.meta.json").read_text())
    assert (meta["sha256"], meta["size"], meta["url"], meta["source"]) == (SHA, len(BODY), url, "download")
    assert _no_parts()
    assert len(zoo.hits) == 1


def test_cached_file_is_not_downloaded_again(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", BODY)
    first = fetch_file(url)
    second = fetch_file(url)
    assert first == second
    assert first.parent.parent == files_dir()
    assert first.name == "file.bin"
    assert first.parent.name == hashlib.sha256(url.encode()).hexdigest()[:16]
    assert len(zoo.hits) == 1


def _resumed_at(hit_range: str | None) -> int:
    match = re.fullmatch(r"bytes=(\d+)-", hit_range or "")
    assert match, f"expected a Range request, got {hit_range!r}"
    return int(match.group(1))


def test_interrupted_download_resumes_with_range(zoo: ZooServer, hub_env: Path) -> None:
    # the server sends 200 kB, then closes the connection although it announced 300 kB
    url = zoo.add("/data/file.bin", BODY, cut_after=200_000, cut_mode="close")
    path = fetch_file(url, sha256=SHA)
    assert path.read_bytes() == BODY
    assert [hit.status for hit in zoo.hits] == [200, 206]
    assert zoo.hits[0].range is None
    # what was fully read before the cut is kept: whole reads of CHUNK_SIZE bytes
    assert _resumed_at(zoo.hits[1].range) == 200_000 // CHUNK_SIZE * CHUNK_SIZE > 0
    assert _no_parts()


def test_reset_connection_is_retried_and_completed(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", BODY, cut_after=200_000, cut_mode="reset")
    path = fetch_file(url, sha256=SHA)
    assert path.read_bytes() == BODY
    assert len(zoo.hits) == 2
    assert zoo.hits[1].status in (200, 206)  # 200 when the reset came before any whole read


def test_truncated_body_is_detected_and_completed(zoo: ZooServer, hub_env: Path) -> None:
    # the server announces the full Content-Length but the body ends 100 bytes early
    url = zoo.add("/data/file.bin", BODY, cut_after=len(BODY) - 100, cut_mode="close")
    path = fetch_file(url, sha256=SHA)
    assert path.read_bytes() == BODY
    assert _resumed_at(zoo.hits[1].range) == (len(BODY) - 100) // CHUNK_SIZE * CHUNK_SIZE


def test_interrupted_part_is_kept_and_resumed_by_a_later_call(zoo: ZooServer, hub_env: Path) -> None:
    cut = 2 * CHUNK_SIZE + 10
    url = zoo.add("/data/file.bin", BODY, cut_after=cut, cut_times=2, cut_mode="close")
    with pytest.raises(ModelUnavailableError):
        fetch_file(url, retries=0)
    parts = list(tmp_dir().glob("*.part"))
    assert len(parts) == 1
    assert parts[0].read_bytes() == BODY[: 2 * CHUNK_SIZE]
    path = fetch_file(url, retries=1)
    assert path.read_bytes() == BODY
    assert [hit.range for hit in zoo.hits] == [None, f"bytes={2 * CHUNK_SIZE}-", f"bytes={4 * CHUNK_SIZE}-"]
    assert _no_parts()


def test_server_that_ignores_range_makes_the_download_start_over(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", BODY, cut_after=CHUNK_SIZE + 10, cut_mode="close", ignore_range=True)
    path = fetch_file(url, sha256=SHA)
    assert path.read_bytes() == BODY
    assert zoo.hits[1].range == f"bytes={CHUNK_SIZE}-"
    assert zoo.hits[1].status == 200


def test_server_error_is_retried(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", BODY, fail_first=2)
    path = fetch_file(url, retries=2)
    assert path.read_bytes() == BODY
    assert [hit.status for hit in zoo.hits] == [500, 500, 200]


def test_persistent_server_error_gives_up_with_exit_69(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", BODY, fail_first=99)
    dest = hub_env / "out.bin"
    with pytest.raises(ModelUnavailableError) as info:
        fetch_file(url, dest, retries=2)
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert url in info.value.message and "3 attempts" in info.value.message
    assert "MLCLS_MODEL_ENDPOINT" in (info.value.hint or "")
    assert len(zoo.hits) == 3
    assert not dest.exists()


def test_connection_refused_is_retried_then_reported(hub_env: Path) -> None:
    # a port nobody listens on: bind, note the port, close
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ModelUnavailableError, match=r"cannot reach 127\.0\.0\.1"):
        fetch_file(f"http://127.0.0.1:{port}/x.bin", retries=1)


def test_wrong_checksum_is_rejected_after_retries_with_exit_74(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", payload(300_000, seed=2))  # not BODY
    dest = hub_env / "models" / "m" / "file.bin"
    with pytest.raises(IOFailure) as info:
        fetch_file(url, dest, sha256=SHA, retries=1)
    assert info.value.exit_code == ExitCode.IOERR
    assert "sha256 mismatch" in info.value.message
    assert len(zoo.hits) == 2
    assert not dest.exists() and not (dest.parent / "file.bin.meta.json").exists()
    assert _no_parts()


def test_wrong_size_is_rejected(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", BODY)
    with pytest.raises(IOFailure, match="expected 300001"):
        fetch_file(url, size=len(BODY) + 1, retries=0)


def test_persistently_truncated_body_is_reported(zoo: ZooServer, hub_env: Path) -> None:
    # every answer stops 10 bytes short of what it announces
    url = zoo.add(
        "/data/file.bin", BODY, cut_after=len(BODY) - 10, cut_times=99, cut_mode="close", ignore_range=True
    )
    with pytest.raises(
        ModelUnavailableError, match=f"3 attempts: the download stopped after \\d+ of {len(BODY)} bytes"
    ):
        fetch_file(url, retries=2)
    assert len(zoo.hits) == 3


def test_not_found_is_not_retried(zoo: ZooServer, hub_env: Path) -> None:
    with pytest.raises(RemoteNotFoundError) as info:
        fetch_file(zoo.base + "/nothing.bin", retries=3)
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert len(zoo.hits) == 1


def test_offline_never_connects(zoo: ZooServer, hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCLS_OFFLINE", "1")
    url = zoo.add("/data/file.bin", BODY)
    dest = hub_env / "models" / "m" / "file.bin"
    with pytest.raises(OfflineError) as info:
        fetch_file(url, dest)
    assert str(dest) in (info.value.hint or "")
    assert url in info.value.message
    assert zoo.connections == 0
    assert not hub_env.exists()


def test_file_placed_by_hand_is_used_offline_and_recorded(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", BODY)
    dest = hub_env / "models" / "m" / "file.bin"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(BODY)
    assert fetch_file(url, dest, offline=True) == dest
    meta = json.loads((dest.parent / "file.bin.meta.json").read_text())
    assert (meta["source"], meta["sha256"]) == ("manual", SHA)
    assert zoo.connections == 0


def test_corrupt_cached_file_is_replaced(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", BODY)
    path = fetch_file(url)
    damaged = bytearray(BODY)
    damaged[1000] ^= 0xFF
    path.write_bytes(bytes(damaged))
    assert fetch_file(url).read_bytes() == BODY
    assert len(zoo.hits) == 2


def test_corrupt_cached_file_is_refused_offline(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", BODY)
    path = fetch_file(url)
    path.write_bytes(BODY[:-1])
    with pytest.raises(OfflineError, match="record says"):
        fetch_file(url, offline=True)
    assert len(zoo.hits) == 1


def test_force_downloads_again(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", BODY)
    fetch_file(url)
    fetch_file(url, force=True)
    assert len(zoo.hits) == 2


def test_stale_part_of_another_url_is_discarded(zoo: ZooServer, hub_env: Path) -> None:
    url = zoo.add("/data/file.bin", BODY, cut_after=100_000, cut_mode="close")
    dest = hub_env / "models" / "m" / "file.bin"
    with pytest.raises(ModelUnavailableError):
        fetch_file(url, dest, retries=0)
    other = zoo.add("/other/file.bin", BODY)
    assert fetch_file(other, dest).read_bytes() == BODY
    assert zoo.hits[-1].range is None


def test_mirror_endpoint_keeps_the_official_path(monkeypatch: pytest.MonkeyPatch) -> None:
    official = "https://paddle-model-ecology.bj.bcebos.com/paddlex/official_inference_model/paddle3.0.0/PP-LCNet_x1_0_ML_infer.tar"
    monkeypatch.setenv("MLCLS_MODEL_ENDPOINT", "http://127.0.0.1:8000/mirror/")
    assert mirror_url(official) == (
        "http://127.0.0.1:8000/mirror/paddlex/official_inference_model/paddle3.0.0/PP-LCNet_x1_0_ML_infer.tar"
    )
    assert mirror_url("https://example.com/a.tar") == "https://example.com/a.tar"
    monkeypatch.delenv("MLCLS_MODEL_ENDPOINT")
    assert mirror_url(official) == official
    monkeypatch.setenv("MLCLS_MODEL_ENDPOINT", "127.0.0.1:8000")
    with pytest.raises(UsageError, match="MLCLS_MODEL_ENDPOINT"):
        mirror_url(official)


def test_bad_retry_setting_is_a_usage_error(
    zoo: ZooServer, hub_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCLS_DOWNLOAD_RETRIES", "many")
    with pytest.raises(UsageError, match="MLCLS_DOWNLOAD_RETRIES"):
        fetch_file(zoo.add("/data/file.bin", BODY))
