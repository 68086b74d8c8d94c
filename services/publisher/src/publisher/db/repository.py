"""Every query of the publisher. Functions take the caller's session, flush at most, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, and_, case, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from publisher.db.tables import (
    ds_restore,
    engine_task_code,
    engine_workflow,
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
    stmt = pg_insert(R).values(**values).on_conflict_do_nothing(index_elements=[R.c.request_id]).returning(R.c.id)
    new_id = (await session.execute(stmt)).scalar_one_or_none()
    return None if new_id is None else int(new_id)


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
    stmt = pg_insert(engine_workflow).values(workflow_id=workflow_id, **values)
    changes: dict[str, Any] = {k: stmt.excluded[k] for k in values}
    changes["updated_at"] = func.now()
    await session.execute(stmt.on_conflict_do_update(index_elements=[engine_workflow.c.workflow_id], set_=changes))


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
