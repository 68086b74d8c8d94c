"""Composition root: ``create_app(settings)`` builds the gateway.

The gateway has no Kafka consumer and no outbox, so it does not use ``common.app.create_service_app`` (whose
``Infra`` builds a broker, a relay and a consumer runtime); it assembles the same shared pieces instead — logging and
tracing (``common.telemetry``), problem JSON and health/metrics (``common.http``), the async engine on its own
schema (``common.db``) — plus one pooled HTTP client per service, created in the lifespan.

Run with ``python -m gateway serve`` (or ``uvicorn --factory gateway.main:create_app``).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.app import prepare_service
from common.db import create_engine, session_factory
from common.http import Check, RejectNul, install_health, install_problem_handlers
from common.identity import signer_from
from common.red import RedMetricsMiddleware
from common.telemetry import (
    install_trace_context,
    instrument_engine,
    register_secrets,
    server_telemetry,
    setup_logging,
    setup_tracing,
)
from gateway.asyncapi import build_asyncapi
from gateway.audit import RequestContextMiddleware
from gateway.auth import authenticate, ensure_bootstrap_admin
from gateway.browser import SecurityHeadersMiddleware, install_docs_pages
from gateway.clients import DefinitionClient, HistoryClient, LineageClient, PublisherClient, Upstream
from gateway.config import MIGRATIONS, Settings
from gateway.deps import Deps
from gateway.domain.sessions import SessionTimes
from gateway.errors import install_upstream_problem_handler
from gateway.guard import ApiGuard, FailedAuthLimiter
from gateway.lineage_events import body_schemas
from gateway.oidc import OidcProvider
from gateway.portal import portal_router
from gateway.ports import Caller
from gateway.principals import VerifiedKeys
from gateway.routes import API_PREFIX, api_routers, sign_in
from gateway.sessions import SessionService, token_box

UPSTREAMS = ("definition", "publisher", "history", "lineage")

DESCRIPTION = """Public API of the workflow orchestration platform.

Authenticate with an API key: `Authorization: Bearer <key>`, or, in a browser, with the session cookie of a sign-in
with the company account (`/auth/login`; every change then carries the session's `X-CSRF-Token`). Roles: `viewer`
(read), `editor` (tasks, workflows, migrations), `approver` (approve), `publisher` (publish, retry, run), `admin`
(everything + API keys, audit log).
Errors are RFC 9457 problem JSON. The Kafka topics are described at [/asyncapi](/asyncapi).
"""


def create_app(
    settings: Settings | None = None,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    telemetry: bool = True,
) -> FastAPI:
    """``transports`` (by upstream name: definition, publisher, history, lineage) replaces the network for tests."""
    settings = settings if settings is not None else Settings()
    transports = dict(transports or {})
    unknown = set(transports) - set(UPSTREAMS)
    if unknown:
        raise ValueError(f"unknown upstreams: {sorted(unknown)}")
    register_secrets([settings.database_url, settings.bootstrap_admin_token, settings.oidc_client_secret])
    setup_logging(settings.service_name, level=settings.log_level, json_logs=settings.log_json)
    # httpx logs every request at INFO: one line per upstream call, which the traces and
    # ``gateway_upstream_request_seconds`` already record; its warnings still pass
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").getEffectiveLevel()))
    provider = (
        setup_tracing(
            settings.service_name,
            otlp_endpoint=settings.otel_exporter_otlp_endpoint,
            zipkin_endpoint=settings.otel_exporter_zipkin_endpoint,
            sampling_ratio=settings.otel_sampling_ratio,
            read_sampling_ratio=settings.otel_read_sampling_ratio,
        )
        if telemetry
        else None
    )
    checks: dict[str, Check] = {}
    # fails at once without a key: every call to a service carries the caller's identity, signed with it
    signer = signer_from(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await prepare_service(settings, migrations=MIGRATIONS)  # no Kafka: its migrations only
        engine = create_engine(settings.database_url, schema=settings.db_schema)
        if telemetry:
            instrument_engine(engine, provider)
        sessions = session_factory(engine)

        def client(name: str, audience: str, url: str, timeout_s: float) -> Upstream:
            def tokens(caller: Caller) -> str:
                # the verified user and their key's roles, signed for this one service (common.identity)
                return signer.token(audience, caller.actor, caller.roles)

            return Upstream.connect(
                name,
                url,
                timeout_s=timeout_s,
                max_connections=settings.upstream_max_connections,
                transport=transports.get(name),
                tokens=tokens,
            )

        upstreams = [
            client("definition", "definition", settings.definition_url, settings.definition_timeout_s),
            client("publisher", "publisher", settings.publisher_url, settings.publisher_timeout_s),
            client("history", "history-sync", settings.history_url, settings.history_timeout_s),
            client("lineage", "lineage-resolver", settings.lineage_url, settings.lineage_timeout_s),
        ]
        definition, publisher, history, lineage = upstreams
        try:
            if settings.bootstrap_admin_token is not None:
                await ensure_bootstrap_admin(sessions, settings.bootstrap_admin_token)

            async def database() -> None:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))

            checks["database"] = database
            _tune_gc(settings)
            app.state.deps = Deps(
                settings=settings,
                sessions=sessions,
                definition=DefinitionClient(definition),
                publisher=PublisherClient(publisher),
                history=HistoryClient(history, direct_timeout_s=settings.history_direct_timeout_s),
                lineage=LineageClient(lineage),
                verified_keys=VerifiedKeys(settings.key_cache_ttl_s),
                web_sessions=_web_sessions(settings, sessions),
            )
            yield
        finally:
            for up in upstreams:
                await up.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Workflow platform API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # ours: assets served by the gateway itself (gateway.browser)
        openapi_url="/openapi.json",
        redoc_url=None,
        telemetry=server_telemetry(provider),
    )
    install_problem_handlers(app)
    install_upstream_problem_handler(app)
    app.add_middleware(RejectNul)
    # outside RejectNul, which reads the body: size, failed-sign-in limit and API key are checked before any of it
    app.add_middleware(
        ApiGuard,
        authenticate=authenticate,
        max_body_bytes=settings.max_body_bytes,
        limiter=FailedAuthLimiter(settings.auth_failures_max, settings.auth_failure_window_s),
    )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(RedMetricsMiddleware, service=settings.service_name)
    app.add_middleware(SecurityHeadersMiddleware)
    install_trace_context(app)
    for router in api_routers():
        app.include_router(router, prefix=API_PREFIX)
    _document_schemas(app, body_schemas())
    # after the API: a request is matched against the routes in order, and health checks are the rarer requests
    install_health(app, lambda: checks)
    _install_asyncapi(app, settings)
    install_docs_pages(app, title=app.title)
    app.include_router(sign_in.router)
    app.include_router(portal_router(settings.portal_dir))
    return app


def _web_sessions(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> SessionService | None:
    """People's sessions, when an OIDC provider is configured (``gateway.sessions``)."""
    if not settings.oidc_enabled or settings.oidc_client_secret is None:
        return None
    return SessionService(
        sessions=sessions,
        provider=OidcProvider(settings),
        box=token_box(settings.oidc_client_secret),
        times=SessionTimes(
            idle=timedelta(seconds=settings.session_idle_timeout_s),
            max_age=timedelta(seconds=settings.session_max_age_s),
        ),
        verified=VerifiedKeys(settings.session_cache_ttl_s),
        group_roles=settings.oidc_group_roles,
    )


def _document_schemas(app: FastAPI, schemas: dict[str, Any]) -> None:
    """Add ``schemas`` to ``/openapi.json``'s components (bodies a route reads itself, e.g. ``POST /lineage``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()
            known = doc.setdefault("components", {}).setdefault("schemas", {})
            doc["components"]["schemas"] = dict(sorted({**known, **schemas}.items()))
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _tune_gc(settings: Settings) -> None:
    if settings.gc_threshold:
        _, gen1, gen2 = gc.get_threshold()
        gc.set_threshold(settings.gc_threshold, gen1, gen2)
    if settings.gc_freeze:
        gc.collect()
        gc.freeze()


def _install_asyncapi(app: FastAPI, settings: Settings) -> None:
    """``/asyncapi.json``, generated on first use (FastStream takes a while) and kept; its page is
    ``gateway.browser``'s."""

    @functools.cache
    def document() -> Any:
        spec = build_asyncapi(bootstrap_servers=settings.kafka_bootstrap_servers, topic_prefix=settings.topic_prefix)
        return spec.to_jsonable()

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_json() -> JSONResponse:
        return JSONResponse(document())
