"""Workflow definitions and schedules of the emulated DolphinScheduler: saving (tasks, relations, cycle check,
task versions), release, versions, and the schedules of a workflow."""

from __future__ import annotations

import json

from ds_emulator.accounts import Accounts
from ds_emulator.dependent import DEPENDENT_UNREADABLE, dependent_params_status
from ds_emulator.errors import DsError, api_exception, java_str, service_exception
from ds_emulator.model import (
    EXECUTION_TYPES,
    Json,
    Project,
    Schedule,
    User,
    Workflow,
    _task_content,
    fmt,
    parse_date,
)
from ds_emulator.task_params import CHECKED_TYPES, task_params_status


class Definitions(Accounts):
    """Workflow definitions (create, update, release, versions) and their schedules."""

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
            task_type = str(task.get("taskType", "")).upper()
            dependent = task_type == "DEPENDENT"
            checked = dependent or task_type in CHECKED_TYPES
            if isinstance(params, str):
                try:
                    params = json.loads(params) if params else ({} if not checked else None)
                except json.JSONDecodeError:
                    # DS: the task type's parameters cannot be parsed (checked for DEPENDENT, HTTP and PROCEDURE;
                    # see DEPENDENT_UNREADABLE)
                    if checked:
                        raise DsError(DEPENDENT_UNREADABLE) from None
                    raise DsError("WORKFLOW_NODE_S_PARAMETER_INVALID", task.get("name")) from None
            if checked:
                status = dependent_params_status(params) if dependent else task_params_status(task_type, params)
                if status is not None:
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

    def _sub_workflow_codes(self, code: int, seen: frozenset[int] = frozenset()) -> list[int]:
        """DS 3.4.2's ``ProcessServiceImpl.findAllSubWorkflowDefinitionCode``: the ``workflowDefinitionCode`` of every
        task of the workflow whose params have that key (any task type), each followed by its own sub-workflows, depth
        first. DS recurses without end on a cycle: a ``StackOverflowError`` (message null), which the REST release's
        ``@ApiException`` answers 10108 "release workflow definition error:null"; the emulator answers that at once."""
        wf = self.workflows.get(code)
        out: list[int] = []
        for task in wf.tasks if wf is not None else ():
            params = task.get("taskParams")
            if not isinstance(params, dict) or "workflowDefinitionCode" not in params:
                continue
            child = int(params["workflowDefinitionCode"] or 0)
            out.append(child)
            if child in seen or child == code:
                raise api_exception("RELEASE_WORKFLOW_DEFINITION_ERROR", "null")
            out.extend(self._sub_workflow_codes(child, seen | {code}))
        return out

    def _check_sub_workflows_online(self, wf: Workflow) -> None:
        """DS 3.4.2's ``checkAllSubWorkflowDefinitionIsOnline`` (every online, REST or Python gateway): each
        sub-workflow, children's children too, must be ONLINE; a missing one is ``WORKFLOW_DEFINITION_NOT_EXIST``
        naming the PARENT's code (DS passes it)."""
        for child_code in self._sub_workflow_codes(wf.code):
            child = self.workflows.get(child_code)
            if child is None:
                raise DsError("WORKFLOW_DEFINITION_NOT_EXIST", wf.code)
            if child.release_state != "ONLINE":
                raise service_exception(f"SubWorkflowDefinition {child.name} is not online")

    def release(self, wf: Workflow, state: str) -> None:
        if state == "ONLINE":
            if wf.release_state == "ONLINE":
                return
            if not wf.relations:
                raise DsError("WORKFLOW_DAG_IS_EMPTY")
            self._check_sub_workflows_online(wf)
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
