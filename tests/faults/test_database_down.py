"""Scenario 4 (issue 23): PostgreSQL is down.

Every endpoint of every service (and the gateway's API) answers a 503 problem with ``Retry-After`` — an outage, not
an internal error — and each process logs the outage once (one line when it starts, one when the database answers
again), not a traceback per request.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from common.testing.gateway_api import until
from common.testing.identity import auth_headers

from .conftest import FaultStack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

#: endpoints that read or write the service's database first (each must answer 503 while it is down)
DATABASE_FIRST: dict[str, list[tuple[str, str, dict[str, Any] | None]]] = {
    "definition": [
        ("GET", "/internal/workflows", None),
        ("GET", "/internal/workflows/1", None),
        ("GET", "/internal/tasks", None),
        ("POST", "/internal/tasks", {"name": "x", "task_type": "SHELL", "params": {"script": "echo"}}),
    ],
    "publisher": [
        ("GET", "/internal/workflows/1/publish-records", None),
        ("GET", "/internal/publish-records/1", None),
        ("GET", "/internal/workflows/1/engine", None),
    ],
    "history-sync": [("GET", "/internal/workflows/1/executions", None)],
    "lineage-resolver": [("GET", "/internal/dependency-view?task_ids=1", None)],
    "alerting": [("GET", "/internal/alerts", None), ("GET", "/internal/dead-letters", None)],
    "gateway": [
        ("GET", "/api/v1/workflows", None),
        ("GET", "/api/v1/workflows/1", None),
        ("GET", "/api/v1/tasks", None),
        ("POST", "/api/v1/tasks", {"name": "x", "task_type": "SHELL", "params": {"script": "echo"}}),
    ],
}

OUTAGE_LINE = "database unavailable"
BACK_LINE = "database reachable again"


def get_routes(openapi: dict[str, Any]) -> list[str]:
    """Every GET path of a service's OpenAPI without required query parameters, path parameters set to 1."""
    out = []
    for path, methods in openapi["paths"].items():
        op = methods.get("get")
        if op is None or any(p["in"] == "query" and p.get("required") for p in op.get("parameters", [])):
            continue
        out.append(re.sub(r"\{[^}]+\}", "1", path))
    return out


def assert_outage_answer(r: httpx.Response, what: str) -> None:
    assert r.status_code == 503, f"{what}: {r.status_code} {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/problem+json"), what
    assert int(r.headers["retry-after"]) > 0, what
    body = r.json()
    assert body["status"] == 503
    assert body["type"] == "/problems/database-unavailable", body


async def test_database_down_is_answered_as_an_outage(fault_stack: FaultStack, postgres_server: Any) -> None:
    procs = fault_stack.procs

    def auth(name: str) -> dict[str, str]:
        """The gateway takes the admin's API key; a service, the token the gateway signs for that user."""
        return {"Authorization": f"Bearer {procs.admin_token}"} if name == "gateway" else auth_headers(name)

    async with httpx.AsyncClient(timeout=30.0) as http:
        routes = {}
        for name in procs.services:
            openapi = await http.get(f"{procs.url(name)}/openapi.json", headers=auth(name))
            assert openapi.status_code == 200, f"{name}: {openapi.status_code} {openapi.text[:300]}"
            routes[name] = get_routes(openapi.json())
        offsets = {name: procs.log_path(name).stat().st_size for name in procs.services}

        await asyncio.to_thread(postgres_server.stop)
        try:
            for _ in range(3):
                for name, calls in DATABASE_FIRST.items():
                    for method, path, body in calls:
                        r = await http.request(method, f"{procs.url(name)}{path}", json=body, headers=auth(name))
                        assert_outage_answer(r, f"{name} {method} {path}")
            for name, paths in routes.items():
                for path in paths:
                    r = await http.get(f"{procs.url(name)}{path}", headers=auth(name))
                    assert r.status_code != 500, f"{name} GET {path}: {r.status_code} {r.text[:300]}"
                    if r.status_code >= 500:
                        assert "retry-after" in r.headers, f"{name} GET {path}: {r.status_code} {r.text[:300]}"
            await asyncio.sleep(3)  # the background loops meet the outage too
        finally:
            await asyncio.to_thread(postgres_server.start)

        async def answering() -> bool:
            for name, calls in DATABASE_FIRST.items():
                method, path, _ = calls[0]
                if (await http.request(method, f"{procs.url(name)}{path}", headers=auth(name))).status_code >= 500:
                    return False
            return True

        await until(answering, "every service answering again after PostgreSQL came back", timeout_s=60)
        await asyncio.sleep(1)

    for name in procs.services:
        with procs.log_path(name).open("rb") as f:
            f.seek(offsets[name])
            lines = f.read().decode(errors="replace").splitlines()
        logged = "\n".join(lines[-80:])
        # an outage answer keeps the client's connection: the requests came one after another on one connection,
        # and the server closing it after each answer makes a client that reuses it fail (httpx.ReadError)
        ports = {m.group(1) for m in (re.search(r"127\.0\.0\.1:(\d+) - .* 503", line) for line in lines) if m}
        assert len(ports) == 1, (
            f"{name}: the outage answers closed the connection ({len(ports)} connections):\n{logged}"
        )
        assert sum(OUTAGE_LINE in line for line in lines) == 1, f"{name}: the outage not logged once:\n{logged}"
        assert sum(BACK_LINE in line for line in lines) == 1, f"{name}: the recovery not logged once:\n{logged}"
        assert not [line for line in lines if "Traceback" in line], f"{name}: tracebacks in the log:\n{logged}"
        requests = [line for line in lines if "unhandled error" in line or "Exception in ASGI" in line]
        assert not requests, f"{name}: requests logged as errors:\n{logged}"
