"""``lineage.changed`` records through the subscriber (in-memory broker): each bad record goes to the dead-letter topic
with its reason and type, and the records after it are still applied; a record delivered twice is applied once."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import text

from common.events import Event, LineageChanged, registry

from .conftest import Subscriber


def envelope_bytes(event: Event) -> bytes:
    return registry.encode(event, source="/tests/lineage").to_bytes()


def run_event(job: str, *, event_type: str = "COMPLETE", namespace: str = "spark") -> bytes:
    """An OpenLineage RunEvent reading ``a`` and writing ``b``."""

    def ds(name: str) -> dict[str, Any]:
        return {"namespace": "postgres://WAREHOUSE:5432", "name": name, "facets": {}}

    return json.dumps({
        "eventType": event_type, "eventTime": "2025-03-01T10:00:00Z",
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/airflow",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4()), "facets": {}}, "job": {"namespace": namespace, "name": job, "facets": {}},
        "inputs": [ds("a")], "outputs": [ds("b")],
    }).encode()  # fmt: skip


async def view(sub: Subscriber) -> dict[int, tuple[list[int], list[int]]]:
    async with sub.infra.sessions() as s:
        rows = await s.execute(text("SELECT task_id, upstream_task_ids, downstream_task_ids FROM task_dependency_view"))
        return {r.task_id: (list(r.upstream_task_ids), list(r.downstream_task_ids)) for r in rows}


async def test_bad_records_go_to_the_dlq_with_the_reason_and_the_next_one_is_processed(subscriber: Subscriber) -> None:
    await subscriber.send(
        b"{not json",
        envelope_bytes(LineageChanged(read_tables=("db/x",))),
        run_event("nightly"),  # a job no rule maps: parked with its datasets, no dead letter
        json.dumps({"hello": "world"}).encode(),
        run_event("task_9", event_type="START"),  # a START event: ignored, no dead letter
        envelope_bytes(LineageChanged(task_id=5, write_tables=("db/q",))),
        envelope_bytes(LineageChanged(task_id=6, read_tables=("db/q",))),
    )
    assert await view(subscriber) == {5: ([], [6]), 6: ([5], [])}

    topic = subscriber.topic
    dead = subscriber.kafka.dead_letters
    assert {d.topic for d in dead} == {f"{topic}.dlq"}
    headers = [d.headers for d in dead]
    assert [(h["x-dlq-error-type"], h["x-dlq-original-topic"]) for h in headers] == [
        ("poison-message", topic),
        ("invalid-lineage-message", topic),
        ("poison-message", topic),
    ]
    reasons = [h["x-dlq-reason"] for h in headers]
    assert "invalid JSON" in reasons[0]
    assert "need a task_id" in reasons[1]
    assert "neither a CloudEvents envelope" in reasons[2]
    assert dead[0].value == b"{not json"
    async with subscriber.infra.sessions() as s:
        parked = (await s.execute(text("SELECT namespace, name, reads, writes FROM openlineage_unmapped_job"))).all()
    assert [tuple(r) for r in parked] == [("spark", "nightly", ["pg/a"], ["pg/b"])]


async def test_a_record_delivered_twice_is_applied_once(subscriber: Subscriber) -> None:
    first_reader = envelope_bytes(LineageChanged(task_id=3, read_tables=("db/b",)))
    await subscriber.send(
        envelope_bytes(LineageChanged(task_id=1, write_tables=("db/a",))),
        envelope_bytes(LineageChanged(task_id=2, read_tables=("db/a",), write_tables=("db/b",))),
        first_reader,
    )
    assert await view(subscriber) == {1: ([], [2]), 2: ([1], [3]), 3: ([2], [])}
    # task 3 moves to db/a; then its old record comes again (a redelivery): the inbox keeps it from moving task 3 back
    await subscriber.send(envelope_bytes(LineageChanged(task_id=3, read_tables=("db/a",))), first_reader)
    assert await view(subscriber) == {1: ([], [2, 3]), 2: ([1], []), 3: ([1], [])}
    assert subscriber.kafka.dead_letters == []
