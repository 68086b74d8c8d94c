"""Builds a service's FastAPI app around ``Infra``: the same lifespan, health, metrics, problem JSON and tracing
for every service. A service passes a ``wire`` coroutine that registers its subscribers on ``infra.broker`` and
returns its ``Deps`` (plus an optional cleanup), and the routers that read ``request.app.state.deps``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from opentelemetry.sdk.trace import SpanProcessor
from sqlalchemy import Table

from common.deadline import DeadlineMiddleware
from common.http import Check, RejectNul, install_health, install_problem_handlers
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


def create_service_app(
    *,
    title: str,
    settings: ServiceSettings,
    schema: str,
    outbox_table: Table,
    inbox_table: Table,
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
            sampling_ratio=settings.otel_sampling_ratio,
            read_sampling_ratio=settings.otel_read_sampling_ratio,
            extra_processors=span_processors,
        )
        if telemetry
        else None
    )
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        infra = Infra.build(
            settings,
            schema=schema,
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
    install_problem_handlers(app)
    app.add_middleware(RejectNul)
    app.add_middleware(DeadlineMiddleware)
    app.add_middleware(RedMetricsMiddleware, service=settings.service_name)
    install_trace_context(app)
    for r in routers:
        app.include_router(r)
    # after the API: a request is matched against the routes in order, and health checks are the rarer requests
    install_health(app, lambda: state.get("checks", {}), degradable=lambda: state.get("degradable", {}))
    return app


def deps_of(request: Request) -> Any:
    """The ``Deps`` built by the service's ``wire`` (use with ``Depends`` in routes)."""
    return request.app.state.deps
