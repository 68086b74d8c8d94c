"""docker-compose.yml: valid against the official Compose Specification schema (vendored by the pinned
check-jsonschema package), consistent dependencies, healthchecks, ports, and no literal secrets."""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from common.provision import SERVICES

from .conftest import CALLS

SECRET_KEY = re.compile(r"(TOKEN|PASSWORD|DATABASE_URL)$")
COMMANDS = {
    "definition": ["python", "-m", "definition", "serve"],
    "publisher": ["python", "-m", "publisher", "serve"],
    "history-sync": ["python", "-m", "history_sync", "serve"],
    "lineage-resolver": ["python", "-m", "lineage_resolver", "serve"],
    "alerting": ["python", "-m", "alerting", "serve"],
    "gateway": ["python", "-m", "gateway", "serve"],
}
PORTS = {
    "definition": 8101,
    "publisher": 8102,
    "history-sync": 8103,
    "lineage-resolver": 8104,
    "alerting": 8105,
    "gateway": 8080,
}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    text = resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    spec: dict[str, Any] = json.loads(text)
    return spec


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_compose_file_is_valid_against_the_compose_spec(compose: dict[str, Any], schema: dict[str, Any]) -> None:
    errors = sorted(_validator(schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_check_catches_mistakes(compose: dict[str, Any], schema: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["gateway"]["depends_on"]["definition"]["condition"] = "service_ready"
    broken["services"]["postgres"]["healthcheck"]["intervall"] = "5s"
    messages = [e.message for e in _validator(schema).iter_errors(broken)]
    assert any("service_ready" in m for m in messages), messages
    assert any("intervall" in m for m in messages), messages


def test_depends_on_targets_exist_and_conditions_fit(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for target, spec in (svc.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} healthy; it has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is one-shot but restarts"


def test_host_ports_do_not_collide(compose: dict[str, Any]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            parts = str(port).split(":")
            host = (parts[0], parts[1]) if len(parts) == 3 else ("0.0.0.0", parts[0])  # noqa: S104 - compose publishes on all interfaces
            assert host not in seen, f"{name} and {seen[host]} both publish {host}"
            seen[host] = name


def test_every_platform_service_is_there_with_healthcheck_and_provisioning(compose: dict[str, Any]) -> None:
    services = compose["services"]
    image = services["provision"]["image"]
    assert services["provision"]["command"] == ["platform-provision", "all"]
    for spec in SERVICES:
        svc = services[spec.name]
        assert svc["image"] == image
        assert svc["build"]["context"] == "."
        assert svc["command"][: len(COMMANDS[spec.name])] == COMMANDS[spec.name]
        port = PORTS[spec.name]
        env = svc["environment"]
        assert str(env[f"{spec.env_prefix}HTTP_PORT"]) == str(port)
        assert env[f"{spec.env_prefix}HTTP_HOST"] == "0.0.0.0"  # noqa: S104 - inside the container
        assert f"{spec.role}:" in env[f"{spec.env_prefix}DATABASE_URL"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        if "--port" in svc["command"]:
            assert svc["command"][svc["command"].index("--port") + 1] == str(port)
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(svc["healthcheck"]["test"])
        assert svc["depends_on"]["provision"]["condition"] == "service_completed_successfully"
        # the provision job gives the role the same password the service logs in with
        password_ref = services["provision"]["environment"][spec.password_env]
        assert password_ref in env[f"{spec.env_prefix}DATABASE_URL"]
    for name in ("publisher", "history-sync"):
        assert services[name]["depends_on"]["ds-bootstrap"]["condition"] == "service_completed_successfully"
    gateway_env = services["gateway"]["environment"]
    for spec in SERVICES:
        if spec.name != "gateway":
            assert gateway_env[f"GATEWAY_{spec.env_prefix}URL"] == f"http://{spec.name}:{PORTS[spec.name]}"


def test_ds_standalone_gateway_and_token_agree(compose: dict[str, Any]) -> None:
    s = compose["services"]
    ds = s["dolphinscheduler"]
    assert ds["image"].startswith("apache/dolphinscheduler-standalone-server:3.")
    assert ds["environment"]["PYTHONGATEWAY_ENABLED"] == "true"
    assert ds["environment"]["TZ"] == "UTC"
    assert (
        ds["environment"]["PYTHONGATEWAY_AUTHTOKEN"] == s["publisher"]["environment"]["PUBLISHER_DS_GATEWAY_AUTH_TOKEN"]
    )
    token = s["ds-bootstrap"]["environment"]["PLATFORM_DS_TOKEN"]
    assert s["publisher"]["environment"]["PUBLISHER_DS_TOKEN"] == token
    assert s["history-sync"]["environment"]["HISTORY_DS_TOKEN"] == token


def test_secrets_come_from_the_environment(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        env = svc.get("environment") or {}
        for key, value in env.items():
            if SECRET_KEY.search(key) or key.endswith("AUTHTOKEN"):
                assert "${" in str(value), f"{name}: {key} is a literal; take it from the environment"


def test_mounted_files_exist_and_parse(compose: dict[str, Any], repo_root: Path) -> None:
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                path = repo_root / source
                assert path.exists(), f"{name} mounts missing {source}"
                for f in [path] if path.is_file() else sorted(path.rglob("*.y*ml")):
                    assert yaml.safe_load(f.read_text()) is not None, f


def test_prometheus_scrapes_every_service_and_exporter(compose: dict[str, Any], repo_root: Path) -> None:
    config = yaml.safe_load((repo_root / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        t: (job["job_name"], group.get("labels", {}))
        for job in config["scrape_configs"]
        for group in job["static_configs"]
        for t in group["targets"]
    }
    for spec in SERVICES:
        job, labels = targets[f"{spec.name}:{PORTS[spec.name]}"]
        assert job == "platform"
        assert labels["service"] == spec.name
    # consumer lag is the services' own kafka_consumer_lag (scraped above): no exporter, one source of the figure
    assert "kafka-exporter" not in compose["services"]
    assert not any(job == "kafka-exporter" for job, _ in targets.values())
    assert "otel-collector:8889" in targets
    assert "otel-collector" in compose["services"]


def test_collector_pipeline_feeds_jaeger_and_span_metrics(compose: dict[str, Any], repo_root: Path) -> None:
    config = yaml.safe_load((repo_root / "deploy/otel/collector.yaml").read_text())
    pipes = config["service"]["pipelines"]
    assert set(pipes["traces"]["exporters"]) == {"otlp/jaeger", "spanmetrics"}
    assert "spanmetrics" in config["connectors"]
    assert config["exporters"]["otlp/jaeger"]["endpoint"].startswith("jaeger:")
    assert config["exporters"]["prometheus"]["endpoint"].endswith(":8889")
    for name, pipe in pipes.items():
        for part in ("receivers", "processors", "exporters"):
            for ref in pipe.get(part, []):
                section = config["connectors"] if ref in config.get("connectors", {}) else config[part]
                assert ref in section, f"pipeline {name} uses undefined {part[:-1]} {ref}"
    endpoint = Path(compose["services"]["definition"]["environment"]["DEFINITION_OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert str(endpoint).endswith("otel-collector:4318")


def _networks(svc: dict[str, Any]) -> set[str]:
    nets = svc.get("networks", [])
    return set(nets if isinstance(nets, list) else nets.keys())


def test_networks_split_the_flows_as_the_network_policies(compose: dict[str, Any]) -> None:
    services = compose["services"]
    declared = compose["networks"]
    names = [s.name for s in SERVICES]
    for name, svc in services.items():
        assert svc.get("network_mode") == "none" or _networks(svc), f"{name} sits on the default network"
        assert _networks(svc) <= set(declared), name
    meets = {
        frozenset((a, b)) for a in names for b in names if a < b and _networks(services[a]) & _networks(services[b])
    }
    assert meets == {frozenset(c) for c in CALLS}

    def reaches(name: str, other: str) -> bool:
        return bool(_networks(services[name]) & _networks(services[other]))

    for name in names:
        assert reaches(name, "postgres"), name
        assert reaches(name, "kafka") == (name != "gateway"), name
        assert reaches(name, "dolphinscheduler") == (name in {"publisher", "history-sync"}), name
        assert reaches(name, "otel-collector"), name
        assert reaches(name, "prometheus"), name
        outside = {n for n in _networks(services[name]) if not declared[n] or not declared[n].get("internal")}
        assert outside == {"gateway": {"edge"}, "alerting": {"internet"}}.get(name, set()), name
    assert not reaches("provision", "dolphinscheduler")
    # the identity keys: one volume written once, read-only for the services
    assert services["identity-keys"]["command"][:2] == ["platform-provision", "identity-keys"]
    for spec in SERVICES:
        assert "identity:/var/lib/platform/identity:ro" in services[spec.name]["volumes"]
        env = services[spec.name]["environment"]
        assert env[f"{spec.env_prefix}IDENTITY_KEY_FILE"] == f"/var/lib/platform/identity/{spec.name}.key"
        if spec.name != "gateway":
            assert env["KAFKA_SASL_USERNAME"] == spec.name
