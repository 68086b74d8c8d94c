"""Queries of workflows (``data_workflow``): rows, locks, the workflow page and the projected executions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Row,
    bindparam,
    cast,
    exists,
    false,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from definition.db.repository.reads import _BIGINT_ARRAY, Read, _like, _utc
from definition.db.tables import (
    data_workflow,
    workflow_version,
)

_last_published = aliased(workflow_version)


#: every column but ``definition_json`` (the DAG of the current version, ~70 kB for 2,000 tasks: written with each
#: version for other readers of the table, never read back by the service)
_WORKFLOW_ROW = tuple(c for c in data_workflow.c if c.key != "definition_json")
_WORKFLOW_COLUMNS = (
    *_WORKFLOW_ROW,
    _last_published.c.version_no.label("last_published_version_no"),
)


#: ``_WORKFLOW_COLUMNS`` for the ``RETURNING`` of a statement that writes the row. The version number comes from a
#: subquery on the written row; SQLAlchemy does not correlate a subquery in ``RETURNING`` with the statement's table
#: (it would add ``data_workflow`` to the subquery's FROM and read every workflow), so the subquery is written out.
_WORKFLOW_RETURNING = (
    *_WORKFLOW_ROW,
    literal_column(
        "(SELECT v.version_no FROM workflow_version AS v WHERE v.id = data_workflow.last_published_version_id)"
    ).label("last_published_version_no"),
)


def _workflow_select() -> Any:
    return select(*_WORKFLOW_COLUMNS).select_from(
        data_workflow.outerjoin(_last_published, _last_published.c.id == data_workflow.c.last_published_version_id)
    )


async def get_workflow(session: AsyncSession, workflow_id: int) -> Row[Any] | None:
    return (await session.execute(_workflow_select().where(data_workflow.c.id == workflow_id))).first()


async def lock_workflows(session: AsyncSession, workflow_ids: Iterable[int]) -> list[Row[Any]]:
    """``SELECT … FOR UPDATE`` of the workflows, locked in id order (so two lockers never deadlock): one statement,
    the rows are locked as the sort returns them."""
    ids = sorted(set(workflow_ids))
    stmt = (
        _workflow_select()
        .where(data_workflow.c.id.in_(ids))
        .order_by(data_workflow.c.id)
        .with_for_update(of=data_workflow)
    )
    return list((await session.execute(stmt)).all())


async def lock_workflow(session: AsyncSession, workflow_id: int) -> Row[Any] | None:
    rows = await lock_workflows(session, [workflow_id])
    return rows[0] if rows else None


async def workflow_states(session: AsyncSession, workflow_ids: Sequence[int]) -> list[Row[Any]]:
    """The lifecycle columns of the workflows (a light read for the gateway's checks before a run)."""
    c = data_workflow.c
    stmt = select(
        c.id, c.workflow_name, c.status, c.publish_status, c.release_state, c.workflow_code, c.current_version_no
    ).where(c.id == func.any(cast(bindparam("ids", list(workflow_ids)), _BIGINT_ARRAY)))
    return list((await session.execute(stmt.order_by(c.id))).all())


async def workflow_name_owner(session: AsyncSession, name: str) -> int | None:
    return (
        await session.execute(select(data_workflow.c.id).where(data_workflow.c.workflow_name == name))
    ).scalar_one_or_none()


async def insert_workflow(session: AsyncSession, values: Mapping[str, Any]) -> Row[Any]:
    """Insert a workflow; returns its row as ``get_workflow`` reads it."""
    return (await session.execute(insert(data_workflow).values(**values).returning(*_WORKFLOW_RETURNING))).one()


async def update_workflow(session: AsyncSession, workflow_id: int, values: Mapping[str, Any]) -> None:
    await session.execute(update(data_workflow).where(data_workflow.c.id == workflow_id).values(**values))


async def update_workflow_row(session: AsyncSession, workflow_id: int, values: Mapping[str, Any]) -> Row[Any]:
    """``update_workflow`` of an existing workflow, returning the row as ``get_workflow`` then reads it."""
    return (
        await session.execute(
            update(data_workflow)
            .where(data_workflow.c.id == workflow_id)
            .values(**values)
            .returning(*_WORKFLOW_RETURNING)
        )
    ).one()


async def update_workflows(session: AsyncSession, workflow_ids: Iterable[int], values: Mapping[str, Any]) -> None:
    await session.execute(update(data_workflow).where(data_workflow.c.id.in_(list(workflow_ids))).values(**values))


@dataclass(frozen=True)
class WorkflowFilter:
    name: str | None = None
    status: str | None = None
    publish_status: str | None = None
    last_execution_state: str | None = None
    needs_attention: bool | None = None


_SORT_SQL = {
    "name": "w.workflow_name ASC",
    "-name": "w.workflow_name DESC",
    "updated_at": "w.updated_at ASC, w.id ASC",
    "-updated_at": "w.updated_at DESC, w.id DESC",
}


SORTS = tuple(_SORT_SQL)


#: ``schemas.WorkflowListItem`` built by PostgreSQL (``approved`` is ``WorkflowState.current_is_approved``)
_LIST_ITEM_JSON = f"""json_build_object(
    'id', w.id, 'name', w.workflow_name, 'description', w.description, 'status', w.status,
    'publish_status', w.publish_status, 'workflow_code', w.workflow_code, 'project_code', w.project_code,
    'release_state', w.release_state, 'schedule_online', w.schedule_online,
    'current_version_no', w.current_version_no,
    'approved', coalesce(w.current_version_id IS NOT NULL AND w.approved_version_id = w.current_version_id, false),
    'last_published_version_no', v.version_no, 'last_execution_state', w.last_execution_state,
    'last_execution_at', {_utc("w.last_execution_at")},
    'needs_attention', w.needs_attention OR w.ds_attention IS NOT NULL,
    'attention_reason', coalesce(w.ds_attention ->> 'reason', w.attention_reason),
    'task_count', w.task_count, 'updated_at', {_utc("w.updated_at")},
    'updated_by', w.updated_by, 'last_executions', coalesce(w.last_executions, '[]'::jsonb),
    'executions_synced_at', {_utc("w.executions_synced_at")})"""


def workflows_page(f: WorkflowFilter, *, sort: str, page: int, page_size: int) -> Read:
    """The page of ``GET /internal/workflows`` (``schemas.Page[schemas.WorkflowListItem]``) as JSON text, built by
    PostgreSQL in ONE statement: the page's ids first (an index scan of ``data_workflow`` alone, skipped rows
    included), then the joins and the JSON of those rows only. Decoding each row's executions and validating and
    serialising 20 models again in Python cost more than the whole query. The total is exact: unfiltered, the
    counter the ``data_workflow`` triggers keep (16 rows) instead of counting every workflow."""
    where: list[str] = []
    params: dict[str, Any] = {
        "limit": page_size,
        "offset": (page - 1) * page_size,
        "page": page,
        "page_size": page_size,
    }
    if f.name:
        where.append("lower(w.workflow_name) LIKE :name ESCAPE '\\'")
        params["name"] = _like(f.name)
    if f.status:
        where.append("w.status = :status")
        params["status"] = f.status
    if f.publish_status:
        where.append("w.publish_status = :publish_status")
        params["publish_status"] = f.publish_status
    if f.last_execution_state:
        where.append("w.last_execution_state = :last_execution_state")
        params["last_execution_state"] = f.last_execution_state
    if f.needs_attention is not None:
        where.append("(w.needs_attention OR w.ds_attention IS NOT NULL) = :needs_attention")
        params["needs_attention"] = f.needs_attention
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    order = _SORT_SQL[sort]
    counted = f"(SELECT count(*) FROM data_workflow w{cond})"  # noqa: S608 (constant fragments)
    total = counted if where else "(SELECT coalesce(sum(n), 0) FROM workflow_counter)"
    # only constant fragments are joined; every value is a bound parameter
    sql = (
        f"WITH p AS MATERIALIZED (SELECT w.id FROM data_workflow w{cond} ORDER BY {order} "  # noqa: S608
        "LIMIT :limit OFFSET :offset) "
        f"SELECT CAST(json_build_object('items', coalesce(json_agg({_LIST_ITEM_JSON} ORDER BY {order}), '[]'::json), "
        f"'total', {total}, 'page', CAST(:page AS int), 'page_size', CAST(:page_size AS int)) AS text) "
        "FROM p JOIN data_workflow w ON w.id = p.id "
        "LEFT JOIN workflow_version v ON v.id = w.last_published_version_id"
    )
    return Read(sql, params)


async def set_attention(
    session: AsyncSession,
    workflow_ids: Iterable[int],
    reason: str,
    details: Mapping[str, Any],
    *,
    cause: str | None = None,
    weight: int = 0,
) -> list[int]:
    """Flag the workflows for manual handling; returns the ids written. The rows are locked in id order (a hub
    change flags hundreds of workflows while other events lock two of them: one order, no deadlock).

    ``cause``: the lineage event the flag comes from (``details`` carry it as ``cause_event_id``). One lineage event
    on a hub table reaches a workflow through many ``task.dependency.changed`` events; a workflow already flagged by
    the same cause is written again only when this flag weighs more (``weight``: the links it explains), so each
    workflow ends flagged once, with the fullest explanation, whatever order the events came in."""
    ids = sorted(set(workflow_ids))
    if not ids:
        return []
    w = aliased(data_workflow, name="w")
    locked = select(w.c.id).where(w.c.id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY)))
    if cause is not None:
        details = {**details, "cause_event_id": cause, "weight": weight}
        same = (
            w.c.needs_attention
            & (w.c.attention_details["cause_event_id"].astext == cause)
            & (func.coalesce(w.c.attention_details["weight"].astext.cast(BigInteger), 0) >= weight)
        )
        # a row flagged as well by the same cause is not even locked (the condition is checked again on the row's
        # newest version once a lock is waited for: READ COMMITTED's recheck)
        locked = locked.where(~func.coalesce(same, false()))  # NULL details: not the same cause
    locked = locked.order_by(w.c.id).with_for_update()
    result = await session.execute(
        update(data_workflow)
        .where(data_workflow.c.id.in_(locked.scalar_subquery()))
        .values(needs_attention=True, attention_reason=reason, attention_details=details)
        .returning(data_workflow.c.id)
    )
    return sorted(int(r[0]) for r in result)


async def attention_causes(session: AsyncSession, workflow_ids: Iterable[int]) -> dict[int, tuple[str, int]]:
    """``workflow id -> (cause event id, weight)`` of the workflows flagged by a lineage event (no lock: the flags of a
    batch of events are filtered with it, ``set_attention`` checks again on the locked row)."""
    ids = sorted(set(workflow_ids))
    if not ids:
        return {}
    c = data_workflow.c
    cause = c.attention_details["cause_event_id"].astext
    weight = func.coalesce(c.attention_details["weight"].astext.cast(BigInteger), 0)
    rows = await session.execute(
        select(c.id, cause.label("cause"), weight.label("weight")).where(
            c.id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY)), c.needs_attention, cause.is_not(None)
        )
    )
    return {int(r.id): (str(r.cause), int(r.weight)) for r in rows}


async def set_executions(
    session: AsyncSession,
    workflow_id: int,
    *,
    state: str | None,
    at: datetime | None,
    executions: Sequence[Mapping[str, Any]],
    synced_at: datetime,
) -> bool:
    """Store the last executions unless the stored ones come from a later sync; whether the row was written."""
    result = await session.execute(
        update(data_workflow)
        .where(
            data_workflow.c.id == workflow_id,
            (data_workflow.c.executions_synced_at.is_(None)) | (data_workflow.c.executions_synced_at <= synced_at),
        )
        .values(
            last_execution_state=state,
            last_execution_at=at,
            last_executions=list(executions),
            executions_synced_at=synced_at,
        )
        .returning(data_workflow.c.id)
    )
    return result.first() is not None


async def workflow_exists(session: AsyncSession, workflow_id: int) -> bool:
    return bool((await session.execute(select(exists().where(data_workflow.c.id == workflow_id)))).scalar_one())
