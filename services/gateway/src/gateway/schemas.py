"""Request bodies and list queries of the public API, for validation at the edge and for the OpenAPI document.

They mirror the services' inputs (docs/api-contracts.md §1–2). The service stays the judge of its own rules: the
gateway forwards exactly the fields the caller sent (``forward()``: unset defaults are not invented here), and a
service's own 4xx problem is passed through unchanged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from common.bounds import INT4_MAX, INT8_MAX, ExpectedNumber, Id, Name, Number
from common.workflow import MAX_DESCRIPTION_CHARS, MAX_EDGES_PER_WORKFLOW, MAX_PARAMS, MAX_TASKS_PER_WORKFLOW
from gateway.domain.roles import Role
from gateway.domain.scopes import Scope

TaskType = Literal[
    "SHELL", "SQL", "PYTHON", "HTTP", "PROCEDURE", "DATAX", "SPARK", "FLINK", "CONDITIONS", "SUB_WORKFLOW", "SWITCH"
]
MigrationMode = Literal["only_current", "cascade_downstream", "cascade_up_and_downstream"]


PageNo = Annotated[int, Field(ge=1, le=INT4_MAX, description="1-based page")]
PageSize = Annotated[int, Field(ge=1, le=200, description="items per page (max 200)")]


class TaskListQuery(BaseModel):
    """The query of ``GET /api/v1/tasks`` (read by ``common.query.parse_query``)."""

    workflow_id: int | None = Field(None, alias="workflowId", ge=1, le=INT8_MAX)
    upstream_task_id: int | None = Field(
        None, alias="upstreamTaskId", ge=1, le=INT8_MAX, description="tasks whose upstream contains this task"
    )
    downstream_task_id: int | None = Field(
        None, alias="downstreamTaskId", ge=1, le=INT8_MAX, description="tasks whose downstream contains this task"
    )
    name: str | None = Field(None, max_length=255, description="name contains")
    page: PageNo = 1
    page_size: PageSize = 20


class WorkflowListQuery(BaseModel):
    """The query of ``GET /api/v1/workflows`` (read by ``common.query.parse_query``)."""

    name: str | None = Field(None, max_length=255, description="name contains")
    status: Literal["draft", "ready", "online", "offline", "archived"] | None = None
    publish_status: Literal["never_published", "pending", "published", "failed"] | None = None
    last_execution_state: str | None = Field(None, max_length=64)
    needs_attention: bool | None = None
    sort: Literal["name", "-name", "updated_at", "-updated_at"] = "-updated_at"
    page: PageNo = 1
    page_size: PageSize = 20


class _Forwarded(BaseModel):
    def forward(self) -> dict[str, Any]:
        out: dict[str, Any] = self.model_dump(mode="json", exclude_unset=True)
        return out


class OpenLineageJobInput(_Forwarded):
    """A task's OpenLineage job: the ``job.namespace`` and ``job.name`` the integrations that run it put in their
    RunEvents (surrounding blanks are dropped). A job is the identity of at most one task (409 names the other)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    namespace: Annotated[str, Field(min_length=1, max_length=1024)]
    name: Annotated[str, Field(min_length=1, max_length=1024)]


class TaskInput(_Forwarded):
    model_config = ConfigDict(extra="allow")

    name: Name
    task_type: TaskType
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    #: the type's parameters (``common.workflow``: ShellParams, SqlParams, PythonParams, HttpParams, ProcedureParams,
    #: DataxParams, SparkParams, FlinkParams, ConditionsParams, SubWorkflowParams, SwitchParams)
    params: dict[str, Any] | None = None
    worker_group: str | None = None
    owner: str | None = None
    #: the task's OpenLineage job identity: its RunEvents' lineage lands on this task without any other mapping
    #: step. ``null``: none; on an update, leaving the field out keeps the current one.
    openlineage_job: OpenLineageJobInput | None = None


class TaskUpdate(TaskInput):
    #: the task's revision the edit is based on (409 when it moved on)
    expected_revision: Number


class WorkflowTaskRef(_Forwarded):
    model_config = ConfigDict(extra="allow")

    task_id: Id
    node_attrs: dict[str, Any] | None = None


class EdgeInput(_Forwarded):
    model_config = ConfigDict(extra="forbid")

    upstream_task_id: Id
    downstream_task_id: Id


class WorkflowInput(_Forwarded):
    model_config = ConfigDict(extra="allow")

    name: Name
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    tasks: list[WorkflowTaskRef] | None = Field(default=None, max_length=MAX_TASKS_PER_WORKFLOW)
    edges: list[EdgeInput] | None = Field(default=None, max_length=MAX_EDGES_PER_WORKFLOW)
    #: ``{crontab, timezone, start_time, end_time}`` or null
    schedule: dict[str, Any] | None = None
    #: ``[{name, value, direction, type}]``
    global_params: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_PARAMS)
    execution_type: str | None = None
    timeout_minutes: int | None = Field(default=None, ge=0, le=INT4_MAX)


class WorkflowUpdate(WorkflowInput):
    #: the version the edit is based on (409 ``stale-version`` when it is not the current one)
    expected_version_no: ExpectedNumber


class ApproveInput(_Forwarded):
    model_config = ConfigDict(extra="forbid")

    #: the version you reviewed; it must still be the current one
    version_no: Number


class PublishInput(_Forwarded):
    model_config = ConfigDict(extra="forbid")

    operation: Literal["deploy", "online", "offline"]


class RollbackInput(_Forwarded):
    model_config = ConfigDict(extra="forbid")

    to_version_no: Number
    expected_version_no: ExpectedNumber


class MigrationPreviewInput(_Forwarded):
    model_config = ConfigDict(extra="forbid")

    task_id: Id
    target_workflow_id: Id
    mode: MigrationMode
    allow_empty_source: bool = False


class ProposalAcceptInput(_Forwarded):
    """Accepting a proposal (issue 20): ``name`` of the new draft workflow (default ``auto-<first task>``),
    ``expected_version_no`` of the workflow a task is added to, ``dependent_links`` (default true): keep the
    dependencies on other workflows' tasks as DEPENDENT links."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    expected_version_no: ExpectedNumber | None = None
    dependent_links: bool = True


class MigrationInput(MigrationPreviewInput):
    expected_source_version_no: ExpectedNumber
    expected_target_version_no: ExpectedNumber


class RunInput(_Forwarded):
    """Run now's options: ``worker_group`` (default: the publisher's), ``warning_type`` (who DolphinScheduler alerts
    when the run ends; default ``NONE``), ``schedule_time`` (what the tasks' ``$[yyyyMMdd]`` / ``system.biz.date``
    are computed from; default now: DolphinScheduler ignores a schedule time for a plain start, so a run with one is
    started as a backfill of that one date), ``failure_strategy`` (default: the workflow's, END when any of its tasks
    says END, else CONTINUE; for a batch start each workflow's own)."""

    model_config = ConfigDict(extra="forbid")

    start_params: dict[str, str] | None = None
    worker_group: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")
    failure_strategy: Literal["END", "CONTINUE"] | None = None
    dry_run: bool | None = None
    schedule_time: datetime | None = None
    warning_type: Literal["NONE", "SUCCESS", "FAILURE", "ALL"] | None = None


class BackfillInput(_Forwarded):
    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime


class BatchRunInput(RunInput):
    workflow_ids: list[Id] = Field(min_length=1, max_length=200)
    backfill: BackfillInput | None = None
    run_mode: Literal["serial", "parallel"] | None = None
    parallelism: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _one_kind_of_date(self) -> BatchRunInput:
        if self.schedule_time is not None and self.backfill is not None:
            raise ValueError("schedule_time and backfill exclude each other: a backfill's dates are its schedule times")
        return self


class ApiKeyInput(BaseModel):
    """A new API key. Its expiry is one of ``expires_at``, ``expires_in_days`` or ``never_expires: true``; none of
    them: the gateway's default lifetime (``GATEWAY_KEY_LIFETIME_DAYS``, 90 days)."""

    model_config = ConfigDict(extra="forbid")

    #: the user the key acts as
    name: str = Field(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$")
    roles: list[Role] = Field(min_length=1)
    scopes: list[Scope] | None = Field(
        default=None,
        min_length=1,
        description="limit the key to these scopes (a machine's key): workflows:read (every read), workflows:write "
        "(changes, approvals), publish (publish, online/offline, run, restore), lineage:write (POST /lineage only), "
        "admin (API keys, audit log); left out or null: only its roles limit it",
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="refused from then on (with its UTC offset; in the future, within 3660 days)"
    )
    expires_in_days: int | None = Field(default=None, ge=1, le=3660, description="refused this many days from now")
    never_expires: bool = Field(default=False, description="a key that never expires, on purpose")

    @model_validator(mode="after")
    def _one_expiry(self) -> ApiKeyInput:
        given = [self.expires_at is not None, self.expires_in_days is not None, self.never_expires]
        if sum(given) > 1:
            raise ValueError("give at most one of expires_at, expires_in_days and never_expires")
        return self

    def expiry(self, now: datetime, default_days: int) -> datetime | None:
        """When the key expires (``None``: never)."""
        if self.never_expires:
            return None
        if self.expires_at is not None:
            return self.expires_at
        return now + timedelta(days=self.expires_in_days or default_days)


class Me(BaseModel):
    #: the acting user: the key's name, or the person's user name (the ID token's ``preferred_username``)
    name: str
    roles: list[str]
    #: ``api-key`` or ``session`` (a person signed in with their company account)
    via: str = "api-key"
    #: the key's id and prefix (``null`` for a session)
    key_id: int | None
    key_prefix: str | None
    #: a person's full name and e-mail (``null`` for a key)
    display_name: str | None = None
    email: str | None = None
    #: a session's CSRF token: send it in ``X-CSRF-Token`` with every change (``null`` for a key)
    csrf_token: str | None = None
