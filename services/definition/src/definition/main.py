"""Composition root: ``create_app(settings)`` builds the FastAPI app; its lifespan builds ``Infra`` and ``Deps`` and
registers the subscribers. Run with ``python -m definition serve`` (or
``uvicorn --factory definition.main:create_app``)."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from common.app import Wired, create_service_app
from common.db import ReadPool
from common.identity import Signer, signer_from
from common.runtime import Infra
from common.upstream import Upstream
from definition.clients import PublisherDatasources
from definition.config import MIGRATIONS, Settings
from definition.db.tables import audit_log, inbox, outbox
from definition.deps import Deps
from definition.ports import DatasourceCatalog
from definition.routes import router
from definition.snapshots import SnapshotCache, TaskMemo
from definition.subscribers import register_subscribers


async def open_reads(settings: Settings) -> ReadPool:
    """The pool of the list reads, straight on asyncpg (``common.db.ReadPool``): a read is one statement with no
    ping, no BEGIN/COMMIT and no reset, and it is read again on a fresh connection when the server had dropped a
    pooled one."""
    return await ReadPool.open(
        settings.database_url,
        schema=settings.db_schema,
        size=settings.read_pool_size,
        application_name=f"svc-{settings.db_schema}-reads",
    )


def build_deps(
    settings: Settings,
    infra: Infra,
    reads: ReadPool | None = None,
    datasources: DatasourceCatalog | None = None,
    signer: Signer | None = None,
) -> Deps:
    return Deps(
        sessions=infra.sessions,
        outbox=infra.outbox,
        lineage_actor=settings.lineage_actor,
        snapshots=SnapshotCache(max_tasks=settings.snapshot_cache_tasks),
        tasks=TaskMemo(max_tasks=settings.snapshot_cache_tasks),
        reads=reads,
        datasources=datasources,
        signer=signer,
        proposal_max_size=settings.proposal_max_size,
    )


def create_app(settings: Settings | None = None, *, consume: bool = True, telemetry: bool = True) -> FastAPI:
    settings = settings if settings is not None else Settings()
    signer = signer_from(settings)

    async def wire(infra: Infra) -> Wired:
        reads = await open_reads(settings)
        publisher = (
            Upstream.at(
                "publisher",
                settings.publisher_url,
                timeout_s=settings.datasource_check_timeout_s,
                identity=lambda: signer.token("publisher"),  # the lookup is this service's own (read-only) call
            )
            if settings.publisher_url
            else None
        )
        deps = build_deps(settings, infra, reads, PublisherDatasources(publisher) if publisher else None, signer)
        register_subscribers(infra, deps, dependency_batch_size=settings.dependency_batch_size)
        if settings.gc_threshold:
            _, gen1, gen2 = gc.get_threshold()
            gc.set_threshold(settings.gc_threshold, gen1, gen2)
        if settings.gc_freeze:
            # Everything built so far (modules, pydantic schemas, the app) lives as long as the process: move it out of
            # the collector's reach so that no collection during a request walks these ~300,000 objects again.
            gc.collect()
            gc.freeze()

        async def cleanup() -> None:
            await reads.close()
            if publisher is not None:
                await publisher.aclose()

        return Wired(deps=deps, cleanup=cleanup)

    return create_service_app(
        title="definition",
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
