"""What the publisher calls outside itself, narrowed to what it uses.

The real adapters are :class:`common.dolphin.gateway.DolphinGatewayClient` and
:class:`common.dolphin.rest.DolphinRestClient`; the tests' ``publisher_testing.fakes`` (``services/publisher/tests``)
holds an in-memory DolphinScheduler implementing both. Both pass the same contract tests
(``services/publisher/tests/contract_ports``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from common.dolphin import (
    DagData,
    DataSourceRef,
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
)


class DolphinGateway(Protocol):
    """The DS Python gateway (py4j): project set-up, task codes, datasources, workflow upsert."""

    async def ping(self) -> str: ...

    async def get_gateway_version(self) -> str | None: ...

    async def gen_task_code_list(self, count: int) -> list[int]: ...

    async def create_or_grant_project(self, user_name: str, project_name: str, description: str = "") -> None: ...

    async def query_project_by_name(self, user_name: str, project_name: str) -> GatewayProject | None: ...

    async def get_datasource(self, name: str, datasource_type: str | None = None) -> DataSourceRef: ...

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
    ) -> int: ...


class DolphinRest(Protocol):
    """The DS REST API: read-back, release, schedules, starts and the connectivity check."""

    async def get_workflow_definition(self, project_code: int, workflow_code: int) -> DagData: ...
    async def get_workflow_definition_by_name(self, project_code: int, name: str) -> DagData: ...

    async def release_workflow(self, project_code: int, workflow_code: int, state: ReleaseState) -> None: ...

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
    ) -> WorkflowDefinition: ...

    async def get_schedule_of_workflow(self, project_code: int, workflow_code: int) -> Schedule | None: ...

    async def create_schedule(
        self,
        project_code: int,
        workflow_code: int,
        spec: ScheduleSpec,
        *,
        failure_strategy: FailureStrategy = FailureStrategy.CONTINUE,
        worker_group: str = "default",
        tenant_code: str = "default",
    ) -> Schedule: ...

    async def update_schedule(
        self,
        project_code: int,
        schedule_id: int,
        spec: ScheduleSpec,
        *,
        failure_strategy: FailureStrategy = FailureStrategy.CONTINUE,
        worker_group: str = "default",
        tenant_code: str = "default",
    ) -> None: ...

    async def online_schedule(self, project_code: int, schedule_id: int) -> None: ...

    async def offline_schedule(self, project_code: int, schedule_id: int) -> None: ...

    async def start_workflow_instance(
        self,
        project_code: int,
        workflow_code: int,
        *,
        schedule_time: str = "",
        failure_strategy: FailureStrategy = FailureStrategy.END,
        exec_type: str = "START_PROCESS",
        run_mode: RunMode | None = None,
        worker_group: str = "default",
        tenant_code: str = "default",
        start_params: Mapping[str, str] | None = None,
        dry_run: bool = False,
        expected_parallelism_number: int | None = None,
        priority: Priority = Priority.MEDIUM,
    ) -> list[int]: ...

    async def batch_start_workflow_instances(
        self,
        project_code: int,
        workflow_codes: Sequence[int],
        *,
        schedule_time: str = "",
        failure_strategy: FailureStrategy = FailureStrategy.END,
        exec_type: str = "START_PROCESS",
        run_mode: RunMode | None = None,
        worker_group: str = "default",
        tenant_code: str = "default",
        start_params: Mapping[str, str] | None = None,
        dry_run: bool = False,
        expected_parallelism_number: int | None = None,
    ) -> list[int]: ...

    async def get_workflow_instance(self, project_code: int, instance_id: int) -> WorkflowInstance: ...

    async def list_workflow_instances(
        self, project_code: int, *, page_no: int = 1, page_size: int = 10, workflow_code: int | None = None
    ) -> Page[WorkflowInstance]: ...

    async def list_worker_groups(self) -> list[str]: ...
