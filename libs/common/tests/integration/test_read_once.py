"""``read_once`` on a pool without pre-ping: a connection the server dropped is replaced, one read is not lost."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from common.db import asyncpg_dsn, read_once
from common.testing.fixtures import ProvisionFn

pytestmark = pytest.mark.integration


async def test_a_read_survives_connections_the_server_dropped(
    service_database: ProvisionFn, postgres_admin_url: str
) -> None:
    db = await service_database("reads")
    app = f"reads-{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(
        db.url.get_secret_value(),
        pool_size=3,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
        connect_args={"server_settings": {"application_name": app}},
    )
    backends: list[int] = []
    attempts: list[AsyncConnection] = []

    async def backend_pid(conn: AsyncConnection) -> int:
        attempts.append(conn)
        pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        backends.append(pid)
        return pid

    admin = await asyncpg.connect(asyncpg_dsn(postgres_admin_url))

    async def drop_pooled_connections() -> None:
        """What a server restart, an idle timeout or an administrator does to the pool's connection."""
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app
        )
        assert killed == 1

    try:
        first = await read_once(engine, backend_pid)
        await drop_pooled_connections()
        # a plain read on the pooled connection fails (that is what pre-ping was guarding against)...
        with pytest.raises(DBAPIError) as info:
            async with engine.connect() as conn:
                await backend_pid(conn)
        assert info.value.connection_invalidated

        pooled = await read_once(engine, backend_pid)
        assert pooled != first
        await drop_pooled_connections()
        backends.clear()
        attempts.clear()
        # ...read_once tries the dropped connection, then reads again on a fresh one and answers
        answer = await read_once(engine, backend_pid)
        assert answer not in (first, pooled)
        assert len(attempts) == 2, "the dropped connection is tried first"
        assert backends == [answer]
    finally:
        await admin.close()
        await engine.dispose()


async def test_other_errors_are_not_retried(service_database: ProvisionFn) -> None:
    db = await service_database("reads")
    engine = create_async_engine(db.url.get_secret_value(), pool_pre_ping=False, isolation_level="AUTOCOMMIT")
    calls: list[Any] = []

    async def bad(conn: AsyncConnection) -> None:
        calls.append(conn)
        await conn.execute(text("SELECT * FROM no_such_table"))

    try:
        with pytest.raises(ProgrammingError):
            await read_once(engine, bad)
        assert len(calls) == 1
    finally:
        await engine.dispose()
