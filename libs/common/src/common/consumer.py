"""Idempotent, explicitly acknowledged consumption with retries and a dead-letter queue.

For every record:
1. decode the envelope and payload (``registry``); a record that can never become an event (bad JSON, schema
   violation, unknown type/version) goes to ``<topic>.dlq`` with the reason in its headers, and is acknowledged;
2. in ONE database transaction: claim the event id in ``inbox`` (``ON CONFLICT DO NOTHING``); if it was already there
   the record is a duplicate and nothing happens; otherwise run the handler, whose effects commit with the claim;
3. a ``DomainError`` from the handler rolls back and sends the record to the DLQ with the reason; a transient error
   (database or network) is retried in place with exponential backoff; after ``max_attempts`` the record is NOT
   acknowledged (``NackRecord``): the subscriber rewinds to it, so nothing is lost while the outage lasts;
   an unexpected exception is retried the same way and then dead-lettered with its type and message, so one bad
   record cannot stall its partition forever.
The offset is committed only after 2–3 finished (FastStream ``AckPolicy.NACK_ON_ERROR``, never ack-first).

A topic with many small events (``task.dependency.changed`` in a lineage storm) may be consumed in batches
(``handle_batch``): the records of one partition in ONE transaction — every event id claimed in the inbox by one
statement, the batch handler given the events not seen before, in offset order. Any failure of that transaction
rolls it back whole and the partition's records are handled one by one as above (``handle``): a poison event goes to
the DLQ with its reason and the others are applied, each exactly once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, cast

from prometheus_client import Counter
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.db import invalid_input
from common.errors import DomainError, PoisonMessage
from common.events.base import Event
from common.events.envelope import Envelope
from common.events.registry import EventRegistry, registry
from common.retry import is_transient, retrying

log = logging.getLogger(__name__)

CONSUMED = Counter("events_consumed_total", "Records handled by consumers", ["consumer", "topic", "outcome"])
DLQ_SENT = Counter("dlq_messages_total", "Records sent to a dead-letter topic", ["consumer", "topic", "reason"])


class Outcome(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    IGNORED = "ignored"


class NackRecord(Exception):
    """Raised to leave a record unacknowledged: it will be delivered again (transient failure persisted)."""


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]] = ()


E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Delivery(Generic[E]):
    """What a handler receives besides its session: the decoded event and where it came from. A handler registered
    with ``event=SomeEvent`` (``common.kafka.subscribe``) gets a ``Delivery[SomeEvent]``."""

    envelope: Envelope
    event: E
    record: Record


Handler = Callable[[AsyncSession, "Delivery[Event]"], Awaitable[None]]
#: the handler of a batch: the new (not yet claimed) deliveries of one partition, in offset order, in one transaction
BatchHandler = Callable[[AsyncSession, "Sequence[Delivery[Event]]"], Awaitable[None]]
#: a batch handler of one event type (``common.kafka.subscribe_batches(..., event=...)``)
EventBatchHandler = Callable[[AsyncSession, "Sequence[Delivery[E]]"], Awaitable[None]]
#: a handler of one event type (``common.kafka.subscribe(..., event=...)`` checks the type before calling it)
EventHandler = Callable[[AsyncSession, "Delivery[E]"], Awaitable[None]]


def expecting(event: type[E], handler: EventHandler[E]) -> Handler:
    """``handler`` behind a check of the event's type: a record of another type on the topic is a ``PoisonMessage``
    (dead-lettered with the reason), so ``handler`` only ever sees ``event``."""

    async def typed(session: AsyncSession, delivery: Delivery[Event]) -> None:
        if not isinstance(delivery.event, event):
            raise PoisonMessage(
                f"event type {delivery.envelope.type!r} does not belong on {delivery.record.topic} "
                f"(expected {event.TYPE})"
            )
        await handler(session, cast("Delivery[E]", delivery))

    return typed


def expecting_batch(event: type[E], handler: EventBatchHandler[E]) -> BatchHandler:
    """``handler`` behind a check of every event's type: a record of another type fails the batch, whose records are
    then handled one by one (the stranger dead-lettered by ``expecting``)."""

    async def typed(session: AsyncSession, deliveries: Sequence[Delivery[Event]]) -> None:
        for d in deliveries:
            if not isinstance(d.event, event):
                raise PoisonMessage(f"event type {d.envelope.type!r} does not belong on {d.record.topic}")
        await handler(session, cast("Sequence[Delivery[E]]", deliveries))

    return typed


class DeadLetterSink(Protocol):
    async def send(self, topic: str, *, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None: ...


@dataclass
class ConsumerRuntime:
    """Runs handlers for one consumer (a service's consumer group) against that service's inbox."""

    name: str
    sessions: async_sessionmaker[AsyncSession]
    inbox: Table
    dlq: DeadLetterSink
    events: EventRegistry = registry
    max_attempts: int = 5
    base_backoff_s: float = 0.2
    max_backoff_s: float = 10.0
    #: optional decoder for records that are not our envelope (e.g. OpenLineage JSON on lineage.changed);
    #: returns None to fall back to the envelope decoder
    foreign_decoder: Callable[[Record], tuple[Envelope, Event] | None] | None = None
    _sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    #: (consumer group, topic) pairs registered through ``common.kafka.subscribe`` (watched for lag)
    subscriptions: list[tuple[str, str]] = field(default_factory=list)

    async def handle(self, record: Record, handler: Handler) -> Outcome:
        try:
            envelope, event = self._decode(record)
        except PoisonMessage as exc:
            await self._dead_letter(record, reason=exc.detail, error_type="poison-message")
            return self._count(record, Outcome.DEAD_LETTERED)

        delivery: Delivery[Event] = Delivery(envelope=envelope, event=event, record=record)

        async def once() -> Outcome:
            try:
                return await self._run_once(delivery, handler)
            except DomainError as exc:
                await self._dead_letter(record, reason=exc.detail, error_type=exc.code, event_id=envelope.id)
                return Outcome.DEAD_LETTERED
            except Exception as exc:
                refused = invalid_input(exc)
                if refused is None:
                    raise
                # a value the database cannot store: the same on every attempt
                await self._dead_letter(record, reason=refused.detail, error_type=refused.code, event_id=envelope.id)
                return Outcome.DEAD_LETTERED

        def on_retry(exc: BaseException, attempt: int, delay: float) -> None:
            log.info(
                "handler failed (attempt %d/%d), retrying in %.2fs: %s",
                attempt,
                self.max_attempts,
                delay,
                type(exc).__name__,
                extra={"consumer": self.name, "event_id": envelope.id},
            )

        retries = retrying(
            attempts=self.max_attempts,
            initial_s=self.base_backoff_s,
            max_s=self.max_backoff_s,
            jitter="none",
            retry_on=lambda exc: isinstance(exc, Exception),
            on_retry=on_retry,
            sleep=self._sleep,
        )
        try:
            async for attempt in retries:
                with attempt:
                    return self._count(record, await once())
        except Exception as exc:
            if is_transient(exc):
                log.warning(
                    "transient failure persists; record left unacknowledged",
                    extra={"consumer": self.name, "event_id": envelope.id, "topic": record.topic},
                )
                raise NackRecord(str(exc)) from exc
            log.exception("handler failed repeatedly", extra={"consumer": self.name, "event_id": envelope.id})
            await self._dead_letter(
                record,
                reason=f"{type(exc).__name__}: {exc}"[:1000],
                error_type="unexpected-error",
                event_id=envelope.id,
            )
            return self._count(record, Outcome.DEAD_LETTERED)
        raise AssertionError("unreachable")  # pragma: no cover

    async def handle_batch(self, records: Sequence[Record], batch: BatchHandler, handler: Handler) -> list[Outcome]:
        """Handle ``records`` (a poll: one or several partitions) with one transaction per partition (``batch``);
        a partition whose transaction fails is handled record by record (``handler``, as ``handle`` does: retries,
        the DLQ, ``NackRecord`` for an outage that lasts). Returns the outcomes in the order of ``records``' groups."""
        parts: dict[tuple[str, int], list[Record]] = {}
        for r in records:
            parts.setdefault((r.topic, r.partition), []).append(r)
        outcomes: list[Outcome] = []
        for part in parts.values():
            part.sort(key=lambda r: r.offset)
            done = await self._batch_once(part, batch)
            if done is None:
                for r in part:
                    outcomes.append(await self.handle(r, handler))
            else:
                outcomes += done
        return outcomes

    async def _batch_once(self, part: Sequence[Record], batch: BatchHandler) -> list[Outcome] | None:
        """One partition's records in one transaction; None when it failed (rolled back: nothing of it stays)."""
        deliveries: list[Delivery[Event]] = []
        for r in part:
            try:
                envelope, event = self._decode(r)
            except PoisonMessage:
                return None  # dead-lettered with its reason on the way one by one
            deliveries.append(Delivery(envelope=envelope, event=event, record=r))
        try:
            async with self.sessions() as session, session.begin():
                ids = list(dict.fromkeys(d.envelope.id for d in deliveries))
                claimed = await session.execute(
                    pg_insert(self.inbox)
                    .values([{"consumer": self.name, "event_id": i, "topic": part[0].topic} for i in ids])
                    .on_conflict_do_nothing()
                    .returning(self.inbox.c.event_id)
                )
                fresh = {str(row[0]) for row in claimed}
                new: list[Delivery[Event]] = []
                for d in deliveries:
                    if d.envelope.id in fresh:
                        fresh.discard(d.envelope.id)  # a copy of an event in the same batch is a duplicate
                        new.append(d)
                if new:
                    await batch(session, new)
        except Exception as exc:
            log.info(
                "batch of %d records failed (%s); handling them one by one",
                len(part),
                type(exc).__name__,
                extra={"consumer": self.name, "topic": part[0].topic, "partition": part[0].partition},
            )
            return None
        news = {id(d) for d in new}
        return [self._count(d.record, Outcome.PROCESSED if id(d) in news else Outcome.DUPLICATE) for d in deliveries]

    def _decode(self, record: Record) -> tuple[Envelope, Event]:
        if self.foreign_decoder is not None:
            decoded = self.foreign_decoder(record)
            if decoded is not None:
                return decoded
        return self.events.decode(record.value)

    async def _run_once(self, delivery: Delivery[Event], handler: Handler) -> Outcome:
        async with self.sessions() as session, session.begin():
            claimed = await session.execute(
                pg_insert(self.inbox)
                .values(consumer=self.name, event_id=delivery.envelope.id, topic=delivery.record.topic)
                .on_conflict_do_nothing()
                .returning(self.inbox.c.event_id)
            )
            if claimed.first() is None:
                return Outcome.DUPLICATE
            await handler(session, delivery)
        return Outcome.PROCESSED

    async def _dead_letter(self, record: Record, *, reason: str, error_type: str, event_id: str | None = None) -> None:
        headers = [h for h in record.headers if not h[0].startswith("x-dlq-")]
        headers += [
            ("x-dlq-reason", reason.encode()[:4000]),
            ("x-dlq-error-type", error_type.encode()),
            ("x-dlq-consumer", self.name.encode()),
            ("x-dlq-original-topic", record.topic.encode()),
            ("x-dlq-original-partition", str(record.partition).encode()),
            ("x-dlq-original-offset", str(record.offset).encode()),
        ]
        if event_id:
            headers.append(("x-dlq-event-id", event_id.encode()))
        await self.dlq.send(f"{record.topic}.dlq", key=record.key, value=record.value, headers=headers)
        DLQ_SENT.labels(self.name, record.topic, error_type).inc()
        log.warning(
            "record dead-lettered: %s",
            reason,
            extra={"consumer": self.name, "topic": record.topic, "offset": record.offset, "event_id": event_id},
        )

    def _count(self, record: Record, outcome: Outcome) -> Outcome:
        CONSUMED.labels(self.name, record.topic, outcome.value).inc()
        return outcome


def header_map(headers: Sequence[tuple[str, bytes]]) -> Mapping[str, str]:
    return {k: v.decode(errors="replace") for k, v in headers}


def record_from_consumer_record(cr: Any) -> Record:
    """Our ``Record`` from an aiokafka ``ConsumerRecord``."""
    return Record(
        topic=cr.topic,
        partition=cr.partition,
        offset=cr.offset,
        key=cr.key,
        value=cr.value if cr.value is not None else b"",
        headers=tuple(cr.headers or ()),
    )
