"""The ``lineage.changed`` subscriber on FastStream's in-memory broker (``common.testing.broker``) and real PostgreSQL:
the service's own wiring (``register_subscribers``) without Kafka: handler logic and dead letters test in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from common.events import Topics
from common.runtime import Infra
from common.testing.broker import InMemoryKafka, in_memory_kafka, settings_for
from common.testing.fixtures import MigratedFn, TruncateFn
from lineage_resolver.config import MIGRATIONS, Settings
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
    settings: Settings
    infra: Infra
    kafka: InMemoryKafka

    @property
    def topic(self) -> str:
        return self.settings.topic(Topics.LINEAGE_CHANGED)

    async def send(self, *values: bytes) -> None:
        await self.kafka.send(self.topic, *values)


@pytest.fixture
async def subscriber(migrated_schema: MigratedFn, truncate: TruncateFn) -> AsyncIterator[Subscriber]:
    """The schema (migrated once per session) emptied before the test: the handler commits through the inbox."""
    db = await truncate(await migrated_schema("lineage", MIGRATIONS))
    settings = Settings(**settings_for(db), openlineage=OpenLineageConfig.model_validate(OPENLINEAGE))
    infra = Infra.build(settings, schema=db.schema, outbox_table=outbox, inbox_table=inbox, telemetry=False)
    register_subscribers(infra, settings, build_deps(settings, infra.engine, infra.sessions, infra.outbox))
    try:
        async with in_memory_kafka(infra.broker, dead_letters_of=[settings.topic(Topics.LINEAGE_CHANGED)]) as kafka:
            yield Subscriber(settings, infra, kafka)
    finally:
        await infra.engine.dispose()
