"""The admin's API-keys screen in a real browser against the whole running platform (``conftest.platform_stack``),
driven by ``portal/e2e/api-keys.mjs``: create a machine's key (the secret shown once, copied), use it through the API
(a read passes, a call outside its scope is refused 403), see its last use, revoke it after the confirmation and see
it refused (401); a viewer has no such screen. Screenshots go to ``test-artifacts/e2e/api-keys/``."""

from __future__ import annotations

import uuid

import pytest

from devstack.stack import Stack

from .conftest import ARTIFACTS, CHROMIUM, PORTAL, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SCENARIO = PORTAL / "e2e" / "api-keys.mjs"
OUT = ARTIFACTS / "api-keys"


def _viewer_key(stack: Stack, name: str) -> str:
    with stack.client() as api:
        r = api.post("/api/v1/api-keys", json={"name": name, "roles": ["viewer"], "expires_in_days": 1})
        assert r.status_code == 201, r.text
        key: str = r.json()["key"]
        return key


def test_api_keys_screen(platform_stack: Stack) -> None:
    suffix = uuid.uuid4().hex[:6]
    name = f"e2e-ci-{suffix}"
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    result = run_scenario(
        platform_stack,
        SCENARIO,
        {
            "baseUrl": platform_stack.base_url,
            "token": platform_stack.admin_token,
            "viewerToken": _viewer_key(platform_stack, f"e2e-viewer-{suffix}"),
            "chromium": str(CHROMIUM),
            "outDir": str(OUT),
            "keyName": name,
        },
        OUT,
        timeout=300,
    )
    assert [s["name"] for s in result["steps"]] == [
        "admin-nav",
        "create-dialog",
        "secret-shown-once",
        "secret-gone",
        "key-used-through-the-api",
        "revoke-confirm",
        "revoked-and-refused",
        "viewer-no-admin-screen",
    ]
    for s in result["steps"]:
        assert (OUT / s["screenshot"]).stat().st_size > 10_000, s

    # what the screen did is what the gateway holds: the key as chosen in the dialog, used once, revoked
    with platform_stack.client() as api:
        keys = api.get("/api/v1/api-keys", params={"include_revoked": True, "page_size": 200}).json()["items"]
    [key] = [k for k in keys if k["name"] == name]
    assert key["id"] == result["keyId"]
    assert key["key_prefix"] == result["keyPrefix"]
    assert (key["roles"], key["scopes"], key["created_by"], key["status"]) == (
        ["publisher"],
        ["workflows:read"],
        "admin",
        "revoked",
    )
    assert key["last_used_at"] is not None
    assert key["expires_at"] is not None
