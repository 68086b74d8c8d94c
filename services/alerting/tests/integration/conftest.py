"""Alerting on real PostgreSQL and Kafka, with a local HTTP server (uvicorn, free port) that plays every IM webhook,
the ticket system and the internal APIs of definition, publisher and history-sync (docs/api-contracts.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from alerting.config import MIGRATIONS, Settings
from common.db import ServiceDatabase
from common.testing.fixtures import MigratedFn, TruncateFn


@dataclass
class Hit:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Upstreams:
    """State of the fake services, changed by the tests between runs."""

    unassigned: list[dict[str, Any]] = field(default_factory=list)
    workflows: list[dict[str, Any]] = field(default_factory=list)
    #: workflow id -> (task ids, edges)
    structures: dict[int, tuple[list[int], list[tuple[int, int]]]] = field(default_factory=dict)
    #: task id -> owning workflow id (None: unassigned); absent = the task does not exist
    tasks: dict[int, int | None] = field(default_factory=dict)
    #: workflow id -> drift answer (absent: 404 never deployed)
    drift: dict[int, dict[str, Any]] = field(default_factory=dict)
    stale: list[dict[str, Any]] = field(default_factory=list)
    #: path prefixes that answer 500 (an upstream outage)
    down: set[str] = field(default_factory=set)


@dataclass
class FakeServer:
    base_url: str
    hits: list[Hit] = field(default_factory=list)
    #: path -> statuses to answer before the normal answer (e.g. [500] = fail once)
    failures: dict[str, list[int]] = field(default_factory=dict)
    up: Upstreams = field(default_factory=Upstreams)
    tickets: list[dict[str, Any]] = field(default_factory=list)

    def at(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    def ok(self, path: str) -> list[Hit]:
        return [h for h in self.at(path) if 200 <= h.status < 300]

    def url(self, path: str) -> str:
        return self.base_url + path


IM_OK: dict[str, Callable[[], Response]] = {
    "dingtalk": lambda: JSONResponse({"errcode": 0, "errmsg": "ok"}),
    "wecom": lambda: JSONResponse({"errcode": 0, "errmsg": "ok"}),
    "feishu": lambda: JSONResponse({"code": 0, "msg": "success", "data": {}}),
    "slack": lambda: PlainTextResponse("ok"),
    "webhook": lambda: Response(status_code=204),
}


def _page(items: list[dict[str, Any]], request: Request) -> JSONResponse:
    page = int(request.query_params.get("page", "1"))
    size = int(request.query_params.get("page_size", "20"))
    chunk = items[(page - 1) * size : page * size]
    return JSONResponse({"items": chunk, "total": len(items), "page": page, "page_size": size})


def _app(server: FakeServer) -> Starlette:
    up = server.up

    async def record(request: Request) -> tuple[bytes, int | None]:
        body = await request.body()
        queued = server.failures.get(request.url.path)
        forced = queued.pop(0) if queued else None
        return body, forced

    def log(request: Request, body: bytes, status: int) -> None:
        server.hits.append(
            Hit(request.url.path, dict(request.query_params), {k.lower(): v for k, v in request.headers.items()}, body,
                status)
        )  # fmt: skip

    async def hook(request: Request) -> Response:
        body, forced = await record(request)
        kind = request.path_params["kind"]
        resp = Response(status_code=forced) if forced else IM_OK[kind]()
        log(request, body, resp.status_code)
        return resp

    async def ticket(request: Request) -> Response:
        body, forced = await record(request)
        if forced:
            log(request, body, forced)
            return Response(status_code=forced)
        server.tickets.append({**json.loads(body), "idempotency_key": request.headers.get("idempotency-key")})
        log(request, body, 201)
        return JSONResponse({"id": f"TCK-{len(server.tickets)}"}, status_code=201)

    def outage(prefix: str) -> Response | None:
        return Response(status_code=500) if prefix in up.down else None

    async def definition_tasks(request: Request) -> Response:
        if (r := outage("definition")) is not None:
            return r
        if request.query_params.get("unassigned") == "true":
            return _page(up.unassigned, request)
        ids = [int(x) for x in request.query_params.get("ids", "").split(",") if x]
        rows = [{"id": i, "name": f"task-{i}", "workflow_id": up.tasks[i]} for i in ids if i in up.tasks]
        return _page(rows, request)

    async def definition_workflows(request: Request) -> Response:
        return outage("definition") or _page(up.workflows, request)

    async def definition_workflow(request: Request) -> Response:
        if (r := outage("definition")) is not None:
            return r
        wid = int(request.path_params["wid"])
        if wid not in up.structures:
            return JSONResponse({"status": 404}, status_code=404)
        task_ids, edges = up.structures[wid]
        return JSONResponse({
            "id": wid, "tasks": [{"task_id": t} for t in task_ids],
            "edges": [{"upstream_task_id": u, "downstream_task_id": d} for u, d in edges],
        })  # fmt: skip

    async def publisher_drift(request: Request) -> Response:
        if (r := outage("publisher")) is not None:
            return r
        wid = int(request.path_params["wid"])
        if wid not in up.drift:
            return JSONResponse({"status": 404, "title": "Not found"}, status_code=404)
        return JSONResponse({"workflow_id": wid, **up.drift[wid]})

    async def history_stale(request: Request) -> Response:
        if (r := outage("history")) is not None:
            return r
        cycles = int(request.query_params["cycles"])
        return JSONResponse({"cycles": cycles, "interval_s": 300, "threshold_s": cycles * 300.0,
                             "checked_at": "2025-06-01T00:00:00+00:00", "items": up.stale})  # fmt: skip

    return Starlette(
        routes=[
            Route("/hooks/{kind}/{name}", hook, methods=["POST"]),
            Route("/tickets", ticket, methods=["POST"]),
            Route("/definition/internal/tasks", definition_tasks),
            Route("/definition/internal/workflows", definition_workflows),
            Route("/definition/internal/workflows/{wid:int}", definition_workflow),
            Route("/publisher/internal/workflows/{wid:int}/drift", publisher_drift),
            Route("/history/internal/workflows/stale", history_stale),
        ]
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    server = FakeServer(base_url="")
    config = uvicorn.Config(_app(server), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    task = asyncio.create_task(uv.serve())
    while not uv.started:
        assert not task.done(), "the fake server did not start"
        await asyncio.sleep(0.01)
    port = uv.servers[0].sockets[0].getsockname()[1]
    server.base_url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        uv.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def adb(migrated_schema: MigratedFn, truncate: TruncateFn) -> ServiceDatabase:
    """The alerting schema (migrated once per session), emptied before the test: the app commits and reads back."""
    return await truncate(await migrated_schema("alerting", MIGRATIONS))


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(adb: ServiceDatabase, kafka_bootstrap: str, topic_prefix: str, fake: FakeServer) -> SettingsFactory:
    def _make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": adb.url,
            "db_schema": adb.schema,
            "kafka_bootstrap_servers": kafka_bootstrap,
            "topic_prefix": topic_prefix,
            "log_json": False,
            "portal_url": "https://portal.example",
            "ds_ui_url": "https://ds.example/dolphinscheduler/ui",
            "definition_url": fake.url("/definition"),
            "publisher_url": fake.url("/publisher"),
            "history_url": fake.url("/history"),
            "ticket_url": SecretStr(fake.url("/tickets")),
            "delivery_poll_interval_s": 0.05,
            "retry_base_s": 0.05,
            "retry_max_s": 0.5,
            "history_poll_interval_s": 0,
            "inspection_enabled": False,
            "upstream_timeout_s": 5.0,
            "delivery_timeout_s": 5.0,
            "outbox_poll_interval_s": 0.05,
        }
        values.update(overrides)
        return Settings(**values)

    return _make
