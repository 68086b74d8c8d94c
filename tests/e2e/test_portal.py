"""The portal in a real browser against the whole running platform (see ``conftest.platform_stack``).

Tasks and two small workflows are made through the API (setup); everything else happens in the UI, driven by
``portal/e2e/scenario.mjs`` (playwright-core with the system's Chromium): log in with the admin token, create a
workflow from the tasks and draw its DAG; approve it after someone saved a new version behind the browser's back (the
approval of the old version is refused, the page reloads, the new version is approved); publish it online and see both
states (platform approved, DolphinScheduler online with its schedule); set it online on the platform; run it, and run it
again with double clicks (one DS instance, shown in the executions at once); see the run among the last 10 executions,
open the instance's tasks and a task log, switch the language (and back); a backfill of two days on the backfill
screen (its DS instances shown and linked); the task list with each task's metrics (success rate, p90, the last runs;
a row expanded), registering a task (with its OpenLineage job) (and a SQL
task whose datasource DS lacks: saved with a warning), editing the workflow into version 3, the diff and a migration
preview; a publish that DolphinScheduler refuses and its retry (double-clicked: one retry record); platform offline
(DS offline too, a run refused with the reason); archiving the workflow and deleting a never-published one and an
unassigned task, each confirmed in a dialog. Then auto-orchestration (issue 20), from lineage sent to Kafka as a lineage
source would: the proposals listed (a new workflow of two tasks, an addition to a workflow), the preview's DAG with the
DEPENDENT node and the reasons, accept (the new draft workflow opens with the DEPENDENT node), a task's suggested
workflow offered (its editor opens with the task picked; not saved), the editor showing the accepted link and a link
lineage suggests for a task added there (accepted, saved, in the version diff). Then table lineage (issue 21): a
table searched and opened (its writers, readers, tables up and downstream, workflows, graph), the impact of another
(each affected task with its path, the workflow once), and the editor's lineage check (a suggested edge added, a
reversed one flagged and removed, a suggestion ignored for the session; saved). Last, a SWITCH task (issue 21): its
branch edges labelled by case and default in the DAG, its cases in the node panel and in the task editor. Screenshots
of every step go to ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from common.events import LineageChanged, registry
from common.kafka_access import client_options
from common.testing.gateway_api import every_item
from devstack.stack import Stack, run_async

from .conftest import ARTIFACTS, CHROMIUM, PORTAL, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SCENARIO = PORTAL / "e2e" / "scenario.mjs"


def _register_tasks(stack: Stack, suffix: str) -> list[dict[str, Any]]:
    scripts = {
        "extract": "echo extracting orders",
        "transform": "echo transforming orders",
        "load": "echo loading orders",
    }
    tasks = []
    with stack.client() as api:
        for name, script in scripts.items():
            r = api.post(
                "/api/v1/tasks",
                json={
                    "name": f"e2e_{name}_{suffix}",
                    "task_type": "SHELL",
                    "description": f"e2e {name}",
                    "params": {"script": script},
                    "worker_group": "default",
                    "owner": "e2e",
                },
            )
            assert r.status_code == 201, r.text
            tasks.append({"id": r.json()["id"], "name": r.json()["name"]})
    return tasks


def _one_task_workflow(stack: Stack, name: str) -> dict[str, Any]:
    """A draft workflow ``<name>_wf`` of one new SHELL task ``<name>``."""
    with stack.client() as api:
        r = api.post("/api/v1/tasks", json={"name": name, "task_type": "SHELL", "params": {"script": f"echo {name}"}})
        assert r.status_code == 201, r.text
        task_id = r.json()["id"]
        r = api.post("/api/v1/workflows", json={"name": f"{name}_wf", "tasks": [{"task_id": task_id}], "edges": []})
        assert r.status_code == 201, r.text
        return {"id": r.json()["id"], "name": r.json()["name"]}


def _switch_workflow(stack: Stack, suffix: str) -> dict[str, Any]:
    """A draft workflow whose SWITCH task ``route`` runs ``eu`` when its case holds and ``rest`` by default."""
    condition = "${region} == 'eu'"
    with stack.client() as api:
        ids = {}
        for key in ("eu", "rest"):
            r = api.post("/api/v1/tasks", json={"name": f"e2e_{key}_{suffix}", "task_type": "SHELL",
                                                "params": {"script": f"echo {key}"}})  # fmt: skip
            assert r.status_code == 201, r.text
            ids[key] = {"id": r.json()["id"], "name": r.json()["name"]}
        params = {"cases": [{"condition": condition, "task_id": ids["eu"]["id"]}], "default_task_id": ids["rest"]["id"]}
        r = api.post("/api/v1/tasks", json={"name": f"e2e_route_{suffix}", "task_type": "SWITCH", "params": params})
        assert r.status_code == 201, r.text
        route = {"id": r.json()["id"], "name": r.json()["name"]}
        body = {
            "name": f"e2e_switch_{suffix}",
            "tasks": [{"task_id": t["id"]} for t in (route, ids["eu"], ids["rest"])],
            "edges": [{"upstream_task_id": route["id"], "downstream_task_id": t["id"]} for t in ids.values()],
        }
        r = api.post("/api/v1/workflows", json=body)
        assert r.status_code == 201, r.text
        return {"id": r.json()["id"], "route": route, **ids, "condition": condition}


def _send_lineage(stack: Stack, kafka_bootstrap: str, events: list[LineageChanged]) -> None:
    """Publish lineage as a lineage source does (``lineage.changed`` on this stack's topics)."""

    async def send() -> None:
        producer = AIOKafkaProducer(**client_options(kafka_bootstrap), acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for event in events:
                envelope = registry.encode(event, source="/tests/e2e")
                await producer.send_and_wait(
                    f"{stack.topic_prefix}{event.TOPIC}", envelope.to_bytes(), key=event.key().encode()
                )
        finally:
            await producer.stop()

    run_async(send())


def _all_proposals(api: httpx.Client) -> list[dict[str, Any]]:
    """Every open proposal (other tests' tasks in no workflow have theirs too)."""
    return every_item(lambda page, size: api.get("/api/v1/proposals", params={"page_size": size, "page": page}).json())


def _auto_orchestration(stack: Stack, kafka_bootstrap: str, suffix: str) -> dict[str, Any]:
    """Two one-task workflows (``up`` writes T1, ``up2`` writes T3) and three unassigned tasks: p1 reads T1 and writes
    T2, p2 reads T2, p3 reads T3. Waits until the proposals hold {p1, p2} (cut from up: a DEPENDENT link) and p3."""
    up = _one_task_workflow(stack, f"e2e_auto_up_{suffix}")
    up2 = _one_task_workflow(stack, f"e2e_auto_upb_{suffix}")
    tasks: dict[str, dict[str, Any]] = {}
    with stack.client() as api:
        for key in ("p1", "p2", "p3"):
            name = f"e2e_auto_{key}_{suffix}"
            body = {"name": name, "task_type": "SHELL", "params": {"script": f"echo {key}"}}
            r = api.post("/api/v1/tasks", json=body)
            assert r.status_code == 201, r.text
            tasks[key] = {"id": r.json()["id"], "name": name}
        up_tasks = {w["id"]: api.get(f"/api/v1/workflows/{w['id']}").json()["tasks"][0] for w in (up, up2)}
    t1, t2, t3 = (f"warehouse.e2e_auto_{suffix}_{i}" for i in range(1, 4))
    p1, p2, p3 = (tasks[k]["id"] for k in ("p1", "p2", "p3"))
    _send_lineage(
        stack,
        kafka_bootstrap,
        [
            LineageChanged(task_id=up_tasks[up["id"]]["task_id"], write_tables=(t1,)),
            LineageChanged(task_id=up_tasks[up2["id"]]["task_id"], write_tables=(t3,)),
            LineageChanged(task_id=p1, read_tables=(t1,), write_tables=(t2,)),
            LineageChanged(task_id=p2, read_tables=(t2,)),
            LineageChanged(task_id=p3, read_tables=(t3,)),
        ],
    )
    up_id = up_tasks[up["id"]]["task_id"]
    deadline = time.monotonic() + 90
    with stack.client() as api:
        while True:
            items = _all_proposals(api)
            pair = next((i for i in items if p1 in i["task_ids"]), None)
            single = next((i for i in items if p3 in i["task_ids"]), None)
            if (
                pair is not None
                and sorted(pair["task_ids"]) == sorted([p1, p2])
                and any(c["upstream_task_id"] == up_id for c in pair["cross_dependencies"])
                and single is not None
                and single["kind"] == "add_to_workflow"
            ):
                break
            assert time.monotonic() < deadline, f"no proposals from the lineage: {items}"
            time.sleep(0.5)
    return {
        "workflowName": f"e2e_auto_{suffix}",
        "tyingTable": t2,
        "up": {"id": up_id, "name": up_tasks[up["id"]]["name"], "workflowId": up["id"]},
        "up2": {"id": up_tasks[up2["id"]]["task_id"], "name": up_tasks[up2["id"]]["name"], "workflowId": up2["id"]},
        **tasks,
    }


def _table_lineage(stack: Stack, kafka_bootstrap: str, suffix: str) -> dict[str, Any]:
    """Lineage: l1 writes a, l2 reads a and writes b, l3 reads b and writes c. Once lineage-resolver applied it and
    the definition service projected every resulting dependency (it adds lineage edges that arrive later to the
    workflows holding both tasks), a draft workflow of the three tasks drawn only l3 -> l2, the wrong way."""
    a, b, c = (f"warehouse.e2e_lin_{suffix}_{x}" for x in "abc")
    tasks: dict[str, dict[str, Any]] = {}
    with stack.client() as api:
        for key in ("l1", "l2", "l3"):
            name = f"e2e_lin_{key}_{suffix}"
            r = api.post(
                "/api/v1/tasks", json={"name": name, "task_type": "SHELL", "params": {"script": f"echo {key}"}}
            )
            assert r.status_code == 201, r.text
            tasks[key] = {"id": r.json()["id"], "name": name}
    l1, l2, l3 = (tasks[k]["id"] for k in ("l1", "l2", "l3"))
    _send_lineage(
        stack,
        kafka_bootstrap,
        [
            LineageChanged(task_id=l1, write_tables=(a,)),
            LineageChanged(task_id=l2, read_tables=(a,), write_tables=(b,)),
            LineageChanged(task_id=l3, read_tables=(b,), write_tables=(c,)),
        ],
    )
    # each of the four dependency events, as the definition service's projection shows it
    wanted = {("upstreamTaskId", l1): l2, ("downstreamTaskId", l2): l1, ("upstreamTaskId", l2): l3}
    wanted[("downstreamTaskId", l3)] = l2
    deadline = time.monotonic() + 60
    with stack.client() as api:
        while True:
            r = api.get("/api/v1/lineage/impact", params={"name": a})
            applied = r.status_code == 200 and {t["task_id"] for t in r.json()["tasks"]} == {l2, l3}
            projected = all(
                task in {t["id"] for t in api.get("/api/v1/tasks", params={key: of}).json()["items"]}
                for (key, of), task in wanted.items()
            )
            if applied and projected:
                break
            assert time.monotonic() < deadline, f"lineage not applied and projected: {r.status_code} {r.text}"
            time.sleep(0.5)
        name = f"e2e_lin_{suffix}_wf"
        body = {
            "name": name,
            "tasks": [{"task_id": t} for t in (l1, l2, l3)],
            "edges": [{"upstream_task_id": l3, "downstream_task_id": l2}],
        }
        r = api.post("/api/v1/workflows", json=body)
        assert r.status_code == 201, r.text
    return {"tables": [a, b, c], **tasks, "workflowId": r.json()["id"], "workflowName": name}


def _ds_instances(stack: Stack, project_code: int, workflow_code: int) -> list[int]:
    """The workflow's instances as DolphinScheduler (the emulator) lists them."""
    r = httpx.get(
        f"{stack.emulator.rest_url}/projects/{project_code}/workflow-instances",
        params={"pageNo": 1, "pageSize": 100, "workflowDefinitionCode": workflow_code},
        headers={"token": stack.emulator.access_token},
        timeout=10.0,
    )
    body = r.json()
    assert body["code"] == 0, body
    return [int(i["id"]) for i in body["data"]["totalList"]]


def _run_scenario(stack: Stack, config: dict[str, Any]) -> dict[str, Any]:
    return run_scenario(stack, SCENARIO, config)


def test_portal_end_to_end(platform_stack: Stack, kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:6]
    tasks = _register_tasks(platform_stack, suffix)
    auto = _auto_orchestration(platform_stack, kafka_bootstrap, suffix)
    other = _one_task_workflow(platform_stack, f"e2e_archive_{suffix}")  # the target of the migration preview
    draft = _one_task_workflow(platform_stack, f"e2e_scratch_{suffix}")  # never published: the scenario deletes it
    lineage = _table_lineage(platform_stack, kafka_bootstrap, suffix)
    switch = _switch_workflow(platform_stack, suffix)
    out_dir = ARTIFACTS
    for old in out_dir.glob("*.png"):
        old.unlink()
    result = _run_scenario(
        platform_stack,
        {
            "baseUrl": platform_stack.base_url,
            "token": platform_stack.admin_token,
            "chromium": str(CHROMIUM),
            "outDir": str(out_dir),
            "workflowName": f"e2e_daily_orders_{suffix}",
            "tasks": tasks,
            "otherWorkflow": other,
            "draftWorkflow": draft,
            "ds": {
                "restUrl": platform_stack.emulator.rest_url,
                "token": platform_stack.emulator.access_token,
                "controlUrl": platform_stack.emulator.base_url,
            },
            "auto": auto,
            "lineage": lineage,
            "switchWorkflow": switch,
        },
    )

    names = [s["name"] for s in result["steps"]]
    assert names == [
        "login-screen",
        "workflow-list",
        "create-workflow",
        "workflow-dag",
        "node-attributes",
        "approve-stale-version",
        "approved",
        "publish-online",
        "published-ds-online",
        "platform-online",
        "run-now",
        "run-now-double-click",
        "last-10-after-sync",
        "instance-tasks",
        "task-log",
        "english",
        "chinese-again",
        "backfill",
        "task-list",
        "task-metrics",
        "register-task",
        "task-save-warning",
        "edit-workflow-v3",
        "version-diff",
        "migration-preview",
        "publish-failed",
        "publish-retried",
        "platform-offline",
        "run-refused-offline",
        "archive-confirm",
        "archived",
        "delete-draft-confirm",
        "draft-deleted",
        "delete-unassigned-task",
        "proposals-listed",
        "proposal-preview",
        "proposal-accepted",
        "task-suggested-workflow",
        "editor-external-links",
        "external-links-diff",
        "lineage-search",
        "lineage-impact",
        "editor-lineage-check",
        "editor-lineage-saved",
        "switch-branches",
        "switch-editor",
    ]
    for s in result["steps"]:
        assert (out_dir / s["screenshot"]).stat().st_size > 10_000, s

    # what the UI did is what the platform holds
    workflow_id = result["workflowId"]
    with platform_stack.client() as api:
        wf = api.get(f"/api/v1/workflows/{workflow_id}").json()
        draft_after = api.get(f"/api/v1/workflows/{draft['id']}")
        sql_tasks = api.get("/api/v1/tasks", params={"name": f"e2e_daily_orders_{suffix}_sql_check"}).json()
    assert wf["name"] == f"e2e_daily_orders_{suffix}"
    # v1 (created in the UI); v2 saved through the API behind the browser's back (a schedule), approved after the
    # stale approval of v1 was refused, published online; v3 added the task registered in the UI after "load"
    new_task_id = next(t["task_id"] for t in wf["tasks"] if t["name"] == f"e2e_daily_orders_{suffix}_report")
    with platform_stack.client() as api:
        new_task = api.get(f"/api/v1/tasks/{new_task_id}").json()
    # the OpenLineage job identity set in the register form
    assert new_task["openlineage_job"] == {"namespace": "spark://e2e", "name": f"e2e_daily_orders_{suffix}_report"}
    assert sorted(t["task_id"] for t in wf["tasks"]) == sorted([*(t["id"] for t in tasks), new_task_id])
    assert {(e["upstream_task_id"], e["downstream_task_id"]) for e in wf["edges"]} == {
        (tasks[0]["id"], tasks[1]["id"]),
        (tasks[1]["id"], tasks[2]["id"]),
        (tasks[2]["id"], new_task_id),
    }
    assert wf["schedule"]["crontab"] == "0 0 2 * * ? *"
    assert wf["current_version_no"] == 3
    assert wf["last_published_version_no"] == 3  # v3 approved, its publish failed once and the retry succeeded
    # archived after platform offline: DS holds it offline with its schedule, its history is kept
    assert wf["status"] == "archived"
    assert wf["release_state"] == "OFFLINE"
    assert wf["schedule_online"] is False
    records = wf["publish_records"]["items"]  # newest first
    assert [(r["operation"], r["status"]) for r in records] == [
        ("offline", "success"),  # platform offline took DS offline
        ("online", "success"),  # the retry
        ("online", "failed"),  # DS refused the release (injected 50035)
        ("online", "success"),  # v2
    ]
    assert records[1]["retry_of"] == records[2]["id"] == result["failedRecordId"]
    assert records[2]["error_code"] == 50035
    # two runs were asked for (one click, one double click) and DS has exactly two instances; none while offline
    # and a backfill of two days (the backfill screen): two COMPLEMENT_DATA instances
    instances = _ds_instances(platform_stack, wf["project_code"], wf["workflow_code"])
    assert len(instances) == 4, instances
    assert result["doubleClickInstance"] in instances
    assert len(result["backfillInstances"]) == 2
    assert set(result["backfillInstances"]) < set(instances)
    assert any(e["state"] == "SUCCESS" for e in wf["executions"]["executions"])
    # the draft workflow and the unassigned SQL task were deleted
    assert draft_after.status_code == 404, draft_after.text
    assert sql_tasks["items"] == []

    # auto-orchestration: the accepted proposal is a draft (auto_orchestration) with the DEPENDENT link on up; the
    # editor's save (version 2) added p3 and kept both links: the proposal's and the one lineage suggested there
    auto_id = result["autoWorkflowId"]
    with platform_stack.client() as api:
        auto_wf = api.get(f"/api/v1/workflows/{auto_id}").json()
        versions = api.get(f"/api/v1/workflows/{auto_id}/versions").json()["items"]
        v2 = api.get(f"/api/v1/workflows/{auto_id}/versions/2").json()
        diff = api.get(f"/api/v1/workflows/{auto_id}/diff", params={"from": 1, "to": 2}).json()
    assert (auto_wf["name"], auto_wf["status"], auto_wf["current_version_no"]) == (auto["workflowName"], "draft", 2)
    assert sorted(t["task_id"] for t in auto_wf["tasks"]) == sorted(auto[k]["id"] for k in ("p1", "p2", "p3"))
    assert {(e["upstream_task_id"], e["downstream_task_id"]) for e in auto_wf["edges"]} == {
        (auto["p1"]["id"], auto["p2"]["id"])
    }
    assert [v["trigger_source"] for v in versions] == ["manual_edit", "auto_orchestration"]
    links = {
        (d["upstream_workflow_id"], d["upstream_task_id"], tuple(d["task_ids"]), d["cycle"], d["date_value"])
        for d in v2["structure_snapshot"]["external_dependencies"]
    }
    assert links == {
        (auto["up"]["workflowId"], auto["up"]["id"], (auto["p1"]["id"],), "day", "today"),
        (auto["up2"]["workflowId"], auto["up2"]["id"], (auto["p3"]["id"],), "day", "today"),
    }
    assert diff["dependent_links"]["added"] == [auto["up2"]["id"]]

    # the editor's lineage check (issue 21 item 3): the suggested l1 -> l2 added, the reversed l3 -> l2 removed, the
    # suggested l2 -> l3 ignored: the saved version draws l1 -> l2 only
    with platform_stack.client() as api:
        lin_wf = api.get(f"/api/v1/workflows/{lineage['workflowId']}").json()
    assert {(e["upstream_task_id"], e["downstream_task_id"]) for e in lin_wf["edges"]} == {
        (lineage["l1"]["id"], lineage["l2"]["id"])
    }
    assert lin_wf["current_version_no"] == 2
