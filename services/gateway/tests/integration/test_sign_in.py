"""People sign in with their company account (issue 22) against a real Keycloak: the session cookie, CSRF on every
change, the person's name at the services and in the audit log, expiry, refresh, the group→role mapping read at each
sign-in, sign-out (RP-initiated), and API keys working as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.sessions import Tokens, token_box

from ..component.conftest import audit_rows, bearer, new_key  # noqa: TID252
from ..component.fakes import FakeServices  # noqa: TID252
from .conftest import Browser, Idp, Start

MAPPING = {
    "platform-viewers": ["viewer"],
    "platform-editors": ["editor"],
    "platform-approvers": ["approver"],
    "platform-publishers": ["publisher"],
    "platform-admins": ["admin"],
}
TASK = {"name": "t", "task_type": "SQL", "params": {"sql": "select 1"}}


@pytest.fixture
def with_idp(idp: Idp) -> dict[str, Any]:
    """Settings of a gateway that signs people in at ``idp``; the callback's URL is one Keycloak's realm allows."""
    return {
        "oidc_issuer": idp.issuer,
        "oidc_client_id": idp.client_id,
        "oidc_client_secret": idp.client_secret,
        "oidc_group_roles": MAPPING,
        "public_url": "http://127.0.0.1",
        "session_cookie_secure": False,  # http://127.0.0.1: the test talks plain HTTP
        "session_cache_ttl_s": 0.0,  # every request asks the database: the tests change rows under it
    }


async def browser(start: Start, **settings: Any) -> Browser:
    client = await start(**settings)
    client.headers.pop("Authorization")
    return Browser(client)


def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["type"] == f"/problems/{code}", body
    return body


async def sessions(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT * FROM web_session ORDER BY id"))
        return [dict(r._mapping) for r in rows]


async def test_an_editor_signs_in_and_edits_as_themselves(
    start: Start, with_idp: dict[str, Any], idp: Idp, fakes: FakeServices, clean_db: AsyncEngine
) -> None:
    b = await browser(start, **with_idp)
    assert (await b.get("/auth/session")).json() == {"sso": True, "signed_in": False, "me": None}
    r = await b.sign_in("eddie.editor", idp.password("eddie.editor"))
    assert r.status_code == 302
    assert r.headers["location"] == "/"
    session_cookie = b.attributes["platform_session"]
    assert session_cookie["httponly"] is True
    assert session_cookie["samesite"].lower() == "lax"
    assert b.attributes["platform_csrf"]["httponly"] == ""  # the portal's script reads it
    assert "platform_sign_in" not in b.cookies  # used once

    me = (await b.get("/api/v1/me")).json()
    assert me["name"] == "eddie.editor"
    assert me["via"] == "session"
    assert me["roles"] == ["editor"]
    assert me["display_name"] == "Eddie Editor"
    assert me["email"] == "eddie.editor@example.com"
    assert me["csrf_token"] == b.cookies["platform_csrf"]
    assert me["key_id"] is None
    state = (await b.get("/auth/session")).json()
    assert state["signed_in"]
    assert state["me"]["name"] == "eddie.editor"

    r = await b.post("/api/v1/tasks", json=TASK, headers=b.csrf())
    assert r.status_code == 201, r.text
    # the services were called on behalf of the person (the signed identity token names them) …
    assert fakes.seen[-1].actor == "eddie.editor"
    assert fakes.seen[-1].roles == ("editor",)
    # … and the audit log names them
    assert [(a["actor"], a["status_code"]) for a in await audit_rows(clean_db)] == [("eddie.editor", 201)]

    # the stored session holds no token in clear, only the id's hash
    (row,) = await sessions(clean_db)
    assert row["name"] == "eddie.editor"
    assert b.cookies["platform_session"] not in row["id_hash"]
    stored = bytes(row["tokens"])
    assert b"eyJ" not in stored  # no JWT in clear
    tokens = Tokens.decrypt(token_box(idp.client_secret), stored)
    assert tokens.refresh_token
    assert tokens.id_token
    assert tokens.access_token


async def test_a_change_without_the_csrf_token_is_refused(
    start: Start, with_idp: dict[str, Any], idp: Idp, fakes: FakeServices, clean_db: AsyncEngine
) -> None:
    b = await browser(start, **with_idp)
    await b.sign_in("eddie.editor", idp.password("eddie.editor"))
    problem(await b.post("/api/v1/tasks", json=TASK), 403, "csrf-token-missing")
    problem(await b.post("/api/v1/tasks", json=TASK, headers={"X-CSRF-Token": "0" * 64}), 403, "csrf-token-invalid")
    # another session's token does not do either
    other = await browser(start, **with_idp)
    await other.sign_in("eddie.editor", idp.password("eddie.editor"))
    problem(await b.post("/api/v1/tasks", json=TASK, headers=other.csrf()), 403, "csrf-token-invalid")
    assert fakes.seen == []
    # reads need none
    assert (await b.get("/api/v1/me")).status_code == 200


async def test_a_viewer_is_refused_a_change(
    start: Start, with_idp: dict[str, Any], idp: Idp, fakes: FakeServices
) -> None:
    b = await browser(start, **with_idp)
    await b.sign_in("vera.viewer", idp.password("vera.viewer"))
    wid = fakes.add_workflow("flow")["id"]
    assert (await b.get("/api/v1/workflows")).status_code == 200
    body = problem(await b.post(f"/api/v1/workflows/{wid}/approve", headers=b.csrf()), 403, "forbidden")
    assert "'approver'" in body["detail"]


async def test_an_approver_approves(start: Start, with_idp: dict[str, Any], idp: Idp, fakes: FakeServices) -> None:
    b = await browser(start, **with_idp)
    await b.sign_in("anna.approver", idp.password("anna.approver"))
    wid = fakes.add_workflow("flow")["id"]
    r = await b.post(f"/api/v1/workflows/{wid}/approve", json={"version_no": 1}, headers=b.csrf())
    assert r.status_code == 200, r.text
    assert fakes.seen[-1].actor == "anna.approver"


async def test_an_expired_session_is_refused_and_deleted(
    start: Start, with_idp: dict[str, Any], idp: Idp, clean_db: AsyncEngine
) -> None:
    b = await browser(start, **with_idp, session_max_age_s=3600)
    await b.sign_in("eddie.editor", idp.password("eddie.editor"))
    assert (await b.get("/api/v1/me")).status_code == 200
    async with clean_db.begin() as conn:
        await conn.execute(text("UPDATE web_session SET created_at = now() - interval '1 hour'"))
    body = problem(await b.get("/api/v1/me"), 401, "session-ended")
    assert "sign in again" in body["detail"]
    assert await sessions(clean_db) == []
    problem(await b.get("/auth/session"), 401, "session-ended")


async def test_an_idle_session_is_refused(
    start: Start, with_idp: dict[str, Any], idp: Idp, clean_db: AsyncEngine
) -> None:
    b = await browser(start, **with_idp, session_idle_timeout_s=600)
    await b.sign_in("eddie.editor", idp.password("eddie.editor"))
    async with clean_db.begin() as conn:
        await conn.execute(text("UPDATE web_session SET last_seen_at = now() - interval '11 minutes'"))
    problem(await b.get("/api/v1/workflows"), 401, "session-ended")


async def test_an_expired_access_token_is_refreshed_with_the_provider(
    start: Start, with_idp: dict[str, Any], idp: Idp, clean_db: AsyncEngine
) -> None:
    b = await browser(start, **with_idp)
    await b.sign_in("eddie.editor", idp.password("eddie.editor"))
    (before,) = await sessions(clean_db)
    async with clean_db.begin() as conn:
        await conn.execute(text("UPDATE web_session SET access_expires_at = now() - interval '1 second'"))
    assert (await b.get("/api/v1/me")).status_code == 200
    (after,) = await sessions(clean_db)
    # the provider's fresh access token lives on (Keycloak's realm: 5 minutes)
    assert after["access_expires_at"] > datetime.now(UTC) + timedelta(minutes=1)
    box = token_box(idp.client_secret)
    assert Tokens.decrypt(box, after["tokens"]).access_token != Tokens.decrypt(box, before["tokens"]).access_token


async def test_a_refused_refresh_ends_the_session(
    start: Start, with_idp: dict[str, Any], idp: Idp, clean_db: AsyncEngine
) -> None:
    b = await browser(start, **with_idp)
    await b.sign_in("eddie.editor", idp.password("eddie.editor"))
    (row,) = await sessions(clean_db)
    refresh = Tokens.decrypt(token_box(idp.client_secret), row["tokens"]).refresh_token
    assert refresh is not None
    # the provider revokes the refresh token (RFC 7009, as when the person's access is withdrawn)
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(
            f"{idp.issuer}/protocol/openid-connect/revoke",
            data={"token": refresh, "token_type_hint": "refresh_token"},
            auth=(idp.client_id, idp.client_secret.get_secret_value()),
        )
    assert r.status_code == 200, r.text
    async with clean_db.begin() as conn:
        await conn.execute(text("UPDATE web_session SET access_expires_at = now() - interval '1 second'"))
    problem(await b.get("/api/v1/me"), 401, "session-ended")
    assert await sessions(clean_db) == []


async def test_a_changed_group_mapping_takes_effect_at_the_next_sign_in(
    start: Start, with_idp: dict[str, Any], idp: Idp, fakes: FakeServices
) -> None:
    before = await browser(start, **with_idp)
    await before.sign_in("eddie.editor", idp.password("eddie.editor"))
    assert (await before.get("/api/v1/me")).json()["roles"] == ["editor"]
    # the operator maps the editors' group to approver as well (a new setting: the gateway restarts)
    remapped = {**MAPPING, "platform-editors": ["editor", "approver"]}
    after = await browser(start, **{**with_idp, "oidc_group_roles": remapped})
    wid = fakes.add_workflow("flow")["id"]
    # the session opened before keeps the roles of its sign-in, at the new gateway too
    after.cookies = dict(before.cookies)
    assert (await after.get("/api/v1/me")).json()["roles"] == ["editor"]
    problem(
        await after.post(f"/api/v1/workflows/{wid}/approve", json={"version_no": 1}, headers=after.csrf()),
        403,
        "forbidden",
    )
    # the next sign-in gets the new roles
    after.cookies = {}
    await after.sign_in("eddie.editor", idp.password("eddie.editor"))
    assert (await after.get("/api/v1/me")).json()["roles"] == ["editor", "approver"]
    assert (
        await after.post(f"/api/v1/workflows/{wid}/approve", json={"version_no": 1}, headers=after.csrf())
    ).status_code == 200
    # and a mapping that gives none of the person's groups a role refuses the sign-in
    none = await browser(start, **{**with_idp, "oidc_group_roles": {"platform-admins": ["admin"]}})
    r = await none.sign_in("eddie.editor", idp.password("eddie.editor"))
    assert r.status_code == 302
    assert r.headers["location"] == "/login?sso_error=no-role"
    assert "platform_session" not in none.cookies


async def test_sign_out_ends_the_session_at_the_gateway_and_the_provider(
    start: Start, with_idp: dict[str, Any], idp: Idp, clean_db: AsyncEngine
) -> None:
    b = await browser(start, **with_idp)
    await b.sign_in("eddie.editor", idp.password("eddie.editor"))
    old = dict(b.cookies)
    problem(await b.post("/auth/logout"), 403, "csrf-token-missing")
    r = await b.post("/auth/logout", headers=b.csrf())
    assert r.status_code == 200, r.text
    out = urlsplit(r.json()["logout_url"])
    assert f"{out.scheme}://{out.netloc}{out.path}" == f"{idp.issuer}/protocol/openid-connect/logout"
    params = parse_qs(out.query)
    assert params["post_logout_redirect_uri"] == ["http://127.0.0.1/"]
    assert params["id_token_hint"][0].startswith("eyJ")
    assert "platform_session" not in b.cookies
    assert "platform_csrf" not in b.cookies
    assert await sessions(clean_db) == []
    # the old cookie is refused
    b.cookies = old
    problem(await b.get("/api/v1/me"), 401, "session-ended")
    problem(await b.post("/api/v1/tasks", json=TASK, headers=b.csrf()), 401, "session-ended")


async def test_api_keys_keep_working_beside_sessions(
    start: Start, with_idp: dict[str, Any], idp: Idp, fakes: FakeServices
) -> None:
    admin = await start(**with_idp)
    key = await new_key(admin, "ci-bot", "editor")
    # a machine: a bearer key, no cookie, no CSRF token
    r = await admin.post("/api/v1/tasks", json=TASK, headers=bearer(key))
    assert r.status_code == 201, r.text
    assert fakes.seen[-1].actor == "ci-bot"
    me = (await admin.get("/api/v1/me", headers=bearer(key))).json()
    assert me["via"] == "api-key"
    assert me["csrf_token"] is None
    assert me["key_prefix"] == key[:8]
    # a bearer key beside a session cookie acts as the key's user
    b = await browser(start, **with_idp)
    await b.sign_in("vera.viewer", idp.password("vera.viewer"))
    r = await b.post("/api/v1/tasks", json=TASK, headers=bearer(key))
    assert r.status_code == 201
    assert fakes.seen[-1].actor == "ci-bot"


async def test_moving_a_person_to_another_group_takes_effect_at_the_next_sign_in(
    start: Start, with_idp: dict[str, Any], idp: Idp
) -> None:
    admin = idp.server.admin()
    groups = admin.groups_of("paul.publisher")
    try:
        b = await browser(start, **with_idp)
        await b.sign_in("paul.publisher", idp.password("paul.publisher"))
        assert (await b.get("/api/v1/me")).json()["roles"] == ["publisher"]
        admin.set_groups("paul.publisher", ["platform-viewers"])
        assert (await b.get("/api/v1/me")).json()["roles"] == ["publisher"]  # this session: its sign-in's roles
        again = await browser(start, **with_idp)
        await again.sign_in("paul.publisher", idp.password("paul.publisher"))
        assert (await again.get("/api/v1/me")).json()["roles"] == ["viewer"]
    finally:
        admin.set_groups("paul.publisher", groups)
