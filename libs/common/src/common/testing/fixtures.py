"""pytest fixtures for tests that cross a boundary (real PostgreSQL and Kafka), and the spans of a test.

Isolation: every test that asks for ``service_database`` gets its own schema and role (provisioned exactly as in
production, then dropped), and every test that asks for ``topic_prefix`` gets its own topic names. ``spans``
collects every span the process's tracer provider finishes during the test.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from common.db import ServiceDatabase, drop_service, provision_service

ProvisionFn = Callable[[str], Awaitable[ServiceDatabase]]


@pytest.fixture
async def service_database(postgres_admin_url: str) -> AsyncIterator[ProvisionFn]:
    """Factory: ``await service_database("definition")`` → a fresh schema + role for this test only."""
    made: list[ServiceDatabase] = []

    async def _make(name: str) -> ServiceDatabase:
        suffix = uuid.uuid4().hex[:8]
        db = await provision_service(
            postgres_admin_url,
            schema=f"{name}_{suffix}",
            role=f"svc_{name}_{suffix}",
            password=SecretStr(secrets.token_urlsafe(16)),
        )
        made.append(db)
        return db

    yield _make
    for db in made:
        await drop_service(postgres_admin_url, schema=db.schema, role=db.role)


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
