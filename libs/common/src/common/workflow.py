"""The canonical workflow structure shared by the definition service (which owns it) and the publisher (which converts
it to DolphinScheduler JSON).

A ``StructureSnapshot`` is what ``workflow_version.structure_snapshot`` stores and what ``workflow.version.created``
carries. It is canonical: tasks sorted by ``task_id``, edges sorted by ``(upstream, downstream)``, so two snapshots of
the same structure serialise to the same bytes and hash to the same ``content_hash``.

These are plain pydantic models with no framework imports beyond pydantic, so domain code can use them freely.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: What one workflow or task may hold; more is a 422 naming the field. Far above real workflows (the benchmarks publish
#: 2,000-task workflows and validate 10,000-task DAGs), far below what would exhaust a service's memory or the 8 MiB
#: of one Kafka message that carries a version's snapshot.
MAX_TASKS_PER_WORKFLOW = 10_000
MAX_EDGES_PER_WORKFLOW = 50_000
#: global parameters of a workflow, local parameters of a task
MAX_PARAMS = 200
#: characters of one script or SQL text (a task's code, not data)
MAX_SCRIPT_CHARS = 256 * 1024
#: characters of one parameter's value
MAX_PARAM_VALUE_CHARS = 8 * 1024
#: resources of a task; pre/post statements of a SQL task
MAX_LIST_ITEMS = 100
MAX_DESCRIPTION_CHARS = 10_000

Script = Annotated[str, Field(min_length=1, max_length=MAX_SCRIPT_CHARS)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class TaskType(StrEnum):
    SHELL = "SHELL"
    SQL = "SQL"
    PYTHON = "PYTHON"
    HTTP = "HTTP"
    PROCEDURE = "PROCEDURE"
    DATAX = "DATAX"
    SPARK = "SPARK"
    FLINK = "FLINK"
    CONDITIONS = "CONDITIONS"
    SUB_WORKFLOW = "SUB_WORKFLOW"
    SWITCH = "SWITCH"


class Priority(StrEnum):
    HIGHEST = "HIGHEST"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    LOWEST = "LOWEST"


class FailureStrategy(StrEnum):
    END = "END"
    CONTINUE = "CONTINUE"


class TimeoutStrategy(StrEnum):
    WARN = "WARN"
    FAILED = "FAILED"
    WARNFAILED = "WARNFAILED"


class ExecutionType(StrEnum):
    PARALLEL = "PARALLEL"
    SERIAL_WAIT = "SERIAL_WAIT"
    SERIAL_DISCARD = "SERIAL_DISCARD"
    SERIAL_PRIORITY = "SERIAL_PRIORITY"


class ParamType(StrEnum):
    VARCHAR = "VARCHAR"
    INTEGER = "INTEGER"
    LONG = "LONG"
    FLOAT = "FLOAT"
    DOUBLE = "DOUBLE"
    DATE = "DATE"
    TIME = "TIME"
    TIMESTAMP = "TIMESTAMP"
    BOOLEAN = "BOOLEAN"
    LIST = "LIST"
    FILE = "FILE"


class Param(_Model):
    """A global or task-local parameter (DolphinScheduler ``Property``)."""

    name: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")]
    value: Annotated[str, Field(max_length=MAX_PARAM_VALUE_CHARS)] = ""
    direction: Literal["IN", "OUT"] = "IN"
    type: ParamType = ParamType.VARCHAR


LocalParams = Annotated[tuple[Param, ...], Field(max_length=MAX_PARAMS)]
Resources = Annotated[tuple[Annotated[str, Field(max_length=1024)], ...], Field(max_length=MAX_LIST_ITEMS)]
Statements = Annotated[tuple[Annotated[str, Field(max_length=MAX_SCRIPT_CHARS)], ...], Field(max_length=MAX_LIST_ITEMS)]


class ShellParams(_Model):
    kind: Literal["SHELL"] = "SHELL"
    script: Script
    local_params: LocalParams = ()
    resources: Resources = ()


class PythonParams(_Model):
    kind: Literal["PYTHON"] = "PYTHON"
    script: Script
    local_params: LocalParams = ()
    resources: Resources = ()


class SqlParams(_Model):
    kind: Literal["SQL"] = "SQL"
    datasource_name: Annotated[str, Field(min_length=1)]
    datasource_type: Annotated[str, Field(min_length=1)] = "POSTGRESQL"
    sql: Script
    #: "query" returns rows (DS sqlType 0), "non_query" changes data (DS sqlType 1)
    sql_type: Literal["query", "non_query"] = "non_query"
    pre_statements: Statements = ()
    post_statements: Statements = ()
    display_rows: Annotated[int, Field(ge=0, le=10_000)] = 10
    local_params: LocalParams = ()


class HttpParam(_Model):
    """A query parameter or header of an HTTP task (DS ``HttpProperty``: ``prop``, ``httpParametersType``,
    ``value``)."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    value: Annotated[str, Field(max_length=MAX_PARAM_VALUE_CHARS)] = ""
    #: DS ``HttpParametersType``: PARAMETER (query string) or HEADERS
    location: Literal["PARAMETER", "HEADERS"] = "PARAMETER"


HttpCheckCondition = Literal["STATUS_CODE_DEFAULT", "STATUS_CODE_CUSTOM", "BODY_CONTAINS", "BODY_NOT_CONTAINS"]


class HttpParams(_Model):
    """DS ``HttpParameters`` (task-http, apache/dolphinscheduler#16413): what the task calls and what counts as
    success. DS's ``checkParameters`` wants a URL, a method and ``connectTimeout > 0``; the rules on ``condition``
    are what ``HttpTask`` needs at run time (a custom status is parsed as an int, a body check needs text)."""

    kind: Literal["HTTP"] = "HTTP"
    url: Annotated[str, Field(min_length=1, max_length=8192, pattern=r"^(https?://|\$\{)")]
    #: DS ``HttpRequestMethod`` (HEAD, which the SDK still offers, is not one since DS 3.3)
    method: Literal["GET", "POST", "PUT", "DELETE"] = "GET"
    http_params: Annotated[tuple[HttpParam, ...], Field(max_length=MAX_PARAMS)] = ()
    body: Annotated[str, Field(max_length=MAX_SCRIPT_CHARS)] = ""
    check_condition: HttpCheckCondition = "STATUS_CODE_DEFAULT"
    #: the expected status code (STATUS_CODE_CUSTOM) or the text the body must (not) contain
    condition: Annotated[str, Field(max_length=MAX_PARAM_VALUE_CHARS)] = ""
    #: DS uses it as connect, socket and connection-request timeout, milliseconds
    connect_timeout_ms: Annotated[int, Field(ge=1, le=3_600_000)] = 60_000
    local_params: LocalParams = ()

    @model_validator(mode="after")
    def _condition_of_check(self) -> HttpParams:
        if self.check_condition == "STATUS_CODE_CUSTOM":
            if not (self.condition.isdigit() and 100 <= int(self.condition) <= 599):
                raise ValueError("condition must be an HTTP status code (100-599) for STATUS_CODE_CUSTOM")
        elif self.check_condition != "STATUS_CODE_DEFAULT" and not self.condition:
            raise ValueError(f"condition must be the text to look for in the body for {self.check_condition}")
        return self


class ProcedureParams(_Model):
    """DS ``ProcedureParameters`` (task-procedure): a stored procedure called on a DS datasource. DS's
    ``checkParameters`` wants a datasource id, its type and ``method``, the call statement (``call p(${a})``);
    IN/OUT ``local_params`` are the procedure's arguments."""

    kind: Literal["PROCEDURE"] = "PROCEDURE"
    datasource_name: Annotated[str, Field(min_length=1)]
    datasource_type: Annotated[str, Field(min_length=1)] = "POSTGRESQL"
    method: Script
    local_params: LocalParams = ()


class DataxParams(_Model):
    """DS ``DataxParameters`` (task-datax): a DataX job, either from a DataX JSON of its own (``custom_json``, DS
    ``customConfig`` 1) or built by DS from a source datasource and query and a target datasource and table
    (``customConfig`` 0). DS's ``checkParameters`` wants the JSON in the first form; both datasource ids, the query
    and the target table in the second. ``xms``/``xmx`` are the DataX JVM's heap in GB."""

    kind: Literal["DATAX"] = "DATAX"
    #: the whole DataX job JSON (``${…}`` parameters allowed); when set, the fields below but xms/xmx are not sent
    custom_json: Annotated[str, Field(max_length=MAX_SCRIPT_CHARS)] = ""
    source_datasource_name: str = ""
    source_datasource_type: str = "MYSQL"
    #: the query that reads the source
    sql: Annotated[str, Field(max_length=MAX_SCRIPT_CHARS)] = ""
    target_datasource_name: str = ""
    target_datasource_type: str = "MYSQL"
    target_table: Annotated[str, Field(max_length=1024)] = ""
    pre_statements: Statements = ()
    post_statements: Statements = ()
    #: DataX ``speed.byte`` (0: no limit) and ``speed.record``, the SDK's and DS UI's defaults
    job_speed_byte: Annotated[int, Field(ge=0)] = 0
    job_speed_record: Annotated[int, Field(ge=0)] = 1000
    xms: Annotated[int, Field(ge=1, le=1024)] = 1
    xmx: Annotated[int, Field(ge=1, le=1024)] = 1
    local_params: LocalParams = ()

    @model_validator(mode="after")
    def _one_form(self) -> DataxParams:
        if self.xms > self.xmx:
            raise ValueError("xms must not be more than xmx")
        if self.custom_json:
            return self
        missing = [
            f
            for f in ("source_datasource_name", "source_datasource_type", "sql", "target_datasource_name",
                      "target_datasource_type", "target_table")
            if not getattr(self, f).strip()
        ]  # fmt: skip
        if missing:
            raise ValueError(f"without custom_json a DATAX task needs {', '.join(missing)}")
        return self


#: a Spark/YARN memory amount: a number with an optional unit (512M, 2G)
SparkMemory = Annotated[str, Field(pattern=r"^[0-9]+[KkMmGgTt]?$", max_length=16)]


class SparkParams(_Model):
    """DS ``SparkParameters`` (task-spark): a ``spark-submit`` of a program (``main_jar``, a DS resource, with
    ``main_class`` for JAVA/SCALA) or of Spark SQL (``raw_script``). DS's ``checkParameters`` wants a program type
    and a main jar or a script; the rest are ``spark-submit`` options with the SDK's defaults."""

    kind: Literal["SPARK"] = "SPARK"
    #: DS ``ProgramType``
    program_type: Literal["JAVA", "SCALA", "PYTHON", "SQL"] = "SCALA"
    main_class: Annotated[str, Field(max_length=1024)] = ""
    #: the DS resource (its full name) that holds the program
    main_jar: Annotated[str, Field(max_length=1024)] = ""
    #: the SQL of a SQL program
    raw_script: Annotated[str, Field(max_length=MAX_SCRIPT_CHARS)] = ""
    #: ``--deploy-mode`` (``local``: ``--master local``)
    deploy_mode: Literal["cluster", "client", "local"] = "cluster"
    app_name: Annotated[str, Field(max_length=255)] = ""
    driver_cores: Annotated[int, Field(ge=1, le=1024)] = 1
    driver_memory: SparkMemory = "512M"
    num_executors: Annotated[int, Field(ge=1, le=100_000)] = 2
    executor_cores: Annotated[int, Field(ge=1, le=1024)] = 2
    executor_memory: SparkMemory = "2G"
    main_args: Annotated[str, Field(max_length=MAX_PARAM_VALUE_CHARS)] = ""
    #: further ``spark-submit`` options (``--conf k=v``)
    others: Annotated[str, Field(max_length=MAX_PARAM_VALUE_CHARS)] = ""
    yarn_queue: Annotated[str, Field(max_length=255)] = ""
    resources: Resources = ()
    local_params: LocalParams = ()

    @model_validator(mode="after")
    def _program(self) -> SparkParams:
        if self.program_type == "SQL":
            if not self.raw_script.strip():
                raise ValueError("raw_script is required for a SQL program")
        elif not self.main_jar.strip():
            raise ValueError(f"main_jar is required for a {self.program_type} program")
        elif self.program_type in ("JAVA", "SCALA") and not self.main_class.strip():
            raise ValueError(f"main_class is required for a {self.program_type} program")
        return self


class FlinkParams(_Model):
    """DS ``FlinkParameters`` (task-flink): a Flink program (``main_jar``, a DS resource, with ``main_class`` for
    JAVA/SCALA) or Flink SQL (``raw_script``, with an optional ``init_script``). DS's ``checkParameters`` wants a
    program type and a main jar or a script; the rest are ``flink run`` options with the SDK's defaults."""

    kind: Literal["FLINK"] = "FLINK"
    program_type: Literal["JAVA", "SCALA", "PYTHON", "SQL"] = "SCALA"
    main_class: Annotated[str, Field(max_length=1024)] = ""
    main_jar: Annotated[str, Field(max_length=1024)] = ""
    raw_script: Annotated[str, Field(max_length=MAX_SCRIPT_CHARS)] = ""
    #: SQL run before ``raw_script`` (``SET``/``CREATE`` statements)
    init_script: Annotated[str, Field(max_length=MAX_SCRIPT_CHARS)] = ""
    #: DS ``FlinkDeployMode`` (its JSON names)
    deploy_mode: Literal["cluster", "local", "application", "standalone"] = "cluster"
    #: the Flink version class DS builds the command for
    flink_version: Literal["<1.10", ">=1.10"] = "<1.10"
    app_name: Annotated[str, Field(max_length=255)] = ""
    job_manager_memory: SparkMemory = "1G"
    task_manager_memory: SparkMemory = "2G"
    slot: Annotated[int, Field(ge=1, le=1024)] = 1
    task_manager: Annotated[int, Field(ge=1, le=100_000)] = 2
    parallelism: Annotated[int, Field(ge=1, le=100_000)] = 1
    main_args: Annotated[str, Field(max_length=MAX_PARAM_VALUE_CHARS)] = ""
    others: Annotated[str, Field(max_length=MAX_PARAM_VALUE_CHARS)] = ""
    yarn_queue: Annotated[str, Field(max_length=255)] = ""
    resources: Resources = ()
    local_params: LocalParams = ()

    @model_validator(mode="after")
    def _program(self) -> FlinkParams:
        if self.program_type == "SQL":
            if not self.raw_script.strip():
                raise ValueError("raw_script is required for a SQL program")
        elif not self.main_jar.strip():
            raise ValueError(f"main_jar is required for a {self.program_type} program")
        elif self.program_type in ("JAVA", "SCALA") and not self.main_class.strip():
            raise ValueError(f"main_class is required for a {self.program_type} program")
        return self


TaskId = Annotated[int, Field(ge=1)]
BranchTargets = Annotated[tuple[TaskId, ...], Field(min_length=1, max_length=MAX_LIST_ITEMS)]


class ConditionCheck(_Model):
    """One upstream task's state a CONDITIONS task tests (DS ``DependentItem``: ``depTaskCode``, ``status``)."""

    task_id: TaskId
    status: Literal["SUCCESS", "FAILURE"] = "SUCCESS"


class ConditionGroup(_Model):
    """Checks joined by ``relation`` (DS ``DependentTaskModel``: ``relation``, ``dependItemList``)."""

    relation: Literal["AND", "OR"] = "AND"
    checks: Annotated[tuple[ConditionCheck, ...], Field(min_length=1, max_length=MAX_LIST_ITEMS)]


class ConditionsParams(_Model):
    """A CONDITIONS task (DS ``ConditionsParameters``): when its groups, joined by ``relation``, hold, the tasks of
    ``success_task_ids`` run, otherwise those of ``failed_task_ids``. Every checked task must be a direct upstream
    of the CONDITIONS task and every branch target a direct downstream of it in the same workflow
    (``branch_problems``, checked when the workflow is saved); DS takes them as task codes."""

    kind: Literal["CONDITIONS"] = "CONDITIONS"
    relation: Literal["AND", "OR"] = "AND"
    groups: Annotated[tuple[ConditionGroup, ...], Field(min_length=1, max_length=MAX_LIST_ITEMS)]
    success_task_ids: BranchTargets
    failed_task_ids: BranchTargets
    local_params: LocalParams = ()

    @model_validator(mode="after")
    def _branches_apart(self) -> ConditionsParams:
        for name, ids in (("success_task_ids", self.success_task_ids), ("failed_task_ids", self.failed_task_ids)):
            if len(set(ids)) != len(ids):
                raise ValueError(f"{name} lists a task twice")
        both = sorted(set(self.success_task_ids) & set(self.failed_task_ids))
        if both:
            raise ValueError(f"tasks {both} are in both success_task_ids and failed_task_ids")
        return self

    def checked_task_ids(self) -> list[int]:
        return sorted({c.task_id for g in self.groups for c in g.checks})


class SubWorkflowParams(_Model):
    """DS ``SubWorkflowParameters`` (``SUB_WORKFLOW`` on DS 3.3 and 3.4; 3.2's ``SUB_PROCESS``): the task runs another
    platform workflow, ``workflow_id``, as a child. The publisher sends the child's DolphinScheduler workflow code
    (``workflowDefinitionCode``), which the child has once it is deployed; DS takes a parent online only while every
    sub-workflow is online. A workflow is not its own child, nor do workflows run each other (422 on save)."""

    kind: Literal["SUB_WORKFLOW"] = "SUB_WORKFLOW"
    workflow_id: Annotated[int, Field(ge=1, le=2**63 - 1)]
    local_params: LocalParams = ()


class SwitchCase(_Model):
    """One case of a SWITCH task (DS ``SwitchResultVo``: ``condition``, ``nextNode``): when ``condition`` holds, the
    task ``task_id`` runs. DS evaluates the condition as a JavaScript expression after replacing each ``${name}``
    with the parameter's value (global parameters and the upstream tasks' output parameters)."""

    condition: Annotated[str, Field(min_length=1, max_length=MAX_PARAM_VALUE_CHARS)]
    task_id: TaskId

    @field_validator("condition")
    @classmethod
    def _condition_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("condition must not be blank")
        return value


class SwitchParams(_Model):
    """A SWITCH task (DS ``SwitchParameters``: ``switchResult`` {``dependTaskList`` of cases, ``nextNode``}): the
    first case whose condition holds, in order, chooses the task that runs next; when none holds ``default_task_id``
    runs (DS fails the SWITCH task when there is none). Only the chosen branch runs. Every branch target must be a
    direct downstream of the SWITCH task in the same workflow (``branch_problems``, checked when the workflow is
    saved) and is named once; DS takes them as task codes."""

    kind: Literal["SWITCH"] = "SWITCH"
    cases: Annotated[tuple[SwitchCase, ...], Field(min_length=1, max_length=MAX_LIST_ITEMS)]
    default_task_id: TaskId | None = None
    local_params: LocalParams = ()

    @model_validator(mode="after")
    def _targets_once(self) -> SwitchParams:
        seen: set[int] = set()
        for target in self.target_ids():
            if target in seen:
                raise ValueError(
                    f"task {target} is the target of more than one branch (join the conditions with || instead)"
                )
            seen.add(target)
        return self

    def target_ids(self) -> list[int]:
        """The branch targets in order: each case's, then the default's."""
        ids = [c.task_id for c in self.cases]
        return ids if self.default_task_id is None else [*ids, self.default_task_id]


TaskParams = Annotated[
    ShellParams
    | PythonParams
    | SqlParams
    | HttpParams
    | ProcedureParams
    | DataxParams
    | SparkParams
    | FlinkParams
    | ConditionsParams
    | SubWorkflowParams
    | SwitchParams,
    Field(discriminator="kind"),
]
#: the params whose task runs on a DS datasource (named by ``datasource_name`` and ``datasource_type``)
DatasourceParams = SqlParams | ProcedureParams


def datasources_of(params: object) -> tuple[tuple[str, str], ...]:
    """The DS datasources a task's params name, as ``(name, type as written)``: one for SQL and PROCEDURE, the
    source and target of a DATAX task built by DS (none with a custom DataX JSON), none for the other types."""
    if isinstance(params, DatasourceParams):
        return ((params.datasource_name, params.datasource_type),)
    if isinstance(params, DataxParams) and not params.custom_json:
        return (
            (params.source_datasource_name, params.source_datasource_type),
            (params.target_datasource_name, params.target_datasource_type),
        )
    return ()


def branch_problems(params_of: Mapping[int, object], edges: Iterable[tuple[int, int]]) -> list[dict[str, Any]]:
    """What is wrong with the CONDITIONS and SWITCH tasks among a workflow's tasks (``task_id -> params``) and edges:
    a checked task that is not a direct upstream of its CONDITIONS task, a branch target that is not a direct
    downstream of its CONDITIONS or SWITCH task (so not in the workflow either). One problem per field, with
    ``code``, ``task_id``, ``field`` (``params.groups``, ``params.success_task_ids``, ``params.failed_task_ids``;
    ``params.cases``, ``params.default_task_id``), the offending ``task_ids`` and a ``message``; empty when all is
    well."""
    branching = {tid: p for tid, p in params_of.items() if isinstance(p, ConditionsParams | SwitchParams)}
    if not branching:
        return []
    ups: dict[int, set[int]] = {}
    downs: dict[int, set[int]] = {}
    for up, down in edges:
        if down in branching:
            ups.setdefault(down, set()).add(up)
        if up in branching:
            downs.setdefault(up, set()).add(down)
    problems: list[dict[str, Any]] = []
    for tid in sorted(branching):
        p = branching[tid]
        targets_of: tuple[tuple[str, list[int]], ...]
        if isinstance(p, SwitchParams):
            kind = "SWITCH"
            default = [] if p.default_task_id is None else [p.default_task_id]
            targets_of = (("cases", [c.task_id for c in p.cases]), ("default_task_id", default))
        else:
            kind = "CONDITIONS"
            bad = [c for c in p.checked_task_ids() if c not in ups.get(tid, ())]
            if bad:
                problems.append(
                    {
                        "code": "condition_task_not_upstream",
                        "task_id": tid,
                        "field": "params.groups",
                        "task_ids": bad,
                        "message": f"CONDITIONS task {tid} checks tasks {bad} that are not its direct upstream tasks",
                    }
                )
            targets_of = (("success_task_ids", list(p.success_task_ids)), ("failed_task_ids", list(p.failed_task_ids)))
        for field, targets in targets_of:
            bad = sorted(t for t in targets if t not in downs.get(tid, ()))
            if bad:
                problems.append(
                    {
                        "code": "branch_target_not_downstream",
                        "task_id": tid,
                        "field": f"params.{field}",
                        "task_ids": bad,
                        "message": f"{kind} task {tid}: {field} {bad} are not its direct downstream tasks in "
                        "this workflow",
                    }
                )
    return problems


class NodeAttrs(_Model):
    """What publishing needs per node (seed §3 ``node_attrs``), with DolphinScheduler's defaults."""

    worker_group: Annotated[str, Field(min_length=1, max_length=64)] = "default"
    failure_strategy: FailureStrategy = FailureStrategy.END
    retries: Annotated[int, Field(ge=0, le=100)] = 0
    retry_interval_minutes: Annotated[int, Field(ge=0, le=10_080)] = 1
    timeout_minutes: Annotated[int, Field(ge=0, le=525_600)] = 0
    timeout_strategy: TimeoutStrategy | None = None
    priority: Priority = Priority.MEDIUM
    delay_minutes: Annotated[int, Field(ge=0, le=10_080)] = 0
    enabled: bool = True
    environment_code: int = -1
    cpu_quota: Annotated[int, Field(ge=-1)] = -1
    memory_max_mb: Annotated[int, Field(ge=-1)] = -1

    @model_validator(mode="after")
    def _timeout_strategy_needs_timeout(self) -> NodeAttrs:
        if self.timeout_strategy is not None and self.timeout_minutes == 0:
            raise ValueError("timeout_strategy is set but timeout_minutes is 0")
        return self


class SnapshotTask(_Model):
    task_id: int
    name: Annotated[str, Field(min_length=1, max_length=200)]
    task_type: TaskType
    description: str = ""
    params: TaskParams
    node_attrs: NodeAttrs = NodeAttrs()

    @model_validator(mode="after")
    def _params_match_type(self) -> SnapshotTask:
        if self.params.kind != self.task_type.value:
            raise ValueError(f"task {self.task_id}: params are {self.params.kind} but task_type is {self.task_type}")
        return self


class Edge(_Model):
    upstream_task_id: int
    downstream_task_id: int


class Schedule(_Model):
    #: Quartz cron, 7 fields: second minute hour day-of-month month day-of-week year
    crontab: Annotated[str, Field(min_length=1)]
    timezone: str = "UTC"
    start_time: datetime
    end_time: datetime

    @field_validator("crontab")
    @classmethod
    def _seven_fields(cls, v: str) -> str:
        v = " ".join(v.split())
        if len(v.split(" ")) not in (6, 7):
            raise ValueError("crontab must be a Quartz expression with 6 or 7 fields")
        return v


class DependentCycle(StrEnum):
    """The ``cycle`` of a DolphinScheduler DEPENDENT item: the period whose upstream run is waited for."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


#: the ``dateValue``s DolphinScheduler 3.4 takes for each cycle (``DependentUtils.getDateIntervalList``; the DS UI
#: offers them per cycle in this order). Only values known to be DS's: pydolphinscheduler's ``DependentDate`` and
#: ``thisMonthBegin`` (DS UI since apache/dolphinscheduler#9004); the DS emulator refuses any other
DEPENDENT_DATE_VALUES: dict[DependentCycle, tuple[str, ...]] = {
    DependentCycle.HOUR: ("currentHour", "last1Hour", "last2Hours", "last3Hours", "last24Hours"),
    DependentCycle.DAY: ("today", "last1Days", "last2Days", "last3Days", "last7Days"),
    DependentCycle.WEEK: (
        "thisWeek",
        "lastWeek",
        "lastMonday",
        "lastTuesday",
        "lastWednesday",
        "lastThursday",
        "lastFriday",
        "lastSaturday",
        "lastSunday",
    ),
    DependentCycle.MONTH: (
        "thisMonth",
        "thisMonthBegin",
        "lastMonth",
        "lastMonthBegin",
        "lastMonthEnd",
    ),
}


class ExternalDependency(_Model):
    """A lineage dependency on a task of ANOTHER workflow, kept as a DolphinScheduler DEPENDENT task: ``task_ids``
    (tasks of this workflow) wait until ``upstream_task_id`` of workflow ``upstream_workflow_id`` has succeeded in
    the period given by ``cycle`` and ``date_value``.

    The upstream workflow's DolphinScheduler codes are part of the version (``None`` while it was not deployed when
    the version was written): a publish sends exactly what was approved, and a change of the upstream's codes writes
    a new version of this workflow (``trigger_source=auto_orchestration``). The task code is the publisher's stable
    code of the upstream task."""

    upstream_workflow_id: int
    upstream_task_id: int
    #: the tasks of this workflow that wait for it (the DEPENDENT task is placed before each of them)
    task_ids: Annotated[tuple[int, ...], Field(min_length=1)]
    cycle: DependentCycle = DependentCycle.DAY
    date_value: str = "today"
    upstream_project_code: int | None = None
    upstream_workflow_code: int | None = None
    #: names for people and for the DEPENDENT task's name in DolphinScheduler
    upstream_workflow_name: str = ""
    upstream_task_name: str = ""

    @field_validator("task_ids")
    @classmethod
    def _sorted_unique(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(set(v)))

    @model_validator(mode="after")
    def _date_value_of_cycle(self) -> ExternalDependency:
        allowed = DEPENDENT_DATE_VALUES[self.cycle]
        if self.date_value not in allowed:
            raise ValueError(
                f"date_value {self.date_value!r} is not one of cycle {self.cycle.value}'s: {list(allowed)}"
            )
        return self

    @property
    def node_id(self) -> int:
        """The DEPENDENT task's id among the workflow's nodes: the negated upstream task id (platform task ids are
        positive), one DEPENDENT task per upstream task, stable across versions (so is its DS task code)."""
        return -self.upstream_task_id


def workflow_failure_strategy(tasks: Sequence[SnapshotTask]) -> FailureStrategy:
    """A workflow's failure strategy, which DS sets per run and per schedule (not per task): ``END`` when any of its
    tasks' ``node_attrs`` says ``END`` (one task asking to stop the run on its failure is enough), else
    ``CONTINUE``; ``END`` (the node default) for no tasks. docs/lifecycle.md states the rule."""
    if tasks and all(t.node_attrs.failure_strategy is FailureStrategy.CONTINUE for t in tasks):
        return FailureStrategy.CONTINUE
    return FailureStrategy.END


class StructureSnapshot(_Model):
    """The canonical structure of one workflow version."""

    workflow_id: int
    workflow_name: Annotated[str, Field(min_length=1, max_length=200)]
    description: str = ""
    tasks: tuple[SnapshotTask, ...]
    edges: tuple[Edge, ...] = ()
    schedule: Schedule | None = None
    global_params: tuple[Param, ...] = ()
    execution_type: ExecutionType = ExecutionType.PARALLEL
    timeout_minutes: Annotated[int, Field(ge=0)] = 0
    entry_task_ids: tuple[int, ...] = ()
    exit_task_ids: tuple[int, ...] = ()
    #: DEPENDENT links to tasks of other workflows, by upstream task id. Left out of the JSON when there are none, so
    #: the snapshots written before they existed keep their bytes and their ``content_hash``.
    external_dependencies: tuple[ExternalDependency, ...] = Field(default=(), exclude_if=lambda v: not v)

    @model_validator(mode="after")
    def _one_link_per_upstream_task(self) -> StructureSnapshot:
        ups = [d.upstream_task_id for d in self.external_dependencies]
        if len(set(ups)) != len(ups):
            raise ValueError("external_dependencies: one entry per upstream task")
        return self

    def canonical(self) -> StructureSnapshot:
        """The same snapshot with tasks, edges and params in canonical order."""
        return self.model_copy(
            update={
                "tasks": tuple(sorted(self.tasks, key=lambda t: t.task_id)),
                "edges": tuple(sorted(set(self.edges), key=lambda e: (e.upstream_task_id, e.downstream_task_id))),
                "global_params": tuple(sorted(self.global_params, key=lambda p: p.name)),
                "entry_task_ids": tuple(sorted(self.entry_task_ids)),
                "exit_task_ids": tuple(sorted(self.exit_task_ids)),
                "external_dependencies": tuple(
                    sorted(self.external_dependencies, key=lambda d: (d.upstream_workflow_id, d.upstream_task_id))
                ),
            }
        )

    def canonical_json(self) -> str:
        return self.canonical().model_dump_json()

    def content_hash(self) -> str:
        """sha256 of the canonical JSON: equal structures hash equal."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()
