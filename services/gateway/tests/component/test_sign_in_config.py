"""Sign-in with a company account when it is not configured, and what the gateway answers without reaching a
provider (the flows against a real one: tests/integration/test_sign_in.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from pydantic import SecretStr

from gateway.domain.sessions import new_session_id

from .conftest import ADMIN_TOKEN, closed_port_url
from .fakes import FakeServices

Start = Callable[..., Awaitable[httpx.AsyncClient]]

NOBODY = {"Authorization": ""}


def oidc_down() -> dict[str, object]:
    """A provider where nothing listens."""
    return {
        "oidc_issuer": closed_port_url() + "/realms/platform",
        "oidc_client_id": "platform-portal",
        "oidc_client_secret": SecretStr("dev-secret"),
        "oidc_group_roles": {"platform-editors": ["editor"]},
        "oidc_timeout_s": 2.0,
    }


async def test_without_oidc_settings_there_is_no_sign_in_and_keys_work(start: Start, fakes: FakeServices) -> None:
    client = await start()
    client.headers.pop("Authorization")
    assert (await client.get("/auth/session")).json() == {"sso": False, "signed_in": False, "me": None}
    r = await client.get("/auth/login")
    assert r.status_code == 404
    assert r.json()["type"] == "/problems/not-found"
    # a session cookie means nothing here: the key is what counts
    cookie = {"Cookie": f"platform_session={new_session_id()}"}
    r = await client.get("/api/v1/workflows", headers=cookie)
    assert r.status_code == 401
    assert "missing bearer token" in r.json()["detail"]
    r = await client.get("/api/v1/me", headers={**cookie, "Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.json()["via"] == "api-key"


async def test_an_unknown_session_cookie_is_refused_with_session_ended(start: Start, fakes: FakeServices) -> None:
    client = await start(**oidc_down())
    client.headers.pop("Authorization")
    for value in (new_session_id(), "not-a-session-id"):
        r = await client.post("/api/v1/tasks", json={}, headers={"Cookie": f"platform_session={value}"})
        assert r.status_code == 401
        assert r.json()["type"] == "/problems/session-ended"
        assert "sign in again" in r.json()["detail"]
    r = await client.get("/auth/session", headers={"Cookie": f"platform_session={new_session_id()}"})
    assert r.status_code == 401
    assert r.json()["type"] == "/problems/session-ended"
    assert fakes.seen == []


async def test_a_provider_that_cannot_be_reached_is_a_503_problem(start: Start) -> None:
    client = await start(**oidc_down(), public_url="http://localhost:8080", session_cookie_secure=False)
    client.headers.pop("Authorization")
    r = await client.get("/auth/login")
    assert r.status_code == 503
    assert r.json()["type"] == "/problems/sign-in-provider-unavailable"
    assert "dev-secret" not in r.text


async def test_insecure_cookies_are_refused_outside_localhost(start: Start) -> None:
    client = await start(**oidc_down(), public_url="https://platform.example.com", session_cookie_secure=False)
    client.headers.pop("Authorization")
    r = await client.get("/auth/login")
    assert r.status_code == 422
    assert "http://localhost only" in r.json()["detail"]


async def test_a_callback_without_a_sign_in_of_this_browser_is_sent_back_to_sign_in(start: Start) -> None:
    client = await start(**oidc_down())
    client.headers.pop("Authorization")
    r = await client.get("/auth/callback?code=stolen&state=guessed")
    assert r.status_code == 302
    assert r.headers["location"] == "/login?sso_error=sign-in-expired"
    r = await client.get(
        "/auth/callback?code=stolen&state=guessed", headers={"Cookie": f"platform_sign_in={new_session_id()}"}
    )
    assert r.headers["location"] == "/login?sso_error=sign-in-expired"
