"""Use cases of the publisher.

Publishing runs in three steps so that no database transaction is open while DolphinScheduler ("DS") is called:

1. **accept** (``accept_publish``, ``retry_publish``): one transaction inserts a ``pending`` publish record that
   holds the pinned snapshot. Over Kafka it commits together with the inbox claim, so a request is accepted exactly
   once; the unique ``request_id`` also absorbs a re-sent request with a new event id.
2. **claim** (``run_next_publish``, ``run_publish``): one transaction marks the record ``running`` with a lease
   (``claimed_at``) and ``attempts + 1``, which is the fencing token of this claim. Records of one workflow run
   strictly in order, one at a time (a record is not claimable while an older one of its workflow is unfinished).
3. **call DS** outside any transaction, then **finish** in one transaction: the record's outcome, ``engine_workflow``
   and the ``publish.completed`` event (outbox), written only if the claim still holds.

A process that dies between 2 and 3 leaves the record ``running``; its lease stops being renewed. A process that
starts under the same ``instance_id`` (``claimed_by``) releases its own such records at once; any other worker claims
one once its lease has expired; either re-runs the whole publish. That is safe because every DS step is
idempotent: task codes are persisted before use, ``createOrUpdateWorkflow`` upserts by name (same content → same DS
version), release is a no-op in the target state and schedules are compared before they are changed. A database that
is unavailable at step 3 does not undo the publish: the final write is retried in place (``Retries.finish_s``).

A DS call that fails for a reason that may pass (5xx, timeout, gateway unreachable, DS busy) is retried in place with
backoff (``Retries.ds_*``). A DS failure that remains (or a business error, a refused token) fails the record with
the cause and emits ``publish.completed(outcome=failed)``, after reading DS back: the record and the event say what
DS holds now. When that is not what the publish intended (``diverged``: e.g. ``createOrUpdateWorkflow`` took an
ONLINE workflow offline, then the release failed), ``restore`` takes over and re-runs the publish until DS holds the
intended state or a person cancels it; any other failure waits for the user's retry (``retry_publish``). Success is
recorded only after DS confirmed it (the workflow read back by code).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, TypeVar

from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from common import deadline
from common.approvals import PublishNotApproved, check_approval
from common.db import unit_of_work
from common.dolphin import (
    DagData,
    DolphinApiError,
    DolphinGatewayError,
    DolphinNotFound,
    DolphinTimeout,
    DolphinTransientApiError,
    DolphinUnavailable,
    FailureStrategy,
    ReleaseState,
    RunMode,
    Schedule,
    ScheduleSpec,
    WorkflowExecutionType,
    format_ds_datetime,
    parse_ds_datetime,
)
from common.errors import Conflict, DomainError, NotFound, PlatformError, TransientError
from common.events.models import PublishCompleted, PublishOperation, PublishOutcome, PublishRequested
from common.retry import retrying
from common.telemetry import continued_span, current_trace_context, recorded_trace_id
from common.workflow import SqlParams, StructureSnapshot
from publisher import restore
from publisher.db import repository as repo
from publisher.deps import Deps
from publisher.domain import DolphinWorkflowDefinition, assign_codes, code_batches, codes_needed, convert, drift
from publisher.domain.errors import IdempotencyKeyReused, NotDeployed, not_deployed

logger = logging.getLogger(__name__)

T = TypeVar("T")

PUBLISHES = Counter("publish_records_total", "Finished publish records", ["operation", "status"])
PUBLISH_REFUSED = Counter(
    "publish_refused_total",
    "Publishes refused before any DolphinScheduler call: no valid approval, or not the approved snapshot",
    ["operation", "reason"],
)

TARGET_ENGINE = "dolphinscheduler"


class ReadBackMismatch(DomainError):
    """DS accepted a call but reading the workflow back does not show what was sent."""

    code = "ds-read-back-mismatch"
    title = "DolphinScheduler state does not match the publish"


class DsNameTaken(Conflict):
    """A first deploy under a name another platform workflow's DS workflow has (its name before a rename): the
    gateway's upsert by name would take that workflow over; DS itself refuses a second one of a name (10168)."""

    code = "ds-workflow-name-taken"
    title = "Another workflow's DolphinScheduler workflow has this name"


class ProjectMissing(DomainError):
    code = "ds-project-missing"
    title = "DolphinScheduler project missing"


# ---------------------------------------------------------------------------------------------------------------
# Views


class PublishRecordView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    request_id: uuid.UUID
    workflow_id: int
    version_id: int
    version_no: int
    target_engine: str
    operation: PublishOperation
    status: Literal["pending", "running", "success", "failed", "skipped_unchanged"]
    engine_workflow_code: int | None
    engine_version: int | None
    project_code: int | None
    #: what DS holds after the publish, read back (also after a failure); None: unknown or never created there
    release_state: Literal["ONLINE", "OFFLINE"] | None
    #: what the publish meant DS to hold (None: records from before this was recorded)
    intended_release_state: Literal["ONLINE", "OFFLINE"] | None = None
    content_hash: str | None
    log: str
    operator: str
    retry_of: int | None
    error_code: int | None
    error_message: str | None
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    #: an answer given before for the same idempotency key (retry)
    replayed: bool = False
    #: the trace of the publish (the request's, which the run continues), when it was recorded: the portal links
    #: it to the trace backend; None for an unrecorded trace or a record from before trace contexts were stored
    trace_id: str | None = None

    @classmethod
    def of(cls, row: Row[Any]) -> PublishRecordView:
        values = row._mapping
        fields = {k: v for k, v in values.items() if k in cls.model_fields}
        fields["trace_id"] = recorded_trace_id(values.get("trace_context"))
        return cls.model_validate(fields)


class RecordPage(BaseModel):
    items: list[PublishRecordView]
    total: int
    page: int
    page_size: int


class EngineView(BaseModel):
    workflow_id: int
    workflow_code: int
    project_code: int
    release_state: Literal["ONLINE", "OFFLINE"] | None
    schedule_id: int | None
    schedule_online: bool
    last_deployed_version_id: int | None
    engine_version: int | None
    ds_link: str


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_params: dict[str, str] = Field(default_factory=dict)
    worker_group: str | None = Field(default=None, min_length=1, max_length=64)
    failure_strategy: Literal["END", "CONTINUE"] = "END"
    dry_run: bool = False


class Backfill(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Backfill:
        if self.end < self.start:
            raise ValueError("backfill end is before its start")
        return self


class BatchRunRequest(RunRequest):
    workflow_ids: list[int] = Field(min_length=1, max_length=200)
    backfill: Backfill | None = None
    run_mode: Literal["serial", "parallel"] = "serial"
    parallelism: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _distinct(self) -> BatchRunRequest:
        if len(set(self.workflow_ids)) != len(self.workflow_ids):
            raise ValueError("workflow_ids must be distinct")
        return self


class BatchRunItem(BaseModel):
    """What happened to one workflow of a batch start."""

    workflow_id: int
    #: started: DS answered with instance ids; failed: DS refused it (``ds_code``/``ds_msg`` say why); unknown: DS
    #: gave no answer (timeout, dropped connection, 5xx), so it may or may not have started: see its executions
    status: Literal["started", "failed", "unknown"]
    instance_ids: list[int] = Field(default_factory=list)
    #: our problem type for the failure (``dolphin-workflow-offline``, ``dolphin-workflow-missing``, ...)
    error: str | None = None
    ds_code: int | None = None
    ds_msg: str | None = None
    message: str | None = None


class BatchRunResult(BaseModel):
    """A batch start, workflow by workflow (DS starts them one by one too, and a failure does not undo the others)."""

    #: every instance started, in the order of the request
    instance_ids: list[int]
    #: one item per requested workflow, in the order of the request
    results: list[BatchRunItem]
    started: int
    failed: int
    unknown: int


# ---------------------------------------------------------------------------------------------------------------
# Accept


async def accept_publish(session: AsyncSession, deps: Deps, event: PublishRequested) -> int:
    """Record a publish request as ``pending`` (in the caller's transaction); returns the record id.

    A request id seen before returns the existing record: a request is processed once.
    """
    retry_of = await repo.record_id_of_request(session, event.retry_of) if event.retry_of else None
    record_id = await repo.insert_record(
        session,
        {
            "request_id": event.request_id,
            "workflow_id": event.workflow_id,
            "version_id": event.version_id,
            "version_no": event.version_no,
            "target_engine": TARGET_ENGINE,
            "operation": event.operation.value,
            "status": "pending",
            "operator": event.operator,
            "retry_of": retry_of,
            "snapshot": event.snapshot.model_dump(mode="json"),
            # checked with the snapshot before any DolphinScheduler call (common.approvals), also on a retry
            "approval": event.approval,
            "requested_at": event.requested_at,
            "log": _REASONS.get(event.reason or "", f"requested by the platform: {event.reason}")
            if event.reason
            else "",
            # the consume span (continuing the requester's trace): the worker running the record continues it
            "trace_context": current_trace_context() or None,
        },
    )
    if record_id is None:
        existing = await repo.record_by_request(session, event.request_id)
        assert existing is not None
        logger.info("publish request %s already recorded as record %d", event.request_id, existing.id)
        return int(existing.id)
    return record_id


#: the first line of a record the platform asked for by itself
_REASONS = {
    "platform_offline": "requested by the platform: the workflow was taken offline on the platform, so "
    "DolphinScheduler takes it and its schedule offline too (no new instances)",
    "archive": "requested by the platform: the workflow was archived",
}

#: time kept, of the request's deadline, for writing the answer
ANSWER_RESERVE_S = 1.0

#: how long the retry endpoint waits for a worker that claimed the retried record before it could
RETRY_WAIT_S = 20.0


async def retry_publish(
    deps: Deps, record_id: int, *, operator: str | None = None, key: str | None = None
) -> tuple[PublishRecordView, bool]:
    """Re-run a failed publish (same operation, same pinned version) under a new request id; returns the new record
    and whether it was an earlier answer (``replayed``).

    Idempotent: the same ``key`` of the same operator gives the same record again, and a record is retried once
    (a second retry of it is a 409 naming the first, so a double click without a key cannot publish twice either).
    Runs at once when nothing older of the workflow is unfinished, in the background: the answer comes within the
    request's deadline (``common.deadline``, at most ``RETRY_WAIT_S``) with the outcome, or with the record as it
    stands while the publish goes on.
    """
    async with unit_of_work(deps.sessions) as s:
        original = await repo.record_by_id(s, record_id)
        if original is None:
            raise NotFound(f"publish record {record_id} does not exist")
        scope = operator or original.operator
        if key is not None:
            earlier = await repo.record_by_key(s, scope, key)
            if earlier is not None:
                if earlier.retry_of != original.id:
                    raise IdempotencyKeyReused(
                        f"this Idempotency-Key was used to retry record {earlier.retry_of}, not {record_id}",
                        record_id=int(earlier.id),
                    )
                return PublishRecordView.of(earlier).model_copy(update={"replayed": True}), True
        if original.status != "failed":
            raise Conflict(
                f"publish record {record_id} is {original.status}; only a failed publish can be retried",
                status_of_record=original.status,
            )
        retried = await repo.latest_retry_of(s, original.id)
        if retried is not None:
            advice = f"retry record {retried.id} instead" if retried.status == "failed" else "see that record"
            raise Conflict(
                f"publish record {record_id} was retried already as record {retried.id} ({retried.status}); {advice}",
                retry_record_id=int(retried.id),
            )
        newer = await repo.newer_applied_record(s, original.workflow_id, original.id)
        if newer is not None:
            raise Conflict(
                f"workflow {original.workflow_id} was published again after record {record_id} (record {newer.id}, "
                f"{newer.operation} of version {newer.version_no}); retrying would roll DolphinScheduler back",
                newer_record_id=newer.id,
            )
        new_id = await repo.insert_record(
            s,
            {
                "request_id": uuid.uuid4(),
                "workflow_id": original.workflow_id,
                "version_id": original.version_id,
                "version_no": original.version_no,
                "target_engine": TARGET_ENGINE,
                "operation": original.operation,
                "status": "pending",
                "operator": scope,
                "retry_of": original.id,
                "snapshot": original.snapshot,
                # the first request's approval: the retry deploys what was approved then, or nothing
                "approval": original.approval,
                "requested_at": deps.clock.now(),
                "trace_context": current_trace_context() or None,
                "idempotency_key": key,
                "idempotency_scope": scope if key is not None else None,
            },
        )
        assert new_id is not None
    # run now if it can be claimed (else a worker runs it in order); the publish goes on if the caller leaves
    publish = deps.background(run_publish(deps, new_id))
    wait_s = max(0.0, deadline.budget(RETRY_WAIT_S) - ANSWER_RESERVE_S)
    finished, _ = await asyncio.wait({publish}, timeout=wait_s)
    if finished and not publish.result():
        deps.wake()  # a worker claimed it first, or an older record runs: answer with the outcome if it comes soon
        end = asyncio.get_running_loop().time() + max(0.0, deadline.budget(RETRY_WAIT_S) - ANSWER_RESERVE_S)
        while asyncio.get_running_loop().time() < end:
            view = await get_record(deps, new_id)
            if view.status not in ("pending", "running"):
                return view, False
            await asyncio.sleep(0.1)
    return await get_record(deps, new_id), False


# ---------------------------------------------------------------------------------------------------------------
# Claim and run


async def run_next_publish(deps: Deps) -> bool:
    """Claim the oldest claimable record and run it; False when there was none."""
    async with unit_of_work(deps.sessions) as s:
        row = await repo.claim(s, lease_s=deps.lease_s, owner=deps.instance_id)
    if row is None:
        return False
    await _execute(deps, row)
    return True


async def run_publish(deps: Deps, record_id: int) -> bool:
    """Run this record now if it can be claimed (pending, nothing older of its workflow unfinished)."""
    async with unit_of_work(deps.sessions) as s:
        row = await repo.claim(s, lease_s=deps.lease_s, owner=deps.instance_id, record_id=record_id)
    if row is None:
        return False
    await _execute(deps, row)
    return True


async def release_own_claims(deps: Deps) -> list[int]:
    """At start: the records this instance's previous process left ``running`` (it died mid-publish) become
    claimable at once, instead of after their lease. Returns their ids."""
    async with unit_of_work(deps.sessions) as s:
        ids = await repo.release_claims(s, deps.instance_id)
    if ids:
        logger.warning(
            "publish records %s were left running by this instance's previous process (%s): running them again",
            ids,
            deps.instance_id,
        )
    return ids


async def _heartbeat(deps: Deps, record_id: int, attempt: int) -> None:
    while True:
        await asyncio.sleep(deps.lease_s / 3)
        try:
            async with unit_of_work(deps.sessions) as s:
                if not await repo.heartbeat(s, record_id, attempt):
                    return
        except Exception:  # a missed heartbeat only shortens the lease
            logger.warning("heartbeat of publish record %d failed", record_id, exc_info=True)


async def _execute(deps: Deps, row: Row[Any]) -> None:
    """Run a claimed record inside a span continuing the trace of its request (workers run outside it)."""
    attributes = {
        "publish.record_id": int(row.id),
        "workflow.id": int(row.workflow_id),
        "publish.operation": row.operation,
    }
    with continued_span("publisher.run_publish", row.trace_context, attributes=attributes):
        attempt = int(row.attempts)
        run = _Run(deps=deps, record=row)
        if row.log:  # the request's own note (why the platform asked)
            run.lines.extend(row.log.splitlines())
        if attempt > 1:
            run.note(f"attempt {attempt}: the previous attempt was interrupted; running the publish again")
        # the lease is renewed until the outcome is written (which may wait for the database)
        beat = asyncio.create_task(_heartbeat(deps, int(row.id), attempt))
        try:
            async with unit_of_work(deps.sessions) as s:
                run.engine = await repo.engine_workflow_of(s, int(row.workflow_id))
                run.codes = await repo.task_codes(s, int(row.workflow_id))
                run.approved_request_ids = await repo.retried_request_ids(s, int(row.id))
            outcome = await run.perform()
            await _finish(deps, row, attempt, run, outcome)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat


async def _finish(deps: Deps, row: Row[Any], attempt: int, run: _Run, outcome: _Outcome) -> None:
    """Write the outcome. DS has been changed already, so a database that is unavailable for a while does not
    undo the publish: the write is retried in place (``Retries.finish_s``), and only then is the record left to be
    run again after its lease."""

    def on_retry(exc: BaseException, failed: int, delay: float) -> None:
        logger.warning(
            "publish record %d: writing the outcome failed (%s); retrying in %.1fs", row.id, type(exc).__name__, delay
        )

    retries = retrying(within_s=deps.retries.finish_s, initial_s=0.5, max_s=5.0, on_retry=on_retry)
    async for trying in retries:
        with trying:
            written = await _write_outcome(deps, row, attempt, run, outcome)
    if not written:
        logger.warning("publish record %d was taken over by another worker; dropping attempt %d", row.id, attempt)
        return
    PUBLISHES.labels(row.operation, outcome.status).inc()
    logger.info(
        "publish record %d (%s of workflow %d version %d): %s",
        row.id,
        row.operation,
        row.workflow_id,
        row.version_no,
        outcome.status,
        extra={"record_id": int(row.id), "workflow_id": int(row.workflow_id)},
    )


async def _write_outcome(deps: Deps, row: Row[Any], attempt: int, run: _Run, outcome: _Outcome) -> bool:
    """One transaction: the record's outcome (only while this claim holds it), what DS holds, the restore work
    and ``publish.completed``. False when another worker took the record over."""
    now = deps.clock.now()
    async with unit_of_work(deps.sessions) as s:
        written = await repo.finish_record(
            s,
            int(row.id),
            attempt,
            {
                "status": outcome.status,
                "engine_workflow_code": run.workflow_code,
                "engine_version": run.engine_version,
                "project_code": run.project_code,
                "release_state": run.release_state,
                "content_hash": run.content_hash,
                "log": "\n".join(run.lines),
                "error_code": outcome.error_code,
                "error_message": outcome.error_message,
                "intended_release_state": run.intended,
            },
        )
        if not written:
            return False
        if run.engine_update:
            await repo.upsert_engine_workflow(s, int(row.workflow_id), run.engine_update)
        diverged = outcome.status == "failed" and run.diverged
        if not outcome.refused:  # a refused request changed nothing in DS: it neither starts nor ends a restore
            await restore.after_publish(
                s,
                deps,
                row,
                status=outcome.status,
                intended=run.intended,
                ds_release_state=run.release_state,
                diverged=diverged,
                error=outcome.error_message,
            )
        await deps.outbox.add(
            s,
            PublishCompleted(
                request_id=row.request_id,
                record_id=int(row.id),
                workflow_id=int(row.workflow_id),
                version_id=int(row.version_id),
                operation=PublishOperation(row.operation),
                outcome=PublishOutcome(outcome.status),
                engine_workflow_code=run.workflow_code,
                engine_version=run.engine_version,
                project_code=run.project_code,
                release_state=run.release_state,
                schedule_online=run.engine_update.get("schedule_online"),
                intended_release_state=run.intended,
                diverged=diverged,
                refused=outcome.refused,
                error_code=outcome.error_code,
                error_message=outcome.error_message,
                operator=row.operator,
                completed_at=now,
            ),
        )
    return True


@dataclass(frozen=True)
class _Outcome:
    status: Literal["success", "failed", "skipped_unchanged"]
    error_code: int | None = None
    error_message: str | None = None
    #: refused at the approval check: nothing was asked of DS
    refused: bool = False


@dataclass(frozen=True)
class _DsState:
    """What DS holds for the workflow before this publish changes it."""

    dag: DagData
    schedule: Schedule | None


@dataclass
class _Run:
    """One attempt at one publish record: the DS calls, with a log line per step."""

    deps: Deps
    record: Row[Any]
    engine: Row[Any] | None = None
    codes: dict[int, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    step: str = "start"
    workflow_code: int | None = None
    engine_version: int | None = None
    project_code: int | None = None
    release_state: Literal["ONLINE", "OFFLINE"] | None = None
    content_hash: str | None = None
    engine_update: dict[str, Any] = field(default_factory=dict)
    #: the release state the publish means DS to hold at its end, and whether the schedule is to be online then
    intended: Literal["ONLINE", "OFFLINE"] | None = None
    intended_schedule: bool = False
    #: after a failure: DS does not hold (or may not hold: unreadable) the state the workflow had or was to get
    diverged: bool = False
    #: the request ids an approval may name: this record's and those of the records it retries
    approved_request_ids: list[uuid.UUID] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.lines.append(line)

    def _check_approval(self) -> None:
        """Before any DolphinScheduler call: the definition service approved exactly this snapshot for this request
        (``common.approvals``). Otherwise the record fails with the reason, counted and alerted."""
        self.step = "approval check"
        record = self.record
        try:
            approved = check_approval(
                self.deps.approvals,
                record.approval,
                request_ids=self.approved_request_ids or [record.request_id],
                workflow_id=int(record.workflow_id),
                version_id=int(record.version_id),
                operation=record.operation,
                snapshot=StructureSnapshot.model_validate(record.snapshot),
            )
        except PublishNotApproved as exc:
            PUBLISH_REFUSED.labels(record.operation, exc.reason).inc()
            logger.warning(
                "publish record %d refused: %s",
                record.id,
                exc.detail,
                extra={"record_id": int(record.id), "workflow_id": int(record.workflow_id), "reason": exc.reason},
            )
            raise
        self.note(f"approved by the definition service: version {record.version_no}, content hash {approved[:12]}")

    async def perform(self) -> _Outcome:
        engine = self.engine
        if self.record.operation == PublishOperation.OFFLINE.value:
            self.intended = "OFFLINE"
        elif self.record.operation == PublishOperation.ONLINE.value:
            self.intended, self.intended_schedule = "ONLINE", bool(engine is not None and engine.schedule_online)
        else:  # a deploy keeps the release state (refined once DS has been read)
            self.intended = "ONLINE" if engine is not None and engine.release_state == "ONLINE" else "OFFLINE"
            self.intended_schedule = self.intended == "ONLINE" and bool(engine is not None and engine.schedule_online)
        try:
            self._check_approval()
        except PublishNotApproved as exc:
            # refused: DolphinScheduler is not called at all, not even read
            return replace(self._failed(exc), refused=True)
        try:
            if self.record.operation == PublishOperation.OFFLINE.value:
                return await self._offline()
            return await self._deploy_or_online(online=self.record.operation == PublishOperation.ONLINE.value)
        except PlatformError as exc:
            outcome = self._failed(exc)
        except Exception as exc:  # a bug must not leave the record running forever
            logger.exception("publish record %d failed unexpectedly at %s", self.record.id, self.step)
            self.note(f"FAILED at {self.step}: internal error {type(exc).__name__}")
            outcome = _Outcome("failed", None, f"internal error at {self.step}: {type(exc).__name__}")
        await self._read_ds_after_failure()
        return outcome

    def _failed(self, exc: PlatformError) -> _Outcome:
        ds_code = exc.ds_code if isinstance(exc, DolphinApiError | DolphinTransientApiError) else None
        message = exc.detail
        self.note(f"FAILED at {self.step}: {message}")
        if self.workflow_code is not None and self.project_code is not None and not self.engine_update:
            # remember the DS code (e.g. created, then the read-back failed); not the hash: it was not confirmed
            self.engine_update = {"workflow_code": self.workflow_code, "project_code": self.project_code}
        return _Outcome("failed", ds_code, message)

    async def _read_ds_after_failure(self) -> None:
        """What DS holds now, read back: the record, the event and the workflow tell that, not what was hoped
        for. ``diverged`` when it is not the intended state (or cannot be read): the reconciler takes over."""
        engine = self.engine
        code = self.workflow_code or (int(engine.workflow_code) if engine is not None else None)
        project = self.project_code or (int(engine.project_code) if engine is not None else None)
        self.release_state = None
        if code is None or project is None or self.intended is None:
            return  # nothing in DS to look at: the workflow was never created there
        self.workflow_code, self.project_code = code, project
        self.step = "REST read back after the failure"
        try:
            dag = await self.deps.rest.get_workflow_definition(project, code)
            schedule = await self.deps.rest.get_schedule_of_workflow(project, code)
        except DolphinNotFound:
            self.diverged = engine is not None
            self.note(f"read back after the failure: workflow {code} does not exist in DolphinScheduler")
            return
        except PlatformError as exc:
            self.diverged = True
            self.note(f"read back after the failure failed ({exc.code}): what DolphinScheduler holds is unknown")
            return
        state = dag.workflow_definition.release_state
        held: Literal["ONLINE", "OFFLINE"] | None = None if state is None else state.value
        schedule_online = schedule is not None and schedule.release_state is ReleaseState.ONLINE
        self.release_state = held
        self.diverged = held != self.intended or (self.intended_schedule and not schedule_online)
        holds = f"DolphinScheduler now holds it {held}" + (
            "" if schedule is None else f" (schedule {'online' if schedule_online else 'offline'})"
        )
        if self.diverged:
            wanted = self.intended + (" with its schedule online" if self.intended_schedule else "")
            self.note(f"read back after the failure: {holds}; intended {wanted}: the reconciler will restore it")
        else:
            self.note(f"read back after the failure: {holds}, as intended")

    async def _ds(self, step: str, call: Callable[[], Awaitable[T]]) -> T:
        """One DS call that changes something, retried in place while it fails for a reason that may pass (5xx,
        timeout, gateway unreachable, DS busy): every such call is idempotent (see the module docstring)."""
        r = self.deps.retries

        def on_retry(exc: BaseException, failed: int, delay: float) -> None:
            code = exc.code if isinstance(exc, PlatformError) else type(exc).__name__
            self.note(f"{step}: attempt {failed}/{r.ds_attempts} failed ({code}); retrying in {delay:.1f}s")

        self.step = step
        retries = retrying(
            attempts=r.ds_attempts,
            initial_s=r.ds_initial_s,
            max_s=r.ds_max_s,
            retry_on=lambda exc: isinstance(exc, TransientError),
            on_retry=on_retry,
        )
        async for attempt in retries:
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # pragma: no cover

    # -- offline --------------------------------------------------------------------------------------------------

    async def _offline(self) -> _Outcome:
        rest = self.deps.rest
        engine = self.engine
        if engine is None:
            raise NotDeployed(f"workflow {self.record.workflow_id} was never deployed to DolphinScheduler")
        self.project_code, self.workflow_code = int(engine.project_code), int(engine.workflow_code)
        project_code, code = self.project_code, self.workflow_code
        await self._ds("REST release OFFLINE", lambda: rest.release_workflow(project_code, code, ReleaseState.OFFLINE))
        self.note(f"REST release OFFLINE of workflow {self.workflow_code} (DS also takes its schedule offline)")
        dag = await self._read_back()
        self._expect_state(dag, ReleaseState.OFFLINE)
        self.engine_update = {
            "workflow_code": self.workflow_code,
            "project_code": self.project_code,
            "release_state": "OFFLINE",
            "schedule_online": False,
        }
        return _Outcome("success")

    # -- deploy / online ------------------------------------------------------------------------------------------

    async def _deploy_or_online(self, *, online: bool) -> _Outcome:
        deps = self.deps
        snapshot = StructureSnapshot.model_validate(self.record.snapshot)
        project_code = self.project_code = await self._ensure_project()
        upstream_codes = await _upstream_task_codes(self.deps, snapshot)
        codes = await self._task_codes(snapshot)
        datasource_ids = await self._datasources(snapshot)
        self.step = "convert"
        defn = convert(snapshot, codes, datasource_ids=datasource_ids, upstream_task_codes=upstream_codes)
        self.content_hash = defn.content_hash
        self.note(f"converted {len(snapshot.tasks)} tasks, {len(snapshot.edges)} edges: hash {defn.content_hash[:12]}")
        engine = self.engine
        unchanged = (
            engine is not None
            and engine.last_deployed_hash == defn.content_hash
            and int(engine.project_code) == project_code
        )
        if unchanged and not online:
            assert engine is not None
            self.workflow_code, self.engine_version = int(engine.workflow_code), engine.engine_version
            self.release_state = engine.release_state
            self.note(
                f"unchanged since version id {engine.last_deployed_version_id} (DS version {engine.engine_version}): "
                "nothing sent"
            )
            self.engine_update = {"workflow_code": int(engine.workflow_code), "project_code": project_code}
            return _Outcome("skipped_unchanged")

        before = await self._ds_state(engine, project_code)
        # The release state to keep: DS's, or the last one we confirmed (an interrupted deploy may have left DS
        # offline); the platform's own offline operation is how a workflow goes offline.
        was_online = before is not None and before.dag.workflow_definition.release_state is ReleaseState.ONLINE
        schedule_was_online = before is not None and (
            before.schedule is not None and before.schedule.release_state is ReleaseState.ONLINE
        )
        if engine is not None and before is not None:
            was_online = was_online or engine.release_state == "ONLINE"
            schedule_was_online = schedule_was_online or bool(engine.schedule_online)
        end_online = online or was_online
        self.intended = "ONLINE" if end_online else "OFFLINE"
        self.intended_schedule = end_online and (defn.schedule_json is not None or schedule_was_online)

        if unchanged and before is not None:
            code = int(before.dag.workflow_definition.code)
            self.note("definition unchanged since the last deploy: not re-sent")
        else:
            code = await self._create_or_update(defn, replaces=before)
        self.workflow_code = code
        schedule_id: int | None = before.schedule.id if before is not None and before.schedule else None
        schedule_online = False
        if end_online:
            await self._ds(
                "REST release ONLINE", lambda: deps.rest.release_workflow(project_code, code, ReleaseState.ONLINE)
            )
            self.note(
                f"REST release ONLINE of workflow {code}"
                + ("" if online else " (restoring the ONLINE state it had before the deploy)")
            )
            same_workflow = before is not None and before.dag.workflow_definition.code == code
            current = before.schedule if before is not None and same_workflow else None
            schedule_id, schedule_online = await self._sync_schedule(
                defn, current, offlined=not (unchanged and before is not None), was_online=schedule_was_online
            )
        dag = await self._read_back()
        self._confirm(dag, defn)
        self._expect_state(dag, ReleaseState.ONLINE if end_online else ReleaseState.OFFLINE)
        self.engine_update = {
            "workflow_code": code,
            "project_code": project_code,
            "last_deployed_hash": defn.content_hash,
            "last_deployed_version_id": int(self.record.version_id),
            "engine_version": self.engine_version,
            "release_state": self.release_state,
            "schedule_id": schedule_id,
            "schedule_online": schedule_online,
        }
        return _Outcome("success")

    async def _ensure_project(self) -> int:
        deps = self.deps
        cache = deps.projects
        if cache.code is not None:
            return cache.code
        async with cache.lock:
            if cache.code is None:
                t = deps.target
                await self._ds(
                    "gateway createOrGrantProject",
                    lambda: deps.gateway.create_or_grant_project(
                        t.user, t.project_name, "managed by the workflow platform"
                    ),
                )
                project = await self._ds(
                    "gateway queryProjectByName", lambda: deps.gateway.query_project_by_name(t.user, t.project_name)
                )
                if project is None:
                    raise ProjectMissing(f"DolphinScheduler has no project {t.project_name!r} after creating it")
                async with unit_of_work(deps.sessions) as s:
                    await repo.set_project_code(s, t.environment, t.project_name, project.code)
                cache.code = project.code
                self.note(f"project {t.project_name!r} ensured: code {project.code}")
        assert cache.code is not None
        return cache.code

    async def _task_codes(self, snapshot: StructureSnapshot) -> dict[int, int]:
        # DEPENDENT nodes (issue 20) keep a stable code like tasks, under their (negative) node id
        task_ids = [d.node_id for d in snapshot.external_dependencies] + [t.task_id for t in snapshot.tasks]
        batches = code_batches(codes_needed(task_ids, self.codes))
        fresh: list[int] = []
        for call, size in enumerate(batches, 1):  # DS gives at most 100 codes per call (MAX_CODES_PER_CALL)
            step = f"gateway genTaskCodeList({size}), call {call} of {len(batches)}"
            fresh += await self._ds(step, functools.partial(self.deps.gateway.gen_task_code_list, size))
        mapping, new = assign_codes(task_ids, self.codes, fresh)
        if new:
            # persisted before DS sees them: a re-run after a crash reuses the same codes
            async with unit_of_work(self.deps.sessions) as s:
                await repo.add_task_codes(s, int(self.record.workflow_id), new)
            self.codes.update(new)
        calls = f" ({len(batches)} calls)" if len(batches) > 1 else ""
        self.note(f"task codes: {len(mapping) - len(new)} reused, {len(new)} new from DS genTaskCodeList{calls}")
        return mapping

    async def _datasources(self, snapshot: StructureSnapshot) -> dict[tuple[str, str], int]:
        sql = [t.params for t in snapshot.tasks if isinstance(t.params, SqlParams)]
        wanted = sorted({(p.datasource_name, p.datasource_type) for p in sql})
        ids: dict[tuple[str, str], int] = {}
        for name, ds_type in wanted:
            source = await self._ds(
                f"gateway getDatasource {name!r}",
                functools.partial(self.deps.gateway.get_datasource, name, ds_type.upper()),
            )
            ids[(name, ds_type)] = source.id
        if ids:
            self.note("datasources: " + ", ".join(f"{n} ({t}) = {i}" for (n, t), i in ids.items()))
        return ids

    async def _ds_state(self, engine: Row[Any] | None, project_code: int) -> _DsState | None:
        if engine is None or int(engine.project_code) != project_code:
            return None
        code = int(engine.workflow_code)
        self.step = "REST read workflow before the publish"
        try:
            dag = await self.deps.rest.get_workflow_definition(project_code, code)
        except DolphinNotFound:
            self.note(f"workflow {code} no longer exists in DS: creating it again")
            return None
        self.step = "REST read schedule before the publish"
        schedule = await self.deps.rest.get_schedule_of_workflow(project_code, code)
        wf = dag.workflow_definition
        self.note(
            f"DS before: workflow {code} version {wf.version} {wf.release_state}"
            + (f", schedule {schedule.id} {schedule.release_state}" if schedule else ", no schedule")
        )
        return _DsState(dag, schedule)

    async def _create_or_update(self, defn: DolphinWorkflowDefinition, *, replaces: _DsState | None) -> int:
        if replaces is not None and replaces.dag.workflow_definition.name != defn.name:
            return await self._rename(defn, replaces)
        if replaces is None:
            await self._refuse_a_name_taken(defn.name)
        t = self.deps.target
        code = await self._ds(
            "gateway createOrUpdateWorkflow",
            lambda: self.deps.gateway.create_or_update_workflow(
                user_name=t.user,
                project_name=t.project_name,
                name=defn.name,
                description=defn.description,
                global_params=defn.global_params,
                task_relation_json=defn.task_relation_json,
                task_definition_json=defn.task_definition_json,
                timeout_minutes=defn.timeout,
                worker_group=t.worker_group,
                release_state=ReleaseState.OFFLINE,
                execution_type=WorkflowExecutionType(defn.execution_type),
            ),
        )
        if replaces is not None and replaces.dag.workflow_definition.release_state is ReleaseState.ONLINE:
            self.note(f"gateway createOrUpdateWorkflow: workflow {code} updated (DS took it and its schedule offline)")
        else:
            self.note(f"gateway createOrUpdateWorkflow: workflow {code} {'updated' if replaces else 'created'}")
        return code

    async def _refuse_a_name_taken(self, name: str) -> None:
        """Before the first upsert of this workflow: a DS workflow of this name that another platform workflow owns
        is never taken over. One that no platform workflow owns (this workflow's own interrupted first deploy) is
        the one the upsert updates."""
        p = self.project_code
        assert p is not None
        try:
            dag = await self._ds("REST query-by-name", lambda: self.deps.rest.get_workflow_definition_by_name(p, name))
        except DolphinNotFound:
            return
        code = int(dag.workflow_definition.code)
        async with self.deps.sessions() as s:
            owner = await repo.workflow_of_engine_code(s, code)
        if owner is not None and owner != int(self.record.workflow_id):
            raise DsNameTaken(
                f"DolphinScheduler workflow {code} named {name!r} belongs to platform workflow {owner} (its name "
                "before a rename, until it is deployed again): rename this workflow, or deploy the other one first",
                workflow_code=code,
                owner_workflow_id=owner,
            )

    async def _rename(self, defn: DolphinWorkflowDefinition, replaces: _DsState) -> int:
        """The workflow was renamed: update the same DS workflow by its code over REST. The gateway's upsert goes by
        name, so it would create a second DS workflow and leave the first one running on its schedule."""
        rest, p = self.deps.rest, self.project_code
        assert p is not None
        old = replaces.dag.workflow_definition
        if old.release_state is ReleaseState.ONLINE:  # DS updates only an offline workflow
            await self._ds(
                "REST release OFFLINE before the rename",
                lambda: rest.release_workflow(p, old.code, ReleaseState.OFFLINE),
            )
        await self._ds(
            "REST update workflow (rename)",
            lambda: rest.update_workflow_definition(
                p,
                old.code,
                name=defn.name,
                task_definition_json=defn.task_definition_json,
                task_relation_json=defn.task_relation_json,
                description=defn.description,
                global_params=defn.global_params,
                timeout_minutes=defn.timeout,
                execution_type=WorkflowExecutionType(defn.execution_type),
                release_state=ReleaseState.OFFLINE,
            ),
        )
        self.note(
            f"REST update of workflow {old.code}: renamed {old.name!r} to {defn.name!r}"
            + (" (DS took it and its schedule offline)" if old.release_state is ReleaseState.ONLINE else "")
        )
        return int(old.code)

    async def _sync_schedule(
        self, defn: DolphinWorkflowDefinition, current: Schedule | None, *, offlined: bool, was_online: bool
    ) -> tuple[int | None, bool]:
        """Make DS's schedule match the snapshot; put it online when the snapshot has one or it was online.

        Returns ``(schedule id, online)``. ``offlined``: the deploy just took the schedule offline.
        """
        rest, t, p = self.deps.rest, self.deps.target, self.project_code
        assert p is not None
        assert self.workflow_code is not None
        online_now = current is not None and current.release_state is ReleaseState.ONLINE and not offlined
        if defn.schedule_json is None:
            if current is None:
                return None, False
            if was_online and not online_now:
                schedule_id = current.id
                await self._ds("REST schedule online", lambda: rest.online_schedule(p, schedule_id))
                self.note(f"schedule {current.id} put back online (it was online before)")
                return current.id, True
            return current.id, online_now
        spec = _spec(defn.schedule_json)
        kwargs: dict[str, Any] = {
            "failure_strategy": FailureStrategy.CONTINUE,
            "worker_group": t.worker_group,
            "tenant_code": t.tenant,
        }
        if current is None:
            code = self.workflow_code
            current = await self._ds("REST create schedule", lambda: rest.create_schedule(p, code, spec, **kwargs))
            self.note(f"schedule {current.id} created ({spec.crontab}, {spec.timezone_id})")
            online_now = False
        elif not _same_schedule(current, spec):
            schedule_id = current.id
            if online_now:
                await self._ds("REST schedule offline", lambda: rest.offline_schedule(p, schedule_id))
                online_now = False
            await self._ds("REST update schedule", lambda: rest.update_schedule(p, schedule_id, spec, **kwargs))
            self.note(f"schedule {current.id} updated ({spec.crontab}, {spec.timezone_id})")
        if not online_now:
            schedule_id = current.id
            await self._ds("REST schedule online", lambda: rest.online_schedule(p, schedule_id))
            self.note(f"schedule {current.id} online")
        return current.id, True

    async def _read_back(self) -> DagData:
        assert self.project_code is not None
        assert self.workflow_code is not None
        self.step = "REST read back"
        dag = await self.deps.rest.get_workflow_definition(self.project_code, self.workflow_code)
        wf = dag.workflow_definition
        self.engine_version = wf.version
        self.release_state = None if wf.release_state is None else wf.release_state.value
        self.note(
            f"read back: workflow {wf.code} version {wf.version} {wf.release_state}, "
            f"{len(dag.task_definition_list)} tasks, {len(dag.workflow_task_relation_list)} relations"
        )
        return dag

    def _confirm(self, dag: DagData, defn: DolphinWorkflowDefinition) -> None:
        sent_codes = set(defn.task_codes.values())
        got_codes = {t.code for t in dag.task_definition_list}
        sent_edges = {(int(r["preTaskCode"]), int(r["postTaskCode"])) for r in json.loads(defn.task_relation_json)}
        problems = []
        if got_codes != sent_codes:
            problems.append(f"task codes differ ({len(got_codes ^ sent_codes)} not matching)")
        if dag.edges() != sent_edges:
            problems.append(f"relations differ ({len(dag.edges() ^ sent_edges)} not matching)")
        if dag.workflow_definition.name != defn.name:
            problems.append(f"name is {dag.workflow_definition.name!r}")
        if problems:
            raise ReadBackMismatch(f"workflow {self.workflow_code} read back from DS: " + "; ".join(problems))

    def _expect_state(self, dag: DagData, state: ReleaseState) -> None:
        got = dag.workflow_definition.release_state
        if got is not state:
            raise ReadBackMismatch(f"workflow {self.workflow_code} is {got} in DS, expected {state.value}")


def _spec(schedule_json: str) -> ScheduleSpec:
    raw = json.loads(schedule_json)
    start, end = parse_ds_datetime(raw["startTime"]), parse_ds_datetime(raw["endTime"])
    assert start is not None
    assert end is not None
    return ScheduleSpec(start_time=start, end_time=end, crontab=raw["crontab"], timezone_id=raw["timezoneId"])


def _same_schedule(current: Schedule, spec: ScheduleSpec) -> bool:
    return (
        " ".join(current.crontab.split()) == spec.crontab
        and (current.timezone_id or "UTC") == spec.timezone_id
        and current.start_time == spec.start_time
        and current.end_time == spec.end_time
    )


# ---------------------------------------------------------------------------------------------------------------
# Queries


async def get_record(deps: Deps, record_id: int) -> PublishRecordView:
    async with unit_of_work(deps.sessions) as s:
        row = await repo.record_by_id(s, record_id)
    if row is None:
        raise NotFound(f"publish record {record_id} does not exist")
    return PublishRecordView.of(row)


async def list_records(deps: Deps, workflow_id: int, *, page: int, page_size: int) -> RecordPage:
    async with unit_of_work(deps.sessions) as s:
        rows, total = await repo.list_records(s, workflow_id, limit=page_size, offset=(page - 1) * page_size)
    return RecordPage(items=[PublishRecordView.of(r) for r in rows], total=total, page=page, page_size=page_size)


def ds_link(deps: Deps, project_code: int, workflow_code: int) -> str:
    return f"{deps.target.ui_url}/projects/{project_code}/workflow-definition/{workflow_code}"


async def engine_info(deps: Deps, workflow_id: int) -> EngineView:
    async with unit_of_work(deps.sessions) as s:
        row = await repo.engine_workflow_of(s, workflow_id)
    if row is None:
        raise NotFound(f"workflow {workflow_id} has never been deployed to DolphinScheduler")
    return EngineView(
        workflow_id=workflow_id,
        workflow_code=row.workflow_code,
        project_code=row.project_code,
        release_state=row.release_state,
        schedule_id=row.schedule_id,
        schedule_online=row.schedule_online,
        last_deployed_version_id=row.last_deployed_version_id,
        engine_version=row.engine_version,
        ds_link=ds_link(deps, row.project_code, row.workflow_code),
    )


class DriftView(BaseModel):
    workflow_id: int
    workflow_code: int
    project_code: int
    #: in_sync | drifted | missing_in_ds | unverifiable (no confirmed deploy to compare with)
    status: Literal["in_sync", "drifted", "missing_in_ds", "unverifiable"]
    last_deployed_version_id: int | None
    last_deployed_hash: str | None
    #: fingerprints of the comparable content: what the last deploy put there, and what DS holds now
    expected_ds_hash: str | None = None
    ds_hash: str | None = None
    ds_version: int | None = None
    differences: list[str] = Field(default_factory=list)


async def _upstream_task_codes(deps: Deps, snapshot: StructureSnapshot) -> dict[int, int]:
    """The DS task codes of the tasks the snapshot's DEPENDENT links wait for (issue 20): this publisher's codes of
    the upstream workflows' tasks, for the links whose upstream DS holds under the codes the approved version names.
    A link left out is refused by ``convert`` (``UpstreamNotDeployed``), naming it."""
    links = snapshot.external_dependencies
    if not links:
        return {}
    wanted = sorted({d.upstream_workflow_id for d in links})
    async with unit_of_work(deps.sessions) as s:
        engines = await repo.engine_workflows_of(s, wanted)
        codes = {w: await repo.task_codes(s, w) for w in wanted if w in engines}
    out: dict[int, int] = {}
    for d in links:
        engine = engines.get(d.upstream_workflow_id)
        if engine is None or engine.workflow_code is None or engine.project_code is None:
            continue
        if (int(engine.workflow_code), int(engine.project_code)) != (d.upstream_workflow_code, d.upstream_project_code):
            continue  # DS holds it under other codes now: the definition service writes a version with them
        code = codes.get(d.upstream_workflow_id, {}).get(d.upstream_task_id)
        if code is not None:
            out[d.upstream_task_id] = code
    return out


async def drift_check(deps: Deps, workflow_id: int) -> DriftView:
    """Read the workflow back from DS by code and compare it with the last deployed definition (read-only)."""
    async with unit_of_work(deps.sessions) as s:
        engine = await repo.engine_workflow_of(s, workflow_id)
        if engine is None:
            raise NotFound(f"workflow {workflow_id} has never been deployed to DolphinScheduler")
        record = (
            await repo.last_deployed_record(s, workflow_id, engine.last_deployed_hash)
            if engine.last_deployed_hash
            else None
        )
        codes = await repo.task_codes(s, workflow_id)
    project_code, code = int(engine.project_code), int(engine.workflow_code)
    view = DriftView(
        workflow_id=workflow_id,
        workflow_code=code,
        project_code=project_code,
        status="unverifiable",
        last_deployed_version_id=engine.last_deployed_version_id,
        last_deployed_hash=engine.last_deployed_hash,
    )
    if record is None:
        view.differences = ["no confirmed deploy of this workflow to compare with"]
        return view
    snapshot = StructureSnapshot.model_validate(record.snapshot)
    wanted = sorted(
        {(p.datasource_name, p.datasource_type) for t in snapshot.tasks if isinstance(p := t.params, SqlParams)}
    )
    datasource_ids = {(n, t): (await deps.gateway.get_datasource(n, t.upper())).id for n, t in wanted}
    defn = convert(
        snapshot, codes, datasource_ids=datasource_ids, upstream_task_codes=await _upstream_task_codes(deps, snapshot)
    )
    if defn.content_hash != engine.last_deployed_hash:
        view.differences = ["the deployed definition cannot be rebuilt (converter changed since the deploy)"]
        return view
    expected = drift.expected_content(defn)
    view.expected_ds_hash = expected.fingerprint()
    try:
        dag = await deps.rest.get_workflow_definition(project_code, code)
    except DolphinNotFound:
        view.status = "missing_in_ds"
        view.differences = [f"workflow {code} does not exist in DolphinScheduler project {project_code}"]
        return view
    actual = drift.actual_content(dag, expected)
    view.ds_hash = actual.fingerprint()
    view.ds_version = dag.workflow_definition.version
    view.differences = drift.differences(expected, actual)
    view.status = "in_sync" if view.ds_hash == view.expected_ds_hash else "drifted"
    return view


# ---------------------------------------------------------------------------------------------------------------
# Run now / batch start


#: how many starts of one batch are in flight at once
BATCH_START_CONCURRENCY = 4


async def batch_run(deps: Deps, req: BatchRunRequest) -> BatchRunResult:
    """Start (or backfill) several deployed workflows, one DS start per workflow, and report each one.

    DS's own batch endpoint starts the workflows one by one and stops at the first failure, answering only that
    error: the instances it started before are running but their ids are lost. So each workflow gets its own start
    (``start-workflow-instance``, which takes the same backfill parameters), a few at a time, and a failure of one
    is reported with DS's code and message while the others go on. Nothing is started when a workflow was never
    deployed (409, as before).
    """
    async with unit_of_work(deps.sessions) as s:
        rows = await repo.engine_workflows_of(s, req.workflow_ids)
    missing = [w for w in req.workflow_ids if w not in rows]
    if missing:
        raise not_deployed(missing)
    kwargs: dict[str, Any] = {
        "failure_strategy": FailureStrategy(req.failure_strategy),
        "worker_group": req.worker_group or deps.target.worker_group,
        "tenant_code": deps.target.tenant,
        "start_params": req.start_params or None,
        "dry_run": req.dry_run,
    }
    if req.backfill is not None:
        kwargs["schedule_time"] = json.dumps(
            {
                "complementStartDate": format_ds_datetime(req.backfill.start),
                "complementEndDate": format_ds_datetime(req.backfill.end),
            }
        )
        kwargs["exec_type"] = "COMPLEMENT_DATA"
        kwargs["run_mode"] = RunMode.RUN_MODE_PARALLEL if req.run_mode == "parallel" else RunMode.RUN_MODE_SERIAL
        if req.run_mode == "parallel" and req.parallelism is not None:
            kwargs["expected_parallelism_number"] = req.parallelism
    gate = asyncio.Semaphore(BATCH_START_CONCURRENCY)

    async def start_one(workflow_id: int) -> BatchRunItem:
        row = rows[workflow_id]
        async with gate:
            try:
                ids = await deps.rest.start_workflow_instance(int(row.project_code), int(row.workflow_code), **kwargs)
            except PlatformError as exc:
                return _batch_failure(workflow_id, exc)
        return BatchRunItem(workflow_id=workflow_id, status="started", instance_ids=ids)

    results = list(await asyncio.gather(*(start_one(w) for w in req.workflow_ids)))
    counts = {status: sum(1 for r in results if r.status == status) for status in ("started", "failed", "unknown")}
    logger.info(
        "batch start of %d workflows in DS: %d started, %d failed, %d unknown",
        len(results),
        counts["started"],
        counts["failed"],
        counts["unknown"],
    )
    return BatchRunResult(
        instance_ids=[i for r in results for i in r.instance_ids],
        results=results,
        started=counts["started"],
        failed=counts["failed"],
        unknown=counts["unknown"],
    )


def _batch_failure(workflow_id: int, exc: PlatformError) -> BatchRunItem:
    no_answer = isinstance(exc, DolphinTimeout | DolphinUnavailable)
    message = exc.detail
    if no_answer:
        message += "; DolphinScheduler gave no answer, so the workflow may have started: check its executions"
    logger.warning("batch start of workflow %d: %s", workflow_id, exc.detail)
    return BatchRunItem(
        workflow_id=workflow_id,
        status="unknown" if no_answer else "failed",
        error=exc.code,
        ds_code=exc.ds_code if isinstance(exc, DolphinApiError | DolphinTransientApiError) else None,
        ds_msg=exc.ds_msg if isinstance(exc, DolphinApiError | DolphinTransientApiError) else None,
        message=message,
    )


# ---------------------------------------------------------------------------------------------------------------
# Datasources


class DatasourceView(BaseModel):
    name: str
    type: str
    exists: bool
    id: int | None = None


async def find_datasource(deps: Deps, name: str, datasource_type: str) -> DatasourceView:
    """Whether DS has the datasource a SQL task names (asked when the task is saved, so a missing one shows before
    the publish fails on it). DS answers an unknown one with a Java exception; any other failure is raised."""
    wanted = datasource_type.upper()
    try:
        found = await deps.gateway.get_datasource(name, wanted)
    except DolphinGatewayError as exc:
        if "not found" in exc.java_message.lower() or "can not find" in exc.java_message.lower():
            return DatasourceView(name=name, type=wanted, exists=False)
        raise
    return DatasourceView(name=name, type=wanted, exists=True, id=found.id)


# ---------------------------------------------------------------------------------------------------------------
# Integration config


async def sync_integration_config(deps: Deps, values: Mapping[str, Any]) -> None:
    """Upsert this environment's ``workflow_integration_config`` row (token references only)."""
    async with unit_of_work(deps.sessions) as s:
        await repo.upsert_config(s, values)
