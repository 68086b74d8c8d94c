"""history-sync on real PostgreSQL and Kafka against the DS emulator (fresh state per test)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select, text, update

from common import deadline
from common.events.models import ExecutionSynced, Topics, WorkflowExecutionFailed, WorkflowRunStarted
from common.events.registry import registry
from common.kafka_access import client_options
from common.testing.kafka_helpers import eventually, read_topic
from common.testing.service import running
from history_sync import service
from history_sync.db.tables import alert_incident, outbox_table, tracked_workflow, workflow_instance_cache
from history_sync.main import create_app

from .conftest import Db, Ds, SettingsFactory, publish_completed, track

pytestmark = pytest.mark.timeout(240)


async def _cache_ids(hdb: Db, workflow_id: int) -> list[int]:
    async with hdb.sessions() as s:
        rows = await s.execute(
            select(workflow_instance_cache.c.instance_id, workflow_instance_cache.c.rank)
            .where(workflow_instance_cache.c.workflow_id == workflow_id)
            .order_by(workflow_instance_cache.c.rank)
        )
        return [r.instance_id for r in rows]


async def _outbox_events(hdb: Db) -> list[Any]:
    async with hdb.sessions() as s:
        rows = (await s.execute(select(outbox_table.c.value).order_by(outbox_table.c.id))).all()
    return [registry.decode(bytes(r.value))[1] for r in rows]


async def _make_due(hdb: Db) -> None:
    async with hdb.sessions() as s, s.begin():
        await s.execute(update(tracked_workflow).values(next_sync_at=func.now()))


async def test_publish_completed_over_kafka_tracks_and_inline_refresh_serves_ds(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, topics: None, kafka_bootstrap: str, topic_prefix: str
) -> None:
    code = await ds.deploy("tracked")
    await ds.online(code)
    first = await ds.run(code)
    await ds.wait_finished(first)
    settings = make_settings(ds.emulator, sync_enabled=False)
    async with running(create_app(settings)) as client:
        event = publish_completed(41, code, ds.project_code, version_id=9001, engine_version=1)
        producer = AIOKafkaProducer(**client_options(kafka_bootstrap))
        await producer.start()
        try:
            envelope = registry.encode(event, source="/services/publisher")
            await producer.send_and_wait(f"{topic_prefix}{Topics.PUBLISH_COMPLETED}", envelope.to_bytes(), key=b"41")
            await producer.send_and_wait(f"{topic_prefix}{Topics.PUBLISH_COMPLETED}", envelope.to_bytes(), key=b"41")
        finally:
            await producer.stop()

        async def tracked() -> bool:
            async with hdb.sessions() as s:
                return (await s.scalar(select(func.count()).select_from(tracked_workflow))) == 1

        await eventually(tracked, timeout_s=60)
        async with hdb.sessions() as s:
            row = (await s.execute(select(tracked_workflow))).one()
        assert (row.id, row.engine_workflow_code, row.project_code, row.release_state) == (
            41, code, ds.project_code, "ONLINE",
        )  # fmt: skip
        assert row.online_since is not None
        assert row.last_synced_at is None

        # never synced -> the first read refreshes inline from DS
        body = (await client.get("/internal/workflows/41/executions")).json()
        assert body["refreshed"] is True
        assert body["stale"] is False
        assert [e["instance_id"] for e in body["executions"]] == [first]
        e = body["executions"][0]
        assert (e["state"], e["command_type"], e["ds_command_type"]) == ("SUCCESS", "manual", "START_PROCESS")
        assert e["engine_version"] == 1
        assert e["platform_version_id"] == 9001  # learned from publish.completed
        assert e["duration"]

        # fresh enough -> served from the cache without calling DS
        second = await ds.run(code)
        await ds.wait_finished(second)
        body = (await client.get("/internal/workflows/41/executions?max_age_seconds=600")).json()
        assert body["refreshed"] is False
        assert [e["instance_id"] for e in body["executions"]] == [first]
        body = (await client.get("/internal/workflows/41/executions?max_age_seconds=0")).json()
        assert body["refreshed"] is True
        assert [e["instance_id"] for e in body["executions"]] == [second, first]

        batch = (await client.get("/internal/workflows/executions?ids=41,999")).json()
        assert batch["unknown_ids"] == [999]
        assert [e["state"] for e in batch["workflows"][0]["executions"]] == ["SUCCESS", "SUCCESS"]
        assert (await client.get("/internal/workflows/999/executions")).status_code == 404

    synced = [ev for ev in await _outbox_events(hdb) if isinstance(ev, ExecutionSynced)]
    assert len(synced) <= 2  # relay may already have taken them; none was written without a change


async def test_cache_keeps_exactly_the_last_10_in_ds_order(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, deps_for: Any
) -> None:
    code = await ds.deploy("twelve")
    await ds.online(code)
    ids = [await ds.run(code) for _ in range(12)]
    for i in ids:
        await ds.wait_finished(i)
    # a long interval: the explicit sync calls below are the only ones in this test
    deps = deps_for(make_settings(ds.emulator, sync_interval_s=300.0, lease_s=60.0))
    await track(hdb.sessions, publish_completed(7, code, ds.project_code))

    report = await service.sync_due_workflows(deps)
    assert (report.result.synced, report.result.failed, report.result.changed) == (1, 0, 1)
    newest_first = list(reversed(ids))
    assert await _cache_ids(hdb, 7) == newest_first[:10]
    page = await ds.rest.list_workflow_instances(ds.project_code, page_size=10, workflow_code=code)
    assert [i.id for i in page.total_list] == newest_first[:10]  # DS order preserved, rank 0 = newest

    # nothing changed in DS -> no write, no event
    await _make_due(hdb)
    report = await service.sync_due_workflows(deps)
    assert (report.result.synced, report.result.changed) == (1, 0)
    events = await _outbox_events(hdb)
    assert [type(e) for e in events] == [ExecutionSynced]

    # a new instance pushes out the oldest
    newer = await ds.run(code)
    await ds.wait_finished(newer)
    await _make_due(hdb)
    report = await service.sync_due_workflows(deps)
    assert report.result.changed == 1
    assert await _cache_ids(hdb, 7) == [newer, *newest_first[:9]]
    events = await _outbox_events(hdb)
    assert len(events) == 2
    last = events[-1]
    assert isinstance(last, ExecutionSynced)
    assert [x.instance_id for x in last.executions] == [newer, *newest_first[:9]]
    assert last.last_execution_state == "SUCCESS"
    async with hdb.sessions() as s:
        row = (await s.execute(select(tracked_workflow))).one()
    assert row.sync_count == 3
    assert row.lease_owner is None
    assert row.next_sync_at > row.last_synced_at


async def _failed_events(bootstrap: str, topic: str, expect: int) -> list[WorkflowExecutionFailed]:
    records = await read_topic(bootstrap, topic, expect=expect, timeout_s=30)
    out = []
    for r in records:
        ev = registry.decode(r.value)[1]
        assert isinstance(ev, WorkflowExecutionFailed)
        out.append(ev)
    return out


async def test_failure_and_streak_alerts_on_the_topic(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, topics: None, kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}{Topics.WORKFLOW_EXECUTION_FAILED}"
    code = await ds.deploy("flaky")
    await ds.online(code)
    ok = await ds.run(code)
    await ds.wait_finished(ok)
    await track(hdb.sessions, publish_completed(5, code, ds.project_code))
    settings = make_settings(ds.emulator, streak_threshold=3, rate_min_finished=10)

    async def cached(*ids: int) -> None:
        async def check() -> bool:
            return (await _cache_ids(hdb, 5))[: len(ids)] == list(ids)

        await eventually(check, timeout_s=20)

    async with running(create_app(settings)):
        await cached(ok)
        one = await ds.run(code, fail=True)
        await ds.wait_finished(one)
        await cached(one, ok)
        events = await _failed_events(kafka_bootstrap, topic, expect=1)
        assert [(e.rule.value, e.instance_id, e.state) for e in events] == [("failure", one, "FAILURE")]

        two = await ds.run(code, fail=True)
        three = await ds.run(code, fail=True)
        await ds.wait_finished(three)
        await cached(three, two, one)
        four = await ds.run(code, fail=True)
        await ds.wait_finished(four)
        await cached(four, three, two, one)
        await asyncio.sleep(settings.sync_interval_s + 0.5)  # one more cycle: nothing new may be emitted

        events = await _failed_events(kafka_bootstrap, topic, expect=6)
        failures = [e for e in events if e.rule.value == "failure"]
        streaks = [e for e in events if e.rule.value == "streak"]
        assert sorted(e.instance_id for e in failures) == sorted([one, two, three, four])
        assert len({e.incident_key for e in failures}) == 4
        assert len(streaks) == 1
        assert streaks[0].incident_key == f"wf5:streak:{one}"
        assert streaks[0].details["streak"] == 3
        assert len(events) == 5

        # recovery closes the incident
        good = await ds.run(code)
        await ds.wait_finished(good)
        await cached(good, four)

        async def closed() -> bool:
            async with hdb.sessions() as s:
                row = (await s.execute(select(alert_incident))).one()
            return row.closed_at is not None

        await eventually(closed, timeout_s=20)
    assert len(await _failed_events(kafka_bootstrap, topic, expect=6)) == 5


async def test_ds_outage_serves_stale_cache_with_age_and_error_then_recovers(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, topics: None
) -> None:
    code = await ds.deploy("outage")
    await ds.online(code)
    first = await ds.run(code)
    await ds.wait_finished(first)
    await track(hdb.sessions, publish_completed(3, code, ds.project_code))
    settings = make_settings(ds.emulator, stale_after_s=1.0)

    async def state() -> Any:
        async with hdb.sessions() as s:
            return (await s.execute(select(tracked_workflow))).one()

    async with running(create_app(settings)) as client:

        async def synced_once() -> bool:
            return (await state()).last_synced_at is not None

        await eventually(synced_once, timeout_s=20)
        ds.emulator.add_fault("http_status", match=r"^/projects/\d+/workflow-instances$", status=503)
        before = await state()

        async def errored() -> bool:
            return (await state()).last_error is not None

        await eventually(errored, timeout_s=20)  # the next cycle failed and says so
        row = await state()
        assert "503" in row.last_error
        assert row.last_synced_at == before.last_synced_at

        await asyncio.sleep(1.1)
        response = await client.get("/internal/workflows/3/executions?max_age_seconds=0")
        assert response.status_code == 200
        body = response.json()
        assert body["refreshed"] is False
        assert body["stale"] is True
        assert body["age_seconds"] > 1.0
        assert "503" in body["last_error"]
        assert body["last_error_at"] is not None
        assert [e["instance_id"] for e in body["executions"]] == [first]

        second = await ds.run(code)  # DS itself works; only its instance list is failing
        ds.emulator.clear_faults()
        await ds.wait_finished(second)

        async def recovered() -> bool:
            row = await state()
            return row.last_error is None and row.last_synced_at > before.last_synced_at

        await eventually(recovered, timeout_s=20)  # the next cycle, without any help
        body = (await client.get("/internal/workflows/3/executions?max_age_seconds=600")).json()
        assert [e["instance_id"] for e in body["executions"]] == [second, first]
        assert body["last_error"] is None


async def test_instance_detail_and_task_log_paging(hdb: Db, ds: Ds, make_settings: SettingsFactory) -> None:
    # one script line: the emulator logs a multi-line script as one entry, a real DS (file lines) would not
    code = await ds.deploy("detail", script="echo one; echo two")
    await ds.online(code)
    instance_id = await ds.run(code)
    await ds.wait_finished(instance_id)
    await track(hdb.sessions, publish_completed(11, code, ds.project_code))
    settings = make_settings(ds.emulator, sync_enabled=False)
    async with running(create_app(settings)) as client:
        body = (await client.get(f"/internal/instances/{instance_id}?workflow_id=11")).json()
        assert body["instance"]["state"] == "SUCCESS"
        assert body["instance"]["project_code"] == ds.project_code
        [task] = body["tasks"]
        assert task["name"] == "only"
        assert task["state"] == "SUCCESS"
        by_project = await client.get(f"/internal/instances/{instance_id}?project_code={ds.project_code}")
        assert by_project.json()["instance"]["id"] == instance_id
        assert (await client.get(f"/internal/instances/{instance_id}")).status_code == 422  # not cached yet
        missing = await client.get(f"/internal/instances/999999?project_code={ds.project_code}")
        assert missing.status_code == 404

        whole = await ds.rest.read_task_log(task["id"])
        pieces, skip = [], 0
        while True:
            page = (await client.get(f"/internal/task-instances/{task['id']}/log?skip_line_num={skip}&limit=2")).json()
            pieces.append(page["message"])
            assert page["next_skip_line_num"] == skip + page["line_count"]
            skip = page["next_skip_line_num"]
            if page["complete"]:
                break
        assert page["dispatched"] is True
        assert "".join(pieces) == whole
        assert skip == whole.count("\n")
        assert skip >= 5
        ds_window = await ds.rest.get_task_log(task["id"], skip_line_num=0, limit=2)
        assert ds_window.line_num != 2  # DS's lineNum counts CRLF pieces: it cannot be used to page


async def test_the_log_of_a_task_no_worker_has_taken_yet_is_an_empty_page_not_an_error(
    hdb: Db, ds: Ds, make_settings: SettingsFactory
) -> None:
    """Right after run now DS answers 10191 "task instance host is null" for the log: not an error to the user."""
    ds.emulator.configure(submitDelaySeconds=0.0, dispatchDelaySeconds=30.0, taskDurationSeconds=120.0)
    try:
        code = await ds.deploy("queued")
        await ds.online(code)
        instance_id = await ds.run(code)
        await track(hdb.sessions, publish_completed(12, code, ds.project_code))
        async with running(create_app(make_settings(ds.emulator, sync_enabled=False))) as client:
            [task] = (await client.get(f"/internal/instances/{instance_id}?workflow_id=12")).json()["tasks"]
            r = await client.get(f"/internal/task-instances/{task['id']}/log?workflow_id=12&skip_line_num=3")
            assert r.status_code == 200, r.text
            page = r.json()
            assert page["dispatched"] is False
            assert (page["message"], page["line_count"], page["complete"]) == ("", 0, False)
            assert page["next_skip_line_num"] == 3  # the next try asks for the same window
    finally:
        ds.emulator.configure(dispatchDelaySeconds=0.02)


async def test_sql_claim_skips_offline_workflows_past_the_grace(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, deps_for: Any
) -> None:
    code = await ds.deploy("old")
    await ds.online(code)
    await track(hdb.sessions, publish_completed(1, code, ds.project_code))
    await track(hdb.sessions, publish_completed(2, code, ds.project_code))
    async with hdb.sessions() as s, s.begin():
        await s.execute(
            text(
                "UPDATE tracked_workflow SET release_state = 'OFFLINE', offline_at = now() - interval '8 days' "
                "WHERE id = 2"
            )
        )
    deps = deps_for(make_settings(ds.emulator, sync_interval_s=300.0, lease_s=60.0))
    report = await service.sync_due_workflows(deps)
    assert report.result.synced == 1
    assert await _cache_ids(hdb, 2) == []


async def test_instance_and_log_belong_to_the_workflow_in_the_path(
    hdb: Db, ds: Ds, make_settings: SettingsFactory
) -> None:
    mine = await ds.deploy("mine")
    other = await ds.deploy("other")
    for code in (mine, other):
        await ds.online(code)
    run = await ds.run(mine)
    await ds.wait_finished(run)
    await track(hdb.sessions, publish_completed(21, mine, ds.project_code))
    await track(hdb.sessions, publish_completed(22, other, ds.project_code))
    settings = make_settings(ds.emulator, sync_enabled=False)
    async with running(create_app(settings)) as client:
        ok = await client.get(f"/internal/instances/{run}?workflow_id=21")
        assert ok.status_code == 200
        [task] = ok.json()["tasks"]
        # workflow 22's URL never shows workflow 21's run, nor its logs
        wrong = await client.get(f"/internal/instances/{run}?workflow_id=22")
        assert wrong.status_code == 404
        assert "is not a run of workflow 22" in wrong.json()["detail"]
        log = f"/internal/task-instances/{task['id']}/log"
        assert (await client.get(f"{log}?workflow_id=22&instance_id={run}")).status_code == 404
        assert (await client.get(f"{log}?workflow_id=22")).status_code == 404
        assert (await client.get(f"{log}?workflow_id=404404")).status_code == 404
        assert (await client.get(f"{log}?workflow_id=21&instance_id={run}")).status_code == 200
        # without the run: found among the workflow's last runs, also before the cache holds them (run now, then
        # the log: found by the lifecycle state machine), and as well once they are synced
        assert await _cache_ids(hdb, 21) == []
        assert (await client.get(f"{log}?workflow_id=21")).status_code == 200
        assert (await client.get("/internal/workflows/21/executions?max_age_seconds=0")).status_code == 200
        assert await _cache_ids(hdb, 21) == [run]
        assert (await client.get(f"{log}?workflow_id=21")).status_code == 200
        assert (await client.get(f"{log}?workflow_id=22")).status_code == 404


async def test_a_started_run_makes_the_next_read_refresh(
    hdb: Db, ds: Ds, make_settings: SettingsFactory, topics: None, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """workflow.run.started marks the cache stale: the next read (any max age) shows the new run at once."""
    code = await ds.deploy("ran")
    await ds.online(code)
    await track(hdb.sessions, publish_completed(51, code, ds.project_code))
    settings = make_settings(ds.emulator, sync_enabled=False, stale_after_s=3600.0)
    async with running(create_app(settings)) as client:
        assert (await client.get("/internal/workflows/51/executions")).json()["executions"] == []
        # fresh now: a read within the hour does not go to DS …
        instance = await ds.run(code)
        assert (await client.get("/internal/workflows/51/executions")).json()["executions"] == []
        # … until the publisher says a run started
        event = WorkflowRunStarted(
            workflow_id=51,
            run_id=1,
            instance_ids=(instance,),
            project_code=ds.project_code,
            engine_workflow_code=code,
            operator="ann",
            started_at=datetime.now(UTC),
        )
        producer = AIOKafkaProducer(**client_options(kafka_bootstrap))
        await producer.start()
        try:
            envelope = registry.encode(event, source="/services/publisher")
            await producer.send_and_wait(f"{topic_prefix}{Topics.WORKFLOW_RUN_STARTED}", envelope.to_bytes())
        finally:
            await producer.stop()

        async def shows_the_run() -> bool:
            body = (await client.get("/internal/workflows/51/executions")).json()
            return [e["instance_id"] for e in body["executions"]] == [instance]

        await eventually(shows_the_run, timeout_s=30)
        await ds.wait_finished(instance)
        # the run was still going at that sync: its end shows within seconds, not after the hour
        await asyncio.sleep(settings.running_stale_after_s + 0.2)
        body = (await client.get("/internal/workflows/51/executions")).json()
        assert body["executions"][0]["state"] == "SUCCESS"


async def test_a_slow_ds_is_answered_with_the_stale_cache_within_the_callers_deadline(
    hdb: Db, ds: Ds, make_settings: SettingsFactory
) -> None:
    code = await ds.deploy("slow")
    await ds.online(code)
    first = await ds.run(code)
    await ds.wait_finished(first)
    await track(hdb.sessions, publish_completed(52, code, ds.project_code))
    settings = make_settings(ds.emulator, sync_enabled=False)
    async with running(create_app(settings)) as client:
        assert (await client.get("/internal/workflows/52/executions")).json()["refreshed"] is True
        ds.emulator.add_fault("hang", match=r"/workflow-instances$", hangSeconds=30)
        # DS hangs for 30 s; the caller gives 1.5 s: the refresh is cut at the deadline and the cache answers
        r = await client.get("/internal/workflows/52/executions?max_age_seconds=0", headers={deadline.HEADER: "1500"})
        ds.emulator.clear_faults()
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["refreshed"], body["stale"]) == (False, True)
        assert "deadline" in body["last_error"]
        assert [e["instance_id"] for e in body["executions"]] == [first]
