"""Fixtures for history-sync integration tests: a migrated schema, settings, the DS emulator with a project."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from common.db import ServiceDatabase, create_engine, session_factory, unit_of_work
from common.dolphin import ReleaseState, WorkflowInstance
from common.dolphin.gateway import DolphinGatewayClient
from common.dolphin.rest import DolphinRestClient
from common.events.models import PublishCompleted, PublishOperation, PublishOutcome, Topics
from common.kafka import ensure_topics
from common.outbox import Outbox
from common.testing.fixtures import MigratedFn, TruncateFn
from ds_emulator import EmulatorProcess
from history_sync import service
from history_sync.config import MIGRATIONS, Settings
from history_sync.db.tables import outbox_table
from history_sync.deps import Deps
from history_sync.main import dolphin_client, throttled


@dataclass
class Db:
    db: ServiceDatabase
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def hdb(migrated_schema: MigratedFn, truncate: TruncateFn) -> AsyncIterator[Db]:
    """The history-sync schema (migrated once per session), emptied before the test: sync lanes, replicas and the app
    commit and read back on connections of their own."""
    db = await truncate(await migrated_schema("history", MIGRATIONS))
    engine = create_engine(db.url, schema=db.schema, pool_size=4)
    yield Db(db, engine, session_factory(engine))
    await engine.dispose()


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(hdb: Db, kafka_bootstrap: str, topic_prefix: str) -> SettingsFactory:
    def _make(emulator: EmulatorProcess, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": hdb.db.url,
            "db_schema": hdb.db.schema,
            "kafka_bootstrap_servers": kafka_bootstrap,
            "topic_prefix": topic_prefix,
            "ds_rest_url": emulator.rest_url,
            "ds_token": SecretStr(emulator.access_token),
            "ds_read_attempts": 1,
            "ds_timeout_s": 5.0,
            "sync_interval_s": 2.0,
            "lease_s": 1.0,
            "poll_interval_s": 0.2,
            "log_json": False,
            "replica_id": f"test-{uuid.uuid4().hex[:6]}",
            "outbox_poll_interval_s": 0.05,
        }
        values.update(overrides)
        return Settings(**values)

    return _make


@pytest.fixture
async def topics(kafka_bootstrap: str, topic_prefix: str) -> None:
    await ensure_topics(kafka_bootstrap, [f"{topic_prefix}{t}" for t in Topics.ALL], partitions=1)


@pytest.fixture
async def deps_for(hdb: Db) -> AsyncIterator[Callable[[Settings], Deps]]:
    """``Deps`` on the test schema without Kafka (events stay in the outbox table)."""
    clients: list[DolphinRestClient] = []

    def _make(settings: Settings) -> Deps:
        client = dolphin_client(settings)
        clients.append(client)
        return Deps(
            settings=settings,
            sessions=hdb.sessions,
            outbox=Outbox(outbox_table, source="/services/history-sync", topic_name=settings.topic),
            dolphin=throttled(settings, client),
        )

    yield _make
    for c in clients:
        await c.aclose()


# --- DS (emulator) helpers: everything through the gateway and REST clients, as the publisher does ------------


@dataclass
class Ds:
    emulator: EmulatorProcess
    gateway: DolphinGatewayClient
    rest: DolphinRestClient
    project_name: str
    project_code: int

    async def deploy(self, name: str, *, script: str = "echo hello") -> int:
        [code] = await self.gateway.gen_task_code_list(1)
        task = {
            "code": code, "version": 1, "name": "only", "description": "", "taskType": "SHELL",
            "taskParams": {"rawScript": script, "localParams": [], "resourceList": []}, "flag": "YES",
            "taskPriority": "MEDIUM", "workerGroup": "default", "environmentCode": -1, "failRetryTimes": 0,
            "failRetryInterval": 1, "timeoutFlag": "CLOSE", "timeout": 0, "delayTime": 0,
            "taskExecuteType": "BATCH",
        }  # fmt: skip
        edge = {"name": "", "preTaskCode": 0, "preTaskVersion": 0, "postTaskCode": code, "postTaskVersion": 1,
                "conditionType": "NONE", "conditionParams": {}}  # fmt: skip
        return await self.gateway.create_or_update_workflow(
            user_name="admin",
            project_name=self.project_name,
            name=name,
            task_relation_json=json.dumps([edge]),
            task_definition_json=json.dumps([task]),
            release_state=ReleaseState.OFFLINE,
        )

    async def online(self, code: int) -> None:
        await self.rest.online_workflow(self.project_code, code)

    async def run(self, code: int, *, fail: bool = False) -> int:
        if fail:
            self.emulator.script("FAILURE", workflowCode=code, times=1)
        [instance_id] = await self.rest.start_workflow_instance(self.project_code, code)
        return instance_id

    async def wait_finished(self, instance_id: int, timeout_s: float = 30.0) -> WorkflowInstance:
        deadline = time.monotonic() + timeout_s
        while True:
            instance = await self.rest.get_workflow_instance(self.project_code, instance_id)
            if instance.state.is_finished:
                return instance
            assert time.monotonic() < deadline, f"instance {instance_id} still {instance.state}"
            await asyncio.sleep(0.05)


@pytest.fixture
async def ds(ds_emulator_fresh: EmulatorProcess) -> AsyncIterator[Ds]:
    emulator = ds_emulator_fresh
    emulator.configure(submitDelaySeconds=0.02, taskDurationSeconds=0.05)
    async with (
        DolphinGatewayClient(emulator.host, emulator.gateway_port, SecretStr(emulator.auth_token)) as gateway,
        DolphinRestClient.create(emulator.rest_url, SecretStr(emulator.access_token)) as rest,
    ):
        name = f"hs-{uuid.uuid4().hex[:8]}"
        await gateway.create_or_grant_project("admin", name, "history-sync tests")
        code = await gateway.query_project_code("admin", name)
        assert code is not None
        yield Ds(emulator, gateway, rest, name, code)


def publish_completed(
    workflow_id: int, code: int, project_code: int, *, version_id: int = 1, engine_version: int = 1
) -> PublishCompleted:
    return PublishCompleted(
        request_id=uuid.uuid4(),
        record_id=workflow_id * 10,
        workflow_id=workflow_id,
        version_id=version_id,
        operation=PublishOperation.ONLINE,
        outcome=PublishOutcome.SUCCESS,
        engine_workflow_code=code,
        engine_version=engine_version,
        project_code=project_code,
        release_state="ONLINE",
        operator="tester",
        completed_at=datetime.now(UTC),
    )


async def track(sessions: async_sessionmaker[AsyncSession], event: PublishCompleted) -> None:
    """What the subscriber does for one record (the Kafka path is tested separately)."""
    async with unit_of_work(sessions) as session:
        await service.record_publish(session, event)
