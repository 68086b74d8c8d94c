"""The local Keycloak (``devstack.keycloak``): it serves the platform realm, a demo person signs in (password grant
and the Authorization Code flow with PKCE through Keycloak's own login page) and gets signed tokens with their
``groups``; the admin helper changes a person's groups and ends their sessions; stop and start keep the build and the
data."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from devstack import DevstackError
from devstack._proc import port_is_free
from devstack.keycloak import CALLBACK_PATH, CLIENT_ID, GROUP_ROLES, KeycloakServer
from devstack.keycloak.runtime import dist_dir


def verified_claims(keycloak: KeycloakServer, token: str, *, audience: str | None = CLIENT_ID) -> dict[str, Any]:
    """The claims of ``token`` once its signature (the realm's JWKS), issuer, audience and expiry check out."""
    jwks = httpx.get(keycloak.discovery_url, timeout=10).json()["jwks_uri"]
    key = jwt.PyJWKClient(jwks).get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        issuer=keycloak.issuer,
        audience=audience,
        options={"verify_aud": audience is not None},
    )
    return claims


def test_the_realm_answers_discovery_with_the_endpoints_a_client_needs(keycloak: KeycloakServer) -> None:
    doc = httpx.get(keycloak.discovery_url, timeout=10).json()
    assert doc["issuer"] == keycloak.issuer == f"http://127.0.0.1:{keycloak.port}/realms/platform"
    assert "S256" in doc["code_challenge_methods_supported"]
    assert "authorization_code" in doc["grant_types_supported"]
    assert doc["end_session_endpoint"].startswith(keycloak.issuer)
    assert doc["frontchannel_logout_supported"] is True
    health = httpx.get(f"http://127.0.0.1:{keycloak.management_port}/health/ready", timeout=10).json()
    assert health["status"] == "UP"


def test_every_demo_person_signs_in_with_their_group_in_the_id_and_access_token(keycloak: KeycloakServer) -> None:
    assert {g for p in keycloak.people for g in p.groups} == set(GROUP_ROLES)
    for person in keycloak.people:
        tokens = keycloak.password_login(person.username)
        id_claims = verified_claims(keycloak, tokens["id_token"])
        assert id_claims["groups"] == list(person.groups)
        assert id_claims["preferred_username"] == person.username
        assert (id_claims["name"], id_claims["email"]) == (person.name, person.email)
        access = verified_claims(keycloak, tokens["access_token"], audience=None)
        assert access["groups"] == list(person.groups)
        assert access["azp"] == CLIENT_ID
    with pytest.raises(DevstackError, match=r"HTTP 400.*Invalid user credentials"):
        keycloak.password_login("vera.viewer", "not-her-password")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _authorize(client: httpx.Client, keycloak: KeycloakServer, redirect_uri: str, challenge: str) -> httpx.Response:
    auth = httpx.get(keycloak.discovery_url, timeout=10).json()["authorization_endpoint"]
    params = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": "openid profile email",
        "redirect_uri": redirect_uri,
        "state": secrets.token_urlsafe(16),
        "nonce": secrets.token_urlsafe(16),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return client.get(auth, params=params)


def _cookies(response: httpx.Response) -> str:
    """The ``Cookie`` header a browser sends back: Keycloak marks its login cookies ``Secure`` (browsers keep those on
    http://127.0.0.1, a secure context; Python's cookie jar keeps them for https only)."""
    return "; ".join(c.split(";", 1)[0] for c in response.headers.get_list("set-cookie"))


def _sign_in(keycloak: KeycloakServer, username: str, redirect_uri: str, challenge: str) -> str:
    """Keycloak's login page filled in as ``username``: the code it redirects to ``redirect_uri`` with."""
    person = keycloak.person(username)
    with httpx.Client(timeout=30, follow_redirects=False) as browser:
        page = _authorize(browser, keycloak, redirect_uri, challenge)
        assert page.status_code == 200, page.text[:300]
        action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
        assert action is not None, "no login form on Keycloak's page"
        login = browser.post(
            html.unescape(action.group(1)),
            data={"username": person.username, "password": person.password},
            headers={"Cookie": _cookies(page)},
        )
    assert login.status_code == 302, login.text[:300]
    location = login.headers["location"]
    assert location.startswith(redirect_uri + "?")
    return parse_qs(urlsplit(location).query)["code"][0]


def test_authorization_code_with_pkce_through_the_login_page(keycloak: KeycloakServer) -> None:
    verifier, challenge = _pkce()
    # the gateway's callback on any loopback port is registered
    redirect_uri = f"http://127.0.0.1:45678{CALLBACK_PATH}"

    def exchange(code: str, code_verifier: str | None) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "client_secret": keycloak.client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
        }
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        return httpx.post(keycloak.token_url, data=form, timeout=30)

    # without the PKCE verifier, or with another one, the code is refused
    for wrong in (None, secrets.token_urlsafe(48)):
        refused = exchange(_sign_in(keycloak, "eddie.editor", redirect_uri, challenge), wrong)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "invalid_grant"
    code = _sign_in(keycloak, "eddie.editor", redirect_uri, challenge)
    tokens = exchange(code, verifier)
    assert tokens.status_code == 200, tokens.text[:300]
    claims = verified_claims(keycloak, tokens.json()["id_token"])
    assert claims["groups"] == ["platform-editors"]
    assert claims["preferred_username"] == "eddie.editor"
    assert exchange(code, verifier).status_code == 400  # a code serves once


def test_a_callback_outside_the_registered_ones_is_refused(keycloak: KeycloakServer) -> None:
    _, challenge = _pkce()
    with httpx.Client(timeout=30, follow_redirects=False) as browser:
        for uri in ("http://evil.example/auth/callback", "http://127.0.0.1:8080/elsewhere"):
            page = _authorize(browser, keycloak, uri, challenge)
            assert page.status_code == 400, uri
            assert "Invalid parameter: redirect_uri" in page.text


def test_admin_changes_groups_and_ends_sessions(keycloak: KeycloakServer) -> None:
    admin = keycloak.admin()
    assert admin.groups_of("vera.viewer") == ["platform-viewers"]
    try:
        admin.set_groups("vera.viewer", ["platform-editors", "platform-approvers"])
        assert admin.groups_of("vera.viewer") == ["platform-approvers", "platform-editors"]
        claims = verified_claims(keycloak, keycloak.password_login("vera.viewer")["id_token"])
        assert sorted(claims["groups"]) == ["platform-approvers", "platform-editors"]
    finally:
        admin.set_groups("vera.viewer", ["platform-viewers"])
    assert admin.groups_of("vera.viewer") == ["platform-viewers"]

    tokens = keycloak.password_login("vera.viewer")
    assert admin.sessions("vera.viewer")
    refresh = {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": keycloak.client_secret,
        "refresh_token": tokens["refresh_token"],
    }
    assert httpx.post(keycloak.token_url, data=refresh, timeout=30).status_code == 200
    admin.logout("vera.viewer")
    assert admin.sessions("vera.viewer") == []
    revoked = httpx.post(keycloak.token_url, data=refresh, timeout=30)
    assert revoked.status_code == 400
    assert revoked.json()["error"] == "invalid_grant"


def test_stop_and_start_keep_the_build_and_the_realm_data(keycloak: KeycloakServer) -> None:
    marker = dist_dir(keycloak.version) / ".devstack-build.json"
    built_at = marker.stat().st_mtime
    admin = keycloak.admin()
    admin.set_enabled("paul.publisher", False)
    try:
        assert keycloak.stop()
        assert not keycloak.is_running()
        assert not keycloak.stop()
        assert keycloak.cds_archive.is_file()  # written by the JVM as it exited, mapped by the next start
        assert port_is_free("127.0.0.1", keycloak.port)
        with pytest.raises(httpx.ConnectError):
            httpx.get(keycloak.discovery_url, timeout=5)
        assert keycloak.start()
        assert keycloak.last_start_s is not None
        assert marker.stat().st_mtime == built_at  # started optimized, not built again
        assert not keycloak.start()  # found running
        # a change made through the admin API survived the restart (the realm is not imported again)
        with pytest.raises(DevstackError, match=r"HTTP 400.*invalid_grant"):
            keycloak.password_login("paul.publisher")
    finally:
        keycloak.start()
        keycloak.admin().set_enabled("paul.publisher", True)
    assert verified_claims(keycloak, keycloak.password_login("paul.publisher")["id_token"])["groups"] == [
        "platform-publishers"
    ]


def test_the_cli_finds_it_running(keycloak: KeycloakServer, capsys: pytest.CaptureFixture[str]) -> None:
    from devstack.cli import main

    assert main(["up", "--only", "keycloak"]) == 0
    out = capsys.readouterr().out
    assert f"keycloak: already running; issuer {keycloak.issuer}" in out
    assert f"{keycloak.url}/admin" in out
    assert main(["status", "--only", "keycloak"]) == 0
    assert f"keycloak: running (pid {keycloak.pid()}); issuer {keycloak.issuer}" in capsys.readouterr().out
