"""``ReadPool``: one-statement reads straight on asyncpg, on the service's schema, surviving connections the server
dropped, and traced inside a recorded span."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from common.db import ReadPool, asyncpg_dsn
from common.testing.fixtures import ProvisionFn


async def test_reads_run_on_the_schema_with_named_parameters(service_database: ProvisionFn) -> None:
    db = await service_database("reads")
    owner = await asyncpg.connect(asyncpg_dsn(db.url))
    try:
        await owner.execute(f'CREATE TABLE "{db.schema}".item (id bigint PRIMARY KEY, name text)')
        await owner.execute(f"INSERT INTO \"{db.schema}\".item VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    finally:
        await owner.close()
    reads = await ReadPool.open(db.url, schema=db.schema, size=2, application_name="reads-test")
    try:
        # unqualified table names (the schema is first on the search path); a parameter used twice; arrays
        sql = (
            "SELECT json_agg(name ORDER BY id)::text FROM item "
            "WHERE id = ANY(CAST(:ids AS bigint[])) AND id >= :low AND id + :low > 1"
        )
        assert await reads.value(sql, {"ids": [1, 3], "low": 1}) == '["a", "c"]'
        assert await reads.value(sql, {"ids": [2], "low": 5}) is None
        assert await reads.value("SELECT current_setting('application_name')", {}) == "reads-test"
        with pytest.raises(KeyError):
            await reads.value(sql, {"ids": [1]})  # a parameter without its value is refused before the database
    finally:
        await reads.close()


async def test_a_read_survives_connections_the_server_dropped(
    service_database: ProvisionFn, postgres_admin_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = await service_database("reads")
    app = f"reads-{uuid.uuid4().hex[:8]}"
    reads = await ReadPool.open(db.url, schema=db.schema, size=1, application_name=app)
    admin = await asyncpg.connect(asyncpg_dsn(postgres_admin_url))

    async def drop_pooled_connections() -> None:
        """What a server restart, an idle timeout or an administrator does to the pool's connection."""
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", app
        )
        assert killed == 1

    try:
        first = await reads.value("SELECT pg_backend_pid()", {})
        await drop_pooled_connections()
        second = await reads.value("SELECT pg_backend_pid()", {})
        assert second != first
        await drop_pooled_connections()
        third = await reads.value("SELECT pg_backend_pid()", {})
        assert third not in (first, second)
        # the dropped connection was tried first and the read ran again on a fresh one — unless the pool saw the
        # close before handing the connection out (the server's goodbye can arrive first on a busy machine)
        retried = [r for r in caplog.records if "reading again" in r.getMessage()]
        assert len(retried) <= 2
    finally:
        await admin.close()
        await reads.close()


async def test_other_errors_are_raised_once(service_database: ProvisionFn) -> None:
    db = await service_database("reads")
    reads = await ReadPool.open(db.url, schema=db.schema, size=1, application_name="reads-test")
    try:
        with pytest.raises(asyncpg.UndefinedTableError):
            await reads.value("SELECT * FROM no_such_table", {})
        # the connection is still good
        assert await reads.value("SELECT 1", {}) == 1
    finally:
        await reads.close()


async def test_a_recorded_span_gets_a_span_per_statement(
    service_database: ProvisionFn, spans: InMemorySpanExporter
) -> None:
    db = await service_database("reads")
    reads = await ReadPool.open(db.url, schema=db.schema, size=1, application_name="reads-test")
    tracer = trace.get_tracer("test")
    try:
        await reads.value("SELECT 1", {})  # outside any span: none
        with tracer.start_as_current_span("request"):
            assert await reads.value("SELECT CAST(:x AS int) + 1", {"x": 1}) == 2
            with pytest.raises(asyncpg.UndefinedTableError):
                await reads.value("SELECT * FROM no_such_table", {})
    finally:
        await reads.close()
    finished = {s.name: s for s in spans.get_finished_spans()}
    database = reads.database
    assert len(spans.get_finished_spans()) == 3, "the read outside a span has none"
    statements = [s for s in spans.get_finished_spans() if s.kind == trace.SpanKind.CLIENT]
    assert [s.name for s in statements] == [f"SELECT {database}"] * 2
    assert [s.attributes["db.statement"] for s in statements] == [
        "SELECT CAST(:x AS int) + 1",
        "SELECT * FROM no_such_table",
    ]
    assert all(s.attributes["db.system"] == "postgresql" and s.attributes["db.name"] == database for s in statements)
    assert [s.status.status_code for s in statements] == [trace.StatusCode.UNSET, trace.StatusCode.ERROR]
    request = finished["request"]
    assert all(s.parent is not None and s.parent.span_id == request.context.span_id for s in statements)
