"""platform-provision: configuration errors, and a real run against PostgreSQL and Kafka (schemas of its own)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from common import provision
from common.db import drop_service
from common.events import Topics
from common.kafka_access import client_options
from common.kafka_acls import Operation, PatternType, describe_acls
from common.provision import ProvisionError, ServiceSpec
from common.testing.kafka_helpers import eventually


def test_every_service_has_its_migrations_in_the_installed_package() -> None:
    for spec in provision.SERVICES:
        path = spec.migrations_dir()
        assert path is not None
        assert path == Path(path).resolve()
        assert path.parent.name == spec.name


def test_missing_configuration_fails_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert provision.main(["all"], env={}) == 1
    assert "PLATFORM_ADMIN_DATABASE_URL is not set" in capsys.readouterr().err
    env = {"PLATFORM_ADMIN_DATABASE_URL": "postgresql://a:b@127.0.0.1:1/x", "KAFKA_BOOTSTRAP_SERVERS": "k:9092"}
    assert provision.main(["all"], env=env) == 1
    assert "PLATFORM_DB_PASSWORD_DEFINITION is not set" in capsys.readouterr().err
    assert provision.main(["migrate", "--service", "nope"], env=env) == 1
    assert "unknown service 'nope'" in capsys.readouterr().err


async def test_wait_migrated_gives_up_after_its_timeout() -> None:
    env = {"PUBLISHER_DATABASE_URL": "postgresql+asyncpg://svc_x:pw@127.0.0.1:1/platform"}
    with pytest.raises(ProvisionError, match="not migrated after 0s"):
        await provision.wait_migrated(provision.service("publisher"), env, wait_s=0, interval=0.01)


async def test_provision_migrate_and_wait_against_real_servers(postgres_admin_url: str, kafka_bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    spec = ServiceSpec("publisher", "publisher", "PUBLISHER_", f"tprov_{suffix}")
    prefix = f"tprov{suffix}."
    env = {
        "PLATFORM_ADMIN_DATABASE_URL": postgres_admin_url,
        spec.password_env: "pw-" + suffix,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": prefix,
        # the administrator the session connects as (devstack's pytest plugin): provision creates the ACLs too
        **{k: v for k, v in os.environ.items() if k.startswith("KAFKA_SASL_")},
    }
    try:
        await provision.provision_all(env, services=[spec], migrate=False)
        from sqlalchemy.engine import make_url

        own = make_url(postgres_admin_url).set(
            drivername="postgresql+asyncpg", username=spec.role, password="pw-" + suffix
        )
        own_env = {
            "PUBLISHER_DATABASE_URL": own.render_as_string(hide_password=False),
            "PUBLISHER_DB_SCHEMA": spec.schema,
        }
        with pytest.raises(ProvisionError, match="not migrated"):
            await provision.wait_migrated(spec, own_env, wait_s=0)
        await provision.migrate_one(spec, own_env)
        await provision.wait_migrated(spec, own_env, wait_s=5)
        heads = provision.head_revisions(spec.migrations_dir() or Path())
        assert await provision.current_revisions(SecretStr(own_env["PUBLISHER_DATABASE_URL"]), spec.schema) == heads
        # idempotent
        await provision.provision_all(env, services=[spec], migrate=True)
        wanted = {f"{prefix}{t}{dlq}" for t in Topics.ALL for dlq in ("", ".dlq")}
        admin = AIOKafkaAdminClient(**client_options(kafka_bootstrap))
        await admin.start()
        try:
            # topic creation is acknowledged by the controller; the broker's metadata catches up shortly after
            for _ in range(50):
                topics = set(await admin.list_topics())
                if wanted <= topics:
                    break
                await asyncio.sleep(0.2)
            assert wanted <= topics
            # each topic and its .dlq with the topic's own partition count (docs/operations.md)
            counts = {d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(sorted(wanted))}
            assert counts == {f"{prefix}{t}{dlq}": Topics.PARTITIONS[t] for t in Topics.ALL for dlq in ("", ".dlq")}, (
                counts
            )
        finally:
            await admin.close()
        if "KAFKA_SASL_USERNAME" in env:
            # exact per-topic ACLs: the lineage producers may write lineage.changed of this prefix, nothing else (the
            # broker learns new ACLs from the controller's metadata shortly after they are created)
            async def held(principal: str) -> set[tuple[Operation, str, PatternType]]:
                bindings = await describe_acls(kafka_bootstrap, principal)
                return {(b.operation, b.resource_name, b.pattern) for b in bindings if prefix in b.resource_name}

            expected = {(Operation.WRITE, f"{prefix}lineage.changed", PatternType.LITERAL)}
            await eventually(lambda: _equals(held("User:lineage-producer"), expected), timeout_s=20)
            publisher = {(op, name) for op, name, _ in await held("User:publisher")}
            assert publisher == {
                (Operation.READ, f"{prefix}publish.requested"),
                (Operation.WRITE, f"{prefix}publish.requested.dlq"),
                (Operation.WRITE, f"{prefix}publish.completed"),
                (Operation.WRITE, f"{prefix}workflow.run.started"),
                (Operation.READ, f"{prefix}publisher"),
            }
    finally:
        await drop_service(postgres_admin_url, schema=spec.schema, role=spec.role)


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)
