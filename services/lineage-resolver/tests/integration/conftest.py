"""Fixtures of the lineage-resolver's integration tests: the schema migrated once per session, settings for the
in-process service, and helpers to produce records and read the view."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from common.db import ServiceDatabase
from common.events import Event, registry
from common.kafka_access import client_options
from common.testing.fixtures import MigratedFn, TruncateFn
from lineage_resolver.config import MIGRATIONS, Settings
from lineage_resolver.domain import OpenLineageConfig

OPENLINEAGE = {
    "jobs": [{"namespace": "airflow", "name": "dag.load_orders", "task_id": 11}],
    "patterns": [{"name_regex": r"task_(?P<task_id>\d+)", "namespace": "airflow"}],
    "namespace_aliases": {"postgres://warehouse:5432": "pg"},
}


@pytest.fixture
async def lineage_db(migrated_schema: MigratedFn, truncate: TruncateFn) -> ServiceDatabase:
    """The lineage schema (migrated once per session), emptied before the test: advisory locks, concurrent appliers,
    the CLI and the app need committed data."""
    return await truncate(await migrated_schema("lineage", MIGRATIONS))


@pytest.fixture
def settings(lineage_db: ServiceDatabase, topic_prefix: str, kafka_bootstrap: str) -> Settings:
    return Settings(
        database_url=lineage_db.url,
        db_schema=lineage_db.schema,
        topic_prefix=topic_prefix,
        kafka_bootstrap_servers=kafka_bootstrap,
        openlineage=OpenLineageConfig.model_validate(OPENLINEAGE),
        log_json=False,
        consumer_max_attempts=3,
    )


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(**client_options(kafka_bootstrap), acks="all", enable_idempotence=True)
    await p.start()
    yield p
    await p.stop()


def envelope_bytes(event: Event) -> bytes:
    return registry.encode(event, source="/tests/lineage").to_bytes()


def run_event(
    job: str,
    *,
    run_id: str,
    time: str,
    inputs: list[str],
    outputs: list[str],
    event_type: str = "COMPLETE",
    namespace: str = "airflow",
) -> dict[str, Any]:
    """An OpenLineage RunEvent; datasets are ``<name>`` in namespace ``postgres://WAREHOUSE:5432``."""

    def ds(name: str) -> dict[str, Any]:
        return {"namespace": "postgres://WAREHOUSE:5432", "name": name, "facets": {"schema": {"fields": []}}}

    return {
        "eventType": event_type,
        "eventTime": time,
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/airflow",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": namespace, "name": job, "facets": {}},
        "inputs": [ds(n) for n in inputs],
        "outputs": [ds(n) for n in outputs],
    }
