"""The answers of the public API: every route's ``response_model``, so ``/openapi.json`` is the contract and the
portal's TypeScript types are generated from it (``python -m gateway.openapi``, ``npm run gen:api``).

Most answers are a service's answer, passed through, with what the gateway composes added. Each model mirrors the
service's own response model (definition, publisher, history-sync) with the same types;
``tests/contract/test_gateway_responses.py`` holds them to the same fields. The routes answer with
``response_model_exclude_unset`` (``gateway.routes.params.PassThroughRoute``): a field the service left out stays
out, and nothing is invented here. These are output models only: no validators beyond the types, no defaults but for
fields an answer may lack.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, JsonValue

from common.events.models import PublishOperation, TriggerSource
from common.workflow import DependentCycle, Edge, ExecutionType, NodeAttrs, TaskParams
from gateway.schemas import MigrationMode, TaskType

WorkflowStatus = Literal["draft", "ready", "online", "offline", "archived"]
PublishStatus = Literal["never_published", "pending", "published", "failed"]
ReleaseState = Literal["ONLINE", "OFFLINE"]
#: a part of a composed page that could not be fetched (its value is ``null``)
Unavailable = list[str]


class Problem(BaseModel):
    """An RFC 9457 problem (``application/problem+json``); an error's extras (``errors``, ``allowed_actions``,
    ``workflow_ids``, …) are further top-level members."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


# --- shapes of a workflow's structure (``common.workflow``'s, as the services send them: complete) ---------------


class Schedule(BaseModel):
    #: Quartz cron, 6 or 7 fields: second minute hour day-of-month month day-of-week [year]
    crontab: str
    timezone: str
    start_time: datetime
    end_time: datetime


class GlobalParam(BaseModel):
    name: str
    value: str
    direction: Literal["IN", "OUT"]
    #: DolphinScheduler's data type (``VARCHAR``, ``INTEGER``, …)
    type: str


class ExternalDependency(BaseModel):
    """A lineage dependency on a task of another workflow, kept as a DolphinScheduler DEPENDENT task: ``task_ids``
    (of this workflow) wait until ``upstream_task_id`` of workflow ``upstream_workflow_id`` succeeded in the period
    ``cycle``/``date_value``. The codes are ``null`` while the upstream was not deployed when the version was
    written."""

    upstream_workflow_id: int
    upstream_task_id: int
    task_ids: list[int]
    cycle: DependentCycle
    date_value: str
    upstream_project_code: int | None = None
    upstream_workflow_code: int | None = None
    upstream_workflow_name: str = ""
    upstream_task_name: str = ""


# --- tasks (definition) ---------------------------------------------------------------------------------------------


class Notice(BaseModel):
    """Something the caller should know about what was saved (it was saved)."""

    code: str
    message: str


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


class _TaskLinks(BaseModel):
    #: lineage's counts (``null``, with ``counts`` in ``unavailable``, when lineage-resolver could not be asked)
    upstream_count: int | None
    downstream_count: int | None
    #: the portal's page of the task's workflow
    workflow_link: str | None
    #: the task in DolphinScheduler's UI (when configured and deployed)
    ds_link: str | None


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


# --- publish records, runs, restores (publisher) --------------------------------------------------------------------


class PublishRecord(BaseModel):
    id: int
    request_id: UUID
    workflow_id: int
    version_id: int
    version_no: int
    target_engine: str
    operation: PublishOperation
    status: Literal["pending", "running", "success", "failed", "skipped_unchanged"]
    engine_workflow_code: int | None
    engine_version: int | None
    project_code: int | None
    #: what DolphinScheduler holds after the publish, read back (also after a failure); ``null``: not known
    release_state: ReleaseState | None
    #: what the publish meant DolphinScheduler to hold
    intended_release_state: ReleaseState | None = None
    content_hash: str | None
    log: str
    operator: str
    retry_of: int | None
    error_code: int | None
    error_message: str | None
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    #: an answer given before for the same ``Idempotency-Key`` (retry)
    replayed: bool = False
    #: the publish's trace, when it was recorded
    trace_id: str | None = None
    #: its page in the trace backend's UI (lists and the workflow page; ``null`` without one)
    trace_link: str | None = None


class PublishRecordPage(BaseModel):
    items: list[PublishRecord]
    total: int
    page: int
    page_size: int


class RunView(BaseModel):
    """A run now: ``starting``/``unknown`` are open (poll ``GET …/runs/{run_id}``), the others are settled."""

    workflow_id: int
    run_id: int
    state: Literal["starting", "started", "unknown", "not_started", "failed"]
    instance_ids: list[int]
    #: an answer given before for the same ``Idempotency-Key``
    replayed: bool = False
    detail: str | None = None
    #: ``failed``: the problem DolphinScheduler's refusal gave (``status``, ``type``, ``detail``, ``ds_code``)
    error: dict[str, Any] | None = None
    created_at: datetime
    #: the trace of the request that asked for the run, when it was recorded
    trace_id: str | None = None


class BatchRunItem(BaseModel):
    """What happened to one workflow of a batch start."""

    workflow_id: int
    #: ``started``: DolphinScheduler answered with instance ids; ``failed``: it refused (``ds_code``/``ds_msg``);
    #: ``unknown``: no answer, it may have started
    status: Literal["started", "failed", "unknown"]
    instance_ids: list[int] = []
    #: our problem type of the failure (``dolphin-workflow-offline``, …)
    error: str | None = None
    ds_code: int | None = None
    ds_msg: str | None = None
    message: str | None = None


class BatchRunResult(BaseModel):
    #: every instance started, in the order of the request
    instance_ids: list[int]
    #: one item per requested workflow, in the order of the request
    results: list[BatchRunItem]
    started: int
    failed: int
    unknown: int


class Restore(BaseModel):
    """The restore of a workflow's DolphinScheduler state after a failed publish left it other than intended."""

    workflow_id: int
    #: ``restoring``: attempts continue; ``restored``: DolphinScheduler holds the intended state again;
    #: ``cancelled``: a person stopped the attempts
    status: Literal["restoring", "restored", "cancelled"]
    #: the failed publish whose operation and version DolphinScheduler is to hold
    record_id: int
    intended_release_state: ReleaseState
    #: what DolphinScheduler held when last read back (``null``: it could not be read)
    ds_release_state: ReleaseState | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    attempt_record_id: int | None
    requested_by: str | None
    cancelled_by: str | None
    created_at: datetime
    updated_at: datetime


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


# --- migrations (definition) ----------------------------------------------------------------------------------------


class CutEdge(BaseModel):
    """A source edge with exactly one end moving; after the migration it crosses workflows."""

    upstream_task_id: int
    downstream_task_id: int
    direction: Literal["source_to_target", "target_to_source"]


class MigrationWarning(BaseModel):
    #: stable (``source_emptied``, ``schedule_differs``, ``missing_global_params``, ``dependent_period``, …)
    code: str
    message: str
    task_ids: list[int] = []


class MigrationSide(BaseModel):
    """A workflow's DAG after the move."""

    workflow_id: int
    task_ids: list[int]
    edges: list[tuple[int, int]]
    entry_task_ids: list[int]
    exit_task_ids: list[int]


class MigrationPreview(BaseModel):
    task_id: int
    mode: MigrationMode
    source_workflow_id: int
    target_workflow_id: int
    moved_task_ids: list[int]
    moved_edges: list[tuple[int, int]]
    dropped_edges: list[CutEdge]
    bridged_edges: list[tuple[int, int]]
    #: lineage-derived edges the move adds in the target (already part of ``target_after.edges``)
    lineage_edges: list[tuple[int, int]] = []
    source_emptied: bool
    warnings: list[MigrationWarning]
    source_after: MigrationSide
    target_after: MigrationSide
    #: the versions to pass back as ``expected_source_version_no``/``expected_target_version_no`` (preview)
    source_version_no: int | None = None
    target_version_no: int | None = None


class MigrationResult(BaseModel):
    source: WorkflowDetail
    target: WorkflowDetail
    #: the executed plan
    preview: MigrationPreview


# --- auto-orchestration proposals (definition, tables from lineage-resolver) ----------------------------------------


class CrossDependency(BaseModel):
    upstream_task_id: int
    downstream_task_id: int
    #: the workflow the task outside the proposal is in (``null``: in none yet, another proposal holds it)
    other_workflow_id: int | None
    #: which end is outside the proposal
    outside: Literal["upstream", "downstream"]
    kept_as: Literal["dependent_link"]
    #: preview only: tables the upstream writes and the downstream reads (empty: through table lineage)
    tables: list[str] | None = None


class ProposalSummary(BaseModel):
    id: int
    kind: Literal["new_workflow", "add_to_workflow"]
    fingerprint: str
    #: ``add_to_workflow``: the workflow the task joins
    workflow_id: int | None
    task_ids: list[int]
    task_count: int
    edges: list[tuple[int, int]]
    #: internal dependencies closing a lineage cycle: such a proposal cannot be accepted
    cycle_edges: list[tuple[int, int]]
    cycles: list[list[int]]
    #: the size of the connected group it was formed from
    component_size: int
    #: cut out of a larger connected group
    split: bool
    cross_dependencies: list[CrossDependency]
    dismissed: bool
    created_at: datetime


class ProposalPage(BaseModel):
    items: list[ProposalSummary]
    total: int
    page: int
    page_size: int


class ProposalRebuild(BaseModel):
    proposals: int
    tasks: int


class TyingTable(BaseModel):
    """A table a task of the proposal writes and another of its tasks reads."""

    table: str
    writers: list[int]
    readers: list[int]


class ProposalReasons(BaseModel):
    component_size: int
    split: bool
    cut_dependencies: list[CrossDependency]
    #: what ties the tasks together (preview only; ``null``: lineage-resolver could not be asked)
    tables: list[TyingTable] | None = None


class ProposalDag(BaseModel):
    workflow_id: int
    task_ids: list[int]
    edges: list[tuple[int, int]]
    entry_task_ids: list[int]
    exit_task_ids: list[int]
    external_dependencies: list[ExternalDependency]


class ProposalPreview(BaseModel):
    """What accepting writes, in the shape of a migration preview, with the reasons."""

    proposal_id: int
    kind: Literal["new_workflow", "add_to_workflow"]
    fingerprint: str
    target_workflow_id: int | None
    moved_task_ids: list[int]
    moved_edges: list[tuple[int, int]]
    dropped_edges: list[CutEdge]
    bridged_edges: list[tuple[int, int]]
    lineage_edges: list[tuple[int, int]]
    external_dependencies: list[ExternalDependency]
    reasons: ProposalReasons
    warnings: list[MigrationWarning]
    target_after: ProposalDag
    #: pass it back as ``expected_version_no`` (``add_to_workflow``)
    target_version_no: int | None


class ProposalAccepted(BaseModel):
    proposal_id: int
    workflow: WorkflowDetail
    #: the preview of what was accepted
    preview: ProposalPreview
