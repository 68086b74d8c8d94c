"""Executions, instance detail with its task instances, task logs (the history-sync service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from common.bounds import INT4_MAX
from gateway import responses as r
from gateway.auth import acting
from gateway.domain.links import with_instance_links
from gateway.domain.roles import Role
from gateway.ports import Caller, Json
from gateway.routes.params import PROBLEM_RESPONSES, DepsDep, DsInstancePath, IdPath, PassThroughRoute

router = APIRouter(
    prefix="/workflows/{workflow_id}", tags=["executions"], responses=PROBLEM_RESPONSES, route_class=PassThroughRoute
)

Viewer = Annotated[Caller, Depends(acting(Role.VIEWER))]


@router.get("/executions", response_model=r.WorkflowExecutions)
async def list_executions(
    workflow_id: IdPath,
    deps: DepsDep,
    caller: Viewer,
    max_age_seconds: Annotated[
        float | None,
        Query(ge=0, le=86400, description="refresh from DolphinScheduler first when the cache is older than this"),
    ] = None,
) -> Json:
    """The last 10 executions with the cache's age. Refreshed from DolphinScheduler first when the cache is older than
    ``max_age_seconds`` (default: the service's limit), when a run was started or a publish finished since, or when
    the newest run was still going. When DolphinScheduler does not answer in time, the cache comes back as it is
    with ``stale: true`` and the error."""
    answer = await deps.history.executions(workflow_id, caller, direct=True, max_age_s=max_age_seconds)
    return with_instance_links(deps.settings.ds_links, answer)


@router.get("/instances/{instance_id}", response_model=r.InstanceDetail)
async def get_instance(workflow_id: IdPath, instance_id: DsInstancePath, deps: DepsDep, caller: Viewer) -> Json:
    """A workflow instance and its task instances."""
    return await deps.history.instance(instance_id, workflow_id, caller)


@router.get("/task-instances/{task_instance_id}/log", response_model=r.TaskLogPage)
async def get_task_log(
    workflow_id: IdPath,
    task_instance_id: DsInstancePath,
    deps: DepsDep,
    caller: Viewer,
    skip_line_num: Annotated[int, Query(ge=0, le=INT4_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    instance_id: Annotated[
        int | None, Query(ge=1, le=INT4_MAX, description="the run the task instance belongs to (faster check)")
    ] = None,
) -> Json:
    """A page of a task instance's log (``next_skip_line_num`` continues it). The task instance must belong to a run
    of the workflow (``instance_id``, or one of its last runs), else 404."""
    return await deps.history.task_log(
        workflow_id, task_instance_id, skip_line_num, limit, caller, instance_id=instance_id
    )
