"""People sign in to the portal with their company account (issue 22), in a real browser, through Keycloak's own
login page: the editor edits, the approver approves, the viewer sees no mutating button and is refused (403) when
forcing one, and sign-out ends the session (the old cookie is refused). The platform (without the publisher: nothing
here publishes) with its gateway configured for the devstack's Keycloak; driven by ``portal/e2e/sso.mjs``."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest

from devstack.keycloak import KeycloakServer
from devstack.stack import QUICK, Stack, merge_env

from .conftest import ARTIFACTS, CHROMIUM, PORTAL, ensure_portal_built, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SCENARIO = PORTAL / "e2e" / "sso.mjs"


@pytest.fixture(scope="module")
def sso_stack(postgres_admin_url: str, kafka_bootstrap: str, keycloak: KeycloakServer) -> Iterator[Stack]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; ./platform test installs it as root)")
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    ensure_portal_built()
    log_dir = ARTIFACTS / "sso-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    services = ("definition", "history-sync", "lineage-resolver", "gateway")
    # no publisher: a URL where nothing listens (nothing here publishes or runs)
    env = merge_env(QUICK, {"gateway": {"GATEWAY_PUBLISHER_URL": "http://127.0.0.1:9"}})
    stack = Stack(postgres_admin_url, kafka_bootstrap, None, log_dir, services, env, tag="e2esso", keycloak=keycloak)
    with stack.started():
        yield stack


def test_people_sign_in_with_their_company_account(sso_stack: Stack, keycloak: KeycloakServer) -> None:
    name = f"e2e_sso_{uuid.uuid4().hex[:6]}"
    with sso_stack.client() as api:
        r = api.post("/api/v1/tasks", json={"name": name, "task_type": "SHELL", "params": {"script": "echo sso"}})
        assert r.status_code == 201, r.text
        r = api.post(
            "/api/v1/workflows", json={"name": f"{name}_wf", "tasks": [{"task_id": r.json()["id"]}], "edges": []}
        )
        assert r.status_code == 201, r.text
        workflow = {"id": r.json()["id"], "name": r.json()["name"]}
    people = {
        role: {"username": p.username, "password": p.password}
        for role, p in (
            ("editor", keycloak.person("eddie.editor")),
            ("approver", keycloak.person("anna.approver")),
            ("viewer", keycloak.person("vera.viewer")),
        )
    }
    config = {
        "baseUrl": sso_stack.base_url,
        "chromium": str(CHROMIUM),
        "outDir": str(ARTIFACTS),
        "workflow": workflow,
        "people": people,
    }
    result = run_scenario(sso_stack, SCENARIO, config, ARTIFACTS, timeout=600)
    assert [s["name"] for s in result["steps"]][-1] == "sign-out-ends-the-session"
    # what the people did is theirs: the version the editor saved, the approval, the audit log
    with sso_stack.client() as api:
        versions = api.get(f"/api/v1/workflows/{workflow['id']}/versions").json()
        items = versions["items"] if isinstance(versions, dict) else versions
        assert any(v.get("created_by") == "eddie.editor" for v in items), items
        wf = api.get(f"/api/v1/workflows/{workflow['id']}").json()
        assert wf["approved"] is True, wf
        audit = api.get("/api/v1/audit-log", params={"actor": "anna.approver"}).json()["items"]
        assert any(a["path"].endswith("/approve") and a["status_code"] == 200 for a in audit), audit
        refused = api.get("/api/v1/audit-log", params={"actor": "vera.viewer"}).json()["items"]
        assert any(a["status_code"] == 403 for a in refused), refused
