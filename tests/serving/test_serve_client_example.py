"""examples/serve_client.py against the live test server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.serving.servekit import LiveServer, b64, image_bytes

pytestmark = pytest.mark.paddle

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "examples" / "serve_client.py"


def _client(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CLIENT), *args], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def test_client_prints_the_categories(server: LiveServer, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(image_bytes(21))
    expected = requests.post(
        server.endpoint(), json={"image": b64(image_bytes(21)), "visualize": False}, timeout=60
    ).json()["result"]["categories"]

    proc = _client(str(photo), "--url", server.url)
    assert proc.returncode == 0, proc.stderr
    lines = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [(float(s), int(i), n) for s, i, n in lines] == [
        (c["score"], c["id"], c["name"]) for c in expected
    ]


def test_client_threshold_and_saved_picture(server: LiveServer, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(image_bytes(22))
    out = tmp_path / "labelled.jpg"
    proc = _client(str(photo), "--url", server.url + "/", "--threshold", "0.5", "--save", str(out))
    assert proc.returncode == 0, proc.stderr
    assert all(float(line.split("\t")[0]) > 0.5 for line in proc.stdout.splitlines())
    with Image.open(out) as picture:
        assert picture.format == "JPEG"


def test_client_reports_a_refusal(server: LiveServer, tmp_path: Path) -> None:
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("hello", encoding="utf-8")
    proc = _client(str(not_an_image), "--url", server.url)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error 400:") and proc.stdout == ""
