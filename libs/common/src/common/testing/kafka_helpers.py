"""Small Kafka helpers for tests: read a whole topic, wait for a condition."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from common.kafka_access import KafkaAccess, client_options


async def read_topic(
    bootstrap: KafkaAccess | str,
    topic: str,
    *,
    expect: int,
    timeout_s: float = 30.0,
    until: Callable[[list[ConsumerRecord]], bool] | None = None,
) -> list[ConsumerRecord]:
    """Read ``topic`` from the beginning until ``expect`` records arrived, or ``until(records)`` holds (or the
    timeout)."""
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(bootstrap),
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout_s
        while len(out) < expect and not (until is not None and until(out)) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout_s: float = 30.0, every_s: float = 0.1) -> None:
    """Wait until ``check()`` is true; fail with AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await check():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(every_s)
