"""A lineage storm on the stack (issue 24 item 3), black-box through the gateway, at a smaller scale than the
benchmark (``bench/bench_lineage_storm.py``: 5,000 readers in 500 workflows): a hub table read by 200 tasks in 40
workflows gets a writer in another workflow — one ``lineage.changed`` → 201 ``task.dependency.changed`` — while an
unrelated workflow is published: the publish completes, each of the 41 workflows is flagged once (by that event,
with the explanation of the hub task's change, no version), a copy of the event changes nothing; and a hub table
read by ten tasks of one workflow gets a writer in that workflow: one new version with the ten edges."""

from __future__ import annotations

from typing import Any

from common.events import LineageChanged

from .conftest import Platform, uid, until
from .test_main_flow import new_task, new_workflow, publish

WORKFLOWS = 40
READERS_PER_WORKFLOW = 5


async def readers_of(p: Platform, table: str) -> int:
    items = (await p.call("GET", "/api/v1/lineage/tables", params={"q": table}))["items"]
    return next((int(i["readers"]) for i in items if i["table"] == table), 0)


async def versions_of(p: Platform, workflow_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (
        await p.call("GET", f"/api/v1/workflows/{workflow_id}/versions", params={"page_size": 100})
    )["items"]
    return items


async def test_lineage_storm_flags_each_workflow_once_while_a_publish_completes(platform: Platform) -> None:
    p = platform
    s = uid()
    hub = f"storm_{s}.hub"
    # 40 workflows of 5 readers of the hub (one request at a time: the stack shares a busy machine)
    readers = [
        [await new_task(p, f"storm-{s}-r{w}-{i}") for i in range(READERS_PER_WORKFLOW)] for w in range(WORKFLOWS)
    ]
    workflows = [await new_workflow(p, f"storm-{s}-w{w}", tasks, []) for w, tasks in enumerate(readers)]
    writer, neighbour = await new_task(p, f"storm-{s}-writer"), await new_task(p, f"storm-{s}-neighbour")
    home = await new_workflow(p, f"storm-{s}-home", [writer, neighbour], [])
    unrelated_a, unrelated_b = await new_task(p, f"storm-{s}-u1"), await new_task(p, f"storm-{s}-u2")
    unrelated = await new_workflow(p, f"storm-{s}-unrelated", [unrelated_a, unrelated_b], [(unrelated_a, unrelated_b)])
    await p.call("POST", f"/api/v1/workflows/{unrelated['id']}/approve", json={"version_no": 1})
    for r in (t for ts in readers for t in ts):
        await p.send(LineageChanged(task_id=r, read_tables=(hub,)))
    n = WORKFLOWS * READERS_PER_WORKFLOW

    async def all_readers() -> bool:
        return await readers_of(p, hub) == n

    await until(all_readers, f"lineage knows the {n} readers of {hub}", timeout_s=120)

    # --- the storm, and a publish of an unrelated workflow requested meanwhile ------------------------------------
    storm = LineageChanged(task_id=writer, write_tables=(hub,))
    await p.send(storm)
    done = await publish(p, unrelated["id"], "online")  # waits for publish.completed (60 s at most)
    assert done["needs_attention"] is False
    assert done["last_published_version_no"] == 1

    affected = {w["id"] for w in workflows} | {home["id"]}

    async def flagged() -> set[int] | None:
        page = await p.call("GET", "/api/v1/workflows", params={"needs_attention": "true", "name": f"storm-{s}-"})
        ids = {int(i["id"]) for i in page["items"]}
        # page of 20: the total says whether all 41 are flagged
        return ids if page["total"] == len(affected) else None

    await until(flagged, f"the {len(affected)} workflows flagged", timeout_s=120)

    async def linked() -> bool:
        page = await p.call("GET", "/api/v1/tasks", params={"upstreamTaskId": writer, "page_size": 1})
        return bool(page["total"] == n)

    await until(linked, f"the definition service consumed the {n + 1} task.dependency.changed", timeout_s=120)

    causes = set()
    for wid in sorted(affected):
        d = await p.workflow(wid)
        details = d["attention_details"]
        assert d["needs_attention"], wid
        assert (details["kind"], details["task_id"]) == ("cross_workflow", writer), (wid, details)
        # the hub task's event explains every link (its 200 readers, first 100 listed) — not a reader's one link
        assert (details["cross_edge_count"], len(details["cross_edges"])) == (n, 100), wid
        assert d["current_version_no"] == 1, "a cross-workflow link writes no version"
        causes.add(details["cause_event_id"])
    assert len(causes) == 1
    assert (await p.workflow(unrelated["id"]))["needs_attention"] is False

    # --- a copy of the event (a new id, the same change): lineage changes nothing, no workflow is written ---------
    await p.send(LineageChanged(task_id=writer, write_tables=(hub,)))
    # a marker after it on the same topic (one partition in this stack): once it shows, the copy was handled
    marker = await new_task(p, f"storm-{s}-marker")
    await p.send(LineageChanged(task_id=marker, read_tables=(f"storm_{s}.marker",)))

    async def marker_seen() -> bool:
        return await readers_of(p, f"storm_{s}.marker") == 1

    await until(marker_seen, "the marker after the copy", timeout_s=60)
    for wid in sorted(affected):
        details = (await p.workflow(wid))["attention_details"]
        assert details["cause_event_id"] in causes, wid

    # --- a hub inside one workflow: its writer (the newest task) → one version with the ten edges -----------------
    inner = f"storm_{s}.inner"
    inside = [await new_task(p, f"storm-{s}-in{i}") for i in range(10)]
    inner_writer = await new_task(p, f"storm-{s}-inner-writer")
    one = await new_workflow(p, f"storm-{s}-one", [*inside, inner_writer], [])
    for r in inside:
        await p.send(LineageChanged(task_id=r, read_tables=(inner,)))

    async def inner_readers() -> bool:
        return await readers_of(p, inner) == len(inside)

    await until(inner_readers, f"lineage knows the readers of {inner}", timeout_s=60)
    await p.send(LineageChanged(task_id=inner_writer, write_tables=(inner,)))

    async def inner_linked() -> bool:
        page = await p.call("GET", "/api/v1/tasks", params={"upstreamTaskId": inner_writer, "page_size": 1})
        return bool(page["total"] == len(inside))

    await until(inner_linked, "the definition service consumed the inner storm", timeout_s=60)
    versions = await versions_of(p, one["id"])
    assert [v["version_no"] for v in versions] == [2, 1], "versioned once"
    detail = await p.workflow(one["id"])
    assert {(e["upstream_task_id"], e["downstream_task_id"]) for e in detail["edges"]} == {
        (inner_writer, r) for r in inside
    }
    assert detail["needs_attention"] is False
