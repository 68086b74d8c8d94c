"""Task ownership (``workflow_task_relation``): which workflow a task is in, in line with the current version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    bindparam,
    cast,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from definition.db.repository.reads import _BIGINT_ARRAY
from definition.db.repository.tasks import _dep
from definition.db.tables import (
    data_task,
    data_workflow,
    publish_request,
    workflow_task_relation,
    workflow_version,
)


@dataclass(frozen=True)
class RelationRows:
    """Column-wise rows for one statement: node attributes as JSON text."""

    task_ids: list[int]
    attrs: list[str]
    ups: list[int]
    downs: list[int]

    def params(self) -> dict[str, Any]:
        return {"task_ids": self.task_ids, "attrs": self.attrs, "ups": self.ups, "downs": self.downs}


async def workflow_task_ids(session: AsyncSession, workflow_id: int) -> list[int]:
    c = workflow_task_relation.c
    return list((await session.execute(select(c.task_id).where(c.workflow_id == workflow_id))).scalars())


async def delete_workflow(session: AsyncSession, workflow_id: int) -> None:
    """The workflow, its relations, versions and publish requests (their foreign keys first)."""
    w = data_workflow.c
    await session.execute(
        update(data_workflow)
        .where(w.id == workflow_id)
        .values(current_version_id=None, approved_version_id=None, last_published_version_id=None)
    )
    await session.execute(delete(workflow_task_relation).where(workflow_task_relation.c.workflow_id == workflow_id))
    await session.execute(delete(publish_request).where(publish_request.c.workflow_id == workflow_id))
    await session.execute(delete(workflow_version).where(workflow_version.c.workflow_id == workflow_id))
    await session.execute(delete(data_workflow).where(w.id == workflow_id))


async def lock_task(session: AsyncSession, task_id: int) -> bool:
    """``SELECT … FOR UPDATE`` of the task; whether it exists."""
    stmt = select(data_task.c.id).where(data_task.c.id == task_id).with_for_update()
    return (await session.execute(stmt)).first() is not None


async def delete_task(session: AsyncSession, task_id: int) -> None:
    await session.execute(delete(_dep).where(_dep.c.task_id == task_id))
    await session.execute(delete(data_task).where(data_task.c.id == task_id))


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
