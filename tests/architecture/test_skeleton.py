"""Every service is built from the same skeleton (CONTRIBUTING.md, "The skeleton of a service"): the same modules for
the same roles, the command line of ``common.main``, the app of ``common.app`` (the gateway, which has no Kafka,
assembles its own), and the consumer group and topics that ``common.kafka_acls.GRANTS`` gives it."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import pytest

import common.app
import common.main
from common.kafka_acls import GRANTS
from common.migrations import migrations_of

#: service name -> Python package
SERVICES = {
    "definition": "definition",
    "publisher": "publisher",
    "history-sync": "history_sync",
    "lineage-resolver": "lineage_resolver",
    "alerting": "alerting",
    "gateway": "gateway",
}
KAFKA_SERVICES = [name for name in SERVICES if name != "gateway"]
#: a module or a package of that name (a large one may be split into a package)
ROLES = ("config", "main", "__main__", "deps", "service", "routes", "db.tables", "db.repository", "domain")


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_the_modules_of_the_skeleton(name: str) -> None:
    package = SERVICES[name]
    roles = (*ROLES, "subscribers") if name in KAFKA_SERVICES else ROLES
    missing = [r for r in roles if importlib.util.find_spec(f"{package}.{r}") is None]
    assert missing == []
    assert (migrations_of(package) / "env.py").is_file()


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_runs_through_the_shared_command_line(name: str) -> None:
    cli = importlib.import_module(f"{SERVICES[name]}.__main__")
    assert cli.service_main is common.main.service_main
    with pytest.raises(SystemExit) as info:
        cli.main(["--help"])
    assert info.value.code == 0


@pytest.mark.parametrize("name", KAFKA_SERVICES)
def test_a_kafka_service_is_built_by_the_shared_app_with_the_group_of_its_grants(name: str) -> None:
    package = SERVICES[name]
    assert importlib.import_module(f"{package}.main").create_service_app is common.app.create_service_app
    required = {"ds_token": "a-token", "ds_gateway_auth_token": "a-gateway-token"} if name == "publisher" else {}
    settings: Any = importlib.import_module(f"{package}.config").Settings(topic_prefix="", **required)
    assert settings.service_name == name
    assert settings.group_id == GRANTS[name].group
