"""The portal in a real browser against the whole running platform (see ``conftest.platform_stack``).

Tasks are registered through the API (setup); everything else happens in the UI, driven by
``portal/e2e/scenario.mjs`` (playwright-core with the system's Chromium): log in with the admin token, create a
workflow from the tasks and draw its DAG, approve it, publish it online and watch the record succeed, run it, see the
run among the last 10 executions after a history sync, open the instance's tasks and a task log, switch the language
(and back); then the task list, registering a task in the UI, editing the workflow into version 2, the v1→v2 diff and
a migration preview of the new task into a second workflow. Screenshots of every step go to ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from typing import Any

import pytest

from .conftest import ARTIFACTS, CHROMIUM, PORTAL, PlatformStack

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(900)]

SCENARIO = PORTAL / "e2e" / "scenario.mjs"


def _register_tasks(stack: PlatformStack, suffix: str) -> list[dict[str, Any]]:
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


def _other_workflow(stack: PlatformStack, suffix: str) -> dict[str, Any]:
    """A second workflow (one task) as the target of the migration preview."""
    with stack.client() as api:
        r = api.post(
            "/api/v1/tasks",
            json={"name": f"e2e_archive_{suffix}", "task_type": "SHELL", "params": {"script": "echo archive"}},
        )
        assert r.status_code == 201, r.text
        task_id = r.json()["id"]
        r = api.post(
            "/api/v1/workflows",
            json={"name": f"e2e_archive_wf_{suffix}", "tasks": [{"task_id": task_id}], "edges": []},
        )
        assert r.status_code == 201, r.text
        return {"id": r.json()["id"], "name": r.json()["name"]}


def _run_scenario(stack: PlatformStack, config: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    env = {**os.environ, "E2E_CONFIG": json.dumps(config)}
    proc = subprocess.run(
        [node, str(SCENARIO)], cwd=PORTAL, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        pytest.fail(f"the scenario printed no result (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    if not result.get("ok"):
        failed = next((s for s in result.get("steps", []) if not s.get("ok")), None)
        pytest.fail(
            f"browser scenario failed at {failed['name'] if failed else '?'}: {result.get('failed')}\n"
            f"{failed.get('error', '') if failed else ''}\n"
            f"console errors: {result.get('consoleErrors')}\n"
            f"screenshots: {ARTIFACTS}\n{stack.log_tails()}"
        )
    return result


def test_portal_end_to_end(platform_stack: PlatformStack) -> None:
    suffix = uuid.uuid4().hex[:6]
    tasks = _register_tasks(platform_stack, suffix)
    other = _other_workflow(platform_stack, suffix)
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
        },
    )

    names = [s["name"] for s in result["steps"]]
    assert names == [
        "login-screen",
        "workflow-list",
        "create-workflow",
        "workflow-dag",
        "node-attributes",
        "approved",
        "publish-online",
        "published",
        "run-now",
        "last-10-after-sync",
        "instance-tasks",
        "task-log",
        "english",
        "chinese-again",
        "task-list",
        "register-task",
        "edit-workflow-v2",
        "version-diff",
        "migration-preview",
    ]
    for s in result["steps"]:
        assert (out_dir / s["screenshot"]).stat().st_size > 10_000, s

    # what the UI did is what the platform holds
    workflow_id = result["workflowId"]
    with platform_stack.client() as api:
        wf = api.get(f"/api/v1/workflows/{workflow_id}").json()
    assert wf["name"] == f"e2e_daily_orders_{suffix}"
    # v1 (created in the UI) was approved and published; v2 added the task registered in the UI after "load"
    new_task = next(t for t in wf["tasks"] if t["name"] == f"e2e_daily_orders_{suffix}_report")
    assert sorted(t["task_id"] for t in wf["tasks"]) == sorted([*(t["id"] for t in tasks), new_task["task_id"]])
    assert {(e["upstream_task_id"], e["downstream_task_id"]) for e in wf["edges"]} == {
        (tasks[0]["id"], tasks[1]["id"]),
        (tasks[1]["id"], tasks[2]["id"]),
        (tasks[2]["id"], new_task["task_id"]),
    }
    assert wf["current_version_no"] == 2
    assert wf["last_published_version_no"] == 1
    assert wf["status"] == "draft"  # a new version voids the approval of a "ready" workflow
    assert wf["publish_status"] == "published"
    assert wf["workflow_code"]
    assert [r["status"] for r in wf["publish_records"]["items"]] == ["success"]
    assert any(e["state"] == "SUCCESS" for e in wf["executions"]["executions"])
