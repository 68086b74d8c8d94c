"""Kafka: ``publish.completed`` -> :func:`service.record_publish`, ``workflow.run.started`` ->
:func:`service.record_run_started` (inbox-deduplicated, same transaction)."""

from __future__ import annotations

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import ConsumerRuntime, Delivery
from common.events.models import PublishCompleted, Topics, WorkflowRunStarted
from common.kafka import subscribe
from history_sync import service
from history_sync.config import Settings


async def on_publish_completed(session: AsyncSession, delivery: Delivery[PublishCompleted]) -> None:
    await service.record_publish(session, delivery.event)


async def on_run_started(session: AsyncSession, delivery: Delivery[WorkflowRunStarted]) -> None:
    await service.record_run_started(session, delivery.event)


def register_subscribers(broker: KafkaBroker, runtime: ConsumerRuntime, settings: Settings) -> None:
    group = settings.group_id
    topic = settings.topic
    subscribe(
        broker, runtime, topic(Topics.PUBLISH_COMPLETED), on_publish_completed, event=PublishCompleted, group_id=group
    )
    subscribe(
        broker, runtime, topic(Topics.WORKFLOW_RUN_STARTED), on_run_started, event=WorkflowRunStarted, group_id=group
    )
