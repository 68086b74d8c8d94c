"""Kafka: ``publish.completed``, ``execution.synced``, ``task.dependency.changed`` → use cases (thin).

Each handler runs inside the consumer runtime's transaction (inbox claim + effects commit together); a record of the
wrong event type on a topic is a ``PoisonMessage`` and goes to the topic's DLQ.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import Delivery, Handler
from common.errors import PoisonMessage
from common.events.models import ExecutionSynced, PublishCompleted, TaskDependencyChanged, Topics
from common.kafka import subscribe
from common.runtime import Infra
from definition.config import Settings
from definition.deps import Deps
from definition.service import projections


def _wrong_type(delivery: Delivery, expected: str) -> PoisonMessage:
    return PoisonMessage(
        f"event type {delivery.envelope.type!r} does not belong on {delivery.record.topic} (expected {expected})"
    )


def publish_completed_handler(deps: Deps) -> Handler:
    async def handle(session: AsyncSession, delivery: Delivery) -> None:
        if not isinstance(delivery.event, PublishCompleted):
            raise _wrong_type(delivery, PublishCompleted.TYPE)
        await projections.apply_publish_completed(session, deps, delivery.event)

    return handle


def execution_synced_handler(deps: Deps) -> Handler:
    async def handle(session: AsyncSession, delivery: Delivery) -> None:
        if not isinstance(delivery.event, ExecutionSynced):
            raise _wrong_type(delivery, ExecutionSynced.TYPE)
        await projections.apply_execution_synced(session, deps, delivery.event)

    return handle


def dependency_changed_handler(deps: Deps) -> Handler:
    async def handle(session: AsyncSession, delivery: Delivery) -> None:
        if not isinstance(delivery.event, TaskDependencyChanged):
            raise _wrong_type(delivery, TaskDependencyChanged.TYPE)
        await projections.apply_dependency_change(session, deps, delivery.event, event_id=delivery.envelope.id)

    return handle


CONSUMED_TOPICS = (Topics.PUBLISH_COMPLETED, Topics.EXECUTION_SYNCED, Topics.TASK_DEPENDENCY_CHANGED)
#: lineage.changed: a deleted task's reads and writes go (``LineageChanged.task_removed``)
PRODUCED_TOPICS = (Topics.WORKFLOW_VERSION_CREATED, Topics.PUBLISH_REQUESTED, Topics.LINEAGE_CHANGED)


def register_subscribers(infra: Infra, settings: Settings, deps: Deps) -> None:
    group = settings.topic(settings.consumer_group)
    handlers = {
        Topics.PUBLISH_COMPLETED: publish_completed_handler(deps),
        Topics.EXECUTION_SYNCED: execution_synced_handler(deps),
        Topics.TASK_DEPENDENCY_CHANGED: dependency_changed_handler(deps),
    }
    for topic, handler in handlers.items():
        subscribe(infra.broker, infra.runtime, settings.topic(topic), handler, group_id=group)
