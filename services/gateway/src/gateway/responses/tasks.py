"""Tasks (definition), with the links the gateway adds."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.responses._shared import Unavailable
from gateway.schemas import TaskType

# --- tasks (definition) ---------------------------------------------------------------------------------------------


class Notice(BaseModel):
    """Something the caller should know about what was saved (it was saved)."""

    code: str
    message: str
    #: the datasource an ``unknown_datasource``/``datasource_unchecked`` notice is about
    datasource_name: str | None = None
    datasource_type: str | None = None


class OpenLineageJob(BaseModel):
    """An OpenLineage job identity (``job.namespace`` + ``job.name``)."""

    namespace: str
    name: str


class Task(BaseModel):
    id: int
    name: str
    task_type: TaskType
    description: str
    params: dict[str, Any]
    worker_group: str
    owner: str | None
    revision: int
    #: the workflow the task belongs to (``null``: in none)
    workflow_id: int | None
    workflow_name: str | None
    #: DolphinScheduler codes of that workflow once it was deployed
    workflow_code: int | None = None
    project_code: int | None = None
    #: the task's DolphinScheduler code in what DS holds of that workflow (``null`` until a deploy that has the task)
    ds_task_code: int | None = None
    #: the OpenLineage job the task is known as to the integrations that send its lineage (``null``: none)
    openlineage_job: OpenLineageJob | None = None
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime
    #: on a save: what will stop a publish unless fixed (e.g. ``unknown_datasource``); the task is saved
    warnings: list[Notice] = Field(default_factory=list)


class SuggestedWorkflow(BaseModel):
    """The workflow an unassigned task's lineage points to: ``all_neighbours`` (every producer and consumer of the
    task in a workflow is in this one) or ``all_producers`` (every producer in one is)."""

    workflow_id: int
    workflow_name: str
    reason: Literal["all_neighbours", "all_producers"]
    upstream_task_ids: list[int]
    downstream_task_ids: list[int]


class TaskDetail(Task):
    """A task as registered: one in no workflow names the workflow its lineage points to, when there is one."""

    suggested_workflow: SuggestedWorkflow | None = None


class TaskRunCell(BaseModel):
    """The task in one of its workflow's last runs (newest first)."""

    instance_id: int
    #: the run's (workflow instance's) state
    run_state: str
    run_start_time: datetime | None
    #: the task's state in that run; ``null`` while the run is going (read once it has finished) or when the task
    #: was not in it
    state: str | None
    duration_seconds: float | None
    task_instance_id: int | None


class TaskMetrics(BaseModel):
    """Task-level metrics from the synced history (history-sync): the task's state and duration in the last runs of
    its workflow, its success rate and p50/p90 duration. ``success_rate``: successful over finished task instances;
    p50/p90: nearest rank over the successful ones' durations (``null`` without one)."""

    task_code: int
    #: the task's name in DolphinScheduler in its newest run
    task_name: str
    task_type: str | None
    runs: list[TaskRunCell]
    finished: int
    succeeded: int
    success_rate: float | None
    p50_seconds: float | None
    p90_seconds: float | None


class _TaskLinks(BaseModel):
    #: lineage's counts (``null``, with ``counts`` in ``unavailable``, when lineage-resolver could not be asked)
    upstream_count: int | None
    downstream_count: int | None
    #: the portal's page of the task's workflow
    workflow_link: str | None
    #: the task's node in DolphinScheduler's UI, ``…/task/instances?taskCode={ds_task_code}`` (its workflow's definition
    #: while what DS holds has no code for it: not deployed since it joined the workflow; ``null`` when DS links are not
    #: configured or the workflow was never deployed)
    ds_link: str | None
    #: ``null`` when the task is in no workflow, its workflow has no synced run of it yet, or history-sync could not
    #: be asked (``metrics`` in ``unavailable``)
    metrics: TaskMetrics | None = None


class TaskListItem(_TaskLinks, Task):
    """A row of the task list: the task with its owner, DS codes, dependency counts and links."""


class TaskPage(BaseModel):
    items: list[TaskListItem]
    total: int
    page: int
    page_size: int
    unavailable: Unavailable


class TaskView(_TaskLinks, TaskDetail):
    """One task with its workflow, links and lineage neighbours."""

    upstream_task_ids: list[int] | None
    downstream_task_ids: list[int] | None
    unavailable: Unavailable
