"""HTTP and PROCEDURE tasks (issue 21): ``convert`` field by field, and equivalence with pydolphinscheduler 4.1.0's
``Http`` and ``Procedure`` tasks (the SDK built without a gateway, as in ``test_pyds_equivalence``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from common.workflow import (
    HttpParam,
    HttpParams,
    NodeAttrs,
    Param,
    ParamType,
    ProcedureParams,
    SnapshotTask,
)
from publisher.domain import MissingDatasources, convert

from .test_pyds_equivalence import PROJECT, USER, normalise_task

CODE = 1_000_000_000_000
LOCAL = (Param(name="dt", value="${system.biz.date}"), Param(name="n", direction="OUT", type=ParamType.INTEGER))
LOCAL_JSON = [
    {"prop": "dt", "direct": "IN", "type": "VARCHAR", "value": "${system.biz.date}"},
    {"prop": "n", "direct": "OUT", "type": "INTEGER", "value": ""},
]
ATTRS = NodeAttrs(worker_group="etl", retries=2, timeout_minutes=5, priority="HIGH", environment_code=4)


def http_task(task_id: int = 1, **params: Any) -> SnapshotTask:
    p = HttpParams(url="https://api.example.invalid/v1/refresh?x=${dt}", **params)
    return SnapshotTask(task_id=task_id, name=f"call-{task_id}", task_type="HTTP", params=p, node_attrs=ATTRS)


def procedure_task(task_id: int = 2, **params: Any) -> SnapshotTask:
    p = ProcedureParams(datasource_name="orders", datasource_type="mysql", method="call refresh(${dt})", **params)
    return SnapshotTask(task_id=task_id, name=f"proc-{task_id}", task_type="PROCEDURE", params=p, node_attrs=ATTRS)


def test_http_task_maps_every_field(snapshot: Any) -> None:
    t = http_task(
        method="POST",
        http_params=(
            HttpParam(name="X-Token", value="${token}", location="HEADERS"),
            HttpParam(name="day", value="${dt}"),
        ),
        body='{"full": true}',
        check_condition="BODY_CONTAINS",
        condition='"ok"',
        connect_timeout_ms=3000,
        local_params=LOCAL,
    )
    (d,) = json.loads(convert(snapshot([t]), {1: CODE}).task_definition_json)
    assert d["taskType"] == "HTTP"
    assert d["taskParams"] == {
        "url": "https://api.example.invalid/v1/refresh?x=${dt}",
        "httpMethod": "POST",
        "httpParams": [
            {"prop": "X-Token", "httpParametersType": "HEADERS", "value": "${token}"},
            {"prop": "day", "httpParametersType": "PARAMETER", "value": "${dt}"},
        ],
        "httpBody": '{"full": true}',
        "httpCheckCondition": "BODY_CONTAINS",
        "condition": '"ok"',
        "connectTimeout": 3000,
        "localParams": LOCAL_JSON,
        "resourceList": [],
    }
    # the node attributes reach DS as for every task type
    assert (d["workerGroup"], d["failRetryTimes"], d["timeout"], d["taskPriority"], d["environmentCode"]) == (
        "etl",
        2,
        5,
        "HIGH",
        4,
    )


def test_http_defaults_are_ds_defaults(snapshot: Any) -> None:
    (d,) = json.loads(convert(snapshot([http_task()]), {1: CODE}).task_definition_json)
    p = d["taskParams"]
    assert (p["httpMethod"], p["httpParams"], p["httpBody"], p["httpCheckCondition"], p["condition"]) == (
        "GET",
        [],
        "",
        "STATUS_CODE_DEFAULT",
        "",
    )
    assert p["connectTimeout"] == 60_000  # the SDK's and the DS UI's default


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"url": ""}, "url"),
        ({"url": "ftp://x"}, "url"),
        ({"url": "https://x", "method": "HEAD"}, "method"),
        ({"url": "https://x", "connect_timeout_ms": 0}, "connect_timeout_ms"),
        ({"url": "https://x", "check_condition": "STATUS_CODE_CUSTOM", "condition": "ok"}, "condition"),
        ({"url": "https://x", "check_condition": "STATUS_CODE_CUSTOM", "condition": "700"}, "condition"),
        ({"url": "https://x", "check_condition": "BODY_CONTAINS"}, "condition"),
        ({"url": "https://x", "http_params": [{"name": "", "value": "v"}]}, "http_params"),
        ({"url": "https://x", "http_params": [{"name": "a", "location": "BODY"}]}, "http_params"),
    ],
)
def test_bad_http_params_are_refused_naming_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        HttpParams.model_validate(params)
    assert any(field in ".".join(map(str, e["loc"])) or field in e["msg"] for e in caught.value.errors())


def test_an_url_may_start_with_a_parameter() -> None:
    assert HttpParams(url="${base_url}/refresh").url == "${base_url}/refresh"


def test_procedure_task_maps_every_field(snapshot: Any) -> None:
    t = procedure_task(local_params=LOCAL)
    (d,) = json.loads(convert(snapshot([t]), {2: CODE}, datasource_ids={("orders", "MYSQL"): 12}).task_definition_json)
    assert d["taskType"] == "PROCEDURE"
    assert d["taskParams"] == {
        "type": "MYSQL",
        "datasource": 12,
        "method": "call refresh(${dt})",
        "localParams": LOCAL_JSON,
        "resourceList": [],
    }


def test_a_procedure_needs_its_datasource_like_sql(snapshot: Any) -> None:
    with pytest.raises(MissingDatasources) as caught:
        convert(snapshot([procedure_task()]), {2: CODE}, datasource_ids={("orders", "POSTGRESQL"): 1})
    assert caught.value.extras["missing"] == [{"name": "orders", "type": "MYSQL", "task_ids": [2]}]


@pytest.mark.parametrize("params", [{"method": ""}, {"datasource_name": ""}, {"datasource_type": ""}])
def test_bad_procedure_params_are_refused(params: dict[str, Any]) -> None:
    base = {"datasource_name": "orders", "method": "call p()"}
    with pytest.raises(ValidationError) as caught:
        ProcedureParams.model_validate({**base, **params})
    assert {e["loc"][0] for e in caught.value.errors()} == set(params)


def test_a_new_type_changes_the_hash_and_old_snapshots_keep_theirs(snapshot: Any, task: Any) -> None:
    shell = convert(snapshot([task(1)]), {1: CODE})
    http = convert(snapshot([http_task()]), {1: CODE})
    assert shell.content_hash != http.content_hash
    a = convert(snapshot([http_task(condition="")]), {1: CODE})
    b = convert(snapshot([http_task(body="x")]), {1: CODE})
    assert a.content_hash != b.content_hash


# --- equivalence with pydolphinscheduler 4.1.0 ------------------------------------------------------------------

#: what the SDK's ``Http`` sends and DS 3.4's ``HttpParameters`` has no property for (DS's ``JSONUtils`` ignores it)
SDK_ONLY_HTTP_PARAMS = {
    "socketTimeout": "dropped from HttpParameters by apache/dolphinscheduler#16413 (DS 3.3): connectTimeout is "
    "used as connect, socket and request timeout"
}
#: what we send that the SDK's ``Http`` does not, with why
HTTP_PARAMS_THE_SDK_LACKS = {
    "httpBody": "HttpParameters.httpBody (the request body of POST/PUT); the SDK has no argument for it and sends "
    "none, which DS reads as null: our empty text means the same (no body)"
}
#: the SDK's ``Dependent``-style task params every SDK task sends and HTTP/PROCEDURE ignore
SDK_ONLY_PARAMS = {"dependence", "conditionResult", "waitStartTimeout"}


def sdk_common(t: SnapshotTask) -> dict[str, Any]:
    a = t.node_attrs
    return {
        "description": t.description,
        "task_priority": a.priority.value,
        "worker_group": a.worker_group,
        "environment_name": None if a.environment_code == -1 else f"env-{a.environment_code}",
        "fail_retry_times": a.retries,
        "fail_retry_interval": a.retry_interval_minutes,
        "timeout": a.timeout_minutes,
        "input_params": {q.name: q.value for q in t.params.local_params if q.direction == "IN"},
    }


def sdk_tasks(pyds: Any, fake_gateway: Any, tasks: list[SnapshotTask], codes: dict[int, int]) -> list[dict[str, Any]]:
    fake_gateway({t.name: codes[t.task_id] for t in tasks}, {"env-4": 4}, {("orders", "MYSQL"): 12})
    wf = pyds.workflow.Workflow(name="calls", user=USER, project=PROJECT, worker_group="default")
    with wf:
        for t in tasks:
            p = t.params
            if isinstance(p, HttpParams):
                pyds.http.Http(
                    name=t.name,
                    url=p.url,
                    http_method=p.method,
                    http_params={h.name: h.value for h in p.http_params} or None,
                    http_check_condition=p.check_condition,
                    condition=p.condition or None,
                    connect_timeout=p.connect_timeout_ms,
                    **sdk_common(t),
                )
            else:
                assert isinstance(p, ProcedureParams)
                pyds.procedure.Procedure(
                    name=t.name,
                    datasource_name=p.datasource_name,
                    datasource_type=p.datasource_type,
                    method=p.method,
                    **sdk_common(t),
                )
    out: list[dict[str, Any]] = json.loads(json.dumps(wf.get_define()["taskDefinitionJson"]))
    return out


EQUIVALENCE_TASKS = [
    http_task(1, method="PUT", check_condition="STATUS_CODE_CUSTOM", condition="204", connect_timeout_ms=5000),
    http_task(3, check_condition="BODY_NOT_CONTAINS", condition="error"),
    http_task(4),
    procedure_task(2),
]


def test_http_and_procedure_tasks_mean_what_the_sdk_sends(pyds: Any, fake_gateway: Any, snapshot: Any) -> None:
    codes = {t.task_id: CODE + t.task_id for t in EQUIVALENCE_TASKS}
    ours = convert(snapshot(EQUIVALENCE_TASKS), codes, datasource_ids={("orders", "MYSQL"): 12})
    mine = {t["code"]: t for t in json.loads(ours.task_definition_json)}
    theirs = {t["code"]: t for t in sdk_tasks(pyds, fake_gateway, EQUIVALENCE_TASKS, codes)}
    assert set(mine) == set(theirs) == set(codes.values())
    for code, sdk in theirs.items():
        sdk_params = {k: v for k, v in sdk["taskParams"].items() if k not in SDK_ONLY_PARAMS}
        my_params = dict(mine[code]["taskParams"])
        if sdk["taskType"] == "HTTP":
            assert set(sdk_params) - set(my_params) == set(SDK_ONLY_HTTP_PARAMS)
            assert set(my_params) - set(sdk_params) == set(HTTP_PARAMS_THE_SDK_LACKS)
            for k in SDK_ONLY_HTTP_PARAMS:
                del sdk_params[k]
            assert my_params.pop("httpBody") == ""
            if sdk_params["condition"] is None:  # the SDK's "no condition" (only with STATUS_CODE_DEFAULT)
                sdk_params["condition"] = ""
        sdk = {**sdk, "taskParams": sdk_params}
        # WorkerResourceMixin: the SDK's BatchTask has no cpuQuota/memoryMax; we send DS's "no limit"
        for k in ("cpuQuota", "memoryMax"):
            assert mine[code].pop(k) == -1
            sdk.pop(k, None)
        assert normalise_task({**mine[code], "taskParams": my_params}, sdk=False) == normalise_task(sdk, sdk=True)
    assert {t["taskType"] for t in mine.values()} == {"HTTP", "PROCEDURE"}


def test_http_params_mean_what_the_sdk_sends_with_their_location(pyds: Any, fake_gateway: Any, snapshot: Any) -> None:
    """The SDK sends http params as DS ``Property`` (``prop``, ``direct``, ``type``, ``value``) without
    ``httpParametersType``: DS 3.4's ``HttpTask`` filters them by that type (a null type is never sent as a query
    parameter, and would fail the header filter), so we send ``httpParametersType``; name and value are the SDK's."""
    t = http_task(1, http_params=(HttpParam(name="day", value="${dt}"), HttpParam(name="limit", value="10")))
    (sdk,) = sdk_tasks(pyds, fake_gateway, [t], {1: CODE})
    (mine,) = json.loads(convert(snapshot([t]), {1: CODE}).task_definition_json)
    assert [(h["prop"], h["value"]) for h in mine["taskParams"]["httpParams"]] == [
        (h["prop"], h["value"]) for h in sdk["taskParams"]["httpParams"]
    ]
    assert {h.get("httpParametersType") for h in sdk["taskParams"]["httpParams"]} == {None}
    assert {h["httpParametersType"] for h in mine["taskParams"]["httpParams"]} == {"PARAMETER"}
