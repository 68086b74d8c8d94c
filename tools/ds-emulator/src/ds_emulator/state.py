"""In-memory DolphinScheduler state and behaviour (one process, one asyncio loop, so no locks).

``Emulator`` is built up by use case: ``accounts.Accounts`` (set-up, users, tenants, projects) ←
``definitions.Definitions`` (workflows, schedules) ← ``executions.Executions`` (instances, task runs) ← the
gateway behaviour here (CONTRACT §1.3). The DS objects are in ``model``, DEPENDENT parameters in ``dependent``."""

from __future__ import annotations

from ds_emulator.errors import JavaException, java_str
from ds_emulator.executions import Executions
from ds_emulator.model import (
    _EXECUTION_TYPE_ENUM,
    EXECUTION_TYPES,
    Json,
)


class Emulator(Executions):
    """All DS state. Methods raise :class:`DsError` for DS business errors."""

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
