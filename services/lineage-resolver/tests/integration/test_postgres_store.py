"""The PostgreSQL adapter of the ``LineageStore`` port passes the domain's contract, and the migration creates
exactly the tables the code declares."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from anyio.from_thread import BlockingPortal, start_blocking_portal
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import ServiceDatabase, asyncpg_dsn, create_engine, session_factory
from lineage_resolver.db.repository import LineageRepository
from lineage_resolver.db.store import PostgresLineageStore
from lineage_resolver.db.tables import metadata
from lineage_resolver.domain import DependencyRow, LineageStore, TaskTables

# the domain's contract lives beside its in-memory run in tests/unit; tests are not an installed package
from ..unit.test_lineage_store_contract import LineageStoreContract  # noqa: TID252


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


async def test_task_filters_are_index_only_scans_of_the_edge_table(migrated_engine: Any) -> None:
    async with migrated_engine.connect() as conn:
        await conn.execute(text("SET enable_seqscan = off"))
        await conn.execute(text("SET enable_bitmapscan = off"))
        for column, index in (
            ("upstream_task_id", "pk_task_dependency_edge"),
            ("downstream_task_id", "ix_task_dependency_edge_downstream_task_id_upstream_task_id"),
        ):
            plan = (
                await conn.execute(text(f"EXPLAIN SELECT * FROM task_dependency_edge WHERE {column} = 7 ORDER BY 1, 2"))
            ).all()
            assert any(index in line[0] for line in plan), plan


async def test_edge_table_follows_every_writer_of_the_view(migrated_engine: Any) -> None:
    """The triggers keep ``task_dependency_edge`` = the view's downstream arrays: upserts, direct updates, deletes,
    multi-row inserts and truncation."""

    async def edges(conn: Any) -> set[tuple[int, int]]:
        return {(u, d) for u, d in await conn.execute(text("SELECT * FROM task_dependency_edge"))}

    async def derived(conn: Any) -> set[tuple[int, int]]:
        rows = await conn.execute(text("SELECT task_id, downstream_task_ids FROM task_dependency_view"))
        return {(t, d) for t, downs in rows for d in downs}

    async with migrated_engine.connect() as conn:
        repo = LineageRepository(AsyncSession(bind=conn))
        await repo.put_dependency_view_rows(
            [DependencyRow(1, downstream=frozenset({2, 3})), DependencyRow(2, frozenset({1}))]
        )
        await repo.put_dependency_view_rows([DependencyRow(3, frozenset({1}))])
        assert await edges(conn) == {(1, 2), (1, 3)} == await derived(conn)
        await repo.put_dependency_view_rows([DependencyRow(1, downstream=frozenset({3, 4})), DependencyRow(2)])
        assert await edges(conn) == {(1, 3), (1, 4)} == await derived(conn)
        await conn.execute(text("UPDATE task_dependency_view SET downstream_task_ids = '{5,3}' WHERE task_id = 1"))
        await conn.execute(text("UPDATE task_dependency_view SET updated_at = now()"))  # arrays unchanged
        assert await edges(conn) == {(1, 3), (1, 5)} == await derived(conn)
        await conn.execute(text("DELETE FROM task_dependency_view WHERE task_id = 1"))
        assert await edges(conn) == set()
        await conn.execute(
            text(
                "INSERT INTO task_dependency_view (task_id, upstream_task_ids, downstream_task_ids) "
                "SELECT g, '{}', ARRAY[g + 1, g + 2] FROM generate_series(10, 19) g"
            )
        )
        assert len(await edges(conn)) == 20
        assert await edges(conn) == await derived(conn)
        await conn.execute(text("TRUNCATE task_dependency_view"))
        assert await edges(conn) == set()
        await conn.rollback()


async def test_a_caller_that_knows_the_stored_rows_writes_the_edge_delta_itself(migrated_engine: Any) -> None:
    async with migrated_engine.connect() as conn:
        repo = LineageRepository(AsyncSession(bind=conn))
        await repo.put_dependency_view_rows([DependencyRow(1, downstream=frozenset({2, 3}))])
        await repo.put_dependency_view_rows(
            [DependencyRow(1, downstream=frozenset({3, 4})), DependencyRow(5, downstream=frozenset({6}))],
            previous={1: DependencyRow(1, downstream=frozenset({2, 3}))},
        )
        edges = set((await conn.execute(text("SELECT * FROM task_dependency_edge"))).all())
        assert edges == {(1, 3), (1, 4), (5, 6)}
        # the triggers stood aside only for those statements
        await conn.execute(text("DELETE FROM task_dependency_view WHERE task_id = 5"))
        assert set((await conn.execute(text("SELECT * FROM task_dependency_edge"))).all()) == {(1, 3), (1, 4)}
        await repo.put_dependency_view_rows(
            [DependencyRow(1)], previous={1: DependencyRow(1, downstream=frozenset({3, 4}))}
        )
        assert (await conn.execute(text("SELECT count(*) FROM task_dependency_edge"))).scalar_one() == 0
        await conn.rollback()


async def test_edge_triggers_fire_for_bulk_loads_as_a_replica(
    lineage_db: ServiceDatabase, postgres_admin_url: str
) -> None:
    """Bulk loaders (the benches) write the view with ``session_replication_role = replica``, which skips ordinary
    triggers: the edge triggers are ``ENABLE ALWAYS``."""
    conn = await asyncpg.connect(asyncpg_dsn(postgres_admin_url))
    try:
        await conn.execute(f'SET search_path = "{lineage_db.schema}"')
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "INSERT INTO task_dependency_view (task_id, upstream_task_ids, downstream_task_ids) "
                "SELECT g, '{}', ARRAY[g + 1, g + 2] FROM generate_series(10, 19) g"
            )
            assert await conn.fetchval("SELECT count(*) FROM task_dependency_edge") == 20
            await conn.execute("DELETE FROM task_dependency_view")
            assert await conn.fetchval("SELECT count(*) FROM task_dependency_edge") == 0
    finally:
        await conn.close()
