"""`mlcls check` end to end: exit codes, stdout/stderr split, --json, and no paddle import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mlcls_cli.cli.app import app
from tests.datasets import format_line, make_dataset

ROOT = Path(__file__).resolve().parents[2]


def mlcls(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlcls_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "NO_COLOR": "1", "HOME": str(cwd)},
    )


def test_exit_0_when_the_dataset_passes(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds")
    proc = mlcls("check", str(made.root), "-O", str(tmp_path / "out"), "--no-plots", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Check dataset passed !" in proc.stderr
    assert "Check dataset passed" not in proc.stdout
    assert "passed" in proc.stdout and "classes 3" in proc.stdout
    assert (tmp_path / "out" / "check_dataset_result.json").is_file()


def test_exit_65_with_every_problem_on_stdout(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds")
    made.set_list_line("train", 2, format_line(made.train[1][0], [1, 0]))
    made.image(made.val[0][0]).unlink()
    proc = mlcls("check", str(made.root), "--no-plots", cwd=tmp_path)
    assert proc.returncode == 65
    assert "list.vector_length" in proc.stdout and "train.txt:2" in proc.stdout
    assert "image.missing" in proc.stdout and "val.txt:1" in proc.stdout
    assert "dataset check failed: 2 error(s)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "output" / "check_dataset_result.json").is_file()  # default --output is ./output


def test_exit_66_when_the_dataset_is_missing(tmp_path: Path) -> None:
    proc = mlcls("check", str(tmp_path / "absent"), "-O", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 66
    assert "does not exist" in proc.stderr
    assert proc.stdout == ""


def test_json_output_equals_the_result_file(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", classes=["猫", "dog"])
    made.set_list_line("val", 1, "images/nowhere.png\t1,0")
    out = tmp_path / "out"
    proc = mlcls("check", str(made.root), "-O", str(out), "--json", cwd=tmp_path)
    assert proc.returncode == 65
    printed = json.loads(proc.stdout)
    assert printed == json.loads((out / "check_dataset_result.json").read_text(encoding="utf-8"))
    assert printed["check_pass"] is False and printed["done_flag"] is False
    assert printed["err_type"] == "DatasetError" and "image.missing" in printed["err_msg"]
    assert printed["errors"]["counts"] == {"image.missing": 1}


def test_global_json_flag_and_options_through_cli_runner(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", train=4, val=2)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "--json",
            "check",
            str(made.root),
            "--output",
            str(out),
            "--decode",
            "--workers",
            "2",
            "--max-examples",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["attributes"]["train_samples"] == 4


def test_human_report_names_the_problem(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds")
    made.write_label_lines(["0 cat", "0 dog", "2 car"])
    result = CliRunner().invoke(app, ["check", str(made.root), "-O", str(tmp_path / "out"), "--no-plots"])
    assert result.exit_code == 65
    assert "label.duplicate_id" in result.stdout and "label.txt:2" in result.stdout


def test_bad_option_values_are_usage_errors(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", train=2, val=1)
    runner = CliRunner()
    assert runner.invoke(app, ["check", str(made.root), "--workers", "0"]).exit_code == 2
    assert runner.invoke(app, ["check", str(made.root), "--max-examples", "-1"]).exit_code == 2


def test_check_does_not_import_paddle(tmp_path: Path) -> None:
    made = make_dataset(tmp_path / "ds", train=3, val=2)
    code = (
        "import sys\n"
        "from mlcls_cli.cli.app import main\n"
        f"sys.argv = ['mlcls', 'check', {str(made.root)!r}, '-O', {str(tmp_path / 'out')!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "assert 'paddle' not in sys.modules, 'paddle was imported'\n"
        "print('NO_PADDLE_OK')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "NO_PADDLE_OK" in proc.stdout
