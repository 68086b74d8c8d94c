"""The DS behaviour the publisher relies on, run against the fake and against the real clients + DS emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from common.dolphin import (
    DolphinApiError,
    DolphinGatewayError,
    DolphinTenantMissing,
    DolphinWorkflowMissing,
    DolphinWorkflowOffline,
    ReleaseState,
    ScheduleSpec,
)
from publisher.ports import DolphinGateway

from .conftest import Ports

pytestmark = pytest.mark.timeout(120)

SPEC = ScheduleSpec(
    start_time=datetime(2025, 1, 1, tzinfo=UTC), end_time=datetime(2099, 1, 1, tzinfo=UTC), crontab="0 0 2 * * ? *"
)


def _task(code: int, name: str, script: str) -> dict[str, object]:
    return {
        "code": code, "version": 1, "name": name, "description": "", "taskType": "SHELL",
        "taskParams": {"rawScript": script, "localParams": [], "resourceList": []},
        "flag": "YES", "taskPriority": "MEDIUM", "workerGroup": "default", "environmentCode": -1,
        "failRetryTimes": 0, "failRetryInterval": 1, "timeoutFlag": "CLOSE", "timeoutNotifyStrategy": None,
        "timeout": 0, "delayTime": 0, "taskGroupId": 0, "taskGroupPriority": 0, "cpuQuota": -1, "memoryMax": -1,
        "taskExecuteType": "BATCH",
    }  # fmt: skip


def _edge(pre: int, post: int) -> dict[str, object]:
    return {"name": "", "preTaskCode": pre, "preTaskVersion": 1 if pre else 0, "postTaskCode": post,
            "postTaskVersion": 1, "conditionType": "NONE", "conditionParams": {}}  # fmt: skip


async def _project(p: Ports) -> int:
    await p.gateway.create_or_grant_project(p.user, p.project_name, "ports")
    await p.gateway.create_or_grant_project(p.user, p.project_name, "ports")  # idempotent
    project = await p.gateway.query_project_by_name(p.user, p.project_name)
    assert project is not None
    assert project.name == p.project_name
    return project.code


async def _upsert(gw: DolphinGateway, p: Ports, name: str, codes: list[int], script_b: str = "echo B") -> int:
    a, b = codes
    return await gw.create_or_update_workflow(
        user_name=p.user,
        project_name=p.project_name,
        name=name,
        task_definition_json=json.dumps([_task(a, "A", "echo A"), _task(b, "B", script_b)]),
        task_relation_json=json.dumps([_edge(0, a), _edge(a, b)]),
    )


async def test_project_and_task_codes(ports: Ports) -> None:
    code = await _project(ports)
    assert code > 0
    codes = await ports.gateway.gen_task_code_list(5)
    more = await ports.gateway.gen_task_code_list(5)
    assert len(set(codes + more)) == 10
    assert min(codes + more) > 0
    assert await ports.gateway.query_project_by_name(ports.user, f"missing-{ports.project_name}") is None


async def test_upsert_read_back_and_versions(ports: Ports) -> None:
    project = await _project(ports)
    codes = await ports.gateway.gen_task_code_list(2)
    code = await _upsert(ports.gateway, ports, "wf", codes)
    dag = await ports.rest.get_workflow_definition(project, code)
    assert dag.workflow_definition.release_state is ReleaseState.OFFLINE
    assert {t.code for t in dag.task_definition_list} == set(codes)
    assert dag.edges() == {(0, codes[0]), (codes[0], codes[1])}
    version = dag.workflow_definition.version
    assert await _upsert(ports.gateway, ports, "wf", codes) == code  # same name: same workflow
    assert (await ports.rest.get_workflow_definition(project, code)).workflow_definition.version == version
    await _upsert(ports.gateway, ports, "wf", codes, script_b="echo changed")
    changed = await ports.rest.get_workflow_definition(project, code)
    assert changed.workflow_definition.version == version + 1
    b = next(t for t in changed.task_definition_list if t.code == codes[1])
    assert b.task_params["rawScript"] == "echo changed"


async def test_unknown_workflow_and_project(ports: Ports) -> None:
    project = await _project(ports)
    with pytest.raises(DolphinApiError) as err:
        await ports.rest.get_workflow_definition(project, 999_999_999)
    assert err.value.ds_code == 50003
    with pytest.raises(DolphinGatewayError):
        await ports.gateway.create_or_update_workflow(
            user_name=ports.user,
            project_name=f"missing-{ports.project_name}",
            name="wf",
            task_definition_json=json.dumps([_task(11, "A", "echo A")]),
            task_relation_json=json.dumps([_edge(0, 11)]),
        )


async def test_release_schedules_and_update_of_an_online_workflow(ports: Ports) -> None:
    project = await _project(ports)
    codes = await ports.gateway.gen_task_code_list(2)
    code = await _upsert(ports.gateway, ports, "sched", codes)
    rest = ports.rest
    with pytest.raises(DolphinApiError) as err:
        await rest.create_schedule(project, code, SPEC)
    assert err.value.ds_code == 50004  # the workflow must be online
    await rest.release_workflow(project, code, ReleaseState.ONLINE)
    await rest.release_workflow(project, code, ReleaseState.ONLINE)  # no-op
    schedule = await rest.create_schedule(project, code, SPEC)
    assert schedule.release_state is ReleaseState.OFFLINE
    with pytest.raises(DolphinApiError) as err:
        await rest.create_schedule(project, code, SPEC)
    assert err.value.ds_code == 10204
    await rest.online_schedule(project, schedule.id)
    with pytest.raises(DolphinApiError) as err:
        await rest.update_schedule(project, schedule.id, SPEC)
    assert err.value.ds_code == 10023
    found = await rest.get_schedule_of_workflow(project, code)
    assert found is not None
    assert found.release_state is ReleaseState.ONLINE
    assert found.crontab == SPEC.crontab
    assert found.start_time == SPEC.start_time

    # an update through the gateway takes the workflow and its schedule offline
    await _upsert(ports.gateway, ports, "sched", codes, script_b="echo v2")
    assert (await rest.get_workflow_definition(project, code)).workflow_definition.release_state is ReleaseState.OFFLINE
    after = await rest.get_schedule_of_workflow(project, code)
    assert after is not None
    assert after.release_state is ReleaseState.OFFLINE
    new_spec = SPEC.model_copy(update={"crontab": "0 30 3 * * ? *"})
    await rest.update_schedule(project, schedule.id, new_spec)
    await rest.release_workflow(project, code, ReleaseState.ONLINE)
    await rest.online_schedule(project, schedule.id)
    # release OFFLINE also takes the schedule offline
    await rest.release_workflow(project, code, ReleaseState.OFFLINE)
    last = await rest.get_schedule_of_workflow(project, code)
    assert last is not None
    assert last.release_state is ReleaseState.OFFLINE
    assert last.crontab == "0 30 3 * * ? *"


async def test_starts_need_an_online_workflow(ports: Ports) -> None:
    project = await _project(ports)
    codes = await ports.gateway.gen_task_code_list(2)
    code = await _upsert(ports.gateway, ports, "run", codes)
    with pytest.raises(DolphinWorkflowOffline) as err:
        await ports.rest.start_workflow_instance(project, code)
    assert err.value.ds_code == 50014
    [missing] = await ports.gateway.gen_task_code_list(1)
    with pytest.raises(DolphinWorkflowMissing) as gone:
        await ports.rest.start_workflow_instance(project, missing)
    assert gone.value.ds_code == 10000
    await ports.rest.release_workflow(project, code, ReleaseState.ONLINE)
    with pytest.raises(DolphinTenantMissing):
        await ports.rest.start_workflow_instance(project, code, tenant_code="no-such-tenant")
    ids = await ports.rest.start_workflow_instance(project, code)
    assert len(ids) == 1
    instance = await ports.rest.get_workflow_instance(project, ids[0])
    assert instance.workflow_definition_code == code
    backfill = json.dumps({"complementStartDate": "2025-01-01 00:00:00", "complementEndDate": "2025-01-03 00:00:00"})
    more = await ports.rest.batch_start_workflow_instances(
        project, [code], schedule_time=backfill, exec_type="COMPLEMENT_DATA"
    )
    assert len(more) == 3
    page = await ports.rest.list_workflow_instances(project, workflow_code=code, page_size=10)
    assert page.total == 4
    assert "default" in await ports.rest.list_worker_groups()
    assert len(await ports.rest.start_workflow_instance(
        project, code, schedule_time=backfill, exec_type="COMPLEMENT_DATA"
    )) == 3  # fmt: skip


async def test_batch_start_goes_one_by_one(ports: Ports) -> None:
    project = await _project(ports)
    online = await _upsert(ports.gateway, ports, "b1", await ports.gateway.gen_task_code_list(2))
    offline = await _upsert(ports.gateway, ports, "b2", await ports.gateway.gen_task_code_list(2))
    await ports.rest.release_workflow(project, online, ReleaseState.ONLINE)
    with pytest.raises(DolphinWorkflowOffline):
        await ports.rest.batch_start_workflow_instances(project, [online, offline])
    page = await ports.rest.list_workflow_instances(project, workflow_code=online, page_size=10)
    assert page.total == 1  # started before the failure


async def test_task_codes_come_at_most_100_per_call(ports: Ports) -> None:
    assert len(set(await ports.gateway.gen_task_code_list(100))) == 100
    for count in (0, 101):
        with pytest.raises(DolphinGatewayError) as err:
            await ports.gateway.gen_task_code_list(count)
        assert err.value.java_message == f"data {count} not valid"


async def test_datasources(ports: Ports) -> None:
    ports.add_datasource("warehouse", "POSTGRESQL")
    found = await ports.gateway.get_datasource("warehouse", "POSTGRESQL")
    assert found.name == "warehouse"
    assert found.id > 0
    assert (await ports.gateway.get_datasource("warehouse", "postgresql")).id == found.id
    with pytest.raises(DolphinGatewayError):
        await ports.gateway.get_datasource("nowhere", "MYSQL")
    with pytest.raises(DolphinGatewayError):
        await ports.gateway.get_datasource("warehouse", None)
    assert await ports.gateway.ping() == "PONG"
    assert await ports.gateway.get_gateway_version()


async def test_rename_by_code_over_rest(ports: Ports) -> None:
    """A rename updates the same workflow by its code (the gateway's upsert goes by name); only offline, and never
    onto another workflow's name."""
    project = await _project(ports)
    codes = await ports.gateway.gen_task_code_list(2)
    code = await _upsert(ports.gateway, ports, "before", codes)
    other = await _upsert(ports.gateway, ports, "taken", await ports.gateway.gen_task_code_list(2))
    rest = ports.rest
    tasks = json.dumps([_task(codes[0], "A", "echo A"), _task(codes[1], "B", "echo B")])
    relations = json.dumps([_edge(0, codes[0]), _edge(codes[0], codes[1])])
    await rest.release_workflow(project, code, ReleaseState.ONLINE)
    with pytest.raises(DolphinApiError) as err:
        await rest.update_workflow_definition(
            project, code, name="after", task_definition_json=tasks, task_relation_json=relations
        )
    assert err.value.ds_code == 50008  # online: DS updates only an offline workflow
    await rest.release_workflow(project, code, ReleaseState.OFFLINE)
    with pytest.raises(DolphinApiError) as err:
        await rest.update_workflow_definition(
            project, code, name="taken", task_definition_json=tasks, task_relation_json=relations
        )
    assert err.value.ds_code == 10168
    renamed = await rest.update_workflow_definition(
        project, code, name="after", task_definition_json=tasks, task_relation_json=relations
    )
    assert (renamed.code, renamed.name) == (code, "after")
    dag = await rest.get_workflow_definition(project, code)
    assert dag.workflow_definition.name == "after"
    assert dag.edges() == {(0, codes[0]), (codes[0], codes[1])}
    assert other != code
