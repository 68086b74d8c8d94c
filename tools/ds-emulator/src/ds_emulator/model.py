"""The emulator's DS objects (users, projects, workflows, schedules, instances) and DS's formats (dates, pages,
JSON)."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_EXECUTION_TYPE_ENUM = "org.apache.dolphinscheduler.common.enums.WorkflowExecutionTypeEnum"


#: the most task codes one ``gen-task-codes`` / ``genTaskCodeList`` call gives (DS 3.4.2)
MAX_GEN_TASK_CODES = 100


#: ``WorkflowExecutionTypeEnum`` names (parsed case-sensitively, as ``Enum.valueOf`` does)
EXECUTION_TYPES = ("PARALLEL", "SERIAL_WAIT", "SERIAL_DISCARD", "SERIAL_PRIORITY")
MASTER_HOST = "127.0.0.1:5678"
WORKER_HOST = "127.0.0.1:1234"
Json = dict[str, Any]


@functools.lru_cache(maxsize=1 << 17)
def fmt(ts: float | None) -> str | None:
    # cached: an instance list renders the same few timestamps of each instance (created, start, end, history) on
    # every read, and strftime was a fifth of the emulator's CPU per instance-list call
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).strftime(DATE_FORMAT)


def encode_json(value: Any) -> bytes:
    """JSON exactly as the REST responses encode it (Starlette's ``JSONResponse``: compact, UTF-8)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def parse_date(value: str) -> float:
    """``yyyy-MM-dd HH:mm:ss`` in UTC (the emulator's JVM and users are UTC)."""
    return datetime.strptime(value, DATE_FORMAT).replace(tzinfo=UTC).timestamp()


def format_duration(seconds: float) -> str:
    total = max(1, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if v]
    return " ".join(parts) or "1s"


def page(items: list[Json], page_no: int, page_size: int) -> Json:
    total = len(items)
    offset = (page_no - 1) * page_size
    return {
        "totalList": items[offset : offset + page_size],
        "total": total,
        "totalPage": max(1, -(-total // page_size)),
        "pageSize": page_size,
        "currentPage": page_no,
        "pageNo": offset,
    }


@dataclass
class Timing:
    submit_delay: float = 0.05
    dispatch_delay: float = 0.02
    task_duration: float = 0.2


@dataclass
class ScriptRule:
    outcome: str  # SUCCESS | FAILURE
    workflow_code: int | None = None
    task_name: str | None = None
    task_code: int | None = None
    raw_script_contains: str | None = None
    duration_seconds: float | None = None
    times: int | None = None  # None = always


@dataclass
class User:
    id: int
    user_name: str
    password: str
    tenant_id: int | None
    tenant_code: str | None
    user_type: str = "GENERAL_USER"
    queue: str = "default"
    state: int = 1
    created: float = field(default_factory=time.time)

    def to_json(self) -> Json:
        return {
            "id": self.id,
            "userName": self.user_name,
            "userType": self.user_type,
            "email": f"{self.user_name}@example.invalid",
            "phone": "",
            "tenantId": self.tenant_id,
            "tenantCode": self.tenant_code,
            "queue": self.queue,
            "queueName": self.queue,
            "state": self.state,
            "timeZone": "UTC",
            "createTime": fmt(self.created),
            "updateTime": fmt(self.created),
        }


@dataclass
class Project:
    id: int
    code: int
    name: str
    description: str
    user_id: int
    user_name: str
    created: float
    updated: float

    def to_json(self, def_count: int = 0) -> Json:
        return {
            "id": self.id,
            "userId": self.user_id,
            "userName": self.user_name,
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "createTime": fmt(self.created),
            "updateTime": fmt(self.updated),
            "perm": 7,
            "defCount": def_count,
        }


@dataclass
class Workflow:
    id: int
    code: int
    name: str
    project_code: int
    version: int
    description: str
    global_params: str
    timeout: int
    execution_type: str
    locations: str | None
    other_params_json: str | None
    release_state: str
    user_id: int
    user_name: str
    tasks: list[Json]
    relations: list[Json]
    created: float
    updated: float
    #: version -> (definition json, tasks, relations, operate time)
    logs: dict[int, tuple[Json, list[Json], list[Json], float]] = field(default_factory=dict)

    def content(self) -> Any:
        return (
            self.name,
            self.description,
            self.global_params,
            self.timeout,
            self.execution_type,
            self.locations,
            [(t["code"], t["version"]) for t in self.tasks],
            sorted((r["preTaskCode"], r["postTaskCode"]) for r in self.relations),
        )


@dataclass
class Schedule:
    id: int
    workflow_code: int
    project_code: int
    start: float
    end: float
    timezone_id: str
    crontab: str
    failure_strategy: str
    warning_type: str
    warning_group_id: int
    worker_group: str
    tenant_code: str
    environment_code: int
    priority: str
    release_state: str
    user_id: int
    user_name: str
    created: float
    updated: float


@dataclass
class TaskPlan:
    task: Json
    start: float
    end: float
    outcome: str  # SUCCESS | FAILURE


@dataclass
class TaskRun:
    id: int
    plan: TaskPlan
    instance_id: int


@dataclass
class Instance:
    id: int
    name: str
    workflow: Workflow
    workflow_version: int
    project_code: int
    created: float
    run_start: float
    end: float
    outcome: str
    plans: list[TaskPlan]
    command_type: str
    schedule_time: float | None
    failure_strategy: str
    warning_type: str
    warning_group_id: int | None
    priority: str
    worker_group: str
    tenant_code: str
    environment_code: int
    executor_id: int
    executor_name: str
    dry_run: int
    global_params: str
    task_runs: dict[int, TaskRun] = field(default_factory=dict)  # task code -> run
    #: once final: (the workflow ``timeout`` it was rendered with, the encoded instance-list entry); see
    #: :meth:`Emulator.instance_list_entry`
    list_entry: tuple[int, bytes] | None = field(default=None, repr=False, compare=False)


def _task_content(task: Json) -> str:
    return json.dumps({k: v for k, v in task.items() if k not in ("version", "id")}, sort_keys=True)


def _depth(upstream: dict[int, list[int]]) -> int:
    memo: dict[int, int] = {}

    def depth(code: int) -> int:
        if code not in memo:
            memo[code] = 1 + max((depth(p) for p in upstream.get(code, [])), default=0)
        return memo[code]

    return max((depth(c) for c in upstream), default=1)


def java_split_count(text: str, sep: str) -> int:
    """``text.split(sep).length`` with Java semantics (trailing empty pieces dropped, "" -> 1)."""
    if text == "":
        return 1
    pieces = text.split(sep)
    while len(pieces) > 1 and pieces[-1] == "":
        pieces.pop()
    return len(pieces)


def iter_dates(start: float, end: float) -> Iterable[float]:
    day = 86400.0
    current = start
    while current <= end:
        yield current
        current += day
