"""The internal API's request and response models (docs/api-contracts.md §1). snake_case JSON, times in UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.bounds import INT4_MAX, INT8_MAX, ExpectedNumber, Id, Name, Number
from common.events.models import PublishOperation, TriggerSource
from common.workflow import (
    MAX_DESCRIPTION_CHARS,
    MAX_EDGES_PER_WORKFLOW,
    MAX_PARAMS,
    MAX_TASKS_PER_WORKFLOW,
    DependentCycle,
    Edge,
    ExecutionType,
    NodeAttrs,
    Param,
    Schedule,
    TaskParams,
    TaskType,
)
from definition.domain.enums import MigrationMode, WorkflowStatus

T = TypeVar("T")

PublishStatus = Literal["never_published", "pending", "published", "failed"]

#: the task types (``common.workflow.TaskType``), as the task list's filter takes them
TaskTypeName = Literal[
    "SHELL", "SQL", "PYTHON", "HTTP", "PROCEDURE", "DATAX", "SPARK", "FLINK", "CONDITIONS", "SUB_WORKFLOW", "SWITCH"
]


class _Input(BaseModel):
    # Unknown fields are ignored: the gateway may forward more than we read.
    model_config = ConfigDict(extra="ignore")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


# --- tasks --------------------------------------------------------------------------------------------------------


class OpenLineageJob(BaseModel):
    """A task's OpenLineage job identity: the ``job.namespace`` and ``job.name`` the integrations that run the task
    put in their RunEvents (surrounding blanks are dropped). A job is the identity of at most one task."""

    model_config = ConfigDict(str_strip_whitespace=True)

    namespace: Annotated[str, Field(min_length=1, max_length=1024)]
    name: Annotated[str, Field(min_length=1, max_length=1024)]


class TaskInput(_Input):
    name: Name
    task_type: TaskType
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] = ""
    #: the ``common.workflow`` params of ``task_type``; ``kind`` may be omitted (it is the task type)
    params: TaskParams
    worker_group: Annotated[str, Field(min_length=1, max_length=64)] = "default"
    owner: Annotated[str, Field(max_length=128)] | None = None
    #: the task's OpenLineage job (``null``: none). On an update, leaving the field out keeps the current one.
    openlineage_job: OpenLineageJob | None = None

    @model_validator(mode="before")
    @classmethod
    def _kind_from_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("params"), dict) and "kind" not in data["params"]:
            data = {**data, "params": {**data["params"], "kind": data.get("task_type")}}
        return data

    @model_validator(mode="after")
    def _params_match_type(self) -> TaskInput:
        if self.params.kind != self.task_type.value:
            raise ValueError(f"params are for {self.params.kind} but task_type is {self.task_type}")
        return self


class TaskUpdate(TaskInput):
    expected_revision: Number


class Notice(BaseModel):
    """Something the caller should know about what was saved (it was saved)."""

    code: str
    message: str
    #: the datasource a ``unknown_datasource``/``datasource_unchecked`` notice is about
    datasource_name: str | None = None
    datasource_type: str | None = None


class Task(BaseModel):
    id: int
    name: str
    task_type: TaskType
    description: str
    params: dict[str, Any]
    worker_group: str
    owner: str | None
    revision: int
    #: the workflow the task belongs to (``None``: unassigned)
    workflow_id: int | None
    workflow_name: str | None
    #: DolphinScheduler codes of that workflow once it was deployed (``None`` before)
    workflow_code: int | None = None
    project_code: int | None = None
    #: the task's DolphinScheduler code in what DS holds of that workflow (``None`` until a deploy that has it)
    ds_task_code: int | None = None
    #: the OpenLineage job the task is known as to the integrations that send its lineage (``None``: none)
    openlineage_job: OpenLineageJob | None = None
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime
    #: on a save: what will stop a publish unless fixed (e.g. a datasource DolphinScheduler does not have)
    warnings: list[Notice] = Field(default_factory=list)


class TaskDetail(Task):
    """One task as registered or read: an unassigned one names the workflow its lineage points to (issue 20), when
    there is one."""

    suggested_workflow: SuggestedWorkflow | None = None


class SuggestedWorkflow(BaseModel):
    """The workflow a task's lineage points to: ``all_neighbours`` (every producer and consumer of the task in a
    workflow is in this one) or ``all_producers`` (every producer in one is)."""

    workflow_id: int
    workflow_name: str
    reason: Literal["all_neighbours", "all_producers"]
    upstream_task_ids: list[int]
    downstream_task_ids: list[int]


class TaskListQuery(BaseModel):
    """The query of ``GET /internal/tasks`` (read by ``common.query.parse_query``)."""

    ids: str | None = Field(None, description="comma-separated task ids")
    workflow_id: Id | None = None
    unassigned: bool = False
    name: str | None = Field(None, description="contains, case-insensitive")
    task_type: TaskTypeName | None = None
    upstream_task_id: int | None = Field(
        None, ge=1, le=INT8_MAX, description="tasks whose upstream set contains this task (lineage)"
    )
    downstream_task_id: int | None = Field(
        None, ge=1, le=INT8_MAX, description="tasks whose downstream set contains this task (lineage)"
    )
    page: int = Field(1, ge=1, le=INT4_MAX)
    page_size: int = Field(20, ge=1, le=200)


class TaskListItem(Task):
    """A task of ``GET /internal/tasks``: the task with its dependency counts (the dependency projection)."""

    upstream_count: int
    downstream_count: int


class TaskOwner(BaseModel):
    workflow_id: int
    workflow_name: str


class TaskOwners(BaseModel):
    owners: dict[str, TaskOwner | None]


# --- workflows ----------------------------------------------------------------------------------------------------


class WorkflowTaskInput(_Input):
    task_id: Id
    #: node attributes for publishing; ``worker_group`` defaults to the task's own worker group
    node_attrs: NodeAttrs | None = None


class EdgeModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    upstream_task_id: Id
    downstream_task_id: Id


class DependentLinkInput(_Input):
    """A DEPENDENT link the person keeps (issue 20): ``task_ids`` of this workflow wait for ``upstream_task_id``
    (a task of another workflow) in the period ``cycle``/``date_value``. The upstream workflow and its
    DolphinScheduler codes are looked up, not taken from the caller."""

    upstream_task_id: Id
    task_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_TASKS_PER_WORKFLOW)]
    cycle: DependentCycle = DependentCycle.DAY
    date_value: Annotated[str, Field(max_length=32)] = "today"


class WorkflowInput(_Input):
    name: Name
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] = ""
    tasks: Annotated[list[WorkflowTaskInput], Field(max_length=MAX_TASKS_PER_WORKFLOW)]
    edges: Annotated[list[EdgeModel], Field(max_length=MAX_EDGES_PER_WORKFLOW)] = Field(default_factory=list)
    schedule: Schedule | None = None
    global_params: Annotated[list[Param], Field(max_length=MAX_PARAMS)] = Field(default_factory=list)
    execution_type: ExecutionType = ExecutionType.PARALLEL
    timeout_minutes: Annotated[int, Field(ge=0, le=INT4_MAX)] = 0
    #: the DEPENDENT links to keep (issue 20); ``None``: an update keeps the current version's links (those whose
    #: waiting tasks are still in the workflow), a new workflow has none; ``[]``: none
    external_dependencies: Annotated[list[DependentLinkInput], Field(max_length=MAX_TASKS_PER_WORKFLOW)] | None = None


class WorkflowUpdate(WorkflowInput):
    expected_version_no: ExpectedNumber


class WorkflowSummary(BaseModel):
    id: int
    name: str
    description: str
    status: WorkflowStatus
    publish_status: PublishStatus
    workflow_code: int | None
    project_code: int | None
    #: DolphinScheduler release state after the last publish (``ONLINE``/``OFFLINE``), when known
    release_state: Literal["ONLINE", "OFFLINE"] | None
    #: whether DolphinScheduler's schedule of the workflow is online after the last publish (``None``: not known)
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


class WorkflowLifecycle(BaseModel):
    """A workflow's platform status with what is known of it in DolphinScheduler (``GET /internal/workflow-states``)."""

    id: int
    name: str
    status: WorkflowStatus
    publish_status: PublishStatus
    release_state: Literal["ONLINE", "OFFLINE"] | None
    workflow_code: int | None
    current_version_no: int


class WorkflowLifecycles(BaseModel):
    items: list[WorkflowLifecycle]


class WorkflowListQuery(BaseModel):
    """The query of ``GET /internal/workflows`` (read by ``common.query.parse_query``)."""

    name: str | None = Field(None, description="contains, case-insensitive")
    status: Literal["draft", "ready", "online", "offline", "archived"] | None = None
    publish_status: PublishStatus | None = None
    last_execution_state: str | None = None
    needs_attention: bool | None = None
    sort: Literal["name", "-name", "updated_at", "-updated_at"] = "-updated_at"
    page: int = Field(1, ge=1, le=INT4_MAX)
    page_size: int = Field(20, ge=1, le=200)


class WorkflowListItem(WorkflowSummary):
    """A workflow of ``GET /internal/workflows``: the summary with its newest ≤ 10 executions (newest first; empty
    before the first ``execution.synced``) and when history-sync synced them (``None``: never)."""

    last_executions: list[LastExecution]
    executions_synced_at: datetime | None


class WorkflowTask(BaseModel):
    task_id: int
    name: str
    task_type: TaskType
    description: str
    params: TaskParams
    node_attrs: NodeAttrs
    upstream_count: int
    downstream_count: int


class WorkflowDetail(WorkflowSummary):
    tasks: list[WorkflowTask]
    edges: list[Edge]
    entry_task_ids: list[int]
    exit_task_ids: list[int]
    schedule: Schedule | None
    global_params: list[Param]
    execution_type: ExecutionType
    timeout_minutes: int
    allowed_actions: list[str]
    allowed_publish_operations: list[str]
    #: structured details of ``attention_reason`` (tasks, workflows, cycle path and tables)
    attention_details: dict[str, Any] | None
    #: while a failed publish has left DolphinScheduler other than intended: what it holds and what was intended
    #: (``reason``, ``record_id``, ``operation``, ``intended_release_state``, ``release_state``, ``error``, ``since``);
    #: the publisher restores it (gateway ``/workflows/{id}/restore``)
    ds_attention: dict[str, Any] | None = None
    created_by: str
    created_at: datetime


class ActionRequest(_Input):
    #: ``approve``: the version the approver reviewed (it must still be the current one)
    version_no: Number | None = None


class RollbackResult(WorkflowDetail):
    #: tasks of the version rolled back from that the old version lacks: now in no workflow
    unassigned_task_ids: list[int]


# --- versions -----------------------------------------------------------------------------------------------------


class VersionSummary(BaseModel):
    id: int
    version_no: int
    trigger_source: TriggerSource
    created_by: str
    created_at: datetime
    content_hash: str
    summary: str


class Version(VersionSummary):
    change_summary: dict[str, Any]
    structure_snapshot: dict[str, Any]


class RollbackRequest(_Input):
    to_version_no: Number
    expected_version_no: ExpectedNumber


# --- publish ------------------------------------------------------------------------------------------------------


class PublishRequest(_Input):
    operation: PublishOperation


class PublishAccepted(BaseModel):
    request_id: UUID
    workflow_id: int
    version_id: int
    version_no: int
    operation: PublishOperation


# --- migrations ---------------------------------------------------------------------------------------------------


class MigrationRequest(_Input):
    task_id: Id
    target_workflow_id: Id
    mode: MigrationMode
    allow_empty_source: bool = False


class MigrationExecute(MigrationRequest):
    expected_source_version_no: ExpectedNumber
    expected_target_version_no: ExpectedNumber


class MigrationResult(BaseModel):
    source: WorkflowDetail
    target: WorkflowDetail
    #: the executed plan (same shape as ``POST /internal/migrations/preview``)
    preview: dict[str, Any]


# --- auto-orchestration proposals (issue 20) --------------------------------------------------------------------


class CrossDependencyOut(BaseModel):
    upstream_task_id: int
    downstream_task_id: int
    #: the workflow the task outside the proposal is in (``None``: in none yet, another proposal holds it)
    other_workflow_id: int | None
    #: which end is outside the proposal
    outside: Literal["upstream", "downstream"]
    #: how the dependency is kept once both ends are in workflows
    kept_as: Literal["dependent_link"]


class ProposalSummary(BaseModel):
    id: int
    kind: Literal["new_workflow", "add_to_workflow"]
    fingerprint: str
    #: ``add_to_workflow``: the workflow the task joins
    workflow_id: int | None
    task_ids: list[int]
    task_count: int
    edges: list[tuple[int, int]]
    #: internal dependencies that close a lineage cycle: such a proposal cannot be accepted
    cycle_edges: list[tuple[int, int]]
    cycles: list[list[int]]
    #: the size of the connected group it was formed from
    component_size: int
    #: its tasks depend on tasks of other proposals: it was cut out of a larger connected group
    split: bool
    cross_dependencies: list[CrossDependencyOut]
    dismissed: bool
    created_at: datetime


class ProposalRebuild(BaseModel):
    proposals: int
    tasks: int


class ProposalAccept(_Input):
    """``new_workflow``: ``name`` of the draft (default ``auto-<first task's name>``); ``add_to_workflow``:
    ``expected_version_no`` of the workflow (409 ``stale-version`` when it moved on). ``dependent_links``: keep
    the dependencies on tasks of other workflows as DEPENDENT links in the new version (default), or leave them."""

    name: Name | None = None
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] = ""
    expected_version_no: ExpectedNumber | None = None
    dependent_links: bool = True


class ProposalAccepted(BaseModel):
    proposal_id: int
    workflow: WorkflowDetail
    #: the preview of what was accepted (same shape as ``GET /internal/proposals/{id}/preview``)
    preview: dict[str, Any]
