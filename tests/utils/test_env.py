"""Numbers from MLCLS_* environment variables."""

from __future__ import annotations

import pytest

from mlcls_cli.errors import UsageError
from mlcls_cli.utils.env import env_flag, env_number


def test_unset_gives_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLCLS_X", raising=False)
    assert env_number("MLCLS_X", 4, int) == 4


def test_values_are_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCLS_X", " 2.5 ")
    assert env_number("MLCLS_X", 1.0) == 2.5
    monkeypatch.setenv("MLCLS_X", "0")
    assert env_number("MLCLS_X", 1.0) == 0.0


@pytest.mark.parametrize(
    ("raw", "positive", "message"),
    [("abc", False, "not a number"), ("-1", False, ">= 0"), ("0", True, "positive")],
)
def test_bad_values_are_usage_errors(
    monkeypatch: pytest.MonkeyPatch, raw: str, positive: bool, message: str
) -> None:
    monkeypatch.setenv("MLCLS_X", raw)
    with pytest.raises(UsageError, match=message):
        env_number("MLCLS_X", 1.0, positive=positive)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("TRUE", True),
        (" yes ", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        ("", False),
    ],
)
def test_flags_read_the_usual_words(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    monkeypatch.setenv("MLCLS_X", raw)
    assert env_flag("MLCLS_X") is value


def test_an_unset_flag_gives_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLCLS_X", raising=False)
    assert env_flag("MLCLS_X") is False
    assert env_flag("MLCLS_X", True) is True


@pytest.mark.parametrize("raw", ["maybe", "2", "enable", "y"])
def test_other_flag_values_are_usage_errors(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("MLCLS_X", raw)
    with pytest.raises(UsageError, match="is not a boolean"):
        env_flag("MLCLS_X")
