"""Node attributes against the DS emulator. The workflow's failure strategy (END when any task says END, else
CONTINUE): the schedule DS holds has it, a change of it republishes and updates the schedule, and run now and a batch
start that do not choose one start DS with it (an explicit one still wins). Every other node attribute: held by DS
for every task type."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest

from common.dolphin import FailureStrategy, ReleaseState
from common.testing.identity import auth_headers
from common.workflow import NodeAttrs, SnapshotTask, TaskType
from publisher_testing.task_examples import (
    CHILD_WORKFLOW_ID,
    DATASOURCES,
    EXAMPLES,
    EXPECTED_FIELDS,
    NON_DEFAULT,
    around,
)

from .conftest import Harness, request, shell, snapshot

pytestmark = pytest.mark.timeout(180)


def says(task: SnapshotTask, strategy: str) -> SnapshotTask:
    return task.model_copy(update={"node_attrs": NodeAttrs(failure_strategy=strategy)})


async def started_with(harness: Harness, project: int, wid: int, key: str, body: Any) -> FailureStrategy | None:
    assert harness.client is not None
    headers = {**auth_headers("publisher", "ann", ("publisher",)), "Idempotency-Key": key}
    answer = await harness.client.post(f"/internal/workflows/{wid}/run", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    [instance_id] = answer.json()["instance_ids"]
    return (await harness.ds.get_workflow_instance(project, instance_id)).failure_strategy


async def test_the_schedule_and_runs_get_the_workflows_failure_strategy(harness: Harness) -> None:
    ds, wid = harness.ds, 431
    v1 = snapshot(wid, [says(shell(1), "CONTINUE"), says(shell(2), "CONTINUE")], [(1, 2)], cron="0 0 2 * * ? *")
    online = request(v1, "online", version_no=1)
    await harness.send(online)
    rec = await harness.record(online.request_id)
    assert rec.status == "success", rec.log
    assert "failure strategy CONTINUE" in rec.log
    p, code = int(rec.project_code), int(rec.engine_workflow_code)
    schedule = await ds.get_schedule_of_workflow(p, code)
    assert schedule is not None
    assert (schedule.failure_strategy, schedule.release_state) == (FailureStrategy.CONTINUE, ReleaseState.ONLINE)

    assert await started_with(harness, p, wid, "a", {}) is FailureStrategy.CONTINUE
    assert await started_with(harness, p, wid, "b", {"failure_strategy": "END"}) is FailureStrategy.END

    # one task now says END: only a node attribute changed, yet the version is republished and the schedule updated
    v2 = v1.model_copy(update={"tasks": (says(shell(1), "CONTINUE"), says(shell(2), "END"))})
    deploy = request(v2, "deploy", version_no=2)
    await harness.send(deploy)
    rec2 = await harness.record(deploy.request_id)
    assert rec2.status == "success", rec2.log
    assert "unchanged" not in rec2.log
    assert f"schedule {schedule.id} updated" in rec2.log
    schedule = await ds.get_schedule_of_workflow(p, code)
    assert schedule is not None
    assert (schedule.failure_strategy, schedule.release_state) == (FailureStrategy.END, ReleaseState.ONLINE)
    assert schedule.crontab == "0 0 2 * * ? *"

    assert await started_with(harness, p, wid, "c", None) is FailureStrategy.END
    assert await started_with(harness, p, wid, "d", {"failure_strategy": "CONTINUE"}) is FailureStrategy.CONTINUE


async def test_a_batch_start_gives_each_workflow_its_own_failure_strategy(harness: Harness) -> None:
    assert harness.client is not None
    recs = {}
    for wid, strategy in ((432, "CONTINUE"), (433, "END")):
        req = request(snapshot(wid, [says(shell(1), strategy)]), "online")
        await harness.send(req)
        recs[wid] = await harness.record(req.request_id)
        assert recs[wid].status == "success", recs[wid].log

    async def batch(body: dict[str, Any]) -> dict[int, set[FailureStrategy | None]]:
        assert harness.client is not None
        answer = await harness.client.post("/internal/workflows/batch-run", json={"workflow_ids": [432, 433], **body})
        assert answer.status_code == 200, answer.text
        got: dict[int, set[FailureStrategy | None]] = {}
        for item in answer.json()["results"]:
            p = int(recs[item["workflow_id"]].project_code)
            got[item["workflow_id"]] = {
                (await harness.ds.get_workflow_instance(p, i)).failure_strategy for i in item["instance_ids"]
            }
        return got

    backfill = {"backfill": {"start": "2025-01-01T00:00:00Z", "end": "2025-01-02T00:00:00Z"}, "run_mode": "serial"}
    assert await batch(backfill) == {432: {FailureStrategy.CONTINUE}, 433: {FailureStrategy.END}}
    forced = await batch({**backfill, "failure_strategy": "CONTINUE"})
    assert forced == {432: {FailureStrategy.CONTINUE}, 433: {FailureStrategy.CONTINUE}}


def _plain(value: Any) -> Any:
    return value.name if isinstance(value, Enum) else value


#: DS task field -> the attribute of ``common.dolphin.TaskDefinition`` it is read back into
READ_BACK = {
    "workerGroup": "worker_group",
    "failRetryTimes": "fail_retry_times",
    "failRetryInterval": "fail_retry_interval",
    "timeout": "timeout",
    "timeoutFlag": "timeout_flag",
    "timeoutNotifyStrategy": "timeout_notify_strategy",
    "taskPriority": "task_priority",
    "delayTime": "delay_time",
    "flag": "flag",
    "environmentCode": "environment_code",
    "cpuQuota": "cpu_quota",
    "memoryMax": "memory_max",
}


async def test_every_node_attribute_of_every_task_type_is_held_by_ds(harness: Harness) -> None:
    """The DS emulator stores what it is sent and takes every task type: each node attribute, set away from its
    default on a task of each type, is in the definition DS gives back."""
    assert set(READ_BACK) == set(EXPECTED_FIELDS)
    for name, kind in DATASOURCES:
        harness.emulator.add_datasource(name, kind)
    child = request(snapshot(CHILD_WORKFLOW_ID, [shell(1)]), "deploy")  # what the SUB_WORKFLOW example runs
    await harness.send(child)
    assert (await harness.record(child.request_id)).status == "success"
    kinds = list(TaskType)
    examples = [
        SnapshotTask(
            task_id=i, name=f"{k.lower()}-{i}", task_type=k, params=EXAMPLES[k], node_attrs=NodeAttrs(**NON_DEFAULT)
        )
        for i, k in enumerate(kinds, 1)
    ]
    # each example after one SHELL task and before two (what the CONDITIONS example checks and branches to)
    shells, _ = around(examples[0])
    tasks = [*shells[:3], *examples]
    edges = [e for t in examples for e in around(t)[1]]
    req = request(snapshot(434, tasks, edges), "deploy")
    await harness.send(req)
    rec = await harness.record(req.request_id)
    assert rec.status == "success", rec.log
    dag = await harness.ds.get_workflow_definition(rec.project_code, rec.engine_workflow_code)
    held_types = [t.task_type for t in dag.task_definition_list]
    assert sorted(held_types) == sorted([*kinds, "SHELL", "SHELL", "SHELL"])
    examples_held = [t for t in dag.task_definition_list if not t.name.startswith("t100")]
    assert len(examples_held) == len(kinds)
    for held in examples_held:
        got = {field: _plain(getattr(held, attr)) for field, attr in READ_BACK.items()}
        assert got == EXPECTED_FIELDS, held.task_type
