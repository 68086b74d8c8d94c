"""Publish acceptance (step 1): ``publish.requested`` and a user's retry become a ``pending`` record in the publish
queue (``publish_queue``), in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from common import deadline
from common.db import unit_of_work
from common.errors import Conflict, NotFound
from common.events.models import PublishRequested
from common.telemetry import current_trace_context
from publisher.db import repository as repo
from publisher.deps import Deps
from publisher.domain.errors import IdempotencyKeyReused
from publisher.service._shared import TARGET_ENGINE
from publisher.service.publish_queue import run_publish
from publisher.service.views import PublishRecordView, get_record

logger = logging.getLogger(__name__)


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
