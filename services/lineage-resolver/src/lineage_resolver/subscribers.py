"""Kafka: ``lineage.changed`` → ``apply_lineage_commands`` (thin: pick the commands out of the delivery);
``task.openlineage-job.set`` (definition's tasks' OpenLineage job identities) → ``apply_task_job``."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from common.consumer import Delivery, Handler
from common.events import Event, LineageChanged, TaskOpenLineageJobSet, Topics
from common.kafka import subscribe
from common.runtime import Infra
from lineage_resolver.config import Settings
from lineage_resolver.deps import Deps
from lineage_resolver.domain import InvalidLineageMessage, LineageChange
from lineage_resolver.messages import DecodedLineage, ForeignLineageDecoder, commands_from_event
from lineage_resolver.openlineage_jobs import apply_run_event, apply_task_job
from lineage_resolver.service import apply_lineage_commands

log = logging.getLogger(__name__)


def commands_of(delivery: Delivery[Event]) -> tuple[LineageChange, ...]:
    event = delivery.event
    if isinstance(event, LineageChanged):
        return commands_from_event(event)
    if isinstance(event, DecodedLineage):
        if event.ignored_reason is not None:
            log.info("lineage record ignored: %s", event.ignored_reason, extra={"event_id": delivery.envelope.id})
        return event.changes
    raise InvalidLineageMessage(f"event type {delivery.envelope.type!r} does not belong on lineage.changed")


def lineage_changed_handler(deps: Deps) -> Handler:
    async def handle(session: AsyncSession, delivery: Delivery[Event]) -> None:
        event = delivery.event
        if isinstance(event, DecodedLineage) and event.run_event is not None:
            await apply_run_event(session, deps, event.run_event, event_id=delivery.envelope.id)
            return
        commands = commands_of(delivery)
        if commands:
            await apply_lineage_commands(session, deps, commands, cause_event_id=delivery.envelope.id)

    return handle


def task_job_handler(deps: Deps) -> Handler:
    async def handle(session: AsyncSession, delivery: Delivery[Event]) -> None:
        event = delivery.event
        if not isinstance(event, TaskOpenLineageJobSet):
            raise InvalidLineageMessage(f"event type {delivery.envelope.type!r} does not belong on this topic")
        await apply_task_job(session, deps, event)

    return handle


def register_subscribers(infra: Infra, settings: Settings, deps: Deps) -> None:
    topic = settings.topic(Topics.LINEAGE_CHANGED)
    infra.runtime.foreign_decoder = ForeignLineageDecoder(settings.openlineage, topic=topic)
    subscribe(
        infra.broker,
        infra.runtime,
        topic,
        lineage_changed_handler(deps),
        group_id=settings.group_id,
    )
    subscribe(
        infra.broker,
        infra.runtime,
        settings.topic(Topics.TASK_OPENLINEAGE_JOB_SET),
        task_job_handler(deps),
        group_id=settings.group_id,
    )
