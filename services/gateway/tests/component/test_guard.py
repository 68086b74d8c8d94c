"""The gateway's checks before a body is read: size (413), failed sign-ins per client (429), the API key (401)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.guard import FailedAuthLimiter

from .conftest import ADMIN_TOKEN, audit_rows
from .fakes import FakeServices

Start = Callable[..., Awaitable[httpx.AsyncClient]]


async def test_a_body_over_the_limit_is_refused_before_it_is_read(start: Start, fakes: FakeServices) -> None:
    client = await start(max_body_bytes=64 * 1024)
    big = b'{"name": "' + b"x" * (65 * 1024) + b'"}'
    r = await client.post("/api/v1/tasks", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "/problems/payload-too-large"
    assert r.json()["max_bytes"] == 64 * 1024
    # without a key too: the size is checked first, and nothing reached a service
    r = await client.post("/api/v1/tasks", content=big, headers={"Authorization": ""})
    assert r.status_code == 413
    assert fakes.calls("definition") == []


async def test_a_body_without_a_length_is_cut_at_the_limit(start: Start, fakes: FakeServices) -> None:
    client = await start(max_body_bytes=64 * 1024)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"name": "'
        for _ in range(1000):  # 1 MB if it were all read
            sent += 1
            yield b"x" * 1024
        yield b'"}'

    r = await client.post("/api/v1/tasks", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.json()["type"] == "/problems/payload-too-large"
    assert fakes.calls("definition") == []


async def test_the_key_is_checked_before_the_body_is_parsed(start: Start, clean_db: AsyncEngine) -> None:
    client = await start()
    # not JSON at all: with a key this is a 422; without one it must be a 401, the body never parsed
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer adm_not-a-key-at-all-0000000"}):
        r = await client.post("/api/v1/workflows", content=b"{not json", headers=headers)
        assert r.status_code == 401, r.text
        assert r.headers["www-authenticate"] == 'Bearer realm="api"'
    assert (await client.post("/api/v1/workflows", content=b"{not json")).status_code == 422
    # the refused mutation is audited, without an actor
    rows = [r for r in await audit_rows(clean_db) if r["path"] == "/api/v1/workflows"]
    assert [(r["actor"], r["status_code"]) for r in rows[:2]] == [(None, 401), (None, 401)]


async def test_failed_sign_ins_are_limited_per_client(start: Start) -> None:
    client = await start(auth_failures_max=3, auth_failure_window_s=60)
    wrong = {"Authorization": "Bearer adm_wrong-key-0000000000000000"}
    for _ in range(3):
        assert (await client.get("/api/v1/me", headers=wrong)).status_code == 401
    r = await client.get("/api/v1/me", headers=wrong)
    assert r.status_code == 429
    assert r.json()["type"] == "/problems/too-many-requests"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # the client is refused whatever key it tries now, without a look-up
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})).status_code == 429
    # health, docs and the portal are not under /api and pass
    assert (await client.get("/healthz")).status_code == 200


def test_the_limiter_forgets_failures_after_the_window() -> None:
    now = [0.0]
    limiter = FailedAuthLimiter(2, 10.0, max_clients=2, clock=lambda: now[0])
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") == 10.0
    assert limiter.retry_after("b") is None
    now[0] = 5.0
    assert limiter.retry_after("a") == 5.0
    now[0] = 10.5
    assert limiter.retry_after("a") is None
    # bounded memory: the least recent clients go first
    for c in ("b", "c", "d"):
        limiter.failed(c)
    assert len(limiter._failures) == 2


async def test_a_workflow_over_the_limits_is_a_422_at_the_gateway(
    client: httpx.AsyncClient, fakes: FakeServices
) -> None:
    from common.workflow import MAX_TASKS_PER_WORKFLOW

    body = {"name": "huge", "tasks": [{"task_id": 1}] * (MAX_TASKS_PER_WORKFLOW + 1)}
    r = await client.post("/api/v1/workflows", json=body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == "body.tasks"
    assert fakes.calls("definition") == []
