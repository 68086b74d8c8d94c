"""Issue 21: a workflow mixing SHELL with the new task types (HTTP, PROCEDURE, DATAX, SPARK, FLINK) goes through the
gateway (register, bad params refused, workflow, approve, publish online, run) to the DS emulator, which holds each
task with the parameters DS takes; a SUB_WORKFLOW parent goes online once its child is."""

from __future__ import annotations

from typing import Any

import pytest

from common.dolphin import ReleaseState

from .conftest import Platform, uid
from .test_main_flow import new_task, new_workflow, publish, run_and_wait

pytestmark = pytest.mark.slow


def unknown_datasources(task: dict[str, Any]) -> list[tuple[str, str]]:
    """The datasources a save said DS lacks (``datasource_unchecked``, the publisher too slow to answer on a loaded
    machine, says nothing either way)."""
    return [(w["datasource_name"], w["datasource_type"]) for w in task.get("warnings") or []
            if w["code"] == "unknown_datasource"]  # fmt: skip


async def test_a_workflow_mixing_the_new_task_types_is_published_and_runs(platform: Platform) -> None:
    p, s = platform, uid()
    datasource = p.emulator.add_datasource(f"dw-{s}", "MYSQL")
    target = p.emulator.add_datasource(f"ods-{s}", "POSTGRESQL")
    http_body: dict[str, Any] = {
        "name": f"refresh-{s}",
        "task_type": "HTTP",
        "params": {
            "url": "https://api.example.invalid/refresh?day=${system.biz.date}",
            "method": "POST",
            "http_params": [{"name": "X-Req", "value": s, "location": "HEADERS"}],
            "body": '{"full": true}',
            "check_condition": "STATUS_CODE_CUSTOM",
            "condition": "202",
            "connect_timeout_ms": 5000,
        },
    }
    # bad params: a 422 problem naming the field, nothing written
    bad = await p.api.post("/api/v1/tasks", json={**http_body, "params": {**http_body["params"], "method": "HEAD"}})
    assert bad.status_code == 422, bad.text
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert any("method" in e["location"] for e in bad.json()["errors"]), bad.json()
    listed = await p.call("GET", "/api/v1/tasks", params={"name": f"refresh-{s}"})
    assert listed["total"] == 0

    http = await p.call("POST", "/api/v1/tasks", 201, json=http_body)
    proc_body = {
        "name": f"proc-{s}",
        "task_type": "PROCEDURE",
        "params": {"datasource_name": f"dw-{s}", "datasource_type": "MYSQL", "method": "call refresh_orders()"},
    }
    proc = await p.call("POST", "/api/v1/tasks", 201, json=proc_body)
    assert unknown_datasources(proc) == []  # the datasource exists in DS
    datax_params = {
        "source_datasource_name": f"dw-{s}",
        "sql": "select * from orders",
        "target_datasource_name": f"ods-{s}",
        "target_datasource_type": "POSTGRESQL",
        "target_table": "ods.orders",
    }
    # a DATAX task names two datasources: a save says which one DS lacks
    unknown = {**datax_params, "target_datasource_name": f"nope-{s}"}
    warned = await p.call(
        "POST", "/api/v1/tasks", 201, json={"name": f"x-{s}", "task_type": "DATAX", "params": unknown}
    )
    assert {w["datasource_name"] for w in warned["warnings"]} <= {f"dw-{s}", f"nope-{s}"}, warned
    assert unknown_datasources(warned) in ([(f"nope-{s}", "POSTGRESQL")], []), warned
    if not unknown_datasources(warned):
        assert any(w["datasource_name"] == f"nope-{s}" for w in warned["warnings"]), warned
    datax = await p.call("POST", "/api/v1/tasks", 201, json={"name": f"sync-{s}", "task_type": "DATAX",
                                                             "params": datax_params})  # fmt: skip
    assert unknown_datasources(datax) == []
    spark_params = {"program_type": "SQL", "raw_script": "insert into ods.daily select * from ods.orders"}
    spark = await p.call("POST", "/api/v1/tasks", 201, json={"name": f"agg-{s}", "task_type": "SPARK",
                                                             "params": spark_params})  # fmt: skip
    flink_params = {"program_type": "PYTHON", "main_jar": "jobs/stream.py", "deploy_mode": "application"}
    flink = await p.call("POST", "/api/v1/tasks", 201, json={"name": f"stream-{s}", "task_type": "FLINK",
                                                             "params": flink_params})  # fmt: skip
    shell = await new_task(p, f"prep-{s}")
    ids = {"SHELL": shell, "HTTP": int(http["id"]), "PROCEDURE": int(proc["id"]), "DATAX": int(datax["id"]),
           "SPARK": int(spark["id"]), "FLINK": int(flink["id"])}  # fmt: skip
    page = await p.call("GET", "/api/v1/tasks", params={"name": s})
    assert {t["task_type"]: t["id"] for t in page["items"] if t["id"] != warned["id"]} == ids

    name = f"mixed-{s}"
    edges = [(shell, ids["HTTP"]), (ids["HTTP"], ids["PROCEDURE"]), (shell, ids["DATAX"]), (ids["DATAX"], ids["SPARK"]),
             (shell, ids["FLINK"])]  # fmt: skip
    wf = await new_workflow(p, name, list(ids.values()), edges)
    await p.call("POST", f"/api/v1/workflows/{wf['id']}/approve", json={"version_no": 1})
    detail = await publish(p, int(wf["id"]), "online")
    assert {t["task_type"] for t in detail["tasks"]} == set(ids)

    dag = await p.ds.get_workflow_definition(detail["project_code"], detail["workflow_code"])
    assert dag.workflow_definition.release_state == ReleaseState.ONLINE
    by_type = {t.task_type: t for t in dag.task_definition_list}
    assert set(by_type) == set(ids)
    assert by_type["HTTP"].task_params == {
        "url": "https://api.example.invalid/refresh?day=${system.biz.date}",
        "httpMethod": "POST",
        "httpParams": [{"prop": "X-Req", "httpParametersType": "HEADERS", "value": s}],
        "httpBody": '{"full": true}',
        "httpCheckCondition": "STATUS_CODE_CUSTOM",
        "condition": "202",
        "connectTimeout": 5000,
        "localParams": [],
        "resourceList": [],
    }
    params = by_type["PROCEDURE"].task_params
    assert (params["type"], params["datasource"], params["method"]) == (
        "MYSQL",
        datasource["id"],
        "call refresh_orders()",
    )
    sync = by_type["DATAX"].task_params
    assert (sync["customConfig"], sync["dsType"], sync["dataSource"], sync["dtType"], sync["dataTarget"]) == (
        0,
        "MYSQL",
        datasource["id"],
        "POSTGRESQL",
        target["id"],
    )
    assert (sync["sql"], sync["targetTable"]) == ("select * from orders", "ods.orders")
    codes = {t: by_type[t].code for t in by_type}
    assert dag.edges() == {
        (0, codes["SHELL"]),
        (codes["SHELL"], codes["HTTP"]),
        (codes["HTTP"], codes["PROCEDURE"]),
        (codes["SHELL"], codes["DATAX"]),
        (codes["DATAX"], codes["SPARK"]),
        (codes["SHELL"], codes["FLINK"]),
    }
    stream = by_type["FLINK"].task_params
    assert (stream["programType"], stream["mainJar"], stream["deployMode"]) == (
        "PYTHON",
        {"resourceName": "jobs/stream.py"},
        "application",
    )
    agg = by_type["SPARK"].task_params
    assert (agg["programType"], agg["mainJar"], agg["rawScript"]) == ("SQL", None, spark_params["raw_script"])

    await run_and_wait(p, int(wf["id"]), name, "SUCCESS")


async def test_a_conditions_task_branches_through_the_gateway(platform: Platform) -> None:
    """check (fails) -> CONDITIONS (check failed?) -> alert on success of the condition, publish otherwise: a branch
    that is not an edge is a 422 naming the field; published, DS holds the ids as codes and the branch edges as
    relations; a run takes the success branch only."""
    p, s = platform, uid()
    check = await new_task(p, f"check-{s}", "exit 1")
    alert, load = await new_task(p, f"alert-{s}"), await new_task(p, f"load-{s}")
    params = {
        "groups": [{"checks": [{"task_id": check, "status": "FAILURE"}]}],
        "success_task_ids": [alert],
        "failed_task_ids": [load],
    }
    cond = await p.call("POST", "/api/v1/tasks", 201, json={"name": f"branch-{s}", "task_type": "CONDITIONS",
                                                            "params": params})  # fmt: skip
    c = int(cond["id"])
    body = {
        "name": f"branching-{s}",
        "tasks": [{"task_id": t} for t in (check, c, alert, load)],
        "edges": [{"upstream_task_id": u, "downstream_task_id": d} for u, d in ((check, c), (c, alert), (alert, load))],
    }
    bad = await p.api.post("/api/v1/workflows", json=body)
    assert bad.status_code == 422, bad.text
    assert [(e["field"], e["task_ids"]) for e in bad.json()["errors"]] == [("params.failed_task_ids", [load])]

    name = f"branching-{s}"
    wf = await new_workflow(p, name, [check, c, alert, load], [(check, c), (c, alert), (c, load)])
    await p.call("POST", f"/api/v1/workflows/{wf['id']}/approve", json={"version_no": 1})
    detail = await publish(p, int(wf["id"]), "online")
    dag = await p.ds.get_workflow_definition(detail["project_code"], detail["workflow_code"])
    codes = {t.name: t.code for t in dag.task_definition_list}
    branch = next(t for t in dag.task_definition_list if t.task_type == "CONDITIONS")
    assert branch.task_params["dependence"]["dependTaskList"] == [
        {"relation": "AND", "dependItemList": [{"depTaskCode": codes[f"check-{s}"], "status": "FAILURE"}]}
    ]
    assert branch.task_params["conditionResult"] == {
        "successNode": [codes[f"alert-{s}"]],
        "failedNode": [codes[f"load-{s}"]],
    }
    assert dag.edges() == {(0, codes[f"check-{s}"]), (codes[f"check-{s}"], branch.code),
                           (branch.code, codes[f"alert-{s}"]), (branch.code, codes[f"load-{s}"])}  # fmt: skip

    # the run: check fails, so the condition holds and only the success branch runs; the failure is the CONDITIONS
    # task's to handle, so the run succeeds (DS's master, as the emulator reads it)
    instance_id = await run_and_wait(p, int(wf["id"]), name, "SUCCESS")
    ran = await p.ds.get_instance_tasks(detail["project_code"], instance_id)
    states = {t.name: t.state for t in ran.task_list}
    assert states == {f"check-{s}": "FAILURE", branch.name: "SUCCESS", f"alert-{s}": "SUCCESS"}, states


async def failed_online(p: Platform, workflow_id: int) -> str:
    """Publish online, which fails: the error of the publish record."""
    await p.call("POST", f"/api/v1/workflows/{workflow_id}/publish", 202, json={"operation": "online"})
    refused = await p.published(workflow_id)
    assert refused["publish_status"] == "failed", refused
    records = await p.call("GET", f"/api/v1/workflows/{workflow_id}/publish-records")
    return str(records["items"][0]["error_message"] or "")


async def test_a_sub_workflow_runs_its_child_once_the_child_is_published_and_online(platform: Platform) -> None:
    """SUB_WORKFLOW through the gateway: no workflow is its own child (422); a parent published before its child
    fails naming the child; with the child deployed but OFFLINE, DS refuses the parent's online naming the child (DS's
    rule: the emulator does as DS 3.4.2); with the child online the parent goes online, DS holds the child's code,
    and a run succeeds."""
    p, s = platform, uid()
    child = await new_workflow(p, f"child-{s}", [await new_task(p, f"load-{s}")], [])
    body = {"name": f"run-child-{s}", "task_type": "SUB_WORKFLOW", "params": {"workflow_id": child["id"]}}
    bad = await p.api.post("/api/v1/tasks", json={**body, "params": {"workflow_id": 0}})
    assert bad.status_code == 422, bad.text
    assert any("workflow_id" in e["location"] for e in bad.json()["errors"]), bad.json()
    sub = await p.call("POST", "/api/v1/tasks", 201, json=body)
    parent = await new_workflow(p, f"parent-{s}", [int(sub["id"])], [])

    # the task pointed at the workflow it is in: 422 naming it, nothing changed
    own = await p.api.put(f"/api/v1/tasks/{sub['id']}", json={**body, "params": {"workflow_id": parent["id"]},
                                                                "expected_revision": sub["revision"]})  # fmt: skip
    assert own.status_code == 422, own.text
    assert f"runs workflow {parent['id']}, the workflow it is in" in own.json()["detail"]

    # the child never published: the parent's publish fails naming the task and the child
    await p.call("POST", f"/api/v1/workflows/{parent['id']}/approve", json={"version_no": 1})
    error = await failed_online(p, parent["id"])
    assert f"task {sub['id']} (run-child-{s}) runs workflow {child['id']}" in error, error

    # the child deployed (OFFLINE): DS refuses the parent's online, naming the child
    await p.call("POST", f"/api/v1/workflows/{child['id']}/approve", json={"version_no": 1})
    child_live = await publish(p, child["id"], "deploy")
    error = await failed_online(p, parent["id"])
    assert f"sub-workflow 'child-{s}' is offline" in error, error

    # the child online: the parent goes online with the child's DS code and runs
    await publish(p, child["id"], "online")
    detail = await publish(p, parent["id"], "online")
    dag = await p.ds.get_workflow_definition(detail["project_code"], detail["workflow_code"])
    (task,) = dag.task_definition_list
    assert (task.task_type, task.task_params["workflowDefinitionCode"]) == ("SUB_WORKFLOW", child_live["workflow_code"])
    assert dag.workflow_definition.release_state == ReleaseState.ONLINE
    await run_and_wait(p, int(parent["id"]), f"parent-{s}", "SUCCESS")


async def test_a_switch_task_routes_through_the_gateway(platform: Platform) -> None:
    """extract -> SWITCH (region eu? rows over 1000?) -> load-eu, load-big, load-rest by default: a branch that is not
    an edge is a 422 naming the field; published, DS holds the ids as codes and the branch edges as relations; a run
    takes the first case whose condition holds with the workflow's global parameters, the other branches do not run;
    after an edit of the parameter (a new version, approved and republished) the default is taken."""
    p, s = platform, uid()
    extract = await new_task(p, f"extract-{s}")
    eu, big, rest = [await new_task(p, f"load-{k}-{s}") for k in ("eu", "big", "rest")]
    params = {
        "cases": [{"condition": "${region} == 'eu'", "task_id": eu}, {"condition": "${rows} > 1000", "task_id": big}],
        "default_task_id": rest,
    }
    route = await p.call("POST", "/api/v1/tasks", 201, json={"name": f"route-{s}", "task_type": "SWITCH",
                                                             "params": params})  # fmt: skip
    r = int(route["id"])
    blank = {**params, "cases": [{"condition": " ", "task_id": eu}]}
    bad_case = await p.api.post("/api/v1/tasks", json={"name": f"route-{s}-2", "task_type": "SWITCH", "params": blank})
    assert bad_case.status_code == 422, bad_case.text
    assert bad_case.headers["content-type"].startswith("application/problem+json")

    name = f"routing-{s}"
    tasks = [extract, r, eu, big, rest]
    global_params = [{"name": "region", "value": "eu"}, {"name": "rows", "value": "1500", "type": "INTEGER"}]
    body: dict[str, Any] = {
        "name": name,
        "tasks": [{"task_id": t} for t in tasks],
        "edges": [{"upstream_task_id": u, "downstream_task_id": d} for u, d in ((extract, r), (r, eu), (r, big))],
        "global_params": global_params,
    }
    bad = await p.api.post("/api/v1/workflows", json=body)
    assert bad.status_code == 422, bad.text
    assert [(e["field"], e["task_ids"]) for e in bad.json()["errors"]] == [("params.default_task_id", [rest])]

    body["edges"].append({"upstream_task_id": r, "downstream_task_id": rest})
    wf = await p.call("POST", "/api/v1/workflows", 201, json=body)
    await p.call("POST", f"/api/v1/workflows/{wf['id']}/approve", json={"version_no": 1})
    detail = await publish(p, int(wf["id"]), "online")
    dag = await p.ds.get_workflow_definition(detail["project_code"], detail["workflow_code"])
    codes = {t.name: t.code for t in dag.task_definition_list}
    switch = next(t for t in dag.task_definition_list if t.task_type == "SWITCH")
    assert switch.task_params["switchResult"] == {
        "dependTaskList": [
            {"condition": "${region} == 'eu'", "nextNode": codes[f"load-eu-{s}"]},
            {"condition": "${rows} > 1000", "nextNode": codes[f"load-big-{s}"]},
        ],
        "nextNode": codes[f"load-rest-{s}"],
    }
    assert dag.edges() == {(0, codes[f"extract-{s}"]), (codes[f"extract-{s}"], switch.code),
                           *((switch.code, codes[f"load-{k}-{s}"]) for k in ("eu", "big", "rest"))}  # fmt: skip

    # region eu: the first case holds (the second would too: only the first is taken)
    instance_id = await run_and_wait(p, int(wf["id"]), name, "SUCCESS")
    ran = await p.ds.get_instance_tasks(detail["project_code"], instance_id)
    assert {t.name: t.state for t in ran.task_list} == {f"extract-{s}": "SUCCESS", switch.name: "SUCCESS",
                                                        f"load-eu-{s}": "SUCCESS"}  # fmt: skip

    # region us, 10 rows: no case holds, the default runs
    other = [{"name": "region", "value": "us"}, {"name": "rows", "value": "10", "type": "INTEGER"}]
    updated = await p.call("PUT", f"/api/v1/workflows/{wf['id']}", json={**body, "global_params": other,
                                                                          "expected_version_no": 1})  # fmt: skip
    await p.call("POST", f"/api/v1/workflows/{wf['id']}/approve", json={"version_no": updated["current_version_no"]})
    detail = await publish(p, int(wf["id"]), "online")
    instance_id = await run_and_wait(p, int(wf["id"]), name, "SUCCESS")
    ran = await p.ds.get_instance_tasks(detail["project_code"], instance_id)
    assert {t.name: t.state for t in ran.task_list} == {f"extract-{s}": "SUCCESS", switch.name: "SUCCESS",
                                                        f"load-rest-{s}": "SUCCESS"}  # fmt: skip
