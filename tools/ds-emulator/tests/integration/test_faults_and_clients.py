"""Emulator-only tests: fault injection and how our clients map it, scripted outcomes, metrics, secrets."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from common.dolphin import (
    DolphinApiError,
    DolphinAuthError,
    DolphinGatewayError,
    DolphinGatewayUnavailable,
    DolphinTimeout,
    DolphinTransientApiError,
    DolphinUnavailable,
    ReleaseState,
    WorkflowExecutionStatus,
)
from common.dolphin.gateway import DolphinGatewayClient
from common.dolphin.rest import DolphinRestClient
from common.errors import DomainError, TransientError
from ds_emulator import EmulatorProcess

pytestmark = pytest.mark.timeout(120)

ACCESS_TOKEN_MARK = "ds-emulator-access-token"


@pytest.fixture
async def emu(ds_emulator_fresh: EmulatorProcess) -> EmulatorProcess:
    return ds_emulator_fresh


@pytest.fixture
async def rest(emu: EmulatorProcess) -> AsyncIterator[DolphinRestClient]:
    client = DolphinRestClient.create(
        emu.rest_url,
        SecretStr(emu.access_token),
        timeout=httpx.Timeout(2.0, connect=2.0),
        backoff_initial=0.01,
        backoff_max=0.02,
    )
    async with client:
        yield client


@pytest.fixture
async def gateway(emu: EmulatorProcess) -> AsyncIterator[DolphinGatewayClient]:
    async with DolphinGatewayClient("127.0.0.1", emu.gateway_port, SecretStr(emu.auth_token), read_timeout=2) as gw:
        yield gw


async def _workflow(
    gateway: DolphinGatewayClient, *, scripts: tuple[str, str] = ("echo A", "echo B")
) -> tuple[int, int]:
    await gateway.create_or_grant_project("admin", "faults", "")
    project = await gateway.query_project_code("admin", "faults")
    assert project is not None
    a, b = await gateway.gen_task_code_list(2)
    tasks = [
        {"code": a, "version": 1, "name": "A", "taskType": "SHELL", "taskParams": {"rawScript": scripts[0]}},
        {"code": b, "version": 1, "name": "B", "taskType": "SHELL", "taskParams": {"rawScript": scripts[1]}},
    ]
    edges = [{"preTaskCode": 0, "postTaskCode": a}, {"preTaskCode": a, "postTaskCode": b}]
    code = await gateway.create_or_update_workflow(
        user_name="admin", project_name="faults", name=f"wf-{time.monotonic_ns()}",
        task_relation_json=json.dumps(edges), task_definition_json=json.dumps(tasks),
        release_state=ReleaseState.ONLINE,
    )  # fmt: skip
    return project, code


def _calls(endpoint: str, outcome: str, api: str = "rest") -> float:
    value = REGISTRY.get_sample_value("ds_calls_total", {"api": api, "endpoint": endpoint, "outcome": outcome})
    return value or 0.0


# ---------------------------------------------------------------------------------------------------------------
# REST


async def test_5xx_on_read_is_retried_then_succeeds(emu: EmulatorProcess, rest: DolphinRestClient) -> None:
    before = _calls("/projects/list", "unavailable")
    emu.add_fault("http_status", match=r"^/projects/list$", status=503, times=2)
    assert await rest.list_all_projects() == []
    assert _calls("/projects/list", "unavailable") - before == 2
    assert _calls("/projects/list", "ok") >= 1


async def test_5xx_on_read_gives_transient_error_after_attempts(emu: EmulatorProcess, rest: DolphinRestClient) -> None:
    emu.add_fault("http_status", match=r"^/projects/list$", status=500)
    with pytest.raises(DolphinUnavailable) as exc:
        await rest.list_all_projects()
    assert isinstance(exc.value, TransientError)


async def test_writes_are_never_retried(
    emu: EmulatorProcess, rest: DolphinRestClient, gateway: DolphinGatewayClient
) -> None:
    project, code = await _workflow(gateway)
    emu.add_fault("http_status", match=r"/executors/start-workflow-instance$", status=503, times=1)
    with pytest.raises(DolphinUnavailable):
        await rest.start_workflow_instance(project, code)
    # one attempt consumed the one-shot fault, so no instance exists and the next call works
    assert (await rest.list_workflow_instances(project, workflow_code=code)).total == 0
    assert len(await rest.start_workflow_instance(project, code)) == 1


async def test_dropped_connection_on_write_is_transient_and_not_retried(
    emu: EmulatorProcess, rest: DolphinRestClient, gateway: DolphinGatewayClient
) -> None:
    project, code = await _workflow(gateway)
    emu.add_fault("drop", match=r"/release$", times=2)
    with pytest.raises(DolphinUnavailable) as exc:
        await rest.offline_workflow(project, code)
    assert isinstance(exc.value, TransientError)
    faults = emu._post("faults", method="GET")["rules"]
    assert faults[0]["times"] == 1  # exactly one attempt


async def test_dropped_connection_on_read_is_retried(emu: EmulatorProcess, rest: DolphinRestClient) -> None:
    emu.add_fault("drop", match=r"^/worker-groups/all$", times=1)
    assert await rest.list_worker_groups() == ["default"]


async def test_hanging_request_times_out(emu: EmulatorProcess, rest: DolphinRestClient) -> None:
    emu.add_fault("hang", match=r"^/tenants/list$", hangSeconds=30)
    started = time.monotonic()
    with pytest.raises(DolphinTimeout) as exc:
        await rest.list_tenants()
    assert isinstance(exc.value, TransientError)
    assert time.monotonic() - started < 15
    emu.clear_faults()


async def test_hang_once_then_read_retry_succeeds(emu: EmulatorProcess, rest: DolphinRestClient) -> None:
    emu.add_fault("hang", match=r"^/tenants/list$", hangSeconds=30, times=1)
    tenants = await rest.list_tenants()
    assert [t.tenant_code for t in tenants] == ["default"]
    emu.clear_faults()


async def test_injected_ds_codes_map_to_errors(emu: EmulatorProcess, rest: DolphinRestClient) -> None:
    emu.add_fault("ds_error", match=r"^/projects/list$", dsCode=30001, dsMsg="user has no operation privilege", times=1)
    with pytest.raises(DolphinApiError) as exc:
        await rest.list_all_projects()
    assert (exc.value.ds_code, exc.value.ds_msg) == (30001, "user has no operation privilege")
    assert isinstance(exc.value, DomainError)

    emu.add_fault("ds_error", match=r"^/projects/list$", dsCode=10025, dsMsg="master does not exist")
    with pytest.raises(DolphinTransientApiError) as busy:
        await rest.list_all_projects()
    assert busy.value.ds_code == 10025
    assert isinstance(busy.value, TransientError)


async def test_injected_401(emu: EmulatorProcess, rest: DolphinRestClient) -> None:
    emu.add_fault("unauthorized", match=r"^/projects/list$")
    with pytest.raises(DolphinAuthError):
        await rest.list_all_projects()


async def test_missing_required_parameter_answers_endpoint_code(emu: EmulatorProcess) -> None:
    async with httpx.AsyncClient(base_url=emu.rest_url, headers={"token": emu.access_token}) as http:
        response = await http.post(
            "/projects/1/executors/start-workflow-instance", data={"workflowDefinitionCode": "1"}
        )
        body = response.json()
    assert response.status_code == 200
    assert body["code"] == 50014
    assert "scheduleTime" in body["msg"]
    assert body["success"] is False
    assert body["failed"] is True


async def test_token_never_in_logs_or_errors(
    emu: EmulatorProcess, rest: DolphinRestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emu.add_fault("http_status", match=r"^/projects/list$", status=502)
    errors: list[BaseException] = []
    for call in (rest.list_all_projects, rest.get_current_user):
        try:
            await call()
        except Exception as exc:
            errors.append(exc)
    emu.add_fault("ds_error", match=r"^/users/get-user-info$", dsCode=10000, dsMsg="boom")
    try:
        await rest.get_current_user()
    except Exception as exc:
        errors.append(exc)
    assert len(errors) == 2
    text = caplog.text + " ".join(f"{e} {e!r} {getattr(e, 'extras', '')}" for e in errors) + repr(rest)
    assert ACCESS_TOKEN_MARK not in text
    assert emu.access_token not in text


async def test_metrics_use_route_templates(
    emu: EmulatorProcess, rest: DolphinRestClient, gateway: DolphinGatewayClient
) -> None:
    project, code = await _workflow(gateway)
    before = _calls("/projects/{p}/workflow-definition/{code}", "ok")
    await rest.get_workflow_definition(project, code)
    assert _calls("/projects/{p}/workflow-definition/{code}", "ok") == before + 1
    assert _calls("createOrUpdateWorkflow", "ok", api="gateway") >= 1
    names = {s.labels.get("endpoint", "") for m in REGISTRY.collect() for s in m.samples if m.name == "ds_calls"}
    assert not any(str(project) in n or str(code) in n for n in names)


# ---------------------------------------------------------------------------------------------------------------
# Scripted outcomes and emulator semantics


async def test_script_fails_a_workflow_by_code(
    emu: EmulatorProcess, rest: DolphinRestClient, gateway: DolphinGatewayClient
) -> None:
    project, code = await _workflow(gateway)
    emu.script("FAILURE", workflowCode=code, times=1)
    first = (await rest.start_workflow_instance(project, code))[0]
    second = (await rest.start_workflow_instance(project, code))[0]
    states = {}
    deadline = time.monotonic() + 20
    while len(states) < 2 and time.monotonic() < deadline:
        for instance_id in (first, second):
            instance = await rest.get_workflow_instance(project, instance_id)
            if instance.state.is_finished:
                states[instance_id] = instance.state
    assert states == {first: WorkflowExecutionStatus.FAILURE, second: WorkflowExecutionStatus.SUCCESS}


async def test_instance_progresses_through_states(
    emu: EmulatorProcess, rest: DolphinRestClient, gateway: DolphinGatewayClient
) -> None:
    emu.configure(submitDelaySeconds=0.3, taskDurationSeconds=0.4)
    project, code = await _workflow(gateway)
    [instance_id] = await rest.start_workflow_instance(project, code)
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = (await rest.get_workflow_instance(project, instance_id)).state
        if not seen or seen[-1] is not state:
            seen.append(state)
        if state.is_finished:
            break
    assert seen[0] is WorkflowExecutionStatus.SUBMITTED_SUCCESS
    assert WorkflowExecutionStatus.RUNNING_EXECUTION in seen
    assert seen[-1] is WorkflowExecutionStatus.SUCCESS


async def test_log_before_host_is_10191(
    emu: EmulatorProcess, rest: DolphinRestClient, gateway: DolphinGatewayClient
) -> None:
    emu.configure(submitDelaySeconds=0.0, dispatchDelaySeconds=5.0, taskDurationSeconds=20.0)
    project, code = await _workflow(gateway)
    [instance_id] = await rest.start_workflow_instance(project, code)
    tasks = await rest.get_instance_tasks(project, instance_id)
    with pytest.raises(DolphinApiError) as exc:
        await rest.get_task_log(tasks.task_list[0].id)
    assert (exc.value.ds_code, exc.value.ds_msg) == (10191, "task instance host is null")


async def test_gateway_requires_user_with_tenant_and_existing_project(
    emu: EmulatorProcess, gateway: DolphinGatewayClient
) -> None:
    emu.add_user("no-tenant", tenant_code=None)
    await gateway.create_or_grant_project("admin", "exists", "")
    kwargs: dict[str, Any] = {"name": "x", "task_relation_json": "[]", "task_definition_json": "[]"}
    with pytest.raises(DolphinGatewayError) as exc:
        await gateway.create_or_update_workflow(user_name="no-tenant", project_name="exists", **kwargs)
    assert "tenant" in exc.value.java_message
    with pytest.raises(DolphinGatewayError):
        await gateway.create_or_update_workflow(user_name="admin", project_name="missing", **kwargs)
    with pytest.raises(DolphinGatewayError):
        await gateway.create_or_update_workflow(user_name="ghost", project_name="exists", **kwargs)


async def test_datasource_and_dependent_info(emu: EmulatorProcess, gateway: DolphinGatewayClient) -> None:
    emu.add_datasource("warehouse", "POSTGRESQL")
    ds = await gateway.get_datasource("warehouse", "POSTGRESQL")
    assert (ds.name, ds.type) == ("warehouse", "POSTGRESQL")
    with pytest.raises(DolphinGatewayError):
        await gateway.get_datasource("nope")
    project, code = await _workflow(gateway)
    wf = await DolphinRestClient.create(emu.rest_url, SecretStr(emu.access_token)).get_workflow_definition(
        project, code
    )
    info = await gateway.get_dependent_info("faults", wf.workflow_definition.name, "B")
    assert info["workflowDefinitionCode"] == code
    assert info["projectCode"] == project


# ---------------------------------------------------------------------------------------------------------------
# Gateway faults


async def test_gateway_raise(emu: EmulatorProcess, gateway: DolphinGatewayClient) -> None:
    emu.add_fault("raise", target="gateway", match="^ping$", message="injected java failure", times=1)
    with pytest.raises(DolphinGatewayError) as exc:
        await gateway.ping()
    assert "injected java failure" in exc.value.java_message
    assert await gateway.ping() == "PONG"


async def test_gateway_close_connection(emu: EmulatorProcess, gateway: DolphinGatewayClient) -> None:
    # py4j itself retries once on a closed connection, so close both attempts
    emu.add_fault("close", target="gateway", match="^getGatewayVersion$", times=2)
    with pytest.raises(DolphinGatewayUnavailable) as exc:
        await gateway.get_gateway_version()
    assert isinstance(exc.value, TransientError)
    assert await gateway.get_gateway_version() == "3.4.1"


async def test_gateway_refused(emu: EmulatorProcess, gateway: DolphinGatewayClient) -> None:
    emu.add_fault("refuse", target="gateway")
    with pytest.raises(DolphinGatewayUnavailable):
        await gateway.ping()
    emu.clear_faults()
    deadline = time.monotonic() + 5
    while True:
        try:
            assert await gateway.ping() == "PONG"
            break
        except DolphinGatewayUnavailable:
            assert time.monotonic() < deadline


async def test_gateway_hang_times_out(emu: EmulatorProcess) -> None:
    emu.add_fault("hang", target="gateway", match="^ping$", hangSeconds=30, times=1)
    async with DolphinGatewayClient("127.0.0.1", emu.gateway_port, SecretStr(emu.auth_token), read_timeout=0.5) as gw:
        with pytest.raises(DolphinGatewayUnavailable):
            await gw.ping()
        emu.clear_faults()
        assert await gw.ping() == "PONG"


async def test_gateway_latency(emu: EmulatorProcess, gateway: DolphinGatewayClient) -> None:
    await gateway.ping()
    emu.set_global_latency(20)
    started = time.monotonic()
    await gateway.ping()
    assert time.monotonic() - started >= 0.02
