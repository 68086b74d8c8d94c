"""Kafka: ``publish.completed`` and ``workflow.execution.failed`` → alerts; every ``<topic>.dlq`` → dead-letter counts
and alerts. All of them are inbox-deduplicated (``common.kafka.subscribe``): a redelivered record changes nothing.

Dead letters are raw copies of the failed record with ``x-dlq-*`` headers, not our envelope (they may be bad JSON,
which is why they are there), so they never reach the envelope decoder: a second ``ConsumerRuntime`` with a foreign
decoder turns each one into a ``DeadLetterSeen`` with the id ``dlq:<topic>:<partition>:<offset>`` (its inbox key).
"""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from alerting import service
from alerting.db.tables import inbox_table
from alerting.deps import Deps
from common.consumer import ConsumerRuntime, Delivery, Record, header_map
from common.events.base import Event
from common.events.envelope import Envelope
from common.events.models import PublishCompleted, Topics, WorkflowExecutionFailed
from common.kafka import BrokerDeadLetterSink, subscribe
from common.runtime import Infra

DLQ_SUFFIX = ".dlq"


class DeadLetterSeen(Event):
    """A record found on a dead-letter topic (local to this service: never produced, not in the registry)."""

    TYPE: ClassVar[str] = "alerting.dead-letter.seen"
    TOPIC: ClassVar[str] = "<topic>.dlq"

    dlq_topic: str
    partition: int
    offset: int
    original_topic: str
    reason: str | None = None
    consumer: str | None = None
    error_type: str | None = None

    def key(self) -> str:
        return self.original_topic


def decode_dead_letter(record: Record) -> tuple[Envelope, Event] | None:
    if not record.topic.endswith(DLQ_SUFFIX):
        return None
    h = header_map(record.headers)
    event = DeadLetterSeen(
        dlq_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        original_topic=h.get("x-dlq-original-topic") or record.topic[: -len(DLQ_SUFFIX)],
        reason=h.get("x-dlq-reason"),
        consumer=h.get("x-dlq-consumer"),
        error_type=h.get("x-dlq-error-type"),
    )
    envelope = Envelope(
        id=f"dlq:{record.topic}:{record.partition}:{record.offset}",
        type=DeadLetterSeen.TYPE,
        source="/services/alerting/dlq",
        subject=event.original_topic,
        data={},
    )
    return envelope, event


def _unprefixed(topic: str, prefix: str) -> str:
    return topic[len(prefix) :] if prefix and topic.startswith(prefix) else topic


def dead_letter_topics(deps: Deps) -> list[str]:
    return [deps.settings.topic(Topics.dlq(t)) for t in Topics.ALL]


def register_subscribers(infra: Infra, deps: Deps) -> None:
    s = deps.settings

    async def on_publish_completed(session: AsyncSession, delivery: Delivery[PublishCompleted]) -> None:
        await service.on_publish_completed(session, deps, delivery.event)

    async def on_execution_failed(session: AsyncSession, delivery: Delivery[WorkflowExecutionFailed]) -> None:
        await service.on_execution_failed(session, deps, delivery.event)

    async def on_dead_letter(session: AsyncSession, delivery: Delivery[DeadLetterSeen]) -> None:
        event = delivery.event
        dl = service.DeadLetter(
            topic=_unprefixed(event.original_topic, deps.settings.topic_prefix),
            reason=event.reason,
            consumer=event.consumer,
            error_type=event.error_type,
        )
        await service.on_dead_letter(session, deps, dl)

    infra.subscribe(on_publish_completed, event=PublishCompleted)
    infra.subscribe(on_execution_failed, event=WorkflowExecutionFailed)
    if not s.watch_dead_letters:
        return
    dlq_runtime = ConsumerRuntime(
        name=s.service_name,
        sessions=infra.sessions,
        inbox=inbox_table,
        dlq=BrokerDeadLetterSink(infra.broker),
        max_attempts=s.consumer_max_attempts,
        foreign_decoder=decode_dead_letter,
    )
    for topic in dead_letter_topics(deps):
        subscribe(infra.broker, dlq_runtime, topic, on_dead_letter, event=DeadLetterSeen, group_id=s.group_id)
