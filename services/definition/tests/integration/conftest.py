"""Fixtures of the definition service's integration tests: the whole app in-process on real PostgreSQL and Kafka.

The HTTP tests share one running app per module (each test makes its own uniquely named tasks and workflows), so the
suite stays fast; Kafka tests start their own app with its consumers. The schemas are migrated once per session and
emptied before a module (HTTP) or a test (Kafka).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from common.db import ServiceDatabase
from common.events import Event, registry
from common.kafka_access import client_options
from common.testing.fixtures import MigratedFn, TruncateFn
from common.testing.identity import auth_headers
from common.testing.service import running
from definition.config import MIGRATIONS, Settings
from definition.main import create_app


def uid() -> str:
    return uuid.uuid4().hex[:8]


def make_settings(db: ServiceDatabase, topic_prefix: str, kafka_bootstrap: str) -> Settings:
    return Settings(
        database_url=db.url,
        db_schema=db.schema,
        topic_prefix=topic_prefix,
        kafka_bootstrap_servers=kafka_bootstrap,
        log_json=False,
        log_level="WARNING",
        consumer_max_attempts=3,
        publisher_url="",
    )


@pytest.fixture(scope="module")
async def module_db(migrated_schema: MigratedFn, truncate: TruncateFn) -> ServiceDatabase:
    """The schema of a module's shared app (migrated once per session), emptied when the module starts."""
    return await truncate(await migrated_schema("definition_http", MIGRATIONS))


@pytest.fixture(scope="module")
def module_settings(module_db: ServiceDatabase, kafka_bootstrap: str) -> Settings:
    return make_settings(module_db, f"t{uuid.uuid4().hex[:10]}.", kafka_bootstrap)


@pytest.fixture(scope="module")
async def client(module_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app without Kafka consumers (HTTP tests); the outbox relay runs."""
    async with running(create_app(module_settings, consume=False, telemetry=False)) as c:
        yield c


@pytest.fixture
async def definition_db(migrated_schema: MigratedFn, truncate: TruncateFn) -> ServiceDatabase:
    """The schema of a test's own app (migrated once per session), emptied before the test: its consumers and relay
    commit and read back."""
    return await truncate(await migrated_schema("definition", MIGRATIONS))


@pytest.fixture
def settings(definition_db: ServiceDatabase, topic_prefix: str, kafka_bootstrap: str) -> Settings:
    return make_settings(definition_db, topic_prefix, kafka_bootstrap)


@pytest.fixture
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(**client_options(kafka_bootstrap), acks="all", enable_idempotence=True)
    await p.start()
    yield p
    await p.stop()


def as_user(actor: str, *roles: str) -> dict[str, str]:
    """Headers of a call the gateway makes for ``actor`` (an admin unless ``roles`` say otherwise)."""
    return auth_headers("definition", actor, roles or ("admin",))


def envelope_bytes(event: Event) -> bytes:
    return registry.encode(event, source="/tests/definition").to_bytes()


# --- API helpers ------------------------------------------------------------------------------------------------


def shell_task(name: str | None = None, script: str = "echo hi", **extra: Any) -> dict[str, Any]:
    return {
        "name": name or f"task-{uid()}",
        "task_type": "SHELL",
        "description": "",
        "params": {"script": script},
        "worker_group": "default",
        "owner": "data-team",
        **extra,
    }


async def new_tasks(client: httpx.AsyncClient, n: int) -> list[int]:
    ids = []
    for _ in range(n):
        r = await client.post("/internal/tasks", json=shell_task())
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return ids


def workflow_body(
    task_ids: Sequence[int],
    edges: Iterable[tuple[int, int]] = (),
    *,
    name: str | None = None,
    node_attrs: dict[int, dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    attrs = node_attrs or {}
    return {
        "name": name or f"wf-{uid()}",
        "description": "",
        "tasks": [{"task_id": t, **({"node_attrs": attrs[t]} if t in attrs else {})} for t in task_ids],
        "edges": [{"upstream_task_id": u, "downstream_task_id": d} for u, d in edges],
        **extra,
    }


async def new_workflow(
    client: httpx.AsyncClient, task_ids: Sequence[int], edges: Iterable[tuple[int, int]] = (), **kw: Any
) -> dict[str, Any]:
    r = await client.post("/internal/workflows", json=workflow_body(task_ids, edges, **kw), headers=as_user("ann"))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def problem_type(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    t: str = r.json()["type"]
    return t.removeprefix("/problems/")
