"""In-memory DolphinScheduler state and behaviour (one process, one asyncio loop, so no locks).

Instances progress on the wall clock, computed lazily whenever state is read: SUBMITTED_SUCCESS for
``submit_delay``, then RUNNING_EXECUTION while their tasks run (each task starts when its upstream tasks end and
lasts ``task_duration``), then SUCCESS or FAILURE. A task fails when a script rule says so; by default a SHELL
``rawScript`` containing ``exit 1`` fails.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ds_emulator.errors import DsError, JavaException, java_str

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_EXECUTION_TYPE_ENUM = "org.apache.dolphinscheduler.common.enums.WorkflowExecutionTypeEnum"
#: the most task codes one ``gen-task-codes`` / ``genTaskCodeList`` call gives (DS 3.4.2)
MAX_GEN_TASK_CODES = 100
#: ``WorkflowExecutionTypeEnum`` names (parsed case-sensitively, as ``Enum.valueOf`` does)
EXECUTION_TYPES = ("PARALLEL", "SERIAL_WAIT", "SERIAL_DISCARD", "SERIAL_PRIORITY")
MASTER_HOST = "127.0.0.1:5678"
WORKER_HOST = "127.0.0.1:1234"

Json = dict[str, Any]

#: DEPENDENT task params (DS 3.4 ``DependentParameters``): the ``dateValue``s of each ``cycle``
#: (``DependentUtils.getDateIntervalList``; ``common.workflow.DEPENDENT_DATE_VALUES`` holds the same table). Only
#: values known to be DS's: the SDK's ``DependentDate`` and ``thisMonthBegin`` (DS UI, apache/dolphinscheduler#9004).
DEPENDENT_DATE_VALUES: dict[str, tuple[str, ...]] = {
    "hour": ("currentHour", "last1Hour", "last2Hours", "last3Hours", "last24Hours"),
    "day": ("today", "last1Days", "last2Days", "last3Days", "last7Days"),
    "week": (
        "thisWeek", "lastWeek", "lastMonday", "lastTuesday", "lastWednesday", "lastThursday", "lastFriday",
        "lastSaturday", "lastSunday",
    ),
    "month": ("thisMonth", "thisMonthBegin", "lastMonth", "lastMonthBegin", "lastMonthEnd"),
}  # fmt: skip
DEPENDENT_RELATIONS = ("AND", "OR")
DEPENDENT_FAILURE_POLICIES = ("DEPENDENT_FAILURE_FAILURE", "DEPENDENT_FAILURE_WAITING")
#: the DS UI's item types (DS's classes have no such property; the emulator refuses other names all the same)
DEPENDENT_TYPES = ("DEPENDENT_ON_WORKFLOW", "DEPENDENT_ON_TASK")

#: DS 3.4.2 could not read the ``taskParams`` into ``DependentParameters``: ``JSONUtils.parseObject`` throws, and
#: ``generateTaskDefinitionList`` answers any exception but its own with this status, without an argument
DEPENDENT_UNREADABLE = "REQUEST_PARAMS_NOT_VALID_ERROR"
#: ``checkParameters`` refused them (and every further refusal of the emulator's): ``WORKFLOW_NODE_S_PARAMETER_INVALID``
#: with the task's name
DEPENDENT_INVALID = "WORKFLOW_NODE_S_PARAMETER_INVALID"

_INTEGER_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _unreadable(value: Any, kind: str) -> bool:
    """Whether DS's ``JSONUtils`` (Jackson, ``ACCEPT_EMPTY_ARRAY_AS_NULL_OBJECT``) certainly fails to read ``value``
    where DS has an ``object`` (a bean: null or ``[]`` read as null), a ``list`` (null read as null) or a ``number``
    (``long``/``Integer``: text that is not an integer fails; numbers, null and integer text are read)."""
    if value is None:
        return False
    if kind == "object":
        return not isinstance(value, dict) and value != []
    if kind == "list":
        return not isinstance(value, list)
    return isinstance(value, dict | list) or (isinstance(value, str) and not _INTEGER_TEXT.fullmatch(value))


def _dependent_unreadable(params: Any) -> bool:
    """Whether DS 3.4.2 cannot read DEPENDENT ``taskParams`` into ``DependentParameters`` at all."""
    if not isinstance(params, dict):
        return True  # a JSON array, text or number is no DependentParameters (``[]``: read as null, refused too)
    dependence = params.get("dependence")
    if _unreadable(dependence, "object"):
        return True
    if not isinstance(dependence, dict):
        return False
    if any(_unreadable(dependence.get(k), "number") for k in ("checkInterval", "failureWaitingTime")):
        return True
    groups = dependence.get("dependTaskList")
    if _unreadable(groups, "list"):
        return True
    for group in groups or ():
        if _unreadable(group, "object") or (
            isinstance(group, dict) and _unreadable(group.get("dependItemList"), "list")
        ):
            return True
        for item in group.get("dependItemList") or () if isinstance(group, dict) else ():
            if _unreadable(item, "object"):
                return True
            if isinstance(item, dict) and any(
                _unreadable(item.get(k), "number") for k in ("projectCode", "definitionCode", "depTaskCode")
            ):
                return True
    return False


def dependent_params_status(params: Any) -> str | None:
    """The DS status a save answers for DEPENDENT ``taskParams`` (None: accepted), never more lenient than DS 3.4.2:

    - ``DEPENDENT_UNREADABLE`` (10001) where DS cannot read them into ``DependentParameters`` (read from the 3.4.2
      api and common bytecode: ``TaskPluginManager.checkTaskParameters`` -> ``JSONUtils.parseObject``, which throws
      ``IllegalArgumentException``; ``generateTaskDefinitionList`` answers it with this status): not an object, an
      object or list property of another JSON kind, a number property given as text that is no integer;
    - ``DEPENDENT_INVALID`` (50020) where ``DependentParameters.checkParameters`` is false (task-api is not served:
      from the DS source): no ``dependence`` (or null, or ``[]``), no or an empty ``dependTaskList``, a
      ``checkInterval`` that is not positive;
    - ``DEPENDENT_INVALID`` too for what DS 3.4.2 accepts on save and cannot run (or runs otherwise than meant): an
      unknown relation, failure policy, cycle, date value of the cycle or item type (DS reads unknown enum names as
      null), an empty or null group or item, a project or workflow code that is not a positive integer, a task code
      that is not a non-negative integer (``0``: the whole workflow; DS's ``-1``, all tasks of it, is not emulated),
      a ``checkInterval`` that is not an integer (DS coerces integer text and numbers)."""
    if _dependent_unreadable(params):
        return DEPENDENT_UNREADABLE
    dependence = params.get("dependence")
    if not isinstance(dependence, dict) or not dependence.get("dependTaskList"):
        return DEPENDENT_INVALID
    interval = dependence.get("checkInterval")
    if interval is not None and not _positive_int(interval):
        return DEPENDENT_INVALID
    if dependence.get("relation", "AND") not in DEPENDENT_RELATIONS:
        return DEPENDENT_INVALID
    if dependence.get("failurePolicy", "DEPENDENT_FAILURE_FAILURE") not in DEPENDENT_FAILURE_POLICIES:
        return DEPENDENT_INVALID
    for group in dependence["dependTaskList"]:
        if not isinstance(group, dict) or group.get("relation", "AND") not in DEPENDENT_RELATIONS:
            return DEPENDENT_INVALID
        items = group.get("dependItemList")
        if not items:
            return DEPENDENT_INVALID
        for item in items:
            if not isinstance(item, dict):
                return DEPENDENT_INVALID
            if not (_positive_int(item.get("projectCode")) and _positive_int(item.get("definitionCode"))):
                return DEPENDENT_INVALID
            task_code = item.get("depTaskCode", 0)
            if not isinstance(task_code, int) or isinstance(task_code, bool) or task_code < 0:
                return DEPENDENT_INVALID
            if item.get("dateValue") not in DEPENDENT_DATE_VALUES.get(str(item.get("cycle")), ()):
                return DEPENDENT_INVALID
            if item.get("dependentType", "DEPENDENT_ON_TASK") not in DEPENDENT_TYPES:
                return DEPENDENT_INVALID
    return None


def dependent_params_valid(params: Any) -> bool:
    """Whether a save accepts DEPENDENT ``taskParams`` (:func:`dependent_params_status`)."""
    return dependent_params_status(params) is None


def dependent_intervals(date_value: str, at: float) -> list[tuple[float, float]]:
    """The periods ``[start, end)`` a DEPENDENT item checks for a run at ``at`` (UTC), as DS's
    ``DependentUtils.getDateIntervalList`` lists them: EVERY one needs a successful run (``last7Days`` is seven
    days, each with one; ``thisWeek`` is Monday up to today, ``thisMonth`` the 1st up to today, ``lastWeek`` and
    ``lastMonth`` all their days; ``currentHour``, ``today``, ``lastMonday`` … one period each)."""
    now = datetime.fromtimestamp(at, tz=UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    week = day - timedelta(days=day.weekday())
    month = day.replace(day=1)
    prev_month = (month - timedelta(days=1)).replace(day=1)
    weekdays = (
        "lastMonday",
        "lastTuesday",
        "lastWednesday",
        "lastThursday",
        "lastFriday",
        "lastSaturday",
        "lastSunday",
    )
    h, d = timedelta(hours=1), timedelta(days=1)

    def days(first: datetime, last: datetime) -> list[tuple[datetime, datetime]]:
        return [(first + i * d, first + (i + 1) * d) for i in range((last - first) // d + 1)]

    spans: list[tuple[datetime, datetime]]
    if date_value == "currentHour":
        spans = [(hour, hour + h)]
    elif date_value.startswith("last") and date_value.endswith(("Hour", "Hours")):
        n = int(date_value[4:].removesuffix("Hours").removesuffix("Hour"))
        spans = [(hour - i * h, hour - (i - 1) * h) for i in range(n, 0, -1)]
    elif date_value == "today":
        spans = [(day, day + d)]
    elif date_value.startswith("last") and date_value.endswith("Days"):
        spans = days(day - int(date_value[4:-4]) * d, day - d)
    elif date_value == "thisWeek":
        spans = days(week, day)
    elif date_value == "lastWeek":
        spans = days(week - 7 * d, week - d)
    elif date_value in weekdays:
        start = week - (7 - weekdays.index(date_value)) * d
        spans = [(start, start + d)]
    elif date_value == "thisMonth":
        spans = days(month, day)
    elif date_value == "thisMonthBegin":
        spans = [(month, month + d)]
    elif date_value == "lastMonth":
        spans = days(prev_month, month - d)
    elif date_value == "lastMonthBegin":
        spans = [(prev_month, prev_month + d)]
    else:  # lastMonthEnd
        spans = [(month - d, month)]
    return [(a.timestamp(), b.timestamp()) for a, b in spans]


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


class Emulator:
    """All DS state. Methods raise :class:`DsError` for DS business errors."""

    def __init__(
        self,
        *,
        access_token: str,
        ds_version: str = "3.4.1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._seed_token = access_token
        self.ds_version = ds_version
        self.clock = clock
        self.reset()

    # ------------------------------------------------------------------------------------------------------------
    # Set-up

    def reset(self) -> None:
        self.timing = Timing()
        self.rules: list[ScriptRule] = []
        self._ids = itertools.count(1)
        self._codes = itertools.count(int(self.clock() * 1000) * 10 % 10**13 + 10**12)
        self.tenants: dict[int, Json] = {
            -1: {"id": -1, "tenantCode": "default", "description": "default tenant", "queueId": 1,
                 "queueName": "default", "queue": "default"},
        }  # fmt: skip
        admin = User(1, "admin", "dolphinscheduler123", -1, "default", user_type="ADMIN_USER")
        self.users: dict[int, User] = {1: admin}
        self._user_ids = itertools.count(2)
        self.tokens: dict[str, tuple[int, float]] = {self._seed_token: (1, parse_date("2099-12-31 23:59:59"))}
        self.access_tokens: list[Json] = []
        self.sessions: dict[str, int] = {}
        self.projects: dict[int, Project] = {}
        self.workflows: dict[int, Workflow] = {}
        self.schedules: dict[int, Schedule] = {}
        self.instances: dict[int, Instance] = {}
        #: workflow code -> its instances (the instance list filtered by workflow reads only these)
        self.instances_by_workflow: dict[int, list[Instance]] = {}
        #: instances whose task runs are not all materialised yet (``advance`` looks only at these)
        self._pending: dict[int, Instance] = {}
        self.task_runs: dict[int, TaskRun] = {}
        self.datasources: list[Json] = []

    def next_id(self) -> int:
        return next(self._ids)

    def next_code(self) -> int:
        return next(self._codes)

    def gen_task_codes(self, count: int | None) -> list[int]:
        """DS 3.4.2 ``TaskDefinitionService.genTaskCodeList``: 1 to 100 codes, else ``DATA_IS_NOT_VALID`` with the
        number (an Integer: MessageFormat renders 1000 as "1,000")."""
        if count is None or count < 1 or count > MAX_GEN_TASK_CODES:
            raise DsError("DATA_IS_NOT_VALID", count)
        return [self.next_code() for _ in range(count)]

    def add_user(self, user_name: str, password: str, tenant_code: str | None) -> User:
        tenant_id = None
        if tenant_code is not None:
            tenant = self.tenant_by_code(tenant_code)
            if tenant is None:
                tenant = self.create_tenant(tenant_code, "")
            tenant_id = int(tenant["id"])
        existing = self.user_by_name(user_name)
        user_id = existing.id if existing else next(self._user_ids)
        user = User(user_id, user_name, password, tenant_id, tenant_code)
        self.users[user_id] = user
        return user

    def add_datasource(self, name: str, ds_type: str, connection_params: str = "{}") -> Json:
        ds = {"id": self.next_id(), "name": name, "type": ds_type.upper(), "connectionParams": connection_params}
        self.datasources.append(ds)
        return ds

    def add_rule(self, rule: ScriptRule) -> None:
        self.rules.insert(0, rule)

    # ------------------------------------------------------------------------------------------------------------
    # Users, tokens, tenants

    def user_by_name(self, name: str) -> User | None:
        return next((u for u in self.users.values() if u.user_name == name), None)

    def authenticate(self, token: str | None, session_id: str | None) -> User | None:
        now = self.clock()
        if token:
            entry = self.tokens.get(token)
            if entry is None or entry[1] < now:
                return None
            user = self.users.get(entry[0])
        elif session_id:
            user = self.users.get(self.sessions.get(session_id, -1))
        else:
            return None
        if user is None or user.state != 1:
            return None
        return user

    def login(self, user_name: str, password: str) -> str:
        user = self.user_by_name(user_name)
        if user is None or user.password != password:
            raise DsError("USER_NAME_PASSWD_ERROR")
        if user.state != 1:
            raise DsError("USER_DISABLED")
        session = f"{self.next_code():x}{int(self.clock() * 1e6):x}"
        self.sessions[session] = user.id
        return session

    def create_access_token(self, user_id: int, expire_time: str, token: str | None) -> Json:
        if user_id not in self.users:
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "userId")
        expire = parse_date(expire_time)
        value = token or f"{self.next_code():032x}"[-32:]
        now = self.clock()
        record = {
            "id": self.next_id(),
            "userId": user_id,
            "token": value,
            "expireTime": fmt(expire),
            "createTime": fmt(now),
            "updateTime": fmt(now),
            "userName": self.users[user_id].user_name,
        }
        self.tokens[value] = (user_id, expire)
        self.access_tokens.append(record)
        return record

    def tenant_by_code(self, code: str) -> Json | None:
        return next((t for t in self.tenants.values() if t["tenantCode"] == code), None)

    def create_tenant(self, code: str, description: str) -> Json:
        tenant_id = self.next_id()
        tenant: Json = {
            "id": tenant_id,
            "tenantCode": code,
            "description": description,
            "queueId": 1,
            "queueName": "default",
            "queue": "default",
        }
        self.tenants[tenant_id] = tenant
        return tenant

    # ------------------------------------------------------------------------------------------------------------
    # Projects

    def project(self, code: int) -> Project:
        project = self.projects.get(code)
        if project is None:
            raise DsError("PROJECT_NOT_FOUND", str(code))
        return project

    def project_by_name(self, name: str) -> Project | None:
        return next((p for p in self.projects.values() if p.name == name), None)

    def create_project(self, user: User, name: str, description: str) -> Project:
        if not name or len(name) > 64:
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "projectName")
        if self.project_by_name(name) is not None:
            raise DsError("PROJECT_ALREADY_EXISTS", name)
        now = self.clock()
        project = Project(self.next_id(), self.next_code(), name, description, user.id, user.user_name, now, now)
        self.projects[project.code] = project
        return project

    def project_json(self, project: Project) -> Json:
        count = sum(1 for w in self.workflows.values() if w.project_code == project.code)
        return project.to_json(count)

    # ------------------------------------------------------------------------------------------------------------
    # Workflow definitions

    def workflow(self, project_code: int, code: int) -> Workflow:
        self.project(project_code)
        wf = self.workflows.get(code)
        if wf is None or wf.project_code != project_code:
            raise DsError("WORKFLOW_DEFINITION_NOT_EXIST", str(code))
        return wf

    def workflow_by_name(self, project_code: int, name: str) -> Workflow | None:
        return next((w for w in self.workflows.values() if w.project_code == project_code and w.name == name), None)

    @staticmethod
    def _load_json_list(raw: str | None, field_name: str) -> list[Json]:
        try:
            value = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            raise DsError("DATA_IS_NOT_VALID", field_name) from None
        if not isinstance(value, list) or not value or not all(isinstance(x, dict) for x in value):
            raise DsError("DATA_IS_NOT_VALID", field_name)
        return value

    def _normalize_tasks(self, raw: str | None) -> list[Json]:
        tasks = []
        for item in self._load_json_list(raw, "taskDefinitionJson"):
            task = dict(item)
            params = task.get("taskParams")
            dependent = str(task.get("taskType", "")).upper() == "DEPENDENT"
            if isinstance(params, str):
                try:
                    params = json.loads(params) if params else ({} if not dependent else None)
                except json.JSONDecodeError:
                    # DS: the task type's parameters cannot be parsed (checked for DEPENDENT; see DEPENDENT_UNREADABLE)
                    if dependent:
                        raise DsError(DEPENDENT_UNREADABLE) from None
                    raise DsError("WORKFLOW_NODE_S_PARAMETER_INVALID", task.get("name")) from None
            if dependent and (status := dependent_params_status(params)) is not None:
                # DS: ServiceException(REQUEST_PARAMS_NOT_VALID_ERROR) carries no argument ("{0}" stays)
                raise DsError(status) if status == DEPENDENT_UNREADABLE else DsError(status, task.get("name"))
            if not isinstance(params, dict):
                raise DsError("WORKFLOW_NODE_S_PARAMETER_INVALID", task.get("name"))
            task["taskParams"] = params
            if not task.get("name") or not task.get("taskType"):
                raise DsError("DATA_IS_NOT_VALID", "taskDefinitionJson")
            if str(task["taskType"]).upper() in ("SHELL", "PYTHON") and not str(params.get("rawScript") or ""):
                raise DsError("WORKFLOW_NODE_S_PARAMETER_INVALID", task["name"])
            task["code"] = int(task.get("code") or 0) or self.next_code()
            task["version"] = max(1, int(task.get("version") or 0))
            task.pop("isCache", None)
            tasks.append(task)
        names = [t["name"] for t in tasks]
        if len(set(names)) != len(names):
            raise DsError("DATA_IS_NOT_VALID", "taskDefinitionJson")
        return tasks

    def _normalize_relations(self, raw: str | None, tasks: list[Json]) -> list[Json]:
        relations = []
        by_code = {t["code"]: t for t in tasks}
        items = self._load_json_list(raw, "taskRelationJson")
        pairs: list[tuple[int, int]] = []
        for item in items:
            try:
                pre = int(item.get("preTaskCode") or 0)
                post = int(item.get("postTaskCode") or 0)
            except (TypeError, ValueError):
                raise DsError("DATA_IS_NOT_VALID", "taskRelationJson") from None
            if post == 0:
                raise DsError("CHECK_WORKFLOW_TASK_RELATION_ERROR")
            pairs.append((pre, post))
        # DS: the relations' post codes minus the definitions' codes, joined with "," (a String argument)
        missing = list(dict.fromkeys(post for _, post in pairs if post not in by_code))
        missing += [pre for pre, _ in pairs if pre != 0 and pre not in by_code and pre not in missing]
        if missing:
            raise DsError("TASK_DEFINE_NOT_EXIST", ",".join(map(str, missing)))
        for item, (pre, post) in zip(items, pairs, strict=True):
            condition = item.get("conditionType", "NONE")
            if isinstance(condition, int):
                condition = ["NONE", "JUDGE", "DELAY"][condition] if 0 <= condition <= 2 else "NONE"
            relations.append(
                {
                    "name": item.get("name") or "",
                    "preTaskCode": pre,
                    "preTaskVersion": by_code[pre]["version"] if pre else 0,
                    "postTaskCode": post,
                    "postTaskVersion": by_code[post]["version"],
                    "conditionType": condition,
                    "conditionParams": item.get("conditionParams") or {},
                }
            )
        self._check_cycle(relations)
        return relations

    @staticmethod
    def _check_cycle(relations: list[Json]) -> None:
        graph: dict[int, list[int]] = {}
        for r in relations:
            if r["preTaskCode"]:
                graph.setdefault(r["preTaskCode"], []).append(r["postTaskCode"])
        state: dict[int, int] = {}

        def visit(node: int) -> None:
            state[node] = 1
            for nxt in graph.get(node, []):
                if state.get(nxt) == 1:
                    raise DsError("WORKFLOW_NODE_HAS_CYCLE")
                if nxt not in state:
                    visit(nxt)
            state[node] = 2

        for node in list(graph):
            if node not in state:
                visit(node)

    def _apply_task_versions(self, old: Workflow | None, tasks: list[Json]) -> None:
        """Keep a task's version when its content equals the stored one, else bump it."""
        stored = {t["code"]: t for t in (old.tasks if old else [])}
        for task in tasks:
            previous = stored.get(task["code"])
            if previous is None:
                continue
            if _task_content(previous) == _task_content(task):
                task["version"] = previous["version"]
            else:
                task["version"] = previous["version"] + 1

    def save_workflow(
        self,
        user: User,
        project: Project,
        *,
        name: str,
        description: str,
        global_params: str,
        timeout: int,
        execution_type: str,
        locations: str | None,
        other_params_json: str | None,
        task_definition_json: str | None,
        task_relation_json: str | None,
        existing: Workflow | None,
    ) -> Workflow:
        """Create (``existing`` None) or update a workflow definition (caller checks release state)."""
        if not name:
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "name")
        clash = self.workflow_by_name(project.code, name)
        if clash is not None and clash is not existing:
            raise DsError("WORKFLOW_DEFINITION_NAME_EXIST", name)
        if execution_type not in EXECUTION_TYPES:  # callers parse it as DS does; this only guards the state
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "executionType")
        try:
            params = json.loads(global_params or "[]")
        except json.JSONDecodeError:
            raise DsError("DATA_IS_NOT_VALID", "globalParams") from None
        if not isinstance(params, list):
            raise DsError("DATA_IS_NOT_VALID", "globalParams")
        tasks = self._normalize_tasks(task_definition_json)
        self._apply_task_versions(existing, tasks)
        relations = self._normalize_relations(task_relation_json, tasks)
        now = self.clock()
        if existing is None:
            wf = Workflow(
                id=self.next_id(), code=self.next_code(), name=name, project_code=project.code, version=1,
                description=description, global_params=global_params or "[]", timeout=timeout,
                execution_type=execution_type, locations=locations, other_params_json=other_params_json,
                release_state="OFFLINE", user_id=user.id, user_name=user.user_name, tasks=tasks,
                relations=relations, created=now, updated=now,
            )  # fmt: skip
            self.workflows[wf.code] = wf
            self._log_version(wf)
            return wf
        before = existing.content()
        existing.name = name
        existing.description = description
        existing.global_params = global_params or "[]"
        existing.timeout = timeout
        existing.execution_type = execution_type
        existing.locations = locations
        existing.other_params_json = other_params_json
        existing.tasks = tasks
        existing.relations = relations
        if existing.content() != before:
            existing.version += 1
            existing.updated = now
            self._log_version(existing)
        return existing

    def _log_version(self, wf: Workflow) -> None:
        wf.logs[wf.version] = (
            self.workflow_json(wf),
            json.loads(json.dumps(wf.tasks)),
            json.loads(json.dumps(wf.relations)),
            self.clock(),
        )

    def release(self, wf: Workflow, state: str) -> None:
        if state == "ONLINE":
            if wf.release_state == "ONLINE":
                return
            if not wf.relations:
                raise DsError("WORKFLOW_DAG_IS_EMPTY")
            wf.release_state = "ONLINE"
        elif state == "OFFLINE":
            wf.release_state = "OFFLINE"
            for schedule in self.schedules.values():
                if schedule.workflow_code == wf.code:
                    schedule.release_state = "OFFLINE"
        else:
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "releaseState")
        wf.updated = self.clock()

    def schedule_of(self, wf_code: int) -> Schedule | None:
        return next((s for s in self.schedules.values() if s.workflow_code == wf_code), None)

    def workflow_json(self, wf: Workflow) -> Json:
        project = self.projects.get(wf.project_code)
        schedule = self.schedule_of(wf.code)
        try:
            param_list = json.loads(wf.global_params)
        except json.JSONDecodeError:
            param_list = []
        return {
            "id": wf.id,
            "code": wf.code,
            "name": wf.name,
            "version": wf.version,
            "releaseState": wf.release_state,
            "projectCode": wf.project_code,
            "description": wf.description,
            "globalParams": wf.global_params,
            "globalParamList": param_list,
            "globalParamMap": {p.get("prop"): p.get("value") for p in param_list if isinstance(p, dict)},
            "createTime": fmt(wf.created),
            "updateTime": fmt(wf.updated),
            "flag": "YES",
            "userId": wf.user_id,
            "userName": wf.user_name,
            "projectName": project.name if project else None,
            "locations": wf.locations,
            "scheduleReleaseState": schedule.release_state if schedule else None,
            "schedule": self.schedule_json(schedule) if schedule else None,
            "timeout": wf.timeout,
            "modifyBy": wf.user_name,
            "warningGroupId": None,
            "executionType": wf.execution_type,
        }

    def dag_json(self, wf: Workflow) -> Json:
        return {
            "workflowDefinition": self.workflow_json(wf),
            "workflowTaskRelationList": [
                dict(
                    r, projectCode=wf.project_code, workflowDefinitionCode=wf.code, workflowDefinitionVersion=wf.version
                )
                for r in wf.relations
            ],
            "taskDefinitionList": [self.task_def_json(wf, t) for t in wf.tasks],
        }

    @staticmethod
    def task_def_json(wf: Workflow, task: Json) -> Json:
        out = {
            "id": None, "description": "", "flag": "YES", "taskPriority": "MEDIUM", "workerGroup": "default",
            "environmentCode": -1, "failRetryTimes": 0, "failRetryInterval": 1, "timeoutFlag": "CLOSE",
            "timeoutNotifyStrategy": None, "timeout": 0, "delayTime": 0, "taskGroupId": 0, "taskGroupPriority": 0,
            "cpuQuota": -1, "memoryMax": -1, "taskExecuteType": "BATCH", "resourceIds": "",
        }  # fmt: skip
        out.update(task)
        out.update({"projectCode": wf.project_code, "userId": wf.user_id, "userName": wf.user_name})
        return out

    def versions(self, wf: Workflow) -> list[Json]:
        out = []
        for version in sorted(wf.logs, reverse=True):
            definition, _, _, operated = wf.logs[version]
            out.append(dict(definition, version=version, operator=wf.user_id, operateTime=fmt(operated)))
        return out

    # ------------------------------------------------------------------------------------------------------------
    # Gateway behaviour (CONTRACT §1.3)

    def gateway_create_or_update(
        self,
        user_name: str,
        project_name: str,
        name: str,
        description: str | None,
        global_params: str | None,
        schedule: str | None,
        online_schedule: bool,
        warning_type: str | None,
        warning_group_id: int,
        timeout: int,
        worker_group: str | None,
        release_state: int,
        task_relation_json: str | None,
        task_definition_json: str | None,
        other_params_json: str | None,
        execution_type: str | None,
    ) -> int:
        user = self.user_by_name(user_name)
        if user is None:
            raise JavaException(f"java.lang.NullPointerException: user {user_name} does not exist")
        if user.tenant_code is None:
            raise JavaException("Can not create or update workflow for user who not related to any tenant.")
        project = self.project_by_name(project_name)
        if project is None:
            raise JavaException(f"java.lang.NullPointerException: project {project_name} does not exist")
        existing = self.workflow_by_name(project.code, name)
        # DS: WorkflowExecutionTypeEnum.valueOf(executionType), case-sensitive, before anything changes
        if execution_type is None:
            raise JavaException("Name is null")
        if execution_type not in EXECUTION_TYPES:
            raise JavaException(f"No enum constant {_EXECUTION_TYPE_ENUM}.{execution_type}")
        if existing is not None:
            self.release(existing, "OFFLINE")
        wf = self.save_workflow(
            user,
            project,
            name=name,
            description=description or "",
            global_params=global_params or "[]",
            timeout=timeout,
            execution_type=execution_type,
            locations=None,
            other_params_json=other_params_json,
            task_definition_json=task_definition_json,
            task_relation_json=task_relation_json,
            existing=existing,
        )
        if schedule is not None:
            self.release(wf, "ONLINE")
            self.upsert_schedule(
                user, wf, schedule,
                warning_type=(warning_type or "NONE"), warning_group_id=warning_group_id,
                failure_strategy="CONTINUE", worker_group=worker_group or "default",
                tenant_code=user.tenant_code, environment_code=-1, priority="MEDIUM",
            )  # fmt: skip
            if online_schedule:
                sched = self.schedule_of(wf.code)
                if sched is not None:
                    sched.release_state = "ONLINE"
        if release_state not in (0, 1):
            raise JavaException(f"unknown release state {release_state}")
        self.release(wf, "ONLINE" if release_state == 1 else "OFFLINE")
        return wf.code

    def gateway_code_and_version(self, project_name: str, workflow_name: str, task_name: str) -> Json:
        project = self.project_by_name(project_name)
        wf = self.workflow_by_name(project.code, workflow_name) if project else None
        task = next((t for t in wf.tasks if t["name"] == task_name), None) if wf else None
        if task is None:
            return {"code": self.next_code(), "version": 0}
        return {"code": task["code"], "version": task["version"]}

    def gateway_create_or_grant_project(self, user_name: str, name: str, description: str | None) -> None:
        user = self.user_by_name(user_name)
        if user is None:
            raise JavaException(f"java.lang.NullPointerException: user {user_name} does not exist")
        if self.project_by_name(name) is None:
            self.create_project(user, name, description or "")

    def gateway_datasource(self, name: str, ds_type: str | None) -> Json:
        """DS 3.4.2: by name, then the type compared ignoring case (``StringUtils.equalsIgnoreCase``, so a null type
        matches nothing), exactly one."""
        named = [ds for ds in self.datasources if ds["name"] == name]
        if not named:
            raise JavaException(f"Can not find any datasource by name {name}")
        typed = [ds for ds in named if ds_type is not None and ds["type"].lower() == ds_type.lower()]
        if len(typed) > 1:
            raise JavaException(f"Get more than one datasource by name {name}")
        if not typed:
            raise JavaException(f"Can not find any datasource by name {name} and type {java_str(ds_type)}")
        return typed[0]

    def gateway_dependent_info(self, project_name: str, workflow_name: str, task_name: str | None) -> Json:
        project = self.project_by_name(project_name)
        if project is None:
            raise JavaException(f"Can not find valid project by name {project_name}")
        wf = self.workflow_by_name(project.code, workflow_name)
        if wf is None:
            raise JavaException(f"Can not find valid workflow definition by name {workflow_name}")
        out: Json = {"projectCode": project.code, "workflowDefinitionCode": wf.code}
        if task_name:
            task = next((t for t in wf.tasks if t["name"] == task_name), None)
            if task is None:
                raise JavaException(f"Can not find valid task by name {task_name}")
            out["taskDefinitionCode"] = task["code"]
        return out

    def gateway_exec(self, user_name: str, project_name: str, workflow_name: str) -> None:
        """``execWorkflowInstance`` cannot start anything on 3.4.x: it onlines the workflow, then triggers it with
        ``WarningType.of(warningType)`` (null for every name) and no tenant, which the trigger validator rejects
        ("Tenant: [null] not exists"). Nothing of ours calls it; the emulator fails the same way."""
        user = self.user_by_name(user_name)
        project = self.project_by_name(project_name)
        wf = self.workflow_by_name(project.code, workflow_name) if project is not None else None
        if user is None or wf is None:
            raise JavaException("java.lang.NullPointerException")
        self.release(wf, "ONLINE")
        problem = self.trigger_problem(wf, None)
        assert problem is not None
        raise JavaException(problem)

    # ------------------------------------------------------------------------------------------------------------
    # Schedules

    def _parse_schedule(self, raw: str) -> tuple[float, float, str, str]:
        try:
            spec = json.loads(raw)
            start = parse_date(spec["startTime"])
            end = parse_date(spec["endTime"])
            crontab = str(spec["crontab"])
            timezone_id = str(spec.get("timezoneId") or "UTC")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "schedule") from None
        if start == end:
            raise DsError("SCHEDULE_START_TIME_END_TIME_SAME")
        if start > end:
            raise DsError("START_TIME_BIGGER_THAN_END_TIME_ERROR")
        if len(crontab.split()) not in (6, 7):
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", crontab)
        return start, end, crontab, timezone_id

    def upsert_schedule(
        self,
        user: User,
        wf: Workflow,
        raw: str,
        *,
        warning_type: str,
        warning_group_id: int,
        failure_strategy: str,
        worker_group: str,
        tenant_code: str,
        environment_code: int,
        priority: str,
    ) -> Schedule:
        start, end, crontab, tz = self._parse_schedule(raw)
        now = self.clock()
        schedule = self.schedule_of(wf.code)
        if schedule is None:
            schedule = Schedule(
                self.next_id(), wf.code, wf.project_code, start, end, tz, crontab, failure_strategy,
                warning_type, warning_group_id, worker_group, tenant_code, environment_code, priority,
                "OFFLINE", user.id, user.user_name, now, now,
            )  # fmt: skip
            self.schedules[schedule.id] = schedule
            return schedule
        schedule.start, schedule.end, schedule.crontab, schedule.timezone_id = start, end, crontab, tz
        schedule.failure_strategy, schedule.warning_type = failure_strategy, warning_type
        schedule.warning_group_id, schedule.worker_group = warning_group_id, worker_group
        schedule.tenant_code, schedule.environment_code, schedule.priority = tenant_code, environment_code, priority
        schedule.updated = now
        return schedule

    def tenant_problem(self, tenant_code: str | None) -> str | None:
        """DS's ``TenantExistValidator``: the text of its exception when the tenant does not exist (the
        endpoint answers it under its own ``@ApiException`` code)."""
        if tenant_code is None or self.tenant_by_code(tenant_code) is None:
            return f"Tenant: [{java_str(tenant_code)}] not exists"
        return None

    def trigger_problem(self, wf: Workflow, tenant_code: str | None) -> str | None:
        """DS's trigger/backfill validators after the workflow was found: the text of the exception they throw."""
        if wf.release_state != "ONLINE":
            return "The workflowDefinition should be online"
        return self.tenant_problem(tenant_code)

    def schedule(self, project_code: int, schedule_id: int) -> Schedule:
        self.project(project_code)
        schedule = self.schedules.get(schedule_id)
        if schedule is None or schedule.project_code != project_code:
            raise DsError("SCHEDULE_NOT_EXISTS", schedule_id)
        return schedule

    def schedule_json(self, s: Schedule) -> Json:
        wf = self.workflows.get(s.workflow_code)
        project = self.projects.get(s.project_code)
        return {
            "id": s.id,
            "workflowDefinitionCode": s.workflow_code,
            "workflowDefinitionName": wf.name if wf else None,
            "projectName": project.name if project else None,
            "definitionDescription": wf.description if wf else None,
            "startTime": fmt(s.start),
            "endTime": fmt(s.end),
            "timezoneId": s.timezone_id,
            "crontab": s.crontab,
            "failureStrategy": s.failure_strategy,
            "warningType": s.warning_type,
            "createTime": fmt(s.created),
            "updateTime": fmt(s.updated),
            "userId": s.user_id,
            "userName": s.user_name,
            "releaseState": s.release_state,
            "warningGroupId": s.warning_group_id,
            "workflowInstancePriority": s.priority,
            "workerGroup": s.worker_group,
            "tenantCode": s.tenant_code,
            "environmentCode": s.environment_code,
            "environmentName": None,
        }

    # ------------------------------------------------------------------------------------------------------------
    # Executions

    def _rule_for(self, wf: Workflow, task: Json | None) -> ScriptRule | None:
        """The first live rule for the instance (``task`` None) or for one task.

        A rule with a task selector (name, code or script text) applies to tasks; one without applies to the
        whole instance. ``workflow_code`` narrows either kind to one workflow.
        """
        for rule in self.rules:
            if rule.times is not None and rule.times <= 0:
                continue
            if rule.workflow_code is not None and rule.workflow_code != wf.code:
                continue
            is_task_rule = bool(rule.task_name or rule.task_code or rule.raw_script_contains)
            if task is None:
                if is_task_rule:
                    continue
                return rule
            if not is_task_rule:
                continue
            script = str(task.get("taskParams", {}).get("rawScript", ""))
            if (
                (rule.task_name is not None and rule.task_name != task["name"])
                or (rule.task_code is not None and rule.task_code != task["code"])
                or (rule.raw_script_contains is not None and rule.raw_script_contains not in script)
            ):
                continue
            return rule
        return None

    @staticmethod
    def _consume(rule: ScriptRule | None) -> None:
        if rule is not None and rule.times is not None:
            rule.times -= 1

    def _plan(self, wf: Workflow, run_start: float, failure_strategy: str) -> tuple[list[TaskPlan], float, str]:
        tasks = {t["code"]: t for t in wf.tasks}
        upstream: dict[int, list[int]] = {}
        in_dag: list[int] = []
        for r in wf.relations:
            post = r["postTaskCode"]
            if post not in upstream:
                upstream[post] = []
                in_dag.append(post)
            if r["preTaskCode"]:
                upstream[post].append(r["preTaskCode"])
        wf_rule = self._rule_for(wf, None)
        self._consume(wf_rule)
        duration = self.timing.task_duration
        if wf_rule is not None and wf_rule.duration_seconds is not None:
            duration = wf_rule.duration_seconds / max(1, _depth(upstream))
        # topological order
        order: list[int] = []
        seen: set[int] = set()

        def visit(code: int) -> None:
            if code in seen:
                return
            seen.add(code)
            for pre in upstream.get(code, []):
                visit(pre)
            order.append(code)

        for code in in_dag:
            visit(code)
        ends: dict[int, float] = {}
        failed: set[int] = set()
        skipped: set[int] = set()
        plans: list[TaskPlan] = []
        for code in order:
            task = tasks[code]
            pres = upstream.get(code, [])
            if any(p in failed or p in skipped for p in pres):
                skipped.add(code)
                continue
            start = max((ends[p] for p in pres if p in ends), default=run_start)
            if task.get("flag", "YES") == "NO":
                ends[code] = start
                continue
            rule = self._rule_for(wf, task)
            outcome = "SUCCESS"
            if rule is not None:
                outcome = rule.outcome
                self._consume(rule)
            elif str(task.get("taskType", "")).upper() == "DEPENDENT":
                outcome = self._dependent_outcome(task, start)
            elif "exit 1" in str(task.get("taskParams", {}).get("rawScript", "")):
                outcome = "FAILURE"
            task_duration = rule.duration_seconds if rule and rule.duration_seconds is not None else duration
            ends[code] = start + task_duration
            plans.append(TaskPlan(json.loads(json.dumps(task)), start, start + task_duration, outcome))
            if outcome == "FAILURE":
                failed.add(code)
        if failure_strategy == "END" and failed:
            first_failure = min(p.end for p in plans if p.outcome == "FAILURE")
            plans = [p for p in plans if p.start < first_failure]
        if wf_rule is not None and wf_rule.outcome == "FAILURE" and plans and not failed:
            last = max(p.end for p in plans)
            for p in plans:
                if p.end == last:
                    p.outcome = "FAILURE"
        outcome = "FAILURE" if any(p.outcome == "FAILURE" for p in plans) else "SUCCESS"
        end = max((p.end for p in plans), default=run_start)
        return plans, end, outcome

    def _dependent_outcome(self, task: Json, at: float) -> str:
        """A DEPENDENT task's outcome at ``at``: each item holds when the workflow ``definitionCode`` (of project
        ``projectCode``) has an instance that succeeded in the item's period, in which the task ``depTaskCode`` (0:
        the whole workflow) succeeded, finished by ``at``; items and groups combine by their relations. Nothing to
        wait for fails the task (``DEPENDENT_FAILURE_FAILURE``; the emulator does not wait)."""
        dependence = task["taskParams"]["dependence"]

        def succeeded_in(item: Json, start: float, end: float) -> bool:
            task_code = int(item.get("depTaskCode") or 0)
            for inst in self.instances_by_workflow.get(int(item["definitionCode"]), ()):
                if inst.project_code != int(item["projectCode"]) or not start <= inst.run_start < end:
                    continue
                if task_code == 0:
                    if inst.outcome == "SUCCESS" and inst.end <= at:
                        return True
                elif any(p.task["code"] == task_code and p.outcome == "SUCCESS" and p.end <= at for p in inst.plans):
                    return True
            return False

        def holds(item: Json) -> bool:
            return all(succeeded_in(item, a, b) for a, b in dependent_intervals(item["dateValue"], at))

        def combine(relation: str, results: Iterable[bool]) -> bool:
            return all(results) if relation == "AND" else any(results)

        ok = combine(
            dependence.get("relation", "AND"),
            (
                combine(g.get("relation", "AND"), (holds(i) for i in g["dependItemList"]))
                for g in dependence["dependTaskList"]
            ),
        )
        return "SUCCESS" if ok else "FAILURE"

    def start(
        self,
        user: User,
        wf: Workflow,
        *,
        command_type: str = "START_PROCESS",
        schedule_time: float | None = None,
        failure_strategy: str = "END",
        warning_type: str = "NONE",
        warning_group_id: int | None = None,
        priority: str = "MEDIUM",
        worker_group: str = "default",
        tenant_code: str = "default",
        environment_code: int = -1,
        dry_run: int = 0,
        start_params: str | None = None,
    ) -> int:
        problem = self.trigger_problem(wf, tenant_code)
        if problem is not None:  # the callers check first and answer as their endpoint does
            raise JavaException(problem)
        now = self.clock()
        run_start = now + self.timing.submit_delay
        plans, end, outcome = self._plan(wf, run_start, failure_strategy)
        stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%d%H%M%S%f")[:17]
        inst_id = self.next_id()
        run_times = 1 + sum(1 for i in self.instances.values() if i.workflow.code == wf.code)
        instance = Instance(
            id=inst_id, name=f"{wf.name}-{run_times}-{stamp}", workflow=wf, workflow_version=wf.version,
            project_code=wf.project_code, created=now, run_start=run_start, end=end, outcome=outcome,
            plans=plans, command_type=command_type, schedule_time=schedule_time,
            failure_strategy=failure_strategy, warning_type=warning_type, warning_group_id=warning_group_id,
            priority=priority, worker_group=worker_group, tenant_code=tenant_code,
            environment_code=environment_code, executor_id=user.id, executor_name=user.user_name,
            dry_run=dry_run, global_params=wf.global_params,
        )  # fmt: skip
        del start_params
        self._add_instance(instance)
        return inst_id

    def _add_instance(self, instance: Instance) -> None:
        self.instances[instance.id] = instance
        self.instances_by_workflow.setdefault(instance.workflow.code, []).append(instance)
        self._pending[instance.id] = instance

    def seed_bulk(
        self,
        project_name: str,
        workflows: int,
        instances_per_workflow: int,
        *,
        failure_every: int = 0,
        spacing_seconds: float = 60.0,
    ) -> Json:
        """Emulator only: ``workflows`` ONLINE one-task workflows in ``project_name`` (created for admin if
        missing), each with ``instances_per_workflow`` finished instances started in the past (every
        ``failure_every``-th instance fails). Bypasses the per-call validation so 10,000 workflows take seconds."""
        admin = self.users[1]
        project = self.project_by_name(project_name) or self.create_project(admin, project_name, "bulk seed")
        now = self.clock()
        codes: list[int] = []
        n = 0
        for i in range(workflows):
            task_code = self.next_code()
            task: Json = {
                "code": task_code, "version": 1, "name": "seeded", "description": "", "taskType": "SHELL",
                "taskParams": {"rawScript": "echo seeded", "localParams": [], "resourceList": []},
                "flag": "YES", "taskPriority": "MEDIUM", "workerGroup": "default", "environmentCode": -1,
                "failRetryTimes": 0, "failRetryInterval": 1, "timeoutFlag": "CLOSE", "timeout": 0, "delayTime": 0,
                "taskExecuteType": "BATCH",
            }  # fmt: skip
            relation: Json = {
                "name": "", "preTaskCode": 0, "preTaskVersion": 0, "postTaskCode": task_code, "postTaskVersion": 1,
                "conditionType": "NONE", "conditionParams": {},
            }  # fmt: skip
            wf = Workflow(
                id=self.next_id(), code=self.next_code(), name=f"{project_name}-wf-{i}", project_code=project.code,
                version=1, description="", global_params="[]", timeout=0, execution_type="PARALLEL", locations=None,
                other_params_json=None, release_state="ONLINE", user_id=admin.id, user_name=admin.user_name,
                tasks=[task], relations=[relation], created=now, updated=now,
            )  # fmt: skip
            self.workflows[wf.code] = wf
            codes.append(wf.code)
            for j in range(instances_per_workflow):
                n += 1
                created = now - (instances_per_workflow - j) * spacing_seconds
                outcome = "FAILURE" if failure_every and n % failure_every == 0 else "SUCCESS"
                plan = TaskPlan(dict(task), created + 0.05, created + 1.0, outcome)
                stamp = datetime.fromtimestamp(created, tz=UTC).strftime("%Y%m%d%H%M%S%f")[:17]
                instance = Instance(
                    id=self.next_id(), name=f"{wf.name}-{j + 1}-{stamp}", workflow=wf, workflow_version=1,
                    project_code=project.code, created=created, run_start=plan.start, end=plan.end,
                    outcome=outcome, plans=[plan], command_type="SCHEDULER", schedule_time=created,
                    failure_strategy="END", warning_type="NONE", warning_group_id=None, priority="MEDIUM",
                    worker_group="default", tenant_code="default", environment_code=-1, executor_id=admin.id,
                    executor_name=admin.user_name, dry_run=0, global_params="[]",
                )  # fmt: skip
                self._add_instance(instance)
        return {"projectCode": project.code, "projectName": project.name, "workflowCodes": codes, "instances": n}

    def advance(self) -> None:
        """Materialise task instances that have started by now (ids in start order)."""
        now = self.clock()
        for instance in list(self._pending.values()):
            if len(instance.task_runs) == len(instance.plans):
                del self._pending[instance.id]
                continue
            for plan in sorted(instance.plans, key=lambda p: (p.start, p.task["code"])):
                code = plan.task["code"]
                if plan.start <= now and code not in instance.task_runs:
                    run = TaskRun(self.next_id(), plan, instance.id)
                    instance.task_runs[code] = run
                    self.task_runs[run.id] = run

    def instance_state(self, instance: Instance, now: float) -> str:
        if now < instance.run_start:
            return "SUBMITTED_SUCCESS"
        if now < instance.end:
            return "RUNNING_EXECUTION"
        return instance.outcome

    def instance(self, project_code: int, instance_id: int) -> Instance:
        self.project(project_code)
        self.advance()
        instance = self.instances.get(instance_id)
        if instance is None or instance.project_code != project_code:
            raise DsError("WORKFLOW_INSTANCE_NOT_EXIST", str(instance_id))
        return instance

    def instance_json(self, instance: Instance, *, with_duration: bool, now: float | None = None) -> Json:
        now = self.clock() if now is None else now
        state = self.instance_state(instance, now)
        finished = state in ("SUCCESS", "FAILURE")
        history = [{"time": fmt(instance.created), "state": "SUBMITTED_SUCCESS", "desc": "init running"}]
        if now >= instance.run_start:
            history.append({"time": fmt(instance.run_start), "state": "RUNNING_EXECUTION", "desc": "start running"})
        if finished:
            history.append({"time": fmt(instance.end), "state": state, "desc": "update by workflow executor"})
        out: Json = {
            "id": instance.id,
            "workflowDefinitionCode": instance.workflow.code,
            "workflowDefinitionVersion": instance.workflow_version,
            "projectCode": instance.project_code,
            "state": state,
            "stateHistory": json.dumps(history),
            "recovery": "NO",
            "startTime": fmt(instance.created),
            "endTime": fmt(instance.end) if finished else None,
            "runTimes": 1,
            "name": instance.name,
            "host": MASTER_HOST if now >= instance.run_start else None,
            "commandType": instance.command_type,
            "commandParam": "{}",
            "taskDependType": "TASK_POST",
            "maxTryTimes": 0,
            "failureStrategy": instance.failure_strategy,
            "warningType": instance.warning_type,
            "warningGroupId": instance.warning_group_id,
            "scheduleTime": fmt(instance.schedule_time),
            "commandStartTime": fmt(instance.created),
            "globalParams": instance.global_params,
            "executorId": instance.executor_id,
            "executorName": instance.executor_name,
            "tenantCode": instance.tenant_code,
            "queue": "default",
            "isSubWorkflow": "NO",
            "historyCmd": instance.command_type,
            "duration": None,
            "workflowInstancePriority": instance.priority,
            "workerGroup": instance.worker_group,
            "environmentCode": instance.environment_code,
            "timeout": instance.workflow.timeout,
            "varPool": "[]",
            "nextWorkflowInstanceId": 0,
            "dryRun": instance.dry_run,
            "restartTime": fmt(instance.created),
        }
        if with_duration:
            out["duration"] = format_duration((instance.end if finished else now) - instance.created)
        return out

    def instance_list_entry(self, instance: Instance, now: float) -> bytes:
        """The instance as the list endpoint renders it (``instance_json`` with its duration), encoded as the REST
        envelope encodes it. A final instance (SUCCESS or FAILURE) no longer changes, except for its workflow's
        ``timeout`` (a workflow update), so its bytes are kept and reused while that timeout stays the same; a
        submitted or running one is encoded at every read (state, host, end time and duration progress)."""
        cached = instance.list_entry
        timeout = instance.workflow.timeout
        if cached is not None and cached[0] == timeout:
            return cached[1]
        encoded = encode_json(self.instance_json(instance, with_duration=True, now=now))
        if now >= instance.end:
            instance.list_entry = (timeout, encoded)
        return encoded

    def workflow_instances_newest_first(self, project_code: int, workflow_code: int, now: float) -> list[Instance]:
        """A workflow's instances in the list endpoint's order (as :meth:`list_instances` sorts them)."""
        items = [i for i in self.instances_by_workflow.get(workflow_code, ()) if i.project_code == project_code]
        items.sort(key=lambda i: (i.created, i.end if now >= i.end else 0.0, i.id), reverse=True)
        return items

    def list_instances(
        self, project_code: int, filters: Callable[[Instance, Json], bool], workflow_code: int | None = None
    ) -> list[Json]:
        self.project(project_code)
        self.advance()
        now = self.clock()
        candidates = (
            self.instances.values() if workflow_code is None else self.instances_by_workflow.get(workflow_code, [])
        )
        items = [
            (i, self.instance_json(i, with_duration=True, now=now))
            for i in candidates
            if i.project_code == project_code
        ]
        items = [(i, j) for i, j in items if filters(i, j)]
        items.sort(key=lambda ij: (ij[0].created, ij[0].end if ij[1]["endTime"] else 0.0, ij[0].id), reverse=True)
        return [j for _, j in items]

    def task_state(self, run: TaskRun, now: float) -> tuple[str, str | None]:
        plan = run.plan
        if now < plan.start + min(self.timing.dispatch_delay, (plan.end - plan.start) / 2):
            return "SUBMITTED_SUCCESS", None
        if now < plan.end:
            return "RUNNING_EXECUTION", WORKER_HOST
        return plan.outcome, WORKER_HOST

    def task_json(self, run: TaskRun) -> Json:
        now = self.clock()
        instance = self.instances[run.instance_id]
        state, host = self.task_state(run, now)
        task = run.plan.task
        finished = state in ("SUCCESS", "FAILURE")
        return {
            "id": run.id,
            "name": task["name"],
            "taskType": task["taskType"],
            "workflowInstanceId": instance.id,
            "workflowInstanceName": instance.name,
            "projectCode": instance.project_code,
            "taskCode": task["code"],
            "taskDefinitionVersion": task["version"],
            "processDefinitionName": instance.workflow.name,
            "state": state,
            "firstSubmitTime": fmt(run.plan.start),
            "submitTime": fmt(run.plan.start),
            "startTime": fmt(run.plan.start) if host else None,
            "endTime": fmt(run.plan.end) if finished else None,
            "host": host,
            "executePath": f"/opt/dolphinscheduler/exec/{instance.id}/{run.id}" if host else None,
            "logPath": f"/opt/dolphinscheduler/logs/{instance.id}/{run.id}.log" if host else None,
            "retryTimes": 0,
            "alertFlag": "NO",
            "pid": 4242 if host else 0,
            "appLink": None,
            "flag": "YES",
            "duration": format_duration((run.plan.end if finished else now) - run.plan.start) if host else None,
            "maxRetryTimes": int(task.get("failRetryTimes") or 0),
            "retryInterval": int(task.get("failRetryInterval") or 1),
            "taskInstancePriority": task.get("taskPriority", "MEDIUM"),
            "workflowInstancePriority": instance.priority,
            "workerGroup": task.get("workerGroup", "default"),
            "environmentCode": task.get("environmentCode", -1),
            "executorId": instance.executor_id,
            "varPool": "[]",
            "executorName": instance.executor_name,
            "delayTime": int(task.get("delayTime") or 0),
            "taskParams": json.dumps(task.get("taskParams", {})),
            "dryRun": instance.dry_run,
            "taskGroupId": 0,
            "cpuQuota": task.get("cpuQuota", -1),
            "memoryMax": task.get("memoryMax", -1),
            "taskExecuteType": task.get("taskExecuteType", "BATCH"),
        }

    def log_lines(self, run: TaskRun) -> list[str]:
        now = self.clock()
        state, host = self.task_state(run, now)
        if host is None:
            raise DsError("TASK_INSTANCE_HOST_IS_NULL")
        task = run.plan.task
        stamp = datetime.fromtimestamp(run.plan.start, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23] + " +0000"
        script = str(task.get("taskParams", {}).get("rawScript", ""))
        lines = [
            f"[INFO] {stamp} - Begin to initialize task {task['name']}",
            f"[INFO] {stamp} - Set task workDir to /opt/dolphinscheduler/exec/{run.instance_id}/{run.id}",
            f"[INFO] {stamp} - raw script : {script}",
        ]
        for line in script.splitlines():
            match = re.match(r"\s*echo\s+(.*)$", line)
            if match:
                lines.append(f"[INFO] {stamp} -  -> {match.group(1).strip().strip(chr(34)).strip(chr(39))}")
        if state in ("SUCCESS", "FAILURE"):
            code = 0 if state == "SUCCESS" else 1
            lines.append(f"[INFO] {stamp} - process has exited. exitStatusCode:{code}")
            lines.append(f"[INFO] {stamp} - FINALIZE_SESSION")
        return lines


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
