"""The issue-21 task types (HTTP, PROCEDURE, DATAX, SPARK, FLINK, CONDITIONS, SWITCH) as DS 3.4 takes them: the
converter's output is saved and read back unchanged, and parameters DS's ``checkParameters`` refuses are refused (50020
naming the task; 10001 where DS cannot read them). SUB_WORKFLOW's parameters likewise, and DS's rule that a workflow
goes online only when its sub-workflows (their own too) are online.

Like test_dolphin_contract, nothing here uses emulator-only endpoints beyond the ``known_datasource`` seed, so it runs
unchanged against a real DS 3.3/3.4."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from common.dolphin import DolphinApiError, ReleaseState
from common.dolphin.gateway import DolphinGatewayClient
from common.dolphin.rest import DolphinRestClient
from common.workflow import (
    ConditionsParams,
    DataxParams,
    Edge,
    FlinkParams,
    HttpParam,
    HttpParams,
    NodeAttrs,
    Param,
    ProcedureParams,
    ShellParams,
    SnapshotTask,
    SparkParams,
    StructureSnapshot,
    SubWorkflowParams,
    SwitchParams,
)
from publisher.domain import convert

if TYPE_CHECKING:
    from .conftest import DsTarget, KnownDatasource

pytestmark = pytest.mark.timeout(300)


def _snapshot(ds: KnownDatasource) -> StructureSnapshot:
    attrs = NodeAttrs(worker_group="default", retries=1, timeout_minutes=3, priority="HIGH")
    tasks = (
        SnapshotTask(task_id=1, name="prepare", task_type="SHELL", params=ShellParams(script="echo prepare")),
        SnapshotTask(
            task_id=2, name="refresh api", task_type="HTTP", node_attrs=attrs,
            params=HttpParams(
                url="https://api.example.invalid/refresh", method="POST", body='{"day":"${dt}"}',
                http_params=(HttpParam(name="X-Req", value="1", location="HEADERS"), HttpParam(name="q", value="a")),
                check_condition="STATUS_CODE_CUSTOM", condition="202", connect_timeout_ms=5000,
                local_params=(Param(name="dt", value="${system.biz.date}"),),
            ),
        ),
        SnapshotTask(
            task_id=3, name="call proc", task_type="PROCEDURE", node_attrs=attrs,
            params=ProcedureParams(datasource_name=ds.name, datasource_type=ds.type, method="call refresh_orders()"),
        ),
        SnapshotTask(
            task_id=4, name="sync", task_type="DATAX", node_attrs=attrs,
            params=DataxParams(source_datasource_name=ds.name, source_datasource_type=ds.type, sql="select 1",
                               target_datasource_name=ds.name, target_datasource_type=ds.type,
                               target_table="copy", pre_statements=("truncate copy",)),
        ),
        SnapshotTask(
            task_id=5, name="custom sync", task_type="DATAX",
            params=DataxParams(custom_json='{"job":{"content":[]}}', xms=1, xmx=2),
        ),
        SnapshotTask(
            task_id=6, name="spark", task_type="SPARK", node_attrs=attrs,
            params=SparkParams(main_jar="jobs/o.jar", main_class="com.example.O", main_args="--day ${dt}"),
        ),
        SnapshotTask(
            task_id=7, name="flink", task_type="FLINK", node_attrs=attrs,
            params=FlinkParams(program_type="SQL", raw_script="insert into k select * from s", deploy_mode="local"),
        ),
    )  # fmt: skip
    return StructureSnapshot(
        workflow_id=1,
        workflow_name=f"types-{uuid.uuid4().hex[:8]}",
        tasks=tasks,
        edges=(
            Edge(upstream_task_id=1, downstream_task_id=2),
            Edge(upstream_task_id=2, downstream_task_id=3),
            Edge(upstream_task_id=3, downstream_task_id=4),
            Edge(upstream_task_id=3, downstream_task_id=5),
            Edge(upstream_task_id=1, downstream_task_id=6),
            Edge(upstream_task_id=1, downstream_task_id=7),
        ),
    )


async def _save(gateway: DolphinGatewayClient, target: DsTarget, name: str, tasks: str, relations: str) -> int:
    return await gateway.create_or_update_workflow(
        user_name=target.user_name,
        project_name=target.project_name,
        name=name,
        task_relation_json=relations,
        task_definition_json=tasks,
    )


async def test_http_and_procedure_tasks_are_saved_and_read_back_as_sent(
    ds_gateway: DolphinGatewayClient,
    ds_rest: DolphinRestClient,
    ds_target: DsTarget,
    known_datasource: KnownDatasource,
) -> None:
    snap = _snapshot(known_datasource)
    source = await ds_gateway.get_datasource(known_datasource.name, known_datasource.type)
    codes = dict(zip((1, 2, 3, 4, 5, 6, 7), await ds_gateway.gen_task_code_list(7), strict=True))
    defn = convert(snap, codes, datasource_ids={(known_datasource.name, known_datasource.type): source.id})
    code = await _save(ds_gateway, ds_target, defn.name, defn.task_definition_json, defn.task_relation_json)

    data = await ds_rest.get_workflow_definition(ds_target.project_code, code)
    sent = {t["code"]: t for t in json.loads(defn.task_definition_json)}
    stored = {t.code: t for t in data.task_definition_list}
    assert {c: t.task_type for c, t in stored.items()} == {
        codes[1]: "SHELL", codes[2]: "HTTP", codes[3]: "PROCEDURE", codes[4]: "DATAX", codes[5]: "DATAX",
        codes[6]: "SPARK", codes[7]: "FLINK",
    }  # fmt: skip
    for c in (codes[2], codes[3], codes[4], codes[5], codes[6], codes[7]):
        assert stored[c].task_params == sent[c]["taskParams"]
    assert stored[codes[3]].task_params["datasource"] == source.id
    assert (stored[codes[4]].task_params["dataSource"], stored[codes[4]].task_params["dataTarget"]) == (source.id,) * 2
    assert data.edges() == {(0, codes[1]), (codes[1], codes[2]), (codes[2], codes[3]), (codes[3], codes[4]),
                            (codes[3], codes[5]), (codes[1], codes[6]), (codes[1], codes[7])}  # fmt: skip


async def _save_and_read_back(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget, snap: StructureSnapshot
) -> tuple[dict[int, int], dict[int, Any], dict[int, Any], set[tuple[int, int]]]:
    """The snapshot converted with fresh DS codes and saved: ``(codes by task id, the stored tasks and the sent ones by
    code, the stored edges)``."""
    ids = [t.task_id for t in snap.tasks]
    codes = dict(zip(ids, await ds_gateway.gen_task_code_list(len(ids)), strict=True))
    defn = convert(snap, codes)
    code = await _save(ds_gateway, ds_target, defn.name, defn.task_definition_json, defn.task_relation_json)
    data = await ds_rest.get_workflow_definition(ds_target.project_code, code)
    stored = {t.code: t for t in data.task_definition_list}
    sent = {t["code"]: t for t in json.loads(defn.task_definition_json)}
    return codes, stored, sent, data.edges()


async def test_a_conditions_task_is_saved_with_its_branches_as_codes_and_relations(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    """1, 2 -> 3 (CONDITIONS: 1 succeeded or 2 failed) -> 4 on success, 5 on failure."""
    shell = [
        SnapshotTask(task_id=i, name=f"step {i}", task_type="SHELL", params=ShellParams(script=f"echo {i}"))
        for i in (1, 2, 4, 5)
    ]
    cond = ConditionsParams.model_validate(
        {
            "relation": "OR",
            "groups": [{"checks": [{"task_id": 1}]}, {"checks": [{"task_id": 2, "status": "FAILURE"}]}],
            "success_task_ids": [4],
            "failed_task_ids": [5],
        }
    )
    snap = StructureSnapshot(
        workflow_id=2,
        workflow_name=f"conditions-{uuid.uuid4().hex[:8]}",
        tasks=(*shell, SnapshotTask(task_id=3, name="branch", task_type="CONDITIONS", params=cond)),
        edges=tuple(Edge(upstream_task_id=u, downstream_task_id=d) for u, d in ((1, 3), (2, 3), (3, 4), (3, 5))),
    )
    codes, stored, sent, edges = await _save_and_read_back(ds_gateway, ds_rest, ds_target, snap)
    assert stored[codes[3]].task_type == "CONDITIONS"
    assert stored[codes[3]].task_params == sent[codes[3]]["taskParams"]
    assert stored[codes[3]].task_params["conditionResult"] == {"successNode": [codes[4]], "failedNode": [codes[5]]}
    assert edges == {(0, codes[1]), (0, codes[2]), (codes[1], codes[3]), (codes[2], codes[3]),
                            (codes[3], codes[4]), (codes[3], codes[5])}  # fmt: skip


async def test_a_switch_task_is_saved_with_its_branches_as_codes_and_relations(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    """1 -> 2 (SWITCH: a case to 3, a case to 4, 5 by default) -> 3, 4, 5; and without a default."""
    shell = [
        SnapshotTask(task_id=i, name=f"step {i}", task_type="SHELL", params=ShellParams(script=f"echo {i}"))
        for i in (1, 3, 4, 5)
    ]
    cases = [{"condition": "${region} == 'eu'", "task_id": 3}, {"condition": "${rows} > 1000", "task_id": 4}]
    for default in (5, None):
        route = SwitchParams.model_validate({"cases": cases, "default_task_id": default})
        edges = [(1, 2), (2, 3), (2, 4), (2, 5)]
        snap = StructureSnapshot(
            workflow_id=2,
            workflow_name=f"switch-{uuid.uuid4().hex[:8]}",
            tasks=(*shell, SnapshotTask(task_id=2, name="route", task_type="SWITCH", params=route)),
            edges=tuple(Edge(upstream_task_id=u, downstream_task_id=d) for u, d in edges),
        )
        codes, stored, sent, saved_edges = await _save_and_read_back(ds_gateway, ds_rest, ds_target, snap)
        assert stored[codes[2]].task_type == "SWITCH"
        assert stored[codes[2]].task_params == sent[codes[2]]["taskParams"]
        assert stored[codes[2]].task_params["switchResult"] == {
            "dependTaskList": [
                {"condition": "${region} == 'eu'", "nextNode": codes[3]},
                {"condition": "${rows} > 1000", "nextNode": codes[4]},
            ],
            "nextNode": None if default is None else codes[5],
        }
        assert saved_edges == {(0, codes[1]), (codes[1], codes[2]), (codes[2], codes[3]), (codes[2], codes[4]),
                               (codes[2], codes[5])}  # fmt: skip


@pytest.mark.parametrize(
    ("region", "default", "ran", "state"),
    [
        ("us", 5, {1, 2, 4}, "SUCCESS"),  # the first case fails, the second holds: its branch only
        ("eu", 5, {1, 2, 3}, "SUCCESS"),  # both hold: the first is taken
        ("apac", 5, {1, 2, 5}, "SUCCESS"),  # no case holds ("rows" is small): the default
        ("apac", None, {1, 2}, "FAILURE"),  # no case holds and no default: DS fails the SWITCH task
    ],
)
async def test_a_switch_run_takes_the_first_case_that_holds_else_the_default(
    ds_gateway: DolphinGatewayClient,
    ds_rest: DolphinRestClient,
    ds_target: DsTarget,
    region: str,
    default: int | None,
    ran: set[int],
    state: str,
) -> None:
    """1 -> 2 (SWITCH: region eu -> 3, region not apac -> 4, default 5) over the workflow's global parameters: the
    branch targets not taken do not run (DS 3.4.2's ``SwitchLogicTask`` and ``SuccessorFlowAdjuster``)."""
    shell = [
        SnapshotTask(task_id=i, name=f"step {i}", task_type="SHELL", params=ShellParams(script=f"echo {i}"))
        for i in (1, 3, 4, 5)
    ]
    cases = [{"condition": "${region} == 'eu'", "task_id": 3}, {"condition": "${region} != 'apac'", "task_id": 4}]
    route = SwitchParams.model_validate({"cases": cases, "default_task_id": default})
    snap = StructureSnapshot(
        workflow_id=2,
        workflow_name=f"switch-run-{uuid.uuid4().hex[:8]}",
        tasks=(*shell, SnapshotTask(task_id=2, name="route", task_type="SWITCH", params=route)),
        edges=tuple(Edge(upstream_task_id=u, downstream_task_id=d) for u, d in ((1, 2), (2, 3), (2, 4), (2, 5))),
    )
    codes = dict(zip((1, 2, 3, 4, 5), await ds_gateway.gen_task_code_list(5), strict=True))
    defn = convert(snap, codes)
    params = [{"prop": "region", "direct": "IN", "type": "VARCHAR", "value": region}]
    code = await ds_gateway.create_or_update_workflow(
        user_name=ds_target.user_name, project_name=ds_target.project_name, name=defn.name,
        task_relation_json=defn.task_relation_json, task_definition_json=defn.task_definition_json,
        global_params=json.dumps(params), release_state=ReleaseState.ONLINE,
    )  # fmt: skip
    [instance_id] = await ds_rest.start_workflow_instance(ds_target.project_code, code)
    deadline = time.monotonic() + ds_target.run_timeout
    while not (instance := await ds_rest.get_workflow_instance(ds_target.project_code, instance_id)).state.is_finished:
        assert time.monotonic() < deadline, f"instance {instance_id} still {instance.state}"
        await asyncio.sleep(0.1)
    assert instance.state.name == state
    tasks = (await ds_rest.get_instance_tasks(ds_target.project_code, instance_id)).task_list
    by_code: dict[int | None, int] = {code: task_id for task_id, code in codes.items()}
    assert {by_code[t.task_code] for t in tasks if t.state is not None and t.state.name != "KILL"} == ran
    route_state = next(t.state for t in tasks if t.task_code == codes[2])
    assert route_state is not None
    assert route_state.name == state


async def test_ds_accepts_a_spark_sql_task_with_an_empty_script(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    """``checkParameters`` tests ``rawScript != null``: DS saves an empty script (the platform refuses it on save)."""
    code = await _save_one(ds_gateway, ds_rest, ds_target, "SPARK", {"programType": "SQL", "rawScript": ""})
    assert code > 0


def _http(**params: Any) -> dict[str, Any]:
    return {"url": "https://x.invalid/", "httpMethod": "GET", "httpParams": [], "connectTimeout": 1000,
            "localParams": [], **params}  # fmt: skip


def _datax(**params: Any) -> dict[str, Any]:
    return {"customConfig": 0, "dsType": "MYSQL", "dataSource": 1, "dtType": "MYSQL", "dataTarget": 2,
            "sql": "select 1", "targetTable": "t", "xms": 1, "xmx": 1, "localParams": [], **params}  # fmt: skip


def _procedure(**params: Any) -> dict[str, Any]:
    return {"type": "POSTGRESQL", "datasource": 1, "method": "call p()", "localParams": [], **params}


def _conditions(**params: Any) -> dict[str, Any]:
    item = {"depTaskCode": 1_000_000_000_001, "status": "SUCCESS"}
    return {"dependence": {"relation": "AND", "dependTaskList": [{"relation": "AND", "dependItemList": [item]}]},
            "conditionResult": {"successNode": [1_000_000_000_004], "failedNode": [1_000_000_000_005]},
            "localParams": [], **params}  # fmt: skip


def _switch(**result: Any) -> dict[str, Any]:
    case = {"condition": "${rows} > 1000", "nextNode": 1_000_000_000_003}
    return {"switchResult": {"dependTaskList": [case], "nextNode": 1_000_000_000_005, **result}, "localParams": []}


@pytest.mark.parametrize(
    ("task_type", "params", "ds_code"),
    [
        # SwitchParameters.checkParameters: a switchResult with cases or a default, a nextNode in every case
        ("SWITCH", {"localParams": []}, 50020),
        ("SWITCH", _switch(dependTaskList=[], nextNode=None), 50020),
        ("SWITCH", _switch(dependTaskList=[{"condition": "true"}]), 50020),
        ("SWITCH", _switch(dependTaskList=[{"condition": "true", "nextNode": None}]), 50020),
        # saved by DS but never run as meant: refused by the emulator (never more lenient than DS)
        ("SWITCH", _switch(dependTaskList=[{"nextNode": 1_000_000_000_003}]), 50020),
        ("SWITCH", _switch(dependTaskList=[{"condition": "true", "nextNode": 0}]), 50020),
        # not readable into SwitchParameters (Long codes, a SwitchResultVo list)
        ("SWITCH", _switch(nextNode="default"), 10001),
        ("SWITCH", _switch(dependTaskList=[{"condition": "true", "nextNode": [1_000_000_000_003]}]), 10001),
        ("SWITCH", _switch(dependTaskList={"condition": "true", "nextNode": 1_000_000_000_003}), 10001),
        ("SWITCH", {"switchResult": "eu", "localParams": []}, 10001),
        # ConditionsParameters.checkParameters: a dependTaskList, a success and a failure branch
        ("CONDITIONS", _conditions(dependence={"relation": "AND", "dependTaskList": []}), 50020),
        ("CONDITIONS", {k: v for k, v in _conditions().items() if k != "dependence"}, 50020),
        ("CONDITIONS", _conditions(conditionResult={"successNode": [1_000_000_000_004], "failedNode": []}), 50020),
        ("CONDITIONS", _conditions(conditionResult={"successNode": [], "failedNode": [1_000_000_000_005]}), 50020),
        ("CONDITIONS", {k: v for k, v in _conditions().items() if k != "conditionResult"}, 50020),
        # not readable into ConditionsParameters (List<Long> branches, a DependentTaskModel list)
        ("CONDITIONS", _conditions(conditionResult={"successNode": ["four"], "failedNode": [5]}), 10001),
        ("CONDITIONS", _conditions(dependence={"relation": "AND", "dependTaskList": "1"}), 10001),
        # HttpParameters.checkParameters: a URL, a method, connectTimeout > 0
        ("HTTP", _http(url=""), 50020),
        ("HTTP", _http(httpMethod="HEAD"), 50020),  # an unknown enum name is read as null
        ("HTTP", _http(connectTimeout=0), 50020),
        ("HTTP", {k: v for k, v in _http().items() if k != "connectTimeout"}, 50020),
        # not readable into HttpParameters at all
        ("HTTP", _http(httpParams="a=b"), 10001),
        ("HTTP", _http(connectTimeout="soon"), 10001),
        ("HTTP", [], 10001),
        # ProcedureParameters.checkParameters: a datasource id, its type, the call
        ("PROCEDURE", _procedure(datasource=0), 50020),
        ("PROCEDURE", _procedure(type=""), 50020),
        ("PROCEDURE", _procedure(method=""), 50020),
        ("PROCEDURE", _procedure(datasource={"id": 1}), 10001),
        # DataxParameters.checkParameters: customConfig 0 needs both datasource ids, the query and the table
        ("DATAX", _datax(dataTarget=0), 50020),
        ("DATAX", _datax(sql=""), 50020),
        ("DATAX", _datax(targetTable=""), 50020),
        ("DATAX", {k: v for k, v in _datax().items() if k != "dataSource"}, 50020),
        # any other customConfig needs the job JSON
        ("DATAX", {"customConfig": 1, "json": "", "localParams": []}, 50020),
        ("DATAX", {"customConfig": 1, "localParams": []}, 50020),
        ("DATAX", _datax(preStatements="truncate t"), 10001),
        ("DATAX", _datax(customConfig="custom"), 10001),
        # SparkParameters.checkParameters: a known program type, a main jar or a script (even an empty one)
        ("SPARK", {"programType": "R", "mainJar": {"resourceName": "a.jar"}}, 50020),
        ("SPARK", {"programType": "SQL"}, 50020),
        ("SPARK", {"mainJar": {"resourceName": "a.jar"}}, 50020),
        ("SPARK", {"programType": "SQL", "mainJar": "a.jar"}, 10001),
        ("SPARK", {"programType": "SCALA", "mainJar": {"resourceName": "a.jar"}, "driverCores": "two"}, 10001),
        # FlinkParameters.checkParameters: the same rule
        ("FLINK", {"programType": "SQL"}, 50020),
        ("FLINK", {"rawScript": "select 1"}, 50020),
        ("FLINK", {"programType": "SQL", "rawScript": "select 1", "slot": "many"}, 10001),
        ("FLINK", {"programType": "SQL", "rawScript": ["select 1"]}, 10001),
        # SubWorkflowParameters.checkParameters: workflowDefinitionCode > 0 (not looked up on save)
        ("SUB_WORKFLOW", {}, 50020),
        ("SUB_WORKFLOW", {"workflowDefinitionCode": 0, "localParams": []}, 50020),
        ("SUB_WORKFLOW", {"workflowDefinitionCode": -7}, 50020),
        ("SUB_WORKFLOW", {"processDefinitionCode": 12345}, 50020),  # DS 3.2's (and pydolphinscheduler's) name
        ("SUB_WORKFLOW", {"workflowDefinitionCode": "child"}, 10001),
        ("SUB_WORKFLOW", {"workflowDefinitionCode": [12345]}, 10001),
        ("SUB_WORKFLOW", {"workflowDefinitionCode": 2**63}, 10001),
    ],
)
async def test_parameters_ds_refuses(
    ds_gateway: DolphinGatewayClient,
    ds_rest: DolphinRestClient,
    ds_target: DsTarget,
    task_type: str,
    params: Any,
    ds_code: int,
) -> None:
    with pytest.raises(DolphinApiError) as caught:
        await _save_one(ds_gateway, ds_rest, ds_target, task_type, params)
    assert caught.value.ds_code == ds_code
    if ds_code == 50020:
        assert "bad" in str(caught.value)


async def _save_one(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget, task_type: str, params: Any
) -> int:
    """Create a workflow of one task named "bad" over REST; its workflow code."""
    (code,) = await ds_gateway.gen_task_code_list(1)
    task = {
        "code": code, "version": 1, "name": "bad", "description": "", "taskType": task_type, "taskParams": params,
        "flag": "YES", "taskPriority": "MEDIUM", "workerGroup": "default", "environmentCode": -1,
        "failRetryTimes": 0, "failRetryInterval": 1, "timeoutFlag": "CLOSE", "timeoutNotifyStrategy": None,
        "timeout": 0, "delayTime": 0, "taskGroupId": 0, "taskGroupPriority": 0, "cpuQuota": -1, "memoryMax": -1,
        "taskExecuteType": "BATCH",
    }  # fmt: skip
    relation = {"name": "", "preTaskCode": 0, "preTaskVersion": 0, "postTaskCode": code, "postTaskVersion": 1,
                "conditionType": "NONE", "conditionParams": {}}  # fmt: skip
    created = await ds_rest.create_workflow_definition(
        ds_target.project_code,
        name=f"bad-{uuid.uuid4().hex[:8]}",
        task_definition_json=json.dumps([task]),
        task_relation_json=json.dumps([relation]),
    )
    return int(created.code)


async def _sub_workflow(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget, child_code: int
) -> int:
    return await _save_one(ds_gateway, ds_rest, ds_target, "SUB_WORKFLOW", {"workflowDefinitionCode": child_code})


async def _online_refused(ds_rest: DolphinRestClient, project: int, code: int) -> DolphinApiError:
    with pytest.raises(DolphinApiError) as caught:
        await ds_rest.release_workflow(project, code, ReleaseState.ONLINE)
    return caught.value


def _assert_not_online(refused: DolphinApiError, child_name: str) -> None:
    assert refused.ds_code == 10000
    assert f"SubWorkflowDefinition {child_name} is not online" in str(refused)


async def test_a_workflow_goes_online_only_when_its_sub_workflows_are_online(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    """DS 3.4.2's ``onlineWorkflowDefinition`` checks every sub-workflow, a child's children too: one not online is
    10000 naming it. Offline children do not stop a save, nor does taking a child offline under an online parent."""
    project = ds_target.project_code
    grandchild = await _save_one(ds_gateway, ds_rest, ds_target, "SHELL", {"rawScript": "echo 1", "localParams": []})
    child = await _sub_workflow(ds_gateway, ds_rest, ds_target, grandchild)
    parent = await _sub_workflow(ds_gateway, ds_rest, ds_target, child)
    names = {
        c: (await ds_rest.get_workflow_definition(project, c)).workflow_definition.name for c in (child, grandchild)
    }

    _assert_not_online(await _online_refused(ds_rest, project, parent), names[child])
    _assert_not_online(await _online_refused(ds_rest, project, child), names[grandchild])

    for code in (grandchild, child, parent):
        await ds_rest.release_workflow(project, code, ReleaseState.ONLINE)
    await ds_rest.release_workflow(project, grandchild, ReleaseState.OFFLINE)  # DS does not check the parents
    await ds_rest.release_workflow(project, parent, ReleaseState.OFFLINE)
    _assert_not_online(await _online_refused(ds_rest, project, parent), names[grandchild])  # checked too
    states = {c: (await ds_rest.get_workflow_definition(project, c)).workflow_definition.release_state
              for c in (grandchild, child, parent)}  # fmt: skip
    assert states == {grandchild: "OFFLINE", child: "ONLINE", parent: "OFFLINE"}


async def test_a_sub_workflow_of_a_missing_workflow_is_saved_but_not_taken_online(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    """Saving does not look the code up; going online answers 50003 with the PARENT's code (DS passes that one, not
    the missing child's)."""
    parent = await _sub_workflow(ds_gateway, ds_rest, ds_target, 1)
    refused = await _online_refused(ds_rest, ds_target.project_code, parent)
    assert refused.ds_code == 50003
    assert f"workflow definition {parent:,} does not exist" in str(refused)  # a Long in MessageFormat: grouped


async def test_the_converters_sub_workflow_task_is_saved_as_sent_and_runs_its_child_once_online(
    ds_gateway: DolphinGatewayClient, ds_rest: DolphinRestClient, ds_target: DsTarget
) -> None:
    """The converter's SUB_WORKFLOW task (the child's DS code for platform workflow 42) is saved and read back as
    sent; the parent goes online once its child is."""
    project = ds_target.project_code
    child = await _save_one(ds_gateway, ds_rest, ds_target, "SHELL", {"rawScript": "echo child", "localParams": []})
    task = SnapshotTask(task_id=1, name="run child", task_type="SUB_WORKFLOW", params=SubWorkflowParams(workflow_id=42))
    snap = StructureSnapshot(workflow_id=7, workflow_name=f"parent-{uuid.uuid4().hex[:8]}", tasks=(task,), edges=())
    (code,) = await ds_gateway.gen_task_code_list(1)
    defn = convert(snap, {1: code}, sub_workflow_codes={42: child})
    parent = await _save(ds_gateway, ds_target, defn.name, defn.task_definition_json, defn.task_relation_json)

    (stored,) = (await ds_rest.get_workflow_definition(project, parent)).task_definition_list
    (sent,) = json.loads(defn.task_definition_json)
    assert (stored.task_type, stored.task_params) == ("SUB_WORKFLOW", sent["taskParams"])
    assert stored.task_params["workflowDefinitionCode"] == child
    await ds_rest.release_workflow(project, child, ReleaseState.ONLINE)
    await ds_rest.release_workflow(project, parent, ReleaseState.ONLINE)
    assert (await ds_rest.get_workflow_definition(project, parent)).workflow_definition.release_state == "ONLINE"
