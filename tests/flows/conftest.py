"""The platform in one test process: the five real services, real PostgreSQL and Kafka, the DS emulator.

``platform`` provisions the services' schemas, roles, migrations and topics as every other launcher does
(``devstack.stack.Stack``: fresh names per test, one topic prefix, so they talk over real Kafka without seeing other
tests' records), but runs the services in this process, where ``test_tracing`` reads every span: definition,
publisher, history-sync and lineage-resolver as ASGI apps served by uvicorn on free local ports (so the gateway calls
them over real HTTP, with the trace context in the headers, exactly as in a deployment), and the gateway in front of
them through ``common.testing.service.running``. Everything is stopped and dropped at the end; the shared PostgreSQL
and Kafka servers and the session's emulator keep running.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from pydantic import SecretStr

from common.db import ServiceDatabase
from common.dolphin.rest import DolphinRestClient
from common.events import Event, registry
from common.kafka_access import client_options
from common.testing.gateway_api import until as until  # the flows' tests import it from here
from common.testing.service import running
from definition.config import Settings as DefinitionSettings
from definition.main import create_app as create_definition
from devstack.stack import DsEndpoint, Stack
from ds_emulator import EmulatorProcess
from gateway.config import Settings as GatewaySettings
from gateway.main import create_app as create_gateway
from history_sync.config import Settings as HistorySettings
from history_sync.main import create_app as create_history
from lineage_resolver.config import Settings as LineageSettings
from lineage_resolver.main import create_app as create_lineage
from publisher.config import Settings as PublisherSettings
from publisher.main import create_app as create_publisher

HOST = "127.0.0.1"


def uid() -> str:
    return uuid.uuid4().hex[:8]


class _Server(uvicorn.Server):
    """uvicorn inside the test's event loop; several run at once, so none of them takes over SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: FastAPI, name: str, *, startup_timeout_s: float = 60.0) -> AsyncIterator[str]:
    """Serve ``app`` (lifespan included) on a free local port; yields its base URL."""
    server = _Server(uvicorn.Config(app, host=HOST, port=0, lifespan="on", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(), name=f"uvicorn-{name}")
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError(f"{name} stopped during start-up")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"{name} did not start within {startup_timeout_s:.0f}s")
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=60)


@dataclass
class Platform:
    api: httpx.AsyncClient
    """the gateway (``/api/v1``), authenticated as the bootstrap admin"""
    emulator: EmulatorProcess
    ds: DolphinRestClient
    ds_project_name: str
    bootstrap: str
    topic_prefix: str
    producer: AIOKafkaProducer
    urls: dict[str, str]
    #: the gateway's settings (a test that needs it over real HTTP serves another instance: ``serving``)
    gateway: GatewaySettings | None = None
    #: the publisher's settings (its commands, e.g. ``republish``, run with them)
    publisher: PublisherSettings | None = None

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    async def send(self, event: Event) -> None:
        envelope = registry.encode(event, source="/tests/flows")
        await self.producer.send_and_wait(
            self.topic(event.TOPIC), envelope.to_bytes(), key=event.key().encode(), headers=[]
        )

    async def call(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        r = await self.api.request(method, path, **kw)
        assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def workflow(self, workflow_id: int) -> dict[str, Any]:
        body: dict[str, Any] = await self.call("GET", f"/api/v1/workflows/{workflow_id}")
        return body

    async def published(self, workflow_id: int, *, timeout_s: float = 30.0) -> dict[str, Any]:
        """Wait until the workflow's latest publish is final; returns the workflow detail (``publish_status`` then
        ``published`` or ``failed``)."""

        async def done() -> dict[str, Any] | None:
            detail = await self.workflow(workflow_id)
            return detail if detail["publish_status"] in ("published", "failed") else None

        result: dict[str, Any] = await until(done, f"publish of workflow {workflow_id}", timeout_s=timeout_s)
        return result


def service_settings(db: ServiceDatabase, topic_prefix: str, bootstrap: str) -> dict[str, Any]:
    return {
        "database_url": db.url,
        "db_schema": db.schema,
        "topic_prefix": topic_prefix,
        "kafka_bootstrap_servers": bootstrap,
        "log_json": False,
        "log_level": "WARNING",
        "otel_exporter_otlp_endpoint": "",
        "outbox_poll_interval_s": 0.02,
        "consumer_max_attempts": 3,
    }


@pytest.fixture
async def platform(
    postgres_admin_url: str, kafka_bootstrap: str, ds_emulator_fresh: EmulatorProcess, tmp_path: Path
) -> AsyncIterator[Platform]:
    emulator = ds_emulator_fresh
    # runs finish within a fraction of a second
    emulator.configure(submitDelaySeconds=0.05, dispatchDelaySeconds=0.05, taskDurationSeconds=0.1)
    ds_project = f"flows-{uid()}"
    services = ("definition", "publisher", "history-sync", "lineage-resolver", "gateway")
    ds_endpoint = DsEndpoint.of(emulator, ds_project)
    provisioned = Stack(postgres_admin_url, kafka_bootstrap, ds_endpoint, tmp_path, services, tag="flows")
    await asyncio.to_thread(provisioned.provision)
    dbs, topic_prefix = provisioned.databases, provisioned.topic_prefix

    def common(name: str) -> dict[str, Any]:
        return service_settings(dbs[name], topic_prefix, kafka_bootstrap)

    definition = DefinitionSettings(**common("definition"), topic_partitions=1)
    publisher = PublisherSettings(
        **common("publisher"),
        ds_rest_url=emulator.rest_url,
        ds_ui_url=emulator.rest_url + "/ui",
        ds_token=SecretStr(emulator.access_token),
        ds_gateway_host=emulator.host,
        ds_gateway_port=emulator.gateway_port,
        ds_gateway_auth_token=SecretStr(emulator.auth_token),
        ds_project_name=ds_project,
        ds_rest_timeout_s=10.0,
        ds_gateway_timeout_s=10.0,
        publish_poll_interval_s=0.2,
    )
    history = HistorySettings(
        **common("history-sync"),
        ds_rest_url=emulator.rest_url,
        ds_token=SecretStr(emulator.access_token),
        ds_timeout_s=10.0,
        ds_rate_per_s=0,
        # a one-second cycle: a run shows up in the last 10 within seconds
        sync_interval_s=1.0,
        lease_s=0.8,
        poll_interval_s=0.2,
        replica_id=f"flows-{uid()}",
    )
    lineage = LineageSettings(**common("lineage-resolver"), topic_partitions=1)
    admin_token = "flows_" + secrets.token_urlsafe(24)

    producer = AIOKafkaProducer(**client_options(kafka_bootstrap), acks="all", enable_idempotence=True)
    await producer.start()
    ds = DolphinRestClient.create(emulator.rest_url, SecretStr(emulator.access_token))
    try:
        async with contextlib.AsyncExitStack() as stack:
            urls = {"publisher": await stack.enter_async_context(serving(create_publisher(publisher), "publisher"))}
            definition = definition.model_copy(update={"publisher_url": urls["publisher"]})
            urls |= {
                "definition": await stack.enter_async_context(serving(create_definition(definition), "definition")),
                "history": await stack.enter_async_context(serving(create_history(history), "history-sync")),
                "lineage": await stack.enter_async_context(serving(create_lineage(lineage), "lineage-resolver")),
            }
            gateway = GatewaySettings(
                database_url=dbs["gateway"].url,
                db_schema=dbs["gateway"].schema,
                kafka_bootstrap_servers=kafka_bootstrap,
                topic_prefix=topic_prefix,
                log_json=False,
                log_level="WARNING",
                definition_url=urls["definition"],
                publisher_url=urls["publisher"],
                history_url=urls["history"],
                lineage_url=urls["lineage"],
                history_timeout_s=5.0,
                bootstrap_admin_token=SecretStr(admin_token),
                ds_ui_url=emulator.rest_url + "/ui",
            )
            api = await stack.enter_async_context(running(create_gateway(gateway)))
            api.headers["Authorization"] = f"Bearer {admin_token}"
            yield Platform(
                api, emulator, ds, ds_project, kafka_bootstrap, topic_prefix, producer, urls, gateway, publisher
            )
    finally:
        await ds.aclose()
        await producer.stop()
        await asyncio.to_thread(provisioned.close)
