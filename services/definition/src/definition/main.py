"""Composition root: ``create_app(settings)`` builds the FastAPI app; its lifespan builds ``Infra`` and ``Deps`` and
registers the subscribers. Run with ``python -m definition serve`` (or
``uvicorn --factory definition.main:create_app``)."""

from __future__ import annotations

import gc

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from common.app import Wired, create_service_app
from common.kafka import ensure_topics
from common.migrations import upgrade
from common.runtime import Infra
from common.telemetry import instrument_engine
from definition.config import Settings
from definition.db.tables import inbox, outbox
from definition.deps import Deps
from definition.routes import router
from definition.snapshots import SnapshotCache, TaskMemo
from definition.subscribers import CONSUMED_TOPICS, PRODUCED_TOPICS, register_subscribers


def read_engine(settings: Settings) -> AsyncEngine:
    """The pool of the list reads: its connections are in autocommit from the start, so a read is one statement with
    no BEGIN/COMMIT, and it does not ping a connection on checkout (a round trip per read): the reads go through
    ``common.db.read_once``, which reads again on a fresh connection when the server had dropped a pooled one."""
    app = f"svc-{settings.db_schema}"
    return create_async_engine(
        settings.database_url.get_secret_value(),
        pool_size=settings.read_pool_size,
        max_overflow=settings.read_pool_size,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
        connect_args={"server_settings": {"search_path": settings.db_schema, "application_name": f"{app}-reads"}},
    )


def build_deps(settings: Settings, infra: Infra, reads: AsyncEngine | None = None) -> Deps:
    return Deps(
        sessions=infra.sessions,
        outbox=infra.outbox,
        default_actor=settings.default_actor,
        lineage_actor=settings.lineage_actor,
        snapshots=SnapshotCache(max_tasks=settings.snapshot_cache_tasks),
        tasks=TaskMemo(max_tasks=settings.snapshot_cache_tasks),
        read_engine=reads,
    )


def create_app(settings: Settings | None = None, *, consume: bool = True, telemetry: bool = True) -> FastAPI:
    settings = settings if settings is not None else Settings()

    async def wire(infra: Infra) -> Wired:
        if settings.auto_migrate:
            await upgrade(settings.migrations_path, settings.database_url, settings.db_schema)
        if settings.ensure_topics:
            await ensure_topics(
                settings.kafka_bootstrap_servers,
                [settings.topic(t) for t in (*PRODUCED_TOPICS, *CONSUMED_TOPICS)],
                partitions=settings.topic_partitions,
            )
        reads = read_engine(settings)
        if telemetry:
            instrument_engine(reads)
        deps = build_deps(settings, infra, reads)
        register_subscribers(infra, settings, deps)
        if settings.gc_threshold:
            _, gen1, gen2 = gc.get_threshold()
            gc.set_threshold(settings.gc_threshold, gen1, gen2)
        if settings.gc_freeze:
            # Everything built so far (modules, pydantic schemas, the app) lives as long as the process: move it out of
            # the collector's reach so that no collection during a request walks these ~300,000 objects again.
            gc.collect()
            gc.freeze()
        return Wired(deps=deps, cleanup=reads.dispose)

    return create_service_app(
        title="definition",
        settings=settings,
        schema=settings.db_schema,
        outbox_table=outbox,
        inbox_table=inbox,
        wire=wire,
        routers=[router],
        consume=consume,
        telemetry=telemetry,
    )
