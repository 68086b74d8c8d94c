"""Internal HTTP API (called by the gateway): cached executions with their age, instance detail, task logs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from common.app import deps_of
from common.dolphin.models import TaskInstance
from common.errors import ValidationFailed
from history_sync import service
from history_sync.deps import Deps
from history_sync.domain.executions import Execution
from history_sync.domain.task_metrics import TaskMetrics

router = APIRouter(prefix="/internal", tags=["executions"])

DepsDep = Annotated[Deps, Depends(deps_of)]


class ExecutionOut(BaseModel):
    instance_id: int
    state: str
    start_time: datetime | None
    end_time: datetime | None
    duration: str | None
    command_type: str
    ds_command_type: str | None
    run_times: int | None
    host: str | None
    engine_version: int | None
    platform_version_id: int | None

    @classmethod
    def of(cls, e: Execution) -> ExecutionOut:
        return cls(
            instance_id=e.instance_id,
            state=e.state,
            start_time=e.start_time,
            end_time=e.end_time,
            duration=e.duration,
            command_type=e.command_type,
            ds_command_type=e.ds_command_type,
            run_times=e.run_times,
            host=e.host,
            engine_version=e.engine_version,
            platform_version_id=e.platform_version_id,
        )


class WorkflowExecutionsOut(BaseModel):
    workflow_id: int
    engine_workflow_code: int
    project_code: int
    release_state: str
    #: whether the periodic sync covers it (online, or offline for less than the grace period)
    synced: bool
    synced_at: datetime | None
    age_seconds: float | None
    stale: bool
    last_error: str | None
    last_error_at: datetime | None
    #: true when this request refreshed the cache from DS
    refreshed: bool
    executions: list[ExecutionOut]

    @classmethod
    def of(cls, v: service.WorkflowExecutions) -> WorkflowExecutionsOut:
        return cls(
            workflow_id=v.workflow_id,
            engine_workflow_code=v.engine_workflow_code,
            project_code=v.project_code,
            release_state=v.release_state,
            synced=v.synced,
            synced_at=v.synced_at,
            age_seconds=v.age_seconds,
            stale=v.stale,
            last_error=v.last_error,
            last_error_at=v.last_error_at,
            refreshed=v.refreshed,
            executions=[ExecutionOut.of(e) for e in v.executions],
        )


class ExecutionsBatchOut(BaseModel):
    workflows: list[WorkflowExecutionsOut]
    #: asked for but not tracked
    unknown_ids: list[int]


class InstanceOut(BaseModel):
    id: int
    name: str | None
    workflow_id: int | None
    project_code: int
    workflow_definition_code: int | None
    workflow_definition_version: int | None
    state: str
    start_time: datetime | None
    end_time: datetime | None
    schedule_time: datetime | None
    duration: str | None
    command_type: str | None
    run_times: int | None
    host: str | None
    executor_name: str | None


class TaskInstanceOut(BaseModel):
    id: int
    name: str
    task_type: str | None
    task_code: int | None
    state: str | None
    submit_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    duration: str | None
    host: str | None
    retry_times: int | None

    @classmethod
    def of(cls, t: TaskInstance) -> TaskInstanceOut:
        return cls(
            id=t.id,
            name=t.name,
            task_type=t.task_type,
            task_code=t.task_code,
            state=t.state.value if t.state else None,
            submit_time=t.submit_time,
            start_time=t.start_time,
            end_time=t.end_time,
            duration=t.duration,
            host=t.host,
            retry_times=t.retry_times,
        )


class InstanceDetailOut(BaseModel):
    instance: InstanceOut
    tasks: list[TaskInstanceOut]


class TaskLogOut(BaseModel):
    task_instance_id: int
    skip_line_num: int
    limit: int
    message: str
    #: lines in ``message`` counted by us (DS's lineNum counts CRLF pieces only)
    line_count: int
    next_skip_line_num: int
    #: fewer lines than ``limit`` came back: the end of the log so far
    complete: bool
    #: false while no worker has taken the task yet (no log to read so far: ask again later)
    dispatched: bool


def _parse_ids(raw: str) -> list[int]:
    try:
        ids = [int(x) for x in raw.split(",") if x.strip()]
    except ValueError:
        raise ValidationFailed("ids must be a comma-separated list of workflow ids") from None
    if not ids:
        raise ValidationFailed("ids must name at least one workflow")
    return ids


class TaskRunCellOut(BaseModel):
    instance_id: int
    #: the run's (workflow instance's) state
    run_state: str
    run_start_time: datetime | None
    #: the task's state in that run; null while the run is going or when the task was not in it
    state: str | None
    duration_seconds: float | None
    task_instance_id: int | None


class TaskMetricsOut(BaseModel):
    task_code: int
    task_name: str
    task_type: str | None
    #: one cell per cached run of the workflow, newest first
    runs: list[TaskRunCellOut]
    #: finished task instances among those runs, and the successful ones
    finished: int
    succeeded: int
    success_rate: float | None
    #: nearest-rank percentiles of the successful task instances' durations
    p50_seconds: float | None
    p90_seconds: float | None

    @classmethod
    def of(cls, m: TaskMetrics) -> TaskMetricsOut:
        return cls(
            task_code=m.task_code,
            task_name=m.task_name,
            task_type=m.task_type,
            runs=[
                TaskRunCellOut(
                    instance_id=c.instance_id,
                    run_state=c.run_state,
                    run_start_time=c.run_start_time,
                    state=c.state,
                    duration_seconds=c.duration_s,
                    task_instance_id=c.task_instance_id,
                )
                for c in m.runs
            ],
            finished=m.finished,
            succeeded=m.succeeded,
            success_rate=m.success_rate,
            p50_seconds=m.p50_s,
            p90_seconds=m.p90_s,
        )


class WorkflowTaskMetricsOut(BaseModel):
    workflow_id: int
    synced_at: datetime | None
    #: the cached runs the cells are about, newest first
    instance_ids: list[int]
    tasks: list[TaskMetricsOut]


class TaskMetricsBatchOut(BaseModel):
    workflows: list[WorkflowTaskMetricsOut]
    unknown_ids: list[int]


@router.get("/workflows/task-metrics", response_model=TaskMetricsBatchOut)
async def task_metrics_batch(
    deps: DepsDep, ids: Annotated[str, Query(description="e.g. 1,2,3")]
) -> TaskMetricsBatchOut:
    """Task-level metrics of many workflows: each DS task's state and duration in the cached last runs, success rate
    and p50/p90 duration. Never calls DS (the sync reads each finished run's task instances once)."""
    views, unknown = await service.get_task_metrics(deps, _parse_ids(ids))
    return TaskMetricsBatchOut(
        workflows=[
            WorkflowTaskMetricsOut(
                workflow_id=v.workflow_id,
                synced_at=v.synced_at,
                instance_ids=[e.instance_id for e in v.executions],
                tasks=[TaskMetricsOut.of(m) for m in v.tasks],
            )
            for v in views
        ],
        unknown_ids=unknown,
    )


@router.get("/workflows/executions", response_model=ExecutionsBatchOut)
async def executions_batch(deps: DepsDep, ids: Annotated[str, Query(description="e.g. 1,2,3")]) -> ExecutionsBatchOut:
    """Cached last executions of many workflows (for list pages); never calls DS."""
    views, unknown = await service.get_executions_batch(deps, _parse_ids(ids))
    return ExecutionsBatchOut(workflows=[WorkflowExecutionsOut.of(v) for v in views], unknown_ids=unknown)


class StaleWorkflowOut(BaseModel):
    workflow_id: int
    engine_workflow_code: int
    project_code: int
    release_state: str
    last_synced_at: datetime | None
    #: seconds since the last successful sync (since the last publish when it never synced)
    age_seconds: float
    last_error: str | None
    last_error_at: datetime | None


class StaleWorkflowsOut(BaseModel):
    cycles: int
    interval_s: float
    threshold_s: float
    checked_at: datetime
    items: list[StaleWorkflowOut]


@router.get("/workflows/stale", response_model=StaleWorkflowsOut)
async def stale_workflows(
    deps: DepsDep, cycles: Annotated[int, Query(ge=1, le=1000, description="sync intervals")] = 3
) -> StaleWorkflowsOut:
    """Read-only: workflows the periodic sync covers whose last successful sync is older than ``cycles`` sync
    intervals (for the alerting service and the daily inspection)."""
    r = await service.get_stale_workflows(deps, cycles)
    return StaleWorkflowsOut(
        cycles=r.cycles,
        interval_s=r.interval_s,
        threshold_s=r.threshold_s,
        checked_at=r.checked_at,
        items=[
            StaleWorkflowOut(
                workflow_id=t.workflow_id,
                engine_workflow_code=t.tracking.engine_workflow_code,
                project_code=t.tracking.project_code,
                release_state=t.tracking.release_state,
                last_synced_at=t.last_synced_at,
                age_seconds=round(age, 3),
                last_error=t.last_error,
                last_error_at=t.last_error_at,
            )
            for t, age in r.items
        ],
    )


@router.get("/workflows/{workflow_id}/executions", response_model=WorkflowExecutionsOut)
async def workflow_executions(
    deps: DepsDep,
    workflow_id: int,
    max_age_seconds: Annotated[float | None, Query(ge=0)] = None,
) -> WorkflowExecutionsOut:
    """The last 10 executions; refreshed from DS first when the cache is older than ``max_age_seconds`` (default:
    the service's staleness limit). When DS fails, the cache is served as it is, with its age and the error."""
    return WorkflowExecutionsOut.of(await service.get_executions(deps, workflow_id, max_age_seconds))


@router.get("/instances/{instance_id}", response_model=InstanceDetailOut)
async def instance_detail(
    deps: DepsDep,
    instance_id: int,
    project_code: int | None = None,
    workflow_id: int | None = None,
) -> InstanceDetailOut:
    d = await service.get_instance_detail(deps, instance_id, project_code=project_code, workflow_id=workflow_id)
    i = d.instance
    return InstanceDetailOut(
        instance=InstanceOut(
            id=i.id,
            name=i.name,
            workflow_id=d.workflow_id,
            project_code=d.project_code,
            workflow_definition_code=i.workflow_definition_code,
            workflow_definition_version=i.workflow_definition_version,
            state=i.state.value,
            start_time=i.start_time,
            end_time=i.end_time,
            schedule_time=i.schedule_time,
            duration=d.duration,
            command_type=i.command_type.value if i.command_type else None,
            run_times=i.run_times,
            host=i.host,
            executor_name=i.executor_name,
        ),
        tasks=[TaskInstanceOut.of(t) for t in d.tasks.task_list],
    )


@router.get("/task-instances/{task_instance_id}/log", response_model=TaskLogOut)
async def task_log(
    deps: DepsDep,
    task_instance_id: int,
    skip_line_num: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    workflow_id: Annotated[int | None, Query(description="the task instance must belong to this workflow")] = None,
    instance_id: Annotated[int | None, Query(description="… and to this run of it")] = None,
) -> TaskLogOut:
    page = await service.get_task_log_page(
        deps,
        task_instance_id,
        skip_line_num=skip_line_num,
        limit=limit,
        workflow_id=workflow_id,
        instance_id=instance_id,
    )
    return TaskLogOut(
        task_instance_id=page.task_instance_id,
        skip_line_num=page.skip_line_num,
        limit=page.limit,
        message=page.message,
        line_count=page.line_count,
        next_skip_line_num=page.next_skip_line_num,
        complete=page.complete,
        dispatched=page.dispatched,
    )
