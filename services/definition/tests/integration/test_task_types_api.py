"""The issue-21 task types (HTTP, PROCEDURE, DATAX, SPARK, FLINK) through the definition API on real PostgreSQL: saved
and read back, listed by type, and bad parameters refused with a 422 naming the field (the task-type CHECK constraint
admits them)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import as_user, new_tasks, new_workflow, problem_type, uid, workflow_body


def http_task(**params: Any) -> dict[str, Any]:
    return {
        "name": f"call-{uid()}",
        "task_type": "HTTP",
        "params": {"url": "https://api.example.invalid/refresh", **params},
        "worker_group": "default",
    }


def procedure_task(**params: Any) -> dict[str, Any]:
    return {
        "name": f"proc-{uid()}",
        "task_type": "PROCEDURE",
        "params": {"datasource_name": "warehouse", "method": "call refresh()", **params},
        "worker_group": "default",
    }


def datax_task(**params: Any) -> dict[str, Any]:
    return {"name": f"sync-{uid()}", "task_type": "DATAX", "params": params, "worker_group": "default"}


async def test_http_and_procedure_tasks_are_saved_and_listed_by_type(client: httpx.AsyncClient) -> None:
    body = http_task(
        method="POST",
        http_params=[{"name": "X-Req", "value": "1", "location": "HEADERS"}],
        body='{"a": 1}',
        check_condition="STATUS_CODE_CUSTOM",
        condition="202",
    )
    r = await client.post("/internal/tasks", json=body)
    assert r.status_code == 201, r.text
    http = r.json()
    assert http["params"] == {
        "kind": "HTTP",
        "url": "https://api.example.invalid/refresh",
        "method": "POST",
        "http_params": [{"name": "X-Req", "value": "1", "location": "HEADERS"}],
        "body": '{"a": 1}',
        "check_condition": "STATUS_CODE_CUSTOM",
        "condition": "202",
        "connect_timeout_ms": 60000,
        "local_params": [],
    }
    r = await client.post("/internal/tasks", json=procedure_task(datasource_type="MYSQL"))
    assert r.status_code == 201, r.text
    proc = r.json()
    assert (proc["task_type"], proc["params"]["method"], proc["params"]["datasource_type"]) == (
        "PROCEDURE",
        "call refresh()",
        "MYSQL",
    )
    assert (await client.get(f"/internal/tasks/{http['id']}")).json()["params"] == http["params"]
    ids = f"{http['id']},{proc['id']}"
    for task_type, expected in (("HTTP", http["id"]), ("PROCEDURE", proc["id"])):
        r = await client.get("/internal/tasks", params={"ids": ids, "task_type": task_type})
        assert r.status_code == 200, r.text
        assert [t["id"] for t in r.json()["items"]] == [expected]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (http_task(url=""), "url"),
        (http_task(url="file:///etc/passwd"), "url"),
        (http_task(method="HEAD"), "method"),
        (http_task(connect_timeout_ms=0), "connect_timeout_ms"),
        (http_task(http_params=[{"name": "a", "location": "COOKIE"}]), "http_params"),
        (http_task(check_condition="STATUS_CODE_CUSTOM", condition="fine"), "condition"),
        (http_task(check_condition="BODY_CONTAINS"), "condition"),
        (procedure_task(method=""), "method"),
        (procedure_task(datasource_name=""), "datasource_name"),
        ({**procedure_task(), "params": {"method": "call p()"}}, "datasource_name"),
        (datax_task(source_datasource_name="a", sql="select 1", target_datasource_name="b"), "target_table"),
        (datax_task(custom_json="{}", xms=0), "xms"),
        (datax_task(custom_json="{}", xms=4, xmx=2), "xmx"),
        ({"name": "s", "task_type": "SPARK", "params": {"program_type": "SQL"}}, "raw_script"),
        ({"name": "f", "task_type": "FLINK", "params": {"main_jar": "a.jar"}}, "main_class"),
        ({"name": "f", "task_type": "FLINK", "params": {"program_type": "SQL", "raw_script": "x", "slot": 0}}, "slot"),
        ({"name": "s", "task_type": "SPARK", "params": {"main_jar": "a.jar"}}, "main_class"),
        ({"name": "w", "task_type": "SUB_WORKFLOW", "params": {}}, "workflow_id"),
        ({"name": "w", "task_type": "SUB_WORKFLOW", "params": {"workflow_id": 0}}, "workflow_id"),
        (
            {
                "name": "s",
                "task_type": "SPARK",
                "params": {"program_type": "PYTHON", "main_jar": "a.py", "executor_memory": "much"},
            },
            "executor_memory",
        ),
    ],
)
async def test_bad_parameters_are_a_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    r = await client.post("/internal/tasks", json=body)
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert any(e["location"].startswith("body.params") and field in e["location"] + e["message"] for e in errors), (
        errors
    )


async def test_datax_tasks_in_both_forms(client: httpx.AsyncClient) -> None:
    built = datax_task(source_datasource_name="orders", sql="select 1", target_datasource_name="dw",
                       target_datasource_type="POSTGRESQL", target_table="ods.orders")  # fmt: skip
    r = await client.post("/internal/tasks", json=built)
    assert r.status_code == 201, r.text
    params = r.json()["params"]
    assert (params["kind"], params["source_datasource_type"], params["target_table"], params["custom_json"]) == (
        "DATAX",
        "MYSQL",
        "ods.orders",
        "",
    )
    r = await client.post("/internal/tasks", json=datax_task(custom_json='{"job": {}}', xmx=2))
    assert r.status_code == 201, r.text
    assert (r.json()["params"]["custom_json"], r.json()["params"]["xmx"]) == ('{"job": {}}', 2)


async def test_spark_tasks_are_saved(client: httpx.AsyncClient) -> None:
    params = {"program_type": "SQL", "raw_script": "insert into t select 1", "deploy_mode": "client"}
    body = {"name": f"spark-{uid()}", "task_type": "SPARK", "params": params}
    r = await client.post("/internal/tasks", json=body)
    assert r.status_code == 201, r.text
    p = r.json()["params"]
    assert (p["kind"], p["program_type"], p["deploy_mode"], p["executor_memory"]) == ("SPARK", "SQL", "client", "2G")


async def test_flink_tasks_are_saved(client: httpx.AsyncClient) -> None:
    params = {"program_type": "PYTHON", "main_jar": "jobs/s.py", "deploy_mode": "application"}
    r = await client.post("/internal/tasks", json={"name": f"flink-{uid()}", "task_type": "FLINK", "params": params})
    assert r.status_code == 201, r.text
    p = r.json()["params"]
    assert (p["kind"], p["main_jar"], p["deploy_mode"], p["flink_version"]) == (
        "FLINK",
        "jobs/s.py",
        "application",
        "<1.10",
    )


def conditions_task(checks: list[int], success: list[int], failed: list[int]) -> dict[str, Any]:
    params = {
        "groups": [{"checks": [{"task_id": t, "status": "SUCCESS"} for t in checks]}],
        "success_task_ids": success,
        "failed_task_ids": failed,
    }
    return {"name": f"branch-{uid()}", "task_type": "CONDITIONS", "params": params, "worker_group": "default"}


async def test_a_conditions_task_branches_only_to_its_downstream_tasks(client: httpx.AsyncClient) -> None:
    """A CONDITIONS task is saved with the task ids it checks and branches to; a workflow holding it is refused (422
    naming the field) unless each checked task is directly upstream and each branch target directly downstream of
    it, and so is an edit of the task inside its workflow."""
    up, ok, ko, other = await new_tasks(client, 4)
    r = await client.post("/internal/tasks", json=conditions_task([up], [ok], [ko]))
    assert r.status_code == 201, r.text
    cond = r.json()
    assert cond["params"]["success_task_ids"] == [ok]
    assert cond["params"]["groups"] == [{"relation": "AND", "checks": [{"task_id": up, "status": "SUCCESS"}]}]
    c = cond["id"]

    # the failure branch is not an edge of the workflow (ko hangs below ok), and other is checked without an edge
    r = await client.post("/internal/workflows", json=workflow_body([up, c, ok, ko], [(up, c), (c, ok), (ok, ko)]))
    assert r.status_code == 422
    assert problem_type(r) == "invalid-workflow-structure"
    (problem,) = [e for e in r.json()["errors"] if e["code"] == "branch_target_not_downstream"]
    assert (problem["field"], problem["task_id"], problem["task_ids"]) == ("params.failed_task_ids", c, [ko])

    wf = await new_workflow(client, [up, c, ok, ko], [(up, c), (c, ok), (c, ko)])
    assert wf["id"] > 0

    # an edit of the task in its workflow that checks a task outside it is refused, the task unchanged
    bad = {**conditions_task([other], [ok], [ko]), "name": cond["name"], "expected_revision": cond["revision"]}
    r = await client.put(f"/internal/tasks/{c}", json=bad)
    assert r.status_code == 422
    (problem,) = r.json()["errors"]
    assert (problem["code"], problem["field"], problem["task_ids"]) == (
        "condition_task_not_upstream",
        "params.groups",
        [other],
    )
    assert (await client.get(f"/internal/tasks/{c}")).json()["params"]["groups"][0]["checks"][0]["task_id"] == up


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"groups": [], "success_task_ids": [1], "failed_task_ids": [2]}, "groups"),
        (
            {"groups": [{"checks": [{"task_id": 1}]}], "success_task_ids": [], "failed_task_ids": [2]},
            "success_task_ids",
        ),
        ({"groups": [{"checks": [{"task_id": 1}]}], "success_task_ids": [2], "failed_task_ids": [2]}, "params"),
        (
            {
                "groups": [{"checks": [{"task_id": 1, "status": "KILL"}]}],
                "success_task_ids": [2],
                "failed_task_ids": [3],
            },
            "status",
        ),
    ],
)
async def test_bad_conditions_params_are_422(client: httpx.AsyncClient, params: dict[str, Any], field: str) -> None:
    r = await client.post("/internal/tasks", json={"name": f"c-{uid()}", "task_type": "CONDITIONS", "params": params})
    assert r.status_code == 422, r.text
    assert field in r.text


async def test_a_sub_workflow_task_is_saved_and_no_workflow_is_its_own_child(client: httpx.AsyncClient) -> None:
    child = await new_workflow(client, await new_tasks(client, 1))
    body = {"name": f"sub-{uid()}", "task_type": "SUB_WORKFLOW", "params": {"workflow_id": child["id"]}}
    r = await client.post("/internal/tasks", json=body)
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["params"] == {"kind": "SUB_WORKFLOW", "workflow_id": child["id"], "local_params": []}
    r = await client.get("/internal/tasks", params={"task_type": "SUB_WORKFLOW", "name": body["name"]})
    assert [t["id"] for t in r.json()["items"]] == [task["id"]]

    # in a workflow of its own: fine; pointed at that workflow by an edit: 422, and the task is unchanged
    parent = await new_workflow(client, [task["id"]])
    update = {**body, "params": {"workflow_id": parent["id"]}, "expected_revision": task["revision"]}
    r = await client.put(f"/internal/tasks/{task['id']}", json=update)
    assert (r.status_code, problem_type(r)) == (422, "validation-failed"), r.text
    assert f"task {task['id']} ({body['name']}) runs workflow {parent['id']}" in r.json()["detail"]
    assert r.json()["errors"][0]["location"] == "params.workflow_id"
    r = await client.get(f"/internal/tasks/{task['id']}")
    assert r.json()["params"]["workflow_id"] == child["id"]

    # a task running workflow W put into W by a workflow edit: 422 too
    body = {"name": f"sub-{uid()}", "task_type": "SUB_WORKFLOW", "params": {"workflow_id": child["id"]}}
    r = await client.post("/internal/tasks", json=body)
    own = r.json()["id"]
    update = {**workflow_body([*child_task_ids(child), own]), "name": child["name"], "expected_version_no": 1}
    r = await client.put(f"/internal/workflows/{child['id']}", json=update, headers=as_user("ann"))
    assert r.status_code == 422, r.text
    assert f"runs workflow {child['id']}, the workflow it is in" in r.json()["detail"]


async def test_workflows_cannot_run_each_other(client: httpx.AsyncClient) -> None:
    """A runs B, B runs C, C runs D: C's task pointed at A instead is a 422 naming the cycle C → A → B → C, at B
    too (C → B → C)."""
    a, b, c, d = [await new_workflow(client, await new_tasks(client, 1)) for _ in range(4)]
    for parent, child in ((a, b), (b, c), (c, d)):
        body = {"name": f"sub-{uid()}", "task_type": "SUB_WORKFLOW", "params": {"workflow_id": child["id"]}}
        task = (await client.post("/internal/tasks", json=body)).json()
        update = {**workflow_body([*child_task_ids(parent), task["id"]]), "expected_version_no": 1}
        update["name"] = parent["name"]
        r = await client.put(f"/internal/workflows/{parent['id']}", json=update, headers=as_user("ann"))
        assert r.status_code == 200, r.text
    edit = {**body, "params": {"workflow_id": a["id"]}, "expected_revision": task["revision"]}
    r = await client.put(f"/internal/tasks/{task['id']}", json=edit)
    assert r.status_code == 422, r.text
    assert f"{c['id']} → {a['id']} → {b['id']} → {c['id']}" in r.json()["detail"]
    assert r.json()["workflow_ids"] == [c["id"], a["id"], b["id"], c["id"]]
    edit = {**body, "params": {"workflow_id": b["id"]}, "expected_revision": task["revision"]}
    r = await client.put(f"/internal/tasks/{task['id']}", json=edit)
    assert r.status_code == 422, r.text  # C runs B, B runs C
    assert f"{c['id']} → {b['id']} → {c['id']}" in r.json()["detail"]


def child_task_ids(workflow: dict[str, Any]) -> list[int]:
    return [t["task_id"] for t in workflow["tasks"]]


def switch_task(cases: list[tuple[str, int]], default: int | None) -> dict[str, Any]:
    params = {"cases": [{"condition": c, "task_id": t} for c, t in cases], "default_task_id": default}
    return {"name": f"route-{uid()}", "task_type": "SWITCH", "params": params, "worker_group": "default"}


async def test_a_switch_task_branches_only_to_its_downstream_tasks(client: httpx.AsyncClient) -> None:
    """A SWITCH task is saved with its cases' conditions and the task ids they and the default branch to; a workflow
    holding it is refused (422 naming the field) unless each branch target is directly downstream of it, and so is
    an edit of the task inside its workflow."""
    up, eu, us, other = await new_tasks(client, 4)
    r = await client.post("/internal/tasks", json=switch_task([("${region} == 'eu'", eu)], us))
    assert r.status_code == 201, r.text
    route = r.json()
    assert route["params"] == {
        "kind": "SWITCH",
        "cases": [{"condition": "${region} == 'eu'", "task_id": eu}],
        "default_task_id": us,
        "local_params": [],
    }
    r = await client.get("/internal/tasks", params={"task_type": "SWITCH", "name": route["name"]})
    assert [t["id"] for t in r.json()["items"]] == [route["id"]]
    s = route["id"]

    # the default branch is not an edge of the workflow (us hangs below eu)
    r = await client.post("/internal/workflows", json=workflow_body([up, s, eu, us], [(up, s), (s, eu), (eu, us)]))
    assert r.status_code == 422
    assert problem_type(r) == "invalid-workflow-structure"
    (problem,) = [e for e in r.json()["errors"] if e["code"] == "branch_target_not_downstream"]
    assert (problem["field"], problem["task_id"], problem["task_ids"]) == ("params.default_task_id", s, [us])

    wf = await new_workflow(client, [up, s, eu, us], [(up, s), (s, eu), (s, us)])
    assert wf["id"] > 0

    # an edit of the task in its workflow that branches to a task outside it is refused, the task unchanged
    bad = {**switch_task([("${region} == 'eu'", eu), ("true", other)], us), "name": route["name"],
           "expected_revision": route["revision"]}  # fmt: skip
    r = await client.put(f"/internal/tasks/{s}", json=bad)
    assert r.status_code == 422
    (problem,) = r.json()["errors"]
    assert (problem["code"], problem["field"], problem["task_ids"]) == (
        "branch_target_not_downstream",
        "params.cases",
        [other],
    )
    assert len((await client.get(f"/internal/tasks/{s}")).json()["params"]["cases"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cases": [], "default_task_id": 2}, "cases"),
        ({"cases": [{"condition": " ", "task_id": 1}]}, "condition must not be blank"),
        ({"cases": [{"task_id": 1}]}, "condition"),
        ({"cases": [{"condition": "true", "task_id": 1}], "default_task_id": [2, 3]}, "default_task_id"),
        ({"cases": [{"condition": "true", "task_id": 1}], "default_task_id": 1}, "more than one branch"),
    ],
)
async def test_bad_switch_params_are_422(client: httpx.AsyncClient, params: dict[str, Any], field: str) -> None:
    r = await client.post("/internal/tasks", json={"name": f"s-{uid()}", "task_type": "SWITCH", "params": params})
    assert r.status_code == 422, r.text
    assert field in r.text
