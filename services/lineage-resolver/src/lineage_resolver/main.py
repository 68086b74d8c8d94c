"""Composition root: ``create_app(settings)`` builds the FastAPI app; its lifespan builds ``Infra`` and ``Deps`` and
registers the ``lineage.changed`` subscriber. Run with ``uvicorn --factory lineage_resolver.main:create_app`` (or
``python -m lineage_resolver serve``)."""

from __future__ import annotations

from fastapi import FastAPI

from common.app import Wired, create_service_app
from common.events import Topics
from common.kafka import ensure_topics
from common.migrations import upgrade
from common.runtime import Infra
from lineage_resolver.config import Settings
from lineage_resolver.db.tables import audit_log, inbox, outbox
from lineage_resolver.deps import build_deps
from lineage_resolver.routes import router
from lineage_resolver.subscribers import register_subscribers


def create_app(settings: Settings | None = None, *, consume: bool = True, telemetry: bool = True) -> FastAPI:
    settings = settings if settings is not None else Settings()

    async def wire(infra: Infra) -> Wired:
        if settings.auto_migrate:
            await upgrade(settings.migrations_path, settings.database_url, settings.db_schema)
        if settings.ensure_topics:
            await ensure_topics(
                settings.kafka,
                [settings.topic(Topics.LINEAGE_CHANGED), settings.topic(Topics.TASK_DEPENDENCY_CHANGED)],
                partitions=settings.topic_partitions,
            )
        deps = build_deps(settings, infra.engine, infra.sessions, infra.outbox)
        register_subscribers(infra, settings, deps)
        return Wired(deps=deps)

    return create_service_app(
        title="lineage-resolver",
        settings=settings,
        schema=settings.db_schema,
        outbox_table=outbox,
        inbox_table=inbox,
        audit_table=audit_log,
        wire=wire,
        routers=[router],
        consume=consume,
        telemetry=telemetry,
    )
