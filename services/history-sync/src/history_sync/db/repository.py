"""Every query of history-sync. Functions take the caller's session; they flush, never commit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from history_sync.db.tables import (
    alert_incident,
    engine_version_map,
    sync_run,
    task_fetch,
    task_run,
    tracked_workflow,
    workflow_instance_cache,
)
from history_sync.domain.alerts import RATE, STREAK, OpenIncidents
from history_sync.domain.executions import Execution
from history_sync.domain.task_metrics import TaskRun
from history_sync.domain.tracking import Tracking


@dataclass(frozen=True)
class TrackedWorkflow:
    """A tracked workflow with its sync state."""

    tracking: Tracking
    last_synced_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    next_sync_at: datetime
    lease_owner: str | None
    #: a run was started or a publish finished then (``None``: never): the cache is stale until a later sync
    refresh_requested_at: datetime | None = None

    @property
    def refresh_pending(self) -> bool:
        asked = self.refresh_requested_at
        return asked is not None and (self.last_synced_at is None or self.last_synced_at < asked)

    @property
    def workflow_id(self) -> int:
        return self.tracking.workflow_id


@dataclass(frozen=True)
class Claimed:
    workflow_id: int
    engine_workflow_code: int
    project_code: int
    claimed_at: datetime
    #: the digest of the DS page the cache was written from (``None``: read the page whatever DS answers)
    page_digest: bytes | None = None


@dataclass(frozen=True)
class SyncOutcome:
    workflow_id: int
    ok: bool
    error: str | None
    at: datetime
    next_sync_at: datetime
    #: the digest of the page the cache holds after this sync: ``None`` (the next sync reads the page) or the one
    #: read now; ``unchanged``: DS answered the claimed digest (cache not written), kept if still the row's
    page_digest: bytes | None = None
    unchanged: bool = False


def _tracked(row: Any) -> TrackedWorkflow:
    return TrackedWorkflow(
        tracking=Tracking(
            workflow_id=row.id,
            engine_workflow_code=row.engine_workflow_code,
            project_code=row.project_code,
            release_state=row.release_state,
            online_since=row.online_since,
            offline_at=row.offline_at,
            last_publish_at=row.last_publish_at,
        ),
        last_synced_at=row.last_synced_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        next_sync_at=row.next_sync_at,
        lease_owner=row.lease_owner,
        refresh_requested_at=row.refresh_requested_at,
    )


# --- tracked workflows -------------------------------------------------------------------------------------------


async def get_tracked(session: AsyncSession, workflow_id: int, *, for_update: bool = False) -> TrackedWorkflow | None:
    stmt = select(tracked_workflow).where(tracked_workflow.c.id == workflow_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    return None if row is None else _tracked(row)


async def get_tracked_many(session: AsyncSession, workflow_ids: Sequence[int]) -> dict[int, TrackedWorkflow]:
    if not workflow_ids:
        return {}
    rows = (await session.execute(select(tracked_workflow).where(tracked_workflow.c.id.in_(workflow_ids)))).all()
    return {r.id: _tracked(r) for r in rows}


async def save_tracking(session: AsyncSession, t: Tracking, *, sync_now: bool) -> None:
    """Insert or update the tracking columns; ``sync_now`` makes the workflow due at once."""
    values: dict[str, Any] = {
        "id": t.workflow_id,
        "engine_workflow_code": t.engine_workflow_code,
        "project_code": t.project_code,
        "release_state": t.release_state,
        "online_since": t.online_since,
        "offline_at": t.offline_at,
        "last_publish_at": t.last_publish_at,
        "updated_at": func.now(),
    }
    stmt = pg_insert(tracked_workflow).values(**values)
    set_: dict[str, Any] = {k: stmt.excluded[k] for k in values if k != "id"}
    if sync_now:
        set_["next_sync_at"] = func.now()
    await session.execute(stmt.on_conflict_do_update(index_elements=[tracked_workflow.c.id], set_=set_))


async def request_refresh(session: AsyncSession, workflow_id: int, at: datetime) -> bool:
    """Mark the workflow's cache stale as of ``at`` and make it due now; whether it is tracked."""
    c = tracked_workflow.c
    stmt = (
        update(tracked_workflow)
        .where(c.id == workflow_id)
        .values(
            refresh_requested_at=func.greatest(func.coalesce(c.refresh_requested_at, at), at),
            next_sync_at=func.now(),
        )
        .returning(c.id)
    )
    return (await session.execute(stmt)).first() is not None


async def record_engine_version(session: AsyncSession, workflow_id: int, engine_version: int, version_id: int) -> None:
    """Learn engine version -> platform version; the cached runs of that version now name it, so the next sync
    reads the page again (``page_digest`` cleared) even if DS answers the same bytes."""
    await session.execute(update(tracked_workflow).where(tracked_workflow.c.id == workflow_id).values(page_digest=None))
    stmt = pg_insert(engine_version_map).values(
        workflow_id=workflow_id, engine_version=engine_version, version_id=version_id
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[engine_version_map.c.workflow_id, engine_version_map.c.engine_version],
            set_={"version_id": stmt.excluded.version_id, "recorded_at": func.now()},
        )
    )


async def engine_versions(session: AsyncSession, workflow_ids: Sequence[int]) -> dict[tuple[int, int], int]:
    if not workflow_ids:
        return {}
    rows = (
        await session.execute(select(engine_version_map).where(engine_version_map.c.workflow_id.in_(workflow_ids)))
    ).all()
    return {(r.workflow_id, r.engine_version): r.version_id for r in rows}


# --- claims and leases -------------------------------------------------------------------------------------------

_CLAIM = text(
    """
    UPDATE tracked_workflow
       SET lease_owner = :me, lease_until = now() + make_interval(secs => CAST(:lease AS double precision))
     WHERE id IN (
           SELECT id FROM tracked_workflow
            WHERE next_sync_at <= now()
              AND (lease_until IS NULL OR lease_until < now())
              AND (release_state = 'ONLINE'
                   OR offline_at > now() - make_interval(secs => CAST(:grace AS double precision)))
            ORDER BY next_sync_at, id
            LIMIT :n
              FOR UPDATE SKIP LOCKED)
    RETURNING id, engine_workflow_code, project_code, page_digest, now() AS db_now
    """
)


async def claim_due(
    session: AsyncSession, *, replica: str, lease_s: float, limit: int, offline_grace_s: float
) -> list[Claimed]:
    """Lease up to ``limit`` due workflows to ``replica`` (other replicas skip the locked and leased ones)."""
    rows = (
        await session.execute(_CLAIM, {"me": replica, "lease": lease_s, "n": limit, "grace": offline_grace_s})
    ).all()
    return [Claimed(r.id, r.engine_workflow_code, r.project_code, r.db_now, r.page_digest) for r in rows]


_COMPLETE = text(
    """
    UPDATE tracked_workflow AS t
       SET last_synced_at = CASE WHEN u.ok THEN u.at ELSE t.last_synced_at END,
           last_error = CASE WHEN u.ok THEN NULL ELSE u.error END,
           last_error_at = CASE WHEN u.ok THEN t.last_error_at ELSE u.at END,
           next_sync_at = u.next_at,
           lease_owner = NULL,
           lease_until = NULL,
           sync_count = t.sync_count + 1,
           page_digest = CASE WHEN NOT u.ok THEN t.page_digest
                              WHEN u.unchanged THEN CASE WHEN t.page_digest = u.digest THEN u.digest END
                              ELSE u.digest END
      FROM unnest(CAST(:ids AS bigint[]), CAST(:oks AS boolean[]), CAST(:errors AS text[]),
                  CAST(:ats AS timestamptz[]), CAST(:nexts AS timestamptz[]), CAST(:digests AS bytea[]),
                  CAST(:unchanged AS boolean[])) AS u(id, ok, error, at, next_at, digest, unchanged)
     WHERE t.id = u.id AND t.lease_owner = :me
    RETURNING t.id
    """
)


async def complete_leased(session: AsyncSession, replica: str, outcomes: Sequence[SyncOutcome]) -> set[int]:
    """Record the outcomes of workflows still leased to ``replica`` and release them; returns those ids.

    The ``lease_owner`` check fences a replica whose lease expired and was taken over: its results are dropped.
    ``page_digest``: a failed sync keeps the row's; an unchanged one keeps it only if it is still the one DS
    answered (an on-demand refresh in between cleared it); otherwise the outcome's.
    The rows stay locked until the caller's transaction ends, so the cache write that follows is serialised with
    any on-demand refresh of the same workflow.
    """
    if not outcomes:
        return set()
    params = {
        "me": replica,
        "ids": [o.workflow_id for o in outcomes],
        "oks": [o.ok for o in outcomes],
        "errors": [o.error for o in outcomes],
        "ats": [o.at for o in outcomes],
        "nexts": [o.next_sync_at for o in outcomes],
        "digests": [o.page_digest for o in outcomes],
        "unchanged": [o.unchanged for o in outcomes],
    }
    return {r.id for r in (await session.execute(_COMPLETE, params)).all()}


async def release_leases(session: AsyncSession, replica: str) -> int:
    result = await session.execute(
        update(tracked_workflow)
        .where(tracked_workflow.c.lease_owner == replica)
        .values(lease_owner=None, lease_until=None)
        .returning(tracked_workflow.c.id)
    )
    return len(result.all())


async def record_sync_state(
    session: AsyncSession, workflow_id: int, *, ok: bool, error: str | None, at: datetime
) -> None:
    """State of an on-demand refresh (the periodic schedule and leases are left alone). A refresh that wrote the
    cache clears ``page_digest``: the next periodic sync reads the page again."""
    values: dict[str, Any] = (
        {"last_synced_at": at, "last_error": None, "page_digest": None}
        if ok
        else {"last_error": error, "last_error_at": at}
    )
    await session.execute(update(tracked_workflow).where(tracked_workflow.c.id == workflow_id).values(**values))


_INSERT_SYNC_RUNS = text(
    """
    INSERT INTO sync_run (workflow_id, cycle, replica, ok, claimed_at, finished_at)
    SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:cycles AS bigint[]), CAST(:replicas AS text[]),
                         CAST(:oks AS boolean[]), CAST(:claimed AS timestamptz[]), CAST(:finished AS timestamptz[]))
    """
)


async def insert_sync_runs(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """One statement with one array per column (a batch is up to ``claim_batch_size`` rows)."""
    if rows:
        params = {
            "ids": [r["workflow_id"] for r in rows],
            "cycles": [r["cycle"] for r in rows],
            "replicas": [r["replica"] for r in rows],
            "oks": [r["ok"] for r in rows],
            "claimed": [r["claimed_at"] for r in rows],
            "finished": [r["finished_at"] for r in rows],
        }
        await session.execute(_INSERT_SYNC_RUNS, params)


async def prune_sync_runs(session: AsyncSession, older_than: datetime) -> int:
    result = await session.execute(delete(sync_run).where(sync_run.c.finished_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)


async def oldest_sync(session: AsyncSession, offline_grace_s: float) -> tuple[datetime | None, int]:
    """(oldest last sync, count never synced) over the workflows that are synced now."""
    row = (
        await session.execute(
            text(
                """
                SELECT min(last_synced_at) AS oldest, count(*) FILTER (WHERE last_synced_at IS NULL) AS never
                  FROM tracked_workflow
                 WHERE release_state = 'ONLINE'
                    OR offline_at > now() - make_interval(secs => CAST(:grace AS double precision))
                """
            ),
            {"grace": offline_grace_s},
        )
    ).one()
    return row.oldest, int(row.never)


async def stale_tracked(session: AsyncSession, older_than: datetime, offline_grace_s: float) -> list[TrackedWorkflow]:
    """Synced workflows whose last successful sync (or, never synced, their last publish) is before ``older_than``."""
    reference = func.coalesce(tracked_workflow.c.last_synced_at, tracked_workflow.c.last_publish_at)
    grace = func.make_interval(0, 0, 0, 0, 0, 0, offline_grace_s)
    rows = (
        await session.execute(
            select(tracked_workflow)
            .where(
                (tracked_workflow.c.release_state == "ONLINE") | (tracked_workflow.c.offline_at > func.now() - grace),
                reference < older_than,
            )
            .order_by(reference, tracked_workflow.c.id)
        )
    ).all()
    return [_tracked(r) for r in rows]


# --- cache -------------------------------------------------------------------------------------------------------


def _execution(row: Any) -> Execution:
    return Execution(
        instance_id=row.instance_id,
        state=row.state,
        start_time=row.start_time,
        end_time=row.end_time,
        duration=row.duration,
        command_type=row.command_type,
        ds_command_type=row.ds_command_type,
        run_times=row.run_times,
        host=row.host,
        engine_version=row.engine_version,
        platform_version_id=row.platform_version_id,
    )


async def load_cache(session: AsyncSession, workflow_ids: Sequence[int]) -> dict[int, list[Execution]]:
    out: dict[int, list[Execution]] = defaultdict(list)
    if not workflow_ids:
        return out
    rows = (
        await session.execute(
            select(workflow_instance_cache)
            .where(workflow_instance_cache.c.workflow_id.in_(workflow_ids))
            .order_by(workflow_instance_cache.c.workflow_id, workflow_instance_cache.c.rank)
        )
    ).all()
    for r in rows:
        out[r.workflow_id].append(_execution(r))
    return out


async def replace_cache(session: AsyncSession, lists: Mapping[int, Sequence[Execution]], synced_at: datetime) -> None:
    """Replace the cached executions of the given workflows (rank = position in DS order)."""
    if not lists:
        return
    await session.execute(delete(workflow_instance_cache).where(workflow_instance_cache.c.workflow_id.in_(list(lists))))
    rows = [
        {
            "workflow_id": wid,
            "instance_id": e.instance_id,
            "rank": rank,
            "state": e.state,
            "start_time": e.start_time,
            "end_time": e.end_time,
            "duration": e.duration,
            "command_type": e.command_type,
            "ds_command_type": e.ds_command_type,
            "run_times": e.run_times,
            "host": e.host,
            "engine_version": e.engine_version,
            "platform_version_id": e.platform_version_id,
            "synced_at": synced_at,
        }
        for wid, executions in lists.items()
        for rank, e in enumerate(executions)
    ]
    if rows:
        await session.execute(insert(workflow_instance_cache), rows)


async def workflow_of_instance(session: AsyncSession, instance_id: int) -> int | None:
    row = (
        await session.execute(
            select(workflow_instance_cache.c.workflow_id).where(workflow_instance_cache.c.instance_id == instance_id)
        )
    ).first()
    return None if row is None else int(row.workflow_id)


async def cached_duration(session: AsyncSession, instance_id: int) -> str | None:
    row = (
        await session.execute(
            select(workflow_instance_cache.c.duration).where(workflow_instance_cache.c.instance_id == instance_id)
        )
    ).first()
    return None if row is None else row.duration


# --- incidents ---------------------------------------------------------------------------------------------------


async def open_incidents(session: AsyncSession, workflow_ids: Sequence[int]) -> dict[int, OpenIncidents]:
    out: dict[int, OpenIncidents] = {}
    if not workflow_ids:
        return out
    rows = (
        await session.execute(
            select(alert_incident.c.workflow_id, alert_incident.c.rule, alert_incident.c.incident_key).where(
                alert_incident.c.workflow_id.in_(workflow_ids), alert_incident.c.closed_at.is_(None)
            )
        )
    ).all()
    keys: dict[int, dict[str, str]] = defaultdict(dict)
    for r in rows:
        keys[r.workflow_id][r.rule] = r.incident_key
    for wid, by_rule in keys.items():
        out[wid] = OpenIncidents(streak=by_rule.get(STREAK), rate=by_rule.get(RATE))
    return out


async def open_incident(
    session: AsyncSession, workflow_id: int, rule: str, key: str, details: Mapping[str, Any], at: datetime
) -> None:
    await session.execute(
        pg_insert(alert_incident)
        .values(workflow_id=workflow_id, rule=rule, incident_key=key, details=dict(details), opened_at=at)
        .on_conflict_do_nothing()
    )


async def close_incidents(session: AsyncSession, keys: Iterable[str], at: datetime) -> None:
    keys = list(keys)
    if keys:
        await session.execute(
            update(alert_incident)
            .where(alert_incident.c.incident_key.in_(keys), alert_incident.c.closed_at.is_(None))
            .values(closed_at=at)
        )


# --- task instances of finished runs (task-level metrics) -------------------------------------------------------


async def fetched_runs(session: AsyncSession, workflow_ids: Sequence[int]) -> dict[int, int]:
    """instance id -> the ``run_times`` its task instances were read at, for the runs of these workflows."""
    if not workflow_ids:
        return {}
    rows = await session.execute(
        select(task_fetch.c.instance_id, task_fetch.c.run_times).where(task_fetch.c.workflow_id.in_(workflow_ids))
    )
    return {int(r.instance_id): int(r.run_times) for r in rows}


@dataclass(frozen=True)
class FetchedTasks:
    """The task instances of one finished run, read from DS at ``run_times``."""

    workflow_id: int
    instance_id: int
    run_times: int
    runs: Sequence[TaskRun]


async def save_task_runs(session: AsyncSession, fetched: Sequence[FetchedTasks], at: datetime) -> list[FetchedTasks]:
    """Store the task instances of runs not stored yet at that ``run_times`` (another writer may have stored them
    since they were read: those are skipped); returns what was stored."""
    if not fetched:
        return []
    done = await fetched_runs(session, sorted({f.workflow_id for f in fetched}))
    new = [f for f in fetched if done.get(f.instance_id) != f.run_times]
    if not new:
        return []
    instance_ids = [f.instance_id for f in new]
    await session.execute(delete(task_run).where(task_run.c.instance_id.in_(instance_ids)))
    rows = [
        {
            "workflow_id": r.workflow_id,
            "instance_id": r.instance_id,
            "task_instance_id": r.task_instance_id,
            "task_code": r.task_code,
            "task_name": r.task_name,
            "task_type": r.task_type,
            "state": r.state,
            "start_time": r.start_time,
            "end_time": r.end_time,
            "retry_times": r.retry_times,
        }
        for f in new
        for r in f.runs
    ]
    if rows:
        await session.execute(insert(task_run), rows)
    stmt = pg_insert(task_fetch).values(
        [
            {
                "workflow_id": f.workflow_id,
                "instance_id": f.instance_id,
                "run_times": f.run_times,
                "task_count": len(f.runs),
                "fetched_at": at,
            }
            for f in new
        ]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[task_fetch.c.instance_id],
            set_={
                "workflow_id": stmt.excluded.workflow_id,
                "run_times": stmt.excluded.run_times,
                "task_count": stmt.excluded.task_count,
                "fetched_at": stmt.excluded.fetched_at,
            },
        )
    )
    return new


async def prune_task_runs(session: AsyncSession, workflow_ids: Sequence[int]) -> None:
    """Forget the task instances of runs that are no longer in these workflows' cached last runs (call after
    ``replace_cache``)."""
    if not workflow_ids:
        return
    c = workflow_instance_cache.c
    for table in (task_run, task_fetch):
        cached = exists().where(c.workflow_id == table.c.workflow_id, c.instance_id == table.c.instance_id)
        await session.execute(delete(table).where(table.c.workflow_id.in_(list(workflow_ids)), ~cached))


async def load_task_runs(session: AsyncSession, workflow_ids: Sequence[int]) -> dict[int, list[TaskRun]]:
    out: dict[int, list[TaskRun]] = defaultdict(list)
    if not workflow_ids:
        return out
    rows = await session.execute(
        select(task_run).where(task_run.c.workflow_id.in_(workflow_ids)).order_by(task_run.c.task_instance_id)
    )
    for r in rows:
        out[r.workflow_id].append(
            TaskRun(
                workflow_id=r.workflow_id,
                instance_id=r.instance_id,
                task_instance_id=r.task_instance_id,
                task_code=r.task_code,
                task_name=r.task_name,
                task_type=r.task_type,
                state=r.state,
                start_time=r.start_time,
                end_time=r.end_time,
                retry_times=r.retry_times,
            )
        )
    return out
