"""The gateway in-process on real PostgreSQL (the component tests' fixtures, services faked at the HTTP level) with
a real OpenID Connect provider: the devstack's Keycloak and its ``platform`` realm.

``Browser`` is a person's browser: it signs in through Keycloak's own login page (the form a person fills in) and
keeps the gateway's cookies itself (explicit ``Cookie`` headers, never the test client's jar).
"""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr

from devstack.keycloak import KeycloakServer

from ..component.conftest import (  # noqa: F401, TID252  (the component tests' fixtures)
    ADMIN_TOKEN,
    clean_db,
    db_engine,
    fakes,
    gateway_db,
    settings,
    start,
)

Start = Callable[..., Awaitable[httpx.AsyncClient]]

_LOGIN_FORM = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', re.S)


@dataclass
class Browser:
    """A browser of a person at the gateway ``client`` (ASGI, no default credentials)."""

    client: httpx.AsyncClient
    cookies: dict[str, str] = field(default_factory=dict)
    #: the attributes of each cookie as the gateway last set it (``httponly``, ``samesite``, ``secure``…)
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        r = await self.client.request(method, url, headers=headers, **kwargs)
        self.client.cookies.clear()
        for raw in r.headers.get_list("set-cookie"):
            jar: SimpleCookie = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value or morsel.value == '""':
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
                self.attributes[name] = {k: morsel[k] for k in morsel} | {"raw": raw}
        return r

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    def csrf(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.cookies["platform_csrf"]}

    async def sign_in(self, username: str, password: str) -> httpx.Response:
        """``/auth/login`` → Keycloak's login page, filled in → ``/auth/callback``; the callback's answer."""
        r = await self.get("/auth/login")
        assert r.status_code == 302, r.text
        authorize = r.headers["location"]
        async with httpx.AsyncClient(timeout=30) as provider:
            page = await provider.get(authorize)
            assert page.status_code == 200, page.text[:500]
            found = _LOGIN_FORM.search(page.text)
            assert found is not None, page.text[:2000]
            # Keycloak's cookies are Secure: a browser keeps them on http://127.0.0.1 (a trustworthy origin), httpx's
            # jar does not, so they are passed on by hand
            jar: SimpleCookie = SimpleCookie()
            for raw in page.headers.get_list("set-cookie"):
                jar.load(raw)
            done = await provider.post(
                html.unescape(found.group(1)),
                data={"username": username, "password": password, "credentialId": ""},
                headers={"Cookie": "; ".join(f"{k}={m.value}" for k, m in jar.items())},
            )
        assert done.status_code == 302, done.text[:2000]
        back = urlsplit(done.headers["location"])
        assert back.path == "/auth/callback", done.headers["location"]
        return await self.get(f"/auth/callback?{back.query}")


@dataclass(frozen=True)
class Idp:
    """The provider as the gateway's settings name it, and the devstack's Keycloak behind it."""

    server: KeycloakServer
    issuer: str
    client_id: str
    client_secret: SecretStr

    def password(self, username: str) -> str:
        return self.server.person(username).password


@pytest.fixture(scope="session")
def idp(keycloak: KeycloakServer) -> Idp:
    return Idp(keycloak, keycloak.issuer, keycloak.client_id, SecretStr(keycloak.client_secret))
