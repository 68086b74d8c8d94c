"""Statement spans: every engine of the process is traced, not only the first one (several services in one test
process), and a statement gets a span only inside a recorded one."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from common.db import create_engine
from common.telemetry import instrument_engine
from common.testing.fixtures import ProvisionFn


def statements(spans: InMemorySpanExporter) -> list[str]:
    return [
        str((s.attributes or {}).get("db.statement")) for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT
    ]


async def test_each_engine_is_instrumented(service_database: ProvisionFn, spans: InMemorySpanExporter) -> None:
    engines = []
    for name in ("one", "two", "three"):
        db = await service_database(f"tel_{name}")
        engine = create_engine(db.url, schema=db.schema)
        instrument_engine(engine)
        engines.append(engine)
    try:
        with trace.get_tracer(__name__).start_as_current_span("use case") as use_case:
            for i, engine in enumerate(engines):
                async with engine.connect() as conn:
                    await conn.execute(text(f"SELECT {i + 100}"))
    finally:
        for engine in engines:
            await engine.dispose()
    found = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    for i in range(len(engines)):
        assert f"SELECT {i + 100}" in statements(spans)
    assert all(s.parent is not None and s.parent.span_id == use_case.get_span_context().span_id for s in found)
    # one span per statement: no "connect" span for the pool checkouts
    assert len(found) == len(engines), [s.name for s in found]


async def test_statements_outside_a_recorded_span_get_none(
    service_database: ProvisionFn, spans: InMemorySpanExporter
) -> None:
    db = await service_database("tel_quiet")
    engine = create_engine(db.url, schema=db.schema)
    instrument_engine(engine)
    unsampled = trace.SpanContext(trace_id=7, span_id=9, is_remote=True, trace_flags=trace.TraceFlags(0))
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 201"))  # no span at all (a poll of the outbox relay)
            with trace.use_span(trace.NonRecordingSpan(unsampled)):
                await conn.execute(text("SELECT 202"))  # a request whose trace is not recorded
            with trace.get_tracer(__name__).start_as_current_span("recorded"):
                await conn.execute(text("SELECT 203"))
    finally:
        await engine.dispose()
    assert [s for s in statements(spans) if s.startswith("SELECT 20")] == ["SELECT 203"]
