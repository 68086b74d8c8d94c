"""Composition root: ``create_app(settings)`` builds the FastAPI app; its lifespan builds ``Infra`` and ``Deps`` and
registers the ``lineage.changed`` subscriber. Run with ``uvicorn --factory lineage_resolver.main:create_app`` (or
``python -m lineage_resolver serve``)."""

from __future__ import annotations

from fastapi import FastAPI

from common.app import Wired, create_service_app
from common.runtime import Infra
from lineage_resolver.config import MIGRATIONS, Settings
from lineage_resolver.db.tables import audit_log, inbox, outbox
from lineage_resolver.deps import build_deps
from lineage_resolver.routes import router
from lineage_resolver.subscribers import register_subscribers


def create_app(settings: Settings | None = None, *, consume: bool = True, telemetry: bool = True) -> FastAPI:
    settings = settings if settings is not None else Settings()

    async def wire(infra: Infra) -> Wired:
        deps = build_deps(settings, infra.engine, infra.sessions, infra.outbox)
        register_subscribers(infra, settings, deps)
        return Wired(deps=deps)

    return create_service_app(
        title="lineage-resolver",
        settings=settings,
        migrations=MIGRATIONS,
        outbox_table=outbox,
        inbox_table=inbox,
        audit_table=audit_log,
        wire=wire,
        routers=[router],
        consume=consume,
        telemetry=telemetry,
    )
