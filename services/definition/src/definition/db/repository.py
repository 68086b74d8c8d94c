"""Every query of the definition service. Functions take the caller's session, ``flush`` at most, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Result,
    Row,
    String,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from common.workflow import StructureSnapshot
from definition.db.tables import data_task, data_workflow, publish_request, workflow_task_relation, workflow_version

_BIGINT_ARRAY = ARRAY(BigInteger)

# --- tasks --------------------------------------------------------------------------------------------------------

_TASK_COLUMNS = (
    data_task,
    workflow_task_relation.c.workflow_id,
    data_workflow.c.workflow_name,
    # DolphinScheduler codes of the owning workflow, so callers can link a task to DS without a second call
    data_workflow.c.workflow_code,
    data_workflow.c.project_code,
)


def _task_select() -> Any:
    return select(*_TASK_COLUMNS).select_from(
        data_task.outerjoin(workflow_task_relation, workflow_task_relation.c.task_id == data_task.c.id).outerjoin(
            data_workflow, data_workflow.c.id == workflow_task_relation.c.workflow_id
        )
    )


async def insert_task(session: AsyncSession, values: Mapping[str, Any]) -> int:
    return int((await session.execute(insert(data_task).values(**values).returning(data_task.c.id))).scalar_one())


async def get_task(session: AsyncSession, task_id: int) -> Row[Any] | None:
    return (await session.execute(_task_select().where(data_task.c.id == task_id))).first()


async def update_task(session: AsyncSession, task_id: int, expected_revision: int, values: Mapping[str, Any]) -> bool:
    """Conditional update: only when the stored revision is ``expected_revision``; bumps the revision."""
    result = await session.execute(
        update(data_task)
        .where(data_task.c.id == task_id, data_task.c.revision == expected_revision)
        .values(**values, revision=data_task.c.revision + 1, updated_at=func.now())
        .returning(data_task.c.id)
    )
    return result.first() is not None


async def task_revision(session: AsyncSession, task_id: int) -> int | None:
    return (await session.execute(select(data_task.c.revision).where(data_task.c.id == task_id))).scalar_one_or_none()


@dataclass(frozen=True)
class TaskFilter:
    ids: Sequence[int] | None = None
    workflow_id: int | None = None
    unassigned: bool = False
    name: str | None = None
    task_type: str | None = None


def _like(text_: str) -> str:
    escaped = text_.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_tasks(session: AsyncSession, f: TaskFilter, *, page: int, page_size: int) -> tuple[list[Row[Any]], int]:
    conds: list[Any] = []
    if f.ids is not None:
        conds.append(data_task.c.id.in_(f.ids))
    if f.workflow_id is not None:
        conds.append(workflow_task_relation.c.workflow_id == f.workflow_id)
    if f.unassigned:
        conds.append(workflow_task_relation.c.workflow_id.is_(None))
    if f.name:
        conds.append(func.lower(data_task.c.name).like(_like(f.name), escape="\\"))
    if f.task_type:
        conds.append(data_task.c.task_type == f.task_type)
    base = _task_select().where(*conds)
    total = int((await session.execute(select(func.count()).select_from(base.subquery()))).scalar_one())
    rows = (await session.execute(base.order_by(data_task.c.id).limit(page_size).offset((page - 1) * page_size))).all()
    return list(rows), total


async def catalog_tasks(session: AsyncSession, task_ids: Iterable[int]) -> list[Row[Any]]:
    """Catalog rows of ``task_ids`` that exist, with ``workflow_id`` of their owner (``None``: unassigned)."""
    ids = list(task_ids)
    if not ids:
        return []
    result: Result[Any] = await session.execute(
        select(
            data_task.c.id,
            data_task.c.name,
            data_task.c.task_type,
            data_task.c.description,
            data_task.c.params,
            data_task.c.worker_group,
            workflow_task_relation.c.workflow_id,
        )
        .select_from(data_task.outerjoin(workflow_task_relation, workflow_task_relation.c.task_id == data_task.c.id))
        .where(data_task.c.id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY)))
    )
    return list(result.all())


async def task_owners(session: AsyncSession, task_ids: Iterable[int]) -> dict[int, tuple[int, str] | None]:
    """``task_id -> (workflow_id, workflow_name)`` or ``None`` (unassigned) for every existing task of ``task_ids``."""
    ids = list(task_ids)
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(data_task.c.id, workflow_task_relation.c.workflow_id, data_workflow.c.workflow_name)
            .select_from(
                data_task.outerjoin(
                    workflow_task_relation, workflow_task_relation.c.task_id == data_task.c.id
                ).outerjoin(data_workflow, data_workflow.c.id == workflow_task_relation.c.workflow_id)
            )
            .where(data_task.c.id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY)))
        )
    ).all()
    return {r.id: (r.workflow_id, r.workflow_name) if r.workflow_id is not None else None for r in rows}


# --- workflows ----------------------------------------------------------------------------------------------------

_last_published = aliased(workflow_version)

_WORKFLOW_COLUMNS = (
    data_workflow,
    _last_published.c.version_no.label("last_published_version_no"),
)


def _workflow_select() -> Any:
    return select(*_WORKFLOW_COLUMNS).select_from(
        data_workflow.outerjoin(_last_published, _last_published.c.id == data_workflow.c.last_published_version_id)
    )


async def get_workflow(session: AsyncSession, workflow_id: int) -> Row[Any] | None:
    return (await session.execute(_workflow_select().where(data_workflow.c.id == workflow_id))).first()


async def lock_workflows(session: AsyncSession, workflow_ids: Iterable[int]) -> list[Row[Any]]:
    """``SELECT … FOR UPDATE`` of the workflows, locked in id order (so two lockers never deadlock)."""
    ids = sorted(set(workflow_ids))
    rows = (
        await session.execute(
            select(data_workflow.c.id).where(data_workflow.c.id.in_(ids)).order_by(data_workflow.c.id).with_for_update()
        )
    ).all()
    found = [r.id for r in rows]
    out: list[Row[Any]] = []
    for wid in found:
        row = await get_workflow(session, wid)
        assert row is not None
        out.append(row)
    return out


async def lock_workflow(session: AsyncSession, workflow_id: int) -> Row[Any] | None:
    rows = await lock_workflows(session, [workflow_id])
    return rows[0] if rows else None


async def workflow_name_owner(session: AsyncSession, name: str) -> int | None:
    return (
        await session.execute(select(data_workflow.c.id).where(data_workflow.c.workflow_name == name))
    ).scalar_one_or_none()


async def insert_workflow(session: AsyncSession, values: Mapping[str, Any]) -> int:
    return int(
        (await session.execute(insert(data_workflow).values(**values).returning(data_workflow.c.id))).scalar_one()
    )


async def update_workflow(session: AsyncSession, workflow_id: int, values: Mapping[str, Any]) -> None:
    await session.execute(update(data_workflow).where(data_workflow.c.id == workflow_id).values(**values))


async def update_workflows(session: AsyncSession, workflow_ids: Iterable[int], values: Mapping[str, Any]) -> None:
    await session.execute(update(data_workflow).where(data_workflow.c.id.in_(list(workflow_ids))).values(**values))


@dataclass(frozen=True)
class WorkflowFilter:
    name: str | None = None
    status: str | None = None
    publish_status: str | None = None
    last_execution_state: str | None = None
    needs_attention: bool | None = None


_SORTS = {
    "name": (data_workflow.c.workflow_name.asc(),),
    "-name": (data_workflow.c.workflow_name.desc(),),
    "updated_at": (data_workflow.c.updated_at.asc(), data_workflow.c.id.asc()),
    "-updated_at": (data_workflow.c.updated_at.desc(), data_workflow.c.id.desc()),
}
SORTS = tuple(_SORTS)


async def list_workflows(
    session: AsyncSession, f: WorkflowFilter, *, sort: str, page: int, page_size: int
) -> tuple[list[Row[Any]], int]:
    conds: list[Any] = []
    if f.name:
        conds.append(func.lower(data_workflow.c.workflow_name).like(_like(f.name), escape="\\"))
    if f.status:
        conds.append(data_workflow.c.status == f.status)
    if f.publish_status:
        conds.append(data_workflow.c.publish_status == f.publish_status)
    if f.last_execution_state:
        conds.append(data_workflow.c.last_execution_state == f.last_execution_state)
    if f.needs_attention is not None:
        conds.append(data_workflow.c.needs_attention.is_(f.needs_attention))
    total = int((await session.execute(select(func.count()).select_from(data_workflow).where(*conds))).scalar_one())
    rows = (
        await session.execute(
            _workflow_select().where(*conds).order_by(*_SORTS[sort]).limit(page_size).offset((page - 1) * page_size)
        )
    ).all()
    return list(rows), total


async def set_attention(
    session: AsyncSession, workflow_ids: Iterable[int], reason: str, details: Mapping[str, Any]
) -> None:
    await update_workflows(
        session, workflow_ids, {"needs_attention": True, "attention_reason": reason, "attention_details": details}
    )


async def set_execution_state(session: AsyncSession, workflow_id: int, state: str | None, at: datetime | None) -> bool:
    result = await session.execute(
        update(data_workflow)
        .where(data_workflow.c.id == workflow_id)
        .values(last_execution_state=state, last_execution_at=at)
        .returning(data_workflow.c.id)
    )
    return result.first() is not None


# --- versions -----------------------------------------------------------------------------------------------------


async def insert_version(
    session: AsyncSession,
    *,
    workflow_id: int,
    version_no: int,
    snapshot_json: str,
    change_summary: Mapping[str, Any],
    trigger_source: str,
    content_hash: str,
    created_by: str,
) -> Row[Any]:
    """Insert a version; the snapshot arrives as canonical JSON text (no re-encoding of a large document)."""
    return (
        await session.execute(
            insert(workflow_version)
            .values(
                workflow_id=workflow_id,
                version_no=version_no,
                structure_snapshot=cast(bindparam("snapshot_json", snapshot_json, type_=String), JSON),
                change_summary=change_summary,
                trigger_source=trigger_source,
                content_hash=content_hash,
                created_by=created_by,
            )
            .returning(workflow_version.c.id, workflow_version.c.created_at)
        )
    ).one()


async def snapshot_of(session: AsyncSession, version_id: int) -> StructureSnapshot:
    raw = (
        await session.execute(
            select(cast(workflow_version.c.structure_snapshot, String)).where(workflow_version.c.id == version_id)
        )
    ).scalar_one()
    return StructureSnapshot.model_validate_json(raw)


_VERSION_SUMMARY = (
    workflow_version.c.id,
    workflow_version.c.workflow_id,
    workflow_version.c.version_no,
    workflow_version.c.trigger_source,
    workflow_version.c.created_by,
    workflow_version.c.created_at,
    workflow_version.c.content_hash,
    workflow_version.c.change_summary["summary"].astext.label("summary"),
)


async def version_by_no(session: AsyncSession, workflow_id: int, version_no: int) -> Row[Any] | None:
    result: Result[Any] = await session.execute(
        select(*_VERSION_SUMMARY, workflow_version.c.change_summary).where(
            workflow_version.c.workflow_id == workflow_id, workflow_version.c.version_no == version_no
        )
    )
    return result.first()


async def version_by_id(session: AsyncSession, version_id: int) -> Row[Any] | None:
    result: Result[Any] = await session.execute(select(*_VERSION_SUMMARY).where(workflow_version.c.id == version_id))
    return result.first()


async def list_versions(
    session: AsyncSession, workflow_id: int, *, page: int, page_size: int
) -> tuple[list[Row[Any]], int]:
    total = int(
        (
            await session.execute(
                select(func.count()).select_from(workflow_version).where(workflow_version.c.workflow_id == workflow_id)
            )
        ).scalar_one()
    )
    result: Result[Any] = await session.execute(
        select(*_VERSION_SUMMARY)
        .where(workflow_version.c.workflow_id == workflow_id)
        .order_by(workflow_version.c.version_no.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return list(result.all()), total


# --- task ownership (workflow_task_relation) -----------------------------------------------------------------------


@dataclass(frozen=True)
class RelationRows:
    """Column-wise rows for one statement: node attributes as JSON text."""

    task_ids: list[int]
    attrs: list[str]
    ups: list[int]
    downs: list[int]

    def params(self) -> dict[str, Any]:
        return {"task_ids": self.task_ids, "attrs": self.attrs, "ups": self.ups, "downs": self.downs}


async def delete_relations(session: AsyncSession, workflow_id: int, task_ids: Sequence[int]) -> None:
    if task_ids:
        await session.execute(
            delete(workflow_task_relation).where(
                workflow_task_relation.c.workflow_id == workflow_id,
                workflow_task_relation.c.task_id == func.any(cast(bindparam("ids", list(task_ids)), _BIGINT_ARRAY)),
            )
        )


async def insert_relations(
    session: AsyncSession, workflow_id: int, version_id: int, mode: str, rows: RelationRows
) -> None:
    """One plain INSERT for all rows: a task owned by another workflow violates
    ``uq_workflow_task_relation_task_id``."""
    if rows.task_ids:
        await session.execute(
            text(
                "INSERT INTO workflow_task_relation (workflow_id, task_id, node_attrs, upstream_task_count, "
                "downstream_task_count, version_id, workflow_inheritance_mode) "
                "SELECT :wf, x.task_id, CAST(x.attrs AS jsonb), x.up, x.down, :v, :m FROM "
                "unnest(CAST(:task_ids AS bigint[]), CAST(:attrs AS text[]), "
                "CAST(:ups AS int[]), CAST(:downs AS int[])) "
                "AS x(task_id, attrs, up, down)"
            ),
            {"wf": workflow_id, "v": version_id, "m": mode, **rows.params()},
        )


async def update_relations(session: AsyncSession, workflow_id: int, version_id: int, rows: RelationRows) -> None:
    if rows.task_ids:
        await session.execute(
            text(
                "UPDATE workflow_task_relation AS r SET node_attrs = CAST(x.attrs AS jsonb), "
                "upstream_task_count = x.up, downstream_task_count = x.down, version_id = :v "
                "FROM "
                "unnest(CAST(:task_ids AS bigint[]), CAST(:attrs AS text[]), "
                "CAST(:ups AS int[]), CAST(:downs AS int[])) "
                "AS x(task_id, attrs, up, down)"
                " WHERE r.workflow_id = :wf AND r.task_id = x.task_id"
            ),
            {"wf": workflow_id, "v": version_id, **rows.params()},
        )


# --- publish requests ---------------------------------------------------------------------------------------------


async def insert_publish_request(session: AsyncSession, values: Mapping[str, Any]) -> None:
    await session.execute(insert(publish_request).values(**values))


async def record_publish_outcome(session: AsyncSession, values: Mapping[str, Any]) -> datetime:
    """Upsert the request with its outcome (a retry started in the publisher has a request id we never saw);
    returns the request's ``requested_at``."""
    ins = pg_insert(publish_request).values(**values)
    stmt = ins.on_conflict_do_update(
        index_elements=[publish_request.c.request_id],
        set_={
            "status": ins.excluded.status,
            "completed_at": ins.excluded.completed_at,
            "record_id": ins.excluded.record_id,
            "error": ins.excluded.error,
        },
    ).returning(publish_request.c.requested_at)
    requested_at: datetime = (await session.execute(stmt)).scalar_one()
    return requested_at


async def newer_pending_request(
    session: AsyncSession, workflow_id: int, request_id: uuid.UUID, requested_at: datetime
) -> bool:
    q = select(
        exists().where(
            publish_request.c.workflow_id == workflow_id,
            publish_request.c.status == "pending",
            publish_request.c.request_id != request_id,
            publish_request.c.requested_at >= requested_at,
        )
    )
    return bool((await session.execute(q)).scalar_one())


async def version_exists(session: AsyncSession, workflow_id: int, version_id: int) -> bool:
    q = select(exists().where(workflow_version.c.id == version_id, workflow_version.c.workflow_id == workflow_id))
    return bool((await session.execute(q)).scalar_one())
