"""The publisher's dependencies, built once in ``main.wire`` (tests build them with fakes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.outbox import Outbox
from publisher.ports import Clock, DolphinGateway, DolphinRest, SystemClock


@dataclass(frozen=True)
class DsTarget:
    """The DolphinScheduler environment this process publishes to (no secrets: tokens live in the clients)."""

    environment: str
    project_name: str
    user: str
    tenant: str
    worker_group: str
    #: base of "open in DolphinScheduler" links (``…/dolphinscheduler/ui``)
    ui_url: str


@dataclass
class ProjectCache:
    """The DS project code, ensured once per process (``createOrGrantProject`` + ``queryProjectByName``)."""

    code: int | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _nothing() -> None:
    return None


@dataclass
class Deps:
    sessions: async_sessionmaker[AsyncSession]
    outbox: Outbox
    gateway: DolphinGateway
    rest: DolphinRest
    target: DsTarget
    #: a record ``running`` without a heartbeat for this long is taken over by another worker
    lease_s: float = 300.0
    clock: Clock = field(default_factory=SystemClock)
    projects: ProjectCache = field(default_factory=ProjectCache)
    #: wakes the publish workers (set by ``main`` once they run)
    wake: Callable[[], None] = _nothing
    #: a run whose outcome DS left unknown and that is not found among its instances by then did not start
    run_reconcile_window_s: float = 120.0
    #: a run still ``starting`` after this long lost its process mid-call: it is checked like an unknown one
    run_stuck_after_s: float = 90.0
    #: wakes the run reconciler (set by ``main``)
    wake_reconciler: Callable[[], None] = _nothing
