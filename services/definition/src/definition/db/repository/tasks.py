"""Queries of tasks (``data_task``): the task page, the catalog of a workflow's tasks and who owns them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    Result,
    Row,
    String,
    bindparam,
    cast,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from definition.db.repository.reads import _BIGINT_ARRAY, Read, _like, _utc
from definition.db.tables import (
    data_task,
    data_workflow,
    deployed_task_code,
    openlineage_job_revision_seq,
    task_dependency_projection,
    workflow_task_relation,
)

_TASK_COLUMNS = (
    data_task,
    workflow_task_relation.c.workflow_id,
    data_workflow.c.workflow_name,
    # DolphinScheduler codes of the owning workflow, so callers can link a task to DS without a second call
    data_workflow.c.workflow_code,
    data_workflow.c.project_code,
    # and the task's own code in what DS holds of that workflow (none until a deploy that has the task)
    deployed_task_code.c.ds_task_code,
)


def _task_select() -> Any:
    return select(*_TASK_COLUMNS).select_from(
        data_task.outerjoin(workflow_task_relation, workflow_task_relation.c.task_id == data_task.c.id)
        .outerjoin(data_workflow, data_workflow.c.id == workflow_task_relation.c.workflow_id)
        .outerjoin(
            deployed_task_code,
            (deployed_task_code.c.workflow_id == workflow_task_relation.c.workflow_id)
            & (deployed_task_code.c.task_id == data_task.c.id),
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
    #: tasks whose upstream set contains this task (the dependency projection)
    upstream_task_id: int | None = None
    #: tasks whose downstream set contains this task
    downstream_task_id: int | None = None


_dep = task_dependency_projection


#: ``schemas.TaskListItem`` built by PostgreSQL (``t`` task, ``r`` relation, ``w`` workflow, ``d`` projection,
#: ``c`` deployed task code)
_TASK_ITEM_JSON = f"""json_build_object(
    'id', t.id, 'name', t.name, 'task_type', t.task_type, 'description', t.description, 'params', t.params,
    'worker_group', t.worker_group, 'owner', t.owner, 'revision', t.revision, 'workflow_id', r.workflow_id,
    'workflow_name', w.workflow_name, 'workflow_code', w.workflow_code, 'project_code', w.project_code,
    'ds_task_code', c.ds_task_code, 'openlineage_job', CASE WHEN t.openlineage_namespace IS NULL THEN NULL
    ELSE json_build_object('namespace', t.openlineage_namespace, 'name', t.openlineage_name) END,
    'created_by', t.created_by, 'updated_by', t.updated_by,
    'created_at', {_utc("t.created_at")}, 'updated_at', {_utc("t.updated_at")},
    'upstream_count', coalesce(d.upstream_count, 0), 'downstream_count', coalesce(d.downstream_count, 0))"""


def tasks_page(f: TaskFilter, *, page: int, page_size: int) -> Read:
    """The page of ``GET /internal/tasks`` (``schemas.Page[schemas.TaskListItem]``: tasks by id with owner, DS codes and
    dependency counts, and the total) as JSON text built by PostgreSQL in ONE statement. With a dependency filter the
    projection's GIN matches come first, with their counts (MATERIALIZED: PostgreSQL has no statistics for rare array
    elements and would otherwise walk a primary key from the start to fill the LIMIT), then the other filters (if
    any), then the page, then the joins of the page's rows only. The SQL is text built from the filters present (a
    Core statement of this shape costs more to key for the statement cache on every execution than the query
    takes)."""
    params: dict[str, Any] = {
        "limit": page_size,
        "offset": (page - 1) * page_size,
        "page": page,
        "page_size": page_size,
    }
    match: list[str] = []
    if f.upstream_task_id is not None:
        match.append("upstream_task_ids @> ARRAY[CAST(:up AS bigint)]")
        params["up"] = f.upstream_task_id
    if f.downstream_task_id is not None:
        match.append("downstream_task_ids @> ARRAY[CAST(:down AS bigint)]")
        params["down"] = f.downstream_task_id
    where: list[str] = []
    if f.ids is not None:
        where.append("t.id = ANY(CAST(:ids AS bigint[]))")
        params["ids"] = list(f.ids)
    if f.workflow_id is not None:
        where.append("r.workflow_id = :workflow_id")
        params["workflow_id"] = f.workflow_id
    if f.unassigned:
        where.append("r.workflow_id IS NULL")
    if f.name:
        where.append("lower(t.name) LIKE :name ESCAPE '\\'")
        params["name"] = _like(f.name)
    if f.task_type:
        where.append("t.task_type = :task_type")
        params["task_type"] = f.task_type
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    # only constant fragments are joined; every value is a bound parameter
    owned = "data_task t LEFT JOIN workflow_task_relation r ON r.task_id = t.id"
    if match:
        # the matches carry their counts (the projection's row), so the page needs no second look-up for them
        ctes = (
            "m AS MATERIALIZED (SELECT task_id AS id, upstream_count, downstream_count "
            "FROM task_dependency_projection WHERE " + " AND ".join(match) + "), "
        )
        if cond:
            ctes += f"f AS MATERIALIZED (SELECT m.* FROM m JOIN {owned} ON t.id = m.id{cond}), "  # noqa: S608
        source = "f" if cond else "m"
        ctes += f"p AS MATERIALIZED (SELECT * FROM {source} ORDER BY id LIMIT :limit OFFSET :offset)"  # noqa: S608
        total = f"(SELECT count(*) FROM {source})"  # noqa: S608
        page_rows = "p d JOIN data_task t ON t.id = d.id"
    else:
        ctes = f"p AS MATERIALIZED (SELECT t.id FROM {owned}{cond} ORDER BY t.id LIMIT :limit OFFSET :offset)"  # noqa: S608
        total = f"(SELECT count(*) FROM {owned}{cond})"  # noqa: S608
        page_rows = "p JOIN data_task t ON t.id = p.id LEFT JOIN task_dependency_projection d ON d.task_id = t.id"
    sql = (
        f"WITH {ctes} SELECT CAST(json_build_object("  # noqa: S608
        f"'items', coalesce(json_agg({_TASK_ITEM_JSON} ORDER BY t.id), '[]'::json), 'total', {total}, "
        "'page', CAST(:page AS int), 'page_size', CAST(:page_size AS int)) AS text) "
        f"FROM {page_rows} "
        "LEFT JOIN workflow_task_relation r ON r.task_id = t.id "
        "LEFT JOIN data_workflow w ON w.id = r.workflow_id "
        "LEFT JOIN deployed_task_code c ON c.workflow_id = r.workflow_id AND c.task_id = t.id"
    )
    return Read(sql, params)


class CatalogRow(NamedTuple):
    """A row of ``catalog_tasks``, as a plain tuple: reading its fields costs a small fraction of reading them from a
    database row, which counts for thousands of rows per request."""

    id: int
    name: str
    task_type: str
    description: str
    #: JSON text (not decoded: most rows are compared with what was read before, not parsed)
    params: str
    worker_group: str
    #: the owning workflow (``None``: unassigned)
    workflow_id: int | None

    @property
    def _mapping(self) -> dict[str, Any]:
        """The fields by name, as a database row offers them."""
        return self._asdict()


async def catalog_tasks(session: AsyncSession, task_ids: Iterable[int]) -> list[CatalogRow]:
    """Catalog rows of ``task_ids`` that exist."""
    ids = list(task_ids)
    if not ids:
        return []
    result: Result[Any] = await session.execute(
        select(
            data_task.c.id,
            data_task.c.name,
            data_task.c.task_type,
            data_task.c.description,
            cast(data_task.c.params, String),
            data_task.c.worker_group,
            workflow_task_relation.c.workflow_id,
        )
        .select_from(data_task.outerjoin(workflow_task_relation, workflow_task_relation.c.task_id == data_task.c.id))
        .where(data_task.c.id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY)))
    )
    return list(map(CatalogRow._make, result.all()))


async def sub_workflow_links(session: AsyncSession) -> list[tuple[int, int]]:
    """``(workflow, the workflow it runs)`` for every SUB_WORKFLOW task in a workflow (the catalog's params)."""
    child = data_task.c.params["workflow_id"].astext
    rows = await session.execute(
        select(workflow_task_relation.c.workflow_id, child)
        .select_from(data_task.join(workflow_task_relation, workflow_task_relation.c.task_id == data_task.c.id))
        .where(data_task.c.task_type == "SUB_WORKFLOW")
    )
    return [(int(parent), int(c)) for parent, c in rows if c is not None]


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


# -- the task's OpenLineage job identity -------------------------------------------------------------------------


async def task_of_job(session: AsyncSession, namespace: str, name: str) -> int | None:
    """The task whose OpenLineage job identity is ``namespace``/``name``, if any."""
    stmt = select(data_task.c.id).where(
        data_task.c.openlineage_namespace == namespace, data_task.c.openlineage_name == name
    )
    found: int | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def set_openlineage_job(session: AsyncSession, task_id: int, job: tuple[str, str] | None) -> int:
    """The task's identity becomes ``job`` (``None``: none), with a new revision from the sequence (returned)."""
    namespace, name = job if job is not None else (None, None)
    stmt = (
        update(data_task)
        .where(data_task.c.id == task_id)
        .values(
            openlineage_namespace=namespace,
            openlineage_name=name,
            openlineage_job_revision=openlineage_job_revision_seq.next_value(),
        )
        .returning(data_task.c.openlineage_job_revision)
    )
    return int((await session.execute(stmt)).scalar_one())


async def touch_task(session: AsyncSession, task_id: int, actor: str) -> None:
    """A change of the task's row other than its catalog fields: a new revision, by ``actor``."""
    await session.execute(
        update(data_task)
        .where(data_task.c.id == task_id)
        .values(revision=data_task.c.revision + 1, updated_by=actor, updated_at=func.now())
    )


async def next_job_revision(session: AsyncSession) -> int:
    """A revision for an identity change that writes no task row (the task is deleted)."""
    return int((await session.execute(select(openlineage_job_revision_seq.next_value()))).scalar_one())
