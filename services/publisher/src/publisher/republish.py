"""Bulk republish (issue 24): deploy again every deployed workflow whose converted definition would change now (a
converter version bump, a changed node-attribute mapping…), at a rate DolphinScheduler can take, resumable.

**Plan** (``plan``, the ``republish`` command): every workflow with a deployed content hash is converted again from
the version DS holds (the newest successful deploy/online record of that hash: its snapshot, the task codes kept
for it, SQL datasources looked up once each). The same hash: the item is ``skipped``; a conversion that fails is
``failed`` with the reason; another hash: ``pending``. The run and all its items are written in one transaction
(a plan interrupted writes nothing); one run is open at a time.

**Dispatch** (``dispatch``, the ``RepublishDispatcher`` of every publisher process): in one transaction, the running
run's row is locked (``SKIP LOCKED``: the replicas take turns, the rate limiter is that row —
``domain.republish.take``), and as many pending items as the rate and ``max_in_flight`` (queued items of the run)
allow become publish records: a ``deploy`` of the version DS holds *at dispatch* (a newer publish since the plan is
what is republished), operator ``republish``, ``republish_run_id`` / ``republish_of`` set, the run and its reason in
the log. Items of a workflow with a publish in flight wait for it (never a second publish beside it). The records
run through the normal publish path (claim, lease, approval check, DS calls, read-back, ``publish.completed``); a
record whose definition DS holds already (a publish meanwhile deployed it) ends ``skipped_unchanged`` without a DS
write.

**Finish** (``after_publish``, in the transaction that finishes the record): the item takes the record's outcome —
``republished``, ``skipped`` or ``failed`` with the error — exactly once (only while ``queued``). A killed replica's
records are re-run by another after their lease (the publish queue); nothing is dispatched twice: an item becomes a
record in the transaction that marks it ``queued``. The run is ``done`` when no item is pending or queued;
``pause`` / ``resume`` / ``cancel`` (pending items ``cancelled``; queued ones finish) are the operator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from prometheus_client import Counter, Gauge
from pydantic import BaseModel, ValidationError
from sqlalchemy import Row, func
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import unit_of_work
from common.dolphin import DolphinNotFound
from common.errors import Conflict, NotFound, PlatformError
from common.workflow import StructureSnapshot, datasources_of
from publisher.db import repository as repo
from publisher.deps import Deps
from publisher.domain import convert
from publisher.domain.republish import PlannedItem, Progress, plan_item, take
from publisher.service.drift_check import _sub_workflow_codes, _upstream_task_codes

logger = logging.getLogger(__name__)

#: the operator of the records a republish makes (as ``reconciler`` is the restore's)
REPUBLISHER = "republish"
PLAN_BATCH = 500

REPUBLISH_ITEMS = Gauge("republish_items", "Items of the open (or latest) republish run, by status", ["status"])
REPUBLISH_RATE = Gauge("republish_rate_per_second", "Publishes of the republish run finished per second so far")
REPUBLISH_ETA = Gauge("republish_eta_seconds", "Seconds until the republish run is done, at the rate so far")
REPUBLISH_DISPATCHED = Counter("republish_dispatched_total", "Republish items made into publish records")
REPUBLISH_FINISHED = Counter(
    "republish_items_finished_total", "Republish items finished by their publish record", ["status"]
)

ItemStatus = Literal["pending", "queued", "republished", "skipped", "failed", "cancelled"]


class PlanView(BaseModel):
    run_id: int | None
    dry_run: bool
    total: int
    to_republish: int
    skipped: int
    failed: int
    #: the workflows to republish (the first 100) and the failures with their reason
    workflow_ids: list[int]
    failures: list[dict[str, Any]]
    #: seconds the plan took (conversion of every deployed workflow, and writing the run)
    planned_in_s: float


class ItemView(BaseModel):
    workflow_id: int
    status: ItemStatus
    record_id: int | None
    reason: str | None


class RunView(BaseModel):
    run_id: int
    status: Literal["running", "paused", "done", "cancelled"]
    requested_by: str
    reason: str
    rate_limit_per_s: float
    max_in_flight: int
    total: int
    pending: int
    queued: int
    republished: int
    skipped: int
    failed: int
    cancelled: int
    rate_per_s: float | None
    eta_s: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    failures: list[ItemView]


# -- plan ---------------------------------------------------------------------------------------------------------


class _Datasources:
    """SQL datasource ids looked up once per (name, type) for the whole plan."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._ids: dict[tuple[str, str], int | str] = {}

    async def of(self, snapshot: StructureSnapshot) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for name, ds_type in sorted({ds for t in snapshot.tasks for ds in datasources_of(t.params)}):
            if (name, ds_type) not in self._ids:
                try:
                    self._ids[(name, ds_type)] = (await self._deps.gateway.get_datasource(name, ds_type.upper())).id
                except DolphinNotFound as exc:
                    self._ids[(name, ds_type)] = f"datasource {name!r} ({ds_type}): {exc.detail}"
            found = self._ids[(name, ds_type)]
            if isinstance(found, str):
                raise _Unconvertible(found)
            out[(name, ds_type)] = found
        return out


class _Unconvertible(Exception):
    pass


async def _plan_one(deps: Deps, datasources: _Datasources, row: Row[Any], codes: dict[int, int]) -> PlannedItem:
    workflow_id, deployed_hash = int(row.workflow_id), str(row.last_deployed_hash)
    if row.record_id is None:
        return plan_item(workflow_id, deployed_hash, None, "no successful publish record of the deployed hash")
    try:
        snapshot = StructureSnapshot.model_validate(row.snapshot)
        defn = convert(
            snapshot,
            codes,
            datasource_ids=await datasources.of(snapshot),
            upstream_task_codes=await _upstream_task_codes(deps, snapshot),
            sub_workflow_codes=await _sub_workflow_codes(deps, snapshot),
        )
    except (PlatformError, _Unconvertible, ValidationError, KeyError, ValueError) as exc:
        return plan_item(workflow_id, deployed_hash, None, f"{type(exc).__name__}: {exc}")
    return plan_item(workflow_id, deployed_hash, defn.content_hash, None)


async def plan(
    deps: Deps,
    *,
    requested_by: str,
    reason: str,
    rate_per_s: float,
    max_in_flight: int,
    dry_run: bool = False,
    workflow_ids: list[int] | None = None,
) -> PlanView:
    """Convert every deployed workflow again and compare; unless ``dry_run``, write the run and its items (409 when
    a run is open: follow, pause, resume or cancel it)."""
    began = time.perf_counter()
    if not dry_run:
        async with unit_of_work(deps.sessions) as s:
            await _refuse_an_open_run(s)
    datasources = _Datasources(deps)
    items: list[PlannedItem] = []
    after = 0
    while True:
        async with unit_of_work(deps.sessions) as s:
            rows = await repo.deployed_workflows(s, after=after, limit=PLAN_BATCH, only=workflow_ids)
            codes = await repo.task_codes_of(s, [int(r.workflow_id) for r in rows])
        if not rows:
            break
        for row in rows:
            items.append(await _plan_one(deps, datasources, row, codes.get(int(row.workflow_id), {})))
        after = int(rows[-1].workflow_id)
    run_id: int | None = None
    if not dry_run:
        async with unit_of_work(deps.sessions) as s:
            await _refuse_an_open_run(s)
            now = await repo.db_now(s)
            run_id = await repo.insert_republish_run(
                s,
                {
                    # nothing to republish: the run is over as it starts (it stays as the record of the plan)
                    "status": "running" if any(i.status == "pending" for i in items) else "done",
                    "requested_by": requested_by,
                    "reason": reason,
                    "rate_per_s": rate_per_s,
                    "max_in_flight": max_in_flight,
                    "finished_at": None if any(i.status == "pending" for i in items) else func.now(),
                },
            )
            await repo.insert_republish_items(
                s,
                [
                    {
                        "run_id": run_id,
                        "workflow_id": i.workflow_id,
                        "status": i.status,
                        "deployed_hash": i.deployed_hash,
                        "planned_hash": i.planned_hash,
                        "reason": i.reason,
                        "finished_at": None if i.status == "pending" else now,
                    }
                    for i in items
                ],
            )
        logger.warning(
            "republish run %d planned by %s (%s): %d to republish, %d unchanged, %d failed",
            run_id,
            requested_by,
            reason,
            sum(i.status == "pending" for i in items),
            sum(i.status == "skipped" for i in items),
            sum(i.status == "failed" for i in items),
        )
    pending = [i.workflow_id for i in items if i.status == "pending"]
    return PlanView(
        run_id=run_id,
        dry_run=dry_run,
        total=len(items),
        to_republish=len(pending),
        skipped=sum(i.status == "skipped" for i in items),
        failed=sum(i.status == "failed" for i in items),
        workflow_ids=pending[:100],
        failures=[{"workflow_id": i.workflow_id, "reason": i.reason} for i in items if i.status == "failed"][:100],
        planned_in_s=round(time.perf_counter() - began, 3),
    )


async def _refuse_an_open_run(session: AsyncSession) -> None:
    run = await repo.open_republish_run(session)
    if run is not None:
        raise Conflict(f"republish run {run.id} is {run.status}: follow it (status), resume or cancel it first")


# -- dispatch -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    #: publish records made
    made: int
    #: when none could be made for the rate: the wait until one may
    wait_s: float = 0.0


async def dispatch(deps: Deps) -> Round | None:
    """One round (see the module docstring); ``None`` when no run is running here (none, or another process is
    dispatching it right now)."""
    async with unit_of_work(deps.sessions) as s:
        run = await repo.lock_running_republish_run(s)
        if run is None:
            return None
        queued, pending = await repo.republish_in_flight(s, int(run.id))
        room = int(run.max_in_flight) - queued
        made = 0
        wait = 0.0
        if room > 0 and pending:
            now = await repo.db_now(s)
            grant = take(now, run.next_slot_at, rate_per_s=float(run.rate_per_s), want=room)
            wait = grant.wait_s
            if grant.count:
                for item in await repo.dispatchable_items(s, int(run.id), grant.count):
                    made += await _dispatch_item(s, run, item)
                if made:
                    used = take(now, run.next_slot_at, rate_per_s=float(run.rate_per_s), want=made)
                    values: dict[str, Any] = {"next_slot_at": used.next_slot_at}
                    if run.started_at is None:
                        values["started_at"] = now
                    await repo.update_republish_run(s, int(run.id), values)
        if not made and not pending and queued == 0:
            await repo.update_republish_run(s, int(run.id), {"status": "done", "finished_at": func.now()})
            logger.warning("republish run %d is done", run.id)
    if made:
        REPUBLISH_DISPATCHED.inc(made)
        deps.wake()
    return Round(made, wait)


async def _dispatch_item(session: AsyncSession, run: Row[Any], item: Row[Any]) -> int:
    """Make the item a publish record (1), or fail it when its workflow has no deploy to repeat any more (0)."""
    workflow_id = int(item.workflow_id)
    engine = await repo.engine_workflow_of(session, workflow_id)
    source = (
        await repo.last_deployed_record(session, workflow_id, engine.last_deployed_hash)
        if engine is not None and engine.last_deployed_hash
        else None
    )
    if engine is None or source is None:
        await repo.update_republish_item(
            session,
            int(run.id),
            workflow_id,
            {"status": "failed", "reason": "no successful publish of the deployed version", "finished_at": func.now()},
        )
        return 0
    note = (
        f"republish run {run.id} (asked by {run.requested_by}: {run.reason}): deploying version {source.version_no} "
        f"again, as record {source.id} did (DS holds content hash {str(engine.last_deployed_hash)[:12]})"
    )
    record_id = await repo.insert_record(
        session,
        {
            "request_id": uuid.uuid4(),
            "workflow_id": workflow_id,
            "version_id": source.version_id,
            "version_no": source.version_no,
            "target_engine": source.target_engine,
            "operation": "deploy",
            "status": "pending",
            "operator": REPUBLISHER,
            "snapshot": source.snapshot,
            # the approval of the deploy it repeats (same snapshot; checked again before any DS call)
            "approval": source.approval,
            "republish_run_id": int(run.id),
            "republish_of": int(source.id),
            "log": note,
            "requested_at": func.now(),
        },
    )
    assert record_id is not None  # a fresh request id
    await repo.update_republish_item(
        session, int(run.id), workflow_id, {"status": "queued", "record_id": record_id, "queued_at": func.now()}
    )
    return 1


async def after_publish(
    session: AsyncSession, record: Row[Any], *, status: str, error_code: int | None, error: str | None
) -> None:
    """In the transaction that finishes a republish record: its item takes the outcome (once)."""
    if status == "success":
        values: dict[str, Any] = {"status": "republished", "reason": None}
    elif status == "skipped_unchanged":
        values = {"status": "skipped", "reason": "unchanged when it ran: DS holds this definition already"}
    else:
        values = {"status": "failed", "reason": f"{error_code}: {error}" if error_code is not None else error}
    item = await repo.finish_republish_item(session, int(record.id), values)
    if item is not None:
        REPUBLISH_FINISHED.labels(values["status"]).inc()


# -- operator's view and controls -------------------------------------------------------------------------------


async def _view(session: AsyncSession, run: Row[Any], failures: int) -> RunView:
    counts = await repo.republish_counts(session, int(run.id))
    now = await repo.db_now(session)
    end = run.finished_at or now
    progress = Progress(
        total=sum(counts.values()),
        pending=counts.get("pending", 0),
        queued=counts.get("queued", 0),
        republished=counts.get("republished", 0),
        skipped=counts.get("skipped", 0),
        failed=counts.get("failed", 0),
        cancelled=counts.get("cancelled", 0),
        finished_by_publish=await repo.republish_finished_by_publish(session, int(run.id)),
        elapsed_s=None if run.started_at is None else (end - run.started_at).total_seconds(),
        rate_limit_per_s=float(run.rate_per_s),
    )
    failed = await repo.republish_items(session, int(run.id), status="failed", limit=failures) if failures else []
    return RunView(
        run_id=int(run.id),
        status=run.status,
        requested_by=run.requested_by,
        reason=run.reason,
        rate_limit_per_s=float(run.rate_per_s),
        max_in_flight=int(run.max_in_flight),
        total=progress.total,
        pending=progress.pending,
        queued=progress.queued,
        republished=progress.republished,
        skipped=progress.skipped,
        failed=progress.failed,
        cancelled=progress.cancelled,
        rate_per_s=progress.rate_per_s,
        eta_s=None if run.status in ("paused", "cancelled") else progress.eta_s,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        failures=[ItemView.model_validate(dict(i._mapping)) for i in failed],
    )


async def _run_or_404(session: AsyncSession, run_id: int | None, *, for_update: bool = False) -> Row[Any]:
    if run_id is None:
        latest = await repo.latest_republish_run(session)
        if latest is None:
            raise NotFound("no republish run yet")
        run_id = int(latest.id)
    run = await repo.republish_run_by_id(session, run_id, for_update=for_update)
    if run is None:
        raise NotFound(f"republish run {run_id} does not exist")
    return run


async def status(deps: Deps, run_id: int | None = None, *, failures: int = 20) -> RunView:
    """The run (default: the latest) with its counts, rate, ETA and up to ``failures`` failed items."""
    async with unit_of_work(deps.sessions) as s:
        return await _view(s, await _run_or_404(s, run_id), failures)


async def set_status(
    deps: Deps, run_id: int | None, action: Literal["pause", "resume", "cancel"], operator: str
) -> RunView:
    """Pause (no new dispatches; queued items finish), resume, or cancel (pending items are cancelled)."""
    allowed = {"pause": ("running",), "resume": ("paused",), "cancel": ("running", "paused")}[action]
    async with unit_of_work(deps.sessions) as s:
        run = await _run_or_404(s, run_id, for_update=True)
        if run.status not in allowed:
            done = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]
            raise Conflict(f"republish run {run.id} is {run.status}: it cannot be {done}")
        if action == "cancel":
            await repo.cancel_pending_items(s, int(run.id))
            values: dict[str, Any] = {"status": "cancelled", "cancelled_by": operator, "finished_at": func.now()}
        else:
            values = {"status": "paused" if action == "pause" else "running"}
        updated = await repo.update_republish_run(s, int(run.id), values)
        assert updated is not None
        view = await _view(s, updated, 20)
    logger.warning("republish run %d: %s by %s", run.id, action, operator)
    return view


async def export_metrics(deps: Deps) -> None:
    """The gauges of the open (else the latest) run, as every replica sees it in the database."""
    async with unit_of_work(deps.sessions) as s:
        run = await repo.open_republish_run(s) or await repo.latest_republish_run(s)
        if run is None:
            return
        view = await _view(s, run, 0)
    for name in ("pending", "queued", "republished", "skipped", "failed", "cancelled"):
        REPUBLISH_ITEMS.labels(name).set(getattr(view, name))
    REPUBLISH_ITEMS.labels("total").set(view.total)
    REPUBLISH_RATE.set(view.rate_per_s or 0.0)
    REPUBLISH_ETA.set(view.eta_s or 0.0)


class RepublishDispatcher:
    """Dispatches the running republish run's items (``dispatch``) in every publisher process: at once when the
    rate allows, else after the limiter's wait, and every ``interval_s`` to look for a run and a free slot."""

    def __init__(self, deps: Deps, *, interval_s: float, metrics_every_s: float = 5.0) -> None:
        self._deps = deps
        self._interval = interval_s
        self._metrics_every = metrics_every_s
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """A republish record finished: a slot may be free."""
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="republish-dispatcher")

    async def stop(self) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        metrics_at = 0.0
        while not self._stopping.is_set():
            wait = self._interval
            try:
                result = await dispatch(self._deps)
                if result is not None and result.made:
                    wait = 0.0  # made records: look again at once (the limiter and max_in_flight say when to stop)
                elif result is not None and result.wait_s > 0:
                    wait = min(self._interval, result.wait_s)
                if loop.time() >= metrics_at:
                    await export_metrics(self._deps)
                    metrics_at = loop.time() + self._metrics_every
            except Exception:  # the database is down or a bug: the run stays in the database, try again next round
                logger.warning("republish dispatch round failed", exc_info=True)
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=wait)
            self._wakeup.clear()
