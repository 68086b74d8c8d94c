"""The realm file, the settings handed to the gateway and the server's start arguments (no Keycloak started)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devstack import DevstackError
from devstack.keycloak import CALLBACK_PATH, CLIENT_ID, GROUP_ROLES, REALM, KeycloakServer, demo_people
from devstack.keycloak.server import realm


def test_the_realm_has_the_portal_client_as_the_gateway_needs_it() -> None:
    data = realm()
    assert data["realm"] == REALM
    (client,) = [c for c in data["clients"] if c["clientId"] == CLIENT_ID]
    assert client["publicClient"] is False
    assert client["standardFlowEnabled"] is True
    assert client["implicitFlowEnabled"] is False
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert client["frontchannelLogout"] is True
    # loopback redirect URIs without a port: Keycloak accepts them on any port (RFC 8252)
    assert set(client["redirectUris"]) == {f"http://127.0.0.1{CALLBACK_PATH}", f"http://localhost{CALLBACK_PATH}"}
    assert set(client["attributes"]["post.logout.redirect.uris"].split("##")) == {
        "http://127.0.0.1/",
        "http://localhost/",
    }
    (mapper,) = client["protocolMappers"]
    assert mapper["protocolMapper"] == "oidc-group-membership-mapper"
    assert (
        mapper["config"] | {"full.path": "false", "id.token.claim": "true", "access.token.claim": "true"}
        == (mapper["config"])
    )
    assert mapper["config"]["claim.name"] == "groups"


def test_one_demo_person_per_group_and_every_group_maps_to_its_role() -> None:
    groups = [g["name"] for g in realm()["groups"]]
    assert sorted(groups) == sorted(GROUP_ROLES)
    people = demo_people()
    assert sorted(g for p in people for g in p.groups) == sorted(groups)
    by_role = {p.roles: p.username for p in people}
    assert by_role == {
        ("viewer",): "vera.viewer",
        ("editor",): "eddie.editor",
        ("approver",): "anna.approver",
        ("publisher",): "paul.publisher",
        ("admin",): "ada.admin",
    }
    assert all(p.password and p.email.endswith("@example.com") and " " in p.name for p in people)


def test_gateway_env_names_issuer_client_and_group_roles(tmp_path: Path) -> None:
    server = KeycloakServer(port=18180, work_dir=tmp_path)
    env = server.gateway_env()
    assert env["GATEWAY_OIDC_ISSUER"] == "http://127.0.0.1:18180/realms/platform"
    assert env["GATEWAY_OIDC_CLIENT_ID"] == CLIENT_ID
    assert env["GATEWAY_OIDC_CLIENT_SECRET"] == server.client_secret != ""
    assert json.loads(env["GATEWAY_OIDC_GROUP_ROLES"]) == GROUP_ROLES
    other = server.gateway_env({"platform-viewers": ["viewer", "editor"]})
    assert json.loads(other["GATEWAY_OIDC_GROUP_ROLES"]) == {"platform-viewers": ["viewer", "editor"]}


def test_ports_come_from_the_environment_and_must_differ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_KEYCLOAK_PORT", "18280")
    monkeypatch.delenv("DEVSTACK_KEYCLOAK_MANAGEMENT_PORT", raising=False)
    server = KeycloakServer(work_dir=tmp_path)
    assert (server.port, server.management_port) == (18280, 18281)
    args = server.start_args()
    assert args[:2] == ["start", "--optimized"]
    assert "--http-host=127.0.0.1" in args
    assert "--http-port=18280" in args
    assert "--http-management-port=18281" in args
    assert "--hostname=http://127.0.0.1:18280" in args
    assert "--import-realm" in args
    assert f"--log-file={tmp_path / 'keycloak.log'}" in args
    with pytest.raises(DevstackError, match="must differ"):
        KeycloakServer(port=18300, management_port=18300, work_dir=tmp_path)


def test_the_admin_password_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    server = KeycloakServer(port=18180, work_dir=tmp_path / "kc")
    first = server.admin_password()
    assert len(first) >= 20
    assert KeycloakServer(port=18180, work_dir=tmp_path / "kc").admin_password() == first
    assert os.stat(tmp_path / "kc" / "admin.json").st_mode & 0o777 == 0o600
    assert server.pid() is None
    assert not server.is_running()
    assert not server.stop()


def test_up_prints_who_signs_in_with_which_role(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from devstack.platform import print_people

    server = KeycloakServer(port=18180, work_dir=tmp_path)
    print_people(server)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Sign-in (SSO):     http://127.0.0.1:18180/realms/platform")
    assert server.admin_password() in lines[0]
    for person, line in zip(server.people, lines[1:], strict=True):
        assert line.split()[:4] == [person.username, "password", person.password, person.roles[0]]
        assert line.endswith(f"{person.name} <{person.email}>")
