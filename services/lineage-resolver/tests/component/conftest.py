"""The ``lineage.changed`` subscriber on FastStream's in-memory broker (``TestKafkaBroker``) and real PostgreSQL: the
service's own wiring (``register_subscribers``) without Kafka, so handler logic and dead-lettering test in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from common.events import Topics
from common.runtime import Infra
from common.testing.fixtures import MigratedFn, TruncateFn
from lineage_resolver.config import DEFAULT_MIGRATIONS, Settings
from lineage_resolver.db.tables import inbox, outbox
from lineage_resolver.deps import build_deps
from lineage_resolver.domain import OpenLineageConfig
from lineage_resolver.subscribers import register_subscribers

OPENLINEAGE = {
    "jobs": [{"namespace": "airflow", "name": "dag.load_orders", "task_id": 11}],
    "patterns": [{"name_regex": r"task_(?P<task_id>\d+)", "namespace": "airflow"}],
    "namespace_aliases": {"postgres://warehouse:5432": "pg"},
}


@dataclass
class Subscriber:
    """The service's subscriber on the in-memory broker, and what reached the dead-letter topic."""

    settings: Settings
    infra: Infra
    broker: KafkaBroker
    dead_letters: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    async def send(self, *values: bytes) -> None:
        """Deliver records in order (the in-memory broker runs the handler before ``publish`` returns)."""
        for value in values:
            await self.broker.publish(value, topic=self.settings.topic(Topics.LINEAGE_CHANGED), key=b"test")


@pytest.fixture
async def subscriber(migrated_schema: MigratedFn, truncate: TruncateFn) -> AsyncIterator[Subscriber]:
    db = await truncate(await migrated_schema("lineage", DEFAULT_MIGRATIONS))
    settings = Settings(
        database_url=db.url,
        db_schema=db.schema,
        topic_prefix="component.",
        kafka_bootstrap_servers="127.0.0.1:9",  # never dialled: the broker is patched in-memory
        openlineage=OpenLineageConfig.model_validate(OPENLINEAGE),
        log_json=False,
        consumer_max_attempts=3,
    )
    infra = Infra.build(settings, schema=db.schema, outbox_table=outbox, inbox_table=inbox, telemetry=False)
    register_subscribers(infra, settings, build_deps(settings, infra.engine, infra.sessions, infra.outbox))
    sub = Subscriber(settings, infra, infra.broker)

    @infra.broker.subscriber(settings.topic(Topics.dlq(Topics.LINEAGE_CHANGED)), group_id="test-dlq")
    async def dead_letter(msg: KafkaMessage) -> None:
        raw: Any = msg.raw_message
        sub.dead_letters.append((raw.value, {k: v.decode() for k, v in raw.headers}))

    try:
        async with TestKafkaBroker(infra.broker) as broker:
            sub.broker = broker
            yield sub
    finally:
        await infra.engine.dispose()
