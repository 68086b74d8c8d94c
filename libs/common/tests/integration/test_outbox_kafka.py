"""Foundation guarantees on real PostgreSQL and Kafka: outbox → relay → consumer with exactly one effect each."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import defaultdict
from typing import Any, ClassVar

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY
from sqlalchemy import func, insert, select, text

from common.consumer import ConsumerRuntime, Delivery, Outcome, Record
from common.db import asyncpg_dsn, unit_of_work
from common.events import Event, EventRegistry
from common.kafka import BrokerDeadLetterSink, create_broker, ensure_topics, subscribe
from common.kafka_access import client_options
from common.outbox import Outbox, OutboxRelay
from common.testing.kafka_helpers import eventually, read_topic

from .conftest import Counted, Svc, effects, inbox_table, outbox_table

REG = EventRegistry([Counted])


async def _effect(session: Any, delivery: Delivery) -> None:
    ev = delivery.event
    assert isinstance(ev, Counted)
    await session.execute(insert(effects).values(event_id=delivery.envelope.id, key=ev.key_, seq=ev.seq))


async def _write_events(svc: Svc, outbox: Outbox, n: int, keys: int = 10, start: int = 0) -> None:
    """Each event in its own small transaction, like use cases do; ``seq`` counts per key."""
    for i in range(start, start + n):
        async with unit_of_work(svc.sessions) as s:
            await outbox.add(s, Counted(key_=f"k{i % keys}", seq=i // keys))


async def _effects(svc: Svc) -> list[Any]:
    async with svc.sessions() as s:
        return list((await s.execute(select(effects).order_by(effects.c.id))).all())


def _assert_exactly_once_in_order(rows: list[Any], n: int, keys: int) -> None:
    assert len(rows) == n, f"expected {n} effects, got {len(rows)}"
    assert len({r.event_id for r in rows}) == n
    per_key: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        per_key[r.key].append(r.seq)
    assert len(per_key) == keys
    for key, seqs in per_key.items():
        assert seqs == sorted(seqs), f"order broken for {key}: {seqs[:20]}…"
        assert seqs == list(range(len(seqs)))


async def _start_consumer(svc: Svc, bootstrap: str, topic: str, group: str) -> tuple[Any, ConsumerRuntime]:
    broker = create_broker(bootstrap, service=group, telemetry=False)
    runtime = ConsumerRuntime(
        name=group, sessions=svc.sessions, inbox=inbox_table, dlq=BrokerDeadLetterSink(broker), events=REG
    )
    subscribe(broker, runtime, topic, _effect, group_id=group)
    await broker.start()
    return broker, runtime


async def test_1000_events_exactly_once_in_order_despite_relay_sigkill(
    svc: Svc, kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}test.counted"
    await ensure_topics(kafka_bootstrap, [topic])
    outbox = Outbox(outbox_table, source="/test", topic_name=lambda t: f"{topic_prefix}{t}", events=REG)
    await _write_events(svc, outbox, 1000)
    broker, _ = await _start_consumer(svc, kafka_bootstrap, topic, f"{topic_prefix}g")

    def start_relay() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "common.testing.relay_proc",
                "--db-url",
                svc.db.url.get_secret_value(),
                "--schema",
                svc.db.schema,
                "--bootstrap",
                kafka_bootstrap,
                "--batch",
                "100",
                "--send-delay-ms",
                "8",
            ],
            stdout=subprocess.PIPE,
        )

    async def outbox_left() -> int:
        async with svc.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(outbox_table)) or 0)

    sizer = TopicSizer(kafka_bootstrap, topic)
    await sizer.start()
    try:
        mid_batch_kills = 0
        for _ in range(6):
            proc = start_relay()
            # let it publish part of the outbox (a batch takes ~0.8 s to send), then kill it without warning
            target = await sizer.size() + 120
            await eventually(lambda: sizer.at_least(target), timeout_s=60, every_s=0.02)  # noqa: B023
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            in_kafka = await sizer.size()
            left = await outbox_left()
            # sent but not committed: the killed batch is both in Kafka and back in the outbox
            if in_kafka + left > 1000:
                mid_batch_kills += 1
            if left == 0 or mid_batch_kills >= 2:
                break
        assert mid_batch_kills >= 1, "no kill landed inside a batch; the scenario was not exercised"
        proc = start_relay()
        await eventually(lambda: _count_is(svc, 1000), timeout_s=90)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert await sizer.size() > 1000, "expected duplicates in Kafka after the crash"
        await asyncio.sleep(1.0)  # any late duplicate would add an effect now
        _assert_exactly_once_in_order(await _effects(svc), 1000, 10)
    finally:
        await sizer.stop()
        await broker.stop()


class TopicSizer:
    """Counts the records in a topic (end − beginning offsets) with one long-lived client, so polling is cheap."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from aiokafka import AIOKafkaConsumer

        self._topic = topic
        self._c = AIOKafkaConsumer(**client_options(bootstrap))

    async def start(self) -> None:
        await self._c.start()

    async def stop(self) -> None:
        await self._c.stop()

    async def size(self) -> int:
        from aiokafka import TopicPartition

        parts = self._c.partitions_for_topic(self._topic)
        if not parts:
            await self._c._client.force_metadata_update()
            parts = self._c.partitions_for_topic(self._topic) or set()
        tps = [TopicPartition(self._topic, p) for p in parts]
        ends = await self._c.end_offsets(tps)
        begins = await self._c.beginning_offsets(tps)
        return sum(ends[tp] - begins[tp] for tp in tps)

    async def at_least(self, n: int) -> bool:
        return await self.size() >= n


async def _count_is(svc: Svc, n: int) -> bool:
    async with svc.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(effects)) or 0) >= n


async def test_same_event_three_times_has_one_effect(svc: Svc, kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}test.counted"
    await ensure_topics(kafka_bootstrap, [topic])
    env = REG.encode(Counted(key_="k", seq=0), source="/test")
    producer = AIOKafkaProducer(**client_options(kafka_bootstrap), enable_idempotence=True, acks="all")
    await producer.start()
    for _ in range(3):
        await producer.send_and_wait(topic, env.to_bytes(), key=b"k")
    marker = REG.encode(Counted(key_="k", seq=1), source="/test")
    await producer.send_and_wait(topic, marker.to_bytes(), key=b"k")
    await producer.stop()
    broker, _ = await _start_consumer(svc, kafka_bootstrap, topic, f"{topic_prefix}g")
    try:
        await eventually(lambda: _count_is(svc, 2), timeout_s=30)
        await asyncio.sleep(0.5)
        rows = await _effects(svc)
        assert [(r.event_id, r.seq) for r in rows] == [(env.id, 0), (marker.id, 1)]
    finally:
        await broker.stop()


async def test_duplicate_is_reported_by_runtime(svc: Svc) -> None:
    class NoDlq:
        async def send(self, topic: str, **kw: Any) -> None:
            raise AssertionError("nothing should be dead-lettered")

    runtime = ConsumerRuntime(name="g", sessions=svc.sessions, inbox=inbox_table, dlq=NoDlq(), events=REG)
    rec = Record("t", 0, 0, b"k", REG.encode(Counted(key_="k", seq=0), source="/t").to_bytes())
    outcomes = [await runtime.handle(rec, _effect) for _ in range(3)]
    assert outcomes == [Outcome.PROCESSED, Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert len(await _effects(svc)) == 1


async def test_malformed_message_goes_to_dlq_and_partition_moves_on(
    svc: Svc, kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}test.counted"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    producer = AIOKafkaProducer(**client_options(kafka_bootstrap))
    await producer.start()
    await producer.send_and_wait(topic, b"{not json", key=b"k", headers=[("origin", b"test")])
    wrong_schema = REG.encode(Counted(key_="k", seq=0), source="/t").model_dump(mode="json")
    wrong_schema["data"] = {"key_": "k", "seq": "not-a-number"}
    import json

    await producer.send_and_wait(topic, json.dumps(wrong_schema).encode(), key=b"k")
    good = REG.encode(Counted(key_="k", seq=0), source="/t")
    await producer.send_and_wait(topic, good.to_bytes(), key=b"k")
    await producer.stop()

    broker, _ = await _start_consumer(svc, kafka_bootstrap, topic, f"{topic_prefix}g")
    try:
        await eventually(lambda: _count_is(svc, 1), timeout_s=30)
        dead = await read_topic(kafka_bootstrap, f"{topic}.dlq", expect=2)
        assert len(dead) == 2
        headers = [dict(d.headers) for d in dead]
        assert dead[0].value == b"{not json"
        assert headers[0]["x-dlq-reason"].startswith(b"not a CloudEvents JSON envelope")
        assert headers[0]["x-dlq-original-topic"] == topic.encode()
        assert headers[0]["origin"] == b"test"
        assert b"violates its schema" in headers[1]["x-dlq-reason"]
        assert b"seq" in headers[1]["x-dlq-reason"]
        rows = await _effects(svc)
        assert [r.event_id for r in rows] == [good.id]
    finally:
        await broker.stop()


@pytest.mark.slow
async def test_kafka_restart_mid_run_loses_nothing(
    svc: Svc, kafka_bootstrap: str, kafka_server: Any, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}test.counted"
    await ensure_topics(kafka_bootstrap, [topic])
    outbox = Outbox(outbox_table, source="/test", topic_name=lambda t: f"{topic_prefix}{t}", events=REG)
    relay = OutboxRelay(svc.engine, kafka=kafka_bootstrap, service=f"{topic_prefix}relay", batch_size=50)
    relay_task = asyncio.create_task(relay.run())
    broker, _ = await _start_consumer(svc, kafka_bootstrap, topic, f"{topic_prefix}g")
    try:
        writer = asyncio.create_task(_write_slowly(svc, outbox, 600))
        await eventually(lambda: _count_is(svc, 100), timeout_s=60)
        await asyncio.to_thread(kafka_server.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(kafka_server.start)
        await writer
        await eventually(lambda: _count_is(svc, 600), timeout_s=180)
        await asyncio.sleep(1.0)
        _assert_exactly_once_in_order(await _effects(svc), 600, 10)
    finally:
        relay.stop()
        await relay_task
        await broker.stop()


async def _write_slowly(svc: Svc, outbox: Outbox, n: int) -> None:
    for i in range(n):
        async with unit_of_work(svc.sessions) as s:
            await outbox.add(s, Counted(key_=f"k{i % 10}", seq=i // 10))
        await asyncio.sleep(0.01)


async def test_relays_of_same_named_services_in_different_schemas_both_run(
    svc: Svc, service_database: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """The relay lock is per schema: another environment's (or test's) 'definition' must not block ours."""
    from common.db import create_engine, session_factory

    other_db = await service_database("found")
    other_engine = create_engine(other_db.url, schema=other_db.schema)
    async with other_engine.begin() as conn:
        await conn.run_sync(outbox_table.metadata.create_all)
    other = Svc(other_db, other_engine, session_factory(other_engine))
    topic = f"{topic_prefix}test.counted"
    await ensure_topics(kafka_bootstrap, [topic])
    for s in (svc, other):
        await _write_events(
            s, Outbox(outbox_table, source="/t", topic_name=lambda t: f"{topic_prefix}{t}", events=REG), 5
        )
    relays = [OutboxRelay(s.engine, kafka=kafka_bootstrap, service="same-name") for s in (svc, other)]
    tasks = [asyncio.create_task(r.run()) for r in relays]
    try:
        await eventually(lambda: _all_published(relays, 5), timeout_s=30)
    finally:
        for r in relays:
            r.stop()
        await asyncio.gather(*tasks)
        await other_engine.dispose()


async def _all_published(relays: list[OutboxRelay], n: int) -> bool:
    return all(r.published >= n for r in relays)


async def _outbox_rows(svc: Svc) -> list[Any]:
    async with svc.sessions() as s:
        return list((await s.execute(select(outbox_table).order_by(outbox_table.c.id))).all())


async def test_add_many_stages_the_same_rows_as_add_in_list_order(svc: Svc) -> None:
    outbox = Outbox(outbox_table, source="/test", topic_name=lambda t: f"p.{t}", events=REG)
    async with unit_of_work(svc.sessions) as s:
        assert await outbox.add_many(s, []) == []
        single = await outbox.add(s, Counted(key_="a", seq=0))
        many = await outbox.add_many(s, [Counted(key_="b", seq=0), Counted(key_="a", seq=1), Counted(key_="b", seq=1)])
    rows = await _outbox_rows(svc)
    assert [r.event_id for r in rows] == [single, *many]
    assert len(set(many)) == 3
    decoded = [REG.decode(bytes(r.value)) for r in rows]
    assert [(e.key_, e.seq) for _, e in decoded if isinstance(e, Counted)] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    for row, (envelope, _) in zip(rows, decoded, strict=True):
        assert (row.topic, row.key) == ("p.test.counted", envelope.data["key_"])
        assert row.headers["ce_id"] == envelope.id == row.event_id
        assert row.headers == {**rows[0].headers, "ce_id": envelope.id}  # same content type, type (and trace)


async def test_add_many_rejects_an_oversized_event_and_stages_nothing(svc: Svc) -> None:
    from common.errors import ValidationFailed
    from common.outbox import MAX_MESSAGE_BYTES

    outbox = Outbox(outbox_table, source="/test", events=REG)
    with pytest.raises(ValidationFailed):
        async with unit_of_work(svc.sessions) as s:
            await outbox.add_many(s, [Counted(key_="a", seq=0), Counted(key_="x" * MAX_MESSAGE_BYTES, seq=1)])
    assert await _outbox_rows(svc) == []


async def test_add_many_batches_are_published_exactly_once_in_per_key_order(
    svc: Svc, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Batches of every size (1-97 events, keys interleaved within and across batches) through the relay: each
    event once, and per key in the order the batches listed them."""
    topic = f"{topic_prefix}test.counted"
    await ensure_topics(kafka_bootstrap, [topic])
    outbox = Outbox(outbox_table, source="/test", topic_name=lambda t: f"{topic_prefix}{t}", events=REG)
    total, keys, i = 600, 10, 0
    while i < total:
        n = min(1 + (i * 7) % 97, total - i)
        async with unit_of_work(svc.sessions) as s:
            batch = [Counted(key_=f"k{j % keys}", seq=j // keys) for j in range(i, i + n)]
            if n % 2:
                assert len(set(await outbox.add_many(s, batch))) == n
            else:  # mixed with single adds in the same transaction
                await outbox.add(s, batch[0])
                await outbox.add_many(s, batch[1:])
        i += n
    relay = OutboxRelay(svc.engine, kafka=kafka_bootstrap, service=f"{topic_prefix}relay", batch_size=50)
    relay_task = asyncio.create_task(relay.run())
    broker, _ = await _start_consumer(svc, kafka_bootstrap, topic, f"{topic_prefix}g")
    try:
        await eventually(lambda: _count_is(svc, total), timeout_s=90)
        await asyncio.sleep(1.0)  # a duplicate would add an effect now
        _assert_exactly_once_in_order(await _effects(svc), total, keys)
        assert relay.published == total
    finally:
        relay.stop()
        await relay_task
        await broker.stop()


class Padded(Event):
    """A test event as large as asked (``pad``)."""

    TYPE: ClassVar[str] = "test.padded"
    TOPIC: ClassVar[str] = "test.counted"
    key_: str
    pad: str

    def key(self) -> str:
        return self.key_


async def test_a_message_kafka_refuses_is_parked_and_the_rest_flows(
    svc: Svc, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """One event over the topic's max.message.bytes must not stall the outbox: it is parked with the reason, counted,
    and the events around it (same key and others) are delivered."""
    topic = f"{topic_prefix}test.counted"
    admin = AIOKafkaAdminClient(**client_options(kafka_bootstrap))
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=1, replication_factor=1, topic_configs={"max.message.bytes": "20000"})]
        )
    finally:
        await admin.close()
    registry = EventRegistry([Counted, Padded])
    outbox = Outbox(outbox_table, source="/test", topic_name=lambda t: f"{topic_prefix}{t}", events=registry)
    async with unit_of_work(svc.sessions) as s:
        await outbox.add(s, Counted(key_="k0", seq=0))
        poison_id = await outbox.add(s, Padded(key_="k0", pad="x" * 60_000))
        await outbox.add(s, Counted(key_="k0", seq=1))
        await outbox.add(s, Counted(key_="k1", seq=0))
    service = f"{topic_prefix}relay"
    relay = OutboxRelay(svc.engine, kafka=kafka_bootstrap, service=service, batch_size=50)
    try:
        assert await relay.relay_once() == 4
        delivered = [registry.decode(r.value)[1] for r in await read_topic(kafka_bootstrap, topic, expect=3)]
        assert [(e.key(), getattr(e, "seq", None)) for e in delivered] == [("k0", 0), ("k0", 1), ("k1", 0)]
        async with svc.engine.connect() as conn:
            parked = await conn.execute(text("SELECT event_id, topic, reason, length(value) AS n FROM outbox_parked"))
            [row] = parked.all()
            left = await conn.scalar(text("SELECT count(*) FROM outbox"))
        assert (row.event_id, row.topic) == (poison_id, topic)
        assert "MessageSizeTooLarge" in row.reason
        assert row.n > 60_000
        assert left == 0
        assert REGISTRY.get_sample_value("outbox_parked_total", {"service": service, "topic": topic}) == 1.0
        # and the outbox keeps flowing
        async with unit_of_work(svc.sessions) as s:
            await outbox.add(s, Counted(key_="k1", seq=1))
        assert await relay.relay_once() == 1
        assert len(await read_topic(kafka_bootstrap, topic, expect=4)) == 4
    finally:
        relay.stop()
        await relay._close_producer()


async def test_staging_wakes_the_relay_once_per_committed_transaction(svc: Svc) -> None:
    """The ``pg_notify`` rides on the staging statement (``add``: ``RETURNING``; ``add_many``: beside the insert):
    a committed transaction wakes the relay's listener once, a rolled-back one never."""
    outbox = Outbox(outbox_table, source="/test", events=REG)
    listener = await asyncpg.connect(asyncpg_dsn(svc.db.url))
    woken: asyncio.Queue[str] = asyncio.Queue()
    try:
        channel = await listener.fetchval("SELECT 'outbox_' || md5($1::text)", svc.db.schema)
        await listener.add_listener(channel, lambda *args: woken.put_nowait(args[2]))
        async with unit_of_work(svc.sessions) as s:
            await outbox.add(s, Counted(key_="a", seq=0))
            await outbox.add(s, Counted(key_="a", seq=1))
        assert await asyncio.wait_for(woken.get(), 10) == channel
        async with unit_of_work(svc.sessions) as s:
            await outbox.add_many(s, [Counted(key_="b", seq=i) for i in range(3)])
        assert await asyncio.wait_for(woken.get(), 10) == channel

        async def failing_use_case() -> None:
            async with unit_of_work(svc.sessions) as s:
                await outbox.add(s, Counted(key_="c", seq=0))
                await outbox.add_many(s, [Counted(key_="c", seq=1)])
                raise RuntimeError("the use case failed")

        with pytest.raises(RuntimeError):
            await failing_use_case()
        async with unit_of_work(svc.sessions) as s:  # a later commit: its wake-up is the next one heard
            await outbox.add(s, Counted(key_="d", seq=0))
        assert await asyncio.wait_for(woken.get(), 10) == channel
        await asyncio.sleep(0.2)
        assert woken.empty()  # one per transaction (repeats folded), none for the rollback
        assert [(r.key, r.topic) for r in await _outbox_rows(svc)] == [("a", "test.counted")] * 2 + [
            ("b", "test.counted")
        ] * 3 + [("d", "test.counted")]
    finally:
        await listener.close()
