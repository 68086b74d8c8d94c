"""pytest fixtures for PostgreSQL, Kafka and the identity provider (Keycloak).

Load with ``pytest_plugins = ["devstack.pytest_plugin"]`` in the repository's root ``conftest.py``.

Session-scoped fixtures:

* ``postgres_admin_url`` – superuser URL ``postgresql://user:pw@host:port/db``.
* ``kafka_bootstrap`` – ``host:port`` of a Kafka broker.
* ``postgres_server`` / ``kafka_server`` – the :class:`PostgresServer` / :class:`KafkaServer` objects,
  for tests that stop, kill or restart a service (skipped when the service is external).
* ``keycloak`` – a started :class:`devstack.keycloak.KeycloakServer` with the platform realm (issuer, client id and
  secret, the demo people, ``admin()`` for the admin REST API); started only for a session that asks for it (a
  minute or more), reusing one that ``devstack up --only keycloak`` or ``./platform up`` started.

A test that stops a local server and fails before it starts it again would take every later test down with it: after
each test that had a local server in reach, a server found stopped is started again (and the test that left it so
fails in its teardown, naming it).

``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` select external services; then nothing is started.
Otherwise the local servers are started once per session (reusing ones that ``devstack up`` already
started) and at session end only the servers this session started are stopped.

The local Kafka authenticates every client (SASL/SCRAM) and authorizes by ACL. The session connects as its
administrator (a super user): the fixture puts ``KAFKA_SASL_USERNAME`` / ``KAFKA_SASL_PASSWORD`` in the environment,
where every Kafka client of the platform finds them (``common.kafka_access``), in the test process and in the service
processes tests start. An external cluster's credentials, if it needs any, come the same way from the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Protocol

import pytest

from devstack.external import (
    DATABASE_URL_ENV,
    KAFKA_BOOTSTRAP_ENV,
    external_database_url,
    external_kafka_bootstrap,
    plain_pg_url,
)

if TYPE_CHECKING:
    from devstack.kafka import KafkaServer
    from devstack.keycloak import KeycloakServer
    from devstack.postgres import PostgresServer


@pytest.fixture(scope="session")
def _devstack_postgres() -> Iterator[PostgresServer | None]:
    if external_database_url() is not None:
        yield None
        return
    from devstack.postgres import PostgresServer

    server = PostgresServer()
    started = server.start()
    try:
        yield server
    finally:
        if started:
            server.stop()


@pytest.fixture(scope="session")
def _devstack_kafka() -> Iterator[KafkaServer | None]:
    if external_kafka_bootstrap() is not None:
        yield None
        return
    from devstack.kafka import KafkaServer

    server = KafkaServer()
    started = server.start()
    env = server.client_env()
    saved = {k: os.environ.get(k) for k in env if k != "KAFKA_BOOTSTRAP_SERVERS"}
    os.environ.update({k: v for k, v in env.items() if k != "KAFKA_BOOTSTRAP_SERVERS"})
    try:
        yield server
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if started:
            server.stop()


@pytest.fixture(scope="session")
def postgres_admin_url(_devstack_postgres: PostgresServer | None) -> str:
    """Superuser URL of the test PostgreSQL, ``postgresql://user:pw@host:port/db``."""
    if _devstack_postgres is None:
        external = external_database_url()
        assert external is not None
        return plain_pg_url(external)
    return _devstack_postgres.url


@pytest.fixture(scope="session")
def postgres_server(_devstack_postgres: PostgresServer | None) -> PostgresServer:
    """The local PostgreSQL server object (tests that stop/kill PostgreSQL need it)."""
    if _devstack_postgres is None:
        pytest.skip(
            f"needs the local PostgreSQL it can stop/restart, but {DATABASE_URL_ENV} selects an external server"
        )
    return _devstack_postgres


@pytest.fixture(scope="session")
def kafka_bootstrap(_devstack_kafka: KafkaServer | None) -> str:
    """Bootstrap servers (``host:port``) of the test Kafka."""
    if _devstack_kafka is None:
        external = external_kafka_bootstrap()
        assert external is not None
        return external
    return _devstack_kafka.bootstrap_servers


@pytest.fixture(scope="session")
def kafka_server(_devstack_kafka: KafkaServer | None) -> KafkaServer:
    """The local Kafka broker object (tests that stop/kill/restart Kafka need it)."""
    if _devstack_kafka is None:
        pytest.skip(
            f"needs the local Kafka broker it can stop/restart, but {KAFKA_BOOTSTRAP_ENV} selects an external cluster"
        )
    return _devstack_kafka


@pytest.fixture(scope="session")
def _devstack_keycloak() -> Iterator[KeycloakServer]:
    from devstack.keycloak import KeycloakServer

    server = KeycloakServer()
    started = server.start()
    try:
        yield server
    finally:
        if started:
            server.stop()


@pytest.fixture(scope="session")
def keycloak(_devstack_keycloak: KeycloakServer) -> KeycloakServer:
    """The local Keycloak with the platform realm (see ``devstack.keycloak``); ``Stack(keycloak=keycloak)`` gives
    the gateway its OIDC settings."""
    return _devstack_keycloak


class _Server(Protocol):
    def is_running(self) -> bool: ...
    def start(self) -> bool: ...


def start_servers_left_stopped(servers: Iterable[_Server | None]) -> list[str]:
    """Start each local server found stopped; the names of their kinds (empty when all were running)."""
    restarted = []
    for server in servers:
        if server is not None and not server.is_running():
            server.start()
            restarted.append(type(server).__name__)
    return restarted


@pytest.fixture(autouse=True)
def _devstack_servers_left_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """Start again, after the test, a local server the test stopped and did not start again (see the module doc)."""
    yield
    in_reach = [
        name for name in ("_devstack_postgres", "_devstack_kafka", "_devstack_keycloak") if name in request.fixturenames
    ]
    left_down = start_servers_left_stopped(request.getfixturevalue(name) for name in in_reach)
    if left_down:
        pytest.fail(f"the test left {', '.join(left_down)} stopped (started again for the tests after it)")
