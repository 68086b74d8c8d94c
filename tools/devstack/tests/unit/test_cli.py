"""The devstack CLI without servers: external services are used, not started; URL conversions."""

from __future__ import annotations

import pytest

from devstack.cli import main
from devstack.external import asyncpg_sqlalchemy_url, plain_pg_url


def test_external_services_are_not_started(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/x")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    assert main(["up"]) == 0
    out = capsys.readouterr().out
    assert "postgres: using external DATABASE_URL=postgresql://u:p@db.example:5432/x (not started)" in out
    assert "kafka: using external KAFKA_BOOTSTRAP_SERVERS=kafka.example:9092 (not started)" in out

    assert main(["env"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "export DATABASE_URL=postgresql+asyncpg://u:p@db.example:5432/x",
        "export KAFKA_BOOTSTRAP_SERVERS=kafka.example:9092",
    ]
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "postgres: external" in out
    assert "kafka: external" in out


def test_url_conversions() -> None:
    assert plain_pg_url("postgresql+asyncpg://a:b@h:1/d") == "postgresql://a:b@h:1/d"
    assert plain_pg_url("postgres://a:b@h:1/d") == "postgresql://a:b@h:1/d"
    assert asyncpg_sqlalchemy_url("postgresql://a:b@h:1/d") == "postgresql+asyncpg://a:b@h:1/d"
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        plain_pg_url("mysql://x")
