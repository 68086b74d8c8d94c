"""Calls that bypass the gateway: none is served without a valid identity token, a viewer changes nothing, and the
service's audit log names the verified actor (refused calls too)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.db import asyncpg_dsn
from common.testing.gateway_api import until
from common.testing.identity import auth_headers, signer, user_token

from .conftest import SecureStack

#: one call per service that changes something (its role) and one that reads
MUTATIONS: dict[str, tuple[str, str, Any]] = {
    "definition": ("POST", "/internal/workflows/1/actions/approve", {"version_no": 1}),
    "publisher": ("POST", "/internal/workflows/1/run", {}),
    "lineage-resolver": ("POST", "/internal/lineage", {"task_id": 1, "read_tables": ["t.a"]}),
    "alerting": ("POST", "/internal/inspections/run", None),
}
READS: dict[str, str] = {
    "definition": "/internal/workflows",
    "publisher": "/internal/workflows/1/publish-records",
    "history-sync": "/internal/workflows/executions?ids=1",
    "lineage-resolver": "/internal/dependency-view?task_ids=1",
    "alerting": "/internal/alerts",
}


def _forged_tokens(audience: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": "gateway", "sub": "mallory", "aud": audience, "iat": now, "exp": now + 60, "use": "call"}
    genuine = user_token(audience, "mallory", ("admin",))
    kid = jwt.get_unverified_header(genuine)["kid"]
    own_key = Ed25519PrivateKey.generate()
    return {
        "a key of its own, the gateway's kid": jwt.encode(
            {**claims, "roles": ["admin"]}, own_key, algorithm="EdDSA", headers={"kid": kid}
        ),
        "unsigned (alg none)": jwt.encode({**claims, "roles": ["admin"]}, None, algorithm="none"),  # type: ignore[arg-type]
        "for another service": user_token("publisher" if audience != "publisher" else "definition", "mallory"),
        "a service's key speaking for a user": jwt.encode(
            {**claims, "iss": "lineage-resolver", "roles": ["admin"]},
            signer("lineage-resolver")._key.current()[0],
            algorithm="EdDSA",
            headers={"kid": signer("lineage-resolver").kid},
        ),
        "expired": jwt.encode(
            {**claims, "iat": now - 600, "exp": now - 300, "roles": ["admin"]},
            signer("gateway")._key.current()[0],
            algorithm="EdDSA",
            headers={"kid": signer("gateway").kid},
        ),
        "not a JWT": "adm_" + uuid.uuid4().hex,
    }


@pytest.mark.parametrize("service", sorted({*MUTATIONS, *READS}))
def test_direct_calls_without_a_valid_token_are_401(secure: SecureStack, service: str) -> None:
    calls = [("GET", READS[service], None)] + ([MUTATIONS[service]] if service in MUTATIONS else [])
    with httpx.Client(base_url=secure.url(service), timeout=10) as client:
        for method, path, body in calls:
            # what the services trusted before: a made-up X-Actor
            r = client.request(method, path, json=body, headers={"X-Actor": "admin"})
            assert r.status_code == 401, (service, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.headers["www-authenticate"].startswith("Bearer")
            for what, token in _forged_tokens(service).items():
                r = client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
                assert r.status_code == 401, (service, path, what, r.status_code, r.text)
        # health and metrics stay open (probes, Prometheus)
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize("service", sorted(MUTATIONS))
def test_a_viewer_or_a_service_identity_reads_but_changes_nothing(secure: SecureStack, service: str) -> None:
    method, path, body = MUTATIONS[service]
    service_token = signer("alerting").token(service)  # alerting's own identity: read only
    with httpx.Client(base_url=secure.url(service), timeout=10) as client:
        viewer = auth_headers(service, "vera", ("viewer",))
        assert client.get(READS[service], headers=viewer).status_code == 200
        r = client.request(method, path, json=body, headers=viewer)
        assert r.status_code == 403, (service, r.status_code, r.text)
        assert "needs the role" in r.json()["detail"]
        own = {"Authorization": f"Bearer {service_token}"}
        assert client.get(READS[service], headers=own).status_code == 200
        assert client.request(method, path, json=body, headers=own).status_code == 403


def test_a_viewer_key_at_the_gateway_changes_nothing(secure: SecureStack) -> None:
    with secure.stack.client() as admin:
        r = admin.post("/api/v1/api-keys", json={"name": f"viewer-{uuid.uuid4().hex[:6]}", "roles": ["viewer"]})
        assert r.status_code == 201, r.text
        key = r.json()["key"]
    with httpx.Client(base_url=secure.stack.base_url, headers={"Authorization": f"Bearer {key}"}) as viewer:
        assert viewer.get("/api/v1/workflows").status_code == 200
        for method, path, body in (
            ("POST", "/api/v1/tasks", {"name": "x", "task_type": "SHELL", "params": {"script": "echo"}}),
            ("POST", "/api/v1/workflows/1/approve", {"version_no": 1}),
            ("POST", "/api/v1/workflows/1/publish", {"operation": "deploy"}),
            ("POST", "/api/v1/workflows/1/run", {}),
        ):
            assert viewer.request(method, path, json=body).status_code == 403, path


async def _audit(secure: SecureStack, service: str, *request_ids: str) -> dict[str, Any]:
    """The service's audit rows of these requests: written after each answer was sent, so waited for (bounded)."""
    db = secure.stack.databases[service]
    url, schema = db.url.get_secret_value(), db.schema

    async def rows() -> dict[str, Any] | None:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            found = await conn.fetch(
                f'SELECT * FROM "{schema}".audit_log WHERE request_id = ANY($1::text[]) ORDER BY id', list(request_ids)
            )
        finally:
            await conn.close()
        by_id = {row["request_id"]: row for row in found}
        return by_id if set(by_id) == set(request_ids) else None

    found: dict[str, Any] = await until(rows, f"{service}'s audit rows of {request_ids}")
    return found


async def test_the_audit_log_names_the_verified_actor_also_for_calls_that_bypass_the_gateway(
    secure: SecureStack,
) -> None:
    marker = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(base_url=secure.url("definition"), timeout=10) as client:
        # refused: no identity, and a viewer
        r = await client.post(f"/internal/tasks?m={marker}", json={}, headers={"X-Request-Id": f"r1-{marker}"})
        assert r.status_code == 401
        r = await client.post(
            "/internal/tasks",
            json={"name": f"t-{marker}", "task_type": "SHELL", "params": {"script": "echo"}},
            headers={**auth_headers("definition", "vera", ("viewer",)), "X-Request-Id": f"r2-{marker}"},
        )
        assert r.status_code == 403
        # served: a verified editor, straight at the service (a leaked gateway key could do this, nothing else)
        r = await client.post(
            "/internal/tasks",
            json={"name": f"t-{marker}", "task_type": "SHELL", "params": {"script": "echo"}},
            headers={**auth_headers("definition", "erin", ("editor",)), "X-Request-Id": f"r3-{marker}"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["created_by"] == "erin"
    rows = await _audit(secure, "definition", f"r1-{marker}", f"r2-{marker}", f"r3-{marker}")
    assert (rows[f"r1-{marker}"]["actor"], rows[f"r1-{marker}"]["status_code"]) == (None, 401)
    assert rows[f"r1-{marker}"]["client"] == "127.0.0.1"
    assert "no identity token" in rows[f"r1-{marker}"]["detail"]
    assert (rows[f"r2-{marker}"]["actor"], rows[f"r2-{marker}"]["status_code"]) == ("vera", 403)
    assert (rows[f"r3-{marker}"]["actor"], rows[f"r3-{marker}"]["issuer"], rows[f"r3-{marker}"]["status_code"]) == (
        "erin",
        "gateway",
        201,
    )
    # and a call through the gateway: the gateway's audit and the service's both name the key's user
    with secure.stack.client() as admin:
        r = admin.post(
            "/api/v1/tasks",
            json={"name": f"g-{marker}", "task_type": "SHELL", "params": {"script": "echo"}},
            headers={"X-Request-Id": f"g1-{marker}"},
        )
        assert r.status_code == 201
    row = (await _audit(secure, "definition", f"g1-{marker}"))[f"g1-{marker}"]
    assert (row["actor"], row["issuer"]) == ("admin", "gateway")
