"""Internal HTTP API (called by the gateway and tools; thin: parse → use case → map). Errors are problem JSON
(``common.http``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from common.app import deps_of
from common.errors import ValidationFailed
from common.events import LineageChanged, TaskDependencyChanged
from common.identity import acting
from common.roles import Role
from lineage_resolver import service
from lineage_resolver.deps import Deps
from lineage_resolver.messages import commands_from_event
from lineage_resolver.service import Direction

MAX_DEPTH = 20
MAX_VIEW_IDS = 1000
MAX_PAGE = 1000

router = APIRouter(prefix="/internal", tags=["lineage"])


def _deps(request: Request) -> Deps:
    return cast(Deps, deps_of(request))


DepsDep = Annotated[Deps, Depends(_deps)]


class TaskDistance(BaseModel):
    task_id: int
    distance: int


class TableDistance(BaseModel):
    table: str
    distance: int


class DependenciesOut(BaseModel):
    task_id: int
    direction: Direction
    depth: int
    tasks: list[TaskDistance]


class ViewRowOut(BaseModel):
    task_id: int
    upstream_task_ids: list[int]
    downstream_task_ids: list[int]
    upstream_count: int
    downstream_count: int
    #: ``None`` when the task has no row (no upstream and no downstream task)
    updated_at: datetime | None


class ViewOut(BaseModel):
    items: list[ViewRowOut]


class TaskTablesOut(BaseModel):
    task_id: int
    reads: list[str]
    writes: list[str]


class TaskTablesPage(BaseModel):
    items: list[TaskTablesOut]


class FilterOut(BaseModel):
    task_ids: list[int]
    #: pass as ``after`` to get the next page; ``None`` on the last page
    next_after: int | None


class ImpactOut(BaseModel):
    table: str
    depth: int
    tables: list[TableDistance]
    #: task ids only: the gateway maps them to workflows through the definition service
    tasks: list[TaskDistance]


class CycleOut(BaseModel):
    tasks: list[int]
    tables: list[str]
    description: str


class SelfDependencyOut(BaseModel):
    task_id: int
    tables: list[str]


class LineageOutcomeOut(BaseModel):
    event_id: str
    applied: bool
    commands: int
    changes: list[TaskDependencyChanged]
    cycles: list[CycleOut]
    self_dependencies: list[SelfDependencyOut]


class RebuildOut(BaseModel):
    dry_run: bool
    clean: bool
    missing: list[int]
    extra: list[int]
    different: list[int]
    rows_written: int
    events_emitted: int


def _distances(found: dict[int, int]) -> list[TaskDistance]:
    return [TaskDistance(task_id=t, distance=d) for t, d in sorted(found.items(), key=lambda kv: (kv[1], kv[0]))]


@router.get("/tasks/{task_id}/dependencies")
async def get_task_dependencies(
    deps: DepsDep,
    task_id: Annotated[int, Path(ge=1)],
    direction: Direction = Direction.UPSTREAM,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 1,
) -> DependenciesOut:
    found = await service.task_dependencies(deps, task_id, direction, depth)
    return DependenciesOut(task_id=task_id, direction=direction, depth=depth, tasks=_distances(found))


def _parse_ids(raw: list[str]) -> list[int]:
    ids: list[int] = []
    for part in (p.strip() for chunk in raw for p in chunk.split(",")):
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise ValidationFailed(f"task_ids: {part!r} is not a task id")
        ids.append(int(part))
    if not ids:
        raise ValidationFailed("task_ids: give at least one task id")
    if len(ids) > MAX_VIEW_IDS:
        raise ValidationFailed(f"task_ids: at most {MAX_VIEW_IDS} ids per request")
    return list(dict.fromkeys(ids))


@router.get("/dependency-view")
async def get_dependency_view(
    deps: DepsDep,
    task_ids: Annotated[list[str], Query(description="task ids, comma-separated and/or repeated")],
) -> ViewOut:
    """One row per requested task, in request order; a task without dependencies has empty lists and zero counts."""
    ids = _parse_ids(task_ids)
    records = await service.dependency_view(deps, ids)
    items: list[ViewRowOut] = []
    for t in ids:
        rec = records.get(t)
        up, down = (list(rec.upstream), list(rec.downstream)) if rec is not None else ([], [])
        items.append(
            ViewRowOut(
                task_id=t,
                upstream_task_ids=up,
                downstream_task_ids=down,
                upstream_count=len(up),
                downstream_count=len(down),
                updated_at=rec.updated_at if rec is not None else None,
            )
        )
    return ViewOut(items=items)


@router.get("/task-tables")
async def get_task_tables(
    deps: DepsDep,
    task_ids: Annotated[list[str], Query(description="task ids, comma-separated and/or repeated")],
) -> TaskTablesPage:
    """The tables each task reads and writes (what ties tasks together: a writer of a table and its readers), one
    row per requested task in request order; a task lineage knows nothing of has empty lists."""
    ids = _parse_ids(task_ids)
    found = await service.task_tables(deps, ids)
    items = []
    for t in ids:
        tables = found.get(t)
        reads, writes = (sorted(tables.reads), sorted(tables.writes)) if tables is not None else ([], [])
        items.append(TaskTablesOut(task_id=t, reads=reads, writes=writes))
    return TaskTablesPage(items=items)


@router.get("/dependency-view/filter")
async def filter_dependency_view(
    deps: DepsDep,
    upstream_task_id: Annotated[int | None, Query(ge=1)] = None,
    downstream_task_id: Annotated[int | None, Query(ge=1)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> FilterOut:
    """Tasks whose upstream set contains ``upstream_task_id`` and/or whose downstream set contains
    ``downstream_task_id`` (both given: both hold), by ascending id, ``limit`` per page."""
    if upstream_task_id is None and downstream_task_id is None:
        raise ValidationFailed("give upstream_task_id and/or downstream_task_id")
    ids = await service.filter_tasks(
        deps, upstream=upstream_task_id, downstream=downstream_task_id, after=after, limit=limit
    )
    return FilterOut(task_ids=ids, next_after=ids[-1] if len(ids) == limit else None)


@router.get("/tables/{name:path}/impact")
async def get_table_impact(
    deps: DepsDep,
    name: str,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 10,
) -> ImpactOut:
    """What a change to table ``name`` reaches downstream (lineage edges and tasks reading then writing); each step
    counts 1 (table → table, table → reading task, task → written table)."""
    impact = await service.impact_of_table(deps, name, depth)
    tables = [
        TableDistance(table=t, distance=d)
        for t, d in sorted(impact.tables.items(), key=lambda kv: (kv[1], kv[0]))
        if t != name
    ]
    return ImpactOut(table=name, depth=depth, tables=tables, tasks=_distances(dict(impact.tasks)))


@router.post("/lineage", dependencies=[Depends(acting(Role.EDITOR))])
async def post_lineage(deps: DepsDep, body: LineageChanged, dry_run: bool = False) -> LineageOutcomeOut:
    """Apply a ``LineageChanged`` through the same use case as Kafka (``dry_run``: plan and report only)."""
    outcome = await service.submit_lineage(deps, commands_from_event(body), dry_run=dry_run)
    return LineageOutcomeOut(
        event_id=outcome.event_id,
        applied=outcome.applied,
        commands=outcome.commands,
        changes=list(outcome.changes),
        cycles=[CycleOut(tasks=list(c.tasks), tables=list(c.tables), description=c.describe()) for c in outcome.cycles],
        self_dependencies=[
            SelfDependencyOut(task_id=s.task_id, tables=list(s.tables)) for s in outcome.self_dependencies
        ],
    )


@router.post("/rebuild", dependencies=[Depends(acting(Role.ADMIN))])
async def post_rebuild(deps: DepsDep, dry_run: bool = True) -> RebuildOut:
    """Recompute the dependency view from the relations and report the differences (``dry_run=false`` repairs
    them and emits ``task.dependency.changed`` for each repaired task)."""
    report = await service.rebuild_dependency_view(deps, apply=not dry_run)
    return RebuildOut(
        dry_run=report.dry_run,
        clean=report.clean,
        missing=list(report.missing),
        extra=list(report.extra),
        different=list(report.different),
        rows_written=report.rows_written,
        events_emitted=report.events_emitted,
    )
