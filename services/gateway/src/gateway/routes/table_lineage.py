"""Lineage for people (issue 21 item 3): search a table, its lineage a few hops out, impact analysis, and a workflow
DAG's drawn edges checked against lineage — lineage-resolver's answers with the tasks named (definition)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from common.errors import ValidationFailed
from gateway import responses as r
from gateway.auth import acting
from gateway.deps import Deps
from gateway.domain.roles import Role
from gateway.domain.table_lineage import check_dag, compose_impact, compose_lineage, parse_edges
from gateway.ports import Caller, Json
from gateway.routes.params import PROBLEM_RESPONSES, DepsDep
from gateway.service import UpstreamFailure

router = APIRouter(prefix="/lineage", tags=["lineage"], responses=PROBLEM_RESPONSES)

Viewer = Annotated[Caller, Depends(acting(Role.VIEWER))]

#: hops each side of the table view (lineage-resolver's limit), steps of impact analysis
MAX_VIEW_DEPTH = 5
MAX_IMPACT_DEPTH = 20
#: tasks per DAG check (lineage-resolver's limit per request)
MAX_CHECK_TASKS = 500
#: task ids per definition look-up (its page size limit)
NAME_BATCH = 200

TableName = Annotated[str, Query(min_length=1, max_length=1000, description="the table (as lineage names it)")]


async def _named_tasks(deps: Deps, task_ids: list[int], caller: Caller) -> tuple[dict[int, Json], list[str]]:
    """The definition service's tasks by id (name, type, workflow); ``{}`` and ``["tasks"]`` when it cannot be
    asked (the view still answers, with the ids)."""
    if not task_ids:
        return {}, []
    batches = [task_ids[i : i + NAME_BATCH] for i in range(0, len(task_ids), NAME_BATCH)]
    params = {"page": 1, "page_size": NAME_BATCH}
    try:
        pages = await asyncio.gather(*(deps.definition.list_tasks(params, b, caller) for b in batches))
    except UpstreamFailure:
        return {}, ["tasks"]
    return {int(t["id"]): t for page in pages for t in page.get("items", [])}, []


async def _named(
    deps: Deps, answer: Json, caller: Caller, compose: Callable[[Json, dict[int, Json], list[str]], Json]
) -> Json:
    tasks, unavailable = await _named_tasks(deps, [int(t["task_id"]) for t in answer["tasks"]], caller)
    return compose(answer, tasks, unavailable)


@router.get("/tables", response_model=r.TableSearch)
async def search_tables(
    deps: DepsDep,
    caller: Viewer,
    q: Annotated[str, Query(max_length=200, description="part of the name, case-insensitive")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Json:
    """Tables lineage knows (a task reads or writes it, or a lineage edge names it) whose name contains ``q``, with
    their reader and writer counts."""
    return await deps.lineage.search_tables(q, limit, caller)


@router.get("/table", response_model=r.TableLineage)
async def table_lineage(
    deps: DepsDep,
    caller: Viewer,
    name: TableName,
    depth: Annotated[int, Query(ge=1, le=MAX_VIEW_DEPTH, description="hops up- and downstream")] = 2,
) -> Json:
    """The tasks that write and read table ``name``, the tables ``depth`` hops up- and downstream with the tasks
    between them, and their workflows; 404 ``unknown-table`` when lineage does not know the table."""
    return await _named(deps, await deps.lineage.table_lineage(name, depth, caller), caller, compose_lineage)


@router.get("/impact", response_model=r.TableImpact)
async def table_impact(
    deps: DepsDep,
    caller: Viewer,
    name: TableName,
    depth: Annotated[int, Query(ge=1, le=MAX_IMPACT_DEPTH, description="steps downstream")] = 10,
) -> Json:
    """If table ``name`` is late or changes: every task and workflow downstream, once each, with the path that
    reaches it (nearest first); 404 ``unknown-table``."""
    return await _named(deps, await deps.lineage.affected(name, depth, caller), caller, compose_impact)


@router.get("/dag-check", response_model=r.DagLineageCheck)
async def dag_check(
    deps: DepsDep,
    caller: Viewer,
    task_ids: Annotated[str, Query(max_length=10_000, description="the DAG's task ids, comma-separated")],
    edges: Annotated[
        str, Query(max_length=40_000, description="the drawn edges, 'upstream-downstream' comma-separated")
    ] = "",
) -> Json:
    """A DAG being edited, against lineage: dependencies lineage suggests that are not drawn, drawn edges lineage
    contradicts (``reverse``, ``no_data_link``) and those it confirms."""
    ids: list[int] = []
    for part in (p.strip() for p in task_ids.split(",")):
        if part:
            if not part.isdigit() or int(part) < 1:
                raise ValidationFailed(f"task_ids: {part[:40]!r} is not a task id")
            ids.append(int(part))
    drawn = parse_edges(edges)
    ids = list(dict.fromkeys([*ids, *(t for e in drawn for t in e)]))
    if not ids:
        raise ValidationFailed("task_ids: give at least one task id")
    if len(ids) > MAX_CHECK_TASKS:
        raise ValidationFailed(f"task_ids: at most {MAX_CHECK_TASKS} tasks per check")
    return check_dag(drawn, await deps.lineage.task_links(ids, caller))
