"""Replaying dead letters: ``python -m common.dlq replay --topic <topic> [--dry-run]``.

A consumer sends a record it cannot process to ``<topic>.dlq`` with the reason in its ``x-dlq-*`` headers
(``common.consumer``). Once the cause is fixed, this command copies each dead letter of ``<topic>.dlq`` back to
``<topic>`` — same key, same value (so the same event id), same headers without the ``x-dlq-*`` ones, plus
``x-replayed-from: <dlq topic>:<partition>:<offset>`` — and remembers how far it got (the consumer group
``dlq-replay.<dlq topic>``), so each dead letter is replayed once however often the command runs. A crash between a
copy and that commit copies it again: consumers drop the duplicate by its event id (their inbox).

Why a replay is safe: the copy lands *after* whatever was produced meanwhile, so a consumer sees it out of order;
every consumer of the platform ignores an event older than the state it has applied (``publish.completed`` by the
publish record it reports, ``execution.synced`` by ``synced_at``, history-sync's tracking by ``completed_at``), and a
consumer that did process the original skips the copy (same event id). ``KAFKA_BOOTSTRAP_SERVERS`` and
``KAFKA_TOPIC_PREFIX`` come from the environment (as for the services) unless given as options.

Prints one JSON object: the topics, ``replayed`` (or ``would_replay`` with ``--dry-run``) and each record's
partition, offset, event id and reason.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from common.consumer import header_map
from common.kafka_access import KafkaAccess, client_options
from common.outbox import producer_config

REPLAY_GROUP = "dlq-replay.{dlq}"


async def replay(bootstrap: KafkaAccess | str, topic: str, *, dry_run: bool = False) -> dict[str, Any]:
    """Copy the dead letters of ``<topic>.dlq`` not replayed before back to ``topic`` (see the module docstring).
    The replay runs as the Kafka administrator (``KAFKA_SASL_*``): no service principal writes another's topic."""
    dlq = f"{topic}.dlq"
    consumer = AIOKafkaConsumer(
        **client_options(bootstrap),
        group_id=REPLAY_GROUP.format(dlq=dlq),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = None if dry_run else AIOKafkaProducer(**producer_config(bootstrap, "dlq-replay"))
    await consumer.start()
    try:
        if producer is not None:
            await producer.start()
        # the topic's metadata (as common.lag does: a consumer that subscribes to nothing tracks no topic)
        await consumer._client.set_topics([dlq])
        partitions = [TopicPartition(dlq, p) for p in sorted(consumer.partitions_for_topic(dlq) or ())]
        if not partitions:
            raise SystemExit(f"topic {dlq} does not exist")
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
        records: list[dict[str, Any]] = []
        sends = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in partitions])

        while await behind():
            batch = await consumer.getmany(*partitions, timeout_ms=1000)
            for tp, items in batch.items():
                for r in items:
                    if r.offset >= ends[tp]:
                        continue
                    headers = header_map(r.headers or ())
                    records.append(
                        {
                            "partition": r.partition,
                            "offset": r.offset,
                            "event_id": headers.get("x-dlq-event-id") or headers.get("ce_id"),
                            "reason": headers.get("x-dlq-reason"),
                            "consumer": headers.get("x-dlq-consumer"),
                        }
                    )
                    if producer is None:
                        continue
                    kept = [(k, v) for k, v in (r.headers or ()) if not k.startswith("x-dlq-")]
                    kept.append(("x-replayed-from", f"{dlq}:{r.partition}:{r.offset}".encode()))
                    target = headers.get("x-dlq-original-topic") or topic
                    sends.append(await producer.send(target, value=r.value, key=r.key, headers=kept))
        if producer is not None:
            await asyncio.gather(*sends)
            # only now that every copy is in Kafka: the next run starts after them
            await consumer.commit({tp: ends[tp] for tp in partitions})
        counted = "would_replay" if dry_run else "replayed"
        return {"topic": topic, "dlq": dlq, counted: len(records), "records": records}
    finally:
        if producer is not None:
            await producer.stop()
        await consumer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.dlq", description="Replay dead letters.")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("replay", help="copy the dead letters of <topic>.dlq back to <topic>, each once")
    cmd.add_argument("--topic", required=True, help="the topic without the environment prefix, e.g. publish.completed")
    cmd.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"))
    cmd.add_argument("--topic-prefix", default=os.environ.get("KAFKA_TOPIC_PREFIX", ""))
    cmd.add_argument("--dry-run", action="store_true", help="list what would be replayed; copy and commit nothing")
    args = parser.parse_args(argv)
    result = asyncio.run(replay(args.bootstrap, f"{args.topic_prefix}{args.topic}", dry_run=args.dry_run))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
