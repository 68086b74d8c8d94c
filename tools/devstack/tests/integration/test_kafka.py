from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from common.kafka_access import client_options
from devstack import PortBusyError
from devstack.kafka import KafkaServer


def _topic(prefix: str) -> str:
    return f"devstack-{prefix}-{uuid.uuid4().hex[:8]}"


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(**client_options(bootstrap), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(values):
            await producer.send_and_wait(topic, value, key=b"k", headers=[("seq", str(i).encode())])
    finally:
        await producer.stop()


async def _consume_all(bootstrap: str, topic: str, expected: int, group: str | None = None) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(bootstrap),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        for _ in range(40):
            batch = await consumer.getmany(timeout_ms=500)
            values += [msg.value for msgs in batch.values() for msg in msgs if msg.value is not None]
            if len(values) >= expected:
                break
    finally:
        await consumer.stop()
    return values


async def test_produce_and_consume_with_headers_and_manual_commit(kafka_bootstrap: str) -> None:
    topic = _topic("headers")
    admin = AIOKafkaAdminClient(**client_options(kafka_bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        # topic creation is acknowledged by the controller; the broker's metadata catches up shortly after
        for _ in range(50):
            if topic in await admin.list_topics():
                break
            await asyncio.sleep(0.1)
        assert topic in await admin.list_topics()
    finally:
        await admin.close()

    producer = AIOKafkaProducer(**client_options(kafka_bootstrap), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            topic, b"hello", key=b"wf-1", headers=[("trace-id", b"abc"), ("kind", b"test")]
        )
    finally:
        await producer.stop()

    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(kafka_bootstrap),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        msg = await consumer.getone()
        assert msg.value == b"hello"
        assert msg.key == b"wf-1"
        assert dict(msg.headers) == {"trace-id": b"abc", "kind": b"test"}
        await consumer.commit()
        tp = TopicPartition(topic, meta.partition)
        assert await consumer.committed(tp) == meta.offset + 1
    finally:
        await consumer.stop()


async def test_stop_and_start_keep_data(kafka_server: KafkaServer) -> None:
    bootstrap = kafka_server.bootstrap_servers
    topic = _topic("durable")
    await _produce(bootstrap, topic, [b"before-stop-1", b"before-stop-2"])

    assert kafka_server.stop() is True
    assert not kafka_server.is_running()
    assert kafka_server.start() is True
    assert kafka_server.start() is False  # idempotent

    assert sorted(await _consume_all(bootstrap, topic, 2)) == [b"before-stop-1", b"before-stop-2"]


async def test_kill_and_start_keep_acknowledged_data(kafka_server: KafkaServer) -> None:
    bootstrap = kafka_server.bootstrap_servers
    topic = _topic("crash")
    await _produce(bootstrap, topic, [b"acked"])

    assert kafka_server.kill() is True
    assert not kafka_server.is_running()
    kafka_server.start()
    assert kafka_server.is_running()

    assert await _consume_all(bootstrap, topic, 1) == [b"acked"]


@pytest.mark.skipif(
    bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
    reason="KAFKA_BOOTSTRAP_SERVERS selects an external Kafka; this test needs the local jars",
)
def test_port_busy_error_names_port_and_variable(tmp_path: Path, busy_port: int) -> None:
    server = KafkaServer(
        port=busy_port, controller_port=busy_port + 1 if busy_port < 65535 else 1024, work_dir=tmp_path / "kafka"
    )
    with pytest.raises(PortBusyError, match=rf"port {busy_port}.*DEVSTACK_KAFKA_PORT"):
        server.start()
    assert not server.is_running()
