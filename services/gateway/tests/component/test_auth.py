"""Authentication (bearer API keys), the role matrix, key management over HTTP, and secrets kept out of logs."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.roles import ALL_ROLES, Role, grants

from .conftest import ADMIN_TOKEN, bearer, new_key
from .fakes import FakeServices

Start = Callable[..., Awaitable[httpx.AsyncClient]]


def problem_of(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


# ---------------------------------------------------------------------------------------------------------- 401 / 403


async def test_missing_token_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/workflows", headers={"Authorization": ""})
    p = problem_of(r, 401)
    assert p["type"] == "/problems/unauthorized"
    assert "Bearer" in p["detail"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer not-a-key", "Basic YWRtaW46YWRtaW4=", "Bearer " + "x" * 300, "Bearer", f"Token {ADMIN_TOKEN}"],
    ids=["unknown", "basic", "too-long", "empty-bearer", "wrong-scheme"],
)
async def test_bad_credentials_are_401(client: httpx.AsyncClient, fakes: FakeServices, header: str) -> None:
    r = await client.get("/api/v1/workflows", headers={"Authorization": header})
    problem_of(r, 401)
    assert fakes.seen == []


async def test_revoked_key_is_401(client: httpx.AsyncClient) -> None:
    key = await new_key(client, "bob", "viewer")
    assert (await client.get("/api/v1/me", headers=bearer(key))).status_code == 200
    key_id = (await client.get("/api/v1/me", headers=bearer(key))).json()["key_id"]
    assert (await client.delete(f"/api/v1/api-keys/{key_id}")).status_code == 204
    p = problem_of(await client.get("/api/v1/me", headers=bearer(key)), 401)
    assert p["detail"] == "this API key has been revoked"


async def _revoke_elsewhere(engine: AsyncEngine, key_id: int) -> None:
    """A revocation by another gateway process (or the CLI): only the database knows."""
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE api_key SET revoked_at = now() WHERE id = :id"), {"id": key_id})


async def test_revocation_elsewhere_takes_effect_within_the_cache_ttl(start: Start, clean_db: AsyncEngine) -> None:
    client = await start(key_cache_ttl_s=0.3)
    key = await new_key(client, "dave", "viewer")
    key_id = (await client.get("/api/v1/me", headers=bearer(key))).json()["key_id"]
    await _revoke_elsewhere(clean_db, key_id)
    await asyncio.sleep(0.35)
    p = problem_of(await client.get("/api/v1/me", headers=bearer(key)), 401)
    assert p["detail"] == "this API key has been revoked"


async def test_verified_key_is_not_looked_up_again_within_the_ttl(start: Start, clean_db: AsyncEngine) -> None:
    """The bound is the TTL: with a long one, a revocation the process did not see is honoured only after it."""
    client = await start(key_cache_ttl_s=60)
    key = await new_key(client, "erin", "viewer")
    key_id = (await client.get("/api/v1/me", headers=bearer(key))).json()["key_id"]
    await _revoke_elsewhere(clean_db, key_id)
    assert (await client.get("/api/v1/me", headers=bearer(key))).status_code == 200
    # revoked through this process: forgotten at once, whatever the TTL
    other = await new_key(client, "frank", "viewer")
    other_id = (await client.get("/api/v1/me", headers=bearer(other))).json()["key_id"]
    assert (await client.delete(f"/api/v1/api-keys/{other_id}")).status_code == 204
    problem_of(await client.get("/api/v1/me", headers=bearer(other)), 401)


async def test_unknown_key_is_never_remembered(start: Start, clean_db: AsyncEngine) -> None:
    """A miss is not cached: a key that becomes known right after it was refused (created by another gateway
    process or the CLI, which only the database knows) is accepted on the next request, whatever the TTL."""
    client = await start(key_cache_ttl_s=60)
    secret = "late-key-" + "x" * 40
    problem_of(await client.get("/api/v1/me", headers=bearer(secret)), 401)
    async with clean_db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO api_key (name, key_prefix, key_hash, roles, created_by) "
                "VALUES ('late', :prefix, :digest, ARRAY['viewer'], 'cli')"
            ),
            {"prefix": secret[:8], "digest": hashlib.sha256(secret.encode()).hexdigest()},
        )
    r = await client.get("/api/v1/me", headers=bearer(secret))
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "late"


async def test_me(client: httpx.AsyncClient) -> None:
    key = await new_key(client, "carol", "editor", "approver")
    me = (await client.get("/api/v1/me", headers=bearer(key))).json()
    assert me["name"] == "carol"
    assert me["roles"] == ["editor", "approver"]
    assert me["key_prefix"] == key[:8]


def _seed(f: FakeServices) -> dict[str, int]:
    t1 = f.add_task("owned", openlineage_job={"namespace": "airflow", "name": "dag.owned"})["id"]
    t2 = f.add_task("free")["id"]
    ready = f.add_workflow("ready", task_ids=[t1], status="ready", codes=(7, 8))["id"]
    draft = f.add_workflow("draft")["id"]
    online = f.add_workflow("online", status="online")["id"]
    f.add_executions(ready, 3)
    f.add_restore(ready, f.add_record(ready)["id"])
    f.deployed.add(ready)
    f.deps[t2] = ([t1], [])
    f.table_answers[("lineage", "db/t")] = {"tables": [], "tasks": [], "table_edges": [], "truncated": False}
    f.table_answers[("affected", "db/t")] = {"tables": [], "tasks": [], "truncated": False}
    return {"t1": t1, "t2": t2, "ready": ready, "draft": draft, "online": online}


# (method, path, json, role needed); {names} are filled from _seed
ENDPOINTS: list[tuple[str, str, Any, Role]] = [
    ("GET", "/api/v1/me", None, Role.VIEWER),
    ("GET", "/api/v1/workflows", None, Role.VIEWER),
    ("GET", "/api/v1/workflows/{ready}", None, Role.VIEWER),
    ("POST", "/api/v1/workflows", {"name": "n", "tasks": [{"task_id": "{t2}"}]}, Role.EDITOR),
    ("PUT", "/api/v1/workflows/{ready}", {"name": "n", "tasks": [], "expected_version_no": 1}, Role.EDITOR),
    ("POST", "/api/v1/workflows/{draft}/approve", {"version_no": 1}, Role.APPROVER),
    ("POST", "/api/v1/workflows/{ready}/online", None, Role.PUBLISHER),
    ("POST", "/api/v1/workflows/{online}/offline", None, Role.PUBLISHER),
    ("GET", "/api/v1/workflows/{ready}/versions", None, Role.VIEWER),
    ("GET", "/api/v1/workflows/{ready}/versions/1", None, Role.VIEWER),
    ("GET", "/api/v1/workflows/{ready}/diff?from=1&to=1", None, Role.VIEWER),
    ("POST", "/api/v1/workflows/{ready}/rollback", {"to_version_no": 1, "expected_version_no": 1}, Role.EDITOR),
    ("POST", "/api/v1/workflows/{ready}/publish", {"operation": "deploy"}, Role.PUBLISHER),
    ("GET", "/api/v1/workflows/{ready}/publish-records", None, Role.VIEWER),
    ("POST", "/api/v1/publish-records/1/retry", None, Role.PUBLISHER),
    ("POST", "/api/v1/workflows/{ready}/run", None, Role.PUBLISHER),
    ("POST", "/api/v1/workflows/batch-run", {"workflow_ids": ["{ready}"]}, Role.PUBLISHER),
    ("GET", "/api/v1/workflows/{ready}/restore", None, Role.VIEWER),
    ("POST", "/api/v1/workflows/{ready}/restore", None, Role.PUBLISHER),
    ("POST", "/api/v1/workflows/{ready}/restore/cancel", None, Role.PUBLISHER),
    ("GET", "/api/v1/workflows/{ready}/executions", None, Role.VIEWER),
    ("GET", "/api/v1/workflows/{ready}/instances/{ready}000", None, Role.VIEWER),
    ("GET", "/api/v1/workflows/{ready}/task-instances/{ready}0000/log", None, Role.VIEWER),
    ("GET", "/api/v1/tasks", None, Role.VIEWER),
    ("GET", "/api/v1/tasks?upstreamTaskId={t1}", None, Role.VIEWER),
    ("POST", "/api/v1/tasks", {"name": "t", "task_type": "SHELL", "params": {"script": "echo"}}, Role.EDITOR),
    (
        "PUT",
        "/api/v1/tasks/{t2}",
        {"name": "t", "task_type": "SHELL", "params": {"script": "true"}, "expected_revision": 1},
        Role.EDITOR,
    ),
    ("GET", "/api/v1/tasks/{t1}", None, Role.VIEWER),
    (
        "POST",
        "/api/v1/migrations/preview",
        {"task_id": "{t1}", "target_workflow_id": "{draft}", "mode": "only_current"},
        Role.EDITOR,
    ),
    (
        "POST",
        "/api/v1/migrations",
        {
            "task_id": "{t1}",
            "target_workflow_id": "{draft}",
            "mode": "only_current",
            "expected_source_version_no": 1,
            "expected_target_version_no": 1,
        },
        Role.EDITOR,
    ),
    ("GET", "/api/v1/proposals", None, Role.VIEWER),
    ("GET", "/api/v1/proposals/{t2}/preview", None, Role.VIEWER),
    ("POST", "/api/v1/proposals/{t2}/accept", {"name": "auto"}, Role.EDITOR),
    ("POST", "/api/v1/proposals/{t2}/dismiss", None, Role.EDITOR),
    ("POST", "/api/v1/proposals/rebuild", None, Role.ADMIN),
    ("GET", "/api/v1/lineage/tables?q=db", None, Role.VIEWER),
    ("GET", "/api/v1/lineage/table?name=db/t", None, Role.VIEWER),
    ("GET", "/api/v1/lineage/impact?name=db/t", None, Role.VIEWER),
    ("GET", "/api/v1/lineage/dag-check?task_ids={t1},{t2}&edges={t1}-{t2}", None, Role.VIEWER),
    ("GET", "/api/v1/audit-log", None, Role.ADMIN),
    ("GET", "/api/v1/api-keys", None, Role.ADMIN),
    ("POST", "/api/v1/api-keys", {"name": "dave", "roles": ["viewer"]}, Role.ADMIN),
    ("DELETE", "/api/v1/api-keys/1", None, Role.ADMIN),
    (
        "POST",
        "/api/v1/lineage",
        {
            "eventType": "COMPLETE",
            "eventTime": "2026-12-07T10:00:00Z",
            "run": {"runId": "0192f6a4-0000-7000-8000-000000000001"},
            "job": {"namespace": "airflow", "name": "dag.owned"},
            "inputs": [{"namespace": "pg", "name": "a"}],
            "outputs": [],
        },
        Role.LINEAGE,
    ),
    ("POST", "/api/v1/lineage", {"type": "task.tables.set", "task_id": "{t1}", "reads": ["pg/a"]}, Role.LINEAGE),
    ("GET", "/api/v1/tasks/{t1}/openlineage-job", None, Role.VIEWER),
    ("PUT", "/api/v1/tasks/{t2}/openlineage-job", {"namespace": "airflow", "name": "dag.free"}, Role.EDITOR),
    ("DELETE", "/api/v1/tasks/{t1}/openlineage-job", None, Role.EDITOR),
    ("GET", "/api/v1/openlineage/patterns", None, Role.VIEWER),
    ("POST", "/api/v1/openlineage/patterns", {"name_regex": r"t_(?P<task_id>\d+)"}, Role.EDITOR),
    ("GET", "/api/v1/openlineage/unmapped-jobs", None, Role.VIEWER),
]


def _fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, str):
        for k, v in ids.items():
            if value == "{" + k + "}":
                return v
            value = value.replace("{" + k + "}", str(v))
        return value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "body", "needed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
async def test_role_matrix(
    client: httpx.AsyncClient, fakes: FakeServices, method: str, path: str, body: Any, needed: Role
) -> None:
    keys = {role: await new_key(client, f"user-{role.value}", role.value) for role in ALL_ROLES}
    for role in ALL_ROLES:
        fakes.reset()
        ids = _seed(fakes)
        r = await client.request(method, _fill(path, ids), json=_fill(body, ids), headers=bearer(keys[role]))
        if grants([role.value], needed):
            assert 200 <= r.status_code < 300, f"{role.value}: {r.status_code} {r.text}"
        else:
            p = problem_of(r, 403)
            assert p["type"] == "/problems/forbidden"
            assert f"'{needed.value}'" in p["detail"]
            assert fakes.seen == [], "a forbidden call must not reach a service"


async def test_unauthenticated_everywhere(client: httpx.AsyncClient) -> None:
    for method, path, body, _ in ENDPOINTS:
        r = await client.request(method, _fill(path, {}), json=body, headers={"Authorization": ""})
        assert r.status_code == 401, f"{method} {path}: {r.status_code}"


# ------------------------------------------------------------------------------------------------------- API keys


async def test_create_key_stores_only_its_hash(client: httpx.AsyncClient, clean_db: AsyncEngine) -> None:
    r = await client.post("/api/v1/api-keys", json={"name": "erin", "roles": ["publisher", "viewer"]})
    assert r.status_code == 201, r.text
    created = r.json()
    secret = created["key"]
    assert len(secret) >= 40
    assert created["key_prefix"] == secret[:8]
    assert created["roles"] == ["publisher", "viewer"]
    assert created["created_by"] == "admin"
    async with clean_db.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM api_key WHERE id = :id"), {"id": created["id"]})).one()
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in " ".join(str(v) for v in row)
    listed = (await client.get("/api/v1/api-keys")).json()
    assert listed["total"] == 2
    assert all("key" not in k and "key_hash" not in k for k in listed["items"])
    assert secret not in str(listed)


async def test_list_keys_paging_and_revoked(client: httpx.AsyncClient) -> None:
    for i in range(3):
        await new_key(client, f"u{i}", "viewer")
    r = (await client.get("/api/v1/api-keys", params={"page": 2, "page_size": 2})).json()
    assert r["total"] == 4
    assert r["page"] == 2
    assert [k["name"] for k in r["items"]] == ["u1", "u2"]
    assert (await client.delete("/api/v1/api-keys/2")).status_code == 204
    assert (await client.get("/api/v1/api-keys")).json()["total"] == 3
    with_revoked = (await client.get("/api/v1/api-keys", params={"include_revoked": True})).json()
    assert with_revoked["total"] == 4
    assert [k["id"] for k in with_revoked["items"] if k["revoked_at"]] == [2]


async def test_revoke_rules(client: httpx.AsyncClient) -> None:
    p = problem_of(await client.delete("/api/v1/api-keys/99"), 404)
    assert p["detail"] == "API key 99 does not exist"
    p = problem_of(await client.delete("/api/v1/api-keys/1"), 409)  # the bootstrap key is the only admin
    assert "last active admin key" in p["detail"]
    other = await new_key(client, "root2", "admin")
    assert (await client.delete("/api/v1/api-keys/1")).status_code == 204
    assert (await client.delete("/api/v1/api-keys/1", headers=bearer(other))).status_code == 204  # idempotent
    assert (await client.get("/api/v1/me")).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "roles": []},
        {"name": "x", "roles": ["root"]},
        {"name": "", "roles": ["viewer"]},
        {"name": " padded ", "roles": ["viewer"]},
        {"roles": ["viewer"]},
        {"name": "x", "roles": ["viewer"], "key": "chosen-secret"},
    ],
    ids=["no-roles", "unknown-role", "blank-name", "padded-name", "no-name", "chosen-secret"],
)
async def test_create_key_bad_input(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    problem_of(await client.post("/api/v1/api-keys", json=body), 422)
    assert (await client.get("/api/v1/api-keys")).json()["total"] == 1


async def test_last_used_at_is_recorded(client: httpx.AsyncClient) -> None:
    key = await new_key(client, "frank", "viewer")
    before = (await client.get("/api/v1/api-keys")).json()["items"]
    assert next(k for k in before if k["name"] == "frank")["last_used_at"] is None
    await client.get("/api/v1/me", headers=bearer(key))
    after = (await client.get("/api/v1/api-keys")).json()["items"]
    assert next(k for k in after if k["name"] == "frank")["last_used_at"] is not None


async def test_bootstrap_admin_is_ensured_once(start: Start, clean_db: AsyncEngine) -> None:
    await start()
    await start()
    async with clean_db.connect() as conn:
        rows = (await conn.execute(text("SELECT name, roles, created_by FROM api_key"))).all()
    assert [(r.name, list(r.roles), r.created_by) for r in rows] == [("admin", ["admin"], "bootstrap")]


async def test_revoked_bootstrap_key_stays_revoked(start: Start, clean_db: AsyncEngine) -> None:
    client = await start()
    other = await new_key(client, "root2", "admin")
    assert (await client.delete("/api/v1/api-keys/1", headers=bearer(other))).status_code == 204
    client = await start()
    assert (await client.get("/api/v1/me")).status_code == 401


# ------------------------------------------------------------------------------------------------- secrets in logs


async def test_tokens_never_reach_the_logs(
    client: httpx.AsyncClient, fakes: FakeServices, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # the gateway keeps httpx at WARNING; here it logs everything
    _seed(fakes)
    created = (await client.post("/api/v1/api-keys", json={"name": "gina", "roles": ["editor"]})).json()["key"]
    await client.get("/api/v1/workflows", headers=bearer(created))
    await client.post("/api/v1/workflows", json={"name": "x"}, headers=bearer(created))
    wrong = "wrong-" + created[::-1]
    await client.get("/api/v1/me", headers=bearer(wrong))
    await client.delete("/api/v1/api-keys/1")  # a failing admin call (409)
    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert caplog.records, "the calls were expected to log something (httpx, auth)"
    for secret in (ADMIN_TOKEN, created, wrong):
        assert secret not in logged
        assert secret[8:] not in logged
