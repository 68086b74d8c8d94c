"""Auto-orchestration on the stack (issue 20), through the gateway and the real services, with the DS emulator.

Lineage for 30 tasks over 5 tables → proposals (every unassigned task in exactly one, none larger than the size
limit, the large groups split) → accept the group around table T1 → accept the proposal that reads what that
workflow writes: it carries a DEPENDENT link → its publish is refused while the upstream is not deployed → the
upstream is published → the dependent workflow gets a new version with the upstream's DS codes → approve, publish →
the emulator holds the DEPENDENT task with the right codes before the waiting task → a run fails while the upstream
has not run today, and succeeds once it has.
"""

from __future__ import annotations

from typing import Any

import pytest

from common.events import LineageChanged
from common.testing.gateway_api import every_item_async

from .conftest import Platform, uid, until
from .test_main_flow import new_task, publish, run_and_wait

pytestmark = pytest.mark.slow

MAX_SIZE = 8


@pytest.fixture(autouse=True)
def small_proposals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proposals of at most 8 tasks, so the groups of 10 and 12 tasks below are split."""
    monkeypatch.setenv("DEFINITION_PROPOSAL_MAX_SIZE", str(MAX_SIZE))


async def proposals(p: Platform) -> list[dict[str, Any]]:
    """Every open proposal (the stack is shared: other tests' tasks in no workflow have theirs too)."""
    return await every_item_async(
        lambda page, size: p.call("GET", "/api/v1/proposals", params={"page_size": size, "page": page})
    )


def holding(items: list[dict[str, Any]], task_id: int) -> dict[str, Any] | None:
    return next((x for x in items if task_id in x["task_ids"]), None)


async def test_lineage_to_proposals_to_a_dependent_link_in_dolphinscheduler(platform: Platform) -> None:
    p = platform
    s = uid()
    t1, t2, t3, t4, t5 = (f"warehouse.auto_{s}_{i}" for i in range(1, 6))
    x = [await new_task(p, f"auto-{s}-x{i}") for i in range(8)]  # x0 writes T1; all others read it; x7 writes T2
    y = [await new_task(p, f"auto-{s}-y{i}") for i in range(10)]  # y0 reads T2, writes T3; y1..y9 read T3
    z = [await new_task(p, f"auto-{s}-z{i}") for i in range(12)]  # z0 writes T4; z1..z11 read it; z11 writes T5
    assert len({*x, *y, *z}) == 30

    # --- the group around T1 becomes one proposal: accept it (workflow W1, draft) -------------------------------
    await p.send(LineageChanged(task_id=x[0], write_tables=(t1,)))
    for t in x[1:7]:
        await p.send(LineageChanged(task_id=t, read_tables=(t1,)))
    await p.send(LineageChanged(task_id=x[7], read_tables=(t1,), write_tables=(t2,)))

    async def x_grouped() -> dict[str, Any] | None:
        found = holding(await proposals(p), x[0])
        return found if found and sorted(found["task_ids"]) == sorted(x) and len(found["edges"]) == 7 else None

    px = await until(x_grouped, "the 8 tasks around T1 in one proposal", timeout_s=60)
    assert (px["kind"], px["split"]) == ("new_workflow", False)
    accepted = await p.call("POST", f"/api/v1/proposals/{px['id']}/accept", 201, json={"name": f"auto-{s}-w1"})
    w1 = accepted["workflow"]
    assert (w1["status"], w1["current_version_no"]) == ("draft", 1)
    v1 = (await p.call("GET", f"/api/v1/workflows/{w1['id']}/versions"))["items"][0]
    assert v1["trigger_source"] == "auto_orchestration"

    # --- the other 22 tasks: proposals within the size limit, the groups of 10 and 12 split -----------------------
    await p.send(LineageChanged(task_id=y[0], read_tables=(t2,), write_tables=(t3,)))
    for t in y[1:]:
        await p.send(LineageChanged(task_id=t, read_tables=(t3,)))
    await p.send(LineageChanged(task_id=z[0], write_tables=(t4,)))
    for t in z[1:11]:
        await p.send(LineageChanged(task_id=t, read_tables=(t4,)))
    await p.send(LineageChanged(task_id=z[11], read_tables=(t4,), write_tables=(t5,)))

    async def settled() -> list[dict[str, Any]] | None:
        items = [i for i in await proposals(p) if set(i["task_ids"]) & {*y, *z}]
        waiting = holding(items, y[0])
        inside = {tuple(e) for i in items for e in i["edges"]}
        cut = {(c["upstream_task_id"], c["downstream_task_id"]) for i in items for c in i["cross_dependencies"]}
        ready = (
            waiting is not None
            and any(c["upstream_task_id"] == x[7] for c in waiting["cross_dependencies"])
            # all 20 lineage edges among the y and z tasks (y0→y1..9, z0→z1..11) arrived: inside or cut
            and len(inside | (cut - {(x[7], y[0])})) == 20
        )
        return items if ready else None

    items = await until(settled, "proposals for the y and z tasks, y0's waiting for x7 of W1", timeout_s=60)
    placed = sorted(t for i in items for t in i["task_ids"])
    assert placed == sorted([*y, *z]), "every unassigned task in exactly one proposal"
    assert all(i["task_count"] <= MAX_SIZE for i in items)
    assert any(i["split"] for i in items if set(i["task_ids"]) & set(z))

    # registering answers nothing yet, but the task's detail names the workflow its lineage points to
    detail = await p.call("GET", f"/api/v1/tasks/{y[0]}")
    assert detail["suggested_workflow"]["workflow_id"] == w1["id"]

    # --- accept y0's proposal: a DEPENDENT link on x7 of W1, which is not deployed yet ---------------------------
    py = holding(items, y[0])
    assert py is not None
    preview = await p.call("GET", f"/api/v1/proposals/{py['id']}/preview")
    (link,) = preview["external_dependencies"]
    assert (link["upstream_workflow_id"], link["upstream_task_id"], link["task_ids"]) == (w1["id"], x[7], [y[0]])
    assert link["upstream_workflow_code"] is None
    assert {w["code"] for w in preview["warnings"]} >= {"upstream_not_deployed", "cross_proposal_dependencies"}
    # the reasons name the tables (lineage-resolver's, through the gateway): x7 → y0 runs through T2
    [cut] = [c for c in preview["reasons"]["cut_dependencies"] if c["upstream_task_id"] == x[7]]
    assert cut["tables"] == [t2]
    tying = {tt["table"]: tt for tt in preview["reasons"]["tables"]}
    assert set(tying) <= {t3}
    assert all(tt["writers"] == [y[0]] for tt in tying.values())
    w2 = (await p.call("POST", f"/api/v1/proposals/{py['id']}/accept", 201, json={"name": f"auto-{s}-w2"}))["workflow"]
    await p.call("POST", f"/api/v1/workflows/{w2['id']}/approve", json={"version_no": 1})
    await p.call("POST", f"/api/v1/workflows/{w2['id']}/publish", 202, json={"operation": "online"})
    refused = await p.published(w2["id"])
    assert refused["publish_status"] == "failed", refused
    records = await p.call("GET", f"/api/v1/workflows/{w2['id']}/publish-records")
    error = records["items"][0]["error_message"] or ""
    assert "not deployed" in error
    assert f"task {x[7]}" in error

    # --- publish W1: W2 gets a version naming W1's DS codes ----------------------------------------------------
    await p.call("POST", f"/api/v1/workflows/{w1['id']}/approve", json={"version_no": 1})
    w1_live = await publish(p, w1["id"], "online")

    async def reversioned() -> dict[str, Any] | None:
        d = await p.workflow(w2["id"])
        return d if d["current_version_no"] == 2 else None

    await until(reversioned, "W2's version 2 with W1's DolphinScheduler codes")
    newest = (await p.call("GET", f"/api/v1/workflows/{w2['id']}/versions"))["items"][0]
    assert (newest["trigger_source"], newest["created_by"]) == ("auto_orchestration", "auto-orchestration")
    v2 = await p.call("GET", f"/api/v1/workflows/{w2['id']}/versions/2")
    (link,) = v2["structure_snapshot"]["external_dependencies"]
    assert (link["upstream_workflow_code"], link["upstream_project_code"]) == (
        w1_live["workflow_code"],
        w1_live["project_code"],
    )
    await p.call("POST", f"/api/v1/workflows/{w2['id']}/approve", json={"version_no": 2})
    w2_live = await publish(p, w2["id"], "online")

    # --- DS holds the DEPENDENT task with the right codes, before y0 ---------------------------------------------
    up_dag = await p.ds.get_workflow_definition(w1_live["project_code"], w1_live["workflow_code"])
    x7_code = next(t.code for t in up_dag.task_definition_list if t.name == f"auto-{s}-x7")
    dag = await p.ds.get_workflow_definition(w2_live["project_code"], w2_live["workflow_code"])
    (dependent,) = [t for t in dag.task_definition_list if t.task_type == "DEPENDENT"]
    (group,) = dependent.task_params["dependence"]["dependTaskList"]
    (item,) = group["dependItemList"]
    assert (item["projectCode"], item["definitionCode"], item["depTaskCode"]) == (
        w1_live["project_code"],
        w1_live["workflow_code"],
        x7_code,
    )
    assert (item["cycle"], item["dateValue"]) == ("day", "today")
    y0_code = next(t.code for t in dag.task_definition_list if t.name == f"auto-{s}-y0")
    assert (dependent.code, y0_code) in dag.edges()

    # --- run: W2 fails while W1 has not run today, and succeeds once it has --------------------------------------
    await run_and_wait(p, w2["id"], f"auto-{s}-w2", "FAILURE")
    await run_and_wait(p, w1["id"], f"auto-{s}-w1", "SUCCESS")
    await run_and_wait(p, w2["id"], f"auto-{s}-w2", "SUCCESS")
