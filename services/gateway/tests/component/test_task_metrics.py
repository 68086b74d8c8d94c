"""Task-level metrics on the task list and the task detail: one history-sync call for the page's workflows, each
task given its DS task's entry (by DS task code when the task carries it, else by its DS name)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from gateway.responses import TaskPage, TaskView

from .fakes import NOW, FakeServices

Start = Callable[..., Awaitable[httpx.AsyncClient]]


def entry(code: int, name: str, states: list[str | None], *, rate: float | None = 0.5) -> dict[str, Any]:
    runs = [
        {
            "instance_id": 100 - i,
            "run_state": s or "RUNNING_EXECUTION",
            "run_start_time": NOW.isoformat(),
            "state": s,
            "duration_seconds": 12.0 if s else None,
            "task_instance_id": 1000 - i if s else None,
        }
        for i, s in enumerate(states)
    ]
    finished = sum(1 for s in states if s)
    return {
        "task_code": code,
        "task_name": name,
        "task_type": "SHELL",
        "runs": runs,
        "finished": finished,
        "succeeded": sum(1 for s in states if s == "SUCCESS"),
        "success_rate": rate,
        "p50_seconds": 12.0,
        "p90_seconds": 30.0,
    }


def seed(f: FakeServices) -> dict[str, int]:
    a = f.add_task("extract")["id"]
    b = f.add_task("load", ds_task_code=555)["id"]
    c = f.add_task("same")["id"]
    d = f.add_task("same")["id"]
    lone = f.add_task("orphan")["id"]
    wf = f.add_workflow("daily", task_ids=[a, b, c, d], codes=(77, 123))["id"]
    never = f.add_workflow("never run", task_ids=[])["id"]
    f.task_metrics[wf] = [
        entry(501, "extract", ["SUCCESS", "FAILURE"]),
        # an older DS task that was named "extract" too (deleted since): its newest run is older
        entry(499, "extract", [None, None, "SUCCESS"], rate=1.0),
        entry(555, "renamed in DS", ["SUCCESS", None], rate=1.0),  # matched by its code, whatever its name
        entry(600, "load", ["FAILURE"], rate=0.0),  # a name match must not win over the task's code
        entry(700, f"same [{c}]", ["SUCCESS"], rate=1.0),  # two tasks named alike: DS names carry the ids
        entry(701, f"same [{d}]", ["FAILURE"], rate=0.0),
    ]
    return {"a": a, "b": b, "c": c, "d": d, "lone": lone, "wf": wf, "never": never}


async def test_task_list_carries_each_tasks_metrics(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    ids = seed(fakes)
    r = await client.get("/api/v1/tasks")
    assert r.status_code == 200, r.text
    body = r.json()
    TaskPage.model_validate(body)
    assert body["unavailable"] == []
    by_id = {t["id"]: t["metrics"] for t in body["items"]}
    assert by_id[ids["a"]]["task_code"] == 501
    assert [c["state"] for c in by_id[ids["a"]]["runs"]] == ["SUCCESS", "FAILURE"]
    assert (by_id[ids["a"]]["success_rate"], by_id[ids["a"]]["p90_seconds"]) == (0.5, 30.0)
    assert by_id[ids["b"]]["task_code"] == 555
    assert (by_id[ids["c"]]["task_code"], by_id[ids["d"]]["task_code"]) == (700, 701)
    assert by_id[ids["lone"]] is None  # in no workflow
    # ONE history-sync call for the page's workflows (the orphan has none)
    [call] = fakes.calls("history", "/internal/workflows/task-metrics")
    assert call.query == {"ids": str(ids["wf"])}


async def test_task_detail_carries_the_last_runs(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    ids = seed(fakes)
    r = await client.get(f"/api/v1/tasks/{ids['a']}")
    assert r.status_code == 200, r.text
    body = r.json()
    TaskView.model_validate(body)
    assert body["unavailable"] == []
    m = body["metrics"]
    assert [(c["instance_id"], c["state"], c["duration_seconds"]) for c in m["runs"]] == [
        (100, "SUCCESS", 12.0),
        (99, "FAILURE", 12.0),
    ]
    assert (m["finished"], m["succeeded"], m["p50_seconds"]) == (2, 1, 12.0)


async def test_a_task_without_runs_has_no_metrics(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    t = fakes.add_task("fresh")["id"]
    fakes.add_workflow("new", task_ids=[t])  # not tracked by history-sync: unknown_ids
    body = (await client.get(f"/api/v1/tasks/{t}")).json()
    assert body["metrics"] is None
    assert body["unavailable"] == []
    orphan = fakes.add_task("alone")["id"]
    body = (await client.get(f"/api/v1/tasks/{orphan}")).json()
    assert body["metrics"] is None
    assert fakes.calls("history", "/internal/workflows/task-metrics") != []  # asked once, for the first only
    assert len(fakes.calls("history", "/internal/workflows/task-metrics")) == 1


async def test_history_down_marks_metrics_unavailable(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    ids = seed(fakes)
    fakes.control["history"].raw_error = 503
    r = await client.get("/api/v1/tasks")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unavailable"] == ["metrics"]
    assert all(t["metrics"] is None for t in body["items"])
    assert {t["id"] for t in body["items"]} >= {ids["a"], ids["b"]}
    detail = (await client.get(f"/api/v1/tasks/{ids['a']}")).json()
    assert detail["metrics"] is None
    assert "metrics" in detail["unavailable"]


async def test_metrics_when_owners_come_from_task_owners(start: Start, fakes: FakeServices) -> None:
    fakes.tasks_without_owner = True
    ids = seed(fakes)
    client = await start()
    body = (await client.get("/api/v1/tasks")).json()
    by_id = {t["id"]: t["metrics"] for t in body["items"]}
    assert by_id[ids["a"]]["task_code"] == 501
    assert by_id[ids["lone"]] is None
