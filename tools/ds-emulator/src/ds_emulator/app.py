"""The emulator's HTTP surface (Starlette): DS REST under ``/dolphinscheduler``, the Java gateway's callback under
``/_gateway/{method}`` and the control API under ``/_emulator``.

DS conventions kept: form or query parameters (merged, as Spring's ``@RequestParam`` reads both); the envelope
``{code, msg, data, success, failed}`` with the endpoint's HTTP status for every answer, business errors included
(200, or 201 for the create endpoints, as their ``@ResponseStatus``); a missing or bad parameter, or any exception
other than a ``ServiceException``, answers the endpoint's ``@ApiException`` status with the exception text appended;
401 with an empty body without a valid token. Statuses, codes and messages are DS 3.4.2's (``ds_emulator.errors``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ds_emulator.errors import DsError, JavaException, api_exception, service_exception
from ds_emulator.faults import FaultRule, Faults
from ds_emulator.state import (
    EXECUTION_TYPES,
    Emulator,
    Instance,
    Json,
    ScriptRule,
    User,
    fmt,
    iter_dates,
    java_split_count,
    page,
    parse_date,
)

logger = logging.getLogger(__name__)

PREFIX = "/dolphinscheduler"


class _Unauthorized(Exception):
    pass


class _BadParam(Exception):
    pass


def envelope(data: Any = None, code: int = 0, msg: str = "success", status: int = 200) -> JSONResponse:
    body = {"code": code, "msg": msg, "data": data, "success": code == 0, "failed": code != 0}
    return JSONResponse(body, status_code=status)


class Params:
    """Merged query + form parameters of one request, read the way Spring binds ``@RequestParam``."""

    def __init__(self, values: dict[str, str], path: dict[str, str]) -> None:
        self.values = values
        self.path = path

    @classmethod
    async def read(cls, request: Request) -> Params:
        values = dict(request.query_params)
        if request.method in ("POST", "PUT", "DELETE"):
            body = (await request.body()).decode("utf-8", "replace")
            content_type = request.headers.get("content-type", "")
            if body and "json" not in content_type:
                values.update(dict(parse_qsl(body, keep_blank_values=True)))
        return cls(values, dict(request.path_params))

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value: str | None = self.values.get(name)
        if value is None:
            if required:
                raise _BadParam(f"Required request parameter '{name}' for method parameter type String is not present")
            return default
        return value

    def req(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def number(self, name: str, default: int | None = None, *, required: bool = False) -> int | None:
        raw = self.values.get(name)
        if raw is None or (raw == "" and not required):
            if required:
                raise _BadParam(f"Required request parameter '{name}' for method parameter type Integer is not present")
            return default
        try:
            return int(raw)
        except ValueError:
            raise _BadParam(
                f"Failed to convert value of type 'java.lang.String' to required type 'int'; "
                f'For input string: "{raw}"'
            ) from None

    def req_int(self, name: str) -> int:
        value = self.number(name, required=True)
        assert value is not None
        return value

    def path_int(self, name: str) -> int:
        raw = self.path[name]
        try:
            return int(raw)
        except ValueError:
            raise _BadParam(
                f"Failed to convert value of type 'java.lang.String' to required type 'long'; "
                f'For input string: "{raw}"'
            ) from None

    def enum(self, name: str, allowed: tuple[str, ...], default: str | None = None, *, required: bool = False) -> str:
        value = self.maybe_enum(name, allowed, default, required=required)
        if value is None:
            raise _BadParam(f"Failed to convert value of type 'java.lang.String' to enum for value '{value}'")
        return value

    def maybe_enum(
        self, name: str, allowed: tuple[str, ...], default: str | None = None, *, required: bool = False
    ) -> str | None:
        """An enum parameter as Spring binds it: case-sensitive names; absent or empty is null (or the default)."""
        value = self.text(name, default, required=required)
        if value == "" and not required:
            value = default
        if value is not None and value not in allowed:
            raise _BadParam(f"Failed to convert value of type 'java.lang.String' to enum for value '{value}'")
        return value

    def paging(self) -> tuple[int, int]:
        page_no = self.req_int("pageNo")
        page_size = self.req_int("pageSize")
        if page_no < 1:
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "pageNo")
        if page_size < 1:
            raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "pageSize")
        return page_no, page_size


Handler = Callable[[Emulator, User, Params], Any]


FAILURE_STRATEGIES = ("END", "CONTINUE")
WARNING_TYPES = ("NONE", "SUCCESS", "FAILURE", "ALL")
PRIORITIES = ("HIGHEST", "HIGH", "MEDIUM", "LOW", "LOWEST")
RELEASE_STATES = ("ONLINE", "OFFLINE")
WF_STATES = (
    "SUBMITTED_SUCCESS", "RUNNING_EXECUTION", "READY_PAUSE", "PAUSE", "READY_STOP", "STOP", "FAILURE", "SUCCESS",
    "SERIAL_WAIT", "FAILOVER",
)  # fmt: skip
#: ``CommandType`` names (a start's ``execType``)
COMMAND_TYPES = (
    "START_PROCESS", "START_CURRENT_TASK_PROCESS", "RECOVER_TOLERANCE_FAULT_PROCESS", "RECOVER_SUSPENDED_PROCESS",
    "START_FAILURE_TASK_PROCESS", "COMPLEMENT_DATA", "SCHEDULER", "REPEAT_RUNNING", "PAUSE", "STOP",
    "RECOVER_SERIAL_WAIT", "EXECUTE_TASK", "DYNAMIC_GENERATION",
)  # fmt: skip
TASK_DEPEND_TYPES = ("TASK_ONLY", "TASK_PRE", "TASK_POST")
RUN_MODES = ("RUN_MODE_SERIAL", "RUN_MODE_PARALLEL")


# ---------------------------------------------------------------------------------------------------------------
# REST handlers: each takes (emulator, user, params) and returns the envelope's data


def h_user_info(emu: Emulator, user: User, p: Params) -> Any:
    return user.to_json()


def h_create_token(emu: Emulator, user: User, p: Params) -> Any:
    user_id = p.req_int("userId")
    if user.user_type != "ADMIN_USER" and user_id != user.id:
        raise DsError("USER_NO_OPERATION_PERM")
    return emu.create_access_token(user_id, p.req("expireTime"), p.text("token") or None)


def h_tokens_of_user(emu: Emulator, user: User, p: Params) -> Any:
    user_id = p.path_int("user_id")
    return [t for t in emu.access_tokens if t["userId"] == user_id]


def h_projects_page(emu: Emulator, user: User, p: Params) -> Any:
    page_no, page_size = p.paging()
    search = p.text("searchVal") or ""
    items = [emu.project_json(x) for x in emu.projects.values() if search.lower() in x.name.lower()]
    items.sort(key=lambda x: x["id"], reverse=True)
    return page(items, page_no, page_size)


def h_projects_all(emu: Emulator, user: User, p: Params) -> Any:
    return [emu.project_json(x) for x in emu.projects.values()]


def h_project_get(emu: Emulator, user: User, p: Params) -> Any:
    return emu.project_json(emu.project(p.path_int("p")))


def h_project_create(emu: Emulator, user: User, p: Params) -> Any:
    return emu.project_json(emu.create_project(user, p.req("projectName"), p.text("description") or ""))


def h_worker_groups(emu: Emulator, user: User, p: Params) -> Any:
    return ["default"]


def h_tenants(emu: Emulator, user: User, p: Params) -> Any:
    return list(emu.tenants.values())


def h_tenant_create(emu: Emulator, user: User, p: Params) -> Any:
    code = p.req("tenantCode")
    p.req_int("queueId")
    if emu.tenant_by_code(code) is not None:
        raise DsError("OS_TENANT_CODE_EXIST", code)
    return emu.create_tenant(code, p.text("description") or "")


def h_gen_codes(emu: Emulator, user: User, p: Params) -> Any:
    # DS 3.4.2 reads only genNum here (the project in the path is not checked)
    return emu.gen_task_codes(p.req_int("genNum"))


def _workflow_fields(p: Params) -> Json:
    return {
        "name": p.req("name"),
        "description": p.text("description") or "",
        "global_params": p.text("globalParams") or "[]",
        "timeout": p.number("timeout", 0) or 0,
        "execution_type": p.enum("executionType", EXECUTION_TYPES, "PARALLEL"),
        "locations": p.text("locations"),
        "other_params_json": p.text("otherParamsJson"),
        "task_definition_json": p.req("taskDefinitionJson"),
        "task_relation_json": p.req("taskRelationJson"),
    }


def h_wf_create(emu: Emulator, user: User, p: Params) -> Any:
    project = emu.project(p.path_int("p"))
    wf = emu.save_workflow(user, project, existing=None, **_workflow_fields(p))
    # DS #18132: the create response reports version 0; clients must re-read by code
    return dict(emu.workflow_json(wf), version=0)


def h_wf_update(emu: Emulator, user: User, p: Params) -> Any:
    project = emu.project(p.path_int("p"))
    wf = emu.workflow(project.code, p.path_int("code"))
    release_state = p.enum("releaseState", RELEASE_STATES, "OFFLINE")
    if wf.release_state == "ONLINE":
        raise DsError("WORKFLOW_DEFINITION_NOT_ALLOWED_EDIT", wf.name)
    # the update endpoint has no otherParamsJson parameter: the stored one stays
    fields = dict(_workflow_fields(p), other_params_json=wf.other_params_json)
    emu.save_workflow(user, project, existing=wf, **fields)
    if release_state == "ONLINE":
        emu.release(wf, "ONLINE")
    return emu.workflow_json(wf)


def h_wf_get(emu: Emulator, user: User, p: Params) -> Any:
    return emu.dag_json(emu.workflow(p.path_int("p"), p.path_int("code")))


def h_wf_by_name(emu: Emulator, user: User, p: Params) -> Any:
    project = emu.project(p.path_int("p"))
    name = p.req("name")
    wf = emu.workflow_by_name(project.code, name)
    if wf is None:
        raise DsError("WORKFLOW_DEFINITION_NOT_EXIST", name)
    return emu.dag_json(wf)


def h_wf_list(emu: Emulator, user: User, p: Params) -> Any:
    project = emu.project(p.path_int("p"))
    page_no, page_size = p.paging()
    search = p.text("searchVal") or ""
    items = [
        emu.workflow_json(w) for w in emu.workflows.values() if w.project_code == project.code and search in w.name
    ]
    items.sort(key=lambda x: x["updateTime"] or "", reverse=True)
    return page(items, page_no, page_size)


def h_wf_release(emu: Emulator, user: User, p: Params) -> Any:
    wf = emu.workflow(p.path_int("p"), p.path_int("code"))
    emu.release(wf, p.enum("releaseState", RELEASE_STATES, required=True))
    return True


def h_wf_versions(emu: Emulator, user: User, p: Params) -> Any:
    wf = emu.workflow(p.path_int("p"), p.path_int("code"))
    page_no, page_size = p.paging()
    return page(emu.versions(wf), page_no, page_size)


def _start_kwargs(p: Params) -> Json:
    """The start endpoints' parameters as Spring binds them (before the handler runs)."""
    return {
        "failure_strategy": p.enum("failureStrategy", FAILURE_STRATEGIES, required=True),
        "warning_type": p.enum("warningType", WARNING_TYPES, required=True),
        "warning_group_id": p.number("warningGroupId"),
        "priority": p.maybe_enum("workflowInstancePriority", PRIORITIES) or "MEDIUM",
        "worker_group": p.text("workerGroup") or "default",
        "tenant_code": p.text("tenantCode", "default"),
        "environment_code": p.number("environmentCode", -1) or -1,
        "dry_run": p.number("dryRun", 0) or 0,
        "start_params": p.text("startParams"),
    }


def _complement_dates(raw: str) -> list[float]:
    try:
        spec = json.loads(raw)
        if "complementScheduleDateList" in spec:
            return [parse_date(d.strip()) for d in str(spec["complementScheduleDateList"]).split(",") if d.strip()]
        return list(iter_dates(parse_date(spec["complementStartDate"]), parse_date(spec["complementEndDate"])))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "scheduleTime") from None


def _trigger(
    emu: Emulator, user: User, project_code: int, code: int, exec_type: str | None, schedule_time: str, kwargs: Json
) -> list[int]:
    """DS 3.4.2 ``ExecutorController.triggerWorkflowDefinition`` for one workflow: the execType switch, then the
    service (project, the workflow by code, its project), then the trigger/backfill validators (ONLINE, tenant).

    Raises :class:`DsError` where DS throws a ``ServiceException`` (answered with its own code) and
    :class:`JavaException` where DS throws anything else (answered with the endpoint's ``@ApiException`` status).
    """
    if exec_type is None:
        # ``switch (execType)`` on null: a NullPointerException, whose message is null on DS's Java 8/11
        raise JavaException("null")
    if exec_type not in ("START_PROCESS", "COMPLEMENT_DATA"):
        raise service_exception(f"The execType: {exec_type} is invalid")
    emu.project(project_code)
    wf = emu.workflows.get(code)
    if wf is None:
        raise service_exception(f"Cannot find the workflow: {code}")
    if wf.project_code != project_code:
        raise DsError("WORKFLOW_DEFINITION_NOT_EXIST", str(code))
    dates = _complement_dates(schedule_time) if exec_type == "COMPLEMENT_DATA" else []
    problem = emu.trigger_problem(wf, kwargs["tenant_code"])
    if problem is not None:
        raise JavaException(problem)
    if exec_type == "COMPLEMENT_DATA":
        return [emu.start(user, wf, command_type="COMPLEMENT_DATA", schedule_time=when, **kwargs) for when in dates]
    return [emu.start(user, wf, **kwargs)]


def h_start(emu: Emulator, user: User, p: Params) -> Any:
    code = p.req_int("workflowDefinitionCode")
    schedule_time = p.req("scheduleTime")
    exec_type = p.maybe_enum("execType", COMMAND_TYPES, "START_PROCESS")
    return _trigger(emu, user, p.path_int("p"), code, exec_type, schedule_time, _start_kwargs(p))


_JAVA_LONG = re.compile(r"[+-]?[0-9]+")


def h_batch_start(emu: Emulator, user: User, p: Params) -> Any:
    """DS 3.4.2 starts the workflows one by one, each as a single start: a failure stops the loop and answers that
    workflow's error, and the workflows started before it stay started (their instance ids are not in the answer).
    ``execType`` has no default here: without it the first start fails with a NullPointerException."""
    raw = p.req("workflowDefinitionCodes")
    schedule_time = p.req("scheduleTime")
    exec_type = p.maybe_enum("execType", COMMAND_TYPES)
    kwargs = _start_kwargs(p)
    pieces = raw.split(",") if "," in raw else [raw]  # Java's String.split: trailing empty pieces dropped
    while pieces and pieces[-1] == "":
        pieces.pop()
    codes: list[int] = []
    for piece in pieces:
        if not _JAVA_LONG.fullmatch(piece):
            raise JavaException(f'For input string: "{piece}"')
        codes.append(int(piece))
    ids: list[int] = []
    for code in codes:
        ids += _trigger(emu, user, p.path_int("p"), code, exec_type, schedule_time, kwargs)
    return ids


def h_instances(emu: Emulator, user: User, p: Params) -> Any:
    project_code = p.path_int("p")
    page_no, page_size = p.paging()
    wf_code = p.number("workflowDefinitionCode")
    search = p.text("searchVal") or ""
    executor = p.text("executorName") or ""
    state = p.text("stateType") or None
    if state is not None and state not in WF_STATES:
        raise _BadParam(f"Failed to convert value of type 'java.lang.String' to enum for value '{state}'")
    host = p.text("host") or ""
    try:
        start_date = parse_date(p.text("startDate") or "") if p.text("startDate") else None
        end_date = parse_date(p.text("endDate") or "") if p.text("endDate") else None
    except ValueError:
        raise DsError("REQUEST_PARAMS_NOT_VALID_ERROR", "startDate,endDate") from None

    def keep(instance: Instance, j: Json) -> bool:
        return (
            (wf_code is None or instance.workflow.code == wf_code)
            and search in instance.name
            and executor in instance.executor_name
            and (state is None or j["state"] == state)
            and host in (j["host"] or "")
            and (start_date is None or instance.created >= start_date)
            and (end_date is None or instance.created <= end_date)
        )

    return page(emu.list_instances(project_code, keep, workflow_code=wf_code), page_no, page_size)


def h_instance(emu: Emulator, user: User, p: Params) -> Any:
    instance = emu.instance(p.path_int("p"), p.path_int("id"))
    out = emu.instance_json(instance, with_duration=False)
    out["dagData"] = emu.dag_json(instance.workflow)
    out["locations"] = instance.workflow.locations
    return out


def h_instance_tasks(emu: Emulator, user: User, p: Params) -> Any:
    instance = emu.instance(p.path_int("p"), p.path_int("id"))
    runs = sorted(instance.task_runs.values(), key=lambda r: r.id)
    return {
        "workflowInstanceState": emu.instance_state(instance, emu.clock()),
        "taskList": [emu.task_json(r) for r in runs],
    }


def _schedule_kwargs(p: Params, *, failure_default: str) -> Json:
    tenant_code = p.text("tenantCode") or "default"
    return {
        "warning_type": p.enum("warningType", WARNING_TYPES, "NONE"),
        "warning_group_id": p.number("warningGroupId", 1) or 0,
        "failure_strategy": p.enum("failureStrategy", FAILURE_STRATEGIES, failure_default),
        "worker_group": p.text("workerGroup") or "default",
        "tenant_code": tenant_code,
        "environment_code": p.number("environmentCode", -1) or -1,
        "priority": p.enum("workflowInstancePriority", PRIORITIES, "MEDIUM"),
    }


def h_schedule_create(emu: Emulator, user: User, p: Params) -> Any:
    project = emu.project(p.path_int("p"))
    wf = emu.workflow(project.code, p.req_int("workflowDefinitionCode"))
    raw = p.req("schedule")
    kwargs = _schedule_kwargs(p, failure_default="CONTINUE")
    if wf.release_state != "ONLINE":  # DS passes the Long code and the Integer version (MessageFormat groups them)
        raise DsError("WORKFLOW_DEFINITION_NOT_RELEASE", wf.code, wf.version)
    existing = emu.schedule_of(wf.code)
    if existing is not None:
        raise DsError("SCHEDULE_ALREADY_EXISTS", wf.code, existing.id)
    problem = emu.tenant_problem(kwargs["tenant_code"])  # only the create validates the tenant
    if problem is not None:
        raise JavaException(problem)
    schedule = emu.upsert_schedule(user, wf, raw, **kwargs)
    return emu.schedule_json(schedule)


def _update_schedule(emu: Emulator, user: User, p: Params, schedule_id: int) -> Any:
    schedule = emu.schedule(p.path_int("p"), schedule_id)
    raw = p.req("schedule")
    if schedule.release_state == "ONLINE":
        raise DsError("SCHEDULE_CRON_ONLINE_FORBID_UPDATE")
    wf = emu.workflows[schedule.workflow_code]
    emu.upsert_schedule(user, wf, raw, **_schedule_kwargs(p, failure_default="END"))
    return None


def h_schedule_update(emu: Emulator, user: User, p: Params) -> Any:
    return _update_schedule(emu, user, p, p.path_int("id"))


def h_schedule_update_by_code(emu: Emulator, user: User, p: Params) -> Any:
    wf = emu.workflow(p.path_int("p"), p.path_int("code"))
    schedule = emu.schedule_of(wf.code)
    if schedule is None:
        raise DsError("SCHEDULE_CRON_NOT_EXISTS", wf.code)
    return _update_schedule(emu, user, p, schedule.id)


def h_schedule_online(emu: Emulator, user: User, p: Params) -> Any:
    schedule = emu.schedule(p.path_int("p"), p.path_int("id"))
    wf = emu.workflows[schedule.workflow_code]
    if wf.release_state != "ONLINE":  # DS passes only the workflow's name: "{1}" stays in the message
        raise DsError("WORKFLOW_DEFINITION_NOT_RELEASE", wf.name)
    schedule.release_state = "ONLINE"
    return True


def h_schedule_offline(emu: Emulator, user: User, p: Params) -> Any:
    schedule = emu.schedule(p.path_int("p"), p.path_int("id"))
    schedule.release_state = "OFFLINE"
    return True


def h_schedules(emu: Emulator, user: User, p: Params) -> Any:
    project = emu.project(p.path_int("p"))
    page_no, page_size = p.paging()
    wf_code = p.number("workflowDefinitionCode")
    search = p.text("searchVal") or ""
    items = [
        emu.schedule_json(s)
        for s in sorted(emu.schedules.values(), key=lambda s: s.id, reverse=True)
        if s.project_code == project.code
        and (wf_code is None or s.workflow_code == wf_code)
        and search in (emu.workflows[s.workflow_code].name if s.workflow_code in emu.workflows else "")
    ]
    return page(items, page_no, page_size)


def h_log(emu: Emulator, user: User, p: Params) -> Any:
    task_id = p.req_int("taskInstanceId")
    skip = p.req_int("skipLineNum")
    limit = p.req_int("limit")
    emu.advance()
    run = emu.task_runs.get(task_id)
    if run is None:
        raise DsError("TASK_INSTANCE_NOT_FOUND")
    lines = emu.log_lines(run)
    selected = lines[max(0, skip) : max(0, skip) + max(0, limit)]
    message = "".join(line + "\n" for line in selected)
    return {"lineNum": java_split_count(message, "\r\n"), "message": message}


OK, CREATED = 200, 201

#: (method, path, handler, the DS method's ``@ApiException`` status, its ``@ResponseStatus``); the conformance test
#: holds each route to DS 3.4.2's controllers (path, status, HTTP status)
REST_ROUTES: list[tuple[str, str, Handler, str, int]] = [
    ("GET", "/users/get-user-info", h_user_info, "GET_USER_INFO_ERROR", OK),
    ("POST", "/access-tokens", h_create_token, "CREATE_ACCESS_TOKEN_ERROR", CREATED),
    ("GET", "/access-tokens/user/{user_id}", h_tokens_of_user, "QUERY_ACCESSTOKEN_BY_USER_ERROR", OK),
    ("GET", "/projects", h_projects_page, "LOGIN_USER_QUERY_PROJECT_LIST_PAGING_ERROR", OK),
    ("POST", "/projects", h_project_create, "CREATE_PROJECT_ERROR", CREATED),
    ("GET", "/projects/list", h_projects_all, "LOGIN_USER_QUERY_PROJECT_LIST_PAGING_ERROR", OK),
    ("GET", "/projects/{p}", h_project_get, "QUERY_PROJECT_DETAILS_BY_CODE_ERROR", OK),
    ("GET", "/worker-groups/all", h_worker_groups, "QUERY_WORKER_GROUP_FAIL", OK),
    ("GET", "/tenants/list", h_tenants, "QUERY_TENANT_LIST_ERROR", OK),
    ("POST", "/tenants", h_tenant_create, "CREATE_TENANT_ERROR", CREATED),
    (
        "GET",
        "/projects/{p}/task-definition/gen-task-codes",
        h_gen_codes,
        "LOGIN_USER_QUERY_PROJECT_LIST_PAGING_ERROR",
        OK,
    ),
    ("POST", "/projects/{p}/workflow-definition", h_wf_create, "CREATE_WORKFLOW_DEFINITION_ERROR", CREATED),
    ("GET", "/projects/{p}/workflow-definition", h_wf_list, "QUERY_WORKFLOW_DEFINITION_LIST_PAGING_ERROR", OK),
    (
        "GET",
        "/projects/{p}/workflow-definition/query-by-name",
        h_wf_by_name,
        "QUERY_DETAIL_OF_WORKFLOW_DEFINITION_ERROR",
        OK,
    ),
    ("GET", "/projects/{p}/workflow-definition/{code}", h_wf_get, "QUERY_DETAIL_OF_WORKFLOW_DEFINITION_ERROR", OK),
    ("PUT", "/projects/{p}/workflow-definition/{code}", h_wf_update, "UPDATE_WORKFLOW_DEFINITION_ERROR", OK),
    ("POST", "/projects/{p}/workflow-definition/{code}/release", h_wf_release, "RELEASE_WORKFLOW_DEFINITION_ERROR", OK),
    (
        "GET",
        "/projects/{p}/workflow-definition/{code}/versions",
        h_wf_versions,
        "QUERY_WORKFLOW_DEFINITION_VERSIONS_ERROR",
        OK,
    ),
    ("POST", "/projects/{p}/executors/start-workflow-instance", h_start, "START_WORKFLOW_INSTANCE_ERROR", OK),
    (
        "POST",
        "/projects/{p}/executors/batch-start-workflow-instance",
        h_batch_start,
        "BATCH_START_WORKFLOW_INSTANCE_ERROR",
        OK,
    ),
    ("GET", "/projects/{p}/workflow-instances", h_instances, "QUERY_WORKFLOW_INSTANCE_LIST_PAGING_ERROR", OK),
    ("GET", "/projects/{p}/workflow-instances/{id}", h_instance, "QUERY_WORKFLOW_INSTANCE_BY_ID_ERROR", OK),
    (
        "GET",
        "/projects/{p}/workflow-instances/{id}/tasks",
        h_instance_tasks,
        "QUERY_TASK_LIST_BY_WORKFLOW_INSTANCE_ID_ERROR",
        OK,
    ),
    ("POST", "/projects/{p}/schedules", h_schedule_create, "CREATE_SCHEDULE_ERROR", CREATED),
    ("GET", "/projects/{p}/schedules", h_schedules, "QUERY_SCHEDULE_LIST_PAGING_ERROR", OK),
    ("PUT", "/projects/{p}/schedules/update/{code}", h_schedule_update_by_code, "UPDATE_SCHEDULE_ERROR", OK),
    ("PUT", "/projects/{p}/schedules/{id}", h_schedule_update, "UPDATE_SCHEDULE_ERROR", OK),
    ("POST", "/projects/{p}/schedules/{id}/online", h_schedule_online, "PUBLISH_SCHEDULE_ONLINE_ERROR", OK),
    ("POST", "/projects/{p}/schedules/{id}/offline", h_schedule_offline, "OFFLINE_SCHEDULE_ERROR", OK),
    ("GET", "/log/detail", h_log, "QUERY_TASK_INSTANCE_LOG_ERROR", OK),
]


def _rest_endpoint(
    emu: Emulator, handler: Handler, api_status: str, http_status: int
) -> Callable[[Request], Awaitable[Response]]:
    """One DS endpoint: every answer (errors included) with the endpoint's HTTP status, as DS's
    ``ApiExceptionHandler`` resolves it from the method's ``@ResponseStatus``."""

    async def endpoint(request: Request) -> Response:
        user = emu.authenticate(request.headers.get("token"), _session_of(request))
        if user is None:
            return Response(status_code=401)
        try:
            params = await Params.read(request)
            return envelope(handler(emu, user, params), status=http_status)
        except DsError as exc:
            return envelope(None, exc.code, exc.msg, http_status)
        except (_BadParam, JavaException) as exc:
            err = api_exception(api_status, str(exc))
            return envelope(None, err.code, err.msg, http_status)
        except Exception as exc:
            logger.exception("emulator handler %s failed", handler.__name__)
            err = api_exception(api_status, f"{type(exc).__name__}: {exc}")
            return envelope(None, err.code, err.msg, http_status)

    return endpoint


def _session_of(request: Request) -> str | None:
    return request.headers.get("sessionId") or request.cookies.get("sessionId")


# ---------------------------------------------------------------------------------------------------------------
# Gateway callback (from the Java entry point)


def _gateway_dispatch(emu: Emulator, method: str, args: list[Any]) -> Any:
    if method == "ping":
        return "PONG"
    if method == "getGatewayVersion":
        return emu.ds_version
    if method == "genTaskCodeList":
        # DS: TaskDefinitionService.genTaskCodeList's ServiceException becomes {status, msg} (no data); the Java
        # gateway checks the same cap before calling here
        try:
            return {"status": "SUCCESS", "msg": "success", "data": emu.gen_task_codes(args[0])}
        except DsError as exc:
            return {"status": exc.status, "msg": exc.msg}
    if method == "getCodeAndVersion":
        return emu.gateway_code_and_version(*args)
    if method == "createOrUpdateWorkflow":
        if len(args) != 16:
            raise JavaException(f"createOrUpdateWorkflow expects 16 arguments, got {len(args)}")
        return emu.gateway_create_or_update(*args)
    if method == "createOrGrantProject":
        emu.gateway_create_or_grant_project(*args)
        return None
    if method == "queryProjectByName":
        project = emu.project_by_name(args[1])
        return None if project is None else emu.project_json(project)
    if method == "getDatasource":
        return emu.gateway_datasource(args[0], args[1])
    if method == "execWorkflowInstance":
        emu.gateway_exec(args[0], args[1], args[2])
        return None
    if method == "getDependentInfo":
        return emu.gateway_dependent_info(*args)
    raise JavaException(f"unknown gateway method {method}")


# ---------------------------------------------------------------------------------------------------------------
# Control API


def _rule_from_json(body: Json) -> ScriptRule:
    outcome = str(body.get("outcome", "SUCCESS")).upper()
    if outcome not in ("SUCCESS", "FAILURE"):
        raise ValueError("outcome must be SUCCESS or FAILURE")
    return ScriptRule(
        outcome=outcome,
        workflow_code=body.get("workflowCode"),
        task_name=body.get("taskName"),
        task_code=body.get("taskCode"),
        raw_script_contains=body.get("rawScriptContains"),
        duration_seconds=body.get("durationSeconds"),
        times=body.get("times"),
    )


def _fault_from_json(body: Json) -> FaultRule:
    return FaultRule(
        target=body.get("target", "rest"),
        action=body["action"],
        match=body.get("match", ".*"),
        method=body.get("method"),
        latency_ms=float(body.get("latencyMs", 0.0)),
        ds_code=int(body.get("dsCode", 10000)),
        ds_msg=body.get("dsMsg"),
        status=int(body.get("status", 500)),
        message=str(body.get("message", "injected fault")),
        hang_seconds=float(body.get("hangSeconds", 300.0)),
        times=body.get("times"),
    )


def create_app(emu: Emulator, faults: Faults) -> ASGIApp:
    routes: list[Route] = []
    for method, path, handler, api_status, http_status in REST_ROUTES:
        routes.append(Route(PREFIX + path, _rest_endpoint(emu, handler, api_status, http_status), methods=[method]))

    async def login(request: Request) -> Response:
        params = await Params.read(request)
        try:
            session = emu.login(params.req("userName"), params.req("userPassword"))
        except DsError as exc:
            return envelope(None, exc.code, exc.msg)
        except _BadParam as exc:
            err = api_exception("USER_LOGIN_FAILURE", str(exc))
            return envelope(None, err.code, err.msg)
        response = envelope({"sessionId": session, "securityConfigType": "PASSWORD"}, 0, "login success")
        response.set_cookie("sessionId", session, httponly=True)
        return response

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "UP"})

    async def gateway(request: Request) -> Response:
        method = request.path_params["method"]
        for rule in faults.take("gateway", method, actions=frozenset({"raise"})):
            if rule.action == "raise":
                return JSONResponse({"ok": False, "error": rule.message})
        try:
            body = await request.json()
            result = _gateway_dispatch(emu, method, list(body.get("args") or []))
        except DsError as exc:
            return JSONResponse({"ok": False, "error": exc.msg})
        except JavaException as exc:
            return JSONResponse({"ok": False, "error": str(exc)})
        except Exception as exc:
            logger.exception("gateway %s failed", method)
            return JSONResponse({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        return JSONResponse({"ok": True, "result": result})

    async def control(request: Request) -> Response:
        what = request.path_params["what"]
        body: Json = {}
        if request.method in ("POST", "PUT"):
            raw = await request.body()
            body = json.loads(raw) if raw else {}
        try:
            if what == "reset":
                emu.reset()
                faults.clear()
                return JSONResponse({"ok": True})
            if what == "faults":
                if request.method == "DELETE":
                    faults.clear()
                    return JSONResponse({"ok": True})
                if request.method == "GET":
                    return JSONResponse({"rules": [r.describe() for r in faults.rules],
                                         "globalLatencyMs": faults.global_latency_ms})  # fmt: skip
                if "globalLatencyMs" in body and "action" not in body:
                    faults.global_latency_ms = float(body["globalLatencyMs"])
                    return JSONResponse({"ok": True})
                return JSONResponse(faults.add(_fault_from_json(body)).describe())
            if what == "script":
                if request.method == "DELETE":
                    emu.rules.clear()
                else:
                    emu.add_rule(_rule_from_json(body))
                return JSONResponse({"ok": True})
            if what == "config":
                timing = emu.timing
                timing.submit_delay = float(body.get("submitDelaySeconds", timing.submit_delay))
                timing.dispatch_delay = float(body.get("dispatchDelaySeconds", timing.dispatch_delay))
                timing.task_duration = float(body.get("taskDurationSeconds", timing.task_duration))
                if "dsVersion" in body:
                    emu.ds_version = str(body["dsVersion"])
                return JSONResponse({"ok": True})
            if what == "seed":
                return JSONResponse(
                    emu.seed_bulk(
                        str(body["projectName"]),
                        int(body["workflows"]),
                        int(body.get("instancesPerWorkflow", 3)),
                        failure_every=int(body.get("failureEvery", 0)),
                        spacing_seconds=float(body.get("spacingSeconds", 60.0)),
                    )
                )
            if what == "users":
                user = emu.add_user(body["userName"], body.get("password", "secret"), body.get("tenantCode"))
                return JSONResponse(user.to_json())
            if what == "datasources":
                ds = emu.add_datasource(
                    body["name"], body.get("type", "POSTGRESQL"), body.get("connectionParams", "{}")
                )
                return JSONResponse(ds)
            if what == "state":
                emu.advance()
                return JSONResponse({
                    "projects": len(emu.projects), "workflows": len(emu.workflows),
                    "instances": len(emu.instances), "taskInstances": len(emu.task_runs),
                    "schedules": len(emu.schedules), "time": fmt(emu.clock()),
                })  # fmt: skip
        except (KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status_code=400)
        return JSONResponse({"ok": False, "error": f"unknown control {what}"}, status_code=404)

    routes += [
        Route(PREFIX + "/login", login, methods=["POST"]),
        Route(PREFIX + "/actuator/health", health, methods=["GET"]),
        Route("/_gateway/{method}", gateway, methods=["POST"]),
        Route("/_emulator/{what}", control, methods=["GET", "POST", "PUT", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    return FaultMiddleware(InstanceListFastPath(app, emu), faults)


_INSTANCE_LIST_PATH = re.compile(PREFIX + r"/projects/([0-9]{1,18})/workflow-instances")
_FAST_QUERY_KEYS = frozenset({b"pageNo", b"pageSize", b"workflowDefinitionCode"})
_JSON_HEADERS = (b"content-type", b"application/json")


class InstanceListFastPath:
    """``GET .../workflow-instances?pageNo=…&pageSize=…&workflowDefinitionCode=…`` (the call history-sync makes for
    every tracked workflow in every cycle) answered without routing, request objects or re-encoding: final
    instances keep their encoded list entry (:meth:`Emulator.instance_list_entry`). The answer is byte for byte
    the one ``h_instances`` gives; every other request, and this one with other parameters, without a valid
    ``token`` header, for an unknown project or with a value the general path would reject, goes to ``app``."""

    def __init__(self, app: ASGIApp, emu: Emulator) -> None:
        self.app = app
        self.emu = emu

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self._answer(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if body is None:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-length", str(len(body)).encode()), _JSON_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _answer(self, scope: Scope) -> bytes | None:
        match = _INSTANCE_LIST_PATH.fullmatch(scope["path"])
        if match is None:
            return None
        query = _fast_query(scope["query_string"])
        if query is None:
            return None
        page_no, page_size, workflow_code = query
        token = next((value for name, value in scope["headers"] if name == b"token"), None)
        emu = self.emu
        if not token or emu.authenticate(token.decode("latin-1"), None) is None:
            return None
        project_code = int(match.group(1))
        if project_code not in emu.projects:
            return None
        emu.advance()
        now = emu.clock()
        instances = emu.workflow_instances_newest_first(project_code, workflow_code, now)
        total = len(instances)
        offset = (page_no - 1) * page_size
        entries = b",".join(emu.instance_list_entry(i, now) for i in instances[offset : offset + page_size])
        tail = (
            f'],"total":{total},"totalPage":{max(1, -(-total // page_size))},"pageSize":{page_size},'
            f'"currentPage":{page_no},"pageNo":{offset}}},"success":true,"failed":false}}'
        )
        return b'{"code":0,"msg":"success","data":{"totalList":[' + entries + tail.encode()


def _fast_query(raw: bytes) -> tuple[int, int, int] | None:
    """(pageNo, pageSize, workflowDefinitionCode) when the query is exactly these three as plain positive numbers
    (each once, nothing percent-encoded); ``None`` for anything else."""
    values: dict[bytes, int] = {}
    for part in raw.split(b"&"):
        key, sep, value = part.partition(b"=")
        if not sep or key not in _FAST_QUERY_KEYS or key in values or not value.isdigit() or len(value) > 18:
            return None
        values[key] = int(value)
    if len(values) != len(_FAST_QUERY_KEYS):
        return None
    page_no, page_size = values[b"pageNo"], values[b"pageSize"]
    if page_no < 1 or page_size < 1:
        return None
    return page_no, page_size, values[b"workflowDefinitionCode"]


class FaultMiddleware:
    """Applies REST faults to ``/dolphinscheduler/...`` before the app sees the request."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope["path"]).startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        path = str(scope["path"])[len(PREFIX) :]
        if path == "/actuator/health":
            await self.app(scope, receive, send)
            return
        rules = self.faults.take("rest", path, str(scope["method"]))
        if self.faults.global_latency_ms > 0 or any(r.action == "latency" for r in rules):
            # like a real server, a slow request is processed once received, even if the client gives up meanwhile
            receive = await _received(receive)
        if self.faults.global_latency_ms > 0:
            await asyncio.sleep(self.faults.global_latency_ms / 1000)
        for rule in rules:
            if rule.action == "latency":
                await asyncio.sleep(rule.latency_ms / 1000)
            elif rule.action == "hang":
                await self.faults.hang(rule.hang_seconds)
                await _send_simple(send, 503, b"")
                return
            elif rule.action == "drop":
                await _drop(send)
                return
            elif rule.action == "unauthorized":
                await _send_simple(send, 401, b"")
                return
            elif rule.action == "http_status":
                await _send_simple(send, rule.status, b"injected failure", b"text/plain")
                return
            elif rule.action == "ds_error":
                msg = rule.ds_msg if rule.ds_msg is not None else f"injected DS error {rule.ds_code}"
                body = json.dumps(
                    {"code": rule.ds_code, "msg": msg, "data": None, "success": False, "failed": True}
                ).encode()
                await _send_simple(send, 200, body, b"application/json")
                return
        await self.app(scope, receive, send)


async def _received(receive: Receive) -> Receive:
    """Read the whole request body now; the returned ``receive`` hands it to the app (then waits like uvicorn)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        await asyncio.Event().wait()  # never a disconnect: the request is processed to its end
        raise AssertionError("unreachable")

    return replay


async def _send_simple(send: Send, status: int, body: bytes, content_type: bytes | None = None) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if content_type:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Send) -> None:
    """Close the client's socket without answering (uvicorn's ``send`` is bound to its request cycle)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        return
    # Fallback: promise a body and never send it, so the client sees an incomplete response.
    start: Message = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]}
    await send(start)
    raise ConnectionAbortedError("dropped by fault injection")
