"""The platform as OS processes: the one launcher behind ``./platform up``, the black-box tests (browser, security,
state machine, faults, observability) and the benchmarks.

A :class:`Stack` provisions one schema and role per service on a PostgreSQL server (``common.db``), runs each
service's migrations, creates the topics (and, with ``kafka_users``, the production ACLs), and starts each service
with ``python -m <module> serve`` (or a command of the caller's), settings through the environment exactly as a
deployment gives them. It waits for ``/readyz``, kills (``SIGKILL``), stops (``SIGTERM``) and restarts single
services on the same port and schema, and stops everything in reverse order. Output goes to ``<log dir>/<name>.log``
(appended across restarts).

``replicas`` runs several instances of a service (``{"publisher": 2}``), as a scaled-out deployment does: the first
instance is named as the service (``publisher``), the others ``<service>-<i>`` (``publisher-2``); each has its own
port, log and pid, an instance id of its own where the service reads one (``PUBLISHER_INSTANCE_ID``,
``HISTORY_REPLICA_ID``) and its name as its Kafka client id (``<PREFIX>KAFKA_CLIENT_ID``), while the schema and the
consumer group are the service's. Instance ``i`` of a service calls instance ``i`` of another one (or its last, when
that has fewer), so killing every ``-2`` instance leaves the first ones talking to each other. ``partitions`` sets
how many partitions the stack's topics get (default: the production counts for ``persistent``, 1 otherwise; a stack
with replicas wants at least as many as its largest consumer group).

Two lifetimes:

- ephemeral (tests, benchmarks): schemas and roles ``<tag>_<schema>_<suffix>``, the topic prefix
  ``<tag><suffix>.`` (it also prefixes the consumer groups), free ports; :meth:`close` stops the processes and drops
  the schemas and roles, so a stack runs beside others on the same servers;
- ``persistent`` (``./platform up``): the production schema and role names, no topic prefix, the ports given, a pid
  file per service next to its log; a running service is reused and the processes outlive this object
  (``./platform down`` stops them with :func:`stop_pid_file`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from common.db import ServiceDatabase, drop_service, provision_service
from common.provision import SERVICES, ServiceSpec
from devstack._proc import DevstackError, kill_tree, process_alive, read_pid, tail, wait_gone, wait_http
from devstack.paths import HOST, repo_root

SPECS: dict[str, ServiceSpec] = {s.name: s for s in SERVICES}
#: which other services each one calls (``<PREFIX><OTHER PREFIX>URL``)
CALLS: dict[str, tuple[str, ...]] = {
    "definition": ("publisher",),
    "alerting": ("definition", "publisher", "history-sync"),
    "gateway": ("definition", "publisher", "history-sync", "lineage-resolver"),
}

#: the outbox relays' fallback poll while idle, short for tests
QUICK_OUTBOX = {s.name: {f"{s.env_prefix}OUTBOX_POLL_INTERVAL_S": "0.2"} for s in SERVICES}
#: short cycles for tests: a run shows in history-sync's last 10 within seconds, a publish is picked up at once
QUICK_CYCLES: dict[str, dict[str, str]] = {
    "publisher": {"PUBLISHER_PUBLISH_POLL_INTERVAL_S": "0.5"},
    "history-sync": {
        "HISTORY_SYNC_INTERVAL_S": "3",
        "HISTORY_LEASE_S": "2",
        "HISTORY_POLL_INTERVAL_S": "0.5",
        "HISTORY_STALE_AFTER_S": "2",
        "HISTORY_DS_RATE_PER_S": "0",
    },
    # a freshly started history-sync may be slow to answer composed pages at first
    "gateway": {"GATEWAY_HISTORY_TIMEOUT_S": "5"},
}


def merge_env(*layers: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Per-service settings, later layers winning."""
    out: dict[str, dict[str, str]] = {}
    for layer in layers:
        for name, env in layer.items():
            out.setdefault(name, {}).update(env)
    return out


QUICK = merge_env(QUICK_OUTBOX, QUICK_CYCLES)

#: for the tests that break things (faults, replicas): short DS timeouts, retries and backoffs, and alerts delivered
#: within a second (production defaults are seconds to minutes)
QUICK_RECOVERY: dict[str, dict[str, str]] = {
    "publisher": {
        "PUBLISHER_PUBLISH_POLL_INTERVAL_S": "0.3",
        "PUBLISHER_DS_REST_TIMEOUT_S": "3",
        "PUBLISHER_DS_GATEWAY_TIMEOUT_S": "5",
        "PUBLISHER_DS_RETRY_ATTEMPTS": "3",
        "PUBLISHER_DS_RETRY_INITIAL_S": "0.2",
        "PUBLISHER_DS_RETRY_MAX_S": "0.5",
        "PUBLISHER_RECONCILE_INTERVAL_S": "0.5",
        "PUBLISHER_RECONCILE_BACKOFF_INITIAL_S": "1",
        "PUBLISHER_RECONCILE_BACKOFF_MAX_S": "2",
    },
    "alerting": {
        "ALERTING_DELIVERY_POLL_INTERVAL_S": "0.3",
        "ALERTING_HISTORY_POLL_INTERVAL_S": "0",
        "ALERTING_INSPECTION_ENABLED": "false",
        "ALERTING_LANGUAGE": "en",
    },
    "gateway": {"GATEWAY_KEY_CACHE_TTL_S": "0"},
}


def fresh_log_dir(artifacts: Path) -> Path:
    """``<artifacts>/logs``, created, without the logs of an earlier run."""
    log_dir = artifacts / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()
    return log_dir


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion in a thread of its own (never disturbs a running event loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class IdentityProvider(Protocol):
    """Where the gateway signs people in (``devstack.keycloak.KeycloakServer``)."""

    def gateway_env(self) -> dict[str, str]: ...


class Emulator(Protocol):
    @property
    def rest_url(self) -> str: ...
    @property
    def access_token(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def gateway_port(self) -> int: ...
    @property
    def auth_token(self) -> str: ...


@dataclass(frozen=True)
class DsEndpoint:
    """Where DolphinScheduler is (REST and Python gateway) and as whom the platform works there. ``kind``: ``real``,
    ``emulator`` or ``external``."""

    rest_url: str
    access_token: str
    gateway_host: str
    gateway_port: int
    gateway_auth_token: str
    project_name: str
    user: str = "admin"
    tenant: str = "default"
    kind: str = "emulator"

    @property
    def ui_url(self) -> str:
        return self.rest_url + "/ui"

    @classmethod
    def of(cls, emulator: Emulator, project_name: str) -> DsEndpoint:
        """A started DS emulator (``ds_emulator.EmulatorProcess``) as the target, with a project of its own."""
        return cls(
            rest_url=emulator.rest_url,
            access_token=emulator.access_token,
            gateway_host=emulator.host,
            gateway_port=emulator.gateway_port,
            gateway_auth_token=emulator.auth_token,
            project_name=project_name,
        )

    def env(self, prefix: str) -> dict[str, str]:
        """The DS settings of a service (those that read none ignore them)."""
        return {
            f"{prefix}DS_REST_URL": self.rest_url,
            f"{prefix}DS_UI_URL": self.ui_url,
            f"{prefix}DS_TOKEN": self.access_token,
            f"{prefix}DS_GATEWAY_HOST": self.gateway_host,
            f"{prefix}DS_GATEWAY_PORT": str(self.gateway_port),
            f"{prefix}DS_GATEWAY_AUTH_TOKEN": self.gateway_auth_token,
            f"{prefix}DS_PROJECT_NAME": self.project_name,
            f"{prefix}DS_USER": self.user,
            f"{prefix}DS_TENANT": self.tenant,
        }


@dataclass
class Stack:
    """The platform as processes (see the module docstring). ``env`` adds or overrides settings per service name
    (``{"publisher": {"PUBLISHER_PUBLISH_LEASE_S": "3"}}``; an instance's name, ``publisher-2``, adds settings of that
    instance only); ``kafka_users`` (service → its SCRAM user's
    ``KAFKA_SASL_*``) runs each service as its own Kafka principal under the production ACLs; ``topic_config`` gives a
    topic (without the prefix) configs of its own at creation; ``identity_dir`` makes the services' identity keys
    there (otherwise the environment's ``IDENTITY_*`` apply, as the test session sets them); ``keycloak`` (the
    ``keycloak`` fixture, a ``devstack.keycloak.KeycloakServer``) gives the gateway its OIDC settings
    (``GATEWAY_OIDC_ISSUER``, ``_CLIENT_ID``, ``_CLIENT_SECRET``, ``_GROUP_ROLES``), which ``env`` can override."""

    admin_url: str
    bootstrap: str
    ds: DsEndpoint | None
    log_dir: Path
    services: tuple[str, ...] = tuple(SPECS)
    env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    tag: str = "stack"
    persistent: bool = False
    #: the emulator behind ``ds`` when the caller started one (its fault injection, for tests)
    emulator: Any = None
    admin_token: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    passwords: Mapping[str, str] = field(default_factory=dict)
    kafka_users: Mapping[str, Mapping[str, str]] | None = None
    topic_config: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    identity_dir: Path | None = None
    log_json: bool = False
    #: create the topics (and ACLs); without, each service creates its own at start (``<PREFIX>ENSURE_TOPICS``)
    topics: bool = True
    #: instances per service name (default 1; see the module docstring)
    replicas: Mapping[str, int] = field(default_factory=dict)
    #: partitions of the topics the stack creates: one count, or per topic (without the prefix); None: the
    #: production counts (``Topics.PARTITIONS``) when ``persistent``, else 1
    partitions: int | Mapping[str, int] | None = None
    #: the identity provider the gateway signs people in with (None: API keys only)
    keycloak: IdentityProvider | None = None
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    databases: dict[str, ServiceDatabase] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.admin_token = self.admin_token or f"{self.tag}_" + secrets.token_urlsafe(24)
        unknown = set(self.replicas) - set(self.services)
        if unknown or any(n < 1 for n in self.replicas.values()):
            raise DevstackError(f"replicas: at least 1 instance of services of the stack, not {dict(self.replicas)}")

    # -- instances ------------------------------------------------------------------------------------------------

    def instances(self, service: str | None = None) -> list[str]:
        """The instance names of ``service`` (of every service, in start order, by default): the service's own name,
        then ``<service>-2`` …"""
        names = self.services if service is None else (service,)
        return [n if i == 1 else f"{n}-{i}" for n in names for i in range(1, self.replicas.get(n, 1) + 1)]

    def service_of(self, instance: str) -> str:
        """The service an instance belongs to."""
        if instance in SPECS:
            return instance
        service, _, index = instance.rpartition("-")
        if service in SPECS and index.isdigit():
            return service
        raise DevstackError(f"no service instance {instance!r}")

    def index_of(self, instance: str) -> int:
        """1 for the service's first instance, ``i`` for ``<service>-<i>``."""
        return 1 if instance in SPECS else int(instance.rpartition("-")[2])

    def peer(self, instance: str, other: str) -> str:
        """The instance of service ``other`` that ``instance`` calls: the one of the same index, or the last."""
        return self.instances(other)[min(self.index_of(instance), self.replicas.get(other, 1)) - 1]

    # -- names ----------------------------------------------------------------------------------------------------

    @property
    def topic_prefix(self) -> str:
        return "" if self.persistent else f"{self.tag}{self.suffix}."

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def url(self, name: str) -> str:
        return f"http://{HOST}:{self.ports[name]}"

    @property
    def ds_project(self) -> str:
        """The DolphinScheduler project the publisher deploys to."""
        return self.ds.project_name if self.ds is not None else ""

    @property
    def base_url(self) -> str:
        """The gateway: the public API and the portal."""
        return self.url("gateway")

    def client(self, token: str | None = None) -> httpx.Client:
        """A client of the gateway's API (as the bootstrap admin unless ``token`` says otherwise)."""
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0)

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log_text(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tails(self, lines: int = 40) -> str:
        """The end of every service log, for failure messages."""
        return "\n".join(f"----- {n}\n" + tail(self.log_path(n), lines) for n in self.instances())

    # -- set-up ---------------------------------------------------------------------------------------------------

    def provision(self) -> None:
        """Schemas, roles, migrations, topics and ACLs (before the first ``start``; idempotent); ports."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if not self.persistent:
            for name in self.instances():
                self.log_path(name).unlink(missing_ok=True)
        if self.identity_dir is not None:
            from common.identity import generate_identity_keys

            generate_identity_keys(self.identity_dir, self.services)
        run_async(self._provision())
        for name in self.instances():
            self.ports.setdefault(name, free_port())

    async def _provision(self) -> None:
        from common.events import Topics
        from common.kafka import ensure_topics
        from common.kafka_access import KafkaAccess
        from common.migrations import upgrade

        for name in self.services:
            spec = SPECS[name]
            schema = spec.schema if self.persistent else f"{self.tag}_{spec.schema}_{self.suffix}"
            password = self.passwords.get(name) or secrets.token_urlsafe(18)
            db = await provision_service(
                self.admin_url, schema=schema, role=f"svc_{schema}", password=SecretStr(password)
            )
            self.databases[name] = db
            migrations = spec.migrations_dir()
            if migrations is not None:
                await upgrade(migrations, db.url, db.schema)
        if not self.topics:
            return
        admin = KafkaAccess.from_env(self.bootstrap)
        wanted = self.partitions if self.partitions is not None else (Topics.PARTITIONS if self.persistent else 1)
        counts = {t: wanted if isinstance(wanted, int) else wanted.get(t, 1) for t in Topics.ALL}
        plain = {self.topic(t): n for t, n in counts.items() if t not in self.topic_config}
        await ensure_topics(admin, plain, partitions=plain)
        if self.topic_config:
            await _create_topics(admin, {self.topic(t): (c, counts.get(t, 1)) for t, c in self.topic_config.items()})
        if self.kafka_users is not None:
            users = {n: u["KAFKA_SASL_USERNAME"] for n, u in self.kafka_users.items()}
            await _grant(admin, self.topic_prefix, users)
        elif self.persistent and admin.authenticated:
            await _grant(admin, "", None)

    def environment(self, name: str) -> dict[str, str]:
        """The environment of instance ``name`` (a service's name is its first instance)."""
        service = self.service_of(name)
        spec, db = SPECS[service], self.databases[service]
        p = spec.env_prefix
        env = dict(os.environ)
        if self.kafka_users is not None:
            # the service's own principal, or none (the gateway uses no Kafka); topics and ACLs are the stack's
            env = {k: v for k, v in env.items() if not k.startswith("KAFKA_SASL_")}
            env |= dict(self.kafka_users.get(service, {}))
            env[f"{p}ENSURE_TOPICS"] = "false"
        env |= {
            f"{p}DATABASE_URL": db.url.get_secret_value(),
            f"{p}DB_SCHEMA": db.schema,
            f"{p}HTTP_HOST": HOST,
            f"{p}HTTP_PORT": str(self.ports[name]),
            f"{p}LOG_JSON": str(self.log_json).lower(),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_TOPIC_PREFIX": self.topic_prefix,
        }
        if not self.persistent:
            env[f"{p}OTEL_EXPORTER_OTLP_ENDPOINT"] = ""
        if self.replicas.get(service, 1) > 1:
            # on one host the default ids (the host name) would be the same for every instance
            env |= {"PUBLISHER_INSTANCE_ID": name} if service == "publisher" else {}
            env |= {"HISTORY_REPLICA_ID": name} if service == "history-sync" else {}
            env[f"{p}KAFKA_CLIENT_ID"] = name  # the consumer groups' members say which instance they are
        if self.identity_dir is not None:
            env["IDENTITY_TRUSTED_KEYS_DIR"] = str(self.identity_dir / "trusted")
            env[f"{p}IDENTITY_KEY_FILE"] = str(self.identity_dir / f"{service}.key")
        if self.ds is not None:
            env |= self.ds.env(p)
        for other in CALLS.get(service, ()):
            env[f"{p}{SPECS[other].env_prefix}URL"] = self.url(self.peer(name, other)) if other in self.ports else ""
        if service == "alerting":
            env["ALERTING_PORTAL_URL"] = self.url(self.peer(name, "gateway")) if "gateway" in self.ports else ""
        if service == "gateway":
            env["GATEWAY_BOOTSTRAP_ADMIN_TOKEN"] = self.admin_token
            env["GATEWAY_PORTAL_DIR"] = str(repo_root() / "portal" / "dist")
            if self.keycloak is not None:
                env |= self.keycloak.gateway_env()
        return env | dict(self.env.get(service, {})) | (dict(self.env.get(name, {})) if name != service else {})

    # -- processes ------------------------------------------------------------------------------------------------

    def start(self, names: Iterable[str] | None = None, *, env: Mapping[str, str] | None = None) -> None:
        """Start the service instances (all, in dependency order, by default; a service's name is its first
        instance), together, and wait until each answers ``/readyz``."""
        started = []
        for name in self.instances() if names is None else names:
            module = SPECS[self.service_of(name)].module
            command = [sys.executable, "-m", module, "serve"]
            before = self.procs.get(name)
            self.spawn(name, command, self.environment(name) | dict(env or {}), wait=False)
            if self.procs.get(name) is not before:  # spawned now (not one found running)
                started.append(name)
        for name in started:
            self.wait_ready(name)

    def spawn(self, name: str, command: Sequence[str], env: Mapping[str, str], *, wait: bool = True) -> int:
        """Run ``command`` as ``name`` (unless it runs) and, with ``wait``, wait until its ``/readyz`` answers (on
        ``ports[name]``); its pid."""
        pid_file = self.log_dir / f"{name}.pid"
        proc = self.procs.get(name)
        if proc is not None and proc.poll() is None:
            return proc.pid
        if self.persistent and (pid := read_pid(pid_file)) is not None and process_alive(pid):
            return pid
        with self.log_path(name).open("ab") as out:
            proc = subprocess.Popen(
                list(command),
                env=dict(env),
                cwd=repo_root(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = proc
        if self.persistent:
            pid_file.write_text(str(proc.pid))
        if wait:
            self.wait_ready(name)
        return proc.pid

    def wait_ready(self, name: str, timeout_s: float = 120.0) -> None:
        wait_http(f"{self.url(name)}/readyz", name, timeout_s, self.procs[name].pid, self.log_path(name))

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def kill(self, name: str) -> None:
        """SIGKILL the service's process group: it dies mid-whatever, no shutdown code runs."""
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop(self, name: str) -> None:
        """SIGTERM (a graceful stop), SIGKILL after 20 s."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def stop_all(self) -> None:
        """Stop every process, last started first."""
        for name in reversed(list(self.procs)):
            self.stop(name)

    def close(self) -> None:
        """Stop every process and drop the schemas and roles of an ephemeral stack (its topics stay: they are
        prefixed; :meth:`drop_topics` removes them)."""
        self.stop_all()
        if self.persistent:
            return

        async def drop() -> None:
            for db in self.databases.values():
                await drop_service(self.admin_url, schema=db.schema, role=db.role)

        run_async(drop())

    def drop_topics(self) -> None:
        async def drop() -> None:
            from aiokafka.admin import AIOKafkaAdminClient

            from common.kafka_access import client_options

            admin = AIOKafkaAdminClient(**client_options(self.bootstrap))
            await admin.start()
            try:
                ours = [t for t in await admin.list_topics() if t.startswith(self.topic_prefix)]
                if ours:
                    await admin.delete_topics(ours)
            finally:
                await admin.close()

        if self.topic_prefix:
            run_async(drop())

    @contextmanager
    def started(self) -> Iterator[Stack]:
        """Provision, start every service, and close at the end."""
        with self:
            self.provision()
            self.start()
            yield self

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stop_pid_file(pid_file: Path, name: str) -> None:
    """Stop the process group a pid file names (SIGTERM, SIGKILL after 20 s) and remove the file."""
    pid = read_pid(pid_file)
    if pid is not None and process_alive(pid):
        print(f"stopping {name} (pid {pid}) …", flush=True)
        try:
            os.killpg(pid, signal.SIGTERM)
            if not wait_gone(pid, 20):
                kill_tree(pid)
        except ProcessLookupError:  # no longer the leader of its group (it ended and the pid is in use by another)
            pass
    pid_file.unlink(missing_ok=True)


async def _create_topics(admin: Any, configs: Mapping[str, tuple[Mapping[str, str], int]]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from common.events import Topics

    client = AIOKafkaAdminClient(**admin.client_options())
    await client.start()
    try:
        new = [
            NewTopic(n, partitions, 1, topic_configs=dict(c))
            for t, (c, partitions) in configs.items()
            for n in (t, Topics.dlq(t))
        ]
        await client.create_topics(new)
    finally:
        await client.close()


async def _grant(admin: Any, prefix: str, users: Mapping[str, str] | None) -> None:
    """The production ACLs for ``prefix``, and a wait until the broker applies them (it learns them from the
    controller's metadata)."""
    from common.kafka_acls import acl_bindings, create_acls, describe_acls

    bindings = acl_bindings(prefix, users)
    await create_acls(admin, bindings)
    deadline = time.monotonic() + 30
    while not set(bindings) <= (held := set(await describe_acls(admin))):
        if time.monotonic() > deadline:
            raise DevstackError(f"the broker did not apply the stack's ACLs: {sorted(set(bindings) - held)[:5]}")
        await asyncio.sleep(0.2)
