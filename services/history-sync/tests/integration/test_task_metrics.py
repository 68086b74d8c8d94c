"""Task-level metrics on real PostgreSQL against the DS emulator: each finished run's task instances are read from DS
once, a run still going not at all; the statistics, the HTTP answer and the Prometheus series follow."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from common.dolphin.models import InstanceTasks
from common.testing.service import running
from history_sync import service
from history_sync.db import repository as repo
from history_sync.db.tables import task_fetch, task_run
from history_sync.deps import Deps
from history_sync.main import create_app
from history_sync.ports import DolphinHistory

from .conftest import Db, Ds, SettingsFactory, publish_completed, track
from .test_sync import _make_due

pytestmark = pytest.mark.timeout(240)


class CountingDolphin:
    """The real (throttled) DS client, counting the task-instance reads per workflow instance."""

    def __init__(self, inner: DolphinHistory) -> None:
        self.inner = inner
        self.task_reads: Counter[int] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def get_instance_tasks(self, project_code: int, instance_id: int) -> InstanceTasks:
        self.task_reads[instance_id] += 1
        return await self.inner.get_instance_tasks(project_code, instance_id)


async def _stored(hdb: Db) -> tuple[int, int]:
    async with hdb.sessions() as s:
        runs = await s.scalar(select(func.count()).select_from(task_run))
        fetches = await s.scalar(select(func.count()).select_from(task_fetch))
    return int(runs or 0), int(fetches or 0)


async def test_task_instances_of_a_finished_run_are_read_once(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, deps_for: Any
) -> None:
    code = await ds.deploy("metrics")
    await ds.online(code)
    ds.emulator.script("SUCCESS", workflowCode=code, durationSeconds=1, times=1)
    first = await ds.run(code)
    await ds.wait_finished(first)
    failed = await ds.run(code, fail=True)
    await ds.wait_finished(failed)
    ds.emulator.script("SUCCESS", workflowCode=code, durationSeconds=3, times=1)
    third = await ds.run(code)
    await ds.wait_finished(third)

    base: Deps = deps_for(make_settings(ds.emulator, sync_interval_s=300.0, lease_s=60.0))
    counting = CountingDolphin(base.dolphin)
    deps = Deps(base.settings, base.sessions, base.outbox, counting)
    await track(hdb.sessions, publish_completed(71, code, ds.project_code))

    report = await service.sync_due_workflows(deps)
    assert (report.result.synced, report.result.failed) == (1, 0)
    assert counting.task_reads == {first: 1, failed: 1, third: 1}
    assert await _stored(hdb) == (3, 3)

    # nothing new in DS: a finished run's task instances are never read again
    await _make_due(hdb)
    await service.sync_due_workflows(deps)
    assert counting.task_reads == {first: 1, failed: 1, third: 1}

    # a run still going: its tasks are not read; once finished, they are read exactly once
    ds.emulator.script("SUCCESS", workflowCode=code, durationSeconds=4, times=1)
    going = await ds.run(code)
    await _make_due(hdb)
    await service.sync_due_workflows(deps)
    assert going not in counting.task_reads
    [view], unknown = await service.get_task_metrics(deps, [71, 404])
    assert unknown == [404]
    assert [e.instance_id for e in view.executions] == [going, third, failed, first]
    [m] = view.tasks
    assert m.runs[0].state is None
    assert m.runs[0].run_state != "SUCCESS"
    assert (m.finished, m.succeeded) == (3, 2)

    await ds.wait_finished(going)
    await _make_due(hdb)
    await service.sync_due_workflows(deps)
    # the on-demand refresh shares the rule
    await service.refresh_workflow(deps, (await _tracked(deps, 71)))
    assert counting.task_reads == {first: 1, failed: 1, third: 1, going: 1}
    assert await _stored(hdb) == (4, 4)

    [view], _ = await service.get_task_metrics(deps, [71])
    [m] = view.tasks
    assert (m.task_name, m.task_type) == ("only", "SHELL")
    assert [(c.instance_id, c.state) for c in m.runs] == [
        (going, "SUCCESS"), (third, "SUCCESS"), (failed, "FAILURE"), (first, "SUCCESS"),
    ]  # fmt: skip
    assert (m.finished, m.succeeded, m.success_rate) == (4, 3, 0.75)
    # DS times have whole seconds: the 1 s, 3 s and 4 s runs measure within a second of that
    assert m.p50_s is not None
    assert m.p90_s is not None
    assert 2 <= m.p50_s <= 4
    assert 3 <= m.p90_s <= 5
    assert m.p50_s <= m.p90_s
    durations = sorted(c.duration_s for c in m.runs if c.state == "SUCCESS" and c.duration_s is not None)
    assert len(durations) == 3
    assert durations[0] <= 2

    # HTTP and Prometheus (per workflow and state; each task instance counted once)
    async with running(create_app(make_settings(ds.emulator, sync_enabled=False))) as client:
        body = (await client.get("/internal/workflows/task-metrics?ids=71,404")).json()
        assert body["unknown_ids"] == [404]
        [w] = body["workflows"]
        assert w["instance_ids"] == [going, third, failed, first]
        [t] = w["tasks"]
        assert (t["task_name"], t["finished"], t["succeeded"], t["success_rate"]) == ("only", 4, 3, 0.75)
        assert [c["state"] for c in t["runs"]] == ["SUCCESS", "SUCCESS", "FAILURE", "SUCCESS"]
        assert (t["p50_seconds"], t["p90_seconds"]) == (m.p50_s, m.p90_s)
        assert (await client.get("/internal/workflows/task-metrics?ids=x")).status_code == 422
        text = (await client.get("/metrics")).text
    assert 'history_sync_task_runs_total{state="SUCCESS",workflow="71"} 3.0' in text
    assert 'history_sync_task_runs_total{state="FAILURE",workflow="71"} 1.0' in text
    assert 'history_sync_task_run_duration_seconds_count{state="SUCCESS",workflow="71"} 3.0' in text


async def test_reads_are_capped_per_sync_newest_first_and_leave_with_their_run(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, deps_for: Any
) -> None:
    code = await ds.deploy("rolling")
    await ds.online(code)
    ids = [await ds.run(code) for _ in range(10)]
    for i in ids:
        await ds.wait_finished(i)
    base: Deps = deps_for(make_settings(ds.emulator, sync_interval_s=300.0, lease_s=60.0, task_reads_per_sync=3))
    counting = CountingDolphin(base.dolphin)
    deps = Deps(base.settings, base.sessions, base.outbox, counting)
    await track(hdb.sessions, publish_completed(72, code, ds.project_code))

    async def stored_runs() -> set[int]:
        async with hdb.sessions() as s:
            return set((await s.scalars(select(task_fetch.c.instance_id))).all())

    # ten finished runs: three per sync, newest first, each read once
    newest_first = list(reversed(ids))
    for synced in (3, 6, 9, 10, 10):
        await service.sync_due_workflows(deps)
        assert await stored_runs() == set(newest_first[:synced])
        await _make_due(hdb)
    assert set(counting.task_reads) == set(ids)
    assert set(counting.task_reads.values()) == {1}
    assert await _stored(hdb) == (10, 10)

    newer = await ds.run(code)
    await ds.wait_finished(newer)
    await service.sync_due_workflows(deps)
    assert await _stored(hdb) == (10, 10)  # the oldest run left the last 10, with its task instances
    async with hdb.sessions() as s:
        kept = set((await s.scalars(select(task_run.c.instance_id))).all())
    assert kept == {newer, *ids[1:]}

    # 0 turns the reads off: the executions are synced, no task instance is read
    off = Deps(deps.settings.model_copy(update={"task_reads_per_sync": 0}), deps.sessions, deps.outbox, counting)
    last = await ds.run(code)
    await ds.wait_finished(last)
    await _make_due(hdb)
    await service.sync_due_workflows(off)
    assert last not in counting.task_reads


async def _tracked(deps: Deps, workflow_id: int) -> Any:
    async with deps.sessions() as s:
        return await repo.get_tracked(s, workflow_id)
