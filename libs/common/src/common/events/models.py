"""Event payloads of every topic in DESIGN.md §3, version 1.

Rules (enforced by the committed JSON Schemas and ``tests/test_event_schemas.py``): changes are additive — new fields
are optional with a default; no field is removed or retyped; otherwise add a new ``VERSION`` and an upcaster.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from uuid import UUID

from pydantic import Field

from common.events.base import Event, Part
from common.workflow import StructureSnapshot


class Topics:
    WORKFLOW_VERSION_CREATED = "workflow.version.created"
    PUBLISH_REQUESTED = "publish.requested"
    PUBLISH_COMPLETED = "publish.completed"
    LINEAGE_CHANGED = "lineage.changed"
    TASK_DEPENDENCY_CHANGED = "task.dependency.changed"
    EXECUTION_SYNCED = "execution.synced"
    WORKFLOW_EXECUTION_FAILED = "workflow.execution.failed"
    WORKFLOW_RUN_STARTED = "workflow.run.started"
    TASK_OPENLINEAGE_JOB_SET = "task.openlineage-job.set"

    ALL: ClassVar[tuple[str, ...]] = (
        WORKFLOW_VERSION_CREATED,
        PUBLISH_REQUESTED,
        PUBLISH_COMPLETED,
        LINEAGE_CHANGED,
        TASK_DEPENDENCY_CHANGED,
        EXECUTION_SYNCED,
        WORKFLOW_EXECUTION_FAILED,
        WORKFLOW_RUN_STARTED,
        TASK_OPENLINEAGE_JOB_SET,
    )

    #: partitions per topic (its ``.dlq`` gets as many). Every event is keyed by its workflow (a lineage change by
    #: its task, a table edge by its tables), so one workflow's events stay in order on one partition whatever the
    #: count. A consumer group uses at most as many replicas as the smallest count among the topics it consumes
    #: (docs/operations.md, "Topics and partitions"; deploy/k8s keeps every consumer's replicas within it): 12 where
    #: bulk work lands (a republish of every workflow, a lineage storm), 6 elsewhere. Counts are set at creation;
    #: adding partitions later moves keys to other partitions (see the operations guide before doing it).
    PARTITIONS: ClassVar[dict[str, int]] = {
        WORKFLOW_VERSION_CREATED: 6,
        PUBLISH_REQUESTED: 12,
        PUBLISH_COMPLETED: 12,
        LINEAGE_CHANGED: 12,
        TASK_DEPENDENCY_CHANGED: 12,
        EXECUTION_SYNCED: 6,
        WORKFLOW_EXECUTION_FAILED: 6,
        WORKFLOW_RUN_STARTED: 6,
        TASK_OPENLINEAGE_JOB_SET: 12,
    }

    #: the topics each service's consumer group reads (alerting also reads every ``.dlq``: ``consumed_by``)
    CONSUMERS: ClassVar[dict[str, tuple[str, ...]]] = {
        "definition": (PUBLISH_COMPLETED, EXECUTION_SYNCED, TASK_DEPENDENCY_CHANGED),
        "publisher": (PUBLISH_REQUESTED,),
        "history-sync": (PUBLISH_COMPLETED, WORKFLOW_RUN_STARTED),
        "lineage-resolver": (LINEAGE_CHANGED, TASK_OPENLINEAGE_JOB_SET),
        "alerting": (PUBLISH_COMPLETED, WORKFLOW_EXECUTION_FAILED),
    }

    @staticmethod
    def dlq(topic: str) -> str:
        return f"{topic}.dlq"

    @classmethod
    def consumed_by(cls, service: str) -> tuple[str, ...]:
        """The topics (unprefixed) the service's consumer group reads; none for a service that consumes nothing."""
        own = cls.CONSUMERS.get(service, ())
        return own + tuple(cls.dlq(t) for t in cls.ALL) if service == "alerting" else own

    @classmethod
    def max_replicas(cls, service: str) -> int | None:
        """How many replicas of the service all get partitions of every topic they consume (the smallest count
        among them; a ``.dlq`` has its topic's); None for a service that consumes nothing."""
        counts = [cls.PARTITIONS[t.removesuffix(".dlq")] for t in cls.consumed_by(service)]
        return min(counts) if counts else None


class TriggerSource(StrEnum):
    MANUAL_EDIT = "manual_edit"
    TASK_CHANGE = "task_change"
    LINEAGE_CHANGE = "lineage_change"
    MIGRATION = "migration"
    ROLLBACK = "rollback"
    #: written by the platform itself: an accepted proposal, or the DS codes of a DEPENDENT link brought up to date
    AUTO_ORCHESTRATION = "auto_orchestration"


class PublishOperation(StrEnum):
    DEPLOY = "deploy"
    ONLINE = "online"
    OFFLINE = "offline"


class PublishOutcome(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"
    #: deploy of a definition identical to the last deployed one: nothing was sent to DS
    SKIPPED_UNCHANGED = "skipped_unchanged"


# --- workflow.version.created -------------------------------------------------------------------------------------


class WorkflowVersionCreated(Event):
    TYPE: ClassVar[str] = "platform.workflow.version.created"
    TOPIC: ClassVar[str] = Topics.WORKFLOW_VERSION_CREATED

    workflow_id: int
    version_id: int
    version_no: int
    trigger_source: TriggerSource
    created_by: str
    created_at: datetime
    content_hash: str
    change_summary: dict[str, Any] = Field(default_factory=dict)
    snapshot: StructureSnapshot

    def key(self) -> str:
        return str(self.workflow_id)


# --- publish.requested / publish.completed ----------------------------------------------------------------------


class PublishRequested(Event):
    TYPE: ClassVar[str] = "platform.publish.requested"
    TOPIC: ClassVar[str] = Topics.PUBLISH_REQUESTED

    request_id: UUID
    workflow_id: int
    operation: PublishOperation
    version_id: int
    version_no: int
    operator: str
    requested_at: datetime
    #: the pinned version's structure, so the publisher needs no other topic to act
    snapshot: StructureSnapshot
    #: set when this request retries a failed one
    retry_of: UUID | None = None
    #: why the platform asked by itself, when no person did (``platform_offline``, ``archive``)
    reason: str | None = None
    #: the definition service's signature over what it approved (request, workflow, version, operation and the
    #: snapshot's content hash; ``common.approvals``): the publisher deploys nothing without it
    approval: str | None = None

    def key(self) -> str:
        return str(self.workflow_id)


class DeployedTaskCode(Part):
    """A platform task and its DolphinScheduler task code in the definition DS holds (part of ``PublishCompleted``)."""

    task_id: int = Field(gt=0)
    ds_task_code: int = Field(gt=0)


class PublishCompleted(Event):
    TYPE: ClassVar[str] = "platform.publish.completed"
    TOPIC: ClassVar[str] = Topics.PUBLISH_COMPLETED

    request_id: UUID
    record_id: int
    workflow_id: int
    version_id: int
    operation: PublishOperation
    outcome: PublishOutcome
    engine_workflow_code: int | None = None
    engine_version: int | None = None
    project_code: int | None = None
    #: DS release state after the operation ("ONLINE"/"OFFLINE"), read back from DS (also after a failure), when known
    release_state: Literal["ONLINE", "OFFLINE"] | None = None
    #: whether DS's schedule of the workflow is online after the operation, when known
    schedule_online: bool | None = None
    #: the release state the operation meant DS to hold at its end
    intended_release_state: Literal["ONLINE", "OFFLINE"] | None = None
    #: failed, and DS does not hold the intended state (or could not be read back): the publisher restores it
    diverged: bool = False
    #: failed before any DS call: the request carried no valid approval of its snapshot (``common.approvals``). DS was
    #: not touched; a request the definition service never made changes nothing on the platform
    refused: bool = False
    error_code: int | None = None
    error_message: str | None = None
    operator: str
    completed_at: datetime
    #: the DS task code of every task of the definition DS holds after a successful (or skipped unchanged) deploy or
    #: online of this version, so links can open a task's node in DS; ``None``: not told (an offline, a failure, or a
    #: publisher older than this field), the codes applied before stay as they are
    task_codes: tuple[DeployedTaskCode, ...] | None = None

    def key(self) -> str:
        return str(self.workflow_id)


# --- workflow.run.started ---------------------------------------------------------------------------------------


class WorkflowRunStarted(Event):
    """A run the platform started in DS (run now): consumers learn of the new instances without waiting for the next
    periodic sync (history-sync refreshes the workflow's executions at once)."""

    TYPE: ClassVar[str] = "platform.workflow.run.started"
    TOPIC: ClassVar[str] = Topics.WORKFLOW_RUN_STARTED

    workflow_id: int
    #: the publisher's run request (``run_request.id``)
    run_id: int
    instance_ids: tuple[int, ...]
    project_code: int
    engine_workflow_code: int
    operator: str
    started_at: datetime

    def key(self) -> str:
        return str(self.workflow_id)


# --- lineage.changed -------------------------------------------------------------------------------------------


class TableEdge(Part):
    """A table→table lineage edge (not an event on its own; reused inside ``LineageChanged``)."""

    source_table: Annotated[str, Field(min_length=1)]
    target_table: Annotated[str, Field(min_length=1)]


class LineageChanged(Event):
    """Native lineage change. Any combination of the parts may be present.

    - ``table_edges_added`` / ``table_edges_removed``: table→table lineage;
    - ``task_id`` with ``read_tables`` and/or ``write_tables``: replaces that task's read/write set (``None`` keeps
      the current set, an empty list clears it);
    - ``task_removed``: the task no longer exists (all its relations go).
    """

    TYPE: ClassVar[str] = "platform.lineage.changed"
    TOPIC: ClassVar[str] = Topics.LINEAGE_CHANGED

    table_edges_added: tuple[TableEdge, ...] = ()
    table_edges_removed: tuple[TableEdge, ...] = ()
    task_id: int | None = None
    read_tables: tuple[str, ...] | None = None
    write_tables: tuple[str, ...] | None = None
    task_removed: bool = False

    def key(self) -> str:
        if self.task_id is not None:
            return f"task:{self.task_id}"
        edges = self.table_edges_added or self.table_edges_removed
        return f"table:{edges[0].target_table}" if edges else "lineage"


class OpenLineageJob(Part):
    """An OpenLineage job identity (``job.namespace`` + ``job.name`` of the RunEvents an integration sends)."""

    namespace: Annotated[str, Field(min_length=1, max_length=1024)]
    name: Annotated[str, Field(min_length=1, max_length=1024)]


class TaskOpenLineageJobSet(Event):
    """A task's OpenLineage job identity was set, changed or cleared (``job: null``) in definition, which owns it
    (``data_task``): lineage-resolver applies it to its job ↔ task mapping and applies the pending lineage of a job
    it kept unmapped.

    A topic of its own (``task.openlineage-job.set``), written by definition only: the lineage producers that may
    write ``lineage.changed`` cannot remap jobs. Keyed by the task, so one task's events arrive in order (a deleted
    task's identity is cleared by an event on this topic too). ``revision`` increases with every identity change of
    any task (definition's sequence): a job that moved from one task to another stays with the later one whatever
    the order the two tasks' events arrive in.
    """

    TYPE: ClassVar[str] = "platform.task.openlineage_job.set"
    TOPIC: ClassVar[str] = Topics.TASK_OPENLINEAGE_JOB_SET

    task_id: int
    #: ``None``: the task has no identity any more
    job: OpenLineageJob | None
    revision: int
    set_by: str

    def key(self) -> str:
        return str(self.task_id)


# --- task.dependency.changed -----------------------------------------------------------------------------------


class DependencyCycle(Part):
    task_path: tuple[int, ...]
    tables: tuple[str, ...]


class TaskDependencyChanged(Event):
    TYPE: ClassVar[str] = "platform.task.dependency.changed"
    TOPIC: ClassVar[str] = Topics.TASK_DEPENDENCY_CHANGED

    task_id: int
    old_upstream: tuple[int, ...]
    new_upstream: tuple[int, ...]
    old_downstream: tuple[int, ...]
    new_downstream: tuple[int, ...]
    #: set when the new dependencies close a cycle; consumers must not apply them silently
    cycle: DependencyCycle | None = None
    cause_event_id: str | None = None

    def key(self) -> str:
        return str(self.task_id)


# --- execution.synced / workflow.execution.failed ---------------------------------------------------------------


class ExecutionSummary(Part):
    instance_id: int
    state: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: str | None = None
    command_type: str | None = None
    run_times: int | None = None
    engine_version: int | None = None
    platform_version_id: int | None = None


class ExecutionSynced(Event):
    TYPE: ClassVar[str] = "platform.execution.synced"
    TOPIC: ClassVar[str] = Topics.EXECUTION_SYNCED

    workflow_id: int
    engine_workflow_code: int
    project_code: int
    #: newest first, at most 10
    executions: tuple[ExecutionSummary, ...]
    last_execution_state: str | None = None
    synced_at: datetime

    def key(self) -> str:
        return str(self.workflow_id)


class FailureRule(StrEnum):
    FAILURE = "failure"
    STREAK = "streak"
    RATE = "rate"


class WorkflowExecutionFailed(Event):
    TYPE: ClassVar[str] = "platform.workflow.execution.failed"
    TOPIC: ClassVar[str] = Topics.WORKFLOW_EXECUTION_FAILED

    workflow_id: int
    engine_workflow_code: int
    project_code: int
    rule: FailureRule
    instance_id: int | None = None
    state: str | None = None
    #: e.g. {"streak": 3} or {"failures": 4, "window": 10, "rate": 0.4}
    details: dict[str, Any] = Field(default_factory=dict)
    #: stable per incident: alerts are deduplicated on it
    incident_key: str
    occurred_at: datetime

    def key(self) -> str:
        return str(self.workflow_id)
