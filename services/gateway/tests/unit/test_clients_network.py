"""The deployed path of ``Upstream``: straight to aiohttp over a real socket (a local aiohttp server), with the same
mapping of every outcome as the httpx path of ``test_clients.py``, and the client span with the trace context."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from common.errors import UpstreamTimeout, UpstreamUnavailable
from gateway.clients import DefinitionClient, Upstream
from gateway.errors import BadUpstreamAnswer, UpstreamProblem
from gateway.ports import Caller

CALLER = Caller(actor="alice", request_id="r-1")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


async def connect(url: str, timeout_s: float = 1.0) -> Upstream:
    up = Upstream.connect(
        "definition", url, timeout_s=timeout_s, max_connections=4, tokens=lambda c: f"token-of-{c.actor}"
    )
    assert up.http._fake is None, "the deployed path: aiohttp, over the network"
    return up


async def test_request_and_answer(serve: Callable[[Handler], Awaitable[str]]) -> None:
    seen: list[tuple[str, str, dict[str, str], CIMultiDict[str], bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, dict(request.query), request.headers.copy(), await request.read()))
        return web.json_response({"items": [], "total": 0, "name": "数据"})

    up = await connect(await serve(handler))
    try:
        page = await DefinitionClient(up).list_tasks({"workflow_id": 3, "name": None, "page": 1}, [4, 5], CALLER)
        assert page == {"items": [], "total": 0, "name": "数据"}
        await DefinitionClient(up).list_workflows({"needs_attention": True, "name": "a b&c"}, CALLER)
        await up.call("POST", "/internal/tasks", CALLER, body={"name": "t", "n": 1})
    finally:
        await up.aclose()
    (m1, p1, q1, h1, _), (_, _, q2, _, _), (m3, p3, _, h3, b3) = seen
    assert (m1, p1, q1) == ("GET", "/internal/tasks", {"workflow_id": "3", "page": "1", "ids": "4,5"})
    assert h1["Authorization"] == "Bearer token-of-alice"  # the caller's identity token (common.identity)
    assert "X-Actor" not in h1
    assert h1["X-Request-Id"] == "r-1"
    assert q2 == {"needs_attention": "true", "name": "a b&c"}
    assert (m3, p3, h3["Content-Type"], b3) == ("POST", "/internal/tasks", "application/json", b'{"name":"t","n":1}')


async def test_problem_is_passed_on(serve: Callable[[Handler], Awaitable[str]]) -> None:
    body = {"type": "/problems/stale-version", "title": "Stale version", "status": 409, "detail": "x", "extra": 1}

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body, status=409, content_type="application/problem+json")

    up = await connect(await serve(handler))
    try:
        with pytest.raises(UpstreamProblem) as info:
            await up.call("PUT", "/internal/workflows/1", CALLER, body={})
    finally:
        await up.aclose()
    assert info.value.status == 409
    assert info.value.body == body


@pytest.mark.parametrize(
    ("status", "text", "error"),
    [
        (500, "<html>boom</html>", BadUpstreamAnswer),
        (404, '{"detail": "Not Found"}', BadUpstreamAnswer),
        (200, "not json", BadUpstreamAnswer),
        (200, "\udcff", BadUpstreamAnswer),
        (502, "bad gateway", UpstreamUnavailable),
        (503, "", UpstreamUnavailable),
    ],
    ids=["html-500", "non-problem-404", "bad-json", "bad-utf8", "502", "503-empty"],
)
async def test_non_contract_answers(
    serve: Callable[[Handler], Awaitable[str]], status: int, text: str, error: type[Exception]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, body=text.encode("utf-8", "surrogateescape"))

    url = await serve(handler)
    up = await connect(url)
    try:
        with pytest.raises(error) as info:
            await up.call("GET", "/internal/workflows", CALLER)
    finally:
        await up.aclose()
    assert url not in str(info.value)
    assert "definition service" in str(info.value)


async def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    up = await connect(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(UpstreamUnavailable, match=r"^definition service is unavailable$"):
            await up.call("GET", "/x", CALLER)
    finally:
        await up.aclose()


async def test_dropped_connection_is_unavailable(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        raise asyncio.CancelledError

    up = await connect(await serve(handler))
    try:
        with pytest.raises(UpstreamUnavailable, match=r"^definition service is unavailable$"):
            await up.call("GET", "/x", CALLER)
    finally:
        await up.aclose()


async def test_total_budget_is_enforced(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    up = await connect(await serve(slow), timeout_s=0.05)
    try:
        with pytest.raises(UpstreamTimeout, match=r"within 0\.05 s"):
            await up.call("GET", "/x", CALLER)
        with pytest.raises(UpstreamTimeout, match=r"within 0\.02 s"):
            await up.call("GET", "/x", CALLER, timeout_s=0.02)
    finally:
        await up.aclose()


async def test_the_call_is_a_client_span_carrying_the_trace(
    serve: Callable[[Handler], Awaitable[str]], spans: InMemorySpanExporter
) -> None:
    received: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(request.headers.get("traceparent", ""))
        return web.json_response({"ok": True}, status=200 if request.method == "GET" else 503)

    url = await serve(handler)
    up = await connect(url)
    try:
        with trace.get_tracer(__name__).start_as_current_span("request") as request:
            await up.call("GET", "/internal/workflows", CALLER, params={"page": 2})
            with pytest.raises(UpstreamUnavailable):
                await up.call("POST", "/internal/workflows", CALLER, body={})
    finally:
        await up.aclose()
    calls = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert [s.name for s in calls] == ["GET", "POST"]
    for span, traceparent in zip(calls, received, strict=True):
        assert span.parent is not None
        assert span.parent.span_id == request.get_span_context().span_id
        assert span.context is not None
        assert traceparent.split("-")[:3] == ["00", f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"]
    assert (calls[0].attributes or {})["url.full"] == f"{url}/internal/workflows?page=2"
    assert (calls[0].attributes or {})["http.response.status_code"] == 200
    assert (calls[1].attributes or {})["http.response.status_code"] == 503
    assert calls[1].status.status_code is trace.StatusCode.ERROR


async def test_a_failed_call_leaves_the_pool_usable() -> None:
    """A service's 500 (uvicorn closes the connection after an unhandled error) or a call cut at its budget must not
    make the next call on the pool answer a misleading 503."""
    import contextlib

    import uvicorn
    from fastapi import FastAPI

    from common.http import install_problem_handlers

    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/slow")
    async def slow() -> dict[str, int]:
        await asyncio.sleep(0.3)
        return {"ok": 2}

    @app.get("/ok")
    async def ok() -> dict[str, int]:
        return {"ok": 1}

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[no-untyped-def]
            yield

    server = Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    up = Upstream.connect("definition", f"http://127.0.0.1:{port}", timeout_s=2.0, max_connections=1)
    try:
        for _ in range(20):
            with pytest.raises(UpstreamProblem):
                await up.call("POST", "/boom", CALLER, body={})
            assert await up.call("GET", "/ok", CALLER) == {"ok": 1}
            with pytest.raises(UpstreamTimeout):
                await up.call("GET", "/slow", CALLER, timeout_s=0.05)
            assert await up.call("GET", "/ok", CALLER) == {"ok": 1}
    finally:
        await up.aclose()
        server.should_exit = True
        await task
