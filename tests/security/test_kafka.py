"""The broker refuses what a principal may not do: forged messages never reach a topic."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from common.events import LineageChanged, Topics, registry

from .conftest import SecureStack


async def _produce(secure: SecureStack, user: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(**secure.kafka.client_options(user), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(secure.topic(topic), value, key=b"1")
    finally:
        await producer.stop()


async def test_the_lineage_producers_may_write_lineage_changed_and_nothing_else(secure: SecureStack) -> None:
    event = LineageChanged(task_id=987654321, read_tables=("ods.a",), write_tables=())
    await _produce(secure, "lineage-producer", Topics.LINEAGE_CHANGED, registry.encode(event, source="/x").to_bytes())
    forged = b'{"type": "platform.publish.requested", "data": {"workflow_id": 1}}'
    # nor remap a task's OpenLineage job (definition's alone)
    for topic in (
        Topics.PUBLISH_REQUESTED,
        Topics.PUBLISH_COMPLETED,
        Topics.TASK_DEPENDENCY_CHANGED,
        Topics.TASK_OPENLINEAGE_JOB_SET,
    ):
        with pytest.raises(TopicAuthorizationFailedError):
            await _produce(secure, "lineage-producer", topic, forged)


@pytest.mark.parametrize(
    ("user", "topic"),
    [
        ("publisher", Topics.PUBLISH_REQUESTED),  # only the definition service requests publishes
        ("definition", Topics.PUBLISH_COMPLETED),  # only the publisher reports them
        ("alerting", Topics.WORKFLOW_VERSION_CREATED),
        ("history-sync", Topics.LINEAGE_CHANGED),
        ("lineage-resolver", Topics.TASK_OPENLINEAGE_JOB_SET),  # it applies the identities, definition sets them
    ],
)
async def test_a_service_may_write_only_its_own_topics(secure: SecureStack, user: str, topic: str) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(secure, user, topic, b"{}")


async def _read(secure: SecureStack, user: str, topic: str) -> None:
    consumer = AIOKafkaConsumer(
        secure.topic(topic),
        **secure.kafka.client_options(user),
        group_id=f"{secure.stack.topic_prefix}spy-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=3000)
        await consumer.getone()
    finally:
        await consumer.stop()


async def test_nobody_but_its_consumer_reads_a_topic(secure: SecureStack) -> None:
    """The lineage producers cannot read publish requests (snapshots), not even with a group of their own."""
    with pytest.raises((TopicAuthorizationFailedError, GroupAuthorizationFailedError)):
        await _read(secure, "lineage-producer", Topics.PUBLISH_REQUESTED)
