"""The local PostgreSQL's port setting and URL, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack import DevstackError
from devstack.postgres import PostgresServer


def test_port_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_PG_PORT", "61234")
    assert PostgresServer().port == 61234
    monkeypatch.setenv("DEVSTACK_PG_PORT", "not-a-port")
    with pytest.raises(DevstackError, match="DEVSTACK_PG_PORT"):
        PostgresServer()


def test_url_quotes_password(tmp_path: Path) -> None:
    server = PostgresServer(port=5555, work_dir=tmp_path, password="p@ss/word")
    assert server.url == "postgresql://platform_admin:p%40ss%2Fword@127.0.0.1:5555/platform"
    assert server.async_url.startswith("postgresql+asyncpg://platform_admin:")
