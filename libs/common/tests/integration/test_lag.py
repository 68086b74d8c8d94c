from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import REGISTRY

from common.kafka import ensure_topics
from common.kafka_access import client_options
from common.lag import ConsumerLagMonitor


async def test_lag_moves_while_consumer_is_paused_and_recovers(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic, group = f"{topic_prefix}lagged", f"{topic_prefix}group"
    await ensure_topics(kafka_bootstrap, [topic], partitions=2)
    monitor = ConsumerLagMonitor(kafka_bootstrap, {group: {topic}})

    async def produce(n: int) -> None:
        p = AIOKafkaProducer(**client_options(kafka_bootstrap))
        await p.start()
        for i in range(n):
            await p.send(topic, b"x", key=str(i).encode())
        await p.flush()
        await p.stop()

    consumer = AIOKafkaConsumer(
        topic, **client_options(kafka_bootstrap), group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    await produce(10)
    got = 0
    while got < 10:
        batch = await consumer.getmany(timeout_ms=500)
        got += sum(len(v) for v in batch.values())
    await consumer.commit()
    assert (await monitor.refresh())[(group, topic)] == 0

    # paused: the group keeps its committed offsets but reads nothing while 25 more arrive
    consumer.pause(*consumer.assignment())
    await produce(25)
    assert (await monitor.refresh())[(group, topic)] == 25
    assert REGISTRY.get_sample_value("kafka_consumer_lag", {"group": group, "topic": topic}) == 25

    consumer.resume(*consumer.assignment())
    got = 0
    while got < 25:
        batch = await consumer.getmany(timeout_ms=500)
        got += sum(len(v) for v in batch.values())
    await consumer.commit()
    await consumer.stop()
    assert (await monitor.refresh())[(group, topic)] == 0
    assert REGISTRY.get_sample_value("kafka_consumer_lag", {"group": group, "topic": topic}) == 0

    # the monitor kept its clients across those refreshes; closed, the next refresh connects again
    await monitor.aclose()
    await produce(3)
    assert (await monitor.refresh())[(group, topic)] == 3
    await monitor.aclose()


async def test_run_refreshes_until_stopped_and_closes_its_clients(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic, group = f"{topic_prefix}watched", f"{topic_prefix}watcher"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    monitor = ConsumerLagMonitor(kafka_bootstrap, {group: {topic}}, interval_s=0.05)
    task = asyncio.create_task(monitor.run())
    p = AIOKafkaProducer(**client_options(kafka_bootstrap))
    await p.start()
    await p.send_and_wait(topic, b"x")
    await p.stop()
    async with asyncio.timeout(10):
        while REGISTRY.get_sample_value("kafka_consumer_lag", {"group": group, "topic": topic}) != 1:
            await asyncio.sleep(0.05)
    monitor.stop()
    await task
    assert monitor._clients is None


async def test_group_that_never_committed_counts_the_whole_topic(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}fresh"
    await ensure_topics(kafka_bootstrap, [topic], partitions=1)
    p = AIOKafkaProducer(**client_options(kafka_bootstrap))
    await p.start()
    for _ in range(4):
        await p.send_and_wait(topic, b"x")
    await p.stop()
    monitor = ConsumerLagMonitor(kafka_bootstrap, {f"{topic_prefix}nobody": {topic}})
    try:
        assert await monitor.refresh() == {(f"{topic_prefix}nobody", topic): 4}
    finally:
        await monitor.aclose()
