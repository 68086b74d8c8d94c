"""Kafka: ``publish.completed``, ``execution.synced``, ``task.dependency.changed`` → use cases (thin).

Each handler runs inside the consumer runtime's transaction (inbox claim + effects commit together); a record of the
wrong event type on a topic is a ``PoisonMessage`` and goes to the topic's DLQ.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import Delivery
from common.events.models import ExecutionSynced, PublishCompleted, TaskDependencyChanged, Topics
from common.kafka import subscribe
from common.runtime import Infra
from definition.config import Settings
from definition.deps import Deps
from definition.service import projections


async def on_publish_completed(session: AsyncSession, delivery: Delivery[PublishCompleted], deps: Deps) -> None:
    await projections.apply_publish_completed(session, deps, delivery.event)


async def on_execution_synced(session: AsyncSession, delivery: Delivery[ExecutionSynced], deps: Deps) -> None:
    await projections.apply_execution_synced(session, deps, delivery.event)


async def on_dependency_changed(session: AsyncSession, delivery: Delivery[TaskDependencyChanged], deps: Deps) -> None:
    await projections.apply_dependency_change(session, deps, delivery.event, event_id=delivery.envelope.id)


def register_subscribers(infra: Infra, settings: Settings, deps: Deps) -> None:
    group, topic = settings.group_id, settings.topic
    broker, runtime = infra.broker, infra.runtime
    subscribe(
        broker,
        runtime,
        topic(Topics.PUBLISH_COMPLETED),
        partial(on_publish_completed, deps=deps),
        event=PublishCompleted,
        group_id=group,
    )
    subscribe(
        broker,
        runtime,
        topic(Topics.EXECUTION_SYNCED),
        partial(on_execution_synced, deps=deps),
        event=ExecutionSynced,
        group_id=group,
    )
    subscribe(
        broker,
        runtime,
        topic(Topics.TASK_DEPENDENCY_CHANGED),
        partial(on_dependency_changed, deps=deps),
        event=TaskDependencyChanged,
        group_id=group,
    )
