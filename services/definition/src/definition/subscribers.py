"""Kafka: ``publish.completed``, ``execution.synced``, ``task.dependency.changed`` → use cases (thin).

Each handler runs inside the consumer runtime's transaction (inbox claim + effects commit together); a record of the
wrong event type on a topic is a ``PoisonMessage`` and goes to the topic's DLQ. ``task.dependency.changed`` comes in
batches (``Settings.dependency_batch_size`` records per poll, a partition's records in one transaction; one by one
when that transaction fails).
"""

from __future__ import annotations

from collections.abc import Sequence
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


async def on_dependency_changes(
    session: AsyncSession, deliveries: Sequence[Delivery[TaskDependencyChanged]], deps: Deps
) -> None:
    await projections.apply_dependency_changes(session, deps, [(d.event, d.envelope.id) for d in deliveries])


def register_subscribers(infra: Infra, deps: Deps, *, dependency_batch_size: int = 1) -> None:
    infra.subscribe(partial(on_publish_completed, deps=deps), event=PublishCompleted)
    infra.subscribe(partial(on_execution_synced, deps=deps), event=ExecutionSynced)
    if dependency_batch_size > 1:
        infra.subscribe_batches(
            partial(on_dependency_changed, deps=deps),
            partial(on_dependency_changes, deps=deps),
            event=TaskDependencyChanged,
            max_records=dependency_batch_size,
        )
    else:
        infra.subscribe(partial(on_dependency_changed, deps=deps), event=TaskDependencyChanged)
