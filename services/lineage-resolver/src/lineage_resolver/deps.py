"""``Deps``: what the use cases need, built once in the app's lifespan (or by the CLI) and passed in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from common.db import session_factory
from common.outbox import Outbox
from lineage_resolver.config import Settings
from lineage_resolver.domain import OpenLineageConfig, ResolverOptions
from lineage_resolver.locks import KeySpace


@dataclass(frozen=True)
class Deps:
    #: read-write sessions (one transaction per use case)
    sessions: async_sessionmaker[AsyncSession]
    #: REPEATABLE READ, READ ONLY sessions: multi-query reads (graph walks, rebuild checks) see one snapshot
    snapshots: async_sessionmaker[AsyncSession]
    outbox: Outbox
    options: ResolverOptions
    keys: KeySpace
    max_lock_keys: int
    #: the configured OpenLineage translation: namespace aliases, which event types update, the seed job rules
    openlineage: OpenLineageConfig
    #: the inbox consumer name (RunEvents received over HTTP share the Kafka consumer's ids)
    consumer_name: str
    #: at most this many recently seen unmapped jobs are kept
    unmapped_jobs_kept: int


def build_deps(
    settings: Settings, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], outbox: Outbox
) -> Deps:
    snapshot_engine = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return Deps(
        sessions=sessions,
        snapshots=session_factory(snapshot_engine),
        outbox=outbox,
        options=settings.resolver_options(),
        keys=KeySpace(settings.db_schema),
        max_lock_keys=settings.max_lock_keys,
        openlineage=settings.openlineage,
        consumer_name=settings.service_name,
        unmapped_jobs_kept=settings.unmapped_jobs_kept,
    )
