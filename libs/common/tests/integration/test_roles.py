from __future__ import annotations

import asyncpg
import pytest

from common.db import asyncpg_dsn
from common.testing.fixtures import ProvisionFn


async def test_service_role_cannot_touch_another_schema(service_database: ProvisionFn) -> None:
    a = await service_database("alpha")
    b = await service_database("beta")
    conn_a = await asyncpg.connect(asyncpg_dsn(a.url))
    try:
        await conn_a.execute("CREATE TABLE secrets_of_a (id int)")  # lands in a's schema (search_path)
        await conn_a.execute("INSERT INTO secrets_of_a VALUES (1)")
        assert await conn_a.fetchval(f'SELECT count(*) FROM "{a.schema}".secrets_of_a') == 1
    finally:
        await conn_a.close()

    conn_b = await asyncpg.connect(asyncpg_dsn(b.url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn_b.fetch(f'SELECT * FROM "{a.schema}".secrets_of_a')
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn_b.execute(f'CREATE TABLE "{a.schema}".intruder (id int)')
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn_b.execute("CREATE TABLE public.intruder (id int)")
        # its own schema works
        await conn_b.execute("CREATE TABLE mine (id int)")
        assert await conn_b.fetchval("SELECT current_schema()") == b.schema
    finally:
        await conn_b.close()


async def test_service_roles_have_statement_and_lock_timeouts(service_database: ProvisionFn) -> None:
    db = await service_database("timeouts")
    conn = await asyncpg.connect(asyncpg_dsn(db.url))
    try:
        assert await conn.fetchval("SHOW statement_timeout") == "1min"
        assert await conn.fetchval("SHOW lock_timeout") == "10s"
        assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "2min"
    finally:
        await conn.close()
