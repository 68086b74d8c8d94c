"""The seed's main flow end to end, through the gateway's ``/api/v1`` and the real services (DESIGN §4).

register tasks → create a DAG (version 1) → approve → publish online → DS holds the DAG, ONLINE → run now → the run
is in the last 10 executions after a history-sync cycle → a failing workflow shows FAILURE and raises
``workflow.execution.failed`` → publish offline → DS OFFLINE → a lineage change adds an edge as a new version.
"""

from __future__ import annotations

from typing import Any

import pytest

from common.dolphin import ReleaseState
from common.events import LineageChanged, Topics, registry
from common.events.models import WorkflowExecutionFailed
from common.testing.kafka_helpers import read_topic

from .conftest import Platform, uid, until

pytestmark = pytest.mark.slow


async def new_task(p: Platform, name: str, script: str = "echo hello") -> int:
    body = {
        "name": name,
        "task_type": "SHELL",
        "description": f"flow task {name}",
        "params": {"script": script},
        "worker_group": "default",
        "owner": "data-team",
    }
    task: dict[str, Any] = await p.call("POST", "/api/v1/tasks", 201, json=body)
    assert task["task_type"] == "SHELL"
    return int(task["id"])


async def new_workflow(p: Platform, name: str, tasks: list[int], edges: list[tuple[int, int]]) -> dict[str, Any]:
    body = {
        "name": name,
        "description": "end-to-end flow",
        "tasks": [{"task_id": t} for t in tasks],
        "edges": [{"upstream_task_id": u, "downstream_task_id": d} for u, d in edges],
    }
    detail: dict[str, Any] = await p.call("POST", "/api/v1/workflows", 201, json=body)
    return detail


async def publish(p: Platform, workflow_id: int, operation: str) -> dict[str, Any]:
    accepted = await p.call("POST", f"/api/v1/workflows/{workflow_id}/publish", 202, json={"operation": operation})
    assert accepted["operation"] == operation
    detail = await p.published(workflow_id)
    assert detail["publish_status"] == "published", detail
    return detail


def edges_of(detail: dict[str, Any]) -> set[tuple[int, int]]:
    return {(e["upstream_task_id"], e["downstream_task_id"]) for e in detail["edges"]}


async def last_executions(p: Platform, name: str) -> list[dict[str, Any]]:
    """The list page's ``last_executions`` (history-sync's cache, never refreshed on demand by this call)."""
    page = await p.call("GET", "/api/v1/workflows", params={"name": name})
    [item] = [w for w in page["items"] if w["name"] == name]
    assert item["executions_unavailable"] is False, item
    result: list[dict[str, Any]] = item["last_executions"] or []
    return result


async def run_and_wait(p: Platform, workflow_id: int, name: str, state: str) -> int:
    run = await p.call("POST", f"/api/v1/workflows/{workflow_id}/run", json={})
    [instance_id] = run["instance_ids"]

    async def finished() -> list[dict[str, Any]] | None:
        runs = await last_executions(p, name)
        return runs if any(r["instance_id"] == instance_id and r["state"] == state for r in runs) else None

    await until(finished, f"instance {instance_id} {state} in the last 10 of {name}", timeout_s=30)
    return int(instance_id)


async def test_main_flow_through_the_gateway(platform: Platform) -> None:
    p = platform
    me = await p.call("GET", "/api/v1/me")
    assert "admin" in me["roles"]

    # --- register 3 SHELL tasks, a DAG A→B, A→C: version 1 ---------------------------------------------------------
    s = uid()
    names = {k: f"flow-{s}-{k}" for k in "ABC"}
    a, b, c = [await new_task(p, names[k]) for k in "ABC"]
    wf_name = f"flow-{s}"
    wf = await new_workflow(p, wf_name, [a, b, c], [(a, b), (a, c)])
    wid = int(wf["id"])
    assert (wf["current_version_no"], wf["status"], wf["publish_status"]) == (1, "draft", "never_published")
    assert (sorted(wf["entry_task_ids"]), sorted(wf["exit_task_ids"])) == ([a], sorted([b, c]))
    versions = await p.call("GET", f"/api/v1/workflows/{wid}/versions")
    assert [v["version_no"] for v in versions["items"]] == [1]

    # --- approve, publish online: publisher consumed publish.requested, definition consumed publish.completed ------
    approved = await p.call("POST", f"/api/v1/workflows/{wid}/approve", json={"version_no": 1})
    assert approved["status"] == "ready"
    assert "online" in approved["allowed_publish_operations"]
    detail = await publish(p, wid, "online")
    workflow_code, project_code = detail["workflow_code"], detail["project_code"]
    assert workflow_code
    assert project_code
    assert detail["last_published_version_no"] == 1
    assert detail["publish_records"]["items"][0]["status"] == "success", detail["publish_records"]
    assert detail["ds_link"].endswith(f"/projects/{project_code}/workflow/definitions/{workflow_code}")

    # --- DS holds the DAG with the right tasks and edges, ONLINE --------------------------------------------------
    dag = await p.ds.get_workflow_definition(project_code, workflow_code)
    assert dag.workflow_definition.name == wf_name
    assert dag.workflow_definition.release_state == ReleaseState.ONLINE
    code = {t.name: t.code for t in dag.task_definition_list}
    assert set(code) == set(names.values())
    assert all(t.task_type == "SHELL" for t in dag.task_definition_list)
    ca, cb, cc = (code[names[k]] for k in "ABC")
    assert dag.edges() == {(0, ca), (ca, cb), (ca, cc)}

    # --- run now: the run is in the last 10 after a history-sync cycle, SUCCESS -----------------------------------
    ok_instance = await run_and_wait(p, wid, wf_name, "SUCCESS")

    async def synced_to_definition() -> bool:
        return bool((await p.workflow(wid))["last_execution_state"] == "SUCCESS")

    await until(synced_to_definition, "execution.synced → definition's last_execution_state")
    executions = await p.call("GET", f"/api/v1/workflows/{wid}/executions")
    assert ok_instance in [e["instance_id"] for e in executions["executions"]], executions

    # --- a workflow whose task fails: FAILURE, and workflow.execution.failed on Kafka -----------------------------
    bad_task = await new_task(p, f"flow-{s}-bad", script="echo failing\nexit 1")
    bad_name = f"flow-{s}-failing"
    bad = await new_workflow(p, bad_name, [bad_task], [])
    bad_id = int(bad["id"])
    await p.call("POST", f"/api/v1/workflows/{bad_id}/approve", json={"version_no": 1})
    await publish(p, bad_id, "online")
    bad_instance = await run_and_wait(p, bad_id, bad_name, "FAILURE")
    records = await read_topic(p.bootstrap, p.topic(Topics.WORKFLOW_EXECUTION_FAILED), expect=1, timeout_s=20)
    failures = [registry.decode(r.value)[1] for r in records]
    assert any(
        isinstance(e, WorkflowExecutionFailed)
        and (e.workflow_id, e.instance_id, e.state, e.rule) == (bad_id, bad_instance, "FAILURE", "failure")
        for e in failures
    ), failures

    # --- publish offline: DS OFFLINE ---------------------------------------------------------------------------
    assert "offline" in (await p.workflow(wid))["allowed_publish_operations"]
    await publish(p, wid, "offline")
    dag = await p.ds.get_workflow_definition(project_code, workflow_code)
    assert dag.workflow_definition.release_state == ReleaseState.OFFLINE

    # --- lineage: C writes a table B reads ⇒ C→B inside the workflow ⇒ a new version (trigger lineage_change) ----
    table = f"warehouse.flow_{s}"
    await p.send(LineageChanged(task_id=c, write_tables=(table,)))
    await p.send(LineageChanged(task_id=b, read_tables=(table,)))

    async def lineage_version() -> dict[str, Any] | None:
        d = await p.workflow(wid)
        return d if (c, b) in edges_of(d) else None

    detail = await until(lineage_version, "the lineage edge C→B in the workflow")
    assert edges_of(detail) == {(a, b), (a, c), (c, b)}
    assert detail["needs_attention"] is False
    assert detail["current_version_no"] == 2
    newest = (await p.call("GET", f"/api/v1/workflows/{wid}/versions"))["items"][0]
    assert (newest["version_no"], newest["trigger_source"], newest["created_by"]) == (
        2,
        "lineage_change",
        "lineage-resolver",
    )

    # the task list filters on the definition service's projection of task.dependency.changed: C's event (its new
    # downstream B) may be consumed a moment after B's, which was enough for the new version
    async def upstream_of_b() -> dict[str, Any] | None:
        page = await p.call("GET", "/api/v1/tasks", params={"downstreamTaskId": str(b)})
        return page if c in {t["id"] for t in page["items"]} else None

    deps = await until(upstream_of_b, "task C in the task list filtered by downstreamTaskId=B")
    assert not deps["unavailable"], deps
