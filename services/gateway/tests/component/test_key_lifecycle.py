"""API keys' expiry, scopes and last use over HTTP, on real PostgreSQL (``gateway.auth``, ``gateway.domain.scopes``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.domain.roles import Role
from gateway.domain.scopes import ALL_SCOPES, scope_for

from .conftest import bearer
from .fakes import FakeServices
from .test_auth import ENDPOINTS, _fill, _seed, problem_of

Start = Callable[..., Awaitable[httpx.AsyncClient]]


async def _create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/api-keys", json=body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def _listed(client: httpx.AsyncClient, key_id: int) -> dict[str, Any]:
    items = (await client.get("/api/v1/api-keys", params={"include_revoked": True, "page_size": 200})).json()["items"]
    found: dict[str, Any] = next(k for k in items if k["id"] == key_id)
    return found


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


# ------------------------------------------------------------------------------------------------------------- expiry


async def test_new_keys_expire_by_default_and_never_only_on_purpose(client: httpx.AsyncClient) -> None:
    before = datetime.now(UTC)
    default = await _create(client, name="ci", roles=["viewer"])
    assert before + timedelta(days=90) <= _at(default["expires_at"]) <= datetime.now(UTC) + timedelta(days=90)
    assert default["status"] == "active"
    assert default["scopes"] is None
    days = await _create(client, name="ci", roles=["viewer"], expires_in_days=7)
    assert _at(days["expires_at"]) - _at(days["created_at"]) == pytest.approx(timedelta(days=7), abs=timedelta(1))
    at = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    dated = await _create(client, name="ci", roles=["viewer"], expires_at=at.isoformat())
    assert _at(dated["expires_at"]) == at
    never = await _create(client, name="ops", roles=["admin"], never_expires=True)
    assert never["expires_at"] is None
    listed = await _listed(client, never["id"])
    assert (listed["expires_at"], listed["created_by"], listed["status"]) == (None, "admin", "active")
    # the bootstrap admin key (./platform up, the tests) never expires
    assert (await _listed(client, 1))["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"expires_in_days": 0}, "greater than or equal to 1"),
        ({"expires_in_days": 3661}, "less than or equal to 3660"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "is not in the future"),
        ({"expires_at": "2099-01-01T00:00:00Z"}, "more than 3660 days away"),
        ({"expires_at": "2027-03-01T00:00:00"}, "timezone"),
        ({"expires_in_days": 5, "never_expires": True}, "at most one of"),
        ({"scopes": []}, "at least 1 item"),
        ({"scopes": ["deploy"]}, "workflows:read"),
        ({"scopes": ["publish"]}, "cannot use the scopes 'publish'"),
    ],
    ids=["zero-days", "too-many-days", "past", "too-far", "naive", "two-expiries", "no-scopes", "unknown", "unusable"],
)
async def test_create_key_bad_expiry_or_scopes(client: httpx.AsyncClient, body: dict[str, Any], message: str) -> None:
    p = problem_of(await client.post("/api/v1/api-keys", json={"name": "x", "roles": ["viewer"], **body}), 422)
    assert message in str(p), p
    assert (await client.get("/api/v1/api-keys")).json()["total"] == 1


async def _expire(engine: AsyncEngine, key_id: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("UPDATE api_key SET expires_at = now() - interval '1 second' WHERE id = :id"), {"id": key_id}
        )


async def test_expired_key_is_401_api_key_expired(client: httpx.AsyncClient, clean_db: AsyncEngine) -> None:
    created = await _create(client, name="ci", roles=["viewer"], expires_in_days=1)
    await _expire(clean_db, created["id"])
    # not used before its expiry: the verified keys do not hold it, the database is asked
    r = await client.get("/api/v1/workflows", headers=bearer(created["key"]))
    p = problem_of(r, 401)
    assert p["type"] == "/problems/api-key-expired"
    assert p["detail"].startswith("this API key expired at ")
    assert created["key"] not in r.text
    assert (await _listed(client, created["id"]))["status"] == "expired"


async def test_remembered_key_is_refused_at_its_expiry_whatever_the_ttl(start: Start) -> None:
    """The verified-key memory (TTL 60 s here) never serves a key past its ``expires_at``."""
    client = await start(key_cache_ttl_s=60)
    expires = datetime.now(UTC) + timedelta(seconds=3)
    created = await _create(client, name="ci", roles=["viewer"], expires_at=expires.isoformat())
    assert (await client.get("/api/v1/me", headers=bearer(created["key"]))).status_code == 200  # now remembered
    assert (await client.get("/api/v1/me", headers=bearer(created["key"]))).status_code == 200
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
    p = problem_of(await client.get("/api/v1/me", headers=bearer(created["key"])), 401)
    assert p["type"] == "/problems/api-key-expired"


# -------------------------------------------------------------------------------------------------------- revocation


async def test_revocation_in_one_gateway_reaches_another_within_its_ttl(start: Start) -> None:
    """Two gateway processes on one database: B remembers a key, A revokes it, B refuses it once its TTL passed."""
    a = await start(key_cache_ttl_s=0.5)
    b = await start(key_cache_ttl_s=0.5)
    created = await _create(a, name="ci", roles=["viewer"])
    assert (await b.get("/api/v1/me", headers=bearer(created["key"]))).status_code == 200  # B remembers it
    assert (await a.delete(f"/api/v1/api-keys/{created['id']}")).status_code == 204
    problem_of(await a.get("/api/v1/me", headers=bearer(created["key"])), 401)  # at once where it was revoked
    await asyncio.sleep(0.55)
    p = problem_of(await b.get("/api/v1/me", headers=bearer(created["key"])), 401)
    assert p["detail"] == "this API key has been revoked"
    listed = await _listed(a, created["id"])
    assert listed["status"] == "revoked"
    assert listed["revoked_at"] is not None


async def test_expired_or_scoped_admin_keys_do_not_count_as_another_admin(
    client: httpx.AsyncClient, clean_db: AsyncEngine
) -> None:
    """Revoking the last key that can still administer is refused (409) over HTTP, whatever expired admin keys or
    admin keys limited to other scopes are left."""
    old = await _create(client, name="old-root", roles=["admin"], expires_in_days=1)
    await _expire(clean_db, old["id"])
    await _create(client, name="lineage-root", roles=["admin"], scopes=["lineage:write"])
    p = problem_of(await client.delete("/api/v1/api-keys/1"), 409)
    assert "last active admin key" in p["detail"]
    other = await _create(client, name="root2", roles=["admin"], scopes=["admin", "workflows:read"])
    assert (await client.delete("/api/v1/api-keys/1")).status_code == 204
    assert (await client.get("/api/v1/api-keys", headers=bearer(other["key"]))).status_code == 200


# ------------------------------------------------------------------------------------------------------------- scopes


async def test_scope_matrix(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    """An admin key limited to one scope reaches exactly the routes of that scope; elsewhere 403 naming it."""
    keys = {
        scope: (await _create(client, name=f"m-{scope.value}", roles=["admin"], scopes=[scope.value]))["key"]
        for scope in ALL_SCOPES
    }
    for method, path, body, needed in ENDPOINTS:
        for scope, key in keys.items():
            fakes.reset()
            ids = _seed(fakes)
            r = await client.request(method, _fill(path, ids), json=_fill(body, ids), headers=bearer(key))
            what = f"{method} {path} with {scope.value}: {r.status_code} {r.text}"
            if scope_for(needed) is scope:
                assert 200 <= r.status_code < 300, what
            else:
                p = problem_of(r, 403)
                assert p["type"] == "/problems/insufficient-scope", what
                assert p["scope"] == scope_for(needed).value
                assert f"needs the scope '{scope_for(needed).value}'" in p["detail"]
                assert fakes.seen == [], "a call outside the key's scopes must not reach a service"


async def test_lineage_producer_key(client: httpx.AsyncClient, fakes: FakeServices) -> None:
    """The key an OpenLineage integration gets: it sends lineage events and can do nothing else."""
    ids = _seed(fakes)
    key = (await _create(client, name="spark", roles=["lineage"], scopes=["lineage:write"]))["key"]
    [lineage] = [e for e in ENDPOINTS if e[3] is Role.LINEAGE][:1]
    r = await client.post("/api/v1/lineage", json=_fill(lineage[2], ids), headers=bearer(key))
    assert 200 <= r.status_code < 300, r.text
    problem_of(await client.get("/api/v1/workflows", headers=bearer(key)), 403)


async def test_scopes_are_listed_and_scoped_key_is_audited(client: httpx.AsyncClient) -> None:
    created = await _create(client, name="ci", roles=["publisher"], scopes=["publish", "workflows:read"])
    assert created["scopes"] == ["publish", "workflows:read"]
    assert (await _listed(client, created["id"]))["scopes"] == ["publish", "workflows:read"]
    me = await client.get("/api/v1/me", headers=bearer(created["key"]))
    assert me.status_code == 200
    audit = (await client.get("/api/v1/audit-log", params={"path": "/api/v1/api-keys"})).json()["items"]
    assert any("scopes publish,workflows:read" in (a["detail"] or "") for a in audit), audit


# ----------------------------------------------------------------------------------------------------------- last use


async def _last_used(engine: AsyncEngine, key_id: int) -> datetime | None:
    async with engine.connect() as conn:
        value: datetime | None = (
            await conn.execute(text("SELECT last_used_at FROM api_key WHERE id = :id"), {"id": key_id})
        ).scalar_one()
        return value


async def test_last_use_is_written_at_most_once_per_interval(start: Start, clean_db: AsyncEngine) -> None:
    # no verified-key memory: every request reads the key; only the interval saves the writes
    client = await start(key_cache_ttl_s=0, key_touch_interval_s=3600)
    created = await _create(client, name="ci", roles=["viewer"])
    assert await _last_used(clean_db, created["id"]) is None
    assert (await client.get("/api/v1/me", headers=bearer(created["key"]))).status_code == 200
    first = await _last_used(clean_db, created["id"])
    assert first is not None
    assert _at((await _listed(client, created["id"]))["last_used_at"]) == first  # shown in the list
    for _ in range(3):
        assert (await client.get("/api/v1/me", headers=bearer(created["key"]))).status_code == 200
    assert await _last_used(clean_db, created["id"]) == first  # within the interval: not written again

    frequent = await start(key_cache_ttl_s=0, key_touch_interval_s=0)
    await asyncio.sleep(0.01)
    assert (await frequent.get("/api/v1/me", headers=bearer(created["key"]))).status_code == 200
    later = await _last_used(clean_db, created["id"])
    assert later is not None
    assert later > first
