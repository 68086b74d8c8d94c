"""The httpx adapter's mapping of every outcome to the gateway's errors (no network: ``httpx.MockTransport``)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from common.errors import UpstreamTimeout, UpstreamUnavailable
from gateway.clients import DefinitionClient, HistoryClient, Upstream
from gateway.errors import BadUpstreamAnswer, UpstreamProblem
from gateway.ports import Caller

CALLER = Caller(actor="alice", request_id="r-1")


def upstream(handler: httpx.MockTransport | httpx.AsyncBaseTransport, timeout_s: float = 1.0) -> Upstream:
    return Upstream.connect(
        "definition",
        "http://definition:8101",
        timeout_s=timeout_s,
        max_connections=4,
        transport=handler,
        tokens=lambda c: f"token-of-{c.actor}",
    )


async def test_headers_params_and_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [], "total": 0, "page": 1, "page_size": 20})

    api = DefinitionClient(upstream(httpx.MockTransport(handler)))
    page = await api.list_tasks({"workflow_id": 3, "name": None, "page": 1}, [4, 5], CALLER)
    assert page["total"] == 0
    [req] = seen
    assert req.headers["Authorization"] == "Bearer token-of-alice"  # the caller's identity token (common.identity)
    assert "X-Actor" not in req.headers
    assert req.headers["X-Request-Id"] == "r-1"
    assert req.url.path == "/internal/tasks"
    assert dict(req.url.params) == {"workflow_id": "3", "page": "1", "ids": "4,5"}


async def test_bools_are_sent_as_true_false() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": []})

    await DefinitionClient(upstream(httpx.MockTransport(handler))).list_workflows({"needs_attention": True}, CALLER)
    assert seen[0].url.params["needs_attention"] == "true"


async def test_problem_is_passed_on() -> None:
    body = {"type": "/problems/stale-version", "title": "Stale version", "status": 409, "detail": "x", "extra": 1}
    up = upstream(httpx.MockTransport(lambda r: httpx.Response(409, json=body)))
    with pytest.raises(UpstreamProblem) as info:
        await up.call("PUT", "/internal/workflows/1", CALLER, body={})
    assert info.value.status == 409
    assert info.value.body == body


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(500, text="<html>boom</html>"), BadUpstreamAnswer),
        (httpx.Response(404, json={"detail": "Not Found"}), BadUpstreamAnswer),
        (httpx.Response(200, text="not json"), BadUpstreamAnswer),
        (httpx.Response(502, text="bad gateway"), UpstreamUnavailable),
        (httpx.Response(503), UpstreamUnavailable),
    ],
    ids=["html-500", "non-problem-404", "bad-json", "502", "503-empty"],
)
async def test_non_contract_answers(response: httpx.Response, error: type[Exception]) -> None:
    up = upstream(httpx.MockTransport(lambda r: response))
    with pytest.raises(error) as info:
        await up.call("GET", "/internal/workflows", CALLER)
    assert "http://" not in str(info.value)
    assert "definition service" in str(info.value)


async def test_transport_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused to http://definition:8101", request=request)

    with pytest.raises(UpstreamUnavailable, match=r"^definition service is unavailable$"):
        await upstream(httpx.MockTransport(refuse)).call("GET", "/x", CALLER)

    def read_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(UpstreamTimeout, match="did not answer within 1 s"):
        await upstream(httpx.MockTransport(read_timeout)).call("GET", "/x", CALLER)


async def test_total_budget_is_enforced() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={})

    up = upstream(httpx.MockTransport(slow), timeout_s=0.05)
    with pytest.raises(UpstreamTimeout, match=r"within 0\.05 s"):
        await up.call("GET", "/x", CALLER)
    with pytest.raises(UpstreamTimeout, match=r"within 0\.02 s"):
        await up.call("GET", "/x", CALLER, timeout_s=0.02)


async def test_history_direct_calls_use_their_own_budget() -> None:
    async def slowish(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.2)
        return httpx.Response(200, json={"executions": []})

    history = HistoryClient(upstream(httpx.MockTransport(slowish), timeout_s=0.05), direct_timeout_s=2.0)
    with pytest.raises(UpstreamTimeout):
        await history.executions(1, CALLER)
    assert await history.executions(1, CALLER, direct=True) == {"executions": []}
