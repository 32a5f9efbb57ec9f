"""`mlcls serve` with a single-label model: PaddleX's POST /image-classification, end to end.

The model is ``PP-LCNet_x0_5`` (random weights plus a colour term: red, green, blue, bright ->
classes 0..3), served by a local HTTP server at the official package URL, so `mlcls serve
--model PP-LCNet_x0_5` downloads it through the model cache as it would from the zoo, and
picks the ``image_classification`` pipeline from the model's task.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from tests.inference.kit import BLUE, GREEN, LABELS, RED, encode, export_package, file_server, make_tar, solid
from tests.serving.servekit import b64, live_server

pytestmark = pytest.mark.paddle

MODEL = "PP-LCNet_x0_5"
TAR_PATH = f"/paddlex/official_inference_model/paddle3.0.0/{MODEL}_infer.tar"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_package(tmp_path_factory.mktemp("cls_pkg") / "inference", model_name=MODEL)[1]


def _image(colour: tuple[int, int, int]) -> str:
    return b64(encode(solid(colour, size=(70, 50)), "JPEG"))


@pytest.fixture(scope="module")
def served(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`mlcls serve --model PP-LCNet_x0_5` in a real process, the package from a local mirror."""
    home = tmp_path_factory.mktemp("home")
    with file_server() as mirror:
        mirror.add(TAR_PATH, make_tar(package, top=f"{MODEL}_infer"))
        env = {**os.environ, "PYTHONUTF8": "1", "MLCLS_HOME": str(home), "MLCLS_MODEL_ENDPOINT": mirror.base}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlcls_cli",
                "serve",
                "--model",
                MODEL,
                "--port",
                "0",
                "--json",
                "--device",
                "cpu",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            assert line, proc.stderr.read() if proc.stderr else ""
            info = json.loads(line)
            yield {"info": info, "proc": proc, "mirror": mirror}
        finally:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)


def test_the_model_name_picks_the_single_label_pipeline_and_route(served: dict[str, Any]) -> None:
    info = served["info"]
    assert info["endpoint"].endswith("/image-classification")
    assert served["mirror"].hits[TAR_PATH] == 1
    assert requests.get(info["health"], timeout=10).json()["errorMsg"] == "Healthy"


def test_paddlex_request_and_response(served: dict[str, Any]) -> None:
    endpoint = served["info"]["endpoint"]
    body = requests.post(endpoint, json={"image": _image(RED)}, timeout=60).json()
    assert body["errorCode"] == 0 and body["errorMsg"] == "Success" and body["logId"]
    categories = body["result"]["categories"]
    assert [c["id"] for c in categories][:1] == [0] and categories[0]["name"] == "red"
    assert len(categories) == len(LABELS)  # k = 5 from inference.yml, capped at the classes
    assert [c["score"] for c in categories] == sorted((c["score"] for c in categories), reverse=True)
    assert sum(c["score"] for c in categories) == pytest.approx(1.0, abs=1e-4)  # softmax
    picture = Image.open(io.BytesIO(base64.b64decode(body["result"]["image"])))
    # the top-1 label in mlcls's banner under the picture (small images are drawn enlarged by a whole factor)
    assert picture.format == "JPEG" and picture.width % 70 == 0 and picture.height > picture.width * 50 / 70

    two = requests.post(
        endpoint, json={"image": _image(BLUE), "topk": 2, "visualize": False}, timeout=60
    ).json()
    assert [c["name"] for c in two["result"]["categories"]][:1] == ["blue"]
    assert len(two["result"]["categories"]) == 2 and "image" not in two["result"]
    beta = requests.post(endpoint, json={"image": _image(GREEN), "inferenceParams": {"topK": 1}}, timeout=60)
    assert [c["name"] for c in beta.json()["result"]["categories"]] == ["green"]  # PaddleX 3.0-beta's form
    # k above the class count is allowed (PaddleX passes it through): every class comes back
    many = requests.post(endpoint, json={"image": _image(RED), "topk": 50}, timeout=60).json()
    assert len(many["result"]["categories"]) == len(LABELS)


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"image": "not base64!"}, 400, "base64"),
        ({"image": _image(RED), "topk": 0}, 422, "topk"),
        ({"image": _image(RED), "topk": "two"}, 422, "topk"),
        ({"topk": 2}, 422, "image"),
    ],
)
def test_bad_requests_get_json_4xx(served: dict[str, Any], payload: dict, status: int, fragment: str) -> None:
    answer = requests.post(served["info"]["endpoint"], json=payload, timeout=60)
    assert answer.status_code == status
    body = answer.json()
    assert body["errorCode"] == status and fragment in body["errorMsg"]


def test_the_multilabel_route_names_the_right_one(served: dict[str, Any]) -> None:
    url = served["info"]["url"] + "/multilabel-image-classification"
    answer = requests.post(url, json={"image": _image(RED)}, timeout=30)
    assert answer.status_code == 404
    assert "POST /image-classification" in answer.json()["errorMsg"]


def test_threshold_is_refused_for_a_single_label_model(package: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlcls_cli",
            "serve",
            "--model-dir",
            str(package),
            "--threshold",
            "0.5",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 2 and "--threshold applies to multi-label models" in proc.stderr
    wrong = subprocess.run(
        [sys.executable, "-m", "mlcls_cli", "serve", "--model-dir", str(package), "--port", "0",
         "--pipeline", "image_multilabel_classification"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )  # fmt: skip
    assert wrong.returncode == 2 and "use the image_classification pipeline" in wrong.stderr


def test_batched_answers_equal_unbatched_ones(package: Path) -> None:
    """Four concurrent requests form one batch; each keeps its own topk and gets the top-1 picture."""
    from mlcls_cli.serving.app import create_app
    from mlcls_cli.serving.server import load_pipeline
    from mlcls_cli.serving.worker import InferenceWorker

    payloads = [
        {"image": _image(RED), "topk": 1},
        {"image": _image(GREEN), "topk": 3},
        {"image": _image(BLUE)},
        {"image": _image((250, 250, 250)), "topk": 2, "visualize": False},
    ]
    answers = {}
    for size in (1, 4):
        worker = InferenceWorker(
            load_pipeline("image_classification", model_dir=package, device="cpu"),
            batch_max_size=size,
            batch_wait_ms=120_000,  # a batch runs only when full
        )
        try:
            with live_server(create_app(worker)) as live, ThreadPoolExecutor(4) as pool:
                url = live.url + "/image-classification"
                posts = [pool.submit(requests.post, url, json=p, timeout=120) for p in payloads]
                answers[size] = [post.result().json() for post in posts]
                if size == 4:
                    assert worker.batch_sizes() == {4: 1}
        finally:
            worker.close()
    for one, batched in zip(answers[1], answers[4], strict=True):
        a, b = one["result"]["categories"], batched["result"]["categories"]
        assert [c["id"] for c in a] == [c["id"] for c in b]
        assert [c["score"] for c in a] == pytest.approx([c["score"] for c in b], abs=2e-5)
        assert ("image" in one["result"]) == ("image" in batched["result"])
    assert [len(a["result"]["categories"]) for a in answers[4]] == [1, 3, 4, 2]
    assert answers[4][0]["result"]["categories"][0]["name"] == "red"


def test_the_example_client_finds_the_single_label_route(served: dict[str, Any], tmp_path: Path) -> None:
    photo = tmp_path / "red.jpg"
    solid(RED, size=(70, 50)).save(photo)
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "serve_client.py"), str(photo), "--url", served["info"]["url"],
         "--topk", "2", "--save", str(tmp_path / "out.jpg")],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [line.split("\t") for line in proc.stdout.splitlines()]
    assert len(lines) == 2 and lines[0][1:] == ["0", "red"]
    assert (tmp_path / "out.jpg").stat().st_size > 0
