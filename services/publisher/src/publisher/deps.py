"""The publisher's dependencies, built once in ``main.wire`` (tests build them with fakes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.clock import Clock, SystemClock
from common.dolphin.links import DsLinks
from common.identity import TrustedKeys
from common.outbox import Outbox
from publisher.ports import DolphinGateway, DolphinRest


@dataclass(frozen=True)
class DsTarget:
    """The DolphinScheduler environment this process publishes to (no secrets: tokens live in the clients)."""

    environment: str
    project_name: str
    user: str
    tenant: str
    worker_group: str
    #: "open in DolphinScheduler" links (``…/dolphinscheduler/ui`` and the DS version's routes)
    links: DsLinks


@dataclass
class ProjectCache:
    """The DS project code, ensured once per process (``createOrGrantProject`` + ``queryProjectByName``)."""

    code: int | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


T = TypeVar("T")


@dataclass(frozen=True)
class Retries:
    """How the publisher retries: a DS call of a publish (``ds_*``), the final write of a publish (``finish_s``),
    and the reconciler's attempts at restoring one workflow (``restore_*``)."""

    ds_attempts: int = 4
    ds_initial_s: float = 1.0
    ds_max_s: float = 10.0
    finish_s: float = 120.0
    restore_initial_s: float = 5.0
    restore_max_s: float = 30.0


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
    lease_s: float = 30.0
    #: who claims records (``Settings.instance_id``)
    instance_id: str = "publisher"
    retries: Retries = field(default_factory=Retries)
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
    #: wakes the republish dispatcher: a republish record finished (set by ``main``)
    wake_republish: Callable[[], None] = _nothing
    #: work started for a request that must go on when the request ends (kept so it is not collected)
    running: set[asyncio.Task[Any]] = field(default_factory=set)
    #: the public keys publish approvals are checked with (``common.approvals``); ``None``: every publish is refused
    approvals: TrustedKeys | None = None

    def background(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``work`` as a task that outlives the request that started it."""
        task = asyncio.get_running_loop().create_task(work)
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return task
