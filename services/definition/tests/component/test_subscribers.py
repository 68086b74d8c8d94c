"""The definition service's three subscribers on FastStream's in-memory broker (``common.testing.broker``) and real
PostgreSQL: an event of another type on a topic is dead-lettered with the reason and the next record is handled; a
result of a publish this service never requested changes nothing. Over a real broker with the app: tests/integration."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import Table, func, select

from common.events import Event, registry
from common.events.models import (
    ExecutionSynced,
    PublishCompleted,
    PublishOperation,
    PublishOutcome,
    TaskDependencyChanged,
    Topics,
)
from common.kafka_acls import GRANTS
from common.runtime import Infra
from common.testing.broker import InMemoryKafka, in_memory_kafka, settings_for
from common.testing.fixtures import MigratedFn, TruncateFn
from definition.config import MIGRATIONS, Settings
from definition.db.tables import inbox as inbox_table
from definition.db.tables import outbox as outbox_table
from definition.db.tables import task_dependency_projection as projection
from definition.main import build_deps
from definition.subscribers import register_subscribers

#: the topics definition consumes (DESIGN.md §3)
CONSUMED_TOPICS = GRANTS["definition"].reads


@dataclass
class Subscribers:
    infra: Infra
    kafka: InMemoryKafka
    settings: Settings

    async def rows(self, table: Table) -> int:
        async with self.infra.sessions() as s:
            return int((await s.execute(select(func.count()).select_from(table))).scalar_one())

    async def handled(self) -> int:
        """Records the inbox took (dead letters are not among them)."""
        return await self.rows(inbox_table)


@pytest.fixture
async def subs(migrated_schema: MigratedFn, truncate: TruncateFn) -> AsyncIterator[Subscribers]:
    """The schema (migrated once per session) emptied before the test: the handlers commit through the inbox."""
    db = await truncate(await migrated_schema("definition", MIGRATIONS))
    settings = Settings(**settings_for(db), publisher_url="")
    infra = Infra.build(settings, schema=db.schema, outbox_table=outbox_table, inbox_table=inbox_table, telemetry=False)
    register_subscribers(infra, build_deps(settings, infra))
    try:
        async with in_memory_kafka(infra.broker, dead_letters_of=[settings.topic(t) for t in CONSUMED_TOPICS]) as kafka:
            yield Subscribers(infra, kafka, settings)
    finally:
        await infra.engine.dispose()


def envelope(event: Event) -> bytes:
    return registry.encode(event, source="/tests/definition").to_bytes()


def never_requested() -> PublishCompleted:
    return PublishCompleted(
        request_id=uuid.uuid4(), record_id=1, workflow_id=404, version_id=1, operation=PublishOperation.ONLINE,
        outcome=PublishOutcome.SUCCESS, engine_workflow_code=7, project_code=55, operator="ann",
        completed_at=datetime.now(UTC),
    )  # fmt: skip


def of_type(topic: str) -> Event:
    """An event that belongs on ``topic``, about a workflow and task this service does not know."""
    if topic == Topics.PUBLISH_COMPLETED:
        return never_requested()
    if topic == Topics.EXECUTION_SYNCED:
        return ExecutionSynced(
            workflow_id=404, engine_workflow_code=7, project_code=55, executions=(), synced_at=datetime.now(UTC)
        )
    return TaskDependencyChanged(task_id=404, old_upstream=(), new_upstream=(), old_downstream=(), new_downstream=())


@pytest.mark.parametrize("topic", CONSUMED_TOPICS)
async def test_an_event_of_another_type_is_dead_lettered_and_the_next_is_handled(subs: Subscribers, topic: str) -> None:
    stranger = of_type(Topics.EXECUTION_SYNCED if topic == Topics.PUBLISH_COMPLETED else Topics.PUBLISH_COMPLETED)
    await subs.kafka.send(subs.settings.topic(topic), envelope(stranger), envelope(of_type(topic)))
    [dead] = subs.kafka.dead_letters
    assert (dead.topic, dead.headers["x-dlq-error-type"]) == (f"{subs.settings.topic(topic)}.dlq", "poison-message")
    reason = dead.headers["x-dlq-reason"]
    assert f"event type {stranger.TYPE!r} does not belong on {subs.settings.topic(topic)}" in reason
    assert await subs.handled() == 1


async def test_the_result_of_a_publish_never_requested_changes_nothing(subs: Subscribers) -> None:
    await subs.kafka.send(subs.settings.topic(Topics.PUBLISH_COMPLETED), envelope(never_requested()))
    assert subs.kafka.dead_letters == []
    assert await subs.handled() == 1
    assert await subs.rows(outbox_table) == 0  # no event follows from it


@pytest.fixture
async def batched(migrated_schema: MigratedFn, truncate: TruncateFn) -> AsyncIterator[Subscribers]:
    """As ``subs``, with ``task.dependency.changed`` consumed in batches (``Settings.dependency_batch_size``)."""
    db = await truncate(await migrated_schema("definition", MIGRATIONS))
    settings = Settings(**settings_for(db), publisher_url="", dependency_batch_size=50)
    infra = Infra.build(settings, schema=db.schema, outbox_table=outbox_table, inbox_table=inbox_table, telemetry=False)
    register_subscribers(infra, build_deps(settings, infra), dependency_batch_size=settings.dependency_batch_size)
    try:
        async with in_memory_kafka(infra.broker, dead_letters_of=[settings.topic(t) for t in CONSUMED_TOPICS]) as kafka:
            yield Subscribers(infra, kafka, settings)
    finally:
        await infra.engine.dispose()


def dependency(task: int, *downstream: int) -> TaskDependencyChanged:
    return TaskDependencyChanged(
        task_id=task, old_upstream=(), new_upstream=(), old_downstream=(), new_downstream=downstream
    )


async def projected(subs: Subscribers) -> dict[int, list[int]]:
    async with subs.infra.sessions() as s:
        rows = (await s.execute(select(projection.c.task_id, projection.c.downstream_task_ids))).all()
    return {int(r.task_id): list(r.downstream_task_ids) for r in rows}


async def test_a_batch_applies_each_new_event_once_and_dead_letters_a_stranger(batched: Subscribers) -> None:
    """One poll of four records: two events, a record of another type, a copy of the first event (same id). The
    stranger goes to the DLQ with its reason, each event is applied once; the same records again are duplicates."""
    topic = batched.settings.topic(Topics.TASK_DEPENDENCY_CHANGED)
    first = envelope(dependency(501, 502))
    records = [first, envelope(never_requested()), envelope(dependency(503, 504, 505)), first]
    await batched.kafka.broker.publish_batch(*records, topic=topic)
    [dead] = batched.kafka.dead_letters
    assert (dead.topic, dead.headers["x-dlq-error-type"]) == (f"{topic}.dlq", "poison-message")
    assert f"does not belong on {topic}" in dead.headers["x-dlq-reason"]
    assert await batched.handled() == 2
    assert await projected(batched) == {501: [502], 503: [504, 505]}

    await batched.kafka.broker.publish_batch(first, envelope(dependency(506, 507)), topic=topic)
    assert len(batched.kafka.dead_letters) == 1
    assert await batched.handled() == 3
    assert await projected(batched) == {501: [502], 503: [504, 505], 506: [507]}


async def test_an_event_the_database_refuses_fails_alone_and_the_rest_of_its_batch_is_applied(
    batched: Subscribers,
) -> None:
    """A task id past PostgreSQL's bigint fails the batch's transaction (rolled back whole); the records are then
    handled one by one: that event is dead-lettered with the reason, the others of the batch are applied."""
    topic = batched.settings.topic(Topics.TASK_DEPENDENCY_CHANGED)
    huge = dependency(2**63, 1)
    await batched.kafka.broker.publish_batch(
        envelope(dependency(601, 602)), envelope(huge), envelope(dependency(603, 604)), topic=topic
    )
    [dead] = batched.kafka.dead_letters
    assert dead.topic == f"{topic}.dlq"
    assert dead.headers["x-dlq-event-id"]
    assert dead.headers["x-dlq-reason"]
    assert await batched.handled() == 2
    assert await projected(batched) == {601: [602], 603: [604]}
