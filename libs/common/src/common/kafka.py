"""FastStream Kafka broker factory and the binding of ``ConsumerRuntime`` handlers to subscribers.

Every service builds its broker with ``create_broker``: idempotent producer with ``acks=all``, OpenTelemetry
(trace context read from and written to Kafka headers) and Prometheus middlewares. ``subscribe`` registers a
handler with an explicit ack policy: the offset is committed only after the record was processed, dead-lettered
or found to be a duplicate; a ``NackRecord`` rewinds the partition to that record.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any, overload

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import ClusterAuthorizationFailedError, TopicAlreadyExistsError, TopicAuthorizationFailedError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry.trace import TracerProvider
from prometheus_client import REGISTRY, CollectorRegistry

from common.consumer import (
    ConsumerRuntime,
    E,
    EventBatchHandler,
    EventHandler,
    Handler,
    NackRecord,
    expecting,
    expecting_batch,
    record_from_consumer_record,
)
from common.kafka_access import KafkaAccess, client_options
from common.outbox import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)


def create_broker(
    kafka: KafkaAccess | str,
    *,
    service: str,
    tracer_provider: TracerProvider | None = None,
    metrics_registry: CollectorRegistry | None = REGISTRY,
    telemetry: bool = True,
    client_id: str = "",
) -> KafkaBroker:
    """The service's broker: its producers and consumers say ``client_id`` (default: the service name) to Kafka."""
    middlewares: list[Any] = []
    if telemetry:
        middlewares.append(KafkaTelemetryMiddleware(tracer_provider=tracer_provider))
        if metrics_registry is not None:
            middlewares.append(KafkaPrometheusMiddleware(registry=metrics_registry, app_name=service))
    access = KafkaAccess.of(kafka)
    return KafkaBroker(
        access.bootstrap_servers,
        security=access.broker_security(),
        client_id=client_id or service,
        enable_idempotence=True,
        acks="all",
        max_request_size=MAX_MESSAGE_BYTES + 64 * 1024,
        middlewares=tuple(middlewares),
        logger=None,
    )


class BrokerDeadLetterSink:
    """Publishes dead letters through the service's broker (same idempotent producer, ``acks=all``)."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def send(self, topic: str, *, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        await self._broker.publish(
            value,
            topic=topic,
            key=key,
            headers={k: v.decode(errors="replace") for k, v in headers},
        )


@overload
def subscribe(
    broker: KafkaBroker,
    runtime: ConsumerRuntime,
    topic: str,
    handler: EventHandler[E],
    *,
    event: type[E],
    group_id: str,
    max_poll_interval_ms: int = 300_000,
) -> Any: ...


@overload
def subscribe(
    broker: KafkaBroker,
    runtime: ConsumerRuntime,
    topic: str,
    handler: Handler,
    *,
    event: None = None,
    group_id: str,
    max_poll_interval_ms: int = 300_000,
) -> Any: ...


def subscribe(
    broker: KafkaBroker,
    runtime: ConsumerRuntime,
    topic: str,
    handler: Any,
    *,
    event: Any = None,
    group_id: str,
    max_poll_interval_ms: int = 300_000,
) -> Any:
    """Register ``handler`` for ``topic`` under consumer group ``group_id`` (``ServiceSettings.group_id``) through
    ``runtime``. With ``event`` the handler receives a ``Delivery[event]``: a record of any other type on the topic
    goes to its DLQ with the reason (``common.consumer.expecting``). Without it, the handler checks what it gets
    (a topic that carries more than one kind of record)."""
    if event is not None:
        handler = expecting(event, handler)

    async def _on_message(msg: KafkaMessage) -> None:
        record = record_from_consumer_record(msg.raw_message)
        try:
            await runtime.handle(record, handler)
        except NackRecord:
            await msg.nack()
            raise

    _on_message.__name__ = f"on_{topic.replace('.', '_').replace('-', '_')}"
    runtime.subscriptions.append((group_id, topic))
    return broker.subscriber(
        topic,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 64 * 1024,
        max_poll_interval_ms=max_poll_interval_ms,
        title=f"{group_id}:{topic}",
    )(_on_message)


def subscribe_batches(
    broker: KafkaBroker,
    runtime: ConsumerRuntime,
    topic: str,
    handler: EventHandler[E],
    batch_handler: EventBatchHandler[E],
    *,
    event: type[E],
    group_id: str,
    max_records: int,
    max_poll_interval_ms: int = 300_000,
) -> Any:
    """As ``subscribe``, consuming up to ``max_records`` records per poll: one transaction per partition's records
    through ``batch_handler`` (``ConsumerRuntime.handle_batch``); ``handler`` takes them one by one when that
    transaction fails (a poison event to the DLQ, the others applied). The offsets are committed after the whole
    poll; a ``NackRecord`` rewinds every partition of the poll to its first record (the ones done are duplicates
    then, skipped by the inbox)."""
    one = expecting(event, handler)
    many = expecting_batch(event, batch_handler)

    async def _on_batch(msg: KafkaMessage) -> None:
        raw = msg.raw_message
        records = [record_from_consumer_record(cr) for cr in (raw if isinstance(raw, (tuple, list)) else (raw,))]
        try:
            await runtime.handle_batch(records, many, one)
        except NackRecord:
            await msg.nack()
            raise

    _on_batch.__name__ = f"on_{topic.replace('.', '_').replace('-', '_')}_batch"
    runtime.subscriptions.append((group_id, topic))
    return broker.subscriber(
        topic,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES + 64 * 1024,
        max_poll_interval_ms=max_poll_interval_ms,
        title=f"{group_id}:{topic}",
    )(_on_batch)


async def ensure_topics(
    kafka: KafkaAccess | str,
    topics: Iterable[str],
    *,
    partitions: int | Mapping[str, int] = 3,
    replication_factor: int = 1,
) -> None:
    """Create the topics (and their ``.dlq``) if missing. Idempotent. ``partitions``: for every topic, or per topic
    name as given (a ``.dlq`` gets its topic's count; a topic the mapping lacks, 3). A principal that may not create
    topics (a service under ACLs: ``platform-provision`` creates them) leaves them to the administrator, with a
    warning. An existing topic is left as it is (its partition count too)."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for t in topics:
            count = partitions if isinstance(partitions, int) else partitions.get(t, 3)
            for name in (t, f"{t}.dlq"):
                if name not in existing:
                    wanted.append(
                        NewTopic(
                            name=name,
                            num_partitions=count,
                            replication_factor=replication_factor,
                            topic_configs={"max.message.bytes": str(MAX_MESSAGE_BYTES + 64 * 1024)},
                        )
                    )
        if wanted:
            try:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(wanted)
            except (TopicAuthorizationFailedError, ClusterAuthorizationFailedError):
                log.warning(
                    "not allowed to create topics %s: they are created by platform-provision",
                    sorted(t.name for t in wanted),
                )
    finally:
        await admin.close()
