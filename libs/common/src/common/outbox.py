"""Transactional outbox: events are written in the same transaction as the state change, and a relay publishes them.

Write side: ``Outbox.add(session, event)`` inserts the encoded envelope into the service's ``outbox`` table inside
the caller's transaction, with the current W3C trace context in its headers, so a trace continues across Kafka.
``Outbox.add_many(session, events)`` stages a batch the same way with one ``INSERT … SELECT FROM unnest(…) WITH
ORDINALITY`` (rows get ascending ids in list order, so the relay sends them in that order) and one ``pg_notify``.

Relay: ``OutboxRelay.run()`` loops: it reads the oldest rows (a short read), sends them in id order with an
idempotent producer (``acks=all``), waits for every acknowledgement (at most ``send_timeout_s``) and only then deletes
them (a short transaction). No transaction is open while the broker is waited for: a Kafka outage holds no row
lock, no snapshot and no connection. A crash at any point either leaves the rows in place (resent later, duplicates
are removed by consumers' inbox) or has them durably in Kafka. Only one relay per schema runs at a time (a PostgreSQL
advisory lock on the schema), so the per-key order of the table is the order in Kafka: within a partition, the
idempotent producer never lets a later batch succeed after an earlier one failed.

Backlog: ``OutboxMonitor`` measures the rows waiting and the age of the oldest (``outbox_backlog``,
``outbox_oldest_age_seconds``) on its own schedule, apart from the relay: a relay stuck on an unreachable broker
cannot hide the backlog that ``OutboxBacklogOld`` alerts on.

Poison: a message Kafka refuses for what it is (over the topic's ``max.message.bytes``, a corrupt record, an invalid
topic name: ``POISON_ERRORS``) would fail every batch it is in, forever, and stall the whole outbox. The records a
batch lost to such an error are sent again one by one (a broker refuses a whole producer batch for one record in
it); one refused alone is moved to ``outbox_parked`` with the reason (in the transaction that deletes the batch), and
the rest flows. ``outbox_parked_total`` counts it and ``OutboxMessageParked`` alerts (docs/operations.md: inspect and
re-send). Any other failure (Kafka down, an ACL) still fails the whole batch, which stays in the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import zlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTopicError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from opentelemetry import propagate
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.elements import ColumnClause

from common.errors import ValidationFailed
from common.events.base import Event
from common.events.envelope import CONTENT_TYPE
from common.events.registry import EventRegistry, registry
from common.kafka_access import KafkaAccess, client_options

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 8 * 1024 * 1024

OUTBOX_PUBLISHED = Counter("outbox_published_total", "Events published by the outbox relay", ["service", "topic"])
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Events waiting in the outbox", ["service"])
OUTBOX_OLDEST_AGE = Gauge("outbox_oldest_age_seconds", "Age of the oldest unpublished outbox event", ["service"])
OUTBOX_RELAY_ERRORS = Counter("outbox_relay_errors_total", "Failed relay batches (retried)", ["service"])
OUTBOX_PARKED = Counter(
    "outbox_parked_total", "Outbox events Kafka refused for good, moved to outbox_parked", ["service", "topic"]
)

#: errors that a record causes by what it is: sending it again never succeeds
POISON_ERRORS: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTopicError,
)


def add_outbox_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Declare ``outbox`` and ``inbox`` in a service's metadata (its migrations create them)."""
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("event_id", Text, nullable=False, unique=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("topic", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
        Index("ix_inbox_processed_at", "processed_at"),
    )
    # events Kafka refused for good (the relay's poison parking); re-sent by moving them back into ``outbox``
    Table(
        "outbox_parked",
        metadata,
        Column("id", BigInteger, primary_key=True),
        Column("event_id", Text, nullable=False),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("value", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("parked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("reason", Text, nullable=False),
    )
    return outbox, inbox


class Outbox:
    """Write side of the outbox, used by use cases inside their transaction."""

    def __init__(
        self,
        table: Table,
        *,
        source: str,
        topic_name: Callable[[str], str] = lambda t: t,
        events: EventRegistry = registry,
    ) -> None:
        self._table = table
        self._source = source
        self._topic_name = topic_name
        self._events = events

    async def add(
        self,
        session: AsyncSession,
        event: Event,
        *,
        subject: str | None = None,
        prepared: Mapping[str, str] | None = None,
    ) -> str:
        """Stage ``event`` in the caller's transaction; returns the event id.

        The envelope is serialised in one pass (``EventRegistry.encode_bytes``); ``prepared`` passes the JSON of
        payload fields the caller has serialised already (exactly their ``model_dump_json()``), so a large snapshot
        is not serialised twice.
        """
        row = self._row(event, subject=subject, prepared=prepared)
        # the row and the relay's wake-up (``_NOTIFY_ON_INSERT``) in one round trip
        await session.execute(self._insert_one, row)
        return str(row["event_id"])

    async def add_many(
        self, session: AsyncSession, events: Sequence[Event], *, subject: str | None = None
    ) -> list[str]:
        """Stage ``events`` in the caller's transaction, in this order, with one statement; returns their ids.

        Same rows as ``add`` once per event (ids ascend in list order, so per-key order is the list's order), but
        one round trip and one cached statement whatever the batch size, and one wake-up for the relay."""
        if not events:
            return []
        rows = [self._row(event, subject=subject) for event in events]
        await session.execute(
            self._insert_many_and_notify,
            {
                "event_ids": [r["event_id"] for r in rows],
                "topics": [r["topic"] for r in rows],
                "keys": [r["key"] for r in rows],
                "values": [r["value"] for r in rows],
                "headers": [json.dumps(r["headers"]) for r in rows],
            },
        )
        return [str(r["event_id"]) for r in rows]

    def _row(
        self, event: Event, *, subject: str | None = None, prepared: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        envelope = self._events.encode_bytes(event, source=self._source, subject=subject, prepared=prepared)
        value = envelope.value
        if len(value) > MAX_MESSAGE_BYTES:
            raise ValidationFailed(
                f"event {event.TYPE} is {len(value)} bytes, over the {MAX_MESSAGE_BYTES}-byte message limit"
            )
        headers: dict[str, str] = {"content-type": CONTENT_TYPE, "ce_type": envelope.type, "ce_id": envelope.id}
        propagate.inject(headers)
        return {
            "event_id": envelope.id,
            "topic": self._topic_name(event.TOPIC),
            "key": event.key(),
            "value": value,
            "headers": headers,
        }

    @functools.cached_property
    def _insert_one(self) -> Any:
        """One row (the values are the execution's parameters: one statement compiled once, whatever the row),
        returning the relay's wake-up."""
        return insert(self._table).returning(_NOTIFY_ON_INSERT)

    @functools.cached_property
    def _insert_many_and_notify(self) -> Any:
        """``_insert_many`` as a data-modifying CTE (PostgreSQL runs it whether or not it is referenced) and one
        wake-up of the relay, in one statement."""
        staged = self._insert_many.returning(literal_column("1")).cte("staged")
        return select(_NOTIFY_ON_INSERT).add_cte(staged)

    @functools.cached_property
    def _insert_many(self) -> Any:
        rows = (
            func.unnest(
                bindparam("event_ids", type_=ARRAY(Text)),
                bindparam("topics", type_=ARRAY(Text)),
                bindparam("keys", type_=ARRAY(Text)),
                bindparam("values", type_=ARRAY(LargeBinary)),
                bindparam("headers", type_=ARRAY(Text)),
            )
            .table_valued(
                column("event_id", Text),
                column("topic", Text),
                column("key", Text),
                column("value", LargeBinary),
                column("headers", Text),
                with_ordinality="ord",
            )
            .render_derived()
        )
        c = rows.c
        return insert(self._table).from_select(
            ["event_id", "topic", "key", "value", "headers"],
            select(c.event_id, c.topic, c.key, c.value, cast(c.headers, JSONB)).order_by(c.ord),
        )


#: the relay's wake-up channel, one per schema (a channel name is limited to 63 bytes, hence the hash)
_CHANNEL_SQL = "'outbox_' || md5(current_schema())"
#: wakes the relay when (and only if) the transaction commits; repeats within one transaction fold into one. Part
#: of the statement that stages the rows (``Outbox.add``: ``RETURNING`` it; ``add_many``: selected beside the insert)
_NOTIFY_ON_INSERT: ColumnClause[Any] = literal_column(f"pg_notify({_CHANNEL_SQL}, '')")


def producer_config(kafka: KafkaAccess | str, client_id: str) -> dict[str, Any]:
    """Settings of every producer of the platform: idempotent, acks=all, large messages allowed."""
    return {
        **client_options(kafka),
        "client_id": client_id,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 1024 * 1024,
        "max_request_size": MAX_MESSAGE_BYTES + 64 * 1024,
        "request_timeout_ms": 15_000,
    }


class OutboxRelay:
    """Publishes a service's outbox to Kafka. Run one per service process; extra ones wait as standbys."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        kafka: KafkaAccess | str,
        service: str,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        max_backoff_s: float = 5.0,
        send_timeout_s: float = 30.0,
    ) -> None:
        """``poll_interval_s`` is the fallback poll while idle: the relay normally wakes on the ``pg_notify`` that
        ``Outbox.add`` sends with each committed transaction. ``send_timeout_s``: how long one batch may wait for the
        broker's acknowledgements before it is given up (and sent again after a backoff)."""
        self._engine = engine
        self._kafka = KafkaAccess.of(kafka)
        self._service = service
        self._batch = batch_size
        self._poll = poll_interval_s
        self._max_backoff = max_backoff_s
        self._send_timeout = send_timeout_s
        self._lock_class = zlib.crc32(b"outbox-relay") & 0x7FFFFFFF
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self.published = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Run until ``stop()``; survives Kafka and database outages (retries with backoff)."""
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                async with self._engine.connect() as lock_conn:
                    if not await self._try_lock(lock_conn):
                        await self._sleep(1.0)
                        continue
                    log.info("outbox relay active", extra={"service": self._service})
                    async with self._listening(lock_conn):
                        await self._relay_loop()
                    backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                OUTBOX_RELAY_ERRORS.labels(self._service).inc()
                log.warning("outbox relay error; retrying", exc_info=True, extra={"service": self._service})
                await self._close_producer()
                await self._sleep(backoff)
                backoff = min(self._max_backoff, max(backoff * 2, 0.1))
        await self._close_producer()

    async def _try_lock(self, conn: Any) -> bool:
        # one relay per outbox table, i.e. per schema: advisory locks are database-wide, and several schemas (other
        # environments, tests) may hold a service of the same name on one server
        got = await conn.scalar(
            text("SELECT pg_try_advisory_lock(:cls, hashtext(current_schema()))"), {"cls": self._lock_class}
        )
        await conn.commit()
        return bool(got)

    @contextlib.asynccontextmanager
    async def _listening(self, conn: Any) -> AsyncIterator[None]:
        """LISTEN on the schema's outbox channel on the relay's own (lock-holding) connection."""
        channel = await conn.scalar(text(f"SELECT {_CHANNEL_SQL}"))
        await conn.commit()
        raw = (await conn.get_raw_connection()).driver_connection

        def on_notify(*_: Any) -> None:
            self._wake.set()

        await raw.add_listener(channel, on_notify)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                await raw.remove_listener(channel, on_notify)

    async def _relay_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # a commit from now on wakes the next wait
            sent = await self.relay_once()
            if sent < self._batch:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waiters, timeout=self._poll, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(**producer_config(self._kafka, f"{self._service}-outbox"))
            try:
                await producer.start()
            except Exception:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _close_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await producer.stop()

    async def relay_once(self) -> int:
        """Publish one batch; returns how many events were sent or parked. Raises on failure (rows stay in the
        outbox)."""
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT id, event_id, topic, key, value, headers, created_at FROM outbox ORDER BY id LIMIT :n"
                    ),
                    {"n": self._batch},
                )
            ).all()
        if not rows:
            return 0
        producer = await self._producer_ready()
        async with asyncio.timeout(self._send_timeout):
            refused = await self._send(producer, rows)
        async with self._engine.begin() as conn:
            if refused:
                await self._park(conn, refused)
            await conn.execute(text("DELETE FROM outbox WHERE id = ANY(:ids)"), {"ids": [r.id for r in rows]})
        parked_ids = {r.id for r, _ in refused}
        sent = [r for r in rows if r.id not in parked_ids]
        for r in sent:
            OUTBOX_PUBLISHED.labels(self._service, r.topic).inc()
        self.published += len(sent)
        return len(rows)

    async def _send(self, producer: AIOKafkaProducer, rows: Sequence[Any]) -> list[tuple[Any, Exception]]:
        """Send ``rows`` in order and wait for every acknowledgement; returns the rows Kafka refused for good, each
        with its error (tried alone once more: the broker refuses a whole batch for one record in it). Raises on any
        other failure."""

        async def send(r: Any) -> asyncio.Future[Any]:
            headers = [(k, str(v).encode()) for k, v in (r.headers or {}).items()]
            future: asyncio.Future[Any] = await sender.send(
                r.topic, value=bytes(r.value), key=r.key.encode(), headers=headers
            )
            return future

        sender = producer
        outcomes: list[asyncio.Future[Any] | Exception] = []
        for r in rows:
            try:
                outcomes.append(await send(r))
            except POISON_ERRORS as exc:  # refused before it left (larger than the producer may send)
                outcomes.append(exc)
        results = await asyncio.gather(*(o for o in outcomes if isinstance(o, asyncio.Future)), return_exceptions=True)
        answers = iter(results)
        failed: list[tuple[Any, BaseException]] = []
        for r, o in zip(rows, outcomes, strict=True):
            answer = o if isinstance(o, Exception) else next(answers)
            if isinstance(answer, BaseException):
                failed.append((r, answer))
        if not failed:
            return []
        for _, error in failed:
            if not isinstance(error, POISON_ERRORS):
                raise error
        # The idempotent producer's sequence has a gap where the refused batch was, and each refusal would open
        # another: it is replaced (the next batch gets a new producer id), and the records are tried one at a time,
        # in order, by a plain producer (acks=all; a duplicate of a retried send is removed by consumers' inbox).
        await self._close_producer()
        config = {**producer_config(self._kafka, f"{self._service}-outbox-single"), "enable_idempotence": False}
        sender = AIOKafkaProducer(**config)
        await sender.start()
        refused: list[tuple[Any, Exception]] = []
        try:
            for r, _ in failed:
                try:
                    await (await send(r))
                except POISON_ERRORS as exc:
                    refused.append((r, exc))
        finally:
            await sender.stop()
        return refused

    async def _park(self, conn: Any, refused: Sequence[tuple[Any, Exception]]) -> None:
        """Move what Kafka refused for good to ``outbox_parked`` (the relay's transaction deleted them from
        ``outbox``), with the reason; count and log each."""
        for r, exc in refused:
            reason = f"{type(exc).__name__}: {exc}"[:2000]
            await conn.execute(
                text(
                    "INSERT INTO outbox_parked (id, event_id, topic, key, value, headers, created_at, reason) "
                    "VALUES (:id, :event_id, :topic, :key, :value, CAST(:headers AS jsonb), :created_at, :reason)"
                ),
                {
                    "id": r.id,
                    "event_id": r.event_id,
                    "topic": r.topic,
                    "key": r.key,
                    "value": bytes(r.value),
                    "headers": json.dumps(r.headers or {}),
                    "created_at": r.created_at,
                    "reason": reason,
                },
            )
            OUTBOX_PARKED.labels(self._service, r.topic).inc()
            log.error(
                "outbox event parked: Kafka refused it for good; the others go on",
                extra={
                    "service": self._service,
                    "event_id": r.event_id,
                    "topic": r.topic,
                    "bytes": len(r.value),
                    "reason": reason,
                },
            )

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)


class OutboxMonitor:
    """Measures a service's outbox every ``interval_s`` (``outbox_backlog``, ``outbox_oldest_age_seconds``), on a
    schedule of its own: the relay may be stuck on the broker exactly when the backlog grows. Every replica of a
    service measures the same table (alert on the maximum)."""

    def __init__(self, engine: AsyncEngine, *, service: str, interval_s: float = 5.0) -> None:
        self._engine = engine
        self._service = service
        self._interval = interval_s
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def measure(self) -> tuple[int, float]:
        """``(rows waiting, age of the oldest in seconds)``, also set on the gauges."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(text("SELECT count(*) AS n, min(created_at) AS oldest FROM outbox"))).one()
        age = (datetime.now(UTC) - row.oldest).total_seconds() if row.oldest is not None else 0.0
        OUTBOX_BACKLOG.labels(self._service).set(row.n)
        OUTBOX_OLDEST_AGE.labels(self._service).set(age)
        return int(row.n), age

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.measure()
            except Exception:  # the database is down (logged once per outage) or busy: measure again later
                log.warning("outbox backlog not measured", exc_info=True, extra={"service": self._service})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
