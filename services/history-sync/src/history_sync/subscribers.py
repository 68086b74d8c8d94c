"""Kafka: ``publish.completed`` -> :func:`service.record_publish`, ``workflow.run.started`` ->
:func:`service.record_run_started` (inbox-deduplicated, same transaction)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import Delivery
from common.events.models import PublishCompleted, WorkflowRunStarted
from common.runtime import Infra
from history_sync import service


async def on_publish_completed(session: AsyncSession, delivery: Delivery[PublishCompleted]) -> None:
    await service.record_publish(session, delivery.event)


async def on_run_started(session: AsyncSession, delivery: Delivery[WorkflowRunStarted]) -> None:
    await service.record_run_started(session, delivery.event)


def register_subscribers(infra: Infra) -> None:
    infra.subscribe(on_publish_completed, event=PublishCompleted)
    infra.subscribe(on_run_started, event=WorkflowRunStarted)
