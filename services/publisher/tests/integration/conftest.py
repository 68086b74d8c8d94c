"""The publisher running in-process on real PostgreSQL and Kafka, against the DS emulator (fresh state per test)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from common.db import ServiceDatabase, create_engine, session_factory
from common.dolphin.rest import DolphinRestClient
from common.events import registry
from common.events.models import PublishCompleted, PublishOperation, PublishRequested, Topics
from common.kafka import ensure_topics
from common.kafka_access import client_options
from common.testing.fixtures import MigratedFn, TruncateFn
from common.testing.identity import approved
from common.testing.kafka_helpers import read_topic
from common.testing.service import running
from common.workflow import Edge, Schedule, ShellParams, SnapshotTask, SqlParams, StructureSnapshot
from ds_emulator import EmulatorProcess
from publisher.config import MIGRATIONS, Settings
from publisher.db.tables import workflow_publish_record
from publisher.main import create_app


def shell(task_id: int, script: str | None = None, name: str | None = None) -> SnapshotTask:
    return SnapshotTask(
        task_id=task_id,
        name=name or f"task-{task_id}",
        task_type="SHELL",
        params=ShellParams(script=script or f"echo {task_id}"),
    )


def sql(task_id: int, datasource: str = "warehouse") -> SnapshotTask:
    return SnapshotTask(
        task_id=task_id,
        name=f"sql-{task_id}",
        task_type="SQL",
        params=SqlParams(datasource_name=datasource, sql=f"insert into t values ({task_id})"),
    )


def snapshot(
    workflow_id: int,
    tasks: Iterable[SnapshotTask],
    edges: Iterable[tuple[int, int]] = (),
    *,
    cron: str | None = None,
) -> StructureSnapshot:
    return StructureSnapshot(
        workflow_id=workflow_id,
        workflow_name=f"wf-{workflow_id}-{uuid.uuid4().hex[:6]}",
        tasks=tuple(tasks),
        edges=tuple(Edge(upstream_task_id=u, downstream_task_id=d) for u, d in edges),
        schedule=None
        if cron is None
        else Schedule(
            crontab=cron,
            timezone="UTC",
            start_time=datetime(2025, 1, 1, tzinfo=UTC),
            end_time=datetime(2099, 12, 31, tzinfo=UTC),
        ),
    )


def request(
    snap: StructureSnapshot, operation: str, *, version_no: int = 1, request_id: uuid.UUID | None = None
) -> PublishRequested:
    """A request as the definition service sends it: approved (signed with its key) for this snapshot."""
    return approved(
        PublishRequested(
            request_id=request_id or uuid.uuid4(),
            workflow_id=snap.workflow_id,
            operation=PublishOperation(operation),
            version_id=snap.workflow_id * 1000 + version_no,
            version_no=version_no,
            operator="alice",
            requested_at=datetime.now(UTC),
            snapshot=snap,
        )
    )


def gateway_calls(method: str) -> float:
    return sum(
        REGISTRY.get_sample_value("ds_calls_total", {"api": "gateway", "endpoint": method, "outcome": o}) or 0.0
        for o in ("ok", "unavailable", "unauthorized", "ds_error", "error")
    )


@dataclass
class Harness:
    settings: Settings
    db: ServiceDatabase
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    emulator: EmulatorProcess
    ds: DolphinRestClient
    bootstrap: str
    prefix: str
    producer: AIOKafkaProducer
    client: httpx.AsyncClient | None = None

    async def send(self, event: PublishRequested, *, event_id: str | None = None) -> str:
        envelope = registry.encode(event, source="/tests/definition", event_id=event_id)
        await self.producer.send_and_wait(
            self.settings.topic(Topics.PUBLISH_REQUESTED), envelope.to_bytes(), key=event.key().encode()
        )
        return envelope.id

    async def record(self, request_id: uuid.UUID, *, final: bool = True, timeout_s: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            async with self.sessions() as s:
                row = (
                    await s.execute(
                        select(workflow_publish_record).where(workflow_publish_record.c.request_id == request_id)
                    )
                ).first()
            if row is not None and (not final or row.status not in ("pending", "running")):
                return row
            assert time.monotonic() < deadline, f"request {request_id}: {row.status if row else 'no record'}"
            await asyncio.sleep(0.05)

    async def records(self) -> list[Any]:
        async with self.sessions() as s:
            return list((await s.execute(select(workflow_publish_record).order_by(workflow_publish_record.c.id))).all())

    async def completed(self, expect: int, timeout_s: float = 20.0) -> list[PublishCompleted]:
        raw = await read_topic(
            self.bootstrap, self.settings.topic(Topics.PUBLISH_COMPLETED), expect=expect, timeout_s=timeout_s
        )
        events = [registry.decode(r.value)[1] for r in raw]
        assert all(isinstance(e, PublishCompleted) for e in events)
        return events  # type: ignore[return-value]

    @property
    def project_name(self) -> str:
        return self.settings.ds_project_name


@pytest.fixture
async def harness_parts(
    migrated_schema: MigratedFn,
    truncate: TruncateFn,
    kafka_bootstrap: str,
    topic_prefix: str,
    ds_emulator_fresh: EmulatorProcess,
) -> AsyncIterator[Harness]:
    # the schema is migrated once per session and emptied before the test: the app's workers commit and read back
    db = await truncate(await migrated_schema("publisher", MIGRATIONS))
    settings = Settings(
        database_url=db.url,
        db_schema=db.schema,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_prefix=topic_prefix,
        log_json=False,
        log_level="DEBUG",
        ds_rest_url=ds_emulator_fresh.rest_url,
        ds_token=SecretStr(ds_emulator_fresh.access_token),
        ds_gateway_host=ds_emulator_fresh.host,
        ds_gateway_port=ds_emulator_fresh.gateway_port,
        ds_gateway_auth_token=SecretStr(ds_emulator_fresh.auth_token),
        ds_project_name=f"it-{uuid.uuid4().hex[:8]}",
        ds_rest_timeout_s=5.0,
        ds_gateway_timeout_s=5.0,
        publish_poll_interval_s=0.2,
        publish_lease_s=30.0,
        # transient DS failures are retried inside a publish: quickly here
        ds_retry_attempts=2,
        ds_retry_initial_s=0.1,
        ds_retry_max_s=0.2,
    )
    await ensure_topics(
        kafka_bootstrap, [settings.topic(Topics.PUBLISH_REQUESTED), settings.topic(Topics.PUBLISH_COMPLETED)]
    )
    engine = create_engine(db.url, schema=db.schema, pool_size=2)
    producer = AIOKafkaProducer(**client_options(kafka_bootstrap), enable_idempotence=True, acks="all")
    await producer.start()
    ds = DolphinRestClient.create(ds_emulator_fresh.rest_url, SecretStr(ds_emulator_fresh.access_token))
    try:
        yield Harness(
            settings,
            db,
            engine,
            session_factory(engine),
            ds_emulator_fresh,
            ds,
            kafka_bootstrap,
            topic_prefix,
            producer,
        )
    finally:
        await ds.aclose()
        await producer.stop()
        await engine.dispose()


@pytest.fixture
async def harness(harness_parts: Harness) -> AsyncIterator[Harness]:
    async with running(create_app(harness_parts.settings)) as client:
        harness_parts.client = client
        yield harness_parts
