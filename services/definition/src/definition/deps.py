"""``Deps``: what the use cases need, built once in the app's lifespan (or by a benchmark/CLI) and passed in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import ReadPool
from common.identity import Signer
from common.outbox import Outbox
from definition.ports import DatasourceCatalog
from definition.snapshots import SnapshotCache, TaskMemo


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Deps:
    #: read-write sessions (one transaction per use case)
    sessions: async_sessionmaker[AsyncSession]
    outbox: Outbox
    #: actor of versions written by the lineage consumer
    lineage_actor: str = "lineage-resolver"
    clock: Callable[[], datetime] = field(default=_utcnow)
    #: immutable version snapshots by version id (see ``snapshots``)
    snapshots: SnapshotCache = field(default_factory=SnapshotCache)
    #: catalog tasks validated into ``SnapshotTask`` by row content (see ``snapshots``)
    tasks: TaskMemo = field(default_factory=TaskMemo)
    #: the pool of read use cases of ONE statement (the lists), straight on asyncpg: a read costs one round trip
    #: instead of ping + BEGIN + statement + COMMIT (see ``common.db.ReadPool``); ``None``: ``sessions``
    reads: ReadPool | None = None
    #: DolphinScheduler's datasources (the publisher's lookup), checked when a SQL task is saved; ``None``: no check
    datasources: DatasourceCatalog | None = None
    #: this service's signer: publish approvals (``common.approvals``); ``None``: requests go unsigned, and the
    #: publisher refuses them
    signer: Signer | None = None
    #: the most tasks of a proposed workflow (``Settings.proposal_max_size``)
    proposal_max_size: int = 200
