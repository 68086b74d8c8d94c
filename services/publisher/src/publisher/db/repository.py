"""Every query of the publisher. Functions take the caller's session, flush at most, never commit."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, TextClause, and_, bindparam, case, exists, func, insert, literal, or_, select, update
from sqlalchemy import true as sa_true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import ValuesShape, frozen_statement, shape_values, values_shape
from publisher.db.tables import (
    OPEN_REPUBLISH_ITEM_STATUSES,
    ds_restore,
    engine_task_code,
    engine_workflow,
    republish_item,
    republish_run,
    workflow_integration_config,
    workflow_publish_record,
)

R = workflow_publish_record
UNFINISHED = ("pending", "running")

# -- integration config -----------------------------------------------------------------------------------------


async def upsert_config(session: AsyncSession, values: Mapping[str, Any]) -> None:
    """Insert or refresh the row of one environment."""
    c = workflow_integration_config.c
    stmt = pg_insert(workflow_integration_config).values(**values)
    changes: dict[str, Any] = {k: stmt.excluded[k] for k in values if k != "name"}
    changes["updated_at"] = func.now()
    # a known project code survives a restart, but not a change of project
    changes["project_code"] = case((c.project_name == stmt.excluded.project_name, c.project_code), else_=None)
    await session.execute(stmt.on_conflict_do_update(index_elements=[c.name], set_=changes))


async def config_row(session: AsyncSession, name: str) -> Row[Any] | None:
    c = workflow_integration_config.c
    return (await session.execute(select(workflow_integration_config).where(c.name == name))).first()


async def set_project_code(session: AsyncSession, name: str, project_name: str, code: int) -> None:
    c = workflow_integration_config.c
    await session.execute(
        update(workflow_integration_config)
        .where(c.name == name, c.project_name == project_name)
        .values(project_code=code, updated_at=func.now())
    )


# -- publish records: the publish queue ------------------------------------------------------------------------


async def insert_record(session: AsyncSession, values: Mapping[str, Any]) -> int | None:
    """The new record's id, or None when a record with this request id exists already."""
    shape = values_shape(values)
    if shape is None:  # an expression with parameters of its own: compiled for this call
        stmt: Any = pg_insert(R).values(**values).on_conflict_do_nothing(index_elements=[R.c.request_id])
        new_id = (await session.execute(stmt.returning(R.c.id))).scalar_one_or_none()
    else:
        params = {name: values[name] for name, sql in shape if sql is None}
        new_id = (await session.execute(_insert_record(shape), params)).scalar_one_or_none()
    return None if new_id is None else int(new_id)


@functools.lru_cache(maxsize=32)
def _insert_record(shape: ValuesShape) -> TextClause:
    """The insert of a record with these columns, compiled once (``common.db.frozen_statement``)."""
    stmt = (
        pg_insert(R)
        .values(shape_values(shape))
        .on_conflict_do_nothing(index_elements=[R.c.request_id])
        .returning(R.c.id)
    )
    return frozen_statement(stmt, {name: R.c[name].type for name, sql in shape if sql is None})


async def record_by_request(session: AsyncSession, request_id: uuid.UUID) -> Row[Any] | None:
    return (await session.execute(select(R).where(R.c.request_id == request_id))).first()


async def record_by_id(session: AsyncSession, record_id: int) -> Row[Any] | None:
    return (await session.execute(select(R).where(R.c.id == record_id))).first()


async def retried_request_ids(session: AsyncSession, record_id: int) -> list[uuid.UUID]:
    """The request ids of the record and of the records it retries, back to the first request (whose approval a
    retry carries)."""
    chain = select(R.c.id, R.c.request_id, R.c.retry_of).where(R.c.id == record_id).cte("chain", recursive=True)
    chain = chain.union_all(select(R.c.id, R.c.request_id, R.c.retry_of).join(chain, R.c.id == chain.c.retry_of))
    return [uuid.UUID(str(r)) for r in (await session.execute(select(chain.c.request_id).limit(1000))).scalars()]


async def republish_source(session: AsyncSession, record_id: int) -> Row[Any] | None:
    """The record a republish repeats (``republish_of``) for this record or the nearest record it retries (a retry
    or restore attempt of a failed republish carries the same approval)."""
    start = select(R.c.id, R.c.retry_of, R.c.republish_of, literal(0).label("depth")).where(R.c.id == record_id)
    base = start.cte("chain", recursive=True)
    step = select(R.c.id, R.c.retry_of, R.c.republish_of, (base.c.depth + 1).label("depth"))
    chain = base.union_all(step.join(base, R.c.id == base.c.retry_of))
    source = (
        select(chain.c.republish_of)
        .where(chain.c.republish_of.is_not(None))
        .order_by(chain.c.depth)
        .limit(1)
        .scalar_subquery()
    )
    return (await session.execute(select(R).where(R.c.id == source))).first()


async def record_id_of_request(session: AsyncSession, request_id: uuid.UUID) -> int | None:
    return (await session.execute(select(R.c.id).where(R.c.request_id == request_id))).scalar_one_or_none()


def _claimable(lease_s: float) -> Any:
    """Pending, or running with an expired lease (its worker died) or released (its process restarted), and no
    older unfinished record of the same workflow: records of one workflow run strictly in order, one at a time,
    across every worker and replica."""
    older = R.alias("older")
    expired = R.c.claimed_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, lease_s)
    return and_(
        or_(R.c.status == "pending", and_(R.c.status == "running", or_(R.c.claimed_at.is_(None), expired))),
        ~exists().where(older.c.workflow_id == R.c.workflow_id, older.c.id < R.c.id, older.c.status.in_(UNFINISHED)),
    )


async def claim(session: AsyncSession, *, lease_s: float, owner: str, record_id: int | None = None) -> Row[Any] | None:
    """Claim one record (the given one, or the oldest claimable) for running: ``running``, lease from now, the
    claiming process's ``owner`` id, ``attempts + 1`` (the fencing token of this claim)."""
    candidate = select(R.c.id).where(_claimable(lease_s)).order_by(R.c.id).limit(1).with_for_update(skip_locked=True)
    if record_id is not None:
        candidate = candidate.where(R.c.id == record_id)
    stmt = (
        update(R)
        .where(R.c.id == candidate.scalar_subquery())
        .values(status="running", claimed_at=func.now(), claimed_by=owner, attempts=R.c.attempts + 1)
        .returning(*R.c)
    )
    return (await session.execute(stmt)).first()


async def release_claims(session: AsyncSession, owner: str) -> list[int]:
    """Release the records ``owner`` left running (its process died): claimable at once; returns their ids."""
    stmt = update(R).where(R.c.status == "running", R.c.claimed_by == owner).values(claimed_at=None).returning(R.c.id)
    return [int(i) for i in (await session.execute(stmt)).scalars()]


async def heartbeat(session: AsyncSession, record_id: int, attempt: int) -> bool:
    stmt = (
        update(R)
        .where(R.c.id == record_id, R.c.attempts == attempt, R.c.status == "running")
        .values(claimed_at=func.now())
    )
    return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def finish_record(session: AsyncSession, record_id: int, attempt: int, values: Mapping[str, Any]) -> bool:
    """Write the outcome, only if this claim still holds the record (same attempt, still running)."""
    stmt = (
        update(R)
        .where(R.c.id == record_id, R.c.attempts == attempt, R.c.status == "running")
        .values(**values, finished_at=func.now())
        .returning(R.c.id)
    )
    return (await session.execute(stmt)).first() is not None


async def list_records(
    session: AsyncSession, workflow_id: int, *, limit: int, offset: int
) -> tuple[list[Row[Any]], int]:
    cols = [c for c in R.c if c.name != "snapshot"]
    rows = (
        await session.execute(
            select(*cols).where(R.c.workflow_id == workflow_id).order_by(R.c.id.desc()).limit(limit).offset(offset)
        )
    ).all()
    count = select(func.count()).select_from(R).where(R.c.workflow_id == workflow_id)
    total = (await session.execute(count)).scalar_one()
    return list(rows), int(total)


async def newer_applied_record(session: AsyncSession, workflow_id: int, after_id: int) -> Row[Any] | None:
    """A later record of the workflow that changed or confirmed DS state (a retry must not roll it back)."""
    stmt = (
        select(R)
        .where(R.c.workflow_id == workflow_id, R.c.id > after_id, R.c.status.in_(("success", "skipped_unchanged")))
        .order_by(R.c.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).first()


async def record_by_key(session: AsyncSession, scope: str, key: str) -> Row[Any] | None:
    """The record a retry with this idempotency key of this caller made."""
    stmt = select(R).where(R.c.idempotency_scope == scope, R.c.idempotency_key == key)
    return (await session.execute(stmt)).first()


async def latest_retry_of(session: AsyncSession, record_id: int) -> Row[Any] | None:
    stmt = select(R).where(R.c.retry_of == record_id).order_by(R.c.id.desc()).limit(1)
    return (await session.execute(stmt)).first()


async def abandoned_count(session: AsyncSession, lease_s: float) -> int:
    stmt = select(func.count()).select_from(R).where(_claimable(lease_s))
    return int((await session.execute(stmt)).scalar_one())


# -- task codes -------------------------------------------------------------------------------------------------


async def task_codes(session: AsyncSession, workflow_id: int) -> dict[int, int]:
    c = engine_task_code.c
    rows = await session.execute(select(c.task_id, c.ds_task_code).where(c.workflow_id == workflow_id))
    return {int(r.task_id): int(r.ds_task_code) for r in rows}


async def add_task_codes(session: AsyncSession, workflow_id: int, codes: Mapping[int, int]) -> None:
    if codes:
        await session.execute(
            insert(engine_task_code),
            [{"workflow_id": workflow_id, "task_id": t, "ds_task_code": c} for t, c in codes.items()],
        )


async def last_deployed_record(session: AsyncSession, workflow_id: int, content_hash: str) -> Row[Any] | None:
    """The newest successful deploy/online record whose definition has ``content_hash`` (what DS should hold)."""
    r = workflow_publish_record.c
    stmt = (
        select(workflow_publish_record)
        .where(
            r.workflow_id == workflow_id,
            r.content_hash == content_hash,
            r.status == "success",
            r.operation.in_(("deploy", "online")),
        )
        .order_by(r.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).first()


# -- engine workflows -------------------------------------------------------------------------------------------


async def engine_workflow_of(session: AsyncSession, workflow_id: int) -> Row[Any] | None:
    c = engine_workflow.c
    return (await session.execute(select(engine_workflow).where(c.workflow_id == workflow_id))).first()


async def engine_workflows_of(session: AsyncSession, workflow_ids: Sequence[int]) -> dict[int, Row[Any]]:
    c = engine_workflow.c
    rows = await session.execute(select(engine_workflow).where(c.workflow_id.in_(list(workflow_ids))))
    return {int(r.workflow_id): r for r in rows}


async def workflow_of_engine_code(session: AsyncSession, workflow_code: int) -> int | None:
    """The platform workflow whose DS workflow has this code, if any."""
    c = engine_workflow.c
    owner = (await session.execute(select(c.workflow_id).where(c.workflow_code == workflow_code))).scalar()
    return int(owner) if owner is not None else None


async def upsert_engine_workflow(session: AsyncSession, workflow_id: int, values: Mapping[str, Any]) -> None:
    """``values`` are plain values (no SQL expressions)."""
    await session.execute(_upsert_engine_workflow(tuple(values)), {**values, "workflow_id": workflow_id})


@functools.lru_cache(maxsize=32)
def _upsert_engine_workflow(columns: tuple[str, ...]) -> TextClause:
    """The upsert of these columns, compiled once (``common.db.frozen_statement``)."""
    E = engine_workflow
    stmt = pg_insert(E).values({c: bindparam(c) for c in ("workflow_id", *columns)})
    changes: dict[str, Any] = {c: stmt.excluded[c] for c in columns}
    changes["updated_at"] = func.now()
    stmt = stmt.on_conflict_do_update(index_elements=[E.c.workflow_id], set_=changes)
    return frozen_statement(stmt, {c: E.c[c].type for c in ("workflow_id", *columns)})


# -- DS restores ------------------------------------------------------------------------------------------------

D = ds_restore


async def restore_of(session: AsyncSession, workflow_id: int, *, for_update: bool = False) -> Row[Any] | None:
    stmt = select(D).where(D.c.workflow_id == workflow_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).first()


async def upsert_restore(session: AsyncSession, workflow_id: int, values: Mapping[str, Any]) -> None:
    stmt = pg_insert(D).values(workflow_id=workflow_id, **values)
    changes: dict[str, Any] = {k: stmt.excluded[k] for k in values}
    changes["updated_at"] = func.now()
    await session.execute(stmt.on_conflict_do_update(index_elements=[D.c.workflow_id], set_=changes))


async def end_restore(session: AsyncSession, workflow_id: int, ds_release_state: str | None) -> bool:
    """Mark the workflow's restore ``restored`` unless it is already (or there is none); True when one ended."""
    stmt = (
        update(D)
        .where(D.c.workflow_id == workflow_id, D.c.status != "restored")
        .values(status="restored", ds_release_state=ds_release_state, next_attempt_at=None, updated_at=func.now())
        .returning(D.c.workflow_id)
    )
    return (await session.execute(stmt)).first() is not None


async def update_restore(session: AsyncSession, workflow_id: int, values: Mapping[str, Any]) -> Row[Any] | None:
    stmt = update(D).where(D.c.workflow_id == workflow_id).values(**values, updated_at=func.now()).returning(*D.c)
    return (await session.execute(stmt)).first()


async def workflow_busy(session: AsyncSession, workflow_id: int) -> bool:
    """Whether a record of the workflow is pending or running."""
    stmt = select(exists().where(R.c.workflow_id == workflow_id, R.c.status.in_(UNFINISHED)))
    return bool((await session.execute(stmt)).scalar_one())


async def due_restores(session: AsyncSession, limit: int) -> list[Row[Any]]:
    """Restores whose next attempt is due and whose workflow has no unfinished record (none running now), locked
    for this transaction (replicas share the work)."""
    busy = exists().where(R.c.workflow_id == D.c.workflow_id, R.c.status.in_(UNFINISHED))
    stmt = (
        select(D)
        .where(D.c.status == "restoring", D.c.next_attempt_at <= func.now(), ~busy)
        .order_by(D.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).all())


async def restore_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(D.c.status, func.count()).group_by(D.c.status))
    return {str(status): int(n) for status, n in rows.tuples()}


# -- bulk republish (publisher.republish) -----------------------------------------------------------------------

RR = republish_run
RI = republish_item


async def db_now(session: AsyncSession) -> Any:
    """The database's clock (one clock for every replica sharing a run's rate limit)."""
    return (await session.execute(select(func.clock_timestamp()))).scalar_one()


async def deployed_workflows(
    session: AsyncSession, *, after: int, limit: int, only: Sequence[int] | None
) -> list[Row[Any]]:
    """Deployed workflows (``engine_workflow`` with a deployed hash) by id after ``after``, each with the newest
    successful deploy/online record of that hash (its ``record_id``, ``snapshot``; ``None`` if there is none)."""
    e = engine_workflow.c
    newest = (
        select(R.c.id, R.c.snapshot)
        .where(
            R.c.workflow_id == e.workflow_id,
            R.c.content_hash == e.last_deployed_hash,
            R.c.status == "success",
            R.c.operation.in_(("deploy", "online")),
        )
        .order_by(R.c.id.desc())
        .limit(1)
        .lateral("newest")
    )
    stmt = (
        select(e.workflow_id, e.last_deployed_hash, newest.c.id.label("record_id"), newest.c.snapshot)
        .select_from(engine_workflow.outerjoin(newest, sa_true()))
        .where(e.last_deployed_hash.is_not(None), e.workflow_id > after)
        .order_by(e.workflow_id)
        .limit(limit)
    )
    if only is not None:
        stmt = stmt.where(e.workflow_id.in_(list(only)))
    return list((await session.execute(stmt)).all())


async def task_codes_of(session: AsyncSession, workflow_ids: Sequence[int]) -> dict[int, dict[int, int]]:
    c = engine_task_code.c
    rows = await session.execute(
        select(c.workflow_id, c.task_id, c.ds_task_code).where(c.workflow_id.in_(list(workflow_ids)))
    )
    out: dict[int, dict[int, int]] = {}
    for r in rows:
        out.setdefault(int(r.workflow_id), {})[int(r.task_id)] = int(r.ds_task_code)
    return out


async def open_republish_run(session: AsyncSession) -> Row[Any] | None:
    """The run not finished yet (at most one), if any."""
    return (await session.execute(select(RR).where(RR.c.status.in_(("running", "paused"))))).first()


async def republish_run_by_id(session: AsyncSession, run_id: int, *, for_update: bool = False) -> Row[Any] | None:
    stmt = select(RR).where(RR.c.id == run_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).first()


async def latest_republish_run(session: AsyncSession) -> Row[Any] | None:
    return (await session.execute(select(RR).order_by(RR.c.id.desc()).limit(1))).first()


async def insert_republish_run(session: AsyncSession, values: Mapping[str, Any]) -> int:
    return int((await session.execute(insert(RR).values(**values).returning(RR.c.id))).scalar_one())


async def insert_republish_items(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    for start in range(0, len(rows), 1000):
        await session.execute(insert(RI), list(rows[start : start + 1000]))


async def lock_running_republish_run(session: AsyncSession) -> Row[Any] | None:
    """The running run, locked for this transaction; ``None`` when none runs or another process holds it now
    (it is dispatching: the rate limiter is its row)."""
    stmt = select(RR).where(RR.c.status == "running").with_for_update(skip_locked=True)
    return (await session.execute(stmt)).first()


async def update_republish_run(session: AsyncSession, run_id: int, values: Mapping[str, Any]) -> Row[Any] | None:
    stmt = update(RR).where(RR.c.id == run_id).values(**values, updated_at=func.now()).returning(*RR.c)
    return (await session.execute(stmt)).first()


async def republish_counts(session: AsyncSession, run_id: int) -> dict[str, int]:
    rows = await session.execute(select(RI.c.status, func.count()).where(RI.c.run_id == run_id).group_by(RI.c.status))
    return {str(status): int(n) for status, n in rows.tuples()}


async def republish_in_flight(session: AsyncSession, run_id: int) -> tuple[int, bool]:
    """The run's queued items (at most ``max_in_flight``) and whether any is pending: the dispatcher's view, cheap
    however many items the run has (the partial index of open items)."""
    queued = select(func.count()).where(RI.c.run_id == run_id, RI.c.status == "queued")
    pending = select(exists().where(RI.c.run_id == run_id, RI.c.status == "pending"))
    return int((await session.execute(queued)).scalar_one()), bool((await session.execute(pending)).scalar_one())


async def republish_finished_by_publish(session: AsyncSession, run_id: int) -> int:
    stmt = select(func.count()).where(RI.c.run_id == run_id, RI.c.record_id.is_not(None), RI.c.finished_at.is_not(None))
    return int((await session.execute(stmt)).scalar_one())


async def dispatchable_items(session: AsyncSession, run_id: int, limit: int) -> list[Row[Any]]:
    """Pending items of the run whose workflow has no unfinished publish (one in flight is waited for, not doubled),
    in workflow order, locked."""
    busy = exists().where(R.c.workflow_id == RI.c.workflow_id, R.c.status.in_(UNFINISHED))
    stmt = (
        select(RI)
        .where(RI.c.run_id == run_id, RI.c.status == "pending", ~busy)
        .order_by(RI.c.workflow_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(stmt)).all())


async def update_republish_item(
    session: AsyncSession, run_id: int, workflow_id: int, values: Mapping[str, Any]
) -> None:
    await session.execute(update(RI).where(RI.c.run_id == run_id, RI.c.workflow_id == workflow_id).values(**values))


async def finish_republish_item(session: AsyncSession, record_id: int, values: Mapping[str, Any]) -> Row[Any] | None:
    """The item of this record gets its outcome (once: only while it is queued)."""
    stmt = (
        update(RI)
        .where(RI.c.record_id == record_id, RI.c.status == "queued")
        .values(**values, finished_at=func.now())
        .returning(*RI.c)
    )
    return (await session.execute(stmt)).first()


async def cancel_pending_items(session: AsyncSession, run_id: int) -> int:
    stmt = (
        update(RI)
        .where(RI.c.run_id == run_id, RI.c.status == "pending")
        .values(status="cancelled", reason="the run was cancelled", finished_at=func.now())
    )
    return int((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]


async def republish_items(session: AsyncSession, run_id: int, *, status: str | None, limit: int) -> list[Row[Any]]:
    stmt = select(RI).where(RI.c.run_id == run_id).order_by(RI.c.workflow_id).limit(limit)
    if status is not None:
        stmt = stmt.where(RI.c.status == status)
    return list((await session.execute(stmt)).all())


async def has_open_items(session: AsyncSession, run_id: int) -> bool:
    stmt = select(exists().where(RI.c.run_id == run_id, RI.c.status.in_(OPEN_REPUBLISH_ITEM_STATUSES)))
    return bool((await session.execute(stmt)).scalar_one())
