"""Run an ``OutboxRelay`` as its own process, so tests can SIGKILL it in the middle of a batch.

``python -m common.testing.relay_proc --db-url … --schema … --bootstrap … [--send-delay-ms N]``
``--send-delay-ms`` slows every send, which stretches each batch's open transaction so a kill lands inside it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from aiokafka import AIOKafkaProducer

from common.db import create_engine
from common.outbox import OutboxRelay


class _SlowProducer:
    def __init__(self, inner: AIOKafkaProducer, delay_s: float) -> None:
        self._inner, self._delay = inner, delay_s

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(self._delay)
        return await self._inner.send(*args, **kwargs)

    async def stop(self) -> None:
        await self._inner.stop()


class _TestRelay(OutboxRelay):
    def __init__(self, *args: Any, send_delay_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._send_delay = send_delay_s

    async def _producer_ready(self) -> Any:
        producer = await super()._producer_ready()
        return _SlowProducer(producer, self._send_delay) if self._send_delay else producer


async def _main(ns: argparse.Namespace) -> None:
    engine = create_engine(ns.db_url, schema=ns.schema)
    relay = _TestRelay(
        engine,
        kafka=ns.bootstrap,  # with this process's KAFKA_SASL_* credentials
        service=ns.service,
        batch_size=ns.batch,
        poll_interval_s=0.01,
        send_delay_s=ns.send_delay_ms / 1000,
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, relay.stop)
    print("relay-started", flush=True)
    await relay.run()
    await engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db-url", required=True)
    p.add_argument("--schema", required=True)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--service", default="relay-test")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--send-delay-ms", type=float, default=0.0)
    asyncio.run(_main(p.parse_args()))


if __name__ == "__main__":
    main()
