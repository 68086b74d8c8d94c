"""Internal HTTP API (called by the gateway and tools; thin: parse → use case → map). Errors are problem JSON
(``common.http``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from common.app import deps_of
from common.errors import ValidationFailed
from common.events import LineageChanged, TaskDependencyChanged
from common.identity import acting
from common.roles import Role
from lineage_resolver import openlineage_jobs as ol
from lineage_resolver import service
from lineage_resolver.db import jobs
from lineage_resolver.deps import Deps
from lineage_resolver.domain import path_to
from lineage_resolver.messages import commands_from_event
from lineage_resolver.service import Direction

MAX_DEPTH = 20
MAX_VIEW_IDS = 1000
MAX_PAGE = 1000
#: the table lineage view: hops each side, and the tables and tasks it lists at most
MAX_LINEAGE_DEPTH = 5
MAX_LINEAGE_TABLES = 500
MAX_LINEAGE_TASKS = 500
#: impact with paths: tables and tasks reached at most
MAX_AFFECTED = 2000
#: links among a workflow's tasks: tasks per request, (source, task) pairs visited at most
MAX_LINK_IDS = 500
MAX_LINK_VISITS = 200_000
MAX_SEARCH = 100

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


def _parse_ids(raw: list[str], limit: int = MAX_VIEW_IDS) -> list[int]:
    ids: list[int] = []
    for part in (p.strip() for chunk in raw for p in chunk.split(",")):
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise ValidationFailed(f"task_ids: {part!r} is not a task id")
        ids.append(int(part))
    if not ids:
        raise ValidationFailed("task_ids: give at least one task id")
    if len(ids) > limit:
        raise ValidationFailed(f"task_ids: at most {limit} ids per request")
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


class TableMatchOut(BaseModel):
    table: str
    readers: int
    writers: int


class TableSearchOut(BaseModel):
    items: list[TableMatchOut]


class LineageTableOut(BaseModel):
    table: str
    #: hops from the centre table upstream / downstream (``null``: not on that side); the centre is 0 on both
    upstream_distance: int | None
    downstream_distance: int | None


class LineageTaskOut(BaseModel):
    task_id: int
    upstream_distance: int | None
    downstream_distance: int | None
    #: the listed tables the task reads and writes
    reads: list[str]
    writes: list[str]


class TableEdgeOut(BaseModel):
    source_table: str
    target_table: str


class TableLineageOut(BaseModel):
    table: str
    depth: int
    tables: list[LineageTableOut]
    tasks: list[LineageTaskOut]
    #: table lineage edges among the listed tables (data moved by something other than a platform task)
    table_edges: list[TableEdgeOut]
    #: the walk stopped at a cap: more tables or tasks lie beyond what is listed
    truncated: bool


class PathStepOut(BaseModel):
    kind: Literal["table", "task"]
    table: str | None = None
    task_id: int | None = None


class AffectedTaskOut(BaseModel):
    task_id: int
    distance: int
    #: from the changed table to the task: tables and tasks in order
    path: list[PathStepOut]


class AffectedOut(BaseModel):
    table: str
    depth: int
    tables: list[TableDistance]
    tasks: list[AffectedTaskOut]
    truncated: bool


class DirectLinkOut(BaseModel):
    upstream_task_id: int
    downstream_task_id: int
    #: tables the upstream writes and the downstream reads (empty: through table lineage)
    tables: list[str]


class TaskLinksOut(BaseModel):
    task_ids: list[int]
    depth: int
    direct: list[DirectLinkOut]
    #: (upstream, downstream) pairs among ``task_ids`` linked through any tasks within ``depth`` dependencies
    reachable: list[tuple[int, int]]
    #: the tasks lineage has tables for
    known: list[int]
    truncated: bool


@router.get("/tables")
async def search_tables(
    deps: DepsDep,
    q: Annotated[str, Query(max_length=200, description="part of the name, case-insensitive")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_SEARCH)] = 20,
) -> TableSearchOut:
    """Table names lineage knows (read or written by a task, or named by a lineage edge) containing ``q``."""
    found = await service.search_tables(deps, q.strip(), limit)
    return TableSearchOut(items=[TableMatchOut(table=m.table, readers=m.readers, writers=m.writers) for m in found])


@router.get("/tables/{name:path}/lineage")
async def get_table_lineage(
    deps: DepsDep,
    name: str,
    depth: Annotated[int, Query(ge=1, le=MAX_LINEAGE_DEPTH)] = 2,
) -> TableLineageOut:
    """The tasks that write and read table ``name`` and the tables up to ``depth`` hops up- and downstream (a hop:
    through a task that reads one and writes the other, or a lineage edge); 404 ``unknown-table``."""
    g = await service.table_lineage(deps, name, depth, max_tables=MAX_LINEAGE_TABLES, max_tasks=MAX_LINEAGE_TASKS)
    names = sorted(g.upstream.keys() | g.downstream.keys())
    return TableLineageOut(
        table=g.table,
        depth=g.depth,
        tables=[
            LineageTableOut(table=t, upstream_distance=g.upstream.get(t), downstream_distance=g.downstream.get(t))
            for t in names
        ],
        tasks=[
            LineageTaskOut(
                task_id=t,
                upstream_distance=g.task_upstream.get(t),
                downstream_distance=g.task_downstream.get(t),
                reads=sorted(g.reads.get(t, ())),
                writes=sorted(g.writes.get(t, ())),
            )
            for t in sorted(g.task_upstream.keys() | g.task_downstream.keys())
        ],
        table_edges=[TableEdgeOut(source_table=s, target_table=t) for s, t in sorted(g.table_edges)],
        truncated=g.truncated,
    )


@router.get("/tables/{name:path}/affected")
async def get_affected(
    deps: DepsDep,
    name: str,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 10,
) -> AffectedOut:
    """Impact analysis: every table and task downstream of ``name`` once, at its shortest distance (steps as in
    ``/impact``), each task with the path it is reached by; 404 ``unknown-table``."""
    impact = await service.affected_by_table(deps, name, depth, max_nodes=MAX_AFFECTED)
    tables = [
        TableDistance(table=t, distance=d)
        for t, d in sorted(impact.tables.items(), key=lambda kv: (kv[1], kv[0]))
        if t != name
    ]
    tasks = [
        AffectedTaskOut(
            task_id=t,
            distance=d,
            path=[
                PathStepOut(kind="table", table=ref) if isinstance(ref, str) else PathStepOut(kind="task", task_id=ref)
                for _, ref in path_to(impact, t)
            ],
        )
        for t, d in sorted(impact.tasks.items(), key=lambda kv: (kv[1], kv[0]))
    ]
    return AffectedOut(table=name, depth=depth, tables=tables, tasks=tasks, truncated=impact.truncated)


@router.get("/task-links")
async def get_task_links(
    deps: DepsDep,
    task_ids: Annotated[list[str], Query(description="task ids, comma-separated and/or repeated")],
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 10,
) -> TaskLinksOut:
    """The lineage dependencies among ``task_ids`` (a workflow's tasks): direct ones with their tables, and which
    are linked through other tasks within ``depth`` dependencies."""
    ids = _parse_ids(task_ids, MAX_LINK_IDS)
    links = await service.links_among(deps, ids, depth, max_visits=MAX_LINK_VISITS)
    return TaskLinksOut(
        task_ids=ids,
        depth=depth,
        direct=[
            DirectLinkOut(upstream_task_id=u, downstream_task_id=d, tables=sorted(tables))
            for (u, d), tables in sorted(links.direct.items())
        ],
        reachable=sorted(links.reachable),
        known=sorted(links.known),
        truncated=links.truncated,
    )


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


# -- lineage from other systems, and the OpenLineage job <-> task mapping ---------------------------------------------


class LineageEventOut(BaseModel):
    event_id: str
    #: applied | ignored | unmapped (parked until the job is mapped) | duplicate
    status: ol.EventStatus
    #: openlineage | native
    kind: str
    reason: str | None
    task_id: int | None
    job_namespace: str | None
    job_name: str | None
    #: tasks whose upstream/downstream sets changed
    changed_tasks: list[int]


@router.post("/lineage/events")
async def post_lineage_event(
    deps: DepsDep,
    actor: Annotated[str, Depends(acting(Role.LINEAGE))],
    body: Annotated[dict[str, Any], Body(description="an OpenLineage RunEvent or a native lineage command")],
) -> LineageEventOut:
    """What other systems put on ``lineage.changed``, over HTTP (the gateway's ``POST /api/v1/lineage``)."""
    out = await ol.submit_event(deps, body)
    return LineageEventOut(
        event_id=out.event_id,
        status=out.status,
        kind=out.kind,
        reason=out.reason,
        task_id=out.task_id,
        job_namespace=out.job[0] if out.job else None,
        job_name=out.job[1] if out.job else None,
        changed_tasks=[c.task_id for c in out.changes],
    )


class JobIdentityOut(BaseModel):
    task_id: int
    namespace: str
    name: str
    set_by: str
    updated_at: datetime

    @classmethod
    def of(cls, i: jobs.JobIdentity) -> JobIdentityOut:
        return cls(task_id=i.task_id, namespace=i.namespace, name=i.name, set_by=i.set_by, updated_at=i.updated_at)


class JobIdentityPage(BaseModel):
    items: list[JobIdentityOut]


class AppliedPendingOut(BaseModel):
    namespace: str
    name: str
    task_id: int
    event_id: str
    changed_tasks: list[int]


def _applied(applied: tuple[ol.AppliedPending, ...]) -> list[AppliedPendingOut]:
    return [
        AppliedPendingOut(
            namespace=a.namespace,
            name=a.name,
            task_id=a.task_id,
            event_id=a.event_id,
            changed_tasks=[c.task_id for c in a.changes],
        )
        for a in applied
    ]


@router.get("/openlineage/task-jobs")
async def get_task_jobs(
    deps: DepsDep,
    task_ids: Annotated[list[str], Query(description="task ids, comma-separated and/or repeated")],
) -> JobIdentityPage:
    """The OpenLineage job identity of each task that has one."""
    found = await ol.task_jobs(deps, _parse_ids(task_ids))
    return JobIdentityPage(items=[JobIdentityOut.of(found[t]) for t in sorted(found)])


class PatternIn(BaseModel):
    #: a regular expression that must match the whole job name, with a named group ``task_id`` (digits)
    name_regex: str = Field(min_length=1, max_length=1024)
    #: only jobs of this namespace (``null``: any)
    namespace: str | None = Field(default=None, min_length=1, max_length=1024)
    #: 1 = tried first; ``null``: last (create) or unchanged (update)
    position: int | None = Field(default=None, ge=1, le=100_000)


class PatternOut(BaseModel):
    id: int
    position: int
    name_regex: str
    namespace: str | None
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, p: jobs.PatternRecord) -> PatternOut:
        return cls(
            id=p.stored.id,
            position=p.stored.position,
            name_regex=p.stored.rule.name_regex,
            namespace=p.stored.rule.namespace,
            created_by=p.created_by,
            created_at=p.created_at,
        )


class PatternSetOut(PatternOut):
    applied: list[AppliedPendingOut]


class PatternPage(BaseModel):
    items: list[PatternOut]


@router.get("/openlineage/patterns")
async def get_patterns(deps: DepsDep) -> PatternPage:
    """The stored pattern rules in the order they are tried (after the tasks' exact job identities)."""
    return PatternPage(items=[PatternOut.of(p) for p in await ol.list_patterns(deps)])


@router.post("/openlineage/patterns", status_code=201)
async def post_pattern(
    deps: DepsDep, actor: Annotated[str, Depends(acting(Role.EDITOR))], body: PatternIn
) -> PatternSetOut:
    out = await ol.create_pattern(deps, body.name_regex, body.namespace, body.position, actor)
    return PatternSetOut(**PatternOut.of(out.pattern).model_dump(), applied=_applied(out.applied))


@router.put("/openlineage/patterns/{pattern_id}")
async def put_pattern(
    deps: DepsDep,
    actor: Annotated[str, Depends(acting(Role.EDITOR))],
    pattern_id: Annotated[int, Path(ge=1)],
    body: PatternIn,
) -> PatternSetOut:
    out = await ol.update_pattern(deps, pattern_id, body.name_regex, body.namespace, body.position)
    return PatternSetOut(**PatternOut.of(out.pattern).model_dump(), applied=_applied(out.applied))


@router.delete("/openlineage/patterns/{pattern_id}", status_code=204)
async def delete_pattern(
    deps: DepsDep, actor: Annotated[str, Depends(acting(Role.EDITOR))], pattern_id: Annotated[int, Path(ge=1)]
) -> Response:
    await ol.delete_pattern(deps, pattern_id)
    return Response(status_code=204)


class UnmappedJobOut(BaseModel):
    namespace: str
    name: str
    #: the latest updating run's datasets (as table names): applied to the task once the job is mapped
    reads: list[str]
    writes: list[str]
    event_id: str
    event_time: datetime
    producer: str | None
    seen_count: int
    first_seen_at: datetime
    last_seen_at: datetime


class UnmappedJobPage(BaseModel):
    items: list[UnmappedJobOut]
    total: int


@router.get("/openlineage/unmapped-jobs")
async def get_unmapped_jobs(
    deps: DepsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    q: Annotated[str | None, Query(max_length=200, description="part of the job namespace or name")] = None,
) -> UnmappedJobPage:
    """Recently seen OpenLineage jobs no rule maps to a task, the most recently seen first."""
    found, total = await ol.list_unmapped(deps, limit=limit, search=q)
    items = [
        UnmappedJobOut(
            namespace=j.namespace,
            name=j.name,
            reads=list(j.reads),
            writes=list(j.writes),
            event_id=j.event_id,
            event_time=j.event_time,
            producer=j.producer,
            seen_count=j.seen_count,
            first_seen_at=j.first_seen_at,
            last_seen_at=j.last_seen_at,
        )
        for j in found
    ]
    return UnmappedJobPage(items=items, total=total)
