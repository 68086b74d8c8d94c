"""Executions, instances and logs (history-sync), and the composed workflow page."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from gateway.responses._shared import Unavailable
from gateway.responses.publishing import PublishRecordPage
from gateway.responses.workflows import VersionPage, WorkflowDetail

# --- executions (history-sync) --------------------------------------------------------------------------------------


class Execution(BaseModel):
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
    #: the workflow page only: the trace of the platform request that started this run (``null``: none recorded)
    trace_link: str | None = None
    #: the instance's page in DolphinScheduler's UI (``null`` when DS links are not configured)
    ds_link: str | None = None


class WorkflowExecutions(BaseModel):
    """history-sync's cache of a workflow's last 10 executions, with its age."""

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
    #: this request refreshed the cache from DolphinScheduler
    refreshed: bool
    executions: list[Execution]


class ExecutionsPart(BaseModel):
    """The workflow page's executions: history-sync's answer and whether it tracks the workflow (one it does not
    track, never deployed, has ``tracked: false``, its ``workflow_id`` and no executions, nothing else)."""

    workflow_id: int
    tracked: bool
    executions: list[Execution]
    engine_workflow_code: int | None = None
    project_code: int | None = None
    release_state: str | None = None
    synced: bool | None = None
    synced_at: datetime | None = None
    age_seconds: float | None = None
    stale: bool | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    refreshed: bool | None = None


class Instance(BaseModel):
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


class TaskInstance(BaseModel):
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


class InstanceDetail(BaseModel):
    instance: Instance
    tasks: list[TaskInstance]


class TaskLogPage(BaseModel):
    task_instance_id: int
    skip_line_num: int
    limit: int
    message: str
    #: lines in ``message``
    line_count: int
    next_skip_line_num: int
    #: fewer lines than ``limit`` came back: the end of the log so far
    complete: bool
    #: false while no worker has taken the task yet: no log so far, ask again later
    dispatched: bool


# --- the composed workflow page -------------------------------------------------------------------------------------


class WorkflowView(WorkflowDetail):
    """The workflow page: the definition's detail with the first page of its versions and publish records, its
    executions and the DolphinScheduler link; a part that could not be fetched is ``null`` and named in
    ``unavailable``."""

    versions: VersionPage | None
    publish_records: PublishRecordPage | None
    executions: ExecutionsPart | None
    ds_link: str | None
    unavailable: Unavailable
