"""The whole service in-process on real PostgreSQL and Kafka: records on ``lineage.changed`` in, the view and
``task.dependency.changed`` out. Bad records and their dead letters: tests/component/test_subscriber.py."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from common.events import LineageChanged, TaskDependencyChanged, Topics, registry
from common.testing.kafka_helpers import eventually, read_topic
from common.testing.service import running
from lineage_resolver.config import Settings
from lineage_resolver.main import create_app

from .conftest import envelope_bytes, run_event

View = dict[int, tuple[list[int], list[int]]]


async def view_of(client: httpx.AsyncClient, *task_ids: int) -> View:
    r = await client.get("/internal/dependency-view", params={"task_ids": ",".join(map(str, task_ids))})
    assert r.status_code == 200, r.text
    return {i["task_id"]: (i["upstream_task_ids"], i["downstream_task_ids"]) for i in r.json()["items"]}


async def wait_for_view(client: httpx.AsyncClient, expected: View) -> None:
    async def matches() -> bool:
        return await view_of(client, *expected) == expected

    await eventually(matches, timeout_s=20)


async def send(producer: AIOKafkaProducer, settings: Settings, *values: bytes) -> None:
    """One key for every record of a test: one partition, so they are handled in this order."""
    for value in values:
        await producer.send_and_wait(settings.topic(Topics.LINEAGE_CHANGED), value, key=b"test")


def as_changes(records: list[Any]) -> list[TaskDependencyChanged]:
    out = []
    for r in records:
        event = registry.decode(r.value)[1]
        assert isinstance(event, TaskDependencyChanged)
        assert r.key == str(event.task_id).encode()
        out.append(event)
    return out


async def test_native_events_update_the_view_emit_old_and_new_sets_and_dedupe(
    settings: Settings, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    first_reader = envelope_bytes(LineageChanged(task_id=3, read_tables=("db/b",)))
    async with running(create_app(settings, telemetry=False)) as client:
        await send(
            producer,
            settings,
            envelope_bytes(LineageChanged(task_id=1, write_tables=("db/a",))),
            envelope_bytes(LineageChanged(task_id=2, read_tables=("db/a",), write_tables=("db/b",))),
            first_reader,
        )
        await wait_for_view(client, {1: ([], [2]), 2: ([1], [3]), 3: ([2], [])})

        records = await read_topic(kafka_bootstrap, settings.topic(Topics.TASK_DEPENDENCY_CHANGED), expect=4)
        changes = as_changes(records)
        assert sorted(
            (c.task_id, c.old_upstream, c.new_upstream, c.old_downstream, c.new_downstream) for c in changes
        ) == [
            (1, (), (), (), (2,)),
            (2, (), (1,), (), ()),
            (2, (1,), (1,), (), (3,)),
            (3, (), (2,), (), ()),
        ]
        assert all(c.cycle is None and c.cause_event_id for c in changes)

        # task 3 moves to db/a; then the old record is delivered again: it must not move task 3 back
        await send(
            producer,
            settings,
            envelope_bytes(LineageChanged(task_id=3, read_tables=("db/a",))),
            first_reader,
            envelope_bytes(LineageChanged(task_id=4, read_tables=("db/b",))),
        )
        await wait_for_view(client, {4: ([2], [])})
        assert await view_of(client, 1, 2, 3) == {1: ([], [2, 3]), 2: ([1], [4]), 3: ([1], [])}

        report = (await client.post("/internal/rebuild", params={"dry_run": "true"})).json()
        assert report == {
            "dry_run": True,
            "clean": True,
            "missing": [],
            "extra": [],
            "different": [],
            "rows_written": 0,
            "events_emitted": 0,
        }


async def test_openlineage_run_events_match_native_events_and_dedupe_by_run(
    settings: Settings, producer: AIOKafkaProducer
) -> None:
    first_run = json.dumps(
        run_event(
            "task_12",
            run_id=str(uuid.uuid4()),
            time="2025-03-01T10:00:00Z",
            inputs=["public.orders"],
            outputs=["public.daily"],
        )
    ).encode()
    async with running(create_app(settings, telemetry=False)) as client:
        await send(
            producer,
            settings,
            json.dumps(
                run_event(
                    "dag.load_orders",
                    run_id=str(uuid.uuid4()),
                    time="2025-03-01T09:00:00+01:00",
                    inputs=[],
                    outputs=["/public.orders"],
                )
            ).encode(),
            first_run,
            envelope_bytes(LineageChanged(task_id=13, read_tables=("pg/public.daily",))),
        )
        await wait_for_view(client, {11: ([], [12]), 12: ([11], [13]), 13: ([12], [])})

        # the same relations as the equivalent native event: applying that one changes nothing
        native = {"task_id": 12, "read_tables": ["pg/public.orders"], "write_tables": ["pg/public.daily"]}
        preview = (await client.post("/internal/lineage", params={"dry_run": "true"}, json=native)).json()
        assert preview["applied"] is False
        assert preview["changes"] == []
        moved = {**native, "read_tables": ["pg/public.customers"]}
        preview = (await client.post("/internal/lineage", params={"dry_run": "true"}, json=moved)).json()
        assert [c["task_id"] for c in preview["changes"]] == [11, 12]

        # a later run replaces the reads; the first run's event sent again is a duplicate; START of an unmapped
        # job is ignored (no DLQ); task 14 is the marker that everything before it was handled
        await send(
            producer,
            settings,
            json.dumps(
                run_event(
                    "task_12",
                    run_id=str(uuid.uuid4()),
                    time="2025-03-02T10:00:00Z",
                    inputs=["public.customers"],
                    outputs=["public.daily"],
                )
            ).encode(),
            first_run,
            json.dumps(
                run_event(
                    "unknown_job",
                    run_id=str(uuid.uuid4()),
                    time="2025-03-02T10:00:00Z",
                    inputs=["x"],
                    outputs=["y"],
                    event_type="START",
                    namespace="spark",
                )
            ).encode(),
            envelope_bytes(LineageChanged(task_id=14, read_tables=("pg/public.daily",))),
        )
        await wait_for_view(client, {14: ([12], [])})
        assert await view_of(client, 11, 12) == {11: ([], []), 12: ([], [13, 14])}
        impact = (await client.get("/internal/tables/pg/public.customers/impact")).json()
        assert [t["task_id"] for t in impact["tasks"]] == [12, 13, 14]
