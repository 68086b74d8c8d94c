from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devstack.cli import main
from devstack.kafka import KafkaServer
from devstack.postgres import PostgresServer


def test_status_env_and_up_when_running(
    postgres_server: PostgresServer, kafka_server: KafkaServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"postgres: running (pid {postgres_server.pid()}) on 127.0.0.1:{postgres_server.port}" in out
    assert f"kafka: running (pid {kafka_server.pid()}) on {kafka_server.bootstrap_servers}" in out
    assert str(postgres_server.log_file) in out

    assert main(["env"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"export DATABASE_URL=postgresql+asyncpg://platform_admin:{postgres_server.password}"
        f"@127.0.0.1:{postgres_server.port}/platform",
        f"export KAFKA_BOOTSTRAP_SERVERS={kafka_server.bootstrap_servers}",
        "export KAFKA_SASL_USERNAME=admin",
        f"export KAFKA_SASL_PASSWORD={kafka_server.passwords()['admin']}",
        "export KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
    ]

    assert main(["up"]) == 0
    out = capsys.readouterr().out
    assert f"postgres: already running on 127.0.0.1:{postgres_server.port}" in out
    assert f"kafka: already running on {kafka_server.bootstrap_servers}" in out
    assert str(kafka_server.log_file) in out


def test_console_script_status(postgres_server: PostgresServer, kafka_server: KafkaServer) -> None:
    script = Path(sys.executable).parent / "devstack"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "devstack"]
    result = subprocess.run(
        [*cmd, "status", "--only", "kafka"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "kafka: running" in result.stdout
    assert "postgres" not in result.stdout
