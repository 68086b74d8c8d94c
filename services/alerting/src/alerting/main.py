"""Composition root: ``create_app(settings)`` wires the channels, the ticket sink, the clients of the other services,
the subscribers and the background workers (delivery, history-sync poll, daily inspection)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alerting import subscribers
from alerting.adapters import RecordingTicketSink, TicketWebhook, WebhookNotifier
from alerting.clients import DefinitionHttp, HistoryHttp, PublisherHttp
from alerting.config import MIGRATIONS, Settings
from alerting.db.tables import audit_log, inbox_table, outbox_table
from alerting.deps import Deps
from alerting.domain.render import Links
from alerting.ports import Notifier, TicketSink
from alerting.routes import router
from alerting.worker import Workers
from common.app import Wired, create_service_app
from common.db import create_engine, session_factory
from common.identity import Signer, signer_from
from common.runtime import Infra
from common.telemetry import register_secrets
from common.upstream import Upstream

logger = logging.getLogger(__name__)


@dataclass
class Clients:
    """The HTTP clients of one process (closed together)."""

    items: list[httpx.AsyncClient] = field(default_factory=list)
    upstreams: list[Upstream] = field(default_factory=list)

    def new(self, timeout_s: float, base_url: str = "", auth: httpx.Auth | None = None) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            base_url=base_url, timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)), auth=auth
        )
        self.items.append(client)
        return client

    def service(self, name: str, base_url: str, timeout_s: float, signer: Signer, audience: str) -> Upstream:
        """A client of one of the platform's services, with this service's own identity for ``audience``."""
        up = Upstream.at(name, base_url, timeout_s=timeout_s, identity=lambda: signer.token(audience))
        self.upstreams.append(up)
        return up

    async def aclose(self) -> None:
        for c in self.items:
            await c.aclose()
        for up in self.upstreams:
            await up.aclose()


def notifiers(settings: Settings, clients: Clients) -> dict[str, Notifier]:
    links = Links(settings.portal_url, settings.ds_ui_url)
    out: dict[str, Notifier] = {}
    for c in settings.channels:
        url, secret = c.resolved_url(), c.resolved_secret()
        register_secrets([url, secret])
        out[c.label] = WebhookNotifier(
            name=c.label,
            kind=c.kind,
            url=url,
            secret=secret,
            client=clients.new(settings.delivery_timeout_s),
            language=c.language or settings.language,
            links=links,
            feishu_msg_type=c.feishu_msg_type,
        )
    return out


def ticket_sink(settings: Settings, clients: Clients) -> TicketSink:
    if settings.ticket_url is None:
        return RecordingTicketSink()
    register_secrets([settings.ticket_url, settings.ticket_token])
    return TicketWebhook(
        url=settings.ticket_url,
        token=settings.ticket_token,
        client=clients.new(settings.upstream_timeout_s),
        id_field=settings.ticket_id_field,
        links=Links(settings.portal_url, settings.ds_ui_url),
    )


def build_deps(settings: Settings, sessions: async_sessionmaker[AsyncSession], clients: Clients) -> Deps:
    t = settings.upstream_timeout_s
    # the platform's services are asked with this service's own identity (read only); webhooks get none
    signer = signer_from(settings)
    return Deps(
        settings=settings,
        sessions=sessions,
        notifiers=notifiers(settings, clients),
        channels={c.label: c for c in settings.channels},
        tickets=ticket_sink(settings, clients),
        definition=DefinitionHttp(clients.service("definition", settings.definition_url, t, signer, "definition")),
        publisher=PublisherHttp(clients.service("publisher", settings.publisher_url, t, signer, "publisher")),
        history=HistoryHttp(clients.service("history", settings.history_url, t, signer, "history-sync")),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def wire(infra: Infra) -> Wired:
        clients = Clients()
        deps = build_deps(settings, infra.sessions, clients)
        if not deps.notifiers:
            logger.warning(
                "no IM channel configured (ALERTING_CHANNELS): alerts are recorded (GET /internal/alerts) but reach "
                "nobody"
            )
        subscribers.register_subscribers(infra, deps)
        workers = Workers(deps)
        workers.start()

        async def cleanup() -> None:
            await workers.stop()
            await clients.aclose()

        return Wired(deps=deps, cleanup=cleanup)

    return create_service_app(
        title="alerting",
        settings=settings,
        migrations=MIGRATIONS,
        outbox_table=outbox_table,
        inbox_table=inbox_table,
        audit_table=audit_log,
        wire=wire,
        routers=[router],
    )


@asynccontextmanager
async def offline_deps(settings: Settings) -> AsyncIterator[Deps]:
    """``Deps`` without Kafka or workers (the ``inspect`` command)."""
    engine = create_engine(settings.database_url, schema=settings.db_schema, pool_size=2)
    clients = Clients()
    try:
        yield build_deps(settings, session_factory(engine), clients)
    finally:
        await clients.aclose()
        await engine.dispose()
