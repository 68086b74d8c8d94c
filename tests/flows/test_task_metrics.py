"""Task-level metrics (seed §4.5 step 4) through the gateway on the running platform: two workflows run several times
(successes, a failing task, longer runs); the task list and the task detail show each task's state and duration in
its workflow's last runs, its success rate and p50/p90; history-sync's Prometheus series are per workflow and state.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import Platform, uid, until
from .test_main_flow import last_executions, new_task, new_workflow, publish

pytestmark = pytest.mark.slow


async def _online(p: Platform, name: str, tasks: list[int], edges: list[tuple[int, int]]) -> int:
    wid = int((await new_workflow(p, name, tasks, edges))["id"])
    await p.call("POST", f"/api/v1/workflows/{wid}/approve", json={"version_no": 1})
    await publish(p, wid, "online")
    return wid


async def _run(p: Platform, wid: int, name: str, state: str) -> int:
    [instance] = (await p.call("POST", f"/api/v1/workflows/{wid}/run", json={}))["instance_ids"]

    async def done() -> bool:
        return any(r["instance_id"] == instance and r["state"] == state for r in await last_executions(p, name))

    await until(done, f"run {instance} of {name} {state}", timeout_s=30)
    return int(instance)


async def _metrics_when(p: Platform, wid: int, runs: list[int], task_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The task list's metrics of the workflow's tasks once every one of them has a cell for each of ``runs``."""

    async def ready() -> dict[int, dict[str, Any]] | None:
        page = await p.call("GET", "/api/v1/tasks", params={"workflowId": wid})
        assert page["unavailable"] == [], page["unavailable"]
        got = {t["id"]: t["metrics"] for t in page["items"]}
        if set(got) != set(task_ids) or any(m is None for m in got.values()):
            return None
        cells = {tid: [c["instance_id"] for c in m["runs"] if c["state"] is not None] for tid, m in got.items()}
        return got if all(set(runs) <= set(c) for c in cells.values()) else None

    result: dict[int, dict[str, Any]] = await until(ready, f"task metrics of workflow {wid}", timeout_s=40)
    return result


def _samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of one metric in a Prometheus text page."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) :].rsplit(" ", 1)
            out[labels] = float(value)
    return out


async def _history_metrics(p: Platform) -> str:
    async with httpx.AsyncClient(base_url=p.urls["history"]) as history:
        return (await history.get("/metrics")).text


async def test_task_metrics_through_the_gateway(platform: Platform) -> None:
    p = platform
    s = uid()
    # the services run in this process and other tests' schemas number their workflows from 1 too: the counters'
    # series are compared with what they held before this test
    page = await _history_metrics(p)
    before = _samples(page, "history_sync_task_runs_total")
    durations_before = _samples(page, "history_sync_task_run_duration_seconds_count")
    # workflow 1: extract -> load; load fails in one of three runs (END: the run fails, extract succeeded)
    extract, load = await new_task(p, f"tm-{s}-extract"), await new_task(p, f"tm-{s}-load")
    name1 = f"tm-{s}-etl"
    wf1 = await _online(p, name1, [extract, load], [(extract, load)])
    runs1 = [await _run(p, wf1, name1, "SUCCESS")]
    p.emulator.script("FAILURE", taskName=f"tm-{s}-load", times=1)
    runs1.append(await _run(p, wf1, name1, "FAILURE"))
    runs1.append(await _run(p, wf1, name1, "SUCCESS"))
    # workflow 2: one task whose runs take 1 s and 3 s (DS times have whole seconds)
    report = await new_task(p, f"tm-{s}-report")
    name2 = f"tm-{s}-report"
    wf2 = await _online(p, name2, [report], [])
    runs2 = []
    for seconds in (1, 3):
        p.emulator.script("SUCCESS", taskName=f"tm-{s}-report", durationSeconds=seconds, times=1)
        runs2.append(await _run(p, wf2, name2, "SUCCESS"))

    m1 = await _metrics_when(p, wf1, runs1, [extract, load])
    newest_first = list(reversed(runs1))
    for tid in (extract, load):
        assert [c["instance_id"] for c in m1[tid]["runs"]] == newest_first, m1[tid]
    assert [c["state"] for c in m1[extract]["runs"]] == ["SUCCESS", "SUCCESS", "SUCCESS"]
    assert [c["state"] for c in m1[load]["runs"]] == ["SUCCESS", "FAILURE", "SUCCESS"]
    assert [c["run_state"] for c in m1[load]["runs"]] == ["SUCCESS", "FAILURE", "SUCCESS"]
    assert (m1[extract]["finished"], m1[extract]["succeeded"], m1[extract]["success_rate"]) == (3, 3, 1.0)
    assert (m1[load]["finished"], m1[load]["succeeded"]) == (3, 2)
    assert m1[load]["success_rate"] == pytest.approx(2 / 3)
    assert (m1[extract]["task_name"], m1[load]["task_name"]) == (f"tm-{s}-extract", f"tm-{s}-load")
    assert m1[extract]["task_code"] != m1[load]["task_code"]

    m2 = (await _metrics_when(p, wf2, runs2, [report]))[report]
    assert [c["instance_id"] for c in m2["runs"]] == list(reversed(runs2))
    assert (m2["finished"], m2["succeeded"], m2["success_rate"]) == (2, 2, 1.0)
    assert m2["p50_seconds"] <= 2  # the 1 s run
    assert 2 <= m2["p90_seconds"] <= 4  # the 3 s run: p90 of two samples is the longer one
    assert all(c["duration_seconds"] is not None for c in m2["runs"])

    # the task detail carries the same (the DAG's node panel and the expandable row show it)
    detail = await p.call("GET", f"/api/v1/tasks/{load}")
    assert detail["unavailable"] == []
    assert detail["metrics"] == m1[load]

    # a task in no workflow has none; an unknown task id is a 404 problem, never a 5xx
    lone = await new_task(p, f"tm-{s}-lone")
    assert (await p.call("GET", f"/api/v1/tasks/{lone}"))["metrics"] is None
    missing = await p.api.get("/api/v1/tasks/999999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")

    # Prometheus: per workflow and state, never per task (bounded cardinality); each task instance counted once
    text = await _history_metrics(p)
    after = _samples(text, "history_sync_task_runs_total")
    added = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
    assert added == {
        f'{{state="SUCCESS",workflow="{wf1}"}}': 5.0,
        f'{{state="FAILURE",workflow="{wf1}"}}': 1.0,
        f'{{state="SUCCESS",workflow="{wf2}"}}': 2.0,
    }, added
    assert all(labels.count("=") == 2 for labels in after)  # workflow + state only
    wf2_durations = f'{{state="SUCCESS",workflow="{wf2}"}}'
    durations = _samples(text, "history_sync_task_run_duration_seconds_count")
    assert durations[wf2_durations] - durations_before.get(wf2_durations, 0.0) == 2.0, durations
