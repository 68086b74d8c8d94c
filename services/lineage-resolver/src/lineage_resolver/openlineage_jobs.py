"""Use cases of the OpenLineage job ↔ task mapping (one transaction each) and of lineage events sent over HTTP.

The mapping is data this service reads on every RunEvent: a task's job identity (exact rule, one job per task and
one task per job) — owned by definition, which sets it with the task and publishes it on
``task.openlineage-job.set``, the table here is its projection (:func:`apply_task_job`) — then pattern rules in order
(owned here), then the configured ``LINEAGE_OPENLINEAGE`` rules as seed rules
(:class:`~lineage_resolver.domain.MappingRules`).

A RunEvent that updates lineage but whose job no rule maps is **parked** (``openlineage_unmapped_job``: the job, the
datasets of its latest updating run, how often it was seen) instead of being dead-lettered: the portal lists the
parked jobs, a person maps one (a task's identity or a pattern rule), and every parked job the rules now map has its
pending lineage applied in the same transaction as the rule change.

Rule changes take an exclusive advisory lock and event handling a shared one (``db.jobs.lock_rules``), so a job is
never parked by an event that planned against the rules a concurrent change is replacing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from enum import StrEnum
from typing import Any

from prometheus_client import Counter
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import unit_of_work
from common.errors import Conflict, NotFound, ValidationFailed
from common.events import TaskDependencyChanged, TaskOpenLineageJobSet
from lineage_resolver.db import jobs
from lineage_resolver.db.tables import inbox
from lineage_resolver.deps import Deps
from lineage_resolver.domain import (
    InvalidLineageMessage,
    Job,
    MappingRules,
    RunEvent,
    SetTaskTables,
    TaskId,
    ignored_reason,
    parse_lineage_change,
    parse_run_event,
    tables_of_run_event,
    validate_pattern,
)
from lineage_resolver.domain.commands import NATIVE_TYPES
from lineage_resolver.messages import openlineage_event_id
from lineage_resolver.service import apply_lineage_commands

log = logging.getLogger(__name__)

#: RunEvents by outcome; ``unmapped`` rising means integrations send jobs nobody mapped (the portal lists them).
#: Counted when handled: an attempt that is rolled back and retried counts again.
RUN_EVENTS = Counter(
    "lineage_openlineage_run_events_total",
    "OpenLineage RunEvents handled (Kafka and HTTP), by outcome: applied, ignored, unmapped (parked), duplicate",
    ["status"],
)

#: the inbox ``topic`` of RunEvents received over HTTP (their ids are shared with Kafka: one dedupes the other)
HTTP_ORIGIN = "http:lineage-events"


class EventStatus(StrEnum):
    APPLIED = "applied"
    IGNORED = "ignored"
    UNMAPPED = "unmapped"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What one lineage event did."""

    event_id: str
    status: EventStatus
    kind: str
    reason: str | None = None
    task_id: TaskId | None = None
    job: tuple[str, str] | None = None
    changes: tuple[TaskDependencyChanged, ...] = ()


@dataclass(frozen=True, slots=True)
class AppliedPending:
    """A parked job whose pending lineage a rule change applied."""

    namespace: str
    name: str
    task_id: TaskId
    event_id: str
    changes: tuple[TaskDependencyChanged, ...] = field(default=())


# -- rules -------------------------------------------------------------------------------------------------------------


async def _rules(session: AsyncSession, deps: Deps, keys: Collection[tuple[str, str]]) -> MappingRules:
    exact: dict[tuple[str, str], TaskId] = {}
    for namespace, name in keys:
        found = await jobs.identity_of_job(session, namespace, name)
        if found is not None:
            exact[(namespace, name)] = found.task_id
    stored = [p.stored.rule for p in await jobs.patterns(session)]
    return MappingRules(exact=exact, patterns=stored, seed=deps.openlineage)


async def _apply_pending(session: AsyncSession, deps: Deps) -> list[AppliedPending]:
    """Apply the pending lineage of every parked job the rules map now (oldest run first) and forget those jobs."""
    parked = await jobs.all_unmapped(session)
    if not parked:
        return []
    rules = await _rules(session, deps, [(p.namespace, p.name) for p in parked])
    applied: list[AppliedPending] = []
    for job in parked:
        task_id = rules.task_for(Job(namespace=job.namespace, name=job.name))
        if task_id is None:
            continue
        command = SetTaskTables(task_id=task_id, reads=frozenset(job.reads), writes=frozenset(job.writes))
        outcome = await apply_lineage_commands(session, deps, [command], cause_event_id=job.event_id)
        applied.append(AppliedPending(job.namespace, job.name, task_id, job.event_id, outcome.changes))
        log.info("pending lineage of OpenLineage job %s/%s applied to task %d", job.namespace, job.name, task_id)
    await jobs.forget_unmapped(session, [(a.namespace, a.name) for a in applied])
    return applied


# -- events --------------------------------------------------------------------------------------------------------


async def apply_run_event(session: AsyncSession, deps: Deps, event: RunEvent, *, event_id: str) -> EventOutcome:
    """A RunEvent in the caller's transaction (Kafka: the inbox's): applied to its task, ignored, or parked."""
    job = (event.job.namespace, event.job.name)
    reason = ignored_reason(event, deps.openlineage)
    if reason is not None:
        RUN_EVENTS.labels(EventStatus.IGNORED.value).inc()
        return EventOutcome(event_id, EventStatus.IGNORED, "openlineage", reason=reason, job=job)
    await jobs.lock_rules(session, shared=True)
    rules = await _rules(session, deps, [job])
    task_id = rules.task_for(event.job)
    reads, writes = tables_of_run_event(event, deps.openlineage)
    if task_id is None:
        time = event.event_time if event.event_time.tzinfo is not None else event.event_time.replace(tzinfo=UTC)
        await jobs.park_unmapped(
            session,
            namespace=job[0],
            name=job[1],
            event_id=event_id,
            event_time=time,
            producer=event.producer,
            reads=sorted(reads),
            writes=sorted(writes),
            keep=deps.unmapped_jobs_kept,
        )
        log.info(
            "OpenLineage job %s/%s is not mapped to a task: parked until it is", *job, extra={"event_id": event_id}
        )
        reason = f"OpenLineage job {job[0]!r}/{job[1]!r} is not mapped to a platform task (kept until it is)"
        RUN_EVENTS.labels(EventStatus.UNMAPPED.value).inc()
        return EventOutcome(event_id, EventStatus.UNMAPPED, "openlineage", reason=reason, job=job)
    command = SetTaskTables(task_id=task_id, reads=reads, writes=writes)
    outcome = await apply_lineage_commands(session, deps, [command], cause_event_id=event_id)
    RUN_EVENTS.labels(EventStatus.APPLIED.value).inc()
    return EventOutcome(event_id, EventStatus.APPLIED, "openlineage", task_id=task_id, job=job, changes=outcome.changes)


async def submit_event(deps: Deps, payload: Mapping[str, Any]) -> EventOutcome:
    """``POST /internal/lineage/events``: what ``lineage.changed`` carries from other systems — an OpenLineage
    RunEvent or a native command — through the same use cases as Kafka, in one transaction. A RunEvent claims its
    id in the inbox (a RunEvent sent again, over HTTP or Kafka, is a duplicate)."""
    if payload.get("type") in NATIVE_TYPES:
        command = parse_lineage_change(payload)
        event_id = f"http:{uuid.uuid4()}"
        async with unit_of_work(deps.sessions) as session:
            outcome = await apply_lineage_commands(session, deps, [command], cause_event_id=event_id)
        return EventOutcome(event_id, EventStatus.APPLIED, "native", changes=outcome.changes)
    if "run" in payload and "job" in payload:
        event = parse_run_event(payload)
        event_id = openlineage_event_id(event)
        async with unit_of_work(deps.sessions) as session:
            claimed = await session.execute(
                pg_insert(inbox)
                .values(consumer=deps.consumer_name, event_id=event_id, topic=HTTP_ORIGIN)
                .on_conflict_do_nothing()
                .returning(inbox.c.event_id)
            )
            if claimed.first() is None:
                RUN_EVENTS.labels(EventStatus.DUPLICATE.value).inc()
                job = (event.job.namespace, event.job.name)
                return EventOutcome(event_id, EventStatus.DUPLICATE, "openlineage", reason="already received", job=job)
            return await apply_run_event(session, deps, event, event_id=event_id)
    raise InvalidLineageMessage(
        "body: neither an OpenLineage RunEvent (needs 'run' and 'job') nor a native lineage command ('type' one of "
        + ", ".join(sorted(NATIVE_TYPES))
        + ")"
    )


# -- a task's job identity -----------------------------------------------------------------------------------------


async def apply_task_job(session: AsyncSession, deps: Deps, event: TaskOpenLineageJobSet) -> list[AppliedPending]:
    """``task.openlineage-job.set`` in the caller's (inbox) transaction: definition, which owns a task's job identity,
    set or cleared it; the mapping follows (``jobs.apply_identity``: later revisions win) and every parked job the
    rules map now has its pending lineage applied."""
    job = (event.job.namespace, event.job.name) if event.job is not None else None
    await jobs.lock_rules(session, shared=False)
    if not await jobs.apply_identity(session, event.task_id, job, event.revision, event.set_by):
        return []
    log.info("OpenLineage job of task %d is %s (revision %d)", event.task_id, job, event.revision)
    return await _apply_pending(session, deps)


async def task_jobs(deps: Deps, task_ids: Sequence[TaskId]) -> dict[TaskId, jobs.JobIdentity]:
    async with deps.snapshots() as session, session.begin():
        return await jobs.identities_of_tasks(session, task_ids)


# -- pattern rules -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatternOutcome:
    pattern: jobs.PatternRecord
    applied: tuple[AppliedPending, ...]


def _rule(name_regex: str, namespace: str | None) -> Any:
    try:
        return validate_pattern(name_regex, namespace)
    except ValueError as exc:
        field_name = str(exc).split(":", 1)[0]
        raise ValidationFailed(str(exc), field=field_name) from None


async def list_patterns(deps: Deps) -> list[jobs.PatternRecord]:
    async with deps.snapshots() as session, session.begin():
        return await jobs.patterns(session)


async def create_pattern(
    deps: Deps, name_regex: str, namespace: str | None, position: int | None, actor: str
) -> PatternOutcome:
    rule = _rule(name_regex, namespace)
    async with unit_of_work(deps.sessions) as session:
        await jobs.lock_rules(session, shared=False)
        same = await jobs.pattern_by_rule(session, rule)
        if same is not None:
            raise Conflict(f"the same pattern rule exists already (id {same.stored.id})", pattern_id=same.stored.id)
        if position is not None:
            position = min(position, await jobs.pattern_count(session) + 1)
        record = await jobs.insert_pattern(session, rule, position, actor)
        applied = await _apply_pending(session, deps)
    return PatternOutcome(record, tuple(applied))


async def update_pattern(
    deps: Deps, pattern_id: int, name_regex: str, namespace: str | None, position: int | None
) -> PatternOutcome:
    rule = _rule(name_regex, namespace)
    async with unit_of_work(deps.sessions) as session:
        await jobs.lock_rules(session, shared=False)
        current = await jobs.pattern_by_id(session, pattern_id)
        if current is None:
            raise NotFound(f"pattern rule {pattern_id} does not exist", pattern_id=pattern_id)
        same = await jobs.pattern_by_rule(session, rule)
        if same is not None and same.stored.id != pattern_id:
            raise Conflict(f"the same pattern rule exists already (id {same.stored.id})", pattern_id=same.stored.id)
        record = await jobs.update_pattern(
            session, pattern_id, rule, position if position is not None else current.stored.position
        )
        applied = await _apply_pending(session, deps)
    return PatternOutcome(record, tuple(applied))


async def delete_pattern(deps: Deps, pattern_id: int) -> None:
    async with unit_of_work(deps.sessions) as session:
        await jobs.lock_rules(session, shared=False)
        if not await jobs.delete_pattern(session, pattern_id):
            raise NotFound(f"pattern rule {pattern_id} does not exist", pattern_id=pattern_id)


# -- unmapped jobs -------------------------------------------------------------------------------------------------


async def list_unmapped(deps: Deps, *, limit: int, search: str | None) -> tuple[list[jobs.UnmappedJob], int]:
    async with deps.snapshots() as session, session.begin():
        return await jobs.unmapped_jobs(session, limit=limit, search=search)
