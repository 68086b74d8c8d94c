"""Outbox relay benchmark (issue: Foundation).

Figures, each beside a bare aiokafka producer→consumer on the same broker (the baseline):
1. throughput: events/s from commit to consumed, for a backlog of N committed events drained by the relay and read
   by a consumer; baseline: N messages of the same size sent by a bare idempotent producer (acks=all) and read back;
2. latency at 500 events/s: each event committed in its own transaction (through ``Outbox.add``), latency from
   commit to the consumer receiving it, p50/p99; baseline: bare producer sending at 500/s, send-call to receive.
Plus, for information, the rate of the idempotent consumer (inbox claim + effect in one transaction per event).

Run: ``.venv/bin/python bench/bench_outbox.py [--events 50000]`` (starts local PostgreSQL and Kafka if needed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import time
import uuid
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import SecretStr
from sqlalchemy import insert

from common.consumer import ConsumerRuntime, Delivery, Record
from common.db import create_engine, drop_service, new_metadata, provision_service, session_factory, unit_of_work
from common.events import Event, EventRegistry
from common.kafka import ensure_topics
from common.kafka_access import client_options
from common.outbox import Outbox, OutboxRelay, add_outbox_tables, producer_config


class Tick(Event):
    TYPE: ClassVar[str] = "bench.tick"
    TOPIC: ClassVar[str] = "bench.tick"
    n: int
    t_commit: float = 0.0
    pad: str = ""

    def key(self) -> str:
        return f"k{self.n % 64}"


REG = EventRegistry([Tick])
PAD = "x" * 300  # ~500-byte envelopes, a realistic small event


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def consume(bootstrap: str, topic: str, n: int, on_msg: Any = None, timeout_s: float = 300) -> float:
    c = AIOKafkaConsumer(
        topic,
        **client_options(bootstrap),
        group_id=f"bench-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await c.start()
    got, t_end = 0, time.perf_counter()
    deadline = time.monotonic() + timeout_s
    try:
        while got < n and time.monotonic() < deadline:
            batch = await c.getmany(timeout_ms=100, max_records=5000)
            now = time.time()
            for recs in batch.values():
                for r in recs:
                    got += 1
                    if on_msg:
                        on_msg(r, now)
            t_end = time.perf_counter()
    finally:
        await c.stop()
    if got < n:
        raise RuntimeError(f"consumer got {got}/{n} before the timeout")
    return t_end


async def bench_relay_throughput(
    engine: Any, sessions: Any, outbox: Outbox, bootstrap: str, topic: str, n: int
) -> float:
    # commit the backlog (in chunks, to keep setup quick), then measure relay drain → consumer receipt
    for start in range(0, n, 1000):
        async with unit_of_work(sessions) as s:
            for i in range(start, min(n, start + 1000)):
                await outbox.add(s, Tick(n=i, pad=PAD))
    relay = OutboxRelay(engine, kafka=bootstrap, service="bench-relay", batch_size=1000)
    consumer_task = asyncio.create_task(consume(bootstrap, topic, n))
    await asyncio.sleep(1.0)  # consumer joined
    t0 = time.perf_counter()
    relay_task = asyncio.create_task(relay.run())
    t_end = await consumer_task
    relay.stop()
    await relay_task
    return n / (t_end - t0)


async def bench_bare_throughput(bootstrap: str, topic: str, n: int) -> float:
    value = REG.encode(Tick(n=0, pad=PAD), source="/bench").to_bytes()
    producer = AIOKafkaProducer(**producer_config(bootstrap, "bench-bare"))
    await producer.start()
    consumer_task = asyncio.create_task(consume(bootstrap, topic, n))
    await asyncio.sleep(1.0)
    t0 = time.perf_counter()
    futures = [await producer.send(topic, value, key=f"k{i % 64}".encode()) for i in range(n)]
    await asyncio.gather(*futures)
    t_end = await consumer_task
    await producer.stop()
    return n / (t_end - t0)


async def bench_relay_latency(
    engine: Any, sessions: Any, outbox: Outbox, bootstrap: str, topic: str, n: int
) -> list[float]:
    lat: list[float] = []

    def on_msg(r: Any, now: float) -> None:
        data = json.loads(r.value)["data"]
        lat.append((now - data["t_commit"]) * 1000)

    relay = OutboxRelay(engine, kafka=bootstrap, service="bench-relay-lat", batch_size=500)
    relay_task = asyncio.create_task(relay.run())
    consumer_task = asyncio.create_task(consume(bootstrap, topic, n, on_msg))
    await asyncio.sleep(2.0)
    interval = 1 / 500
    t_next = time.perf_counter()
    for i in range(n):
        async with unit_of_work(sessions) as s:
            # t_commit is taken just before the commit; the commit itself is part of the measured latency
            await outbox.add(s, Tick(n=i, t_commit=time.time(), pad=PAD))
        t_next += interval
        delay = t_next - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await consumer_task
    relay.stop()
    await relay_task
    return lat


async def bench_bare_latency(bootstrap: str, topic: str, n: int) -> list[float]:
    lat: list[float] = []

    def on_msg(r: Any, now: float) -> None:
        lat.append((now - json.loads(r.value)["data"]["t_commit"]) * 1000)

    producer = AIOKafkaProducer(**producer_config(bootstrap, "bench-bare-lat"))
    await producer.start()
    consumer_task = asyncio.create_task(consume(bootstrap, topic, n, on_msg))
    await asyncio.sleep(2.0)
    interval = 1 / 500
    t_next = time.perf_counter()
    for i in range(n):
        value = REG.encode(Tick(n=i, t_commit=time.time(), pad=PAD), source="/bench").to_bytes()
        await producer.send(topic, value, key=f"k{i % 64}".encode())
        t_next += interval
        delay = t_next - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await consumer_task
    await producer.stop()
    return lat


async def bench_inbox_consumer(sessions: Any, inbox: Any, effects: Any, n: int) -> float:
    class NoDlq:
        async def send(self, *a: Any, **k: Any) -> None:
            raise RuntimeError("unexpected dead letter")

    runtime = ConsumerRuntime(name="bench", sessions=sessions, inbox=inbox, dlq=NoDlq(), events=REG)

    async def handler(s: Any, d: Delivery) -> None:
        assert isinstance(d.event, Tick)
        await s.execute(insert(effects).values(n=d.event.n))

    records = [
        Record("bench.tick", 0, i, b"k", REG.encode(Tick(n=i, pad=PAD), source="/b").to_bytes()) for i in range(n)
    ]
    t0 = time.perf_counter()
    for r in records:
        await runtime.handle(r, handler)
    return n / (time.perf_counter() - t0)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--latency-events", type=int, default=5_000)
    args = ap.parse_args()
    import logging

    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # metadata chatter while topics propagate

    from devstack.infra import ensure_infra

    admin_url, bootstrap = ensure_infra()
    suffix = uuid.uuid4().hex[:6]
    db = await provision_service(
        admin_url, schema=f"bench_{suffix}", role=f"bench_{suffix}", password=SecretStr(secrets.token_urlsafe(12))
    )
    from sqlalchemy import BigInteger, Column, Table

    md = new_metadata()
    _, inbox = add_outbox_tables(md)
    outbox_table = md.tables["outbox"]
    effects = Table("effects", md, Column("n", BigInteger))
    engine = create_engine(db.url, schema=db.schema, pool_size=5)
    async with engine.begin() as conn:
        await conn.run_sync(md.create_all)
    sessions = session_factory(engine)
    topics = {k: f"bench{suffix}.{k}" for k in ("relay", "bare", "relay_lat", "bare_lat")}
    await ensure_topics(bootstrap, topics.values(), partitions=3)
    try:
        n = args.events
        bare = await bench_bare_throughput(bootstrap, topics["bare"], n)
        outbox = Outbox(outbox_table, source="/bench", topic_name=lambda _t: topics["relay"], events=REG)
        ours = await bench_relay_throughput(engine, sessions, outbox, bootstrap, topics["relay"], n)
        print(
            f"throughput  relay {ours:9.0f} ev/s   bare aiokafka {bare:9.0f} ev/s   ratio {ours / bare:.2f}"
            f"   (target ≥ 5000 ev/s: {'met' if ours >= 5000 else 'NOT met'})"
        )

        m = args.latency_events
        bare_lat = await bench_bare_latency(bootstrap, topics["bare_lat"], m)
        outbox_lat = Outbox(outbox_table, source="/bench", topic_name=lambda _t: topics["relay_lat"], events=REG)
        ours_lat = await bench_relay_latency(engine, sessions, outbox_lat, bootstrap, topics["relay_lat"], m)
        for name, xs, base in (("p50", ours_lat, bare_lat), ("p99", ours_lat, bare_lat)):
            p = 50 if name == "p50" else 99
            o, b = pct(xs, p), pct(base, p)
            print(f"latency@500/s {name}  relay {o:7.1f} ms   bare aiokafka {b:7.1f} ms   ratio {o / b:.2f}")
        p99 = pct(ours_lat, 99)
        print(
            f"latency target p99 < 100 ms: {'met' if p99 < 100 else 'NOT met'} ({p99:.1f} ms);"
            f" mean {statistics.mean(ours_lat):.1f} ms"
        )
        inbox_rate = await bench_inbox_consumer(sessions, inbox, effects, min(n, 5000))
        print(f"idempotent consumer (inbox claim + effect, one transaction each): {inbox_rate:.0f} ev/s per partition")
    finally:
        await engine.dispose()
        await drop_service(admin_url, schema=db.schema, role=db.role)


if __name__ == "__main__":
    asyncio.run(main())
