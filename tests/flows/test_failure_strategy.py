"""Issue 21 item 1: a workflow's failure strategy (END when any task's node_attrs says END, else CONTINUE) reaches DS
through the gateway: the schedule the publisher creates holds it, an edit that changes it republishes and updates
the schedule, and run now starts DS with it unless the request names one."""

from __future__ import annotations

from typing import Any

import pytest

from common.dolphin import FailureStrategy, ReleaseState

from .conftest import Platform, uid
from .test_lifecycle import SCHEDULE
from .test_main_flow import new_task, publish

pytestmark = pytest.mark.slow


def refs(tasks: dict[int, str]) -> list[dict[str, Any]]:
    return [{"task_id": t, "node_attrs": {"failure_strategy": s}} for t, s in tasks.items()]


async def run_now(p: Platform, wid: int, detail: dict[str, Any], body: dict[str, Any]) -> FailureStrategy | None:
    run = await p.call("POST", f"/api/v1/workflows/{wid}/run", json=body)
    [instance_id] = run["instance_ids"]
    return (await p.ds.get_workflow_instance(detail["project_code"], instance_id)).failure_strategy


async def test_the_workflows_failure_strategy_reaches_the_schedule_and_run_now(platform: Platform) -> None:
    p, s = platform, uid()
    a, b = await new_task(p, f"fs-{s}-a"), await new_task(p, f"fs-{s}-b")
    edges = [{"upstream_task_id": a, "downstream_task_id": b}]
    body = {"name": f"fs-{s}", "tasks": refs({a: "CONTINUE", b: "CONTINUE"}), "edges": edges, "schedule": SCHEDULE}
    wf = await p.call("POST", "/api/v1/workflows", 201, json=body)
    wid = int(wf["id"])
    await p.call("POST", f"/api/v1/workflows/{wid}/approve", json={"version_no": 1})
    detail = await publish(p, wid, "online")
    schedule = await p.ds.get_schedule_of_workflow(detail["project_code"], detail["workflow_code"])
    assert schedule is not None
    assert (schedule.failure_strategy, schedule.release_state) == (FailureStrategy.CONTINUE, ReleaseState.ONLINE)
    assert await run_now(p, wid, detail, {}) is FailureStrategy.CONTINUE

    # b now says END: the workflow's strategy becomes END, the version is republished and the schedule updated
    edit = {**body, "tasks": refs({a: "CONTINUE", b: "END"}), "expected_version_no": 1}
    await p.call("PUT", f"/api/v1/workflows/{wid}", json=edit)
    await p.call("POST", f"/api/v1/workflows/{wid}/approve", json={"version_no": 2})
    detail = await publish(p, wid, "online")
    assert detail["last_published_version_no"] == 2
    schedule = await p.ds.get_schedule_of_workflow(detail["project_code"], detail["workflow_code"])
    assert schedule is not None
    assert (schedule.failure_strategy, schedule.release_state) == (FailureStrategy.END, ReleaseState.ONLINE)
    assert await run_now(p, wid, detail, {}) is FailureStrategy.END
    assert await run_now(p, wid, detail, {"failure_strategy": "CONTINUE"}) is FailureStrategy.CONTINUE
