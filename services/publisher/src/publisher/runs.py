"""Run now: idempotent, never started twice, and never answered with a guess.

Every run request becomes a ``run_request`` row keyed by the caller's ``Idempotency-Key`` (one is generated when the
caller sends none), scoped to the caller:

1. The same key with the same request gives the same answer and starts DolphinScheduler ("DS") at most once: a
   finished run is answered again as it was (``replayed``); a key sent with another request is refused (422).
2. One run of a workflow is open at a time (``starting`` or ``unknown``, a partial unique index): a second click while
   the first is starting is answered 409 naming it, so double clicks with fresh keys cannot start two runs either.
3. Before the start, the newest DS instance of the workflow is noted (the watermark). DS is then called within the
   request's deadline (``common.deadline``: the gateway's budget less a reserve for our own answer), so we answer
   before the gateway gives up:
   - DS answers with instance ids: ``started`` (and ``workflow.run.started`` goes out, so history-sync refreshes the
     workflow's executions at once);
   - DS refuses (a business error, a refused token): ``failed``; the problem is kept and replayed for the key;
   - DS does not answer in time, or the connection drops: the outcome is ``unknown`` (HTTP 202). The reconciler
     (``reconcile_due``) then looks for the run among DS's instances of the workflow newer than the watermark,
     started by hand (``START_PROCESS``) and not claimed by another run: found, it is ``started``; not found within
     ``run_reconcile_window_s``, it is ``not_started`` and a new run may be asked for. It never starts DS itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel
from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from common import deadline
from common.db import unit_of_work
from common.dolphin import CommandType, DolphinApiError, FailureStrategy, WorkflowInstance
from common.errors import Conflict, DomainError, NotFound, PlatformError, TransientError
from common.events.models import WorkflowRunStarted
from common.telemetry import current_trace_context, recorded_trace_id
from publisher.db import repository as repo
from publisher.db.tables import OPEN_RUN_STATES, run_request
from publisher.deps import Deps
from publisher.domain.errors import IdempotencyKeyReused, not_deployed
from publisher.service.batch import run_options

logger = logging.getLogger(__name__)

R = run_request

#: time kept, of the request's deadline, for writing our own answer after DS answers
ANSWER_RESERVE_S = 1.0
#: how many of the workflow's newest DS instances a check reads
CHECK_PAGE_SIZE = 20

RunState = Literal["starting", "started", "failed", "unknown", "not_started"]


class RunInProgress(Conflict):
    code = "run-in-progress"
    title = "A run of this workflow is in progress"


class RunNotStarted(Conflict):
    code = "run-not-started"
    title = "The run did not start"


class ReplayedProblem(PlatformError):
    """The problem a failed run answered, answered again for the same idempotency key."""

    def __init__(self, status: int, code: str, detail: str, **extras: Any) -> None:
        super().__init__(detail, **extras)
        self.status = status  # type: ignore[misc]  # the stored answer's, not the class's
        self.code = code  # type: ignore[misc]
        self.title = "Run failed"  # type: ignore[misc]


class RunParams(BaseModel):
    """What a run asks of DS (the request body of run now)."""

    start_params: dict[str, str] = {}
    worker_group: str | None = None
    #: none: the deployed workflow's (``engine_workflow.failure_strategy``, END for one deployed before it was kept)
    failure_strategy: Literal["END", "CONTINUE"] | None = None
    dry_run: bool = False
    #: UTC, whole seconds (``batch.RunRequest``, which the route parses, normalises it)
    schedule_time: datetime | None = None
    warning_type: Literal["NONE", "SUCCESS", "FAILURE", "ALL"] = "NONE"


#: fields added to ``RunParams`` after runs were first stored: left out of the fingerprint while at their default,
#: so a key used before they existed still matches its request
_LATER_FIELDS = {"schedule_time": None, "warning_type": "NONE"}


class RunView(BaseModel):
    workflow_id: int
    run_id: int
    state: RunState
    instance_ids: list[int]
    #: an answer given earlier for the same idempotency key
    replayed: bool = False
    detail: str | None = None
    #: ``failed``: the problem DS's refusal gave
    error: dict[str, Any] | None = None
    created_at: datetime
    #: the trace of the request that asked for the run, when it was recorded (the portal links the run's instances)
    trace_id: str | None = None

    MESSAGES: ClassVar[dict[str, str]] = {
        "starting": "the run is being started in DolphinScheduler",
        "unknown": "DolphinScheduler did not answer in time; checking whether the run started (poll this run)",
        "not_started": "DolphinScheduler did not start the run; run the workflow again",
    }

    @classmethod
    def of(cls, row: Row[Any], *, replayed: bool = False) -> RunView:
        error = None
        if row.state == "failed":
            error = {"status": row.error_status, "type": row.error_type, "detail": row.error_detail}
            if row.ds_code is not None:
                error["ds_code"] = row.ds_code
        return cls(
            workflow_id=row.workflow_id,
            run_id=row.id,
            state=row.state,
            instance_ids=list(row.instance_ids or []),
            replayed=replayed,
            detail=row.error_detail if row.state == "failed" else cls.MESSAGES.get(row.state),
            error=error,
            created_at=row.created_at,
            trace_id=recorded_trace_id(row.trace_context),
        )


class RunPage(BaseModel):
    items: list[RunView]


def fingerprint(workflow_id: int, params: RunParams) -> str:
    fields = params.model_dump(mode="json")
    for name, default in _LATER_FIELDS.items():
        if fields.get(name) == default:
            del fields[name]
    if fields["failure_strategy"] is None:  # left to the workflow; fingerprinted as before (when omitted meant END)
        fields["failure_strategy"] = "END"
    body = json.dumps({"workflow_id": workflow_id, **fields}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


async def run_workflow(
    deps: Deps, workflow_id: int, params: RunParams, *, actor: str, key: str | None = None
) -> RunView:
    """Start the workflow in DS once per ``key`` (see the module). Raises the stored problem for a failed run, 409
    while another run of the workflow is open or for a run that did not start, 422 for a reused key."""
    scope, given = actor, key is not None
    key = key if key is not None else f"generated:{uuid.uuid4()}"
    print_ = fingerprint(workflow_id, params)
    async with unit_of_work(deps.sessions) as s:
        existing = await _by_key(s, scope, key)
        if existing is not None:
            return _replay(existing, workflow_id, print_)
        engine = await repo.engine_workflow_of(s, workflow_id)
        if engine is None:
            raise not_deployed([workflow_id])
        row = await _insert(s, workflow_id, scope, key, print_, actor, engine, params.schedule_time)
        if row is None:  # a concurrent request: the same key, or another open run of the workflow
            existing = await _by_key(s, scope, key)
            if existing is not None:
                return _replay(existing, workflow_id, print_)
            raise _in_progress(await _open_run(s, workflow_id))
    run_id, project_code, code = int(row.id), int(row.project_code), int(row.workflow_code)
    failure_strategy = params.failure_strategy or engine.failure_strategy or "END"
    try:
        with deadline.within(reserve=ANSWER_RESERVE_S):
            watermark = await _newest_instance(deps, project_code, code)
            async with unit_of_work(deps.sessions) as s:
                await _update(s, run_id, watermark_instance_id=watermark)
            ids = await deps.rest.start_workflow_instance(
                project_code,
                code,
                failure_strategy=FailureStrategy(failure_strategy),
                worker_group=params.worker_group or deps.target.worker_group,
                tenant_code=deps.target.tenant,
                start_params=params.start_params or None,
                dry_run=params.dry_run,
                **run_options(params.schedule_time, params.warning_type),
            )
    except DomainError as exc:
        # DS refused: nothing started; the answer is kept for the key
        async with unit_of_work(deps.sessions) as s:
            await _update(
                s,
                run_id,
                state="failed",
                error_status=exc.status,
                error_type=exc.code,
                error_detail=exc.detail,
                ds_code=exc.ds_code if isinstance(exc, DolphinApiError) else None,
            )
        raise
    except Exception as exc:
        if not isinstance(exc, TransientError | TimeoutError):
            logger.exception("run %d of workflow %d: unexpected failure while starting it in DS", run_id, workflow_id)
        now = deps.clock.now()
        async with unit_of_work(deps.sessions) as s:
            row = await _update(
                s,
                run_id,
                state="unknown",
                reconcile_until=now + timedelta(seconds=deps.run_reconcile_window_s),
                next_check_at=now + timedelta(seconds=1),
            )
        logger.warning(
            "run %d of workflow %d: DS did not answer (%s); the outcome is checked against DS's instances",
            run_id,
            workflow_id,
            type(exc).__name__,
        )
        deps.wake_reconciler()
        return RunView.of(row)
    async with unit_of_work(deps.sessions) as s:
        row = await _started(s, deps, run_id, ids)
    logger.info(
        "workflow %d started in DS: instances %s (run %d%s)",
        workflow_id,
        ids,
        run_id,
        "" if given else ", no idempotency key",
    )
    return RunView.of(row)


async def get_run(deps: Deps, workflow_id: int, run_id: int) -> RunView:
    async with unit_of_work(deps.sessions) as s:
        row = (await s.execute(select(R).where(R.c.id == run_id, R.c.workflow_id == workflow_id))).first()
    if row is None:
        raise NotFound(f"workflow {workflow_id} has no run {run_id}", workflow_id=workflow_id, run_id=run_id)
    return RunView.of(row)


async def list_runs(deps: Deps, workflow_id: int, *, limit: int) -> RunPage:
    """The workflow's latest ``limit`` run requests, newest first (finished ones are kept for a while: ``prune``)."""
    async with unit_of_work(deps.sessions) as s:
        stmt = select(R).where(R.c.workflow_id == workflow_id).order_by(R.c.id.desc()).limit(limit)
        rows = (await s.execute(stmt)).all()
    return RunPage(items=[RunView.of(r) for r in rows])


# ---------------------------------------------------------------------------------------------------------------
# Reconciliation of runs whose outcome DS left unknown


async def reconcile_due(deps: Deps, *, limit: int = 50) -> int:
    """Check the ``unknown`` runs that are due, and ``starting`` ones whose process died mid-call; returns how many
    were settled (``started`` or ``not_started``)."""
    now = deps.clock.now()
    stuck_after = timedelta(seconds=deps.run_stuck_after_s)
    async with unit_of_work(deps.sessions) as s:
        rows = (
            await s.execute(
                select(R)
                .where(
                    ((R.c.state == "unknown") & (R.c.next_check_at <= now))
                    | ((R.c.state == "starting") & (R.c.updated_at < now - stuck_after))
                )
                .order_by(R.c.next_check_at.nulls_first(), R.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        # claimed for a while: another replica's reconciler skips them meanwhile
        for row in rows:
            await _update(s, int(row.id), next_check_at=now + timedelta(seconds=30))
    settled = 0
    for row in rows:
        settled += await _reconcile(deps, row)
    return settled


async def _reconcile(deps: Deps, row: Row[Any]) -> int:
    run_id = int(row.id)
    now = deps.clock.now()
    until = row.reconcile_until or (now + timedelta(seconds=deps.run_reconcile_window_s))
    try:
        page = await deps.rest.list_workflow_instances(
            int(row.project_code), page_size=CHECK_PAGE_SIZE, workflow_code=int(row.workflow_code)
        )
    except PlatformError as exc:
        delay = min(15.0, 2.0 ** min(int(row.checks), 4))
        async with unit_of_work(deps.sessions) as s:
            await _update(
                s,
                run_id,
                state="unknown",
                reconcile_until=until + timedelta(seconds=delay) if now >= until else until,
                next_check_at=now + timedelta(seconds=delay),
                checks=int(row.checks) + 1,
            )
        logger.info("run %d: DS could not be asked (%s); next check in %.0fs", run_id, exc.code, delay)
        return 0
    async with unit_of_work(deps.sessions) as s:
        claimed = await _claimed_instances(s, int(row.workflow_id), run_id)
        if row.watermark_instance_id is None:
            # the process stopped before it asked DS anything: the start was never sent
            await _update(s, run_id, state="not_started", next_check_at=None)
            logger.warning("run %d of workflow %d: never sent to DS; it did not start", run_id, row.workflow_id)
            return 1
        found = sorted(
            i.id
            for i in page.total_list
            if i.id > int(row.watermark_instance_id)
            and i.id not in claimed
            and _started_as(i, row.schedule_time)
            and (i.executor_name is None or i.executor_name == deps.target.user)
        )
        if found:
            await _started(s, deps, run_id, found[:1])
            logger.info("run %d of workflow %d: found in DS as instance %d", run_id, row.workflow_id, found[0])
            return 1
        if now >= until:
            await _update(s, run_id, state="not_started", next_check_at=None)
            logger.warning("run %d of workflow %d: not found in DS; it did not start", run_id, row.workflow_id)
            return 1
        delay = min(15.0, 2.0 ** min(int(row.checks), 4))
        await _update(s, run_id, state="unknown", next_check_at=now + timedelta(seconds=delay), checks=row.checks + 1)
    return 0


def _started_as(instance: WorkflowInstance, schedule_time: datetime | None) -> bool:
    """Whether a DS instance is what a run's start creates: a plain start (``START_PROCESS``), or for a run with a
    schedule time the one-date backfill (``COMPLEMENT_DATA``) of exactly that time."""
    if schedule_time is None:
        return instance.command_type in (None, CommandType.START_PROCESS)
    return instance.command_type == CommandType.COMPLEMENT_DATA and instance.schedule_time == schedule_time


async def prune(deps: Deps, *, older_than_s: float) -> int:
    """Forget finished runs (and their keys) older than ``older_than_s``."""
    cutoff = deps.clock.now() - timedelta(seconds=older_than_s)
    async with unit_of_work(deps.sessions) as s:
        result = await s.execute(delete(R).where(R.c.created_at < cutoff, R.c.state.not_in(OPEN_RUN_STATES)))
    return int(result.rowcount)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------------------
# Rows


async def _by_key(s: AsyncSession, scope: str, key: str) -> Row[Any] | None:
    return (await s.execute(select(R).where(R.c.scope == scope, R.c.idempotency_key == key))).first()


async def _open_run(s: AsyncSession, workflow_id: int) -> Row[Any] | None:
    stmt = select(R).where(R.c.workflow_id == workflow_id, R.c.state.in_(OPEN_RUN_STATES))
    return (await s.execute(stmt)).first()


async def _insert(
    s: AsyncSession,
    workflow_id: int,
    scope: str,
    key: str,
    print_: str,
    actor: str,
    engine: Row[Any],
    schedule_time: datetime | None,
) -> Row[Any] | None:
    stmt = (
        pg_insert(R)
        .values(
            workflow_id=workflow_id,
            idempotency_key=key,
            scope=scope,
            fingerprint=print_,
            state="starting",
            operator=actor,
            project_code=int(engine.project_code),
            workflow_code=int(engine.workflow_code),
            trace_context=current_trace_context() or None,
            schedule_time=schedule_time,
        )
        .on_conflict_do_nothing()
        .returning(*R.c)
    )
    return (await s.execute(stmt)).first()


async def _update(s: AsyncSession, run_id: int, **values: Any) -> Row[Any]:
    stmt = update(R).where(R.c.id == run_id).values(**values, updated_at=func.now()).returning(*R.c)
    return (await s.execute(stmt)).one()


async def _started(s: AsyncSession, deps: Deps, run_id: int, ids: list[int]) -> Row[Any]:
    row = await _update(s, run_id, state="started", instance_ids=ids, next_check_at=None)
    await deps.outbox.add(
        s,
        WorkflowRunStarted(
            workflow_id=int(row.workflow_id),
            run_id=run_id,
            instance_ids=tuple(ids),
            project_code=int(row.project_code),
            engine_workflow_code=int(row.workflow_code),
            operator=row.operator,
            started_at=deps.clock.now(),
        ),
    )
    return row


async def _claimed_instances(s: AsyncSession, workflow_id: int, run_id: int) -> set[int]:
    rows = await s.execute(
        select(R.c.instance_ids).where(R.c.workflow_id == workflow_id, R.c.id != run_id, R.c.state == "started")
    )
    return {int(i) for (ids,) in rows for i in (ids or [])}


async def _newest_instance(deps: Deps, project_code: int, workflow_code: int) -> int:
    page = await deps.rest.list_workflow_instances(project_code, page_size=5, workflow_code=workflow_code)
    return max((i.id for i in page.total_list), default=0)


def _replay(row: Row[Any], workflow_id: int, print_: str) -> RunView:
    if row.fingerprint != print_ or int(row.workflow_id) != workflow_id:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used for another request; use a new key for a new run",
            run_id=int(row.id),
        )
    if row.state == "failed":
        raise ReplayedProblem(int(row.error_status or 409), row.error_type or "run-failed", row.error_detail or "")
    if row.state == "not_started":
        raise RunNotStarted(RunView.MESSAGES["not_started"], run_id=int(row.id), workflow_id=workflow_id)
    return RunView.of(row, replayed=True)


def _in_progress(row: Row[Any] | None) -> RunInProgress:
    if row is None:  # pragma: no cover - the open run finished between the insert and this read
        return RunInProgress("a run of this workflow was just asked for; retry")
    what = "is starting" if row.state == "starting" else "has an unknown outcome that is being checked"
    return RunInProgress(
        f"run {row.id} of workflow {row.workflow_id} {what}; wait for it (or poll it) before running again",
        run_id=int(row.id),
        workflow_id=int(row.workflow_id),
        state=row.state,
    )
