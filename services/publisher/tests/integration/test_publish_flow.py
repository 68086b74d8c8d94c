"""End to end through Kafka: publish.requested → publisher → DS emulator → record + publish.completed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from common.dolphin import ReleaseState
from common.events.models import PublishOutcome

from .conftest import Harness, gateway_calls, request, shell, snapshot, sql

pytestmark = pytest.mark.timeout(180)


async def test_deploy_through_kafka_writes_ds_record_and_completed_event(harness: Harness) -> None:
    datasource = harness.emulator.add_datasource("warehouse", "POSTGRESQL")
    snap = snapshot(101, [shell(1, "echo extract"), shell(2, "echo load"), sql(3)], [(1, 2), (1, 3)])
    req = request(snap, "deploy")
    await harness.send(req)

    rec = await harness.record(req.request_id)
    assert rec.status == "success", rec.log
    assert rec.operation == "deploy"
    assert rec.engine_workflow_code is not None
    assert rec.engine_version == 1
    assert rec.release_state == "OFFLINE"
    assert "createOrUpdateWorkflow" in rec.log
    assert "read back" in rec.log

    dag = await harness.ds.get_workflow_definition(rec.project_code, rec.engine_workflow_code)
    assert dag.workflow_definition.name == snap.workflow_name
    assert dag.workflow_definition.release_state is ReleaseState.OFFLINE
    by_name = {t.name: t for t in dag.task_definition_list}
    assert set(by_name) == {"task-1", "task-2", "sql-3"}
    assert by_name["task-1"].task_params["rawScript"] == "echo extract"
    assert by_name["sql-3"].task_type == "SQL"
    assert by_name["sql-3"].task_params["datasource"] == datasource["id"]
    c1, c2, c3 = (by_name[n].code for n in ("task-1", "task-2", "sql-3"))
    assert dag.edges() == {(0, c1), (c1, c2), (c1, c3)}

    [done] = await harness.completed(1)
    assert done.outcome is PublishOutcome.SUCCESS
    assert done.request_id == req.request_id
    assert done.record_id == rec.id
    assert done.engine_workflow_code == rec.engine_workflow_code
    assert done.engine_version == 1
    assert done.project_code == rec.project_code
    assert done.release_state == "OFFLINE"
    # each task's code in the definition DS holds (read back from the emulator above), for links to its node
    assert {c.task_id: c.ds_task_code for c in done.task_codes or ()} == {1: c1, 2: c2, 3: c3}

    assert harness.client is not None
    engine = (await harness.client.get("/internal/workflows/101/engine")).json()
    assert engine["workflow_code"] == rec.engine_workflow_code
    assert engine["ds_link"].endswith(
        f"/ui/projects/{rec.project_code}/workflow/definitions/{rec.engine_workflow_code}"
    )
    page = (await harness.client.get("/internal/workflows/101/publish-records", params={"page_size": 5})).json()
    assert page["total"] == 1
    assert page["items"][0]["status"] == "success"
    one = (await harness.client.get(f"/internal/publish-records/{rec.id}")).json()
    assert one["request_id"] == str(req.request_id)


async def test_same_request_delivered_twice_publishes_once(harness: Harness) -> None:
    snap = snapshot(102, [shell(1), shell(2)], [(1, 2)])
    req = request(snap, "deploy")
    before = gateway_calls("createOrUpdateWorkflow")
    event_id = await harness.send(req)
    await harness.send(req, event_id=event_id)  # the same event again (inbox)
    await harness.send(req)  # the same request under a new event id (request_id unique)
    rec = await harness.record(req.request_id)
    assert rec.status == "success"
    await asyncio.sleep(1.5)  # let the duplicates arrive and be dropped
    assert len(await harness.records()) == 1
    assert gateway_calls("createOrUpdateWorkflow") - before == 1
    assert len(await harness.completed(2, timeout_s=3)) == 1


async def test_unchanged_definition_is_skipped_without_calling_ds(harness: Harness) -> None:
    snap = snapshot(103, [shell(1), shell(2)], [(1, 2)])
    first = request(snap, "deploy", version_no=1)
    await harness.send(first)
    rec1 = await harness.record(first.request_id)
    assert rec1.status == "success"
    calls = {m: gateway_calls(m) for m in ("createOrUpdateWorkflow", "genTaskCodeList", "createOrGrantProject")}

    again = request(snap, "deploy", version_no=2)  # a new version with the same structure
    await harness.send(again)
    rec2 = await harness.record(again.request_id)
    assert rec2.status == "skipped_unchanged"
    assert "nothing sent" in rec2.log
    assert rec2.engine_workflow_code == rec1.engine_workflow_code
    assert {m: gateway_calls(m) for m in calls} == calls
    dag = await harness.ds.get_workflow_definition(rec1.project_code, rec1.engine_workflow_code)
    assert dag.workflow_definition.version == 1
    outcomes = [e.outcome for e in await harness.completed(2)]
    assert outcomes == [PublishOutcome.SUCCESS, PublishOutcome.SKIPPED_UNCHANGED]


async def test_online_schedule_survives_redeploy_and_offline(harness: Harness) -> None:
    ds = harness.ds
    v1 = snapshot(104, [shell(1), shell(2)], [(1, 2)], cron="0 0 2 * * ? *")
    online = request(v1, "online", version_no=1)
    await harness.send(online)
    rec = await harness.record(online.request_id)
    assert rec.status == "success", rec.log
    p, code = rec.project_code, rec.engine_workflow_code
    assert rec.release_state == "ONLINE"
    schedule = await ds.get_schedule_of_workflow(p, code)
    assert schedule is not None
    assert schedule.release_state is ReleaseState.ONLINE
    assert schedule.crontab == "0 0 2 * * ? *"

    # deploy of a changed version: DS takes the workflow and schedule offline; the publisher restores both
    v2 = v1.model_copy(update={"tasks": (shell(1), shell(2, "echo v2"), shell(3)), "edges": v1.edges})
    deploy = request(v2, "deploy", version_no=2)
    await harness.send(deploy)
    rec2 = await harness.record(deploy.request_id)
    assert rec2.status == "success", rec2.log
    assert "restoring the ONLINE state" in rec2.log
    dag = await ds.get_workflow_definition(p, code)
    assert dag.workflow_definition.release_state is ReleaseState.ONLINE
    assert dag.workflow_definition.version == 2
    assert len(dag.task_definition_list) == 3
    schedule = await ds.get_schedule_of_workflow(p, code)
    assert schedule is not None
    assert schedule.release_state is ReleaseState.ONLINE

    # online with a new cron: the schedule is updated (offline first) and back online
    v3 = v2.model_copy(update={"schedule": v2.schedule.model_copy(update={"crontab": "0 15 4 * * ? *"})})  # type: ignore[union-attr]
    again = request(v3, "online", version_no=3)
    await harness.send(again)
    rec3 = await harness.record(again.request_id)
    assert rec3.status == "success", rec3.log
    schedule = await ds.get_schedule_of_workflow(p, code)
    assert schedule is not None
    assert schedule.crontab == "0 15 4 * * ? *"
    assert schedule.release_state is ReleaseState.ONLINE

    off = request(v3, "offline", version_no=3)
    await harness.send(off)
    rec4 = await harness.record(off.request_id)
    assert rec4.status == "success", rec4.log
    assert (await ds.get_workflow_definition(p, code)).workflow_definition.release_state is ReleaseState.OFFLINE
    schedule = await ds.get_schedule_of_workflow(p, code)
    assert schedule is not None
    assert schedule.release_state is ReleaseState.OFFLINE
    events = await harness.completed(4)
    assert [e.release_state for e in events] == ["ONLINE", "ONLINE", "ONLINE", "OFFLINE"]


async def test_run_now_and_batch_start_return_ds_instances(harness: Harness) -> None:
    assert harness.client is not None
    client = harness.client
    response = await client.post("/internal/workflows/105/run", json={})
    assert response.status_code == 409
    assert "not been deployed" in response.json()["detail"]

    recs = []
    for wid in (105, 106):
        req = request(snapshot(wid, [shell(1), shell(2)], [(1, 2)]), "online")
        await harness.send(req)
        recs.append(await harness.record(req.request_id))
    assert [r.status for r in recs] == ["success", "success"]

    response = await client.post(
        "/internal/workflows/105/run", json={"start_params": {"dt": "2025-01-01"}, "failure_strategy": "CONTINUE"}
    )
    assert response.status_code == 200, response.text
    [instance_id] = response.json()["instance_ids"]
    instance = await harness.ds.get_workflow_instance(recs[0].project_code, instance_id)
    assert instance.workflow_definition_code == recs[0].engine_workflow_code

    response = await client.post(
        "/internal/workflows/batch-run",
        json={
            "workflow_ids": [105, 106],
            "backfill": {"start": "2025-01-01T00:00:00Z", "end": "2025-01-03T00:00:00Z"},
            "run_mode": "parallel",
            "parallelism": 2,
        },
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    ids = answer["instance_ids"]
    assert len(ids) == 6
    assert [(r["workflow_id"], r["status"], len(r["instance_ids"])) for r in answer["results"]] == [
        (105, "started", 3),
        (106, "started", 3),
    ]
    codes = {(await harness.ds.get_workflow_instance(recs[0].project_code, i)).workflow_definition_code for i in ids}
    assert codes == {r.engine_workflow_code for r in recs}
    missing = await client.post("/internal/workflows/batch-run", json={"workflow_ids": [105, 999]})
    assert missing.status_code == 409
    assert "999" in missing.json()["detail"]

    # one workflow offline in DS: it is reported with DS's answer, the other one is started all the same (no 5xx)
    await harness.ds.offline_workflow(recs[0].project_code, recs[0].engine_workflow_code)
    mixed = await client.post("/internal/workflows/batch-run", json={"workflow_ids": [105, 106]})
    assert mixed.status_code == 200, mixed.text
    body = mixed.json()
    assert (body["started"], body["failed"], body["unknown"]) == (1, 1, 0)
    failed, started = body["results"]
    assert (failed["workflow_id"], failed["status"], failed["ds_code"]) == (105, "failed", 50014)
    assert failed["ds_msg"] == "start workflow instance error:The workflowDefinition should be online"
    assert failed["error"] == "dolphin-workflow-offline"
    assert (started["workflow_id"], started["status"]) == (106, "started")
    assert (failed["project_code"], started["project_code"]) == (recs[0].project_code, recs[1].project_code)
    assert body["instance_ids"] == started["instance_ids"]


async def test_abandoned_running_record_is_run_again(harness_parts: Harness) -> None:
    """A process died after claiming a record (status running, lease never renewed): another one re-runs it."""
    from sqlalchemy import text

    from common.testing.service import running
    from publisher.main import create_app

    snap = snapshot(107, [shell(1), shell(2)], [(1, 2)])
    req = request(snap, "deploy")
    async with harness_parts.sessions() as s, s.begin():
        await s.execute(
            text(
                "INSERT INTO workflow_publish_record (request_id, workflow_id, version_id, version_no, operation, "
                "status, operator, snapshot, approval, attempts, claimed_at, requested_at) VALUES (:r, :w, :v, 1, "
                "'deploy', 'running', 'alice', CAST(:s AS jsonb), :a, 1, now() - interval '1 hour', :t)"
            ),
            {
                "r": req.request_id,
                "w": 107,
                "v": req.version_id,
                "s": snap.model_dump_json(),
                "a": req.approval,
                "t": datetime.now(UTC),
            },
        )
    async with running(create_app(harness_parts.settings)):
        rec = await harness_parts.record(req.request_id)
    assert rec.status == "success", rec.log
    assert rec.attempts == 2
    assert "previous attempt was interrupted" in rec.log
    [done] = await harness_parts.completed(1)
    assert done.request_id == req.request_id


async def test_retry_of_a_success_is_refused(harness: Harness) -> None:
    assert harness.client is not None
    req = request(snapshot(108, [shell(1)]), "deploy")
    await harness.send(req)
    rec = await harness.record(req.request_id)
    response = await harness.client.post(f"/internal/publish-records/{rec.id}/retry")
    assert response.status_code == 409
    assert (await harness.client.post("/internal/publish-records/999999/retry")).status_code == 404
    assert uuid.UUID(str(rec.request_id))
