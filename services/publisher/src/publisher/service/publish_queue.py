"""The publish queue (step 2): the table ``workflow_publish_record`` is the publisher's second queue, after the
``publish.requested`` topic. ``acceptance`` writes each accepted request into it as a ``pending`` record; the publish
workers (``publisher.worker``) claim one record at a time (``run_next_publish``; ``run_publish`` claims a given one):
the claim marks it ``running`` with a lease (``claimed_at``, renewed by a heartbeat) and ``attempts + 1``, the
fencing token of the claim, and reads what the run needs in the same transaction (``_prepare``). A record whose lease
expired is claimed again by any worker; a restarted process releases its own (``release_own_claims``). The claimed
record is then deployed by ``ds_run`` outside any transaction, and its outcome written only if the claim still holds
(``_finish``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import unit_of_work
from common.events.models import DeployedTaskCode, PublishCompleted, PublishOperation, PublishOutcome
from common.retry import retrying
from common.telemetry import continued_span
from publisher import republish, restore
from publisher.db import repository as repo
from publisher.deps import Deps
from publisher.service._shared import PUBLISHES
from publisher.service.ds_run import _Outcome, _Run

logger = logging.getLogger(__name__)


async def run_next_publish(deps: Deps) -> bool:
    """Claim the oldest claimable record and run it; False when there was none."""
    async with unit_of_work(deps.sessions) as s:
        row = await repo.claim(s, lease_s=deps.lease_s, owner=deps.instance_id)
        run = None if row is None else await _prepare(s, deps, row)
    if run is None:
        return False
    await _execute(run)
    return True


async def run_publish(deps: Deps, record_id: int) -> bool:
    """Run this record now if it can be claimed (pending, nothing older of its workflow unfinished)."""
    async with unit_of_work(deps.sessions) as s:
        row = await repo.claim(s, lease_s=deps.lease_s, owner=deps.instance_id, record_id=record_id)
        run = None if row is None else await _prepare(s, deps, row)
    if run is None:
        return False
    await _execute(run)
    return True


async def _prepare(s: AsyncSession, deps: Deps, row: Row[Any]) -> _Run:
    """In the claim's transaction (one round of BEGIN/COMMIT less per publish than reading after it): what the run
    needs of the database — the workflow's DS state as last confirmed, its task codes, and the request ids its
    approval may name (a retry's chain back to the first request; a first request has only its own)."""
    run = _Run(deps=deps, record=row)
    run.engine = await repo.engine_workflow_of(s, int(row.workflow_id))
    run.codes = await repo.task_codes(s, int(row.workflow_id))
    run.approved_request_ids = (
        await repo.retried_request_ids(s, int(row.id)) if row.retry_of is not None else [row.request_id]
    )
    # a republish (or a retry of one) deploys again what that record deployed, under its approval
    source = (
        await repo.republish_source(s, int(row.id))
        if row.republish_of is not None or row.retry_of is not None
        else None
    )
    if source is not None:
        run.approved_request_ids += await repo.retried_request_ids(s, int(source.id))
        run.approved_operation = str(source.operation)
    return run


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


async def _execute(run: _Run) -> None:
    """Run a claimed record inside a span continuing the trace of its request (workers run outside it)."""
    deps, row = run.deps, run.record
    attributes = {
        "publish.record_id": int(row.id),
        "workflow.id": int(row.workflow_id),
        "publish.operation": row.operation,
    }
    with continued_span("publisher.run_publish", row.trace_context, attributes=attributes):
        attempt = int(row.attempts)
        if row.log:  # the request's own note (why the platform asked)
            run.lines.extend(row.log.splitlines())
        if attempt > 1:
            run.note(f"attempt {attempt}: the previous attempt was interrupted; running the publish again")
        # the lease is renewed until the outcome is written (which may wait for the database)
        beat = asyncio.create_task(_heartbeat(deps, int(row.id), attempt))
        try:
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
    if row.republish_run_id is not None:
        deps.wake_republish()
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
        if row.republish_run_id is not None:
            await republish.after_publish(
                s, row, status=outcome.status, error_code=outcome.error_code, error=outcome.error_message
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
                task_codes=_task_codes(run, outcome),
            ),
        )
    return True


def _task_codes(run: _Run, outcome: _Outcome) -> tuple[DeployedTaskCode, ...] | None:
    """The codes of the definition DS holds, when this publish confirmed it (a success or an unchanged skip)."""
    if outcome.status == "failed" or run.deployed_task_codes is None:
        return None
    return tuple(DeployedTaskCode(task_id=t, ds_task_code=c) for t, c in sorted(run.deployed_task_codes.items()))
