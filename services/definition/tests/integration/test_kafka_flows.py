"""The whole service in-process on real PostgreSQL and Kafka: events out through the outbox, events in through the
consumers (publish.completed, execution.synced, task.dependency.changed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from common.events import (
    DependencyCycle,
    Event,
    ExecutionSummary,
    ExecutionSynced,
    PublishCompleted,
    PublishOperation,
    PublishOutcome,
    PublishRequested,
    TaskDependencyChanged,
    Topics,
    WorkflowVersionCreated,
    registry,
)
from common.testing.kafka_helpers import eventually, read_topic
from common.testing.service import running
from definition.config import Settings
from definition.main import create_app

from .conftest import as_user, envelope_bytes, new_tasks, new_workflow, workflow_body


async def send(producer: AIOKafkaProducer, settings: Settings, event: Event) -> None:
    await producer.send_and_wait(settings.topic(event.TOPIC), envelope_bytes(event), key=event.key().encode())


async def detail(client: httpx.AsyncClient, wid: int) -> dict[str, Any]:
    r = await client.get(f"/internal/workflows/{wid}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def completed(accepted: dict[str, Any], outcome: PublishOutcome, **kw: Any) -> PublishCompleted:
    return PublishCompleted(
        request_id=uuid.UUID(accepted["request_id"]),
        record_id=kw.pop("record_id", 1),
        workflow_id=accepted["workflow_id"],
        version_id=accepted["version_id"],
        operation=PublishOperation(accepted["operation"]),
        outcome=outcome,
        operator="ann",
        completed_at=datetime.now(UTC),
        **kw,
    )


async def test_versions_and_publish_flow_over_kafka(
    settings: Settings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    async with running(create_app(settings, telemetry=False)) as client:
        a, b = await new_tasks(client, 2)
        wf = await new_workflow(client, [a, b], [(a, b)])
        wid = wf["id"]
        r = await client.post(f"/internal/workflows/{wid}/publish", json={"operation": "deploy"})
        assert r.status_code == 409  # draft: nothing unapproved reaches DS
        assert r.json()["reason"] == "not_approved"
        await client.post(f"/internal/workflows/{wid}/actions/approve", json={"version_no": 1})

        r = await client.post(
            f"/internal/workflows/{wid}/publish",
            json={"operation": "online"},
            headers=as_user("pat"),
        )
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert (accepted["version_no"], accepted["operation"]) == (1, "online")
        assert (await detail(client, wid))["publish_status"] == "pending"

        records = await read_topic(kafka_bootstrap, settings.topic(Topics.PUBLISH_REQUESTED), expect=1)
        assert len(records) == 1
        assert records[0].key == str(wid).encode()
        event = registry.decode(records[0].value)[1]
        assert isinstance(event, PublishRequested)
        assert str(event.request_id) == accepted["request_id"]
        assert (event.operator, event.version_id) == ("pat", accepted["version_id"])
        assert [t.task_id for t in event.snapshot.tasks] == [a, b]

        versions = await read_topic(kafka_bootstrap, settings.topic(Topics.WORKFLOW_VERSION_CREATED), expect=1)
        created = registry.decode(versions[0].value)[1]
        assert isinstance(created, WorkflowVersionCreated)
        assert (created.version_no, created.trigger_source) == (1, "manual_edit")
        assert created.content_hash == created.snapshot.content_hash()
        assert created.change_summary["is_initial"] is True

        await send(
            producer,
            settings,
            completed(
                accepted, PublishOutcome.SUCCESS, engine_workflow_code=777, project_code=55, release_state="ONLINE"
            ),
        )

        async def published() -> bool:
            return (await detail(client, wid))["publish_status"] == "published"

        await eventually(published, timeout_s=30)
        d = await detail(client, wid)
        assert (d["workflow_code"], d["project_code"], d["release_state"]) == (777, 55, "ONLINE")
        assert d["last_published_version_no"] == 1
        assert d["allowed_publish_operations"] == ["deploy", "online", "offline"]
        # its tasks now carry the DS codes too (the gateway's DS links need no second call)
        task = (await client.get(f"/internal/tasks/{a}")).json()
        assert (task["workflow_id"], task["workflow_code"], task["project_code"]) == (wid, 777, 55)

        # a failed offline leaves the published version and says failed
        r = await client.post(f"/internal/workflows/{wid}/publish", json={"operation": "offline"})
        assert r.status_code == 202
        failed = completed(r.json(), PublishOutcome.FAILED, record_id=2, error_code=50004, error_message="DS down")
        await send(producer, settings, failed)

        async def failed_state() -> bool:
            return (await detail(client, wid))["publish_status"] == "failed"

        await eventually(failed_state, timeout_s=30)
        assert (await detail(client, wid))["last_published_version_no"] == 1

        synced = ExecutionSynced(
            workflow_id=wid,
            engine_workflow_code=777,
            project_code=55,
            executions=(
                ExecutionSummary(instance_id=9, state="FAILURE", start_time=datetime(2025, 5, 1, 3, tzinfo=UTC)),
                ExecutionSummary(instance_id=8, state="SUCCESS", start_time=datetime(2025, 5, 1, 2, tzinfo=UTC)),
            ),
            last_execution_state="FAILURE",
            synced_at=datetime.now(UTC),
        )
        await send(producer, settings, synced)

        async def synced_state() -> bool:
            return (await detail(client, wid))["last_execution_state"] == "FAILURE"

        await eventually(synced_state, timeout_s=30)
        assert (await detail(client, wid))["last_execution_at"].startswith("2025-05-01T03:00:00")
        r = await client.get("/internal/workflows", params={"last_execution_state": "FAILURE"})
        assert [i["id"] for i in r.json()["items"]] == [wid]
        # the list carries the executions themselves (list fields only, newest first) and when they were synced
        (item,) = r.json()["items"]
        assert [(e["instance_id"], e["state"]) for e in item["last_executions"]] == [(9, "FAILURE"), (8, "SUCCESS")]
        assert set(item["last_executions"][0]) == {"instance_id", "state", "start_time", "end_time", "duration"}
        assert item["executions_synced_at"] is not None


async def test_lineage_changes_new_version_or_attention(settings: Settings, producer: AIOKafkaProducer) -> None:
    async with running(create_app(settings, telemetry=False)) as client:
        a, b, c, x, y, loose = await new_tasks(client, 6)
        w1 = await new_workflow(client, [a, b, c], [(a, b)])
        w2 = await new_workflow(client, [x, y])

        def change(task: int, **kw: Any) -> TaskDependencyChanged:
            base: dict[str, Any] = {"old_upstream": (), "new_upstream": (), "old_downstream": (), "new_downstream": ()}
            return TaskDependencyChanged(task_id=task, **{**base, **kw})

        # inside one workflow: b → c added, a → b removed, and a link to an unassigned task ignored
        await send(producer, settings, change(b, old_upstream=(a,), new_downstream=(c, loose)))

        async def lineage_version() -> bool:
            return (await detail(client, w1["id"]))["current_version_no"] == 2

        await eventually(lineage_version, timeout_s=30)
        d = await detail(client, w1["id"])
        assert d["edges"] == [{"upstream_task_id": b, "downstream_task_id": c}]
        assert (d["entry_task_ids"], d["needs_attention"]) == ([a, b], False)
        v2 = (await client.get(f"/internal/workflows/{w1['id']}/versions/2")).json()
        assert (v2["trigger_source"], v2["created_by"]) == ("lineage_change", "lineage-resolver")
        assert v2["change_summary"]["edges_added"] == [[b, c]]
        assert v2["change_summary"]["edges_removed"] == [[a, b]]

        # across workflows: no edit, both workflows flagged
        await send(producer, settings, change(c, new_downstream=(x,)))

        async def flagged(wid: int) -> bool:
            return bool((await detail(client, wid))["needs_attention"])

        await eventually(lambda: flagged(w2["id"]), timeout_s=30)
        d1, d2 = await detail(client, w1["id"]), await detail(client, w2["id"])
        assert d1["needs_attention"]
        assert d1["current_version_no"] == 2
        assert d2["current_version_no"] == 1
        assert f"task {c} (workflow {w1['id']}) → task {x} (workflow {w2['id']})" in d1["attention_reason"]
        assert d1["attention_details"]["kind"] == "cross_workflow"
        r = await client.get("/internal/workflows", params={"needs_attention": "true"})
        assert sorted(i["id"] for i in r.json()["items"]) == sorted([w1["id"], w2["id"]])

        # a manual edit is the manual handling: it clears the flag
        body = workflow_body([a, b, c], [(b, c)], name=d1["name"], description="handled")
        r = await client.put(f"/internal/workflows/{w1['id']}", json={**body, "expected_version_no": 2})
        assert r.status_code == 200, r.text
        assert (r.json()["needs_attention"], r.json()["current_version_no"]) == (False, 3)

        # a cycle reported by lineage (with its tables): flagged, not applied
        cycle = DependencyCycle(task_path=(c, a, b, c), tables=("dw.t1", "dw.t2"))
        await send(producer, settings, change(c, new_downstream=(a,), cycle=cycle))
        await eventually(lambda: flagged(w1["id"]), timeout_s=30)
        d1 = await detail(client, w1["id"])
        assert d1["current_version_no"] == 3
        assert f"{c} → {a} → {b} → {c}" in d1["attention_reason"]
        assert "dw.t1, dw.t2" in d1["attention_reason"]

        # a cycle only our DAG check sees (lineage did not flag it): flagged, not applied
        await send(producer, settings, change(y, new_downstream=(x,)))
        await send(producer, settings, change(x, new_downstream=(y,)))

        async def w2_version_and_flag() -> bool:
            d = await detail(client, w2["id"])
            details = d["attention_details"] or {}
            return bool(d["current_version_no"] == 2 and details.get("kind") == "cycle")

        await eventually(w2_version_and_flag, timeout_s=30)
        d2 = await detail(client, w2["id"])
        # the two events have different keys (partitions): whichever came first was applied, the other refused
        assert d2["edges"] in (
            [{"upstream_task_id": y, "downstream_task_id": x}],
            [{"upstream_task_id": x, "downstream_task_id": y}],
        )
        assert d2["attention_details"]["cycle"]["task_path"] in ([x, y, x], [y, x, y])

        # every event also lands in the dependency projection the task list filters by, whatever the event did to
        # the workflows: the in-workflow change, the cycle lineage reported, and a task in no workflow
        await send(producer, settings, change(loose, new_upstream=(b,)))

        async def projected() -> bool:
            r = await client.get("/internal/tasks", params={"upstream_task_id": b})
            return [t["id"] for t in r.json()["items"]] == [loose]

        await eventually(projected, timeout_s=30)
        r = await client.get("/internal/tasks", params={"downstream_task_id": c})
        assert [(t["id"], t["upstream_count"], t["downstream_count"]) for t in r.json()["items"]] == [(b, 0, 2)]
        r = await client.get("/internal/tasks", params={"downstream_task_id": a})
        assert [t["id"] for t in r.json()["items"]] == [c]


async def test_a_hub_change_inside_a_workflow_gives_one_version_across_12_partitions(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    """Issue 24 item 3: a hub table read by ten tasks of a workflow gets a writer in that workflow; lineage-resolver
    emits the writer's event (ten links) and one per reader (one link each), keyed by task, so on a topic of 12
    partitions a reader's event may be consumed first. It leaves its link to the writer's event (the writer's
    projection does not show it yet): one version with the ten edges, whatever the order; the readers' events
    after it change nothing. A reader's event without a lineage cause (no lineage event behind it) applies its link
    at once, as before."""
    async with running(create_app(settings, telemetry=False)) as client:
        writer, *readers = await new_tasks(client, 11)
        wf = await new_workflow(client, [writer, *readers])
        cause = f"lineage-{uuid.uuid4()}"
        topic = settings.topic(Topics.TASK_DEPENDENCY_CHANGED)
        assert len(await producer.partitions_for(topic)) == 12

        def change(task: int, **kw: Any) -> TaskDependencyChanged:
            base: dict[str, Any] = {"old_upstream": (), "new_upstream": (), "old_downstream": (), "new_downstream": ()}
            return TaskDependencyChanged(task_id=task, cause_event_id=cause, **{**base, **kw})

        async def to(partition: int, event: TaskDependencyChanged) -> None:
            await producer.send_and_wait(topic, envelope_bytes(event), key=event.key().encode(), partition=partition)

        async def projected(task: int, upstream: int) -> bool:
            r = await client.get("/internal/tasks", params={"upstream_task_id": upstream})
            return task in [t["id"] for t in r.json()["items"]]

        # the first reader's event, alone, on partition 1: consumed (in the projection), no version
        await to(1, change(readers[0], new_upstream=(writer,)))
        await eventually(lambda: projected(readers[0], writer), timeout_s=60)
        assert (await detail(client, wf["id"]))["current_version_no"] == 1

        # the writer's event on partition 0, the other readers' on partitions 2..10
        await to(0, change(writer, new_downstream=tuple(readers)))
        for i, r in enumerate(readers[1:]):
            await to(2 + i % 9, change(r, new_upstream=(writer,)))

        async def all_projected() -> bool:
            r = await client.get("/internal/tasks", params={"upstream_task_id": writer, "page_size": 100})
            return sorted(t["id"] for t in r.json()["items"]) == sorted(readers)

        await eventually(all_projected, timeout_s=60)

        async def edges_there() -> bool:
            return len((await detail(client, wf["id"]))["edges"]) == 10

        await eventually(edges_there, timeout_s=60)
        d = await detail(client, wf["id"])
        assert d["current_version_no"] == 2
        assert d["edges"] == [{"upstream_task_id": writer, "downstream_task_id": r} for r in sorted(readers)]
        assert d["needs_attention"] is False
        v2 = (await client.get(f"/internal/workflows/{wf['id']}/versions/2")).json()
        assert v2["trigger_source"] == "lineage_change"

        # without a cause: a reader's link is applied by its own event
        extra = (await new_tasks(client, 1))[0]
        r = await client.put(
            f"/internal/workflows/{wf['id']}",
            json={**workflow_body([writer, *readers, extra], [(writer, x) for x in readers], name=d["name"]),
                  "expected_version_no": 2},
            headers=as_user("ann"),
        )  # fmt: skip
        assert r.status_code == 200, r.text
        plain = TaskDependencyChanged(
            task_id=extra, old_upstream=(), new_upstream=(writer,), old_downstream=(), new_downstream=()
        )
        await to(5, plain)

        async def extra_edge() -> bool:
            return {"upstream_task_id": writer, "downstream_task_id": extra} in (await detail(client, wf["id"]))[
                "edges"
            ]

        await eventually(extra_edge, timeout_s=60)
        assert (await detail(client, wf["id"]))["current_version_no"] == 4
