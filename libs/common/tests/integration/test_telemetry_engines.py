"""Every engine of the process is traced, not only the first one (several services in one test process)."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from common.db import create_engine
from common.telemetry import instrument_engine
from common.testing.fixtures import ProvisionFn

pytestmark = pytest.mark.integration


async def test_each_engine_is_instrumented(service_database: ProvisionFn, spans: InMemorySpanExporter) -> None:
    engines = []
    for name in ("one", "two", "three"):
        db = await service_database(f"tel_{name}")
        engine = create_engine(db.url, schema=db.schema)
        instrument_engine(engine)
        engines.append(engine)
    try:
        for i, engine in enumerate(engines):
            async with engine.connect() as conn:
                await conn.execute(text(f"SELECT {i + 100}"))
    finally:
        for engine in engines:
            await engine.dispose()
    statements = [str((s.attributes or {}).get("db.statement")) for s in spans.get_finished_spans()]
    for i in range(len(engines)):
        assert f"SELECT {i + 100}" in statements, statements
