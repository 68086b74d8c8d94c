"""Run now against the DS emulator: one DS instance per idempotency key, one open run per workflow, and a run whose
answer DS did not give in time reconciled against DS's instances (never started twice)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from common import deadline
from common.events import registry
from common.events.models import Topics, WorkflowRunStarted
from common.testing.identity import auth_headers
from common.testing.kafka_helpers import read_topic
from publisher.db.tables import run_request

from .conftest import Harness, request, shell, snapshot

pytestmark = pytest.mark.timeout(180)


async def deployed_online(harness: Harness, workflow_id: int) -> tuple[int, int]:
    """Publish a one-task workflow online; (project code, DS workflow code)."""
    req = request(snapshot(workflow_id, [shell(1)]), "online")
    await harness.send(req)
    record = await harness.record(req.request_id)
    assert record.status == "success", record.log
    return int(record.project_code), int(record.engine_workflow_code)


async def instances(harness: Harness, project: int, code: int) -> list[int]:
    page = await harness.ds.list_workflow_instances(project, page_size=50, workflow_code=code)
    return sorted(i.id for i in page.total_list)


def run(
    client: httpx.AsyncClient, wid: int, key: str | None = None, body: Any = None, actor: str = "ann", **headers: str
) -> Any:
    sent = {**auth_headers("publisher", actor, ("publisher",)), **headers}
    if key is not None:
        sent["Idempotency-Key"] = key
    return client.post(f"/internal/workflows/{wid}/run", json=body, headers=sent)


async def test_the_same_key_starts_ds_once_and_answers_the_same(harness: Harness) -> None:
    client = harness.client
    assert client is not None
    project, code = await deployed_online(harness, 301)
    first = await run(client, 301, "click-1")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["state"] == "started"
    assert body["replayed"] is False
    [instance] = body["instance_ids"]
    again = await run(client, 301, "click-1")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.json()["run_id"], again.json()["instance_ids"]) == (body["run_id"], [instance])
    assert await instances(harness, project, code) == [instance]
    # the key belongs to that request: another body under it is refused, and nothing starts
    reused = await run(client, 301, "click-1", {"start_params": {"dt": "2025-01-01"}})
    assert reused.status_code == 422
    assert reused.json()["type"] == "/problems/idempotency-key-reused"
    # a key is its caller's: another caller's same key is another run
    other = await run(client, 301, "click-1", actor="bob")
    assert other.status_code == 200
    assert other.json()["run_id"] != body["run_id"]
    assert len(await instances(harness, project, code)) == 2
    # history-sync learns of each run from workflow.run.started
    raw = await read_topic(harness.bootstrap, harness.settings.topic(Topics.WORKFLOW_RUN_STARTED), expect=2)
    events = [registry.decode(r.value)[1] for r in raw]
    assert all(isinstance(e, WorkflowRunStarted) for e in events)
    assert next(e.instance_ids for e in events if isinstance(e, WorkflowRunStarted)) == (instance,)
    got = await client.get(f"/internal/workflows/301/runs/{body['run_id']}")
    assert got.json()["state"] == "started"
    assert (await client.get(f"/internal/workflows/999/runs/{body['run_id']}")).status_code == 404


async def test_a_refused_start_is_answered_the_same_again(harness: Harness) -> None:
    client = harness.client
    assert client is not None
    await deployed_online(harness, 302)
    harness.emulator.add_fault(
        "ds_error", match=r"/executors/start-workflow-instance$", dsCode=50014, dsMsg="start workflow instance error"
    )
    first = await run(client, 302, "k")
    assert first.status_code >= 400
    harness.emulator.clear_faults()
    again = await run(client, 302, "k")
    assert (again.status_code, again.json()["detail"]) == (first.status_code, first.json()["detail"])
    assert again.json()["type"] == first.json()["type"]
    # a failed run is closed: a new key runs
    assert (await run(client, 302, "k2")).status_code == 200
    assert (await run(client, 404404, "k3")).json()["type"] == "/problems/not-deployed"


async def test_an_unanswered_start_is_reconciled_and_never_started_twice(harness: Harness) -> None:
    """DS stalls on the start, then creates the instance after the caller's deadline: 202 "unknown", a second click
    is refused while the outcome is checked, and the reconciler finds the instance."""
    client = harness.client
    assert client is not None
    project, code = await deployed_online(harness, 303)
    harness.emulator.add_fault("latency", match=r"/executors/start-workflow-instance$", latencyMs=4000, times=1)
    # DS answers after 4 s; the caller gives 2.5 s: the publisher cuts its call at the deadline (less its reserve)
    # and says it does not know yet, instead of answering after DS (a speed is a benchmark's, not a test's business)
    first = await run(client, 303, "slow", **{deadline.HEADER: "2500"})
    assert first.status_code == 202, first.text
    assert first.json()["state"] == "unknown"
    run_id = first.json()["run_id"]
    second = await run(client, 303, "impatient")
    assert second.status_code == 409
    assert second.json()["type"] == "/problems/run-in-progress"
    assert second.json()["run_id"] == run_id

    async def settled() -> Any:
        r = (await client.get(f"/internal/workflows/303/runs/{run_id}")).json()
        return r if r["state"] != "unknown" else None

    result = await _until(settled, timeout_s=30)
    assert result["state"] == "started"
    assert await instances(harness, project, code) == result["instance_ids"]
    replay = await run(client, 303, "slow")
    assert (replay.status_code, replay.json()["instance_ids"]) == (200, result["instance_ids"])


async def test_a_start_that_never_reached_ds_ends_not_started(harness: Harness) -> None:
    client = harness.client
    assert client is not None
    project, code = await deployed_online(harness, 304)
    harness.emulator.add_fault("drop", match=r"/executors/start-workflow-instance$", times=1)
    first = await run(client, 304, "lost")
    assert first.status_code == 202, first.text
    run_id = first.json()["run_id"]
    async with harness.sessions() as s, s.begin():
        await s.execute(run_request.update().where(run_request.c.id == run_id).values(reconcile_until=_now()))

    async def settled() -> Any:
        r = (await client.get(f"/internal/workflows/304/runs/{run_id}")).json()
        return r if r["state"] != "unknown" else None

    assert (await _until(settled, timeout_s=30))["state"] == "not_started"
    assert await instances(harness, project, code) == []
    replay = await run(client, 304, "lost")
    assert replay.status_code == 409
    assert replay.json()["type"] == "/problems/run-not-started"
    assert (await run(client, 304, "again")).status_code == 200
    async with harness.sessions() as s:
        states = [r.state for r in (await s.execute(select(run_request.c.state).order_by(run_request.c.id))).all()]
    assert states == ["not_started", "started"]


def _now() -> datetime:
    return datetime.now(UTC)


async def _until(check: Any, *, timeout_s: float) -> Any:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError("not settled in time")


async def test_a_run_names_the_trace_of_the_request_that_asked_for_it(harness: Harness) -> None:
    """The portal links a run's instances to the trace of the request that started it: recorded traces only."""
    client = harness.client
    assert client is not None
    await deployed_online(harness, 311)
    recorded, unrecorded = "4bf92f3577b34da6a3ce929d0e0e4736", "5cf92f3577b34da6a3ce929d0e0e4737"
    first = await run(client, 311, "trace-1", traceparent=f"00-{unrecorded}-00f067aa0ba902b7-00")
    assert first.status_code == 200, first.text
    assert first.json()["trace_id"] is None
    second = await run(client, 311, "trace-2", traceparent=f"00-{recorded}-00f067aa0ba902b7-01")
    assert second.status_code == 200, second.text
    assert second.json()["trace_id"] == recorded
    listed = await client.get("/internal/workflows/311/runs", params={"limit": 5})
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(r["run_id"], r["trace_id"]) for r in items] == [
        (second.json()["run_id"], recorded),
        (first.json()["run_id"], None),
    ]
    assert items[0]["instance_ids"] == second.json()["instance_ids"]
    assert (await client.get("/internal/workflows/311/runs", params={"limit": 0})).status_code == 422


async def test_run_now_with_a_schedule_time_warning_type_and_worker_group(harness: Harness) -> None:
    """Run now's options reach DS as the contract says: the schedule time as a backfill of that one date (DS reads
    ``scheduleTime`` only for COMPLEMENT_DATA), the warning type and the worker group as given."""
    client = harness.client
    assert client is not None
    project, code = await deployed_online(harness, 321)
    body = {"schedule_time": "2025-03-04T05:06:07.890+08:00", "warning_type": "FAILURE", "worker_group": "etl"}
    answer = await run(client, 321, "opts", body)
    assert answer.status_code == 200, answer.text
    [instance_id] = answer.json()["instance_ids"]
    instance = await harness.ds.get_workflow_instance(project, instance_id)
    assert instance.workflow_definition_code == code
    assert instance.command_type == "COMPLEMENT_DATA"
    assert instance.schedule_time == datetime(2025, 3, 3, 21, 6, 7, tzinfo=UTC)  # UTC, whole seconds
    assert (instance.warning_type, instance.worker_group) == ("FAILURE", "etl")
    # without options: a plain start, no alert, the configured worker group
    plain = await run(client, 321, "plain")
    [plain_id] = plain.json()["instance_ids"]
    instance = await harness.ds.get_workflow_instance(project, plain_id)
    assert (instance.command_type, instance.warning_type, instance.worker_group) == ("START_PROCESS", "NONE", "default")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule_time": "yesterday"}, "body.schedule_time"),
        ({"warning_type": "LOUD"}, "body.warning_type"),
        ({"worker_group": " etl"}, "body.worker_group"),
        ({"worker_group": ""}, "body.worker_group"),
        ({"schedule": "2025-01-01"}, "body.schedule"),
    ],
)
async def test_bad_run_options_are_refused_naming_the_field(harness: Harness, body: Any, field: str) -> None:
    client = harness.client
    assert client is not None
    answer = await run(client, 322, None, body)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"] == "/problems/validation-failed"
    assert problem["errors"][0]["location"] == field
    assert problem["detail"].startswith(field)


async def test_an_unanswered_start_with_a_schedule_time_is_found_as_its_backfill(harness: Harness) -> None:
    """The reconciler knows a run with a schedule time by its COMPLEMENT_DATA instance of that time (a plain start of
    the workflow in between is not it)."""
    client = harness.client
    assert client is not None
    project, code = await deployed_online(harness, 323)
    harness.emulator.add_fault("latency", match=r"/executors/start-workflow-instance$", latencyMs=4000, times=1)
    body = {"schedule_time": "2025-02-01T00:00:00Z"}
    first = await run(client, 323, "slow-dated", body, **{deadline.HEADER: "2500"})
    assert first.status_code == 202, first.text
    run_id = first.json()["run_id"]
    other = await harness.ds.start_workflow_instance(project, code)  # someone starts it in DS meanwhile

    async def settled() -> Any:
        r = (await client.get(f"/internal/workflows/323/runs/{run_id}")).json()
        return r if r["state"] != "unknown" else None

    result = await _until(settled, timeout_s=30)
    assert result["state"] == "started"
    [found] = result["instance_ids"]
    assert found not in other
    instance = await harness.ds.get_workflow_instance(project, found)
    assert (instance.command_type, instance.schedule_time) == ("COMPLEMENT_DATA", datetime(2025, 2, 1, tzinfo=UTC))
