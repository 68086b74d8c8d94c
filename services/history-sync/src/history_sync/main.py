"""Composition root: ``create_app(settings)`` wires DS, the subscriber and the periodic sync worker."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from common.app import Wired, create_service_app
from common.dolphin.rest import DolphinRestClient
from common.runtime import Infra
from common.telemetry import register_secrets
from history_sync.config import MIGRATIONS, Settings
from history_sync.db.tables import audit_log, inbox_table, outbox_table
from history_sync.deps import Deps
from history_sync.routes import router
from history_sync.subscribers import register_subscribers
from history_sync.throttle import ThrottledDolphin
from history_sync.worker import SyncWorker


def dolphin_client(settings: Settings) -> DolphinRestClient:
    register_secrets([settings.ds_token])
    return DolphinRestClient.create(
        settings.ds_rest_url,
        settings.ds_token,
        timeout=httpx.Timeout(settings.ds_timeout_s, connect=min(5.0, settings.ds_timeout_s)),
        max_connections=settings.ds_concurrency,
        read_attempts=settings.ds_read_attempts,
    )


def throttled(settings: Settings, client: DolphinRestClient) -> ThrottledDolphin:
    return ThrottledDolphin(
        client, concurrency=settings.ds_concurrency, rate=settings.ds_rate_per_s, burst=settings.ds_burst
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def wire(infra: Infra) -> Wired:
        client = dolphin_client(settings)
        deps = Deps(
            settings=settings, sessions=infra.sessions, outbox=infra.outbox, dolphin=throttled(settings, client)
        )
        register_subscribers(infra)
        worker = SyncWorker(deps)
        if settings.sync_enabled:
            worker.start()

        async def cleanup() -> None:
            await worker.stop()
            await client.aclose()

        return Wired(deps=deps, cleanup=cleanup)

    return create_service_app(
        title="history-sync",
        settings=settings,
        migrations=MIGRATIONS,
        outbox_table=outbox_table,
        inbox_table=inbox_table,
        audit_table=audit_log,
        wire=wire,
        routers=[router],
    )
