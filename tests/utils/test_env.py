"""Numbers from MLCLS_* environment variables."""

from __future__ import annotations

import pytest

from mlcls_cli.errors import UsageError
from mlcls_cli.utils.env import env_number


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
