"""Tests for the real DolphinScheduler standalone launcher (tools/devstack/src/devstack/dolphin/).

The ``realds`` test starts a real DolphinScheduler JVM (minutes on a 2-core machine), bootstraps
tenant/user/project/token, creates a 2-task SHELL workflow through the py4j gateway, releases it
and starts it over REST, and waits for SUCCESS.  It is skipped, with the reason, when the
DolphinScheduler artifacts cannot be assembled on this machine (see docs/dolphin-standalone.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from py4j.java_gateway import GatewayParameters, JavaGateway
from py4j.protocol import Py4JError

from devstack import dolphin
from devstack.dolphin import (
    DolphinStandalone,
    DolphinUnavailableError,
    PlatformBootstrap,
    bootstrap_platform,
)
from devstack.dolphin.rest import DolphinRest

FINAL_WORKFLOW_STATES = {"SUCCESS", "FAILURE", "STOP", "PAUSE"}


@pytest.fixture(scope="module")
def real_ds() -> Iterator[DolphinStandalone]:
    ds = DolphinStandalone()
    try:
        ds.ensure_downloaded()
    except DolphinUnavailableError as exc:
        pytest.skip(str(exc))
    was_running = ds.is_running()
    began = time.monotonic()
    ds.start()
    elapsed = time.monotonic() - began
    rss = ds.rss_bytes() or 0
    print(f"\nDolphinScheduler {ds.version} ready in {elapsed:.0f}s, RSS {rss / 2**20:.0f} MiB")
    try:
        yield ds
    finally:
        if not was_running:
            ds.stop()
            assert not ds.is_running()


@pytest.fixture(scope="module")
def platform(real_ds: DolphinStandalone) -> PlatformBootstrap:
    first = bootstrap_platform(real_ds, project_name="devstack-it")
    again = bootstrap_platform(real_ds, project_name="devstack-it")  # idempotent
    assert again.project_code == first.project_code
    assert again.user_id == first.user_id
    assert again.access_token == first.access_token
    return first


def _gateway(ds: DolphinStandalone, token: str) -> JavaGateway:
    return JavaGateway(
        gateway_parameters=GatewayParameters(
            address=ds.gateway_address, port=ds.gateway_port, auth_token=token, auto_convert=True
        )
    )


def _task(code: int, name: str, script: str) -> dict[str, Any]:
    return {
        "code": code,
        "version": 1,
        "name": name,
        "description": "",
        "taskType": "SHELL",
        "taskParams": {"rawScript": script, "localParams": [], "resourceList": []},
        "flag": "YES",
        "taskPriority": "MEDIUM",
        "workerGroup": "default",
        "environmentCode": -1,
        "failRetryTimes": 0,
        "failRetryInterval": 1,
        "timeoutFlag": "CLOSE",
        "timeoutNotifyStrategy": None,
        "timeout": 0,
        "delayTime": 0,
        "taskGroupId": 0,
        "taskGroupPriority": 0,
        "cpuQuota": -1,
        "memoryMax": -1,
        "taskExecuteType": "BATCH",
        # required (NPE -> code 10001) by pre-3.3 code such as the dev-SNAPSHOT source build; 3.3+ ignores it
        "isCache": "NO",
    }


@pytest.mark.realds
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_rest_login_and_health(real_ds: DolphinStandalone, platform: PlatformBootstrap) -> None:
    assert real_ds.is_healthy()
    with DolphinRest(real_ds.rest_url) as rest:
        session = rest.login(dolphin.ADMIN_USER, dolphin.ADMIN_PASSWORD)
        assert session
    with DolphinRest(real_ds.rest_url, token=platform.access_token) as rest:
        me = rest.call("GET", "/users/get-user-info")
        assert me["userName"] == platform.user_name
        assert me["tenantCode"] == platform.tenant_code
    with DolphinRest(real_ds.rest_url, token="not-a-token") as rest:
        with pytest.raises(dolphin.DolphinApiError) as info:
            rest.call("GET", "/users/get-user-info")
        assert info.value.code == 401


@pytest.mark.realds
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_gateway_auth(real_ds: DolphinStandalone) -> None:
    gw = _gateway(real_ds, real_ds.gateway_auth_token)
    try:
        assert gw.entry_point.ping() == "PONG"
        version = gw.entry_point.getGatewayVersion()
        print(f"gateway version: {version!r}")
    finally:
        gw.close()
    bad = _gateway(real_ds, "wrong-token")
    try:
        with pytest.raises(Py4JError):
            bad.entry_point.ping()
    finally:
        bad.close()


@pytest.mark.realds
@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_two_task_shell_workflow_runs_to_success(real_ds: DolphinStandalone, platform: PlatformBootstrap) -> None:
    p = platform.project_code
    with DolphinRest(real_ds.rest_url, token=platform.access_token, timeout=60) as rest:
        code_a, code_b = rest.call("GET", f"/projects/{p}/task-definition/gen-task-codes", params={"genNum": 2})
        tasks = [
            _task(code_a, "extract", "echo devstack-extract-$((20 + 22))"),
            _task(code_b, "load", 'echo devstack-load; test -n "$HOME"'),
        ]
        relations = [
            {"name": "", "preTaskCode": 0, "preTaskVersion": 0, "postTaskCode": code_a,
             "postTaskVersion": 1, "conditionType": "NONE", "conditionParams": {}},
            {"name": "", "preTaskCode": code_a, "preTaskVersion": 1, "postTaskCode": code_b,
             "postTaskVersion": 1, "conditionType": "NONE", "conditionParams": {}},
        ]  # fmt: skip

        gw = _gateway(real_ds, real_ds.gateway_auth_token)
        try:
            # Java order: userName, projectName, name, description, globalParams, schedule,
            # onlineSchedule, warningType, warningGroupId, timeout, workerGroup, releaseState,
            # taskRelationJson, taskDefinitionJson, otherParamsJson, executionType
            workflow_code = gw.entry_point.createOrUpdateWorkflow(
                platform.user_name,
                platform.project_name,
                "devstack-two-shell",
                "created by test_dolphin",
                "[]",
                None,
                False,
                "NONE",
                0,
                0,
                "default",
                0,
                json.dumps(relations),
                json.dumps(tasks),
                None,
                "PARALLEL",
            )
        finally:
            gw.close()
        assert int(workflow_code) > 0

        dag = rest.call("GET", f"/projects/{p}/workflow-definition/{workflow_code}")
        assert dag["workflowDefinition"]["releaseState"] == "OFFLINE"
        assert {t["name"] for t in dag["taskDefinitionList"]} == {"extract", "load"}

        released = rest.call(
            "POST",
            f"/projects/{p}/workflow-definition/{workflow_code}/release",
            data={"releaseState": "ONLINE"},
        )
        assert released is True or released is None

        ids = rest.call(
            "POST",
            f"/projects/{p}/executors/start-workflow-instance",
            data={
                "workflowDefinitionCode": workflow_code,
                "scheduleTime": "",
                "failureStrategy": "END",
                "warningType": "NONE",
                "workflowInstancePriority": "MEDIUM",
                "workerGroup": "default",
                "tenantCode": "default",
                "environmentCode": -1,
                "execType": "START_PROCESS",
                "taskDependType": "TASK_POST",
                "dryRun": 0,
            },
        )
        instance_id = int(ids[0]) if isinstance(ids, list) else int(ids)

        deadline = time.monotonic() + 600
        state = ""
        while time.monotonic() < deadline:
            instance = rest.call("GET", f"/projects/{p}/workflow-instances/{instance_id}")
            state = str(instance["state"])
            if state in FINAL_WORKFLOW_STATES:
                break
            time.sleep(2)
        tasks_view = rest.call("GET", f"/projects/{p}/workflow-instances/{instance_id}/tasks")
        task_states = {t["name"]: t["state"] for t in tasks_view["taskList"]}
        logs = {}
        for t in tasks_view["taskList"]:
            try:
                detail = rest.call(
                    "GET", "/log/detail", params={"taskInstanceId": t["id"], "skipLineNum": 0, "limit": 1000}
                )
                logs[t["name"]] = str(detail.get("message") if isinstance(detail, dict) else detail)
            except dolphin.DolphinApiError as exc:
                logs[t["name"]] = f"<log unavailable: {exc}>"
        assert state == "SUCCESS", f"workflow {state}; tasks {task_states}; logs {logs}\n{real_ds.log_tail()}"
        assert task_states == {"extract": "SUCCESS", "load": "SUCCESS"}
        assert "devstack-extract-42" in logs["extract"]
