"""Kafka: ``publish.completed``, ``execution.synced``, ``task.dependency.changed`` → use cases (thin).

Each handler runs inside the consumer runtime's transaction (inbox claim + effects commit together); a record of the
wrong event type on a topic is a ``PoisonMessage`` and goes to the topic's DLQ.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import Delivery
from common.events.models import ExecutionSynced, PublishCompleted, TaskDependencyChanged
from common.runtime import Infra
from definition.deps import Deps
from definition.service import projections


async def on_publish_completed(session: AsyncSession, delivery: Delivery[PublishCompleted], deps: Deps) -> None:
    await projections.apply_publish_completed(session, deps, delivery.event)


async def on_execution_synced(session: AsyncSession, delivery: Delivery[ExecutionSynced], deps: Deps) -> None:
    await projections.apply_execution_synced(session, deps, delivery.event)


async def on_dependency_changed(session: AsyncSession, delivery: Delivery[TaskDependencyChanged], deps: Deps) -> None:
    await projections.apply_dependency_change(session, deps, delivery.event, event_id=delivery.envelope.id)


def register_subscribers(infra: Infra, deps: Deps) -> None:
    infra.subscribe(partial(on_publish_completed, deps=deps), event=PublishCompleted)
    infra.subscribe(partial(on_execution_synced, deps=deps), event=ExecutionSynced)
    infra.subscribe(partial(on_dependency_changed, deps=deps), event=TaskDependencyChanged)
