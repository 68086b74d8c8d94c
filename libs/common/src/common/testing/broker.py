"""A service's Kafka subscribers on FastStream's in-memory broker (``TestKafkaBroker``), for component tests of handler
logic, the inbox and dead-lettering without a Kafka server. Ordering, redelivery and ACLs need the real broker
(integration tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from common.db import ServiceDatabase
from common.events import Topics


def settings_for(db: ServiceDatabase) -> dict[str, Any]:
    """The settings a service needs for a component test of its subscribers on ``db``, without a Kafka server."""
    return {
        "database_url": db.url,
        "db_schema": db.schema,
        "topic_prefix": "component.",
        "kafka_bootstrap_servers": "127.0.0.1:9",  # never dialled: the broker is patched in-memory
        "log_json": False,
        "consumer_max_attempts": 3,
    }


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    value: bytes
    headers: dict[str, str]


@dataclass
class InMemoryKafka:
    broker: KafkaBroker
    #: what reached the dead-letter topics of the watched topics, in order
    dead_letters: list[DeadLetter] = field(default_factory=list)

    async def send(self, topic: str, *values: bytes, key: bytes = b"test") -> None:
        """Deliver records in order: the handler has run (and committed) when this returns."""
        for value in values:
            await self.broker.publish(value, topic=topic, key=key)


@asynccontextmanager
async def in_memory_kafka(broker: KafkaBroker, *, dead_letters_of: Iterable[str]) -> AsyncIterator[InMemoryKafka]:
    """``broker`` (with the service's subscribers registered) patched in-memory; the dead letters of the topics in
    ``dead_letters_of`` are collected."""
    kafka = InMemoryKafka(broker)
    for topic in dead_letters_of:
        broker.subscriber(Topics.dlq(topic), group_id="tests-dead-letters")(_collector(kafka, Topics.dlq(topic)))
    async with TestKafkaBroker(broker) as patched:
        kafka.broker = patched
        yield kafka


def _collector(kafka: InMemoryKafka, dlq: str) -> Any:
    async def collect(msg: KafkaMessage) -> None:
        raw: Any = msg.raw_message
        kafka.dead_letters.append(DeadLetter(dlq, raw.value, {k: v.decode() for k, v in raw.headers}))

    return collect
