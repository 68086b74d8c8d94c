"""``frozen_statement``: a PostgreSQL ``INSERT … ON CONFLICT`` (which SQLAlchemy compiles again on every execution)
as text compiled once, with the columns' types (JSON, a UUID) and SQL expressions (``now()``) as they were; and
``single_read``: one statement without ``BEGIN``/``COMMIT``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, DateTime, Table, Text, bindparam, func, literal, select, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import (
    create_engine,
    frozen_statement,
    new_metadata,
    session_factory,
    shape_values,
    single_read,
    unit_of_work,
    values_shape,
)
from common.testing.fixtures import ProvisionFn

metadata = new_metadata()
item = Table(
    "item",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("ref", UUID(as_uuid=True), nullable=False),
    Column("doc", JSONB, nullable=False),
    Column("note", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)


def upsert(shape: Any) -> Any:
    stmt = pg_insert(item).values(shape_values(shape))
    changes = {name: stmt.excluded[name] for name, _ in shape if name != "id"}
    stmt = stmt.on_conflict_do_update(index_elements=[item.c.id], set_=changes).returning(item.c.id)
    return frozen_statement(stmt, {name: item.c[name].type for name, sql in shape if sql is None})


def test_the_shape_names_expressions_and_refuses_ones_with_parameters() -> None:
    assert values_shape({"id": 1, "at": func.now(), "note": None}) == (("id", None), ("at", "now()"), ("note", None))
    assert values_shape({"id": 1, "note": literal("x")}) is None  # its own parameter: not frozen
    assert values_shape({"id": 1, "note": func.upper(bindparam("n", "x"))}) is None


@pytest.fixture
async def sessions(service_database: ProvisionFn) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a one-connection pool, the ``item`` table created."""
    db = await service_database("frozen")
    engine = create_engine(db.url, schema=db.schema, pool_size=1)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield session_factory(engine)
    await engine.dispose()


async def test_a_frozen_upsert_writes_what_the_statement_would(sessions: async_sessionmaker[AsyncSession]) -> None:
    ref = uuid.uuid4()
    first = {"id": 1, "ref": ref, "doc": {"a": [1, "ü"]}, "note": "n:1 ::x", "at": func.now()}
    shape = values_shape(first)
    assert shape is not None
    statement = upsert(shape)
    params = {name: first[name] for name, sql in shape if sql is None}
    async with unit_of_work(sessions) as s:
        assert (await s.execute(statement, params)).scalar_one() == 1
        again = {**params, "doc": {"b": None}, "note": None}
        assert (await s.execute(statement, again)).scalar_one() == 1  # the conflict updates the row
        row = (await s.execute(select(item, func.now().label("now")))).one()
    assert (row.id, row.ref, row.doc, row.note) == (1, ref, {"b": None}, None)
    assert row.at == row.now  # now() of the transaction, written by the SQL, not a parameter


async def test_a_single_read_runs_outside_a_transaction_and_the_connection_comes_back_transactional(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """``VACUUM`` refuses to run inside a transaction block: it runs in ``single_read``, not in ``unit_of_work`` —
    on the same pooled connection, before and after."""
    async with single_read(sessions) as s:
        await s.execute(text("VACUUM item"))
        pid = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()

    async def vacuum_in_a_transaction() -> None:
        async with unit_of_work(sessions) as s:
            assert (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one() == pid
            await s.execute(text("VACUUM item"))

    with pytest.raises(DBAPIError, match="cannot run inside a transaction block"):
        await vacuum_in_a_transaction()
    async with single_read(sessions) as s:
        assert (await s.execute(text("SELECT count(*) FROM item"))).scalar_one() == 0
