"""Contract tests for our DolphinScheduler clients (CONTRACT.md), run against ``ds_target``.

They never touch emulator-only endpoints and create every object they use, so they run unchanged against a real
DS 3.3/3.4. Every workflow gets a unique name.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import SecretStr

from common.dolphin import (
    DolphinApiError,
    DolphinAuthError,
    DolphinGatewayError,
    DolphinInvalidRequest,
    DolphinTenantMissing,
    DolphinWorkflowMissing,
    DolphinWorkflowOffline,
    ReleaseState,
    ScheduleSpec,
    TaskExecutionStatus,
    WorkflowExecutionStatus,
    WorkflowInstance,
)
from common.dolphin.gateway import DolphinGatewayClient
from common.dolphin.rest import DolphinRestClient
from common.errors import Conflict, DomainError, NotFound, TransientError

if TYPE_CHECKING:
    from .conftest import DsTarget, KnownDatasource

pytestmark = pytest.mark.timeout(300)


def _task(code: int, name: str, script: str) -> dict[str, Any]:
    return {
        "code": code, "version": 1, "name": name, "description": "", "taskType": "SHELL",
        "taskParams": {"rawScript": script, "localParams": [], "resourceList": []},
        "flag": "YES", "taskPriority": "MEDIUM", "workerGroup": "default", "environmentCode": -1,
        "failRetryTimes": 0, "failRetryInterval": 1, "timeoutFlag": "CLOSE", "timeoutNotifyStrategy": None,
        "timeout": 0, "delayTime": 0, "taskGroupId": 0, "taskGroupPriority": 0,
        "cpuQuota": -1, "memoryMax": -1, "taskExecuteType": "BATCH",
    }  # fmt: skip


def _edge(pre: int, post: int) -> dict[str, Any]:
    return {
        "name": "", "preTaskCode": pre, "preTaskVersion": 1 if pre else 0, "postTaskCode": post,
        "postTaskVersion": 1, "conditionType": "NONE", "conditionParams": {},
    }  # fmt: skip


GLOBAL_PARAMS = json.dumps([{"prop": "dt", "direct": "IN", "type": "VARCHAR", "value": "${system.biz.date}"}])


class Dag:
    """The 3-task example of CONTRACT §2.5 (A→B, A→C) with real codes."""

    def __init__(self, codes: list[int], scripts: dict[str, str] | None = None) -> None:
        self.a, self.b, self.c = codes[:3]
        s = {"A": "echo A", "B": "echo B", "C": "echo C", **(scripts or {})}
        self.tasks = [_task(self.a, "A", s["A"]), _task(self.b, "B", s["B"]), _task(self.c, "C", s["C"])]
        self.edges = [_edge(0, self.a), _edge(self.a, self.b), _edge(self.a, self.c)]

    @property
    def task_json(self) -> str:
        return json.dumps(self.tasks)

    @property
    def relation_json(self) -> str:
        return json.dumps(self.edges)


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _deploy(
    gateway: DolphinGatewayClient,
    target: DsTarget,
    name: str,
    dag: Dag,
    *,
    release_state: ReleaseState = ReleaseState.OFFLINE,
    schedule: str | None = None,
    online_schedule: bool = False,
) -> int:
    return await gateway.create_or_update_workflow(
        user_name=target.user_name,
        project_name=target.project_name,
        name=name,
        description="contract",
        global_params=GLOBAL_PARAMS,
        task_relation_json=dag.relation_json,
        task_definition_json=dag.task_json,
        release_state=release_state,
        schedule=schedule,
        online_schedule=online_schedule,
    )


async def _new_dag(gateway: DolphinGatewayClient, **scripts: str) -> Dag:
    return Dag(await gateway.gen_task_code_list(3), scripts)


async def _wait_finished(rest: DolphinRestClient, target: DsTarget, instance_id: int) -> WorkflowInstance:
    deadline = time.monotonic() + target.run_timeout
    while True:
        instance = await rest.get_workflow_instance(target.project_code, instance_id)
        if instance.state.is_finished:
            return instance
        assert time.monotonic() < deadline, f"instance {instance_id} still {instance.state}"
        await asyncio.sleep(0.1)


def _raw(target: DsTarget) -> httpx.AsyncClient:
    """Plain HTTP to DS with the access token, for what our client never sends (to see how DS answers it)."""
    return httpx.AsyncClient(
        base_url=target.rest_url, headers={"token": target.access_token.get_secret_value()}, timeout=30
    )


def _schedule_spec() -> ScheduleSpec:
    return ScheduleSpec(
        start_time=datetime(2025, 1, 1, tzinfo=UTC),
        end_time=datetime(2099, 12, 31, tzinfo=UTC),
        crontab="0 0 2 * * ? *",
        timezone_id="UTC",
    )


# ---------------------------------------------------------------------------------------------------------------


async def test_ping_and_version(ds_gateway: DolphinGatewayClient) -> None:
    assert await ds_gateway.ping() == "PONG"
    version = await ds_gateway.get_gateway_version()
    assert version is None or version.startswith("3.")


async def test_project_is_visible_over_rest(ds_rest: DolphinRestClient, ds_target: DsTarget) -> None:
    project = await ds_rest.get_project(ds_target.project_code)
    assert project.name == ds_target.project_name
    found = await ds_rest.find_project_by_name(ds_target.project_name)
    assert found is not None
    assert found.code == ds_target.project_code
    assert "default" in await ds_rest.list_worker_groups()
    user = await ds_rest.get_current_user()
    assert user.user_name
    assert isinstance(await ds_rest.list_tenants(), list)


async def test_create_three_task_workflow_and_read_back(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    dag = await _new_dag(ds_gateway)
    name = _name("three")
    code = await _deploy(ds_gateway, ds_target, name, dag)

    data = await ds_rest.get_workflow_definition(ds_target.project_code, code)
    assert data.workflow_definition.code == code
    assert data.workflow_definition.name == name
    assert data.workflow_definition.version >= 1
    assert data.workflow_definition.release_state is ReleaseState.OFFLINE
    assert data.workflow_definition.global_param_list[0]["prop"] == "dt"
    tasks = {t.name: t for t in data.task_definition_list}
    assert set(tasks) == {"A", "B", "C"}
    assert tasks["A"].code == dag.a
    assert tasks["A"].task_type == "SHELL"
    assert tasks["B"].task_params["rawScript"] == "echo B"
    assert data.edges() == {(0, dag.a), (dag.a, dag.b), (dag.a, dag.c)}

    by_name = await ds_rest.get_workflow_definition_by_name(ds_target.project_code, name)
    assert by_name.workflow_definition.code == code

    # the gateway knows the tasks now
    existing = await ds_gateway.get_code_and_version(ds_target.project_name, name, "B")
    assert existing.code == dag.b
    assert existing.version >= 1
    fresh = await ds_gateway.get_code_and_version(ds_target.project_name, name, "no-such-task")
    assert fresh.version == 0
    assert fresh.code not in (dag.a, dag.b, dag.c)


async def test_update_bumps_version_only_when_content_changes(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    dag = await _new_dag(ds_gateway)
    name = _name("update")
    code = await _deploy(ds_gateway, ds_target, name, dag)
    v1 = (await ds_rest.get_workflow_definition(ds_target.project_code, code)).workflow_definition.version

    changed = Dag([dag.a, dag.b, dag.c], {"B": "echo B2"})
    assert await _deploy(ds_gateway, ds_target, name, changed) == code
    after = await ds_rest.get_workflow_definition(ds_target.project_code, code)
    assert after.workflow_definition.version == v1 + 1
    tasks = {t.name: t for t in after.task_definition_list}
    assert tasks["B"].task_params["rawScript"] == "echo B2"
    assert tasks["B"].version == 2
    assert tasks["A"].version == 1

    versions = await ds_rest.list_workflow_versions(ds_target.project_code, code, page_size=10)
    assert {v.version for v in versions.total_list} >= {v1, v1 + 1}


async def test_release_online_and_offline(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    code = await _deploy(ds_gateway, ds_target, _name("release"), await _new_dag(ds_gateway))
    await ds_rest.online_workflow(ds_target.project_code, code)
    data = await ds_rest.get_workflow_definition(ds_target.project_code, code)
    assert data.workflow_definition.release_state is ReleaseState.ONLINE
    await ds_rest.online_workflow(ds_target.project_code, code)  # no-op when already online
    await ds_rest.offline_workflow(ds_target.project_code, code)
    data = await ds_rest.get_workflow_definition(ds_target.project_code, code)
    assert data.workflow_definition.release_state is ReleaseState.OFFLINE


async def test_gateway_release_state_online(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    dag = await _new_dag(ds_gateway)
    code = await _deploy(ds_gateway, ds_target, _name("gwonline"), dag, release_state=ReleaseState.ONLINE)
    data = await ds_rest.get_workflow_definition(ds_target.project_code, code)
    assert data.workflow_definition.release_state is ReleaseState.ONLINE
    await ds_rest.offline_workflow(ds_target.project_code, code)


async def test_start_runs_to_success_with_tasks_and_logs(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    dag = await _new_dag(ds_gateway)
    code = await _deploy(ds_gateway, ds_target, _name("run"), dag, release_state=ReleaseState.ONLINE)
    ids = await ds_rest.start_workflow_instance(ds_target.project_code, code)
    assert len(ids) == 1

    instance = await _wait_finished(ds_rest, ds_target, ids[0])
    assert instance.state is WorkflowExecutionStatus.SUCCESS
    assert instance.workflow_definition_code == code
    assert instance.start_time is not None
    assert instance.start_time.tzinfo is not None
    assert instance.end_time is not None
    assert instance.end_time >= instance.start_time

    tasks = await ds_rest.get_instance_tasks(ds_target.project_code, ids[0])
    assert tasks.workflow_instance_state is WorkflowExecutionStatus.SUCCESS
    assert {t.name for t in tasks.task_list} == {"A", "B", "C"}
    assert all(t.state is TaskExecutionStatus.SUCCESS for t in tasks.task_list)
    by_name = {t.name: t for t in tasks.task_list}
    assert by_name["A"].task_code == dag.a

    log = await ds_rest.read_task_log(by_name["A"].id)
    assert "echo A" in log or "\nA" in log
    window = await ds_rest.get_task_log(by_name["A"].id, skip_line_num=0, limit=2)
    assert window.message
    assert window.message.count("\n") <= 2

    page = await ds_rest.list_workflow_instances(ds_target.project_code, workflow_code=code)
    assert page.total == 1
    assert page.total_list[0].id == ids[0]
    assert page.total_list[0].duration  # only the list fills it


async def test_failing_task_fails_the_instance(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    dag = await _new_dag(ds_gateway, B="exit 1")
    code = await _deploy(ds_gateway, ds_target, _name("fail"), dag, release_state=ReleaseState.ONLINE)
    [instance_id] = await ds_rest.start_workflow_instance(ds_target.project_code, code)
    instance = await _wait_finished(ds_rest, ds_target, instance_id)
    assert instance.state is WorkflowExecutionStatus.FAILURE
    assert instance.state.is_failure
    tasks = {t.name: t for t in (await ds_rest.get_instance_tasks(ds_target.project_code, instance_id)).task_list}
    assert tasks["A"].state is TaskExecutionStatus.SUCCESS
    assert tasks["B"].state is not None
    assert tasks["B"].state.is_failure


async def test_instance_list_paging_and_ordering(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    code = await _deploy(
        ds_gateway, ds_target, _name("paging"), await _new_dag(ds_gateway), release_state=ReleaseState.ONLINE
    )
    started: list[int] = []
    for _ in range(3):
        started += await ds_rest.start_workflow_instance(ds_target.project_code, code)
    batch = await ds_rest.batch_start_workflow_instances(ds_target.project_code, [code])
    assert len(batch) == 1
    started += batch

    first = await ds_rest.list_workflow_instances(ds_target.project_code, workflow_code=code, page_no=1, page_size=3)
    second = await ds_rest.list_workflow_instances(ds_target.project_code, workflow_code=code, page_no=2, page_size=3)
    assert first.total == 4
    assert second.total == 4
    assert first.page_count == 2
    assert first.total_page == 2
    assert (first.current_page, first.page_no, first.page_size) == (1, 0, 3)
    assert (second.current_page, second.page_no) == (2, 3)
    assert len(first.total_list) == 3
    assert len(second.total_list) == 1
    listed = first.total_list + second.total_list
    assert {i.id for i in listed} == set(started)
    starts = [i.start_time for i in listed]
    assert all(a is not None and b is not None and a >= b for a, b in itertools.pairwise(starts))

    with pytest.raises(DolphinApiError) as bad:
        await ds_rest.list_workflow_instances(ds_target.project_code, page_no=0, page_size=10)
    assert bad.value.ds_code == 10001

    for instance_id in started:
        await _wait_finished(ds_rest, ds_target, instance_id)
    done = await ds_rest.list_workflow_instances(
        ds_target.project_code, workflow_code=code, state=WorkflowExecutionStatus.SUCCESS, page_size=10
    )
    assert done.total == 4


async def test_schedule_lifecycle_and_offline_on_update(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    dag = await _new_dag(ds_gateway)
    name = _name("sched")
    code = await _deploy(ds_gateway, ds_target, name, dag)
    p = ds_target.project_code

    with pytest.raises(DolphinApiError) as offline:
        await ds_rest.create_schedule(p, code, _schedule_spec())
    assert offline.value.ds_code == 50004

    await ds_rest.online_workflow(p, code)
    schedule = await ds_rest.create_schedule(p, code, _schedule_spec())
    assert schedule.release_state is ReleaseState.OFFLINE
    assert schedule.workflow_definition_code == code
    assert schedule.crontab == "0 0 2 * * ? *"
    assert schedule.timezone_id == "UTC"
    assert schedule.start_time == datetime(2025, 1, 1, tzinfo=UTC)

    with pytest.raises(DolphinApiError) as duplicate:
        await ds_rest.create_schedule(p, code, _schedule_spec())
    assert duplicate.value.ds_code == 10204

    await ds_rest.online_schedule(p, schedule.id)
    current = await ds_rest.get_schedule_of_workflow(p, code)
    assert current is not None
    assert current.release_state is ReleaseState.ONLINE

    with pytest.raises(DolphinApiError) as locked:
        await ds_rest.update_schedule(p, schedule.id, _schedule_spec())
    assert locked.value.ds_code == 10023

    await ds_rest.offline_schedule(p, schedule.id)
    new_spec = ScheduleSpec(
        start_time=datetime(2025, 1, 1, tzinfo=UTC),
        end_time=datetime(2099, 12, 31, tzinfo=UTC),
        crontab="0 30 3 * * ? *",
        timezone_id="UTC",
    )
    await ds_rest.update_schedule(p, schedule.id, new_spec)
    current = await ds_rest.get_schedule_of_workflow(p, code)
    assert current is not None
    assert current.crontab == "0 30 3 * * ? *"

    # The pitfall: updating the workflow through the gateway takes it offline, and its schedule with it.
    await ds_rest.online_schedule(p, schedule.id)
    await _deploy(ds_gateway, ds_target, name, Dag([dag.a, dag.b, dag.c], {"C": "echo C2"}))
    current = await ds_rest.get_schedule_of_workflow(p, code)
    assert current is not None
    assert current.release_state is ReleaseState.OFFLINE
    data = await ds_rest.get_workflow_definition(p, code)
    assert data.workflow_definition.release_state is ReleaseState.OFFLINE

    # ...and the publisher restores it: online the workflow, then the schedule.
    await ds_rest.online_workflow(p, code)
    await ds_rest.online_schedule(p, schedule.id)
    current = await ds_rest.get_schedule_of_workflow(p, code)
    assert current is not None
    assert current.release_state is ReleaseState.ONLINE

    # Taking the workflow offline over REST offlines the schedule too.
    await ds_rest.offline_workflow(p, code)
    current = await ds_rest.get_schedule_of_workflow(p, code)
    assert current is not None
    assert current.release_state is ReleaseState.OFFLINE


async def test_gateway_schedule_argument_onlines_schedule(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    dag = await _new_dag(ds_gateway)
    code = await _deploy(
        ds_gateway,
        ds_target,
        _name("gwsched"),
        dag,
        release_state=ReleaseState.ONLINE,
        schedule=_schedule_spec().to_ds_json(),
        online_schedule=True,
    )
    current = await ds_rest.get_schedule_of_workflow(ds_target.project_code, code)
    assert current is not None
    assert current.release_state is ReleaseState.ONLINE
    assert current.failure_strategy is not None
    assert current.failure_strategy.value == "CONTINUE"
    await ds_rest.offline_workflow(ds_target.project_code, code)


async def test_start_while_offline_is_50014(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    """DS 3.4.x: the trigger validator's IllegalStateException under the endpoint's START_WORKFLOW_INSTANCE_ERROR."""
    code = await _deploy(ds_gateway, ds_target, _name("offline"), await _new_dag(ds_gateway))
    with pytest.raises(DolphinApiError) as exc:
        await ds_rest.start_workflow_instance(ds_target.project_code, code)
    assert exc.value.ds_code == 50014
    assert exc.value.ds_msg == "start workflow instance error:The workflowDefinition should be online"
    assert isinstance(exc.value, DolphinWorkflowOffline)
    assert isinstance(exc.value, Conflict)
    assert isinstance(exc.value, DomainError)


async def test_start_with_an_unknown_tenant_is_50014(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    dag = await _new_dag(ds_gateway)
    code = await _deploy(ds_gateway, ds_target, _name("tenant"), dag, release_state=ReleaseState.ONLINE)
    tenant = f"no-such-tenant-{uuid.uuid4().hex[:6]}"
    with pytest.raises(DolphinApiError) as exc:
        await ds_rest.start_workflow_instance(ds_target.project_code, code, tenant_code=tenant)
    assert exc.value.ds_code == 50014
    assert exc.value.ds_msg == f"start workflow instance error:Tenant: [{tenant}] not exists"
    assert isinstance(exc.value, DolphinTenantMissing)
    page = await ds_rest.list_workflow_instances(ds_target.project_code, workflow_code=code)
    assert page.total == 0
    await ds_rest.offline_workflow(ds_target.project_code, code)


async def test_start_of_a_missing_workflow_is_a_permanent_not_found(
    ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    """10000 is also "Internal Server Error": for a start of a workflow code DS does not have (deleted in DS), it
    says "Cannot find the workflow: <code>", which no retry will change."""
    [missing] = await ds_rest.gen_task_codes(ds_target.project_code, 1)  # a fresh code: no workflow has it
    with pytest.raises(DolphinApiError) as exc:
        await ds_rest.start_workflow_instance(ds_target.project_code, missing)
    assert exc.value.ds_code == 10000
    assert exc.value.ds_msg == f"Internal Server Error: Cannot find the workflow: {missing}"
    assert isinstance(exc.value, DolphinWorkflowMissing)
    assert isinstance(exc.value, NotFound)
    assert not isinstance(exc.value, TransientError)
    assert "the DS workflow no longer exists" in str(exc.value)


async def test_task_codes_come_at_most_100_per_call(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    p = ds_target.project_code
    codes = await ds_rest.gen_task_codes(p, 100)
    assert len(set(codes)) == 100
    for count, text in ((101, "101"), (0, "0"), (2000, "2,000")):  # DS formats the Integer with MessageFormat
        with pytest.raises(DolphinApiError) as exc:
            await ds_rest.gen_task_codes(p, count)
        assert (exc.value.ds_code, exc.value.ds_msg) == (50017, f"data {text} not valid")
        assert isinstance(exc.value, DolphinInvalidRequest)

    assert len(set(await ds_gateway.gen_task_code_list(100))) == 100
    with pytest.raises(DolphinGatewayError) as refused:
        await ds_gateway.gen_task_code_list(101)
    assert refused.value.java_message == "data 101 not valid"


async def test_endpoint_error_codes_are_the_controllers(ds_target: DsTarget) -> None:
    """A parameter Spring cannot bind answers the method's @ApiException status: gen-task-codes has
    LOGIN_USER_QUERY_PROJECT_LIST_PAGING_ERROR (10049), access-tokens/user/{id} QUERY_ACCESSTOKEN_BY_USER_ERROR."""
    async with _raw(ds_target) as http:
        body = (await http.get(f"/projects/{ds_target.project_code}/task-definition/gen-task-codes")).json()
        assert body["code"] == 10049
        assert body["msg"].startswith("login user query project list paging error:")
        assert "genNum" in body["msg"]
        body = (await http.get("/access-tokens/user/not-a-number")).json()
        assert body["code"] == 70016
        assert body["msg"].startswith("query access token by user error:")
        body = (await http.get("/log/detail", params={"taskInstanceId": 1, "skipLineNum": 0})).json()
        assert body["code"] == 10103
        assert body["msg"].startswith("view task instance log error: {0}:")  # the template as it is, then the text


async def test_batch_start_starts_one_by_one_and_stops_at_a_failure(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    p = ds_target.project_code
    first = await _deploy(
        ds_gateway, ds_target, _name("b1"), await _new_dag(ds_gateway), release_state=ReleaseState.ONLINE
    )
    offline = await _deploy(ds_gateway, ds_target, _name("b2"), await _new_dag(ds_gateway))
    last = await _deploy(
        ds_gateway, ds_target, _name("b3"), await _new_dag(ds_gateway), release_state=ReleaseState.ONLINE
    )

    with pytest.raises(DolphinApiError) as exc:
        await ds_rest.batch_start_workflow_instances(p, [first, offline, last])
    assert exc.value.ds_code == 50014
    assert exc.value.ds_msg == "batch start workflow instance error: {0}:The workflowDefinition should be online"
    # not atomic: the workflow before the failure was started, the one after it was not
    assert (await ds_rest.list_workflow_instances(p, workflow_code=first)).total == 1
    assert (await ds_rest.list_workflow_instances(p, workflow_code=last)).total == 0

    [missing] = await ds_rest.gen_task_codes(p, 1)
    with pytest.raises(DolphinApiError) as gone:
        await ds_rest.batch_start_workflow_instances(p, [first, missing])
    assert gone.value.ds_msg == f"Internal Server Error: Cannot find the workflow: {missing}"
    assert isinstance(gone.value, DolphinWorkflowMissing)
    assert (await ds_rest.list_workflow_instances(p, workflow_code=first)).total == 2
    for code in (first, last):
        await ds_rest.offline_workflow(p, code)


async def test_batch_start_needs_exec_type(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    """``execType`` has no default on the batch endpoint (the single start defaults it): without it DS fails with
    a NullPointerException before starting anything."""
    p = ds_target.project_code
    code = await _deploy(
        ds_gateway, ds_target, _name("noexec"), await _new_dag(ds_gateway), release_state=ReleaseState.ONLINE
    )
    form = {"workflowDefinitionCodes": str(code), "scheduleTime": "", "failureStrategy": "END", "warningType": "NONE"}
    async with _raw(ds_target) as http:
        body = (await http.post(f"/projects/{p}/executors/batch-start-workflow-instance", data=form)).json()
        assert body["code"] == 50014
        assert body["msg"].startswith("batch start workflow instance error: {0}:")
        assert (await ds_rest.list_workflow_instances(p, workflow_code=code)).total == 0
        single = (await http.post(
            f"/projects/{p}/executors/start-workflow-instance",
            data={**form, "workflowDefinitionCode": str(code)},
        )).json()  # fmt: skip
        assert single["code"] == 0
    await ds_rest.offline_workflow(p, code)


async def test_create_endpoints_answer_201_errors_included(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    p = ds_target.project_code
    dag = await _new_dag(ds_gateway)
    offline = await _deploy(ds_gateway, ds_target, _name("c201"), dag)
    user = await ds_rest.get_current_user()
    async with _raw(ds_target) as http:
        created = await http.post("/projects", data={"projectName": _name("p201"), "description": ""})
        assert (created.status_code, created.json()["code"]) == (201, 0)
        duplicate = await http.post("/projects", data={"projectName": ds_target.project_name})
        assert (duplicate.status_code, duplicate.json()["code"]) == (201, 10019)
        bad = await http.post(
            f"/projects/{p}/workflow-definition",
            data={"name": _name("w201"), "taskDefinitionJson": dag.task_json, "taskRelationJson": "[]"},
        )
        assert bad.status_code == 201
        assert bad.json()["code"] != 0
        schedule = await http.post(
            f"/projects/{p}/schedules",
            data={"workflowDefinitionCode": offline, "schedule": _schedule_spec().to_ds_json()},
        )
        assert (schedule.status_code, schedule.json()["code"]) == (201, 50004)
        tenant = await http.post("/tenants", data={"tenantCode": "default", "queueId": 1})
        assert tenant.status_code == 201
        assert tenant.json()["code"] != 0
        token = await http.post("/access-tokens", data={"userId": user.id, "expireTime": "2099-12-31 00:00:00"})
        assert (token.status_code, token.json()["code"]) == (201, 0)
        listed = await http.get("/projects/list")
        assert listed.status_code == 200


async def test_get_datasource_needs_its_type(
    ds_gateway: DolphinGatewayClient, known_datasource: KnownDatasource
) -> None:
    """By name, then the type compared ignoring case; without a type nothing matches."""
    name, ds_type = known_datasource.name, known_datasource.type
    assert (await ds_gateway.get_datasource(name, ds_type)).name == name
    assert (await ds_gateway.get_datasource(name, ds_type.lower())).name == name
    with pytest.raises(DolphinGatewayError) as exc:
        await ds_gateway.get_datasource(name, None)
    assert exc.value.java_message == f"Can not find any datasource by name {name} and type null"


async def test_execution_type_is_case_sensitive(ds_gateway: DolphinGatewayClient, ds_target: DsTarget) -> None:
    dag = await _new_dag(ds_gateway)
    args = (
        ds_target.user_name, ds_target.project_name, _name("lower"), "", "[]", None, False, "NONE", 0, 0, "default",
        0, dag.relation_json, dag.task_json, None, "parallel",
    )  # fmt: skip
    with pytest.raises(DolphinGatewayError) as exc:  # the client always sends the enum's name; here the raw call
        await ds_gateway._call("createOrUpdateWorkflow", lambda ep: ep.createOrUpdateWorkflow(*args))
    assert exc.value.java_message == (
        "No enum constant org.apache.dolphinscheduler.common.enums.WorkflowExecutionTypeEnum.parallel"
    )
    async with _raw(ds_target) as http:
        body = (await http.post(
            f"/projects/{ds_target.project_code}/workflow-definition",
            data={"name": _name("lower"), "taskDefinitionJson": dag.task_json,
                  "taskRelationJson": dag.relation_json, "executionType": "parallel"},
        )).json()  # fmt: skip
    assert body["code"] == 10105
    assert body["msg"].startswith("create workflow definition error:")


async def test_wait_to_run_is_not_a_3_4_state(ds_target: DsTarget) -> None:
    assert "WAIT_TO_RUN" not in WorkflowExecutionStatus.__members__
    async with _raw(ds_target) as http:
        body = (await http.get(
            f"/projects/{ds_target.project_code}/workflow-instances",
            params={"pageNo": 1, "pageSize": 10, "stateType": "WAIT_TO_RUN"},
        )).json()  # fmt: skip
    assert body["code"] == 10113
    assert body["msg"].startswith("query workflow instance list paging error:")


async def test_gateway_exec_workflow_instance_cannot_start_on_3_4(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    """It onlines the workflow, then triggers it without a tenant (and with ``WarningType.of`` giving null): the
    trigger validator refuses. Nothing of ours calls it; runs go over REST."""
    name = _name("exec")
    code = await _deploy(ds_gateway, ds_target, name, await _new_dag(ds_gateway))
    with pytest.raises(DolphinGatewayError) as exc:
        await ds_gateway.exec_workflow_instance(ds_target.user_name, ds_target.project_name, name)
    assert exc.value.java_message == "Tenant: [null] not exists"
    data = await ds_rest.get_workflow_definition(ds_target.project_code, code)
    assert data.workflow_definition.release_state is ReleaseState.ONLINE
    assert (await ds_rest.list_workflow_instances(ds_target.project_code, workflow_code=code)).total == 0
    await ds_rest.offline_workflow(ds_target.project_code, code)


async def test_messages_are_ds_3_4_2s(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    """DS formats its messages with MessageFormat: a Long or Integer argument is grouped ("1,234")."""
    p = ds_target.project_code
    dag = await _new_dag(ds_gateway)
    code = await _deploy(ds_gateway, ds_target, _name("msg"), dag)
    version = (await ds_rest.get_workflow_definition(p, code)).workflow_definition.version
    with pytest.raises(DolphinApiError) as offline:
        await ds_rest.create_schedule(p, code, _schedule_spec())
    assert offline.value.ds_msg == f"workflow definition {code:,} workflow version {version} not online"

    await ds_rest.online_workflow(p, code)
    async with _raw(ds_target) as http:
        body = (
            await http.put(f"/projects/{p}/schedules/update/{code}", data={"schedule": _schedule_spec().to_ds_json()})
        ).json()
    assert (body["code"], body["msg"]) == (10022, f"scheduler crontab {code:,} does not exist")
    schedule = await ds_rest.create_schedule(p, code, _schedule_spec())
    with pytest.raises(DolphinApiError) as duplicate:
        await ds_rest.create_schedule(p, code, _schedule_spec())
    assert duplicate.value.ds_msg == (
        f"workflow {code:,} schedule {schedule.id:,} already exist, please update or delete it"
    )
    await ds_rest.offline_workflow(p, code)

    [unknown] = await ds_rest.gen_task_codes(p, 1)
    with pytest.raises(DolphinApiError) as missing_task:
        await ds_rest.create_workflow_definition(
            p, name=_name("msg"), task_definition_json=dag.task_json,
            task_relation_json=json.dumps([_edge(0, dag.a), _edge(dag.a, unknown)]),
        )  # fmt: skip
    assert (missing_task.value.ds_code, missing_task.value.ds_msg) == (
        50030,
        f"task definition [{unknown}] does not exist",
    )


async def test_relation_errors(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    dag = await _new_dag(ds_gateway)
    p = ds_target.project_code
    cycle = [_edge(0, dag.a), _edge(dag.a, dag.b), _edge(dag.b, dag.c), _edge(dag.c, dag.b)]
    with pytest.raises(DolphinApiError) as exc:
        await ds_rest.create_workflow_definition(
            p, name=_name("cycle"), task_definition_json=dag.task_json, task_relation_json=json.dumps(cycle)
        )
    assert exc.value.ds_code == 50019

    with pytest.raises(DolphinApiError) as exc:
        await ds_rest.create_workflow_definition(
            p, name=_name("post0"), task_definition_json=dag.task_json,
            task_relation_json=json.dumps([_edge(dag.a, 0)]),
        )  # fmt: skip
    assert exc.value.ds_code == 50036

    with pytest.raises(DolphinApiError) as exc:
        await ds_rest.create_workflow_definition(
            p, name=_name("empty"), task_definition_json=dag.task_json, task_relation_json="[]"
        )
    assert exc.value.ds_code == 50017

    with pytest.raises(DolphinGatewayError):
        await ds_gateway.create_or_update_workflow(
            user_name=ds_target.user_name,
            project_name=ds_target.project_name,
            name=_name("gwcycle"),
            task_relation_json=json.dumps(cycle),
            task_definition_json=dag.task_json,
        )


async def test_rest_create_then_update_requires_offline(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    codes = await ds_rest.gen_task_codes(ds_target.project_code, 3)
    assert len(set(codes)) == 3
    dag = Dag(codes)
    p = ds_target.project_code
    name = _name("restwf")
    created = await ds_rest.create_workflow_definition(
        p, name=name, task_definition_json=dag.task_json, task_relation_json=dag.relation_json
    )
    assert created.release_state is ReleaseState.OFFLINE
    await ds_rest.online_workflow(p, created.code)
    with pytest.raises(DolphinApiError) as exc:
        await ds_rest.update_workflow_definition(
            p, created.code, name=name, task_definition_json=dag.task_json, task_relation_json=dag.relation_json
        )
    assert exc.value.ds_code == 50008
    await ds_rest.offline_workflow(p, created.code)
    await ds_rest.update_workflow_definition(
        p, created.code, name=name, description="edited", task_definition_json=dag.task_json,
        task_relation_json=dag.relation_json,
    )  # fmt: skip
    data = await ds_rest.get_workflow_definition(p, created.code)
    assert data.workflow_definition.description == "edited"


async def test_unknown_project_is_10018(ds_rest: DolphinRestClient) -> None:
    with pytest.raises(DolphinApiError) as exc:
        await ds_rest.list_workflow_instances(1, page_size=10)
    assert exc.value.ds_code == 10018


async def test_bad_token_gets_401_with_empty_body(ds_target: DsTarget) -> None:
    async with httpx.AsyncClient(base_url=ds_target.rest_url, timeout=10) as http:
        raw = await http.get("/projects/list", headers={"token": "not-a-token"})
        assert raw.status_code == 401
        assert raw.content == b""
        missing = await http.get("/projects/list")
        assert missing.status_code == 401
    async with DolphinRestClient.create(ds_target.rest_url, SecretStr("not-a-token")) as client:
        with pytest.raises(DolphinAuthError):
            await client.list_all_projects()


async def test_health_needs_no_auth(ds_target: DsTarget) -> None:
    async with httpx.AsyncClient(base_url=ds_target.rest_url, timeout=10) as http:
        response = await http.get("/actuator/health")
    assert response.status_code == 200


async def test_gateway_bad_auth_token(ds_target: DsTarget) -> None:
    async with DolphinGatewayClient(
        ds_target.gateway_host, ds_target.gateway_port, SecretStr("wrong-token"), read_timeout=10
    ) as client:
        with pytest.raises(DolphinAuthError) as exc:
            await client.ping()
    assert "wrong-token" not in str(exc.value)
