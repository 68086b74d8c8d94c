"""A task's OpenLineage job identity (issue 21 item 2): set on registration, on edit or alone, validated (422 naming
the field), one task per job (409 naming the task that has it), recorded with the task or not at all, and published
through the outbox as ``platform.task.openlineage_job.set`` on ``task.openlineage-job.set`` (keyed by the task)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from common.events import Topics
from common.testing.kafka_helpers import read_topic
from definition.config import Settings

from .conftest import shell_task, uid

JOB_SET = "platform.task.openlineage_job.set"


async def create(client: httpx.AsyncClient, status: int, **extra: Any) -> dict[str, Any]:
    r = await client.post("/internal/tasks", json=shell_task(**extra))
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


async def update(client: httpx.AsyncClient, task: dict[str, Any], status: int, **change: Any) -> dict[str, Any]:
    body = {k: task[k] for k in ("name", "task_type", "description", "params", "worker_group", "owner")}
    r = await client.put(
        f"/internal/tasks/{task['id']}", json={**body, "expected_revision": task["revision"], **change}
    )
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


async def job_events(settings: Settings, task_ids: set[int], expect: int) -> list[dict[str, Any]]:
    """The identity events of ``task_ids`` on lineage.changed, in the order of their partition, with their keys."""

    def mine(records: list[Any]) -> list[dict[str, Any]]:
        out = []
        for r in records:
            envelope = json.loads(r.value)
            if envelope["type"] == JOB_SET and envelope["data"]["task_id"] in task_ids:
                out.append({**envelope["data"], "key": r.key.decode()})
        return out

    records = await read_topic(
        settings.kafka_bootstrap_servers,
        settings.topic(Topics.TASK_OPENLINEAGE_JOB_SET),
        expect=10_000,
        timeout_s=20,
        until=lambda rs: len(mine(rs)) >= expect,
    )
    return mine(records)


async def test_a_task_is_registered_with_its_job_and_edited_and_every_change_is_an_event(
    client: httpx.AsyncClient, module_settings: Settings
) -> None:
    s = uid()
    job = {"namespace": f"spark://c-{s}", "name": f"load_{s}"}
    task = await create(client, 201, openlineage_job={"namespace": f"  {job['namespace']} ", "name": job["name"]})
    assert task["openlineage_job"] == job  # blanks around are dropped
    tid = task["id"]
    assert (await client.get(f"/internal/tasks/{tid}")).json()["openlineage_job"] == job
    listed = (await client.get("/internal/tasks", params={"ids": str(tid)})).json()["items"]
    assert [t["openlineage_job"] for t in listed] == [job]
    plain = await create(client, 201)
    assert plain["openlineage_job"] is None
    assert (await client.get("/internal/tasks", params={"ids": str(plain["id"])})).json()["items"][0][
        "openlineage_job"
    ] is None

    # an edit that leaves the field out keeps the identity (and sends nothing)
    kept = await update(client, task, 200, description="kept")
    assert kept["openlineage_job"] == job
    moved = {"namespace": job["namespace"], "name": f"load_v2_{s}"}
    changed = await update(client, kept, 200, openlineage_job=moved)
    assert changed["openlineage_job"] == moved
    cleared = await update(client, changed, 200, openlineage_job=None)
    assert cleared["openlineage_job"] is None
    # alone: PUT sets it (a new task revision), the same PUT again changes nothing, DELETE clears it, twice is 404
    r = await client.put(f"/internal/tasks/{tid}/openlineage-job", json=job)
    assert r.status_code == 200, r.text
    assert r.json()["openlineage_job"] == job
    assert r.json()["revision"] == cleared["revision"] + 1
    again = await client.put(f"/internal/tasks/{tid}/openlineage-job", json=job)
    assert again.json()["revision"] == r.json()["revision"]
    assert (await client.delete(f"/internal/tasks/{tid}/openlineage-job")).status_code == 204
    gone = await client.delete(f"/internal/tasks/{tid}/openlineage-job")
    assert gone.status_code == 404, gone.text
    assert (await client.put("/internal/tasks/999999999/openlineage-job", json=job)).status_code == 404

    # a task deleted with its identity: the job is free again (a last event clears it)
    doomed = await create(client, 201, openlineage_job=job)
    assert (await client.delete(f"/internal/tasks/{doomed['id']}")).status_code == 204
    reborn = await create(client, 201, openlineage_job=job)

    events = await job_events(module_settings, {tid, plain["id"], doomed["id"], reborn["id"]}, expect=8)
    by_task = {t: [(e["job"], e["key"]) for e in events if e["task_id"] == t] for t in (doomed["id"], reborn["id"])}
    assert by_task == {
        doomed["id"]: [(job, str(doomed["id"])), (None, str(doomed["id"]))],
        reborn["id"]: [(job, str(reborn["id"]))],
    }
    events = [e for e in events if e["task_id"] == tid]
    assert [(e["task_id"], e["job"], e["key"]) for e in events] == [
        (tid, job, str(tid)),
        (tid, moved, str(tid)),
        (tid, None, str(tid)),
        (tid, job, str(tid)),
        (tid, None, str(tid)),
    ]
    revisions = [e["revision"] for e in events]
    assert revisions == sorted(revisions)
    assert len(set(revisions)) == 5
    assert {e["set_by"] for e in events} != {""}


async def test_a_job_is_one_tasks_and_a_refused_save_writes_nothing(client: httpx.AsyncClient) -> None:
    s = uid()
    job = {"namespace": "airflow", "name": f"dag.load_{s}"}
    owner = await create(client, 201, openlineage_job=job)

    name = f"second-{s}"
    r = await client.post("/internal/tasks", json=shell_task(name, openlineage_job=job))
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["type"] == "/problems/openlineage-job-taken"
    assert problem["task_id"] == owner["id"]
    assert f"task {owner['id']}" in problem["detail"]
    assert "openlineage_job" in problem["detail"]
    assert (await client.get("/internal/tasks", params={"name": name})).json()["total"] == 0  # not created

    other = await create(client, 201, openlineage_job={"namespace": "airflow", "name": f"dag.other_{s}"})
    r = await client.put(
        f"/internal/tasks/{other['id']}",
        json={**shell_task(f"renamed-{s}"), "expected_revision": other["revision"], "openlineage_job": job},
    )
    assert r.status_code == 409, r.text
    assert r.json()["task_id"] == owner["id"]
    after = (await client.get(f"/internal/tasks/{other['id']}")).json()
    # neither the rename nor the identity: the edit was refused as a whole
    assert (after["name"], after["revision"], after["openlineage_job"]["name"]) == (
        other["name"],
        other["revision"],
        f"dag.other_{s}",
    )
    r = await client.put(f"/internal/tasks/{other['id']}/openlineage-job", json=job)
    assert r.status_code == 409
    assert r.json()["task_id"] == owner["id"]

    # once the owner lets it go, the job can move
    assert (await client.delete(f"/internal/tasks/{owner['id']}/openlineage-job")).status_code == 204
    r = await client.put(f"/internal/tasks/{other['id']}/openlineage-job", json=job)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("job", "field"),
    [
        ({"namespace": "  ", "name": "x"}, "openlineage_job.namespace"),
        ({"namespace": "spark", "name": ""}, "openlineage_job.name"),
        ({"namespace": "spark", "name": "x" * 1025}, "openlineage_job.name"),
        ({"namespace": "spark"}, "openlineage_job.name"),
        ("spark/load", "openlineage_job"),
    ],
)
async def test_a_bad_job_is_422_naming_the_field_and_nothing_is_saved(
    client: httpx.AsyncClient, job: Any, field: str
) -> None:
    name = f"bad-{uid()}"
    r = await client.post("/internal/tasks", json=shell_task(name, openlineage_job=job))
    assert r.status_code == 422, r.text
    assert field in r.text
    assert (await client.get("/internal/tasks", params={"name": name})).json()["total"] == 0
    task = await create(client, 201)
    r = await client.put(f"/internal/tasks/{task['id']}/openlineage-job", json=job)
    assert r.status_code == 422, r.text


async def test_concurrent_registrations_of_one_job_give_it_to_one_task_and_409_to_the_others(
    client: httpx.AsyncClient,
) -> None:
    s = uid()
    job = {"namespace": "dbt", "name": f"model.race_{s}"}
    answers = await asyncio.gather(
        *(client.post("/internal/tasks", json=shell_task(f"race-{s}-{i}", openlineage_job=job)) for i in range(6))
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409, 409], [r.text for r in answers]
    winner = next(r.json()["id"] for r in answers if r.status_code == 201)
    assert {r.json()["task_id"] for r in answers if r.status_code == 409} == {winner}
    assert (await client.get("/internal/tasks", params={"name": f"race-{s}"})).json()["total"] == 1
