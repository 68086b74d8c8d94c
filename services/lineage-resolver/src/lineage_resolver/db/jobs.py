"""Queries of the OpenLineage job ↔ task mapping (``openlineage_job_task``, ``openlineage_job_pattern``,
``openlineage_unmapped_job``); on the caller's session, flushes, never commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, delete, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from lineage_resolver.db.tables import openlineage_job_pattern, openlineage_job_task, openlineage_unmapped_job
from lineage_resolver.domain import JobPattern, StoredPattern, TableName, TaskId

_T = openlineage_job_task
_P = openlineage_job_pattern
_U = openlineage_unmapped_job


@dataclass(frozen=True, slots=True)
class JobIdentity:
    namespace: str
    name: str
    task_id: TaskId
    set_by: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PatternRecord:
    stored: StoredPattern
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UnmappedJob:
    namespace: str
    name: str
    event_id: str
    event_time: datetime
    producer: str | None
    reads: tuple[TableName, ...]
    writes: tuple[TableName, ...]
    seen_count: int
    first_seen_at: datetime
    last_seen_at: datetime


def _identity(row: object) -> JobIdentity:
    return JobIdentity(row.namespace, row.name, row.task_id, row.set_by, row.updated_at)  # type: ignore[attr-defined]


def _pattern(row: object) -> PatternRecord:
    r = row
    rule = JobPattern(name_regex=r.name_regex, namespace=r.namespace)  # type: ignore[attr-defined]
    return PatternRecord(StoredPattern(r.id, r.position, rule), r.created_by, r.created_at)  # type: ignore[attr-defined]


def _unmapped(row: object) -> UnmappedJob:
    r = row
    return UnmappedJob(
        r.namespace,  # type: ignore[attr-defined]
        r.name,  # type: ignore[attr-defined]
        r.event_id,  # type: ignore[attr-defined]
        r.event_time,  # type: ignore[attr-defined]
        r.producer,  # type: ignore[attr-defined]
        tuple(r.reads),  # type: ignore[attr-defined]
        tuple(r.writes),  # type: ignore[attr-defined]
        r.seen_count,  # type: ignore[attr-defined]
        r.first_seen_at,  # type: ignore[attr-defined]
        r.last_seen_at,  # type: ignore[attr-defined]
    )


# -- a task's job identity (exact rules) ----------------------------------------------------------------------------


async def identity_of_job(session: AsyncSession, namespace: str, name: str) -> JobIdentity | None:
    row = (await session.execute(select(_T).where(_T.c.namespace == namespace, _T.c.name == name))).first()
    return _identity(row) if row is not None else None


async def identities_of_tasks(session: AsyncSession, task_ids: Collection[TaskId]) -> dict[TaskId, JobIdentity]:
    rows = await session.execute(select(_T).where(_T.c.task_id.in_(sorted(set(task_ids)))))
    return {r.task_id: _identity(r) for r in rows}


async def apply_identity(
    session: AsyncSession, task_id: TaskId, job: tuple[str, str] | None, revision: int, set_by: str
) -> bool:
    """Definition's ``task_id`` has the identity ``job`` (``None``: none) as of ``revision``; whether the mapping
    changed. One task's events arrive in order, two tasks' in any: a job held here by another task under a later
    revision stays there (that task took it after this event), one held under an earlier revision (or none: a row
    from before the events) moves to ``task_id``."""
    mine = (await session.execute(select(_T.c.revision).where(_T.c.task_id == task_id))).first()
    if mine is not None and mine.revision is not None and mine.revision > revision:
        return False  # a later state of this task is applied already
    changed = bool((await session.execute(delete(_T).where(_T.c.task_id == task_id))).rowcount)  # type: ignore[attr-defined]
    if job is None:
        return changed
    namespace, name = job
    holder = (
        await session.execute(select(_T.c.task_id, _T.c.revision).where(_T.c.namespace == namespace, _T.c.name == name))
    ).first()
    if holder is not None and holder.revision is not None and holder.revision > revision:
        return changed
    await session.execute(delete(_T).where(_T.c.namespace == namespace, _T.c.name == name))
    await session.execute(
        pg_insert(_T).values(namespace=namespace, name=name, task_id=task_id, set_by=set_by, revision=revision)
    )
    return True


async def delete_identities(session: AsyncSession, task_ids: Collection[TaskId]) -> int:
    result = await session.execute(delete(_T).where(_T.c.task_id.in_(sorted(set(task_ids)))))
    return int(result.rowcount)  # type: ignore[attr-defined]


# -- pattern rules ---------------------------------------------------------------------------------------------------


async def patterns(session: AsyncSession) -> list[PatternRecord]:
    rows = await session.execute(select(_P).order_by(_P.c.position, _P.c.id))
    return [_pattern(r) for r in rows]


async def pattern_by_id(session: AsyncSession, pattern_id: int) -> PatternRecord | None:
    row = (await session.execute(select(_P).where(_P.c.id == pattern_id))).first()
    return _pattern(row) if row is not None else None


async def pattern_by_rule(session: AsyncSession, rule: JobPattern) -> PatternRecord | None:
    same_ns = _P.c.namespace.is_(None) if rule.namespace is None else _P.c.namespace == rule.namespace
    row = (await session.execute(select(_P).where(_P.c.name_regex == rule.name_regex, same_ns))).first()
    return _pattern(row) if row is not None else None


async def insert_pattern(
    session: AsyncSession, rule: JobPattern, position: int | None, created_by: str
) -> PatternRecord:
    """A new rule at ``position`` (the rules from there on move one down), or last when ``None``."""
    if position is None:
        last = (await session.execute(select(func.max(_P.c.position)))).scalar()
        position = 1 if last is None else int(last) + 1
    else:
        await session.execute(update(_P).where(_P.c.position >= position).values(position=_P.c.position + 1))
    row = (
        await session.execute(
            pg_insert(_P)
            .values(position=position, name_regex=rule.name_regex, namespace=rule.namespace, created_by=created_by)
            .returning(_P)
        )
    ).one()
    return _pattern(row)


async def update_pattern(session: AsyncSession, pattern_id: int, rule: JobPattern, position: int) -> PatternRecord:
    row = (
        await session.execute(
            update(_P)
            .where(_P.c.id == pattern_id)
            .values(position=position, name_regex=rule.name_regex, namespace=rule.namespace)
            .returning(_P)
        )
    ).one()
    return _pattern(row)


async def delete_pattern(session: AsyncSession, pattern_id: int) -> bool:
    result = await session.execute(delete(_P).where(_P.c.id == pattern_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def lock_rules(session: AsyncSession, *, shared: bool) -> None:
    """Serialise changes of the rules (exclusive) against the handling of RunEvents (shared): a job parked while a
    rule that maps it is being added would otherwise stay parked. One transaction-level advisory lock."""
    lock = func.pg_advisory_xact_lock_shared if shared else func.pg_advisory_xact_lock
    await session.execute(select(lock(func.hashtext("lineage.openlineage_rules"))))


async def pattern_count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(_P))).scalar_one())


# -- unmapped jobs --------------------------------------------------------------------------------------------------


async def park_unmapped(
    session: AsyncSession,
    *,
    namespace: str,
    name: str,
    event_id: str,
    event_time: datetime,
    producer: str | None,
    reads: Sequence[TableName],
    writes: Sequence[TableName],
    keep: int,
) -> None:
    """Remember a job no rule maps with the datasets of its latest updating run (an older run arriving late only
    counts as seen); at most ``keep`` jobs are kept, the least recently seen are forgotten."""
    stmt = pg_insert(_U).values(
        namespace=namespace,
        name=name,
        event_id=event_id,
        event_time=event_time,
        producer=producer,
        reads=sorted(reads),
        writes=sorted(writes),
    )
    newer = stmt.excluded.event_time >= _U.c.event_time

    def newest(column: str) -> ColumnElement[object]:
        return case((newer, stmt.excluded[column]), else_=_U.c[column])

    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[_U.c.namespace, _U.c.name],
            set_={
                "event_id": newest("event_id"),
                "event_time": newest("event_time"),
                "producer": newest("producer"),
                "reads": newest("reads"),
                "writes": newest("writes"),
                "seen_count": _U.c.seen_count + 1,
                "last_seen_at": func.now(),
            },
        )
    )
    keep_ids = select(_U.c.namespace, _U.c.name).order_by(_U.c.last_seen_at.desc()).limit(keep)
    await session.execute(delete(_U).where(tuple_(_U.c.namespace, _U.c.name).not_in(keep_ids)))


async def unmapped_jobs(
    session: AsyncSession, *, limit: int, search: str | None = None
) -> tuple[list[UnmappedJob], int]:
    query = select(_U)
    count = select(func.count()).select_from(_U)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        cond = or_(_U.c.namespace.ilike(like), _U.c.name.ilike(like))
        query, count = query.where(cond), count.where(cond)
    rows = await session.execute(query.order_by(_U.c.last_seen_at.desc(), _U.c.namespace, _U.c.name).limit(limit))
    total = int((await session.execute(count)).scalar_one())
    return [_unmapped(r) for r in rows], total


async def all_unmapped(session: AsyncSession) -> list[UnmappedJob]:
    rows = await session.execute(select(_U).order_by(_U.c.event_time, _U.c.namespace, _U.c.name))
    return [_unmapped(r) for r in rows]


async def unmapped_job(session: AsyncSession, namespace: str, name: str) -> UnmappedJob | None:
    row = (await session.execute(select(_U).where(_U.c.namespace == namespace, _U.c.name == name))).first()
    return _unmapped(row) if row is not None else None


async def forget_unmapped(session: AsyncSession, jobs: Collection[tuple[str, str]]) -> None:
    if jobs:
        await session.execute(delete(_U).where(tuple_(_U.c.namespace, _U.c.name).in_(sorted(jobs))))
