"""The audit log: one row per mutating call whatever its result; the admin's paged, filtered view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from .conftest import audit_rows, bearer, new_key
from .fakes import FakeServices

Start = Callable[..., Awaitable[httpx.AsyncClient]]


async def test_success_row(client: httpx.AsyncClient, fakes: FakeServices, clean_db: AsyncEngine) -> None:
    wid = fakes.add_workflow("flow", status="ready")["id"]
    r = await client.post(
        f"/api/v1/workflows/{wid}/publish", json={"operation": "deploy"}, headers={"X-Request-Id": "req-42"}
    )
    assert r.status_code == 202
    [row] = await audit_rows(clean_db)
    assert row["actor"] == "admin"
    assert row["method"] == "POST"
    assert row["path"] == f"/api/v1/workflows/{wid}/publish"
    assert row["resource"] == f"workflows/{wid}"
    assert row["status_code"] == 202
    assert row["outcome"] == "success"
    assert row["request_id"] == "req-42"
    assert row["detail"] == "publish deploy"
    assert row["at"] is not None


async def test_reads_are_not_audited(client: httpx.AsyncClient, fakes: FakeServices, clean_db: AsyncEngine) -> None:
    fakes.add_workflow("flow")
    await client.get("/api/v1/workflows")
    await client.get("/api/v1/workflows/1")
    await client.get("/api/v1/audit-log")
    assert await audit_rows(clean_db) == []


async def test_failures_are_audited(start: Start, fakes: FakeServices, clean_db: AsyncEngine) -> None:
    client = await start()
    wid = fakes.add_workflow("flow")["id"]
    viewer = await new_key(client, "vera", "viewer")
    # 409 passed through from the definition service
    await client.post(f"/api/v1/workflows/{wid}/online")
    # 401: no key at all
    await client.post(f"/api/v1/workflows/{wid}/approve", headers={"Authorization": ""})
    # 403: a viewer may not approve
    await client.post(f"/api/v1/workflows/{wid}/approve", headers=bearer(viewer))
    # 422 at the gateway
    await client.post("/api/v1/workflows", json={"name": ""})
    rows = await audit_rows(clean_db)
    assert next(r["path"] for r in rows) == "/api/v1/api-keys"  # creating vera's key
    failures = rows[1:]
    assert [(r["status_code"], r["outcome"], r["actor"]) for r in failures] == [
        (409, "failure", "admin"),
        (401, "failure", None),
        (403, "failure", "vera"),
        (422, "failure", "admin"),  # the key was checked before the body
    ]
    assert "cannot online a workflow in status draft" in failures[0]["detail"]
    assert "missing bearer token" in failures[1]["detail"]
    assert "'approver'" in failures[2]["detail"]
    assert failures[3]["detail"].startswith("body.name")


async def test_upstream_down_is_audited(start: Start, fakes: FakeServices, clean_db: AsyncEngine) -> None:
    client = await start(down=("publisher",))
    wid = fakes.add_workflow("flow", status="online")["id"]
    r = await client.post(f"/api/v1/workflows/{wid}/run")
    assert r.status_code == 503
    [row] = await audit_rows(clean_db)
    assert (row["status_code"], row["outcome"]) == (503, "failure")
    assert row["detail"] == "publisher service is unavailable"
    assert row["resource"] == f"workflows/{wid}"


async def test_request_bodies_and_secrets_are_not_recorded(client: httpx.AsyncClient, clean_db: AsyncEngine) -> None:
    created = (await client.post("/api/v1/api-keys", json={"name": "hank", "roles": ["admin"]})).json()
    await client.post("/api/v1/tasks", json={"name": "t", "task_type": "SQL", "params": {"sql": "select 'pw=s3cr3t'"}})
    rows = await audit_rows(clean_db)
    assert len(rows) == 2
    everything = repr(rows)
    assert created["key"] not in everything
    assert "s3cr3t" not in everything
    expires = datetime.fromisoformat(created["expires_at"]).isoformat(timespec="seconds")
    assert rows[0]["detail"] == f"key {created['id']} ({created['key'][:8]}…) for hank: admin; expires {expires}"


async def test_audit_log_api_filters_and_pages(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    key = await new_key(client, "ivy", "editor")
    for i in range(3):
        await client.post(
            "/api/v1/tasks", json={"name": f"t{i}", "task_type": "SHELL", "params": {}}, headers=bearer(key)
        )
    await client.post("/api/v1/workflows", json={"name": ""}, headers=bearer(key))
    page = (await client.get("/api/v1/audit-log", params={"page_size": 2})).json()
    assert page["total"] == 5
    assert len(page["items"]) == 2
    assert page["items"][0]["path"] == "/api/v1/workflows"  # newest first
    ivy = (await client.get("/api/v1/audit-log", params={"actor": "ivy"})).json()
    assert ivy["total"] == 4
    tasks = (await client.get("/api/v1/audit-log", params={"path": "/api/v1/tasks"})).json()
    assert tasks["total"] == 3
    assert {i["resource"] for i in tasks["items"]} == {"tasks"}
    failed = (await client.get("/api/v1/audit-log", params={"outcome": "failure"})).json()
    assert [i["status_code"] for i in failed["items"]] == [422]
    wildcard = (await client.get("/api/v1/audit-log", params={"path": "/api/v1/t%"})).json()
    assert wildcard["total"] == 0  # LIKE wildcards in the filter are literal
    assert (await client.get("/api/v1/audit-log", params={"outcome": "maybe"})).status_code == 422
    assert (await client.get("/api/v1/audit-log", headers=bearer(key))).status_code == 403
