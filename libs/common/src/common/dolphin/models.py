"""DolphinScheduler enums (CONTRACT §4, by name) and typed views of the DS JSON we use.

DS serialises enums as names and dates as ``yyyy-MM-dd HH:mm:ss`` in ``spring.jackson.time-zone`` (UTC
in the shipped configs, and the platform requires UTC). Models ignore unknown fields so a newer DS that adds
fields still parses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, SecretStr
from pydantic.alias_generators import to_camel

DS_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class _DsEnum(StrEnum):
    """A DS enum: the value is the name DS sends; ``ds_code`` is the int DS stores."""

    @property
    def ds_code(self) -> int:
        return _CODES[type(self).__name__][self.value]


class WorkflowExecutionStatus(_DsEnum):
    SUBMITTED_SUCCESS = "SUBMITTED_SUCCESS"
    RUNNING_EXECUTION = "RUNNING_EXECUTION"
    READY_PAUSE = "READY_PAUSE"
    PAUSE = "PAUSE"
    READY_STOP = "READY_STOP"
    STOP = "STOP"
    FAILURE = "FAILURE"
    SUCCESS = "SUCCESS"
    SERIAL_WAIT = "SERIAL_WAIT"
    FAILOVER = "FAILOVER"

    @property
    def is_finished(self) -> bool:
        """A final state: SUCCESS, FAILURE, STOP, PAUSE (FAILOVER is transient: the instance is resumed)."""
        return self in _WF_FINAL

    @property
    def is_failure(self) -> bool:
        return self is WorkflowExecutionStatus.FAILURE

    @property
    def is_success(self) -> bool:
        return self is WorkflowExecutionStatus.SUCCESS


class TaskExecutionStatus(_DsEnum):
    SUBMITTED_SUCCESS = "SUBMITTED_SUCCESS"
    RUNNING_EXECUTION = "RUNNING_EXECUTION"
    PAUSE = "PAUSE"
    FAILURE = "FAILURE"
    SUCCESS = "SUCCESS"
    NEED_FAULT_TOLERANCE = "NEED_FAULT_TOLERANCE"
    KILL = "KILL"
    DELAY_EXECUTION = "DELAY_EXECUTION"
    FORCED_SUCCESS = "FORCED_SUCCESS"
    DISPATCH = "DISPATCH"

    @property
    def is_finished(self) -> bool:
        return self in _TASK_FINAL

    @property
    def is_failure(self) -> bool:
        """FAILURE, and NEED_FAULT_TOLERANCE which DS counts as a failure."""
        return self in (TaskExecutionStatus.FAILURE, TaskExecutionStatus.NEED_FAULT_TOLERANCE)

    @property
    def is_success(self) -> bool:
        return self in (TaskExecutionStatus.SUCCESS, TaskExecutionStatus.FORCED_SUCCESS)


class ReleaseState(_DsEnum):
    OFFLINE = "OFFLINE"
    ONLINE = "ONLINE"


class FailureStrategy(_DsEnum):
    END = "END"
    CONTINUE = "CONTINUE"


class WarningType(_DsEnum):
    NONE = "NONE"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    ALL = "ALL"


class Priority(_DsEnum):
    HIGHEST = "HIGHEST"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    LOWEST = "LOWEST"


class TaskDependType(_DsEnum):
    TASK_ONLY = "TASK_ONLY"
    TASK_PRE = "TASK_PRE"
    TASK_POST = "TASK_POST"


class RunMode(_DsEnum):
    RUN_MODE_SERIAL = "RUN_MODE_SERIAL"
    RUN_MODE_PARALLEL = "RUN_MODE_PARALLEL"


class CommandType(_DsEnum):
    START_PROCESS = "START_PROCESS"
    START_CURRENT_TASK_PROCESS = "START_CURRENT_TASK_PROCESS"
    RECOVER_TOLERANCE_FAULT_PROCESS = "RECOVER_TOLERANCE_FAULT_PROCESS"
    RECOVER_SUSPENDED_PROCESS = "RECOVER_SUSPENDED_PROCESS"
    START_FAILURE_TASK_PROCESS = "START_FAILURE_TASK_PROCESS"
    COMPLEMENT_DATA = "COMPLEMENT_DATA"
    SCHEDULER = "SCHEDULER"
    REPEAT_RUNNING = "REPEAT_RUNNING"
    PAUSE = "PAUSE"
    STOP = "STOP"
    RECOVER_SERIAL_WAIT = "RECOVER_SERIAL_WAIT"
    EXECUTE_TASK = "EXECUTE_TASK"
    DYNAMIC_GENERATION = "DYNAMIC_GENERATION"


class Flag(_DsEnum):
    NO = "NO"
    YES = "YES"


class WorkflowExecutionType(_DsEnum):
    PARALLEL = "PARALLEL"
    SERIAL_WAIT = "SERIAL_WAIT"
    SERIAL_DISCARD = "SERIAL_DISCARD"
    SERIAL_PRIORITY = "SERIAL_PRIORITY"


class TaskExecuteType(_DsEnum):
    BATCH = "BATCH"
    STREAM = "STREAM"


class TimeoutFlag(_DsEnum):
    CLOSE = "CLOSE"
    OPEN = "OPEN"


class TaskTimeoutStrategy(_DsEnum):
    WARN = "WARN"
    FAILED = "FAILED"
    WARNFAILED = "WARNFAILED"


class ConditionType(_DsEnum):
    NONE = "NONE"
    JUDGE = "JUDGE"
    DELAY = "DELAY"


class ExecuteType(_DsEnum):
    NONE = "NONE"
    REPEAT_RUNNING = "REPEAT_RUNNING"
    RECOVER_SUSPENDED_PROCESS = "RECOVER_SUSPENDED_PROCESS"
    START_FAILURE_TASK_PROCESS = "START_FAILURE_TASK_PROCESS"
    STOP = "STOP"
    PAUSE = "PAUSE"
    EXECUTE_TASK = "EXECUTE_TASK"


class ComplementDependentMode(_DsEnum):
    OFF_MODE = "OFF_MODE"
    ALL_DEPENDENT = "ALL_DEPENDENT"


class ExecutionOrder(_DsEnum):
    DESC_ORDER = "DESC_ORDER"
    ASC_ORDER = "ASC_ORDER"


_CODES: dict[str, dict[str, int]] = {
    "WorkflowExecutionStatus": {
        "SUBMITTED_SUCCESS": 0, "RUNNING_EXECUTION": 1, "READY_PAUSE": 2, "PAUSE": 3, "READY_STOP": 4,
        "STOP": 5, "FAILURE": 6, "SUCCESS": 7, "SERIAL_WAIT": 14, "FAILOVER": 18,
    },
    "TaskExecutionStatus": {
        "SUBMITTED_SUCCESS": 0, "RUNNING_EXECUTION": 1, "PAUSE": 3, "FAILURE": 6, "SUCCESS": 7,
        "NEED_FAULT_TOLERANCE": 8, "KILL": 9, "DELAY_EXECUTION": 12, "FORCED_SUCCESS": 13, "DISPATCH": 17,
    },
    "ReleaseState": {"OFFLINE": 0, "ONLINE": 1},
    "FailureStrategy": {"END": 0, "CONTINUE": 1},
    "WarningType": {"NONE": 0, "SUCCESS": 1, "FAILURE": 2, "ALL": 3},
    "Priority": {"HIGHEST": 0, "HIGH": 1, "MEDIUM": 2, "LOW": 3, "LOWEST": 4},
    "TaskDependType": {"TASK_ONLY": 0, "TASK_PRE": 1, "TASK_POST": 2},
    "RunMode": {"RUN_MODE_SERIAL": 0, "RUN_MODE_PARALLEL": 1},
    "CommandType": {
        "START_PROCESS": 0, "START_CURRENT_TASK_PROCESS": 1, "RECOVER_TOLERANCE_FAULT_PROCESS": 2,
        "RECOVER_SUSPENDED_PROCESS": 3, "START_FAILURE_TASK_PROCESS": 4, "COMPLEMENT_DATA": 5, "SCHEDULER": 6,
        "REPEAT_RUNNING": 7, "PAUSE": 8, "STOP": 9, "RECOVER_SERIAL_WAIT": 11, "EXECUTE_TASK": 12,
        "DYNAMIC_GENERATION": 13,
    },
    "Flag": {"NO": 0, "YES": 1},
    "WorkflowExecutionType": {"PARALLEL": 0, "SERIAL_WAIT": 1, "SERIAL_DISCARD": 2, "SERIAL_PRIORITY": 3},
    "TaskExecuteType": {"BATCH": 0, "STREAM": 1},
    "TimeoutFlag": {"CLOSE": 0, "OPEN": 1},
    "TaskTimeoutStrategy": {"WARN": 0, "FAILED": 1, "WARNFAILED": 2},
    "ConditionType": {"NONE": 0, "JUDGE": 1, "DELAY": 2},
    "ExecuteType": {
        "NONE": 0, "REPEAT_RUNNING": 1, "RECOVER_SUSPENDED_PROCESS": 2, "START_FAILURE_TASK_PROCESS": 3,
        "STOP": 4, "PAUSE": 5, "EXECUTE_TASK": 6,
    },
    "ComplementDependentMode": {"OFF_MODE": 0, "ALL_DEPENDENT": 1},
    "ExecutionOrder": {"DESC_ORDER": 0, "ASC_ORDER": 1},
}  # fmt: skip

_WF_FINAL = frozenset(
    {
        WorkflowExecutionStatus.SUCCESS,
        WorkflowExecutionStatus.FAILURE,
        WorkflowExecutionStatus.STOP,
        WorkflowExecutionStatus.PAUSE,
    }
)
_TASK_FINAL = frozenset(
    {
        TaskExecutionStatus.SUCCESS,
        TaskExecutionStatus.FORCED_SUCCESS,
        TaskExecutionStatus.FAILURE,
        TaskExecutionStatus.NEED_FAULT_TOLERANCE,
        TaskExecutionStatus.KILL,
        TaskExecutionStatus.PAUSE,
    }
)


# ----------------------------------------------------------------------------------------------------
# Dates


def parse_ds_datetime(value: Any) -> datetime | None:
    """``yyyy-MM-dd HH:mm:ss`` (UTC) -> an aware UTC datetime.

    Also accepts ISO strings, epoch milliseconds and datetimes.
    """
    if type(value) is str and len(value) == 19 and value[10] == " ":
        # the usual ``yyyy-MM-dd HH:mm:ss`` first (a dozen per instance-list page): fromisoformat reads it ~50x
        # faster than strptime; anything it refuses or reads with an offset takes the general path below
        try:
            usual: datetime | None = datetime.fromisoformat(value)
        except ValueError:
            usual = None
        if usual is not None and usual.tzinfo is None:
            return usual.replace(tzinfo=UTC)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        try:
            return datetime.strptime(value, DS_DATETIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            parsed = datetime.fromisoformat(value)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"not a DolphinScheduler date: {value!r}")


def format_ds_datetime(value: datetime) -> str:
    """An aware (or UTC-naive) datetime -> ``yyyy-MM-dd HH:mm:ss`` in UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(DS_DATETIME_FORMAT)


def _format_optional(value: datetime | None) -> str | None:
    return None if value is None else format_ds_datetime(value)


DsDateTime = Annotated[
    datetime | None,
    BeforeValidator(parse_ds_datetime),
    PlainSerializer(_format_optional, return_type=str | None),
]


def _json_object(value: Any) -> Any:
    """DS accepts (and sometimes returns) nested JSON as a string; normalise to the decoded value."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        return json.loads(value)
    return value


# ----------------------------------------------------------------------------------------------------
# Models


class DsModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)


T = TypeVar("T")


class Page(DsModel, Generic[T]):
    """DS PageInfo. ``page_no`` in a response is the row offset ``(current_page - 1) * page_size``."""

    total_list: list[T] = Field(default_factory=list)
    total: int = 0
    total_page: int = 1
    page_size: int = 10
    current_page: int = 1
    page_no: int = 0

    @property
    def page_count(self) -> int:
        """Pages derived from ``total`` (DS's own ``totalPage`` was wrong in some versions)."""
        return max(1, -(-self.total // self.page_size)) if self.page_size > 0 else 1


class WorkflowInstance(DsModel):
    id: int
    name: str | None = None
    workflow_definition_code: int | None = None
    workflow_definition_version: int | None = None
    project_code: int | None = None
    state: WorkflowExecutionStatus
    start_time: DsDateTime = None
    end_time: DsDateTime = None
    schedule_time: DsDateTime = None
    command_start_time: DsDateTime = None
    command_type: CommandType | None = None
    run_times: int | None = None
    host: str | None = None
    #: e.g. ``"1m 3s"``; only filled by the list endpoint
    duration: str | None = None
    executor_name: str | None = None
    tenant_code: str | None = None
    worker_group: str | None = None
    failure_strategy: FailureStrategy | None = None
    warning_type: WarningType | None = None
    workflow_instance_priority: Priority | None = None
    dry_run: int | None = None
    global_params: str | None = None


class TaskInstance(DsModel):
    id: int
    name: str
    task_type: str | None = None
    workflow_instance_id: int | None = None
    workflow_instance_name: str | None = None
    project_code: int | None = None
    task_code: int | None = None
    task_definition_version: int | None = None
    state: TaskExecutionStatus | None = None
    first_submit_time: DsDateTime = None
    submit_time: DsDateTime = None
    start_time: DsDateTime = None
    end_time: DsDateTime = None
    host: str | None = None
    retry_times: int | None = None
    max_retry_times: int | None = None
    duration: str | None = None
    worker_group: str | None = None
    log_path: str | None = None
    dry_run: int | None = None


class InstanceTasks(DsModel):
    workflow_instance_state: WorkflowExecutionStatus | None = None
    task_list: list[TaskInstance] = Field(default_factory=list)


class Schedule(DsModel):
    id: int
    workflow_definition_code: int | None = None
    workflow_definition_name: str | None = None
    project_name: str | None = None
    start_time: DsDateTime = None
    end_time: DsDateTime = None
    timezone_id: str | None = None
    crontab: str
    failure_strategy: FailureStrategy | None = None
    warning_type: WarningType | None = None
    warning_group_id: int | None = None
    release_state: ReleaseState
    worker_group: str | None = None
    tenant_code: str | None = None
    environment_code: int | None = None
    workflow_instance_priority: Priority | None = None
    create_time: DsDateTime = None
    update_time: DsDateTime = None


class ScheduleSpec(BaseModel):
    """The schedule JSON of CONTRACT §2.3. Always send ``timezone_id`` explicitly; times are sent in UTC."""

    model_config = ConfigDict(frozen=True)

    start_time: datetime
    end_time: datetime
    crontab: str
    timezone_id: str = "UTC"

    def to_ds_json(self) -> str:
        return json.dumps(
            {
                "startTime": format_ds_datetime(self.start_time),
                "endTime": format_ds_datetime(self.end_time),
                "crontab": self.crontab,
                "timezoneId": self.timezone_id,
            }
        )


class Project(DsModel):
    id: int | None = None
    code: int
    name: str
    description: str | None = None
    user_id: int | None = None
    user_name: str | None = None
    create_time: DsDateTime = None
    update_time: DsDateTime = None
    perm: int | None = None
    def_count: int | None = None


class WorkflowDefinition(DsModel):
    id: int | None = None
    code: int
    name: str
    version: int = 0
    release_state: ReleaseState | None = None
    project_code: int | None = None
    description: str | None = None
    global_params: str | None = None
    create_time: DsDateTime = None
    update_time: DsDateTime = None
    flag: Flag | None = None
    user_id: int | None = None
    user_name: str | None = None
    project_name: str | None = None
    timeout: int | None = None
    execution_type: WorkflowExecutionType | None = None
    schedule_release_state: ReleaseState | None = None

    @property
    def global_param_list(self) -> list[dict[str, Any]]:
        decoded = _json_object(self.global_params or "[]")
        return decoded if isinstance(decoded, list) else []


class WorkflowDefinitionLog(WorkflowDefinition):
    operator: int | None = None
    operate_time: DsDateTime = None


class TaskDefinition(DsModel):
    id: int | None = None
    code: int
    version: int = 1
    name: str
    description: str | None = None
    task_type: str
    task_params: Annotated[dict[str, Any], BeforeValidator(_json_object)] = Field(default_factory=dict)
    flag: Flag | None = None
    task_priority: Priority | None = None
    worker_group: str | None = None
    environment_code: int | None = None
    fail_retry_times: int | None = None
    fail_retry_interval: int | None = None
    timeout_flag: TimeoutFlag | None = None
    timeout_notify_strategy: TaskTimeoutStrategy | None = None
    timeout: int | None = None
    delay_time: int | None = None
    cpu_quota: int | None = None
    memory_max: int | None = None
    task_execute_type: TaskExecuteType | None = None


class TaskRelation(DsModel):
    name: str | None = None
    pre_task_code: int
    pre_task_version: int = 0
    post_task_code: int
    post_task_version: int = 0
    condition_type: ConditionType | None = None


class DagData(DsModel):
    workflow_definition: WorkflowDefinition
    workflow_task_relation_list: list[TaskRelation] = Field(default_factory=list)
    task_definition_list: list[TaskDefinition] = Field(default_factory=list)

    def edges(self) -> set[tuple[int, int]]:
        """``(pre, post)`` pairs, including the ``(0, root)`` edges."""
        return {(r.pre_task_code, r.post_task_code) for r in self.workflow_task_relation_list}


class LogChunk(DsModel):
    #: DS counts CRLF-separated pieces only; advance ``skipLineNum`` by your own ``\n`` count instead.
    line_num: int = 0
    message: str = ""


class Tenant(DsModel):
    id: int
    tenant_code: str
    description: str | None = None
    queue_id: int | None = None
    queue_name: str | None = None
    queue: str | None = None


class UserInfo(DsModel):
    id: int
    user_name: str
    user_type: str | None = None
    tenant_id: int | None = None
    tenant_code: str | None = None
    queue: str | None = None
    email: str | None = None
    state: int | None = None
    time_zone: str | None = None


class AccessToken(DsModel):
    id: int
    user_id: int
    token: SecretStr
    expire_time: DsDateTime = None
    create_time: DsDateTime = None
    update_time: DsDateTime = None
    user_name: str | None = None


class CodeAndVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: int
    version: int


class GatewayProject(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: int
    name: str
    description: str | None = None


class DataSourceRef(BaseModel):
    """What a SQL task needs from a datasource.

    The connection parameters, which hold a password, are deliberately not kept.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    type: str
