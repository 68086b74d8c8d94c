"""``Stack(replicas=…)``: several instances of a service, each with its name, port, instance id and peers, sharing the
service's schema and settings; a stack without replicas is what it always was."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from common.db import ServiceDatabase
from devstack import DevstackError
from devstack.stack import SPECS, Stack


def stack(tmp_path: Path, **kw: object) -> Stack:
    s = Stack("postgresql+asyncpg://admin@127.0.0.1/x", "127.0.0.1:9092", None, tmp_path, **kw)  # type: ignore[arg-type]
    for name, spec in SPECS.items():
        s.databases[name] = ServiceDatabase(f"t_{spec.schema}", f"svc_t_{spec.schema}", SecretStr(f"url-{name}"))
    for i, name in enumerate(s.instances()):
        s.ports[name] = 9000 + i
    return s


def test_one_instance_per_service_by_default(tmp_path: Path) -> None:
    s = stack(tmp_path)
    assert s.instances() == list(SPECS)
    env = s.environment("publisher")
    assert "PUBLISHER_INSTANCE_ID" not in env  # the service's own default (its host name)
    assert "PUBLISHER_KAFKA_CLIENT_ID" not in env  # the service name
    assert s.environment("definition")["DEFINITION_PUBLISHER_URL"] == s.url("publisher")


def test_replicas_are_named_ported_and_identified_apart(tmp_path: Path) -> None:
    s = stack(tmp_path, replicas={"publisher": 2, "gateway": 3, "history-sync": 2})
    assert s.instances("publisher") == ["publisher", "publisher-2"]
    assert s.instances("gateway") == ["gateway", "gateway-2", "gateway-3"]
    assert s.instances("definition") == ["definition"]
    assert [s.service_of(n) for n in ("history-sync-2", "gateway-3", "lineage-resolver")] == [
        "history-sync",
        "gateway",
        "lineage-resolver",
    ]
    first, second = s.environment("publisher"), s.environment("publisher-2")
    assert (first["PUBLISHER_INSTANCE_ID"], second["PUBLISHER_INSTANCE_ID"]) == ("publisher", "publisher-2")
    assert first["PUBLISHER_HTTP_PORT"] != second["PUBLISHER_HTTP_PORT"]
    # one schema and one consumer group (the service name under the stack's prefix) for both
    assert first["PUBLISHER_DB_SCHEMA"] == second["PUBLISHER_DB_SCHEMA"] == "t_publisher"
    assert first["KAFKA_TOPIC_PREFIX"] == second["KAFKA_TOPIC_PREFIX"]
    assert s.environment("history-sync-2")["HISTORY_REPLICA_ID"] == "history-sync-2"
    assert (first["PUBLISHER_KAFKA_CLIENT_ID"], second["PUBLISHER_KAFKA_CLIENT_ID"]) == ("publisher", "publisher-2")
    # instance i calls instance i of another service, or its last one
    assert s.environment("gateway-2")["GATEWAY_PUBLISHER_URL"] == s.url("publisher-2")
    assert s.environment("gateway-3")["GATEWAY_PUBLISHER_URL"] == s.url("publisher-2")
    assert s.environment("gateway-3")["GATEWAY_DEFINITION_URL"] == s.url("definition")
    assert s.environment("gateway")["GATEWAY_HISTORY_URL"] == s.url("history-sync")


def test_settings_per_service_and_per_instance(tmp_path: Path) -> None:
    env = {"publisher": {"PUBLISHER_PUBLISH_LEASE_S": "4"}, "publisher-2": {"PUBLISHER_PUBLISH_LEASE_S": "9"}}
    s = stack(tmp_path, replicas={"publisher": 2}, env=env)
    assert s.environment("publisher")["PUBLISHER_PUBLISH_LEASE_S"] == "4"
    assert s.environment("publisher-2")["PUBLISHER_PUBLISH_LEASE_S"] == "9"


@pytest.mark.parametrize("replicas", [{"nope": 2}, {"publisher": 0}])
def test_bad_replicas_are_refused(tmp_path: Path, replicas: dict[str, int]) -> None:
    with pytest.raises(DevstackError, match="replicas"):
        Stack("postgresql+asyncpg://x", "127.0.0.1:9092", None, tmp_path, replicas=replicas)


def test_an_unknown_instance_is_named(tmp_path: Path) -> None:
    with pytest.raises(DevstackError, match="publisher-x"):
        stack(tmp_path).service_of("publisher-x")


def test_the_gateway_gets_the_identity_providers_settings(tmp_path: Path) -> None:
    from devstack.keycloak import KeycloakServer

    assert not any(k.startswith("GATEWAY_OIDC_") for k in stack(tmp_path).environment("gateway"))
    idp = KeycloakServer(port=18180, work_dir=tmp_path / "kc")
    s = stack(tmp_path, keycloak=idp, env={"gateway": {"GATEWAY_OIDC_CLIENT_ID": "other"}})
    env = s.environment("gateway")
    assert env["GATEWAY_OIDC_ISSUER"] == idp.issuer
    assert env["GATEWAY_OIDC_CLIENT_SECRET"] == idp.client_secret
    assert env["GATEWAY_OIDC_CLIENT_ID"] == "other"  # the stack's env wins
    assert not any(k.startswith("GATEWAY_OIDC_") for k in s.environment("publisher"))
