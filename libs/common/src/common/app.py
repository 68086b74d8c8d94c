"""Builds a service's FastAPI app around ``Infra``: the same lifespan, health, metrics, problem JSON and tracing
for every service. A service passes its migrations and the topics it produces and consumes (``prepare_service``
migrates and creates them at start when its settings say so), a ``wire`` coroutine that registers its subscribers on
``infra.broker`` and returns its ``Deps`` (plus an optional cleanup), and the routers that read
``request.app.state.deps``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from opentelemetry.sdk.trace import SpanProcessor
from sqlalchemy import Table

from common.deadline import DeadlineMiddleware
from common.events import Topics
from common.guard import ServiceGuard
from common.http import Check, RejectNul, install_health, install_problem_handlers
from common.identity import unguarded_mutations, verifier_from
from common.kafka import ensure_topics
from common.kafka_acls import GRANTS
from common.migrations import upgrade
from common.red import RedMetricsMiddleware
from common.runtime import Infra
from common.settings import ServiceSettings
from common.telemetry import install_trace_context, server_telemetry, setup_logging, setup_tracing

Cleanup = Callable[[], Awaitable[None]]


@dataclass
class Wired:
    deps: Any
    cleanup: Cleanup | None = None
    checks: Mapping[str, Check] = field(default_factory=dict)


Wire = Callable[[Infra], Awaitable[Wired]]


async def prepare_service(settings: ServiceSettings, *, migrations: Path, topics: Iterable[str] = ()) -> None:
    """What a service does before it wires itself: its migrations when ``auto_migrate``, and the topics it produces
    and consumes (unprefixed names, each with its ``.dlq``) when ``ensure_topics``."""
    if settings.auto_migrate:
        await upgrade(settings.migrations_path or migrations, settings.database_url, settings.db_schema)
    wanted = {settings.topic(t): Topics.PARTITIONS.get(t, 3) for t in topics}
    if settings.ensure_topics and wanted:
        await ensure_topics(settings.kafka, wanted, partitions=settings.topic_partitions or wanted)


def create_service_app(
    *,
    title: str,
    settings: ServiceSettings,
    migrations: Path,
    topics: Iterable[str] | None = None,
    outbox_table: Table,
    inbox_table: Table,
    audit_table: Table | None = None,
    wire: Wire,
    routers: Iterable[APIRouter] = (),
    consume: bool = True,
    span_processors: Iterable[SpanProcessor] = (),
    telemetry: bool = True,
) -> FastAPI:
    setup_logging(settings.service_name, level=settings.log_level, json_logs=settings.log_json)
    provider = (
        setup_tracing(
            settings.service_name,
            otlp_endpoint=settings.otel_exporter_otlp_endpoint,
            zipkin_endpoint=settings.otel_exporter_zipkin_endpoint,
            sampling_ratio=settings.otel_sampling_ratio,
            read_sampling_ratio=settings.otel_read_sampling_ratio,
            extra_processors=span_processors,
        )
        if telemetry
        else None
    )
    # fails at once without trusted keys: no service answers internal calls without checking who makes them
    verifier = verifier_from(settings)
    state: dict[str, Any] = {}

    # the topics DESIGN.md §3 gives the service (common.kafka_acls.GRANTS) unless it names others
    topics = tuple(GRANTS[title].topics if topics is None else topics)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await prepare_service(settings, migrations=migrations, topics=topics)
        infra = Infra.build(
            settings,
            schema=settings.db_schema,
            outbox_table=outbox_table,
            inbox_table=inbox_table,
            tracer_provider=provider,
            telemetry=telemetry,
        )
        wired = await wire(infra)
        state["checks"] = {**infra.readiness_checks(), **wired.checks}
        state["degradable"] = infra.degradable_checks()
        app.state.infra = infra
        app.state.deps = wired.deps
        await infra.start(consume=consume)
        try:
            yield
        finally:
            if wired.cleanup is not None:
                await wired.cleanup()
            await infra.stop()

    app = FastAPI(title=title, lifespan=lifespan, version="1.0.0", telemetry=server_telemetry(provider))
    app.state.identity_audience = settings.service_name
    install_problem_handlers(app)
    app.add_middleware(RejectNul)
    # outside RejectNul, which reads the body: size and identity are checked before any of it is read
    app.add_middleware(
        ServiceGuard,
        service=settings.service_name,
        verifier=verifier,
        audit_table=audit_table,
        sessions=_sessions_of,
        max_body_bytes=settings.max_body_bytes,
    )
    app.add_middleware(DeadlineMiddleware)
    app.add_middleware(RedMetricsMiddleware, service=settings.service_name)
    install_trace_context(app)
    for r in routers:
        app.include_router(r)
    unguarded = unguarded_mutations(app)
    if unguarded:
        raise RuntimeError(f"{title}: routes that change something without a role check: {', '.join(unguarded)}")
    # after the API: a request is matched against the routes in order, and health checks are the rarer requests
    install_health(app, lambda: state.get("checks", {}), degradable=lambda: state.get("degradable", {}))
    return app


def _sessions_of(scope: Any) -> Any:
    infra = getattr(scope["app"].state, "infra", None)
    return infra.sessions if infra is not None else None


def deps_of(request: Request) -> Any:
    """The ``Deps`` built by the service's ``wire`` (use with ``Depends`` in routes)."""
    return request.app.state.deps
