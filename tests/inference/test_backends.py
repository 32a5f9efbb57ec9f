"""Backends: every installed one loads a package and agrees with Paddle Inference; auto, fallbacks, errors.

The optional backends come with the ``hpi`` extra, which README's test command installs. A
missing backend is simulated in a child process by an import hook that makes the module
unfindable, as on a machine without it: the code under test runs unchanged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlcls_cli.errors import ConfigError, UsageError
from mlcls_cli.inference.backends import (
    BackendUnavailableError,
    available_backends,
    backend_candidates,
    installed,
)
from mlcls_cli.inference.device import Device
from tests.inference.kit import BLUE, GREEN, RED, WHITE, cli_env, export_package, save, solid

pytestmark = pytest.mark.paddle
CPU = Device("cpu")
COLOURS = (RED, GREEN, BLUE, WHITE)


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_package(tmp_path_factory.mktemp("pkg") / "inference")[1]


@pytest.fixture(scope="module")
def batch(package: Path) -> np.ndarray:
    from mlcls_cli.inference.package import InferencePackage
    from mlcls_cli.inference.preprocess import Preprocessor

    pre = Preprocessor.from_config(InferencePackage.open(package).config)
    return np.stack([pre(solid(c, seed=i)) for i, c in enumerate(COLOURS)])


def test_the_extra_is_installed_for_the_suite() -> None:
    # README's test command installs ".[cpu,serve,test,hpi]": every backend test below really runs
    found = available_backends()
    assert all(found[name] for name in ("paddle", "onnxruntime", "openvino", "paddle2onnx")), found


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_each_backend_agrees_with_paddle_inference(package: Path, batch: np.ndarray, backend: str) -> None:
    from mlcls_cli.inference.predictor import Predictor

    reference = Predictor(package, device="cpu", backend="paddle").run(batch)
    other = Predictor(package, device="cpu", backend=backend)
    assert other.backend == backend and other.precision == "fp32"
    got = other.run(batch)
    np.testing.assert_allclose(got, reference, atol=1e-4)
    assert (np.argsort(-got, axis=1)[:, :2] == np.argsort(-reference, axis=1)[:, :2]).all()


def test_results_are_the_same_on_every_backend(package: Path, tmp_path: Path) -> None:
    from mlcls_cli import create_model

    for i, colour in enumerate(COLOURS):
        save(solid(colour, seed=i), tmp_path / f"{i}.png")
    rows = {}
    for backend in ("paddle", "onnxruntime", "openvino"):
        model = create_model(model_dir=package, device="cpu", backend=backend)
        rows[backend] = [
            r.to_dict() | {"input_path": Path(r.input_path).name}
            for r in model.predict(tmp_path, threshold=0.3)
        ]
    assert (
        rows["onnxruntime"] == rows["paddle"] == rows["openvino"]
    )  # same schema, labels and 5-decimal scores
    assert [r["label_names"][0] for r in rows["paddle"]] == ["red", "green", "blue", "bright été 狗"]


def test_auto_takes_the_fastest_installed_and_says_so(
    package: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from mlcls_cli import create_model

    model = create_model(model_dir=package, device="cpu")
    assert model.backend == "onnxruntime" and model.precision == "fp32"
    assert "onnxruntime fp32 on cpu" in capfd.readouterr().err  # the log line that reports the model
    assert backend_candidates("auto", CPU) == ["onnxruntime", "openvino", "paddle"]
    assert create_model(model_dir=package, device="cpu", use_hpip=True).backend == "onnxruntime"


def test_a_converted_graph_is_cached_by_the_package_hash(package: Path) -> None:
    from mlcls_cli.hub.cache import list_cached, onnx_dir
    from mlcls_cli.inference.convert import cached_onnx_path
    from mlcls_cli.inference.package import InferencePackage
    from mlcls_cli.inference.predictor import Predictor

    Predictor(package, device="cpu", backend="onnxruntime")
    opened = InferencePackage.open(package)
    target = cached_onnx_path(opened)
    assert target.is_file() and target.parent.parent == onnx_dir()
    assert not (package / "inference.onnx").exists()  # never written next to the package
    before = target.stat().st_mtime_ns
    Predictor(package, device="cpu", backend="openvino")  # reuses it
    assert target.stat().st_mtime_ns == before
    entries = [e for e in list_cached() if e.kind == "onnx"]
    assert [e.path for e in entries] == [target.parent] and entries[0].state.value == "ok"


def test_a_changed_package_is_converted_again(package: Path, tmp_path: Path) -> None:
    import shutil

    from mlcls_cli.inference.convert import cached_onnx_path
    from mlcls_cli.inference.package import InferencePackage

    copy = tmp_path / "copy"
    shutil.copytree(package, copy)
    same = cached_onnx_path(InferencePackage.open(copy))
    assert same == cached_onnx_path(InferencePackage.open(package))  # the same bytes, the same key
    _, other = export_package(tmp_path / "other", seed=11)
    assert cached_onnx_path(InferencePackage.open(other)) != same


def test_bf16_on_openvino(package: Path, batch: np.ndarray) -> None:
    from mlcls_cli.inference.backends.openvino_runtime import cpu_supports_bf16
    from mlcls_cli.inference.predictor import Predictor

    if not cpu_supports_bf16():
        with pytest.raises(BackendUnavailableError, match="bf16"):
            Predictor(package, device="cpu", backend="openvino", precision="bf16")
        return
    fast = Predictor(package, device="cpu", precision="bf16")  # auto at bf16 is OpenVINO
    assert (fast.backend, fast.precision) == ("openvino", "bf16")
    reference = Predictor(package, device="cpu", backend="paddle").run(batch)
    got = fast.run(batch)
    assert np.abs(got - reference).max() < 0.05
    assert (got.argmax(axis=1) == reference.argmax(axis=1)).all()


@pytest.mark.parametrize(
    ("backend", "precision", "error", "match"),
    [
        ("tensorflow", None, UsageError, "unknown backend"),
        ("auto", "int8", UsageError, "unknown precision"),
        ("paddle", "bf16", BackendUnavailableError, "OpenVINO only"),
        ("onnxruntime", "bf16", BackendUnavailableError, "OpenVINO only"),
        ("tensorrt", None, BackendUnavailableError, "needs a GPU"),
    ],
)
def test_impossible_choices_are_clear_errors(
    backend: str, precision: str | None, error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        backend_candidates(backend, CPU, precision or "fp32")


def test_a_corrupt_inference_onnx_is_a_clear_error(package: Path, tmp_path: Path) -> None:
    import shutil

    from mlcls_cli.inference.predictor import Predictor

    broken = tmp_path / "broken"
    shutil.copytree(package, broken)
    (broken / "inference.onnx").write_bytes(b"\x08\x07this is not an onnx graph")
    for backend, name in (("onnxruntime", "ONNX Runtime"), ("openvino", "OpenVINO")):
        with pytest.raises(ConfigError, match=f"{name} cannot load .*inference.onnx") as info:
            Predictor(broken, device="cpu", backend=backend)
        assert "damaged" in (info.value.hint or "")
    assert Predictor(broken, device="cpu", backend="paddle").backend == "paddle"  # the graph itself is fine


def test_a_failed_conversion_falls_back_under_auto_and_is_remembered(
    package: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from mlcls_cli.inference.convert import ConversionError, cached_onnx_path
    from mlcls_cli.inference.package import InferencePackage
    from mlcls_cli.inference.predictor import Predictor

    broken = tmp_path / "unconvertible"
    shutil.copytree(package, broken)
    (broken / "inference.json").write_text("{}")  # a graph paddle2onnx cannot read
    with pytest.raises(ConversionError, match="paddle2onnx could not convert"):
        Predictor(broken, device="cpu", backend="onnxruntime")
    record = cached_onnx_path(InferencePackage.open(broken)).parent / "failed.json"
    assert record.is_file() and not record.with_name("inference.onnx").exists()
    with pytest.raises(ConversionError, match="remembered"):  # no second attempt
        Predictor(broken, device="cpu", backend="openvino")
    # under auto the same failure is a warning, and the next backend (paddle) loads the package
    with pytest.raises(ConfigError, match="Paddle Inference cannot load"):
        Predictor(broken, device="cpu")
    assert "using openvino instead" in capfd.readouterr().err


# --- a machine without the optional backends (a child process where they cannot be imported) ---

_HIDE = """
import sys
hidden = set(sys.argv[1].split(","))
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Hide())
sys.argv = ["mlcls", *sys.argv[2:]]
from mlcls_cli.cli.app import main
main()
"""


def _run_without(hidden: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _HIDE, hidden, *args],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )


def test_auto_falls_back_cleanly_when_backends_are_missing(package: Path, tmp_path: Path) -> None:
    save(solid(RED), tmp_path / "red.png")
    proc = _run_without(
        "onnxruntime", "predict", str(tmp_path / "red.png"), "--model-dir", str(package), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert "openvino fp32 on cpu" in proc.stderr
    assert json.loads(proc.stdout)["label_names"][0] == "red"
    proc = _run_without(
        "onnxruntime,openvino", "predict", str(tmp_path / "red.png"), "--model-dir", str(package), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert "paddle fp32 on cpu" in proc.stderr and json.loads(proc.stdout)["label_names"][0] == "red"
    proc = _run_without("paddle2onnx", "version", "--json")
    assert json.loads(proc.stdout)["backends"]["paddle2onnx"] is None


def test_asking_for_a_missing_backend_exits_69_naming_the_extra(package: Path, tmp_path: Path) -> None:
    save(solid(RED), tmp_path / "red.png")
    proc = _run_without(
        "onnxruntime",
        "predict",
        str(tmp_path / "red.png"),
        "--model-dir",
        str(package),
        "--backend",
        "onnxruntime",
    )
    assert proc.returncode == 69, proc.stderr
    assert "onnxruntime is not installed" in proc.stderr and 'pip install "mlcls[hpi]"' in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_backend_and_precision_through_the_command_line(package: Path, tmp_path: Path) -> None:
    from mlcls_cli.inference.backends.openvino_runtime import cpu_supports_bf16

    save(solid(GREEN), tmp_path / "green.png")
    env = cli_env()
    args = [
        sys.executable,
        "-m",
        "mlcls_cli",
        "predict",
        str(tmp_path / "green.png"),
        "--model-dir",
        str(package),
        "--json",
    ]
    for extra, said in (
        (["--backend", "openvino"], "openvino fp32"),
        (["--backend", "paddle"], "paddle fp32"),
    ):
        proc = subprocess.run([*args, *extra], capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0 and said in proc.stderr, proc.stderr
        assert json.loads(proc.stdout)["label_names"][0] == "green"
    proc = subprocess.run(
        [*args, "--precision", "bf16"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == (0 if cpu_supports_bf16() else 69), proc.stderr
    proc = subprocess.run([*args, "--backend", "mxnet"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "unknown backend 'mxnet'" in proc.stderr


def test_the_config_schema_names_the_same_backends() -> None:
    from mlcls_cli.config.schema import _BACKENDS, _PRECISIONS
    from mlcls_cli.inference.backends import BACKENDS, PRECISIONS

    assert (_BACKENDS, _PRECISIONS) == (BACKENDS, PRECISIONS)


def test_installed_imports_nothing() -> None:
    code = (
        "import sys; from mlcls_cli.inference.backends import available_backends; available_backends(); "
        "print(sorted(m for m in ('onnxruntime', 'openvino', 'paddle', 'paddle2onnx') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), check=True
    )
    assert out.stdout.strip() == "[]"
    assert installed("onnxruntime") and not installed("no_such_backend_module")
