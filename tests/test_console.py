"""Output conventions: plain progress lines off a terminal, quiet mode, byte units, JSON on stdout."""

from __future__ import annotations

import json

import pytest

from mlcls_cli import console


def test_plain_progress_lines_when_not_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLCLS_NO_PROGRESS", raising=False)
    console.configure()
    with console.progress("check", 10, unit="images", interval=0) as p:
        p.advance(4, loss=0.5)
        p.advance(6)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("check: 4/10 images (40%)")
    assert "loss=0.5" in lines[0]
    assert lines[-1].startswith("check: 10/10 images (100%)")
    assert len(lines) == 2  # the final state is not repeated
    assert "\r" not in err and "\x1b[" not in err


def test_quiet_hides_progress_and_info_but_not_errors(capsys: pytest.CaptureFixture[str]) -> None:
    console.configure(quiet=True)
    with console.progress("x", 3, interval=0) as p:
        p.advance(3)
    console.info("hello")
    console.error("boom")
    _, err = capsys.readouterr()
    assert err.strip() == "error: boom"


def test_byte_progress_uses_binary_units(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLCLS_NO_PROGRESS", raising=False)
    console.configure()
    with console.progress("download", 4 * 1024 * 1024, unit="bytes", interval=0) as p:
        p.advance(2 * 1024 * 1024)
    _, err = capsys.readouterr()
    assert "2.0 MiB/4.0 MiB (50%)" in err
    assert console.human_bytes(512) == "512 B"
    assert console.human_bytes(1536) == "1.5 KiB"


def test_emit_json_writes_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    console.emit_json({"a": np.array([1, 2]), "name": "é"})
    out, _ = capsys.readouterr()
    assert json.loads(out) == {"a": [1, 2], "name": "é"}


def test_no_progress_env_silences_progress_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLCLS_NO_PROGRESS", "1")
    console.configure()
    with console.progress("x", 3, interval=0) as p:
        p.advance(3)
    console.info("still logged")
    _, err = capsys.readouterr()
    assert err.strip() == "still logged"
