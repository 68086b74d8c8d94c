"""The task dependency projection (lineage-resolver's view of which task feeds which) and its refill."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    bindparam,
    cast,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from definition.db.repository.reads import _BIGINT_ARRAY
from definition.db.repository.tasks import _dep
from definition.db.tables import (
    data_task,
    data_workflow,
)


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


async def put_many_dependencies(session: AsyncSession, sets: Mapping[int, tuple[Sequence[int], Sequence[int]]]) -> None:
    """``put_dependencies`` of many tasks in two statements (a batch of events: each task's last sets)."""
    gone = sorted(t for t, (up, down) in sets.items() if not up and not down)
    if gone:
        await session.execute(
            delete(_dep).where(_dep.c.task_id == func.any(cast(bindparam("gone", gone), _BIGINT_ARRAY)))
        )
    rows = []
    for t, (upstream, downstream) in sorted(sets.items()):
        if not upstream and not downstream:
            continue
        up, down = sorted(set(upstream)), sorted(set(downstream))
        rows.append(
            {
                "task_id": t,
                "upstream_task_ids": up,
                "downstream_task_ids": down,
                "upstream_count": len(up),
                "downstream_count": len(down),
            }
        )
    if not rows:
        return
    ins = pg_insert(_dep).values(rows)
    await session.execute(
        ins.on_conflict_do_update(
            index_elements=[_dep.c.task_id],
            set_={
                "upstream_task_ids": ins.excluded.upstream_task_ids,
                "downstream_task_ids": ins.excluded.downstream_task_ids,
                "upstream_count": ins.excluded.upstream_count,
                "downstream_count": ins.excluded.downstream_count,
                "updated_at": func.now(),
            },
        )
    )


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
