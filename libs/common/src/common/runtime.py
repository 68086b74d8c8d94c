"""The infrastructure half of a service's composition root.

``Infra.start(...)`` builds what every Kafka+PostgreSQL service needs — engine and sessions on the service's schema,
FastStream broker, outbox writer and relay, consumer runtime with the DLQ sink — and ``stop()`` releases it in the
reverse order. A service's ``main.py`` registers its subscribers on ``infra.broker`` before ``start_consuming()``
and builds its own ``Deps`` from the parts. Tests call the same code with test settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from common.consumer import ConsumerRuntime, E, EventBatchHandler, EventHandler
from common.db import create_engine, session_factory
from common.http import Check, Degradable
from common.kafka import BrokerDeadLetterSink, create_broker, subscribe, subscribe_batches
from common.lag import ConsumerLagMonitor
from common.outbox import Outbox, OutboxMonitor, OutboxRelay
from common.settings import ServiceSettings
from common.telemetry import instrument_engine, register_secrets

log = logging.getLogger(__name__)


@dataclass
class Infra:
    settings: ServiceSettings
    schema: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    broker: KafkaBroker
    outbox: Outbox
    relay: OutboxRelay
    runtime: ConsumerRuntime
    monitor: OutboxMonitor
    _relay_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _monitor_task: asyncio.Task[None] | None = field(default=None, repr=False)
    _lag_monitor: ConsumerLagMonitor | None = field(default=None, repr=False)
    _lag_task: asyncio.Task[None] | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        settings: ServiceSettings,
        *,
        schema: str,
        outbox_table: Table,
        inbox_table: Table,
        tracer_provider: TracerProvider | None = None,
        telemetry: bool = True,
    ) -> Infra:
        register_secrets([settings.database_url, settings.kafka.password])
        engine = create_engine(settings.database_url, schema=schema)
        if telemetry:
            instrument_engine(engine, tracer_provider)
        sessions = session_factory(engine)
        if not settings.kafka.authenticated:
            log.warning("Kafka without authentication: set KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD(_FILE)")
        broker = create_broker(
            settings.kafka,
            service=settings.service_name,
            tracer_provider=tracer_provider,
            telemetry=telemetry,
            client_id=settings.kafka_client_id,
        )
        outbox = Outbox(outbox_table, source=f"/services/{settings.service_name}", topic_name=settings.topic)
        relay = OutboxRelay(
            engine,
            kafka=settings.kafka,
            service=settings.service_name,
            batch_size=settings.outbox_batch_size,
            poll_interval_s=settings.outbox_poll_interval_s,
        )
        runtime = ConsumerRuntime(
            name=settings.service_name,
            sessions=sessions,
            inbox=inbox_table,
            dlq=BrokerDeadLetterSink(broker),
            max_attempts=settings.consumer_max_attempts,
        )
        monitor = OutboxMonitor(engine, service=settings.service_name, interval_s=settings.outbox_monitor_interval_s)
        return cls(settings, schema, engine, sessions, broker, outbox, relay, runtime, monitor)

    async def start(self, *, consume: bool = True, relay: bool = True) -> None:
        """Start the outbox relay and its monitor, and the broker (with every subscriber registered so far)."""
        self._monitor_task = asyncio.create_task(
            self.monitor.run(), name=f"{self.settings.service_name}-outbox-monitor"
        )
        if relay:
            self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.settings.service_name}-outbox-relay")
        if consume:
            await self.broker.start()
            if self.runtime.subscriptions:
                groups: dict[str, set[str]] = {}
                for group, topic in self.runtime.subscriptions:
                    groups.setdefault(group, set()).add(topic)
                self._lag_monitor = ConsumerLagMonitor(
                    self.settings.kafka, groups, interval_s=self.settings.kafka_lag_interval_s
                )
                self._lag_task = asyncio.create_task(self._lag_monitor.run(), name="consumer-lag-monitor")
        else:
            await self.broker.connect()

    async def stop(self) -> None:
        if self._lag_monitor is not None and self._lag_task is not None:
            self._lag_monitor.stop()
            self._lag_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._lag_task
        self.monitor.stop()
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor_task
        self.relay.stop()
        if self._relay_task is not None:
            try:
                await asyncio.wait_for(self._relay_task, timeout=10)
            except TimeoutError:
                self._relay_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._relay_task
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.engine.dispose()

    def subscribe(self, handler: EventHandler[E], *, event: type[E]) -> None:
        """Consume ``event`` from its topic (``event.TOPIC``, prefixed) in the service's consumer group: ``handler``
        gets a ``Delivery[event]``; a record of another type goes to the DLQ (``common.kafka.subscribe``)."""
        topic = self.settings.topic(event.TOPIC)
        subscribe(self.broker, self.runtime, topic, handler, event=event, group_id=self.settings.group_id)

    def subscribe_batches(
        self, handler: EventHandler[E], batch_handler: EventBatchHandler[E], *, event: type[E], max_records: int
    ) -> None:
        """As ``subscribe``, up to ``max_records`` records per poll, a partition's records in one transaction
        (``batch_handler``), one by one (``handler``) when that fails (``common.kafka.subscribe_batches``)."""
        topic = self.settings.topic(event.TOPIC)
        subscribe_batches(
            self.broker,
            self.runtime,
            topic,
            handler,
            batch_handler,
            event=event,
            group_id=self.settings.group_id,
            max_records=max_records,
        )

    def readiness_checks(self) -> Mapping[str, Check]:
        """What the service cannot serve without: its database."""

        async def database() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        return {"database": database}

    def degradable_checks(self) -> Mapping[str, Degradable]:
        """What it serves without, late: Kafka (events wait in the outbox, consumed topics wait in Kafka)."""

        async def kafka() -> None:
            if not await self.broker.ping(timeout=2.0):
                raise ConnectionError("Kafka broker did not answer")

        effect = (
            "requests are served and accepted; the events they cause wait in the outbox and the events this "
            "service consumes wait in Kafka until the broker answers again"
        )
        return {"kafka": Degradable(kafka, effect)}
