"""REST handlers: each takes (emulator, user, params) and returns the envelope's data."""

from __future__ import annotations

import json
import re
from typing import Any

from ds_emulator.errors import DsError, JavaException, service_exception
from ds_emulator.model import (
    EXECUTION_TYPES,
    Instance,
    Json,
    User,
    iter_dates,
    java_split_count,
    page,
    parse_date,
)
from ds_emulator.rest_params import (
    COMMAND_TYPES,
    FAILURE_STRATEGIES,
    PRIORITIES,
    RELEASE_STATES,
    WARNING_TYPES,
    WF_STATES,
    Params,
    _BadParam,
)
from ds_emulator.state import Emulator


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
