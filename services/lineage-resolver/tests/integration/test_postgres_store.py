"""The PostgreSQL adapter of the ``LineageStore`` port passes the domain's contract, and the migration creates
exactly the tables the code declares."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from anyio.from_thread import BlockingPortal, start_blocking_portal
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import ServiceDatabase, create_engine, session_factory
from lineage_resolver.db.repository import LineageRepository
from lineage_resolver.db.store import PostgresLineageStore
from lineage_resolver.db.tables import metadata
from lineage_resolver.domain import DependencyRow, LineageStore, TaskTables

# the domain's contract lives beside its in-memory run in tests/unit; tests are not an installed package
from ..unit.test_lineage_store_contract import LineageStoreContract  # noqa: TID252

pytestmark = pytest.mark.integration


@pytest.fixture
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as p:
        yield p


class TestPostgresLineageStore(LineageStoreContract):
    """The contract's sync calls go through the same adapter the service uses, with a blocking portal as the
    runner instead of ``anyio.from_thread.run``; everything runs in one transaction, rolled back at the end."""

    @pytest.fixture
    def store(self, lineage_db: ServiceDatabase, portal: BlockingPortal) -> Iterator[LineageStore]:
        engine = create_engine(lineage_db.url, schema=lineage_db.schema, pool_size=1)
        holder: dict[str, AsyncSession] = {}

        async def open_session() -> None:
            session = session_factory(engine)()
            await session.begin()
            holder["s"] = session

        async def close() -> None:
            await holder["s"].rollback()
            await holder["s"].close()
            await engine.dispose()

        portal.call(open_session)
        yield PostgresLineageStore(LineageRepository(holder["s"]), portal.call, page_size=2)
        portal.call(close)

    def test_scans_page_through_everything(self, store: LineageStore) -> None:
        for task_id in range(1, 8):
            store.set_task_tables(TaskTables(task_id, frozenset({f"r{task_id}"}), frozenset({f"w{task_id}"})))
        store.add_table_lineage([(f"s{i}", f"t{i}") for i in range(5)])
        store.put_dependency_view_rows([DependencyRow(i, frozenset({i + 100})) for i in range(1, 6)])
        assert [t.task_id for t in store.iter_task_tables()] == list(range(1, 8))
        assert sorted(store.iter_table_lineage()) == [(f"s{i}", f"t{i}") for i in range(5)]
        assert [r.task_id for r in store.iter_dependency_rows()] == list(range(1, 6))

    def test_removing_edges_removes_exactly_those_pairs(self, store: LineageStore) -> None:
        store.add_table_lineage([("a", "c"), ("x", "y"), ("a", "y"), ("x", "c")])
        store.remove_table_lineage([("a", "c"), ("x", "y")])
        assert sorted(store.iter_table_lineage()) == [("a", "y"), ("x", "c")]

    def test_view_row_columns(self, store: LineageStore, portal: BlockingPortal) -> None:
        store.put_dependency_view_rows([DependencyRow(5, frozenset({3, 1, 2}), frozenset({9}))])
        assert isinstance(store, PostgresLineageStore)
        repo: LineageRepository = store._repo

        async def read() -> Any:
            return (
                await repo.session.execute(
                    text(
                        "SELECT upstream_task_ids, downstream_task_ids, upstream_count, downstream_count"
                        " FROM task_dependency_view"
                    )
                )
            ).one()

        row = portal.call(read)
        assert tuple(row) == ([1, 2, 3], [9], 3, 1)


@pytest.fixture
async def migrated_engine(lineage_db: ServiceDatabase) -> AsyncIterator[Any]:
    engine = create_engine(lineage_db.url, schema=lineage_db.schema, pool_size=1)
    yield engine
    await engine.dispose()


async def test_migration_matches_table_metadata(migrated_engine: Any) -> None:
    def diff(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_schemas": False})
        return list(compare_metadata(context, metadata))

    async with migrated_engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_array_filters_use_the_gin_indexes(migrated_engine: Any) -> None:
    async with migrated_engine.connect() as conn:
        await conn.execute(text("SET enable_seqscan = off"))
        for column in ("upstream_task_ids", "downstream_task_ids"):
            plan = (
                await conn.execute(
                    text(f"EXPLAIN SELECT task_id FROM task_dependency_view WHERE {column} @> ARRAY[7]::bigint[]")
                )
            ).all()
            assert any(f"ix_task_dependency_view_{column}" in line[0] for line in plan), plan
