"""pytest fixtures for tests that cross a boundary (real PostgreSQL and Kafka), and the spans of a test.

Isolation: every test that asks for ``service_database`` gets its own schema and role (provisioned exactly as in
production, then dropped), and every test that asks for ``topic_prefix`` gets its own topic names. ``spans``
collects every span the process's tracer provider finishes during the test.

A service's tests share one schema migrated once per session (``migrated_schema``) and take it one of two ways:

* ``rolled_back(db)``: sessions on one connection inside a transaction that is rolled back after the test (what the
  code commits becomes a savepoint). For code that uses one session at a time and needs no other connection to see
  its writes; the test leaves nothing behind.
* ``truncate(db)``: every table emptied before the test. For tests whose data must be committed and seen by other
  connections (an app with its relays and consumers, advisory locks, concurrency, other processes).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import ServiceDatabase, asyncpg_dsn, create_engine, drop_service, provision_service
from common.migrations import upgrade

ProvisionFn = Callable[[str], Awaitable[ServiceDatabase]]
MigratedFn = Callable[[str, Path], Awaitable[ServiceDatabase]]
TruncateFn = Callable[[ServiceDatabase], Awaitable[ServiceDatabase]]


async def _provision(admin_url: str, name: str) -> ServiceDatabase:
    suffix = uuid.uuid4().hex[:8]
    return await provision_service(
        admin_url,
        schema=f"{name}_{suffix}",
        role=f"svc_{name}_{suffix}",
        password=SecretStr(secrets.token_urlsafe(16)),
    )


@pytest.fixture
async def service_database(postgres_admin_url: str) -> AsyncIterator[ProvisionFn]:
    """Factory: ``await service_database("definition")`` → a fresh schema + role for this test only."""
    made: list[ServiceDatabase] = []

    async def _make(name: str) -> ServiceDatabase:
        db = await _provision(postgres_admin_url, name)
        made.append(db)
        return db

    yield _make
    for db in made:
        await drop_service(postgres_admin_url, schema=db.schema, role=db.role)


@pytest.fixture(scope="session")
async def migrated_schema(postgres_admin_url: str) -> AsyncIterator[MigratedFn]:
    """Factory: ``await migrated_schema("alerting", MIGRATIONS)`` → that service's schema and role, migrated once per
    test session (the same one on every call, dropped at the end). Take it through ``rolled_back`` or ``truncate``."""
    made: dict[str, ServiceDatabase] = {}

    async def _get(name: str, migrations: Path) -> ServiceDatabase:
        if name not in made:
            db = await _provision(postgres_admin_url, name)
            made[name] = db
            await upgrade(migrations, db.url, db.schema)
        return made[name]

    yield _get
    for db in made.values():
        await drop_service(postgres_admin_url, schema=db.schema, role=db.role)


@pytest.fixture(scope="session")
def truncate(postgres_admin_url: str) -> TruncateFn:
    """``await truncate(db)`` → ``db`` with every table but Alembic's emptied and its sequences restarted, as freshly
    migrated: for tests whose data is committed and read on other connections."""

    async def _empty(db: ServiceDatabase) -> ServiceDatabase:
        # the schema on the search path, as for the service: its TRUNCATE triggers name their tables unqualified
        conn = await asyncpg.connect(asyncpg_dsn(postgres_admin_url), server_settings={"search_path": db.schema})
        try:
            tables = await conn.fetch(
                "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables"
                " WHERE schemaname = $1 AND tablename <> 'alembic_version'",
                db.schema,
            )
            async with conn.transaction():
                for table in tables:  # one at a time: a table's TRUNCATE trigger may truncate another one
                    await conn.execute(f"TRUNCATE {table['name']} RESTART IDENTITY CASCADE")
            sequences = await conn.fetch(
                "SELECT format('%I.%I', schemaname, sequencename) AS name FROM pg_sequences WHERE schemaname = $1",
                db.schema,
            )
            for sequence in sequences:
                await conn.execute(f"ALTER SEQUENCE {sequence['name']} RESTART")
        finally:
            await conn.close()
        return db

    return _empty


@asynccontextmanager
async def rolled_back(db: ServiceDatabase) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions bound to one connection inside a transaction that is rolled back at the end (SQLAlchemy's "join an
    external transaction" recipe): a session's commit releases a savepoint, nothing outlives the block. For code that
    uses one session at a time and needs no other connection to see what it wrote. ``now()`` is the block's start
    throughout: a test of time passing in the database (a lease expiring) takes ``truncate`` instead."""
    engine = create_engine(db.url, schema=db.schema, pool_size=1)
    try:
        async with engine.connect() as conn:
            outer = await conn.begin()
            try:
                yield async_sessionmaker(
                    bind=conn, expire_on_commit=False, autoflush=False, join_transaction_mode="create_savepoint"
                )
            finally:
                await outer.rollback()
    finally:
        await engine.dispose()


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans finished during the test, from the process's tracer provider (set up here if nothing did before;
    a test process keeps one provider, see ``common.telemetry.setup_tracing``)."""
    from common.telemetry import setup_tracing

    exporter = InMemorySpanExporter()
    setup_tracing("tests", extra_processors=[SimpleSpanProcessor(exporter)])
    yield exporter
    # the processor stays on the process's provider: stop collecting
    exporter.clear()
    exporter.shutdown()
