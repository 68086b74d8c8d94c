from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from devstack import PortBusyError
from devstack.postgres import PostgresServer


async def test_connect_and_run_sql(postgres_admin_url: str) -> None:
    assert postgres_admin_url.startswith("postgresql://")
    conn = await asyncpg.connect(postgres_admin_url)
    try:
        assert await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is True
        assert int(await conn.fetchval("SHOW server_version_num")) >= 150000
        await conn.execute("CREATE TEMP TABLE t (id int PRIMARY KEY, v text)")
        await conn.executemany("INSERT INTO t VALUES ($1, $2)", [(1, "a"), (2, "b")])
        assert await conn.fetchval("SELECT string_agg(v, ',' ORDER BY id) FROM t") == "a,b"
    finally:
        await conn.close()


async def test_local_server_role_database_and_tuning(postgres_server: PostgresServer) -> None:
    conn = await asyncpg.connect(postgres_server.url)
    try:
        assert await conn.fetchval("SELECT current_user") == "platform_admin"
        assert await conn.fetchval("SELECT current_database()") == "platform"
        settings = {
            name: await conn.fetchval(f"SHOW {name}")
            for name in ("fsync", "synchronous_commit", "full_page_writes", "max_connections", "shared_buffers")
        }
    finally:
        await conn.close()
    assert settings == {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "300",
        "shared_buffers": "256MB",
    }


def test_start_when_running_is_a_noop(postgres_server: PostgresServer) -> None:
    pid = postgres_server.pid()
    assert pid is not None
    assert postgres_server.start() is False
    assert postgres_server.pid() == pid


@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="DATABASE_URL selects an external PostgreSQL; this test would start a scratch local server",
)
async def test_crash_and_stale_pid_file_then_port_busy(
    reachable_tmp_dir: Path, free_port: Callable[[], int], busy_port: int
) -> None:
    server = PostgresServer(port=free_port(), work_dir=reachable_tmp_dir / "pg", password="s3cr'et")
    try:
        assert server.start() is True
        conn = await asyncpg.connect(server.url)
        # the cluster runs with synchronous_commit=off; make this commit durable before the crash
        await conn.execute("SET synchronous_commit = on")
        await conn.execute("CREATE TABLE survivor (x int); INSERT INTO survivor VALUES (42)")
        await conn.close()

        assert server.kill() is True
        assert not server.is_running()
        pid_file = server.data_dir / "postmaster.pid"
        assert pid_file.exists(), "SIGKILL leaves the pid file behind"
        # Make the stale pid file point at a live, unrelated process (pid reuse after a crash).
        lines = pid_file.read_text().splitlines()
        pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")
        assert not server.is_running()

        assert server.start() is True
        conn = await asyncpg.connect(server.url)
        assert await conn.fetchval("SELECT x FROM survivor") == 42
        await conn.close()
        assert server.stop() is True
        assert server.stop() is False

        blocked = PostgresServer(port=busy_port, work_dir=server.work_dir)
        with pytest.raises(PortBusyError, match=rf"port {busy_port}.*DEVSTACK_PG_PORT"):
            blocked.start()
    finally:
        server.purge()
