"""``publish.requested`` through the publisher's subscriber on FastStream's in-memory broker (``common.testing.broker``)
and real PostgreSQL: a request is accepted once however often it is delivered, and a record that is no publish request
goes to the dead-letter topic with the reason. Redelivery and ordering on a real broker: tests/integration."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from common.dolphin.links import DsLinks
from common.events import registry
from common.events.models import LineageChanged, PublishOperation, PublishRequested, Topics
from common.identity import trusted_keys_from
from common.runtime import Infra
from common.settings import ServiceSettings
from common.testing.broker import InMemoryKafka, in_memory_kafka, settings_for
from common.testing.fixtures import MigratedFn, TruncateFn
from common.testing.identity import approved
from common.workflow import ShellParams, SnapshotTask, StructureSnapshot
from publisher import subscribers
from publisher.config import MIGRATIONS, Settings
from publisher.db.tables import inbox_table, outbox_table, workflow_publish_record
from publisher.deps import Deps, DsTarget
from publisher_testing.fakes import FakeDolphin


@dataclass
class Subscriber:
    infra: Infra
    kafka: InMemoryKafka
    topic: str
    woken: list[None]

    async def records(self) -> list[tuple[str, str]]:
        async with self.infra.sessions() as s:
            rows = await s.execute(select(workflow_publish_record).order_by(workflow_publish_record.c.id))
            return [(str(r.request_id), r.status) for r in rows]


@pytest.fixture
async def subscriber(migrated_schema: MigratedFn, truncate: TruncateFn) -> AsyncIterator[Subscriber]:
    """The schema (migrated once per session) emptied before the test: the handler commits through the inbox."""
    db = await truncate(await migrated_schema("publisher", MIGRATIONS))
    # DS is the in-memory fake: its tokens are never sent
    settings = Settings(**settings_for(db), ds_token=SecretStr("unused"), ds_gateway_auth_token=SecretStr("unused"))
    infra = Infra.build(settings, schema=db.schema, outbox_table=outbox_table, inbox_table=inbox_table, telemetry=False)
    fake = FakeDolphin()
    woken: list[None] = []
    deps = Deps(
        sessions=infra.sessions,
        outbox=infra.outbox,
        gateway=fake.gateway,
        rest=fake.rest,
        target=DsTarget("default", "etl", "admin", "default", "default", DsLinks("http://ds/ui")),
        approvals=trusted_keys_from(ServiceSettings()),
        wake=lambda: woken.append(None),
    )
    subscribers.register_subscribers(infra, deps)
    topic = settings.topic(Topics.PUBLISH_REQUESTED)
    try:
        async with in_memory_kafka(infra.broker, dead_letters_of=[topic]) as kafka:
            yield Subscriber(infra, kafka, topic, woken)
    finally:
        await infra.engine.dispose()


def request(workflow_id: int) -> PublishRequested:
    snapshot = StructureSnapshot(
        workflow_id=workflow_id,
        workflow_name=f"wf-{workflow_id}",
        tasks=(SnapshotTask(task_id=1, name="a", task_type="SHELL", params=ShellParams(script="echo 1")),),
    )
    return approved(
        PublishRequested(
            request_id=uuid.uuid4(),
            workflow_id=workflow_id,
            operation=PublishOperation.DEPLOY,
            version_id=1,
            version_no=1,
            operator="alice",
            requested_at=datetime.now(UTC),
            snapshot=snapshot,
        )
    )


def envelope(event: PublishRequested | LineageChanged) -> bytes:
    return registry.encode(event, source="/tests/publisher").to_bytes()


async def test_a_request_delivered_twice_is_accepted_once_and_wakes_the_workers(subscriber: Subscriber) -> None:
    event = request(7)
    once = envelope(event)
    await subscriber.kafka.send(subscriber.topic, once, once)
    assert await subscriber.records() == [(str(event.request_id), "pending")]
    assert subscriber.woken == [None]
    assert subscriber.kafka.dead_letters == []


async def test_a_record_that_is_no_publish_request_is_dead_lettered_and_the_next_is_accepted(
    subscriber: Subscriber,
) -> None:
    event = request(8)
    await subscriber.kafka.send(
        subscriber.topic, b"{not json", envelope(LineageChanged(task_id=1, read_tables=("db/x",))), envelope(event)
    )
    assert await subscriber.records() == [(str(event.request_id), "pending")]
    dead = subscriber.kafka.dead_letters
    assert [(d.headers["x-dlq-error-type"], d.headers["x-dlq-original-topic"]) for d in dead] == [
        ("poison-message", subscriber.topic),
        ("poison-message", subscriber.topic),
    ]
    assert dead[0].value == b"{not json"
    assert f"(expected {PublishRequested.TYPE})" in dead[1].headers["x-dlq-reason"]
