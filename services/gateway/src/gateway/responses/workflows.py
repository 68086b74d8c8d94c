"""Workflows, versions and their changes (definition)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, JsonValue

from common.events.models import PublishOperation, TriggerSource
from common.workflow import Edge, ExecutionType, NodeAttrs, TaskParams
from gateway.responses._shared import (
    ExternalDependency,
    GlobalParam,
    PublishStatus,
    ReleaseState,
    Schedule,
    Unavailable,
    WorkflowStatus,
)
from gateway.schemas import TaskType

# --- workflows (definition) -----------------------------------------------------------------------------------------


class WorkflowSummary(BaseModel):
    id: int
    name: str
    description: str
    status: WorkflowStatus
    publish_status: PublishStatus
    workflow_code: int | None
    project_code: int | None
    #: what DolphinScheduler holds, read back after the last publish (also a failed one); ``null``: not known
    release_state: ReleaseState | None
    #: whether DolphinScheduler's schedule of the workflow is online (``null``: no schedule there, or not known)
    schedule_online: bool | None = None
    current_version_no: int
    approved: bool
    last_published_version_no: int | None
    last_execution_state: str | None
    last_execution_at: datetime | None
    needs_attention: bool
    attention_reason: str | None
    task_count: int
    updated_at: datetime
    updated_by: str


class LastExecution(BaseModel):
    """One of a workflow's newest executions as history-sync last reported it (``execution.synced``)."""

    instance_id: int
    state: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: str | None = None


class WorkflowListItem(WorkflowSummary):
    #: the newest ≤ 10 executions, newest first (``null`` only with ``executions_unavailable``)
    last_executions: list[LastExecution] | None
    #: when history-sync synced them (``null``: never)
    executions_synced_at: datetime | None
    executions_unavailable: bool
    ds_link: str | None


class WorkflowPage(BaseModel):
    items: list[WorkflowListItem]
    total: int
    page: int
    page_size: int
    unavailable: Unavailable


class WorkflowTask(BaseModel):
    task_id: int
    name: str
    task_type: TaskType
    description: str
    params: TaskParams
    node_attrs: NodeAttrs
    upstream_count: int
    downstream_count: int


class DsAttention(BaseModel):
    """A failed publish left DolphinScheduler other than intended (until a newer result says it holds the intended
    state); the publisher restores it (``/workflows/{id}/restore``)."""

    kind: Literal["ds_state"]
    reason: str
    record_id: int
    operation: PublishOperation
    intended_release_state: ReleaseState | None
    #: ``null``: DolphinScheduler could not be read back
    release_state: ReleaseState | None
    error: str | None
    #: when the failed publish completed (ISO 8601, as the event said)
    since: str


class WorkflowDetail(WorkflowSummary):
    tasks: list[WorkflowTask]
    edges: list[Edge]
    entry_task_ids: list[int]
    exit_task_ids: list[int]
    schedule: Schedule | None
    global_params: list[GlobalParam]
    execution_type: ExecutionType
    timeout_minutes: int
    allowed_actions: list[Literal["approve", "online", "offline", "archive"]]
    allowed_publish_operations: list[PublishOperation]
    #: structured details of ``attention_reason`` (tasks, workflows, cycle path and tables)
    attention_details: dict[str, Any] | None
    #: while a failed publish has left DolphinScheduler other than intended (the publisher restores it)
    ds_attention: DsAttention | None = None
    created_by: str
    created_at: datetime


class RollbackResult(WorkflowDetail):
    #: tasks of the version rolled back from that the old version lacks: now in no workflow
    unassigned_task_ids: list[int]


class VersionSummary(BaseModel):
    id: int
    version_no: int
    trigger_source: TriggerSource
    created_by: str
    created_at: datetime
    content_hash: str
    summary: str


class VersionPage(BaseModel):
    items: list[VersionSummary]
    total: int
    page: int
    page_size: int


class FieldChange(BaseModel):
    """One changed field; ``old``/``new`` are JSON values (``null`` when a field is absent on one side)."""

    field: str
    old: JsonValue = None
    new: JsonValue = None


class TaskChange(BaseModel):
    task_id: int
    changes: list[FieldChange]


class ScheduleChange(BaseModel):
    kind: Literal["added", "removed", "changed"]
    old: Schedule | None = None
    new: Schedule | None = None


class GlobalParamsChange(BaseModel):
    added: list[str]
    removed: list[str]
    #: ``field`` = the param's name; ``old``/``new`` = the whole param
    changed: list[FieldChange]


class LinksChange(BaseModel):
    """DEPENDENT links by upstream task id (``changed``: ``field`` = the upstream task id, ``old``/``new`` = the
    whole link)."""

    added: list[int]
    removed: list[int]
    changed: list[FieldChange]


class ChangeSummary(BaseModel):
    """The structural difference from one version to another."""

    is_initial: bool
    tasks_added: list[int]
    tasks_removed: list[int]
    #: removed tasks that are now in no workflow (left out by summaries written before it was recorded)
    tasks_unassigned: list[int] = []
    edges_added: list[tuple[int, int]]
    edges_removed: list[tuple[int, int]]
    tasks_changed: list[TaskChange]
    schedule: ScheduleChange | None
    global_params: GlobalParamsChange | None
    workflow_fields: list[FieldChange]
    #: left out when the DEPENDENT links did not change
    dependent_links: LinksChange | None = None
    summary: str


class SnapshotTask(BaseModel):
    task_id: int
    name: str
    task_type: TaskType
    description: str
    params: TaskParams
    node_attrs: NodeAttrs


class StructureSnapshot(BaseModel):
    """The canonical structure of one workflow version (what a publish sends)."""

    workflow_id: int
    workflow_name: str
    description: str
    tasks: list[SnapshotTask]
    edges: list[Edge]
    schedule: Schedule | None
    global_params: list[GlobalParam]
    execution_type: ExecutionType
    timeout_minutes: int
    entry_task_ids: list[int]
    exit_task_ids: list[int]
    #: DEPENDENT links to tasks of other workflows; left out when there are none
    external_dependencies: list[ExternalDependency] = []


class Version(VersionSummary):
    #: ``null`` for versions written before change summaries were
    change_summary: ChangeSummary | None
    structure_snapshot: StructureSnapshot


class PublishAccepted(BaseModel):
    request_id: UUID
    workflow_id: int
    version_id: int
    version_no: int
    operation: PublishOperation
