"""Tasks: the filtered task list with owners and dependency counts, and the definition service's task operations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from common.query import parse_query, query_parameters
from gateway import responses as r
from gateway import service
from gateway.auth import acting
from gateway.domain.roles import Role
from gateway.ports import Caller, Json
from gateway.routes.params import PROBLEM_RESPONSES, DepsDep, IdPath, PassThroughRoute, json_page, note
from gateway.schemas import TaskInput, TaskListQuery, TaskUpdate

router = APIRouter(prefix="/tasks", tags=["tasks"], responses=PROBLEM_RESPONSES, route_class=PassThroughRoute)

Viewer = Annotated[Caller, Depends(acting(Role.VIEWER))]
Editor = Annotated[Caller, Depends(acting(Role.EDITOR))]


@router.get("", response_model=r.TaskPage, openapi_extra=query_parameters(TaskListQuery))
async def list_tasks(request: Request, deps: DepsDep, caller: Viewer) -> Response:
    """Tasks with their workflow (name, portal link, DolphinScheduler link) and upstream/downstream counts; parts
    that could not be fetched are ``null`` and listed in ``unavailable`` (``owners``, ``counts``, ``ds_links``).
    The query is one model (``common.query``)."""
    return json_page(await service.list_tasks(deps, parse_query(TaskListQuery, request), caller))


@router.post("", status_code=201, response_model=r.TaskDetail)
async def create_task(body: TaskInput, deps: DepsDep, caller: Editor) -> Json:
    return await deps.definition.create_task(body.forward(), caller)


@router.get("/{task_id}", response_model=r.TaskView)
async def get_task(task_id: IdPath, deps: DepsDep, caller: Viewer) -> Json:
    """The task with its workflow, links and dependencies (ids and counts)."""
    return await service.task_detail(deps, task_id, caller)


@router.delete("/{task_id}", status_code=204)
async def delete_task(task_id: IdPath, request: Request, deps: DepsDep, caller: Editor) -> Response:
    """Delete a task that is in no workflow (409 ``task-in-use`` names its workflow); lineage forgets its tables."""
    note(request, "delete")
    await deps.definition.delete_task(task_id, caller)
    return Response(status_code=204)


@router.put("/{task_id}", response_model=r.Task)
async def update_task(task_id: IdPath, body: TaskUpdate, deps: DepsDep, caller: Editor) -> Json:
    """A task inside a workflow gives that workflow a new version (trigger ``task_change``)."""
    return await deps.definition.update_task(task_id, body.forward(), caller)
