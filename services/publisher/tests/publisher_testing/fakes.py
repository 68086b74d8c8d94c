"""An in-memory DolphinScheduler for unit tests and benchmarks: ``FakeDolphin().gateway`` implements
:class:`publisher.ports.DolphinGateway`, ``.rest`` implements :class:`publisher.ports.DolphinRest`.

It keeps the DS behaviour the publisher relies on (CONTRACT §1.3, §3.3, §6), and passes the same port contract
tests as the real clients against the DS emulator (``tests/contract_ports``):
- ``createOrUpdateWorkflow`` needs an existing project, upserts by name, takes an existing workflow (and its schedule)
  offline first, bumps the workflow version only when the content changed;
- release ONLINE needs relations (50035); release OFFLINE also offlines the schedule;
- schedules: created OFFLINE, one per workflow (10204), need an ONLINE workflow (50004), no update while online
  (10023);
- ``genTaskCodeList`` gives 1 to 100 codes per call ("data N not valid" otherwise);
- starts (DS 3.4.x): an unknown workflow code answers 10000 "Cannot find the workflow: <code>", an OFFLINE workflow
  50014 "...The workflowDefinition should be online", an unknown tenant 50014 "...Tenant: [t] not exists"; a batch
  start starts the workflows one by one and stops at the first failure (those before it stay started);
- ``getDatasource`` matches the type ignoring case and finds nothing without a type.
Errors are the real adapters' errors (DS codes through :func:`common.dolphin.errors.api_error_for`).

Test controls: ``fail(method, exc, times=1)`` makes the next calls of a method raise; ``calls`` counts every call by
method name.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from common.dolphin import (
    DagData,
    DataSourceRef,
    DolphinGatewayError,
    FailureStrategy,
    GatewayProject,
    Page,
    Priority,
    ReleaseState,
    RunMode,
    Schedule,
    ScheduleSpec,
    WarningType,
    WorkflowDefinition,
    WorkflowExecutionType,
    WorkflowInstance,
    format_ds_datetime,
    parse_ds_datetime,
)
from common.dolphin.errors import api_error_for

GATEWAY_VERSION = "3.4.1-fake"


@dataclass
class _Workflow:
    code: int
    name: str
    project_code: int
    version: int
    release_state: ReleaseState
    description: str
    global_params: str
    timeout: int
    execution_type: str
    tasks: list[dict[str, Any]]
    relations: list[dict[str, Any]]

    def content(self) -> str:
        return json.dumps(
            [self.name, self.description, self.global_params, self.timeout, self.execution_type, self.tasks,
             self.relations],
            sort_keys=True,
        )  # fmt: skip


@dataclass
class _Schedule:
    id: int
    workflow_code: int
    spec: ScheduleSpec
    release_state: ReleaseState = ReleaseState.OFFLINE
    failure_strategy: FailureStrategy = FailureStrategy.CONTINUE
    worker_group: str = "default"
    tenant_code: str = "default"


#: the most task codes one ``genTaskCodeList`` call gives (DS 3.4.2)
MAX_GEN_TASK_CODES = 100


@dataclass
class FakeDolphin:
    users: dict[str, str | None] = field(default_factory=lambda: {"admin": "default"})
    projects: dict[str, int] = field(default_factory=dict)
    workflows: dict[int, _Workflow] = field(default_factory=dict)
    schedules: dict[int, _Schedule] = field(default_factory=dict)
    datasources: dict[tuple[str, str], int] = field(default_factory=dict)
    instances: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (project, workflow code)
    worker_groups: list[str] = field(default_factory=lambda: ["default"])
    tenants: set[str] = field(default_factory=lambda: {"default"})
    calls: Counter[str] = field(default_factory=Counter)
    _failures: dict[str, list[BaseException]] = field(default_factory=dict)
    _codes: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_000_000_001))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.gateway = FakeGateway(self)
        self.rest = FakeRest(self)

    # -- test controls ------------------------------------------------------------------------------------------

    def fail(self, method: str, exc: BaseException, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` (a gateway Java name or a REST client method name) raise ``exc``."""
        self._failures.setdefault(method, []).extend([exc] * times)

    def add_datasource(self, name: str, ds_type: str = "POSTGRESQL") -> int:
        ds_id = next(self._ids)
        self.datasources[(name, ds_type.upper())] = ds_id
        return ds_id

    def _enter(self, method: str) -> None:
        self.calls[method] += 1
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)

    # -- shared state helpers -------------------------------------------------------------------------------------

    def _workflow(self, project_code: int, code: int, endpoint: str) -> _Workflow:
        if project_code not in self.projects.values():
            raise api_error_for(10018, f"project {project_code} not found", endpoint=endpoint)
        wf = self.workflows.get(code)
        if wf is None or wf.project_code != project_code:
            raise api_error_for(50003, "workflow definition does not exist", endpoint=endpoint)
        return wf

    def _schedule_of(self, code: int) -> _Schedule | None:
        return next((s for s in self.schedules.values() if s.workflow_code == code), None)

    def _release(self, wf: _Workflow, state: ReleaseState, endpoint: str) -> None:
        if state is ReleaseState.ONLINE:
            if wf.release_state is ReleaseState.ONLINE:
                return
            if not wf.relations:
                raise api_error_for(50035, "workflow dag is empty", endpoint=endpoint)
            wf.release_state = ReleaseState.ONLINE
        else:
            wf.release_state = ReleaseState.OFFLINE
            schedule = self._schedule_of(wf.code)
            if schedule is not None:
                schedule.release_state = ReleaseState.OFFLINE

    def _update(
        self,
        wf: _Workflow,
        name: str,
        tasks: list[dict[str, Any]],
        task_relation_json: str,
        endpoint: str,
        description: str,
        global_params: str,
        timeout: int,
    ) -> None:
        """Replace an existing workflow's definition: task versions bump when they change, the workflow's version
        when anything does."""
        before = wf.content()
        old_versions = {t["code"]: (t["version"], json.dumps(t, sort_keys=True)) for t in wf.tasks}
        for t in tasks:
            old = old_versions.get(t["code"])
            if old is not None:
                same = json.dumps({**t, "version": old[0]}, sort_keys=True) == old[1]
                t["version"] = old[0] if same else old[0] + 1
        relations = _parse_relations(task_relation_json, tasks, endpoint)  # with the bumped versions
        wf.name, wf.description, wf.global_params = name, description, global_params or "[]"
        wf.timeout, wf.tasks, wf.relations = timeout, tasks, relations
        if wf.content() != before:
            wf.version += 1

    def _schedule_model(self, s: _Schedule) -> Schedule:
        return Schedule.model_validate(
            {
                "id": s.id,
                "workflowDefinitionCode": s.workflow_code,
                "startTime": format_ds_datetime(s.spec.start_time),
                "endTime": format_ds_datetime(s.spec.end_time),
                "timezoneId": s.spec.timezone_id,
                "crontab": s.spec.crontab,
                "failureStrategy": s.failure_strategy.value,
                "releaseState": s.release_state.value,
                "workerGroup": s.worker_group,
                "tenantCode": s.tenant_code,
            }
        )

    def _start(self, project_code: int, wf: _Workflow, count: int) -> list[int]:
        ids = []
        for _ in range(count):
            instance_id = next(self._ids)
            self.instances[instance_id] = (project_code, wf.code)
            ids.append(instance_id)
        return ids


class FakeGateway:
    def __init__(self, ds: FakeDolphin) -> None:
        self._ds = ds

    async def ping(self) -> str:
        self._ds._enter("ping")
        return "PONG"

    async def get_gateway_version(self) -> str | None:
        self._ds._enter("getGatewayVersion")
        return GATEWAY_VERSION

    async def gen_task_code_list(self, count: int) -> list[int]:
        self._ds._enter("genTaskCodeList")
        if not 1 <= count <= MAX_GEN_TASK_CODES:
            raise DolphinGatewayError("genTaskCodeList", f"data {count:,} not valid")
        return [next(self._ds._codes) for _ in range(count)]

    async def create_or_grant_project(self, user_name: str, project_name: str, description: str = "") -> None:
        self._ds._enter("createOrGrantProject")
        if user_name not in self._ds.users:
            raise DolphinGatewayError("createOrGrantProject", f"user {user_name} does not exist")
        self._ds.projects.setdefault(project_name, next(self._ds._codes))

    async def query_project_by_name(self, user_name: str, project_name: str) -> GatewayProject | None:
        self._ds._enter("queryProjectByName")
        code = self._ds.projects.get(project_name)
        return None if code is None else GatewayProject(code=code, name=project_name, description=None)

    async def get_datasource(self, name: str, datasource_type: str | None = None) -> DataSourceRef:
        self._ds._enter("getDatasource")
        for (ds_name, ds_type), ds_id in self._ds.datasources.items():
            if ds_name == name and datasource_type is not None and ds_type.lower() == datasource_type.lower():
                return DataSourceRef(id=ds_id, name=ds_name, type=ds_type)
        type_text = "null" if datasource_type is None else datasource_type
        raise DolphinGatewayError("getDatasource", f"Can not find any datasource by name {name} and type {type_text}")

    async def create_or_update_workflow(
        self,
        *,
        user_name: str,
        project_name: str,
        name: str,
        task_relation_json: str,
        task_definition_json: str,
        description: str = "",
        global_params: str = "[]",
        schedule: str | None = None,
        online_schedule: bool = False,
        warning_type: WarningType = WarningType.NONE,
        warning_group_id: int = 0,
        timeout_minutes: int = 0,
        worker_group: str = "default",
        release_state: ReleaseState = ReleaseState.OFFLINE,
        other_params_json: str | None = None,
        execution_type: WorkflowExecutionType = WorkflowExecutionType.PARALLEL,
    ) -> int:
        ds = self._ds
        method = "createOrUpdateWorkflow"
        ds._enter(method)
        if user_name not in ds.users:
            raise DolphinGatewayError(method, f"java.lang.NullPointerException: user {user_name} does not exist")
        if ds.users[user_name] is None:
            raise DolphinGatewayError(
                method, "Can not create or update workflow definition with user who not related to any tenant"
            )
        project_code = ds.projects.get(project_name)
        if project_code is None:
            raise DolphinGatewayError(method, f"java.lang.NullPointerException: project {project_name} does not exist")
        tasks = _parse_tasks(task_definition_json, method)
        relations = _parse_relations(task_relation_json, tasks, method)
        existing = next((w for w in ds.workflows.values() if w.project_code == project_code and w.name == name), None)
        if existing is None:
            wf = _Workflow(
                code=next(ds._codes), name=name, project_code=project_code, version=1,
                release_state=ReleaseState.OFFLINE, description=description, global_params=global_params or "[]",
                timeout=timeout_minutes, execution_type=execution_type.value, tasks=tasks, relations=relations,
            )  # fmt: skip
            ds.workflows[wf.code] = wf
        else:
            wf = existing
            ds._release(wf, ReleaseState.OFFLINE, method)
            ds._update(wf, name, tasks, task_relation_json, method, description, global_params, timeout_minutes)
            wf.execution_type = execution_type.value
        if schedule is not None:
            ds._release(wf, ReleaseState.ONLINE, method)
            spec = _parse_schedule(schedule, method)
            current = ds._schedule_of(wf.code)
            if current is None:
                current = _Schedule(id=next(ds._ids), workflow_code=wf.code, spec=spec)
                ds.schedules[current.id] = current
            else:
                current.spec = spec
            if online_schedule:
                current.release_state = ReleaseState.ONLINE
        ds._release(wf, release_state, method)
        return wf.code


class FakeRest:
    def __init__(self, ds: FakeDolphin) -> None:
        self._ds = ds

    async def get_workflow_definition_by_name(self, project_code: int, name: str) -> DagData:
        self._ds._enter("get_workflow_definition_by_name")
        endpoint = "GET /projects/{p}/workflow-definition/query-by-name"
        if project_code not in self._ds.projects.values():
            raise api_error_for(10018, f"project {project_code} not found", endpoint=endpoint)
        wf = next((w for w in self._ds.workflows.values() if w.project_code == project_code and w.name == name), None)
        if wf is None:
            raise api_error_for(50003, f"workflow definition {name} does not exist", endpoint=endpoint)
        return self._dag(wf)

    async def get_workflow_definition(self, project_code: int, workflow_code: int) -> DagData:
        self._ds._enter("get_workflow_definition")
        return self._dag(
            self._ds._workflow(project_code, workflow_code, "GET /projects/{p}/workflow-definition/{code}")
        )

    def _dag(self, wf: _Workflow) -> DagData:
        schedule = self._ds._schedule_of(wf.code)
        return DagData.model_validate(
            {
                "workflowDefinition": {
                    "code": wf.code,
                    "name": wf.name,
                    "version": wf.version,
                    "releaseState": wf.release_state.value,
                    "projectCode": wf.project_code,
                    "description": wf.description,
                    "globalParams": wf.global_params,
                    "timeout": wf.timeout,
                    "executionType": wf.execution_type,
                    "scheduleReleaseState": schedule.release_state.value if schedule else None,
                },
                "workflowTaskRelationList": wf.relations,
                "taskDefinitionList": wf.tasks,
            }
        )

    async def release_workflow(self, project_code: int, workflow_code: int, state: ReleaseState) -> None:
        endpoint = "POST /projects/{p}/workflow-definition/{code}/release"
        self._ds._enter("release_workflow")
        self._ds._release(self._ds._workflow(project_code, workflow_code, endpoint), state, endpoint)

    async def update_workflow_definition(
        self,
        project_code: int,
        workflow_code: int,
        *,
        name: str,
        task_definition_json: str,
        task_relation_json: str,
        description: str = "",
        global_params: str = "[]",
        locations: str | None = None,
        timeout_minutes: int = 0,
        execution_type: WorkflowExecutionType = WorkflowExecutionType.PARALLEL,
        release_state: ReleaseState = ReleaseState.OFFLINE,
    ) -> WorkflowDefinition:
        endpoint = "PUT /projects/{p}/workflow-definition/{code}"
        ds = self._ds
        ds._enter("update_workflow_definition")
        wf = ds._workflow(project_code, workflow_code, endpoint)
        if wf.release_state is ReleaseState.ONLINE:
            raise api_error_for(50008, f"workflow definition {wf.name} is online, can not update", endpoint=endpoint)
        clash = next((w for w in ds.workflows.values() if w.project_code == project_code and w.name == name), None)
        if clash is not None and clash is not wf:
            raise api_error_for(10168, f"workflow definition name {name} already exists", endpoint=endpoint)
        tasks = _parse_tasks(task_definition_json, endpoint)
        ds._update(wf, name, tasks, task_relation_json, endpoint, description, global_params, timeout_minutes)
        wf.execution_type = execution_type.value
        ds._release(wf, release_state, endpoint)
        return WorkflowDefinition(code=wf.code, name=wf.name, version=wf.version, release_state=wf.release_state)

    async def get_schedule_of_workflow(self, project_code: int, workflow_code: int) -> Schedule | None:
        self._ds._enter("get_schedule_of_workflow")
        schedule = self._ds._schedule_of(workflow_code)
        return None if schedule is None else self._ds._schedule_model(schedule)

    async def create_schedule(
        self,
        project_code: int,
        workflow_code: int,
        spec: ScheduleSpec,
        *,
        failure_strategy: FailureStrategy = FailureStrategy.CONTINUE,
        worker_group: str = "default",
        tenant_code: str = "default",
    ) -> Schedule:
        endpoint = "POST /projects/{p}/schedules"
        ds = self._ds
        ds._enter("create_schedule")
        wf = ds._workflow(project_code, workflow_code, endpoint)
        if wf.release_state is not ReleaseState.ONLINE:
            raise api_error_for(50004, f"workflow definition {wf.code} not online", endpoint=endpoint)
        existing = ds._schedule_of(wf.code)
        if existing is not None:
            raise api_error_for(10204, f"workflow {wf.code} already has schedule {existing.id}", endpoint=endpoint)
        _check_spec(spec, endpoint)
        schedule = _Schedule(
            next(ds._ids), wf.code, spec, ReleaseState.OFFLINE, failure_strategy, worker_group, tenant_code
        )
        ds.schedules[schedule.id] = schedule
        return ds._schedule_model(schedule)

    async def update_schedule(
        self,
        project_code: int,
        schedule_id: int,
        spec: ScheduleSpec,
        *,
        failure_strategy: FailureStrategy = FailureStrategy.CONTINUE,
        worker_group: str = "default",
        tenant_code: str = "default",
    ) -> None:
        endpoint = "PUT /projects/{p}/schedules/{id}"
        self._ds._enter("update_schedule")
        schedule = self._schedule(schedule_id, endpoint)
        if schedule.release_state is ReleaseState.ONLINE:
            raise api_error_for(10023, "online status does not allow update operations", endpoint=endpoint)
        _check_spec(spec, endpoint)
        schedule.spec, schedule.failure_strategy = spec, failure_strategy
        schedule.worker_group, schedule.tenant_code = worker_group, tenant_code

    async def online_schedule(self, project_code: int, schedule_id: int) -> None:
        endpoint = "POST /projects/{p}/schedules/{id}/online"
        self._ds._enter("online_schedule")
        schedule = self._schedule(schedule_id, endpoint)
        if self._ds.workflows[schedule.workflow_code].release_state is not ReleaseState.ONLINE:
            raise api_error_for(50004, f"workflow definition {schedule.workflow_code} not online", endpoint=endpoint)
        schedule.release_state = ReleaseState.ONLINE

    async def offline_schedule(self, project_code: int, schedule_id: int) -> None:
        self._ds._enter("offline_schedule")
        self._schedule(schedule_id, "POST /projects/{p}/schedules/{id}/offline").release_state = ReleaseState.OFFLINE

    def _schedule(self, schedule_id: int, endpoint: str) -> _Schedule:
        schedule = self._ds.schedules.get(schedule_id)
        if schedule is None:
            raise api_error_for(10020, f"schedule {schedule_id} does not exist", endpoint=endpoint)
        return schedule

    async def start_workflow_instance(
        self,
        project_code: int,
        workflow_code: int,
        *,
        schedule_time: str = "",
        failure_strategy: FailureStrategy = FailureStrategy.END,
        warning_type: WarningType = WarningType.NONE,
        exec_type: str = "START_PROCESS",
        run_mode: RunMode | None = None,
        worker_group: str = "default",
        tenant_code: str = "default",
        start_params: Mapping[str, str] | None = None,
        dry_run: bool = False,
        expected_parallelism_number: int | None = None,
        priority: Priority = Priority.MEDIUM,
    ) -> list[int]:
        endpoint = "POST /projects/{p}/executors/start-workflow-instance"
        self._ds._enter("start_workflow_instance")
        return self._trigger(project_code, workflow_code, schedule_time, exec_type, tenant_code, endpoint, "start")

    def _trigger(
        self, project_code: int, code: int, schedule_time: str, exec_type: str, tenant: str, endpoint: str, kind: str
    ) -> list[int]:
        """One workflow's start as DS 3.4.x checks it (see the module docstring)."""
        ds = self._ds
        if project_code not in ds.projects.values():
            raise api_error_for(10018, f"project {project_code} not found", endpoint=endpoint)
        wf = ds.workflows.get(code)
        if wf is None:
            raise api_error_for(10000, f"Internal Server Error: Cannot find the workflow: {code}", endpoint=endpoint)
        prefix = "start workflow instance error:" if kind == "start" else "batch start workflow instance error: {0}:"
        if wf.release_state is not ReleaseState.ONLINE:
            raise api_error_for(50014, prefix + "The workflowDefinition should be online", endpoint=endpoint)
        if tenant not in ds.tenants:
            raise api_error_for(50014, prefix + f"Tenant: [{tenant}] not exists", endpoint=endpoint)
        runs = 1
        if exec_type == "COMPLEMENT_DATA":
            spec = json.loads(schedule_time)
            start = spec["complementStartDate"][:10]
            end = spec["complementEndDate"][:10]
            runs = (date.fromisoformat(end) - date.fromisoformat(start)).days + 1
        return ds._start(project_code, wf, runs)

    async def batch_start_workflow_instances(
        self,
        project_code: int,
        workflow_codes: Sequence[int],
        *,
        schedule_time: str = "",
        failure_strategy: FailureStrategy = FailureStrategy.END,
        warning_type: WarningType = WarningType.NONE,
        exec_type: str = "START_PROCESS",
        run_mode: RunMode | None = None,
        worker_group: str = "default",
        tenant_code: str = "default",
        start_params: Mapping[str, str] | None = None,
        dry_run: bool = False,
        expected_parallelism_number: int | None = None,
    ) -> list[int]:
        endpoint = "POST /projects/{p}/executors/batch-start-workflow-instance"
        self._ds._enter("batch_start_workflow_instances")
        ids: list[int] = []
        for code in workflow_codes:  # one by one: a failure leaves the ones before it started
            ids += self._trigger(project_code, code, schedule_time, exec_type, tenant_code, endpoint, "batch")
        return ids

    async def get_workflow_instance(self, project_code: int, instance_id: int) -> WorkflowInstance:
        endpoint = "GET /projects/{p}/workflow-instances/{id}"
        self._ds._enter("get_workflow_instance")
        found = self._ds.instances.get(instance_id)
        if found is None or found[0] != project_code:
            raise api_error_for(50001, "workflow instance does not exist", endpoint=endpoint)
        return WorkflowInstance.model_validate(
            {"id": instance_id, "workflowDefinitionCode": found[1], "projectCode": project_code, "state": "SUCCESS"}
        )

    async def list_workflow_instances(
        self, project_code: int, *, page_no: int = 1, page_size: int = 10, workflow_code: int | None = None
    ) -> Page[WorkflowInstance]:
        self._ds._enter("list_workflow_instances")
        ids = sorted(
            (i for i, (p, c) in self._ds.instances.items() if p == project_code and workflow_code in (None, c)),
            reverse=True,
        )
        items = [
            {
                "id": i,
                "workflowDefinitionCode": self._ds.instances[i][1],
                "projectCode": project_code,
                "state": "SUCCESS",
            }
            for i in ids[(page_no - 1) * page_size : page_no * page_size]
        ]
        return Page[WorkflowInstance].model_validate(
            {"totalList": items, "total": len(ids), "pageSize": page_size, "currentPage": page_no}
        )

    async def list_worker_groups(self) -> list[str]:
        self._ds._enter("list_worker_groups")
        return list(self._ds.worker_groups)


# -- JSON checks (the DS codes of CONTRACT §2, as the gateway surfaces them: a Java exception) ---------------------


def _parse_tasks(raw: str, method: str) -> list[dict[str, Any]]:
    try:
        items = json.loads(raw)
    except json.JSONDecodeError:
        raise DolphinGatewayError(method, "taskDefinitionJson is not valid JSON") from None
    if not isinstance(items, list) or not items:
        raise DolphinGatewayError(method, "task definition json is empty or not valid")
    tasks = []
    for item in items:
        task = dict(item)
        params = task.get("taskParams")
        if isinstance(params, str):
            params = json.loads(params) if params else {}
        task["taskParams"] = params
        if str(task.get("taskType", "")).upper() in ("SHELL", "PYTHON") and not (params or {}).get("rawScript"):
            raise DolphinGatewayError(method, f"task definition {task.get('name')} parameter invalid")
        task["version"] = max(1, int(task.get("version") or 0))
        tasks.append(task)
    names = [t.get("name") for t in tasks]
    if len(set(names)) != len(names):
        raise DolphinGatewayError(method, "task names are not unique")
    return tasks


def _parse_relations(raw: str, tasks: list[dict[str, Any]], method: str) -> list[dict[str, Any]]:
    items = json.loads(raw)
    versions = {int(t["code"]): int(t["version"]) for t in tasks}
    out = []
    graph: dict[int, list[int]] = {}
    for item in items:
        pre, post = int(item.get("preTaskCode") or 0), int(item.get("postTaskCode") or 0)
        if post == 0:
            raise DolphinGatewayError(method, "check relation error: postTaskCode is 0")
        for code in (pre, post):
            if code and code not in versions:
                raise DolphinGatewayError(method, f"task definition {code} does not exist")
        out.append(
            {
                "name": item.get("name") or "",
                "preTaskCode": pre,
                "preTaskVersion": versions.get(pre, 0),
                "postTaskCode": post,
                "postTaskVersion": versions[post],
                "conditionType": "NONE",
            }
        )
        if pre:
            graph.setdefault(pre, []).append(post)
    _no_cycle(graph, method)
    return out


def _no_cycle(graph: dict[int, list[int]], method: str) -> None:
    state: dict[int, int] = {}

    def visit(node: int) -> None:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                raise DolphinGatewayError(method, "workflow DAG has a cycle")
            if nxt not in state:
                visit(nxt)
        state[node] = 2

    for node in list(graph):
        if node not in state:
            visit(node)


def _parse_schedule(raw: str, method: str) -> ScheduleSpec:
    spec = json.loads(raw)
    start, end = parse_ds_datetime(spec["startTime"]), parse_ds_datetime(spec["endTime"])
    if start is None or end is None or start >= end:
        raise DolphinGatewayError(method, "schedule start time must be before its end time")
    return ScheduleSpec(
        start_time=start, end_time=end, crontab=spec["crontab"], timezone_id=spec.get("timezoneId", "UTC")
    )


def _check_spec(spec: ScheduleSpec, endpoint: str) -> None:
    if spec.start_time == spec.end_time:
        raise api_error_for(10141, "schedule start time equals end time", endpoint=endpoint)
    if spec.start_time > spec.end_time:
        raise api_error_for(80003, "schedule start time is after its end time", endpoint=endpoint)
    if len(spec.crontab.split()) not in (6, 7):
        raise api_error_for(10001, f"request parameter {spec.crontab} is not valid", endpoint=endpoint)
