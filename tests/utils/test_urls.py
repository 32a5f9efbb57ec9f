"""The one URL fetcher: limits, failures by kind, and MLCLS_OFFLINE (no connection at all)."""

from __future__ import annotations

import pytest

from mlcls_cli.utils.urls import FetchError, fetch_url, is_url, url_scheme
from tests.inference.kit import file_server


def test_schemes() -> None:
    assert url_scheme("HTTPS://example.com/a.png") == "https" and is_url("http://x/y.png")
    assert url_scheme("iVBORw0KGgo=") is None and not is_url("ftp://host/x")


def test_body_status_size_and_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    with file_server() as server:
        ok = server.add("/a.png", b"12345")
        assert fetch_url(ok, max_bytes=5, timeout=5) == b"12345"
        with pytest.raises(FetchError) as info:
            fetch_url(ok, max_bytes=4, timeout=5)
        assert info.value.kind == "too_large" and "the limit is 4 bytes" in info.value.reason
        with pytest.raises(FetchError) as info:
            fetch_url(server.base + "/missing.png", max_bytes=10, timeout=5)
        assert (info.value.kind, info.value.status) == ("status", 404)
        empty = server.add("/empty.png", b"")
        with pytest.raises(FetchError) as info:
            fetch_url(empty, max_bytes=10, timeout=5)
        assert info.value.kind == "empty"


def test_offline_opens_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLCLS_OFFLINE", "1")
    with file_server() as server:
        url = server.add("/a.png", b"12345")
        with pytest.raises(FetchError) as info:
            fetch_url(url, max_bytes=100, timeout=5)
        assert info.value.kind == "offline" and "MLCLS_OFFLINE" in info.value.reason
        assert server.hits == {}
