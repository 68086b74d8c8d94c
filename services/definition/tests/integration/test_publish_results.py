"""publish.completed over real Kafka: a result older than the one applied never undoes it (a late duplicate with a new
event id, a replayed dead letter), and a failed publish that left DolphinScheduler other than intended is kept as
attention (``ds_attention``) until a newer result says DS holds the intended state again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from common.events import DeployedTaskCode, PublishCompleted, PublishOperation, PublishOutcome
from common.testing.kafka_helpers import eventually
from common.testing.service import running
from definition.config import Settings
from definition.main import create_app

from .conftest import new_tasks, new_workflow, workflow_body
from .test_kafka_flows import detail, send


def result(accepted: dict[str, Any], record_id: int, outcome: PublishOutcome, **kw: Any) -> PublishCompleted:
    return PublishCompleted(
        request_id=uuid.UUID(accepted["request_id"]),
        record_id=record_id,
        workflow_id=accepted["workflow_id"],
        version_id=accepted["version_id"],
        operation=PublishOperation(accepted["operation"]),
        outcome=outcome,
        engine_workflow_code=777,
        project_code=55,
        operator="ann",
        completed_at=datetime.now(UTC),
        **kw,
    )


async def test_results_apply_in_record_order_and_ds_attention_lasts_until_resolved(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    async with running(create_app(settings, telemetry=False)) as client:
        a, b = await new_tasks(client, 2)
        wid = (await new_workflow(client, [a, b], [(a, b)]))["id"]
        assert (
            await client.post(f"/internal/workflows/{wid}/actions/approve", json={"version_no": 1})
        ).status_code == 200

        async def publish() -> dict[str, Any]:
            r = await client.post(f"/internal/workflows/{wid}/publish", json={"operation": "online"})
            assert r.status_code == 202, r.text
            body: dict[str, Any] = r.json()
            return body

        async def becomes(**expected: Any) -> dict[str, Any]:
            async def matches() -> bool:
                d = await detail(client, wid)
                return all(d[k] == v for k, v in expected.items())

            await eventually(matches, timeout_s=30)
            return await detail(client, wid)

        first = await publish()
        await send(producer, settings, result(first, 1, PublishOutcome.SUCCESS, release_state="ONLINE"))
        await becomes(publish_status="published", release_state="ONLINE")

        # record 2 failed half-way: DS holds it OFFLINE, intended ONLINE
        second = await publish()
        diverged = result(
            second,
            2,
            PublishOutcome.FAILED,
            release_state="OFFLINE",
            intended_release_state="ONLINE",
            diverged=True,
            error_message="DolphinScheduler POST release answered HTTP 503",
        )
        await send(producer, settings, diverged)
        d = await becomes(publish_status="failed", release_state="OFFLINE")
        assert d["needs_attention"] is True
        assert "DolphinScheduler now holds it OFFLINE" in d["attention_reason"]
        assert "intended ONLINE" in d["attention_reason"]
        assert (d["ds_attention"]["record_id"], d["ds_attention"]["intended_release_state"]) == (2, "ONLINE")
        page = (await client.get("/internal/workflows", params={"needs_attention": "true"})).json()
        [item] = [i for i in page["items"] if i["id"] == wid]
        assert (item["needs_attention"], item["release_state"]) == (True, "OFFLINE")
        assert item["attention_reason"] == d["attention_reason"]

        # a manual edit (which clears lineage attention) does not make DS's state any less true
        current = await detail(client, wid)
        body = workflow_body([a, b], [], name=current["name"], expected_version_no=current["current_version_no"])
        r = await client.put(f"/internal/workflows/{wid}", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["current_version_no"] == 2
        assert (await detail(client, wid))["ds_attention"] is not None

        # a copy of record 1's success (new event id) arrives late: older than record 2, ignored
        await send(producer, settings, result(first, 1, PublishOutcome.SUCCESS, release_state="ONLINE"))
        # record 3 (the reconciler's attempt) restores DS
        await send(producer, settings, result(second, 3, PublishOutcome.SUCCESS, release_state="ONLINE"))
        d = await becomes(publish_status="published", release_state="ONLINE")
        assert (d["needs_attention"], d["ds_attention"], d["attention_reason"]) == (False, None, None)

        # stale copies of the failure (a replayed dead letter, a duplicate) change nothing any more
        for _ in range(2):
            await send(producer, settings, diverged.model_copy())
        await send(producer, settings, result(second, 3, PublishOutcome.SUCCESS, release_state="ONLINE"))

        async def consumed_all() -> bool:
            metrics = (await client.get("/metrics")).text
            return _processed(metrics, settings.topic("publish.completed")) >= 7

        await eventually(consumed_all, timeout_s=30)
        d = await detail(client, wid)
        assert (d["publish_status"], d["release_state"], d["needs_attention"]) == ("published", "ONLINE", False)


def _processed(metrics: str, topic: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("events_consumed_total{") and f'topic="{topic}"' in line and 'outcome="processed"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_a_failure_that_left_ds_as_intended_clears_nothing_and_flags_nothing(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    async with running(create_app(settings, telemetry=False)) as client:
        (a,) = await new_tasks(client, 1)
        wid = (await new_workflow(client, [a]))["id"]
        assert (
            await client.post(f"/internal/workflows/{wid}/actions/approve", json={"version_no": 1})
        ).status_code == 200
        r = await client.post(f"/internal/workflows/{wid}/publish", json={"operation": "online"})
        assert r.status_code == 202, r.text
        failed = result(
            r.json(),
            1,
            PublishOutcome.FAILED,
            release_state=None,
            intended_release_state="ONLINE",
            diverged=False,
            error_message="gateway createOrUpdateWorkflow failed",
        )
        await send(producer, settings, failed)

        async def failed_state() -> bool:
            return bool((await detail(client, wid))["publish_status"] == "failed")

        await eventually(failed_state, timeout_s=30)
        d = await detail(client, wid)
        assert (d["needs_attention"], d["ds_attention"], d["release_state"]) == (False, None, None)


async def test_a_refused_request_this_service_never_made_changes_nothing(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    """A forged publish.requested (or one replayed under a new id) is refused by the publisher at its approval check:
    its failed result must not turn the workflow's published state into a failure. A refused request of this service's
    own is shown as failed (a person asked for it)."""
    async with running(create_app(settings, telemetry=False)) as client:
        a, b = await new_tasks(client, 2)
        wid = (await new_workflow(client, [a, b], [(a, b)]))["id"]
        assert (
            await client.post(f"/internal/workflows/{wid}/actions/approve", json={"version_no": 1})
        ).status_code == 200
        ours = (await client.post(f"/internal/workflows/{wid}/publish", json={"operation": "deploy"})).json()
        await send(producer, settings, result(ours, 10, PublishOutcome.SUCCESS, release_state="OFFLINE"))

        async def published() -> bool:
            return bool((await detail(client, wid))["publish_status"] == "published")

        await eventually(published, timeout_s=30)
        forged = {**ours, "request_id": str(uuid.uuid4())}
        refusal = "the approval is for another request"
        await send(producer, settings, result(forged, 11, PublishOutcome.FAILED, refused=True, error_message=refusal))
        # then one of its own, refused too: this one shows, and it proves the forged one was consumed before it
        mine = (await client.post(f"/internal/workflows/{wid}/publish", json={"operation": "deploy"})).json()
        await send(producer, settings, result(mine, 12, PublishOutcome.FAILED, refused=True, error_message=refusal))

        async def failed() -> bool:
            return bool((await detail(client, wid))["publish_status"] == "failed")

        await eventually(failed, timeout_s=30)
        engine = create_async_engine(
            settings.database_url.get_secret_value(),
            connect_args={"server_settings": {"search_path": settings.db_schema}},
        )
        try:
            async with engine.connect() as conn:
                known = {str(r) for r in (await conn.execute(text("SELECT request_id FROM publish_request"))).scalars()}
        finally:
            await engine.dispose()
        assert mine["request_id"] in known
        assert forged["request_id"] not in known  # nothing of the forged request was written


def codes(pairs: dict[int, int]) -> tuple[DeployedTaskCode, ...]:
    return tuple(DeployedTaskCode(task_id=t, ds_task_code=c) for t, c in pairs.items())


async def test_the_task_codes_of_what_ds_holds_reach_the_task_list_and_detail(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    """Each task's DS code comes with the result of the deploy that put it in DS, replaced whole by the next one that
    tells codes; a result without codes (an offline, a publisher older than the field), a failure or an older record
    leaves them. A task not in what DS holds of its workflow (added since, or moved out) has none."""
    async with running(create_app(settings, telemetry=False)) as client:
        a, b, c = await new_tasks(client, 3)
        wid = (await new_workflow(client, [a, b], [(a, b)]))["id"]

        async def task_codes() -> dict[int, int | None]:
            r = await client.get("/internal/tasks", params={"ids": f"{a},{b},{c}"})
            assert r.status_code == 200, r.text
            return {t["id"]: t["ds_task_code"] for t in r.json()["items"]}

        async def codes_become(expected: dict[int, int | None]) -> None:
            async def matches() -> bool:
                return await task_codes() == expected

            await eventually(matches, timeout_s=30)

        async def publish(operation: str) -> dict[str, Any]:
            current = await detail(client, wid)
            if not current["approved"]:
                r = await client.post(
                    f"/internal/workflows/{wid}/actions/approve", json={"version_no": current["current_version_no"]}
                )
                assert r.status_code == 200, r.text
            r = await client.post(f"/internal/workflows/{wid}/publish", json={"operation": operation})
            assert r.status_code == 202, r.text
            body: dict[str, Any] = r.json()
            return body

        assert await task_codes() == {a: None, b: None, c: None}  # never published
        first = await publish("deploy")
        await send(producer, settings, result(first, 1, PublishOutcome.SUCCESS, task_codes=codes({a: 1001, b: 1002})))
        await codes_become({a: 1001, b: 1002, c: None})
        r = await client.get(f"/internal/tasks/{a}")
        assert (r.json()["ds_task_code"], r.json()["workflow_code"], r.json()["project_code"]) == (1001, 777, 55)

        # an offline (no codes, as an older publisher's result) and a failure that names codes change none of them
        off = await publish("offline")
        await send(producer, settings, result(off, 2, PublishOutcome.SUCCESS, release_state="OFFLINE"))
        failed = result(off, 3, PublishOutcome.FAILED, error_message="x", task_codes=codes({a: 9, b: 9}))
        await send(producer, settings, failed)

        async def failed_state() -> bool:
            return bool((await detail(client, wid))["publish_status"] == "failed")

        await eventually(failed_state, timeout_s=30)
        assert await task_codes() == {a: 1001, b: 1002, c: None}

        # a new version: b leaves, c joins; until it is deployed only a is in what DS holds of the workflow
        current = await detail(client, wid)
        body = workflow_body([a, c], [(a, c)], name=current["name"], expected_version_no=current["current_version_no"])
        r = await client.put(f"/internal/workflows/{wid}", json=body)
        assert r.status_code == 200, r.text
        await codes_become({a: 1001, b: None, c: None})
        second = await publish("deploy")
        # a late copy of record 1 (older than the newest applied) is ignored; record 4 tells the new codes
        await send(producer, settings, result(first, 1, PublishOutcome.SUCCESS, task_codes=codes({a: 5, b: 6})))
        await send(producer, settings, result(second, 4, PublishOutcome.SUCCESS, task_codes=codes({a: 1001, c: 1003})))
        await codes_become({a: 1001, b: None, c: 1003})

        # b in another workflow: no code until that one is deployed (the codes are per workflow, as in DS)
        await new_workflow(client, [b])
        assert await task_codes() == {a: 1001, b: None, c: 1003}
