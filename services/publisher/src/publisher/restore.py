"""Bringing DS back to the intended state after a failed publish, without a human (issue 23, scenario 1).

A publish can fail half-way: ``createOrUpdateWorkflow`` takes an ONLINE workflow (and its schedule) offline, then
DS fails the release. The failed record reads DS back (``service.ds_run._Run``): when DS does not hold the state the
publish intended (or cannot be read), the finishing transaction records a ``ds_restore`` row for the workflow
(``after_publish``) — status ``restoring``, the failed record, the intended and the held release state, when to try
next. The ``RestoreReconciler`` (one loop per publisher process; replicas share the rows with ``SKIP LOCKED``)
re-runs that publish when it is due, as a retry record (``retry_of`` = the failed record, operator ``reconciler``),
through the same workers as any publish (in order with the workflow's other records). Each failed attempt backs off
(``Retries.restore_initial_s`` doubling up to ``restore_max_s``); the first success of the workflow — the attempt or
any newer publish — ends it (``restored``). A person may cancel it (``cancelled``: no further attempts; a newer
diverging failure starts a new one) or ask for an attempt now (the portal's one-click restore, also after a cancel).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from prometheus_client import Counter, Gauge
from pydantic import BaseModel
from sqlalchemy import Row, func
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import unit_of_work
from common.errors import Conflict, NotFound
from publisher.db import repository as repo
from publisher.deps import Deps

logger = logging.getLogger(__name__)

RESTORE_ATTEMPTS = Counter("ds_restore_attempts_total", "Restore attempts started, by who asked", ["requested_by"])
RESTORES = Gauge("ds_restores", "Workflows DS does not hold in their intended state, by restore status", ["status"])

RECONCILER = "reconciler"


class RestoreView(BaseModel):
    workflow_id: int
    #: restoring: DS does not hold the intended state and attempts continue; restored: it does again;
    #: cancelled: a person stopped the attempts
    status: Literal["restoring", "restored", "cancelled"]
    #: the failed publish whose operation and version DS is to hold
    record_id: int
    intended_release_state: Literal["ONLINE", "OFFLINE"]
    #: what DS held when it was last read back (None: it could not be read)
    ds_release_state: Literal["ONLINE", "OFFLINE"] | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    attempt_record_id: int | None
    requested_by: str | None
    cancelled_by: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> RestoreView:
        return cls.model_validate(dict(row._mapping))


def backoff_s(deps: Deps, failed_attempts: int) -> float:
    """The wait before the next attempt after ``failed_attempts`` failed ones (jittered by up to a quarter)."""
    r = deps.retries
    base: float = min(r.restore_max_s, r.restore_initial_s * 2.0 ** min(failed_attempts, 30))
    return base * (0.75 + random.random() / 4)


async def after_publish(
    session: AsyncSession,
    deps: Deps,
    record: Row[Any],
    *,
    status: str,
    intended: Literal["ONLINE", "OFFLINE"] | None,
    ds_release_state: Literal["ONLINE", "OFFLINE"] | None,
    diverged: bool,
    error: str | None,
) -> None:
    """In the transaction that finishes ``record``: start, continue or end the workflow's restore."""
    workflow_id = int(record.workflow_id)
    if not diverged:
        # DS holds what this (newest) record intended: whatever diverged before is over (one statement: most
        # workflows have no restore at all)
        if await repo.end_restore(session, workflow_id, ds_release_state or intended):
            logger.info(
                "workflow %d: DolphinScheduler holds the intended state again (record %d)", workflow_id, record.id
            )
        return
    current = await repo.restore_of(session, workflow_id, for_update=True)
    assert intended is not None
    attempt = current is not None and current.attempt_record_id == int(record.id)
    failed_attempts = int(current.attempts) + 1 if attempt and current is not None else 0
    # a person's cancel holds for the attempt that was running; a new diverging publish starts a new restore
    cancelled = attempt and current is not None and current.status == "cancelled"
    delay = backoff_s(deps, failed_attempts)
    await repo.upsert_restore(
        session,
        workflow_id,
        {
            "record_id": int(record.id),
            "status": "cancelled" if cancelled else "restoring",
            "intended_release_state": intended,
            "ds_release_state": ds_release_state,
            "attempts": failed_attempts,
            "next_attempt_at": None if cancelled else func.now() + timedelta(seconds=delay),
            "last_error": error,
            "cancelled_by": current.cancelled_by if cancelled and current is not None else None,
        },
    )
    logger.warning(
        "workflow %d: DolphinScheduler holds it %s after publish record %d failed, intended %s: %s",
        workflow_id,
        ds_release_state or "in an unknown state",
        record.id,
        intended,
        "restore cancelled" if cancelled else f"next restore attempt in {delay:.0f}s",
    )


async def _start_attempt(session: AsyncSession, restore: Row[Any], operator: str) -> int:
    """A retry record of the restore's failed publish (run by the workers like any publish); returns its id."""
    failed = await repo.record_by_id(session, int(restore.record_id))
    assert failed is not None
    new_id = await repo.insert_record(
        session,
        {
            "request_id": uuid.uuid4(),
            "workflow_id": failed.workflow_id,
            "version_id": failed.version_id,
            "version_no": failed.version_no,
            "target_engine": failed.target_engine,
            "operation": failed.operation,
            "status": "pending",
            "operator": operator,
            "retry_of": failed.id,
            "snapshot": failed.snapshot,
            # a retry of the failed publish: it deploys what was approved then, or nothing (common.approvals)
            "approval": failed.approval,
            "requested_at": func.now(),
        },
    )
    assert new_id is not None
    await repo.update_restore(
        session,
        int(restore.workflow_id),
        {"attempt_record_id": new_id, "requested_by": operator, "next_attempt_at": None},
    )
    RESTORE_ATTEMPTS.labels(RECONCILER if operator == RECONCILER else "person").inc()
    logger.info(
        "workflow %d: restore attempt %d as publish record %d (%s of version %d, asked by %s)",
        restore.workflow_id,
        int(restore.attempts) + 1,
        new_id,
        failed.operation,
        failed.version_no,
        operator,
    )
    return new_id


async def restore_due(deps: Deps, *, limit: int = 20) -> list[int]:
    """Start the restore attempts that are due; returns the new records' ids."""
    async with unit_of_work(deps.sessions) as s:
        started = [await _start_attempt(s, r, RECONCILER) for r in await repo.due_restores(s, limit)]
        counts = await repo.restore_counts(s)
    for status in ("restoring", "restored", "cancelled"):
        RESTORES.labels(status).set(counts.get(status, 0))
    if started:
        deps.wake()
    return started


async def get_restore(deps: Deps, workflow_id: int) -> RestoreView:
    async with unit_of_work(deps.sessions) as s:
        row = await repo.restore_of(s, workflow_id)
    if row is None:
        raise NotFound(f"workflow {workflow_id} has no restore: no failed publish left DolphinScheduler diverged")
    return RestoreView.of(row)


async def _unfinished(session: AsyncSession, workflow_id: int) -> Row[Any]:
    """The workflow's restore, locked; 404 without one, 409 when it is over."""
    row = await repo.restore_of(session, workflow_id, for_update=True)
    if row is None:
        raise NotFound(f"workflow {workflow_id} has no restore: no failed publish left DolphinScheduler diverged")
    if row.status == "restored":
        raise Conflict(f"DolphinScheduler holds workflow {workflow_id} in its intended state already")
    return row


async def restore_now(deps: Deps, workflow_id: int, operator: str) -> RestoreView:
    """A person asks for an attempt now (also after a cancel): it runs as soon as the workflow's running publish,
    if any, is over."""
    async with unit_of_work(deps.sessions) as s:
        await _unfinished(s, workflow_id)
        row = await repo.update_restore(
            s, workflow_id, {"status": "restoring", "cancelled_by": None, "next_attempt_at": func.now()}
        )
        assert row is not None
        if not await repo.workflow_busy(s, workflow_id):
            await _start_attempt(s, row, operator)
        row = await repo.restore_of(s, workflow_id)
    assert row is not None
    deps.wake()
    return RestoreView.of(row)


async def cancel_restore(deps: Deps, workflow_id: int, operator: str) -> RestoreView:
    """A person stops the attempts (an attempt already started still runs to its end)."""
    async with unit_of_work(deps.sessions) as s:
        await _unfinished(s, workflow_id)
        row = await repo.update_restore(
            s, workflow_id, {"status": "cancelled", "cancelled_by": operator, "next_attempt_at": None}
        )
    assert row is not None
    logger.warning("workflow %d: restore cancelled by %s", workflow_id, operator)
    return RestoreView.of(row)


class RestoreReconciler:
    """Starts the due restore attempts every ``interval_s`` (see the module docstring)."""

    def __init__(self, deps: Deps, *, interval_s: float) -> None:
        self._deps = deps
        self._interval = interval_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="ds-reconciler")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await restore_due(self._deps)
            except Exception:  # the database is down (logged once per outage) or a bug: try again next round
                logger.warning("reconciler round failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
