"""The internal client's one mapping of answers to errors (``common.upstream``), for a service's own client (problems
raised as ours) — the gateway's (problems passed on) is tested in ``services/gateway/tests/unit/test_clients.py``."""

from __future__ import annotations

import re

import httpx
import pytest

from common.errors import DomainError, NotFound, PlatformError, UpstreamUnavailable
from common.upstream import BadUpstreamAnswer, Upstream


def _problem(status: int) -> httpx.Response:
    body = {"type": "/problems/x", "title": "T", "status": status, "detail": f"detail {status}"}
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


@pytest.mark.parametrize(
    ("answer", "error", "text"),
    [
        (_problem(404), NotFound, "definition service answered 404: detail 404"),
        (_problem(409), DomainError, "answered 409: detail 409"),
        (_problem(503), UpstreamUnavailable, "answered 503: detail 503"),
        (httpx.Response(503), UpstreamUnavailable, "is unavailable (HTTP 503)"),
        (httpx.Response(200, text="<html>"), BadUpstreamAnswer, "unexpected body"),
    ],
)
async def test_a_services_own_client_raises_our_errors(
    answer: httpx.Response, error: type[PlatformError], text: str
) -> None:
    up = Upstream.at("definition", "http://definition:1", timeout_s=1.0, fake=httpx.MockTransport(lambda r: answer))
    try:
        with pytest.raises(error, match=re.escape(text)):
            await up.request("GET", "/internal/workflows/1")
    finally:
        await up.aclose()


async def test_the_services_identity_query_and_body_are_sent() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    up = Upstream.at(
        "history", "http://history:1/", timeout_s=1.0, identity=lambda: "tok", fake=httpx.MockTransport(handler)
    )
    try:
        assert await up.request("POST", "/internal/x", params={"a": True, "b": None, "c": 2}, body={"k": "v"}) == {
            "ok": True
        }
        unreachable = Upstream.at("lineage", "http://127.0.0.1:9", timeout_s=1.0)
        with pytest.raises(UpstreamUnavailable, match="lineage service is unavailable"):
            await unreachable.request("GET", "/internal/y")
        await unreachable.aclose()
    finally:
        await up.aclose()
    [request] = seen
    assert str(request.url) == "http://history:1/internal/x?a=true&c=2"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == b'{"k":"v"}'
    assert "X-Request-Budget-Ms" in request.headers
