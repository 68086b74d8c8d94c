"""Kafka: ``publish.completed`` -> :func:`service.record_publish`, ``workflow.run.started`` ->
:func:`service.record_run_started` (inbox-deduplicated, same transaction)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import ConsumerRuntime, Delivery
from common.errors import PoisonMessage
from common.events.models import PublishCompleted, Topics, WorkflowRunStarted
from common.kafka import subscribe
from history_sync import service
from history_sync.config import Settings


async def on_publish_completed(session: AsyncSession, delivery: Delivery) -> None:
    event = delivery.event
    if not isinstance(event, PublishCompleted):
        raise PoisonMessage(f"expected {PublishCompleted.TYPE}, got {delivery.envelope.type}")
    await service.record_publish(session, event)


async def on_run_started(session: AsyncSession, delivery: Delivery) -> None:
    event = delivery.event
    if not isinstance(event, WorkflowRunStarted):
        raise PoisonMessage(f"expected {WorkflowRunStarted.TYPE}, got {delivery.envelope.type}")
    await service.record_run_started(session, event)


def register_subscribers(broker: KafkaBroker, runtime: ConsumerRuntime, settings: Settings) -> None:
    subscribe(
        broker,
        runtime,
        settings.topic(Topics.PUBLISH_COMPLETED),
        on_publish_completed,
        group_id=settings.topic(settings.service_name),
    )
    subscribe(
        broker,
        runtime,
        settings.topic(Topics.WORKFLOW_RUN_STARTED),
        on_run_started,
        group_id=settings.topic(settings.service_name),
    )
