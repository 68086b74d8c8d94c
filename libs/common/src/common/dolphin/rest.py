"""``DolphinRestClient``: the DolphinScheduler 3.3/3.4 REST API (CONTRACT §3).

The session (transport, token, envelope, errors, retries) is :mod:`common.dolphin.rest_session`; the definition
calls are :mod:`common.dolphin.rest_definitions`; executions, schedules and logs are here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from common.dolphin.models import (
    ComplementDependentMode,
    ExecutionOrder,
    FailureStrategy,
    InstanceTasks,
    LogChunk,
    Page,
    Priority,
    RunMode,
    Schedule,
    ScheduleSpec,
    TaskDependType,
    WarningType,
    WorkflowExecutionStatus,
    WorkflowInstance,
    format_ds_datetime,
)
from common.dolphin.rest_definitions import DolphinDefinitionsApi
from common.dolphin.rest_session import DEFAULT_TIMEOUT, Digested, Success, outcome_of

__all__ = ["DEFAULT_TIMEOUT", "Digested", "DolphinRestClient", "outcome_of"]

#: the instance list (history-sync reads it for every tracked workflow in every cycle)
_INSTANCE_PAGE: TypeAdapter[Success[Any]] = TypeAdapter(Success[Page[WorkflowInstance]])


class DolphinRestClient(DolphinDefinitionsApi):
    """Typed calls to the DS REST API (``create`` one, or give it an :class:`~common.transport.HttpTransport`
    whose base URL ends with ``/dolphinscheduler``)."""

    # ----------------------------------------------------------------------------------------------------
    # Executions

    @staticmethod
    def _start_form(
        *,
        schedule_time: str,
        failure_strategy: FailureStrategy,
        warning_type: WarningType,
        warning_group_id: int | None,
        start_node_list: Sequence[int] | None,
        task_depend_type: TaskDependType | None,
        exec_type: str,
        run_mode: RunMode | None,
        priority: Priority,
        worker_group: str,
        tenant_code: str,
        environment_code: int,
        start_params: Mapping[str, str] | None,
        dry_run: bool,
        expected_parallelism_number: int | None,
        complement_dependent_mode: ComplementDependentMode | None,
        execution_order: ExecutionOrder | None,
    ) -> dict[str, str | int | None]:
        return {
            "scheduleTime": schedule_time,
            "failureStrategy": failure_strategy.value,
            "warningType": warning_type.value,
            "warningGroupId": warning_group_id,
            "startNodeList": ",".join(str(c) for c in start_node_list) if start_node_list else None,
            "taskDependType": task_depend_type.value if task_depend_type else None,
            "execType": exec_type,
            "runMode": run_mode.value if run_mode else None,
            "workflowInstancePriority": priority.value,
            "workerGroup": worker_group,
            "tenantCode": tenant_code,
            "environmentCode": environment_code,
            "startParams": json.dumps(dict(start_params)) if start_params else None,
            "dryRun": 1 if dry_run else 0,
            "expectedParallelismNumber": expected_parallelism_number,
            "complementDependentMode": complement_dependent_mode.value if complement_dependent_mode else None,
            "executionOrder": execution_order.value if execution_order else None,
        }

    @staticmethod
    def _instance_ids(data: Any) -> list[int]:
        if data is None:
            return []
        if isinstance(data, list):
            return [int(x) for x in data]
        return [int(data)]

    async def start_workflow_instance(
        self,
        project_code: int,
        workflow_code: int,
        *,
        schedule_time: str = "",
        failure_strategy: FailureStrategy = FailureStrategy.END,
        warning_type: WarningType = WarningType.NONE,
        warning_group_id: int | None = None,
        start_node_list: Sequence[int] | None = None,
        task_depend_type: TaskDependType | None = None,
        exec_type: str = "START_PROCESS",
        run_mode: RunMode | None = None,
        priority: Priority = Priority.MEDIUM,
        worker_group: str = "default",
        tenant_code: str = "default",
        environment_code: int = -1,
        start_params: Mapping[str, str] | None = None,
        dry_run: bool = False,
        expected_parallelism_number: int | None = None,
        complement_dependent_mode: ComplementDependentMode | None = None,
        execution_order: ExecutionOrder | None = None,
    ) -> list[int]:
        """Start a workflow (must be ONLINE, else 50004).

        ``schedule_time`` is ``""`` for a normal run and the complement JSON for a backfill.
        Returns the created instance ids (one for a normal run). Never retried.
        """
        form = self._start_form(
            schedule_time=schedule_time,
            failure_strategy=failure_strategy,
            warning_type=warning_type,
            warning_group_id=warning_group_id,
            start_node_list=start_node_list,
            task_depend_type=task_depend_type,
            exec_type=exec_type,
            run_mode=run_mode,
            priority=priority,
            worker_group=worker_group,
            tenant_code=tenant_code,
            environment_code=environment_code,
            start_params=start_params,
            dry_run=dry_run,
            expected_parallelism_number=expected_parallelism_number,
            complement_dependent_mode=complement_dependent_mode,
            execution_order=execution_order,
        )
        form["workflowDefinitionCode"] = workflow_code
        data = await self._post("/projects/{p}/executors/start-workflow-instance", path={"p": project_code}, form=form)
        return self._instance_ids(data)

    async def batch_start_workflow_instances(
        self,
        project_code: int,
        workflow_codes: Sequence[int],
        *,
        schedule_time: str = "",
        failure_strategy: FailureStrategy = FailureStrategy.END,
        warning_type: WarningType = WarningType.NONE,
        warning_group_id: int | None = None,
        exec_type: str = "START_PROCESS",
        run_mode: RunMode | None = None,
        priority: Priority = Priority.MEDIUM,
        worker_group: str = "default",
        tenant_code: str = "default",
        environment_code: int = -1,
        start_params: Mapping[str, str] | None = None,
        dry_run: bool = False,
        expected_parallelism_number: int | None = None,
        complement_dependent_mode: ComplementDependentMode | None = None,
        execution_order: ExecutionOrder | None = None,
    ) -> list[int]:
        """Start several workflows (or backfill them); returns all created instance ids. Never retried."""
        form = self._start_form(
            schedule_time=schedule_time,
            failure_strategy=failure_strategy,
            warning_type=warning_type,
            warning_group_id=warning_group_id,
            start_node_list=None,
            task_depend_type=None,
            exec_type=exec_type,
            run_mode=run_mode,
            priority=priority,
            worker_group=worker_group,
            tenant_code=tenant_code,
            environment_code=environment_code,
            start_params=start_params,
            dry_run=dry_run,
            expected_parallelism_number=expected_parallelism_number,
            complement_dependent_mode=complement_dependent_mode,
            execution_order=execution_order,
        )
        form["workflowDefinitionCodes"] = ",".join(str(c) for c in workflow_codes)
        data = await self._post(
            "/projects/{p}/executors/batch-start-workflow-instance", path={"p": project_code}, form=form
        )
        return self._instance_ids(data)

    async def list_workflow_instances(
        self,
        project_code: int,
        *,
        page_no: int = 1,
        page_size: int = 10,
        workflow_code: int | None = None,
        search_val: str | None = None,
        executor_name: str | None = None,
        state: WorkflowExecutionStatus | None = None,
        host: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> Page[WorkflowInstance]:
        """Newest first (start time desc).

        Dates filter on start time and are sent as UTC wall time (the DS user or JVM zone must be UTC).
        """
        template = "/projects/{p}/workflow-instances"
        data = await self._get(
            template,
            path={"p": project_code},
            params={
                "pageNo": page_no,
                "pageSize": page_size,
                "workflowDefinitionCode": workflow_code,
                "searchVal": search_val,
                "executorName": executor_name,
                "stateType": state.value if state else None,
                "host": host,
                "startDate": format_ds_datetime(start_date) if start_date else None,
                "endDate": format_ds_datetime(end_date) if end_date else None,
            },
            success=_INSTANCE_PAGE,
        )
        if isinstance(data, Page):
            return data
        return self._parse(Page[WorkflowInstance], data, f"GET {template}")

    async def list_workflow_instances_digested(
        self, project_code: int, workflow_code: int, *, page_size: int = 10, known_digest: bytes | None = None
    ) -> Digested[Page[WorkflowInstance]]:
        """The first page of a workflow's instances (as :meth:`list_workflow_instances`) with the digest of DS's
        answer; the page is not read (``data`` ``None``) when that digest is ``known_digest``, the one of an answer
        read before: nothing in it changed since."""
        template = "/projects/{p}/workflow-instances"
        answer: Digested[Any] = await self._get(
            template,
            path={"p": project_code},
            params={"pageNo": 1, "pageSize": page_size, "workflowDefinitionCode": workflow_code},
            success=_INSTANCE_PAGE,
            digest=True,
            known_digest=known_digest,
        )
        if isinstance(answer.data, Page) or (answer.data is None and answer.digest == known_digest):
            return answer
        return Digested(answer.digest, self._parse(Page[WorkflowInstance], answer.data, f"GET {template}"))

    async def get_workflow_instance(self, project_code: int, instance_id: int) -> WorkflowInstance:
        template = "/projects/{p}/workflow-instances/{id}"
        data = await self._get(template, path={"p": project_code, "id": instance_id})
        return self._parse(WorkflowInstance, data, f"GET {template}")

    async def get_instance_tasks(self, project_code: int, instance_id: int) -> InstanceTasks:
        template = "/projects/{p}/workflow-instances/{id}/tasks"
        data = await self._get(template, path={"p": project_code, "id": instance_id})
        return self._parse(InstanceTasks, data, f"GET {template}")

    # ----------------------------------------------------------------------------------------------------
    # Schedules

    @staticmethod
    def _schedule_form(
        spec: ScheduleSpec,
        *,
        warning_type: WarningType,
        warning_group_id: int,
        failure_strategy: FailureStrategy,
        worker_group: str,
        tenant_code: str,
        environment_code: int,
        priority: Priority,
    ) -> dict[str, str | int | None]:
        return {
            "schedule": spec.to_ds_json(),
            "warningType": warning_type.value,
            "warningGroupId": warning_group_id,
            "failureStrategy": failure_strategy.value,
            "workerGroup": worker_group,
            "tenantCode": tenant_code,
            "environmentCode": environment_code,
            "workflowInstancePriority": priority.value,
        }

    async def create_schedule(
        self,
        project_code: int,
        workflow_code: int,
        spec: ScheduleSpec,
        *,
        warning_type: WarningType = WarningType.NONE,
        warning_group_id: int = 1,
        failure_strategy: FailureStrategy = FailureStrategy.CONTINUE,
        worker_group: str = "default",
        tenant_code: str = "default",
        environment_code: int = -1,
        priority: Priority = Priority.MEDIUM,
    ) -> Schedule:
        """Create the workflow's schedule (created OFFLINE; the workflow must be ONLINE; one per workflow)."""
        form = self._schedule_form(
            spec,
            warning_type=warning_type,
            warning_group_id=warning_group_id,
            failure_strategy=failure_strategy,
            worker_group=worker_group,
            tenant_code=tenant_code,
            environment_code=environment_code,
            priority=priority,
        )
        form["workflowDefinitionCode"] = workflow_code
        data = await self._post("/projects/{p}/schedules", path={"p": project_code}, form=form)
        return self._parse(Schedule, data, "POST /projects/{p}/schedules")

    async def update_schedule(
        self,
        project_code: int,
        schedule_id: int,
        spec: ScheduleSpec,
        *,
        warning_type: WarningType = WarningType.NONE,
        warning_group_id: int = 1,
        failure_strategy: FailureStrategy = FailureStrategy.CONTINUE,
        worker_group: str = "default",
        tenant_code: str = "default",
        environment_code: int = -1,
        priority: Priority = Priority.MEDIUM,
    ) -> None:
        """Update a schedule; refused (10023) while it is online. Re-read it with :meth:`list_schedules`."""
        form = self._schedule_form(
            spec,
            warning_type=warning_type,
            warning_group_id=warning_group_id,
            failure_strategy=failure_strategy,
            worker_group=worker_group,
            tenant_code=tenant_code,
            environment_code=environment_code,
            priority=priority,
        )
        await self._put("/projects/{p}/schedules/{id}", path={"p": project_code, "id": schedule_id}, form=form)

    async def online_schedule(self, project_code: int, schedule_id: int) -> None:
        await self._post("/projects/{p}/schedules/{id}/online", path={"p": project_code, "id": schedule_id}, form={})

    async def offline_schedule(self, project_code: int, schedule_id: int) -> None:
        await self._post("/projects/{p}/schedules/{id}/offline", path={"p": project_code, "id": schedule_id}, form={})

    async def list_schedules(
        self,
        project_code: int,
        *,
        workflow_code: int | None = None,
        page_no: int = 1,
        page_size: int = 10,
        search_val: str | None = None,
    ) -> Page[Schedule]:
        data = await self._get(
            "/projects/{p}/schedules",
            path={"p": project_code},
            params={
                "pageNo": page_no,
                "pageSize": page_size,
                "workflowDefinitionCode": workflow_code,
                "searchVal": search_val,
            },
        )
        return self._parse(Page[Schedule], data, "GET /projects/{p}/schedules")

    async def get_schedule_of_workflow(self, project_code: int, workflow_code: int) -> Schedule | None:
        page = await self.list_schedules(project_code, workflow_code=workflow_code, page_size=10)
        for schedule in page.total_list:
            if schedule.workflow_definition_code == workflow_code:
                return schedule
        return None

    # ----------------------------------------------------------------------------------------------------
    # Logs

    async def get_task_log(self, task_instance_id: int, *, skip_line_num: int = 0, limit: int = 1000) -> LogChunk:
        """One window of a task's log; 10191 while the task has no host yet."""
        data = await self._get(
            "/log/detail",
            params={"taskInstanceId": task_instance_id, "skipLineNum": skip_line_num, "limit": limit},
        )
        return self._parse(LogChunk, data, "GET /log/detail")

    async def read_task_log(self, task_instance_id: int, *, chunk_lines: int = 1000, max_lines: int = 100_000) -> str:
        """The whole log, paging by our own ``\\n`` count (DS's ``lineNum`` counts CRLF pieces only)."""
        parts: list[str] = []
        skip = 0
        while skip < max_lines:
            window = await self.get_task_log(task_instance_id, skip_line_num=skip, limit=chunk_lines)
            if not window.message:
                break
            parts.append(window.message)
            lines = window.message.count("\n") or 1
            skip += lines
            if lines < chunk_lines:
                break
        return "".join(parts)
