"""`mlcls serve` as a user runs it: options, exit codes of refused starts, and a real server process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from tests.serving.servekit import b64, image_bytes

REPO = Path(__file__).resolve().parents[2]


def _mlcls(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcls_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "PYTHONUTF8": "1"},
    )


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--pipeline",
        "--model",
        "--model-dir",
        "--host",
        "--port",
        "--device",
        "--threshold",
        "--allow-url-inputs",
        "--no-allow-url-inputs",
        "--max-body-mb",
        "--batch-max-size",
        "--batch-wait-ms",
        "--json",
    ):
        assert option in result.output
    assert "127.0.0.1" in result.output and "0.0.0.0" in result.output


def test_missing_service_packages_exit_69() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None; sys.argv = ['mlcls', 'serve']; "
        "from mlcls_cli.cli.app import main; main()"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 69, proc.stderr
    assert "fastapi" in proc.stderr and 'pip install "mlcls[serve]"' in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--device", "tpu:0"], "invalid device"),
        (["--max-body-mb", "0"], "--max-body-mb"),
        (["--threshold", "[0.5,"], "not valid JSON"),
        (["--port", "70000"], "0..65535"),
        (["--pipeline", "no_such_pipeline"], "does not exist"),
        (["--batch-max-size", "0"], "--batch-max-size must be within 1..256"),
        (["--batch-max-size", "300"], "--batch-max-size must be within 1..256"),
        (["--batch-wait-ms", "-1"], "--batch-wait-ms must be a finite number >= 0"),
    ],
    ids=["device", "body-limit", "threshold", "port", "pipeline", "batch-size-0", "batch-size-300", "wait"],
)
def test_bad_options_exit_2(args: list[str], fragment: str) -> None:
    proc = _mlcls("serve", "--port", "0", *args)
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr and "Traceback" not in proc.stderr


def test_port_in_use_exit_74() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        proc = _mlcls("serve", "--port", str(taken.getsockname()[1]))
    assert proc.returncode == 74, proc.stderr
    assert "cannot listen" in proc.stderr and "--port" in proc.stderr


def test_missing_model_dir_exit_66(tmp_path: Path) -> None:
    proc = _mlcls("serve", "--port", "0", "--model-dir", str(tmp_path / "nothing"))
    assert proc.returncode == 66, proc.stderr
    assert "does not exist" in proc.stderr


@pytest.mark.paddle
@pytest.mark.slow
def test_serve_process_end_to_end(pipeline_yaml: Path) -> None:
    args = ["--pipeline", str(pipeline_yaml), "--port", "0", "--json", "--threshold", "0.5"]
    args += ["--no-allow-url-inputs", "--max-body-mb", "0.5"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcls_cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, proc.stderr.read() if proc.stderr else ""
        info = json.loads(line)
        assert info["url"].startswith("http://127.0.0.1:") and info["allow_url_inputs"] is False

        assert requests.get(info["health"], timeout=10).json()["errorMsg"] == "Healthy"
        body = requests.post(info["endpoint"], json={"image": b64(image_bytes(1))}, timeout=60).json()
        scores = [c["score"] for c in body["result"]["categories"]]
        assert all(s > 0.5 for s in scores)  # --threshold 0.5 is the server's default
        assert "image" in body["result"]  # Serving.visualize: true in the YAML
        explicit = requests.post(
            info["endpoint"], json={"image": b64(image_bytes(1)), "threshold": 0.0}, timeout=60
        ).json()
        assert len(explicit["result"]["categories"]) == 3  # a request's threshold beats the server's
        refused = requests.post(info["endpoint"], json={"image": "http://127.0.0.1:1/x.png"}, timeout=10)
        assert refused.status_code == 403
        big = requests.post(info["endpoint"], json={"image": "A" * 600_000}, timeout=10)
        assert big.status_code == 413
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out == "", "stdout holds only the one JSON line"
    assert "serving on http://127.0.0.1:" in err and "Traceback" not in err
    assert '"POST /multilabel-image-classification HTTP/1.1" 200' in err  # the access log is on stderr


@pytest.mark.paddle
@pytest.mark.slow
def test_serve_process_with_batching_from_the_pipeline_config(pipeline_yaml: Path, tmp_path: Path) -> None:
    config = tmp_path / "batched.yaml"
    # Serving.batch_max_size from the file, the wait from the command line (long: the 4 requests fill one batch)
    config.write_text(
        pipeline_yaml.read_text(encoding="utf-8") + "  batch_max_size: 4\n  batch_wait_ms: 1\n",
        encoding="utf-8",
    )
    args = ["--pipeline", str(config), "--port", "0", "--json", "--batch-wait-ms", "60000"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlcls_cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, proc.stderr.read() if proc.stderr else ""
        info = json.loads(line)
        assert (info["batch_max_size"], info["batch_wait_ms"]) == (4, 60000.0)
        payloads = [{"image": b64(image_bytes(seed)), "visualize": False} for seed in range(4)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda p: requests.post(info["endpoint"], json=p, timeout=120), payloads))
        assert [a.status_code for a in answers] == [200] * 4
        assert len({json.dumps(a.json()["result"]) for a in answers}) == 4
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert out == "", "stdout holds only the one JSON line"
    assert "dynamic batching: up to 4 requests per inference, waiting up to 60000 ms" in err
    # logged when the server stops: the four requests made one batch
    assert "dynamic batching: 4 image(s) in 1 inference call(s), 4.00 per call; sizes 4x1" in err
