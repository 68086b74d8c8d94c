"""Every query of the definition service. Functions take the caller's session, ``flush`` at most, never commit."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Result,
    Row,
    String,
    TextClause,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased

from common.workflow import StructureSnapshot
from definition.db.tables import (
    data_task,
    data_workflow,
    dismissed_proposal,
    orchestration_proposal,
    orchestration_proposal_task,
    publish_request,
    task_dependency_projection,
    workflow_task_relation,
    workflow_version,
)

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
    #: tasks whose upstream set contains this task (the dependency projection)
    upstream_task_id: int | None = None
    #: tasks whose downstream set contains this task
    downstream_task_id: int | None = None


def _like(text_: str) -> str:
    escaped = text_.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_dep = task_dependency_projection


def _utc(column: str) -> str:
    """A ``timestamptz`` as ISO 8601 in UTC (``…Z``), whatever the session's time zone."""
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


class Read(NamedTuple):
    """A read of ONE statement: SQL text with ``:name`` parameters, and their values. The service runs it on its
    read pool (``common.db.ReadPool``) or, without one, with :func:`read_value` in a unit of work."""

    sql: str
    params: dict[str, Any]


async def read_value(session: AsyncSession | AsyncConnection, read: Read) -> Any:
    """The single value ``read`` answers."""
    return (await session.execute(_statement(read.sql), read.params)).scalar_one()


@functools.lru_cache(maxsize=256)
def _statement(sql: str) -> TextClause:
    """The ``text()`` of a list's SQL, built once per shape (a few per list: one per combination of filters):
    ``text()`` parses the SQL for its bind parameters each time it is called, ~5 % of a list request's CPU."""
    return text(sql)


#: ``schemas.TaskListItem`` built by PostgreSQL (``t`` task, ``r`` relation, ``w`` workflow, ``d`` projection)
_TASK_ITEM_JSON = f"""json_build_object(
    'id', t.id, 'name', t.name, 'task_type', t.task_type, 'description', t.description, 'params', t.params,
    'worker_group', t.worker_group, 'owner', t.owner, 'revision', t.revision, 'workflow_id', r.workflow_id,
    'workflow_name', w.workflow_name, 'workflow_code', w.workflow_code, 'project_code', w.project_code,
    'created_by', t.created_by, 'updated_by', t.updated_by, 'created_at', {_utc("t.created_at")},
    'updated_at', {_utc("t.updated_at")}, 'upstream_count', coalesce(d.upstream_count, 0),
    'downstream_count', coalesce(d.downstream_count, 0))"""


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
        "LEFT JOIN data_workflow w ON w.id = r.workflow_id"
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
    session: AsyncSession, workflow_ids: Iterable[int], reason: str, details: Mapping[str, Any]
) -> None:
    await update_workflows(
        session, workflow_ids, {"needs_attention": True, "attention_reason": reason, "attention_details": details}
    )


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


# --- task dependency projection ------------------------------------------------------------------------------------


async def dependency_sets(session: AsyncSession, task_ids: Iterable[int]) -> dict[int, tuple[list[int], list[int]]]:
    """``task id -> (upstream ids, downstream ids)`` by lineage (the projection), for the tasks that have any."""
    ids = list(task_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(_dep.c.task_id, _dep.c.upstream_task_ids, _dep.c.downstream_task_ids).where(
            _dep.c.task_id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY))
        )
    )
    return {int(r.task_id): (list(r.upstream_task_ids), list(r.downstream_task_ids)) for r in rows}


async def put_dependencies(
    session: AsyncSession, task_id: int, upstream: Sequence[int], downstream: Sequence[int]
) -> None:
    """The task's dependency sets as lineage reports them; both empty: no row (as in lineage's view)."""
    if not upstream and not downstream:
        await session.execute(delete(_dep).where(_dep.c.task_id == task_id))
        return
    up, down = sorted(set(upstream)), sorted(set(downstream))
    ins = pg_insert(_dep).values(
        task_id=task_id,
        upstream_task_ids=up,
        downstream_task_ids=down,
        upstream_count=len(up),
        downstream_count=len(down),
        updated_at=func.now(),
    )
    await session.execute(
        ins.on_conflict_do_update(
            index_elements=[_dep.c.task_id],
            set_={
                "upstream_task_ids": ins.excluded.upstream_task_ids,
                "downstream_task_ids": ins.excluded.downstream_task_ids,
                "upstream_count": ins.excluded.upstream_count,
                "downstream_count": ins.excluded.downstream_count,
                "updated_at": ins.excluded.updated_at,
            },
        )
    )


@dataclass(frozen=True)
class DependencyRows:
    """Column-wise dependency rows of a refill (arrays as ``{1,2}`` literals)."""

    task_ids: list[int]
    ups: list[str]
    downs: list[str]


async def refill_dependencies(session: AsyncSession, rows: DependencyRows, *, fetched_after: datetime) -> int:
    """Write rows read from lineage-resolver at a time after ``fetched_after``: a row the consumer wrote since then
    is newer and kept. Rows with both sets empty delete. Returns the number of rows written or deleted."""
    if not rows.task_ids:
        return 0
    params = {"task_ids": rows.task_ids, "ups": rows.ups, "downs": rows.downs, "since": fetched_after}
    deleted = await session.execute(
        text(
            "DELETE FROM task_dependency_projection AS p USING "
            "unnest(CAST(:task_ids AS bigint[]), CAST(:ups AS text[]), CAST(:downs AS text[])) AS x(task_id, up, down) "
            "WHERE p.task_id = x.task_id AND x.up = '{}' AND x.down = '{}' AND p.updated_at < :since"
        ),
        params,
    )
    written = await session.execute(
        text(
            "INSERT INTO task_dependency_projection AS p (task_id, upstream_task_ids, downstream_task_ids, "
            "upstream_count, downstream_count, updated_at) "
            "SELECT x.task_id, CAST(x.up AS bigint[]), CAST(x.down AS bigint[]), cardinality(CAST(x.up AS bigint[])), "
            "cardinality(CAST(x.down AS bigint[])), :since FROM "
            "unnest(CAST(:task_ids AS bigint[]), CAST(:ups AS text[]), CAST(:downs AS text[])) AS x(task_id, up, down) "
            "WHERE NOT (x.up = '{}' AND x.down = '{}') "
            "ON CONFLICT (task_id) DO UPDATE SET upstream_task_ids = EXCLUDED.upstream_task_ids, "
            "downstream_task_ids = EXCLUDED.downstream_task_ids, upstream_count = EXCLUDED.upstream_count, "
            "downstream_count = EXCLUDED.downstream_count, updated_at = EXCLUDED.updated_at "
            "WHERE p.updated_at < :since"
        ),
        params,
    )
    return int(getattr(deleted, "rowcount", 0) or 0) + int(getattr(written, "rowcount", 0) or 0)


async def task_ids_after(session: AsyncSession, after: int, limit: int) -> list[int]:
    """Catalog task ids above ``after``, ascending (keyset paging of a refill)."""
    rows = await session.execute(
        select(data_task.c.id).where(data_task.c.id > after).order_by(data_task.c.id).limit(limit)
    )
    return [int(r) for r in rows.scalars()]


async def workflow_ids_after(session: AsyncSession, after: int, limit: int) -> list[int]:
    """Workflow ids above ``after``, ascending (keyset paging of a refill)."""
    rows = await session.execute(
        select(data_workflow.c.id).where(data_workflow.c.id > after).order_by(data_workflow.c.id).limit(limit)
    )
    return [int(r) for r in rows.scalars()]


async def database_now(session: AsyncSession) -> datetime:
    now: datetime = (await session.execute(select(func.clock_timestamp()))).scalar_one()
    return now


# --- versions -----------------------------------------------------------------------------------------------------


async def begin_version(session: AsyncSession) -> int:
    """The id of the version about to be written, from ``workflow_version.id``'s own sequence: rows that refer to the
    version can be written before it.

    In the same round trip, large values written by the rest of the transaction are set to be compressed with ``lz4``
    where the server has it (PostgreSQL 14+ built with it): a version's ~1 MB snapshot and its outbox event then take
    a fraction of the time ``pglz``, the default, takes. Reading is unchanged (each value records its method); a server
    without lz4 keeps its default."""
    result = await session.execute(
        text(
            "SELECT nextval(pg_get_serial_sequence('workflow_version', 'id')), "
            "(SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
            "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals))"
        )
    )
    return int(result.scalar_one())


async def insert_version(
    session: AsyncSession,
    *,
    version_id: int,
    workflow_id: int,
    version_no: int,
    snapshot_json: str,
    change_summary_json: str,
    trigger_source: str,
    content_hash: str,
    created_by: str,
) -> Row[Any]:
    """Insert version ``version_id`` (from ``begin_version``); the snapshot (canonical) and the change summary arrive
    as JSON text (no re-encoding of large documents). Returns ``id`` and ``created_at``."""
    return (
        await session.execute(
            text(
                "INSERT INTO workflow_version (id, workflow_id, version_no, structure_snapshot, change_summary, "
                "trigger_source, content_hash, created_by) OVERRIDING SYSTEM VALUE VALUES (:id, :workflow_id, "
                ":version_no, CAST(CAST(:snapshot_json AS text) AS json), "
                "CAST(CAST(:change_summary_json AS text) AS jsonb), :trigger_source, :content_hash, :created_by) "
                "RETURNING id, created_at"
            ),
            {
                "id": version_id,
                "workflow_id": workflow_id,
                "version_no": version_no,
                "snapshot_json": snapshot_json,
                "change_summary_json": change_summary_json,
                "trigger_source": trigger_source,
                "content_hash": content_hash,
                "created_by": created_by,
            },
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


# --- publish requests ---------------------------------------------------------------------------------------------


async def insert_publish_request(session: AsyncSession, values: Mapping[str, Any]) -> None:
    await session.execute(insert(publish_request).values(**values))


async def publish_request_exists(session: AsyncSession, request_id: uuid.UUID) -> bool:
    q = select(exists().where(publish_request.c.request_id == request_id))
    return bool((await session.execute(q)).scalar_one())


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


# --- auto-orchestration proposals (issue 20) ------------------------------------------------------------------------

_prop = orchestration_proposal
_prop_task = orchestration_proposal_task


async def unassigned_of(session: AsyncSession, task_ids: Iterable[int]) -> set[int]:
    """The tasks of ``task_ids`` that exist and are in no workflow."""
    ids = list(task_ids)
    if not ids:
        return set()
    rows = await session.execute(
        select(data_task.c.id).where(
            data_task.c.id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY)),
            ~exists().where(workflow_task_relation.c.task_id == data_task.c.id),
        )
    )
    return {int(r.id) for r in rows}


async def all_unassigned(session: AsyncSession) -> list[int]:
    rows = await session.execute(
        select(data_task.c.id).where(~exists().where(workflow_task_relation.c.task_id == data_task.c.id))
    )
    return [int(r.id) for r in rows]


async def all_dependencies(session: AsyncSession) -> dict[int, list[int]]:
    """``task id -> upstream ids`` of the whole projection."""
    rows = await session.execute(select(_dep.c.task_id, _dep.c.upstream_task_ids))
    return {int(r.task_id): list(r.upstream_task_ids) for r in rows if r.upstream_task_ids}


async def proposals_of_tasks(session: AsyncSession, task_ids: Iterable[int]) -> dict[int, int]:
    """``task id -> proposal id`` for the tasks of ``task_ids`` that are in a proposal."""
    ids = list(task_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(_prop_task.c.task_id, _prop_task.c.proposal_id).where(
            _prop_task.c.task_id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY))
        )
    )
    return {int(r.task_id): int(r.proposal_id) for r in rows}


async def proposal_members(session: AsyncSession, proposal_ids: Iterable[int]) -> list[int]:
    ids = list(proposal_ids)
    if not ids:
        return []
    rows = await session.execute(
        select(_prop_task.c.task_id).where(
            _prop_task.c.proposal_id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY))
        )
    )
    return [int(r.task_id) for r in rows]


async def lock_proposals_table(session: AsyncSession) -> None:
    """Regroupings one at a time (a transaction-scoped advisory lock): two concurrent ones could each read the
    other's old groups."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('definition.orchestration_proposal'))"))


async def delete_proposals(session: AsyncSession, proposal_ids: Iterable[int] | None) -> None:
    """Delete those proposals (all with ``None``) and their task rows (cascade)."""
    if proposal_ids is None:
        await session.execute(delete(_prop))
        return
    ids = list(proposal_ids)
    if ids:
        await session.execute(delete(_prop).where(_prop.c.id == func.any(cast(bindparam("ids", ids), _BIGINT_ARRAY))))


async def dismissed_among(session: AsyncSession, fingerprints: Iterable[str]) -> set[str]:
    keys = list(fingerprints)
    if not keys:
        return set()
    rows = await session.execute(
        select(dismissed_proposal.c.fingerprint).where(dismissed_proposal.c.fingerprint.in_(keys))
    )
    return {str(r.fingerprint) for r in rows}


@dataclass(frozen=True)
class ProposalRow:
    fingerprint: str
    kind: str
    workflow_id: int | None
    task_ids: list[int]
    details: dict[str, Any]
    dismissed: bool


async def insert_proposals(session: AsyncSession, rows: Sequence[ProposalRow]) -> list[int]:
    """Insert the proposals and their task rows; returns their ids in order."""
    if not rows:
        return []
    ids = [
        int(r.id)
        for r in await session.execute(
            insert(_prop).returning(_prop.c.id, sort_by_parameter_order=True),
            [
                {
                    "fingerprint": r.fingerprint,
                    "kind": r.kind,
                    "workflow_id": r.workflow_id,
                    "task_ids": r.task_ids,
                    "task_count": len(r.task_ids),
                    "details": r.details,
                    "dismissed": r.dismissed,
                }
                for r in rows
            ],
        )
    ]
    members = [{"task_id": t, "proposal_id": pid} for pid, r in zip(ids, rows, strict=True) for t in r.task_ids]
    for start in range(0, len(members), 5_000):
        await session.execute(insert(_prop_task), members[start : start + 5_000])
    return ids


async def list_proposals(
    session: AsyncSession, *, include_dismissed: bool, page: int, page_size: int
) -> tuple[int, list[Row[Any]]]:
    """Proposals, the largest first (then by id)."""
    where = [] if include_dismissed else [~_prop.c.dismissed]
    total = int((await session.execute(select(func.count()).select_from(_prop).where(*where))).scalar_one())
    rows = (
        await session.execute(
            select(_prop)
            .where(*where)
            .order_by(_prop.c.task_count.desc(), _prop.c.id)
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
    ).all()
    return total, list(rows)


async def get_proposal(session: AsyncSession, proposal_id: int, *, lock: bool = False) -> Row[Any] | None:
    q = select(_prop).where(_prop.c.id == proposal_id)
    if lock:
        q = q.with_for_update()
    return (await session.execute(q)).first()


async def dismiss_proposal(session: AsyncSession, proposal_id: int, fingerprint: str, actor: str) -> None:
    await session.execute(update(_prop).where(_prop.c.id == proposal_id).values(dismissed=True))
    await session.execute(
        pg_insert(dismissed_proposal)
        .values(fingerprint=fingerprint, dismissed_by=actor)
        .on_conflict_do_nothing(index_elements=[dismissed_proposal.c.fingerprint])
    )


async def proposal_reach(session: AsyncSession, start: Sequence[int], *, downstream: bool) -> set[int]:
    """The proposals reachable from ``start`` along the dependencies between their tasks (downstream, or upstream):
    one recursive query."""
    if not start:
        return set()
    column = "downstream_task_ids" if downstream else "upstream_task_ids"
    rows = await session.execute(
        text(
            f"""
            WITH RECURSIVE reach(pid) AS (
                SELECT unnest(CAST(:start AS bigint[]))
                UNION
                SELECT other.proposal_id
                FROM reach
                JOIN orchestration_proposal_task mine ON mine.proposal_id = reach.pid
                JOIN task_dependency_projection d ON d.task_id = mine.task_id
                JOIN orchestration_proposal_task other ON other.task_id = ANY(d.{column})
            )
            SELECT pid FROM reach
            """  # noqa: S608 - column is one of two literals
        ),
        {"start": list(start)},
    )
    return {int(r.pid) for r in rows}


async def proposal_neighbours(session: AsyncSession, proposal_ids: Sequence[int], *, downstream: bool) -> set[int]:
    """The proposals holding a task downstream (or upstream) of a task of ``proposal_ids``."""
    column = "downstream_task_ids" if downstream else "upstream_task_ids"
    rows = await session.execute(
        text(
            f"""
            SELECT DISTINCT other.proposal_id AS pid
            FROM orchestration_proposal_task mine
            JOIN task_dependency_projection d ON d.task_id = mine.task_id
            JOIN orchestration_proposal_task other ON other.task_id = ANY(d.{column})
            WHERE mine.proposal_id = ANY(CAST(:ids AS bigint[]))
            """  # noqa: S608 - column is one of two literals
        ),
        {"ids": list(proposal_ids)},
    )
    return {int(r.pid) for r in rows}


async def proposal_links(session: AsyncSession, proposal_ids: Sequence[int]) -> list[tuple[int, int]]:
    """``(upstream proposal, downstream proposal)`` pairs among ``proposal_ids`` (a dependency between their
    tasks)."""
    if not proposal_ids:
        return []
    rows = await session.execute(
        text(
            """
            SELECT DISTINCT mine.proposal_id AS up, other.proposal_id AS down
            FROM orchestration_proposal_task mine
            JOIN task_dependency_projection d ON d.task_id = mine.task_id
            JOIN orchestration_proposal_task other ON other.task_id = ANY(d.downstream_task_ids)
            WHERE mine.proposal_id = ANY(CAST(:ids AS bigint[])) AND other.proposal_id = ANY(CAST(:ids AS bigint[]))
              AND mine.proposal_id <> other.proposal_id
            """
        ),
        {"ids": list(proposal_ids)},
    )
    return [(int(r.up), int(r.down)) for r in rows]


async def all_owners(session: AsyncSession) -> dict[int, int]:
    """``task id -> workflow id`` of every task in a workflow."""
    c = workflow_task_relation.c
    return {int(r.task_id): int(r.workflow_id) for r in await session.execute(select(c.task_id, c.workflow_id))}


async def dependents_of(session: AsyncSession, workflow_id: int) -> list[int]:
    """The workflows whose current version has a DEPENDENT link to a task of ``workflow_id`` (issue 20)."""
    rows = await session.execute(
        select(data_workflow.c.id)
        .where(data_workflow.c.definition_json["upstream_workflow_ids"].contains(cast([workflow_id], JSONB)))
        .order_by(data_workflow.c.id)
    )
    return [int(r.id) for r in rows]
