"""The whole platform as OS processes for black-box tests (the portal's browser test, the security probes; the fault
tests' ``common.testing.processes`` restarts single services, and lends this module its service table): real
PostgreSQL and Kafka (the session's servers), a DS emulator of its own, the services started with ``python -m
<service> serve`` on free local ports, each with the environment a deployment gives it.

Isolation: every stack gets unique schemas and roles (``<tag>_<service>_<suffix>``), a unique topic prefix
(``KAFKA_TOPIC_PREFIX``, which also prefixes the consumer groups), free ports and its own emulator, so it runs beside
other tests on the same servers. At the end the processes and the emulator stop and the schemas and roles are
dropped; the shared PostgreSQL and Kafka are never stopped here.

Kafka: by default every service connects as the session's administrator (``KAFKA_SASL_*`` of the environment).
``kafka_users`` (service → its SCRAM user's environment, from the local broker) runs each service as its own
principal instead, with the production ACLs (``common.kafka_acls``) created for this stack's topic prefix.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from common.db import drop_service, provision_service
from common.events import Topics
from common.kafka import ensure_topics
from common.kafka_access import KafkaAccess
from common.kafka_acls import acl_bindings, create_acls, describe_acls
from common.migrations import upgrade_sync
from common.testing.processes import HOST, ROOT, SPECS, ServiceSpec, free_port, run_async

#: the services (name, module, env prefix, schema) as common.testing.processes knows them
SERVICES: dict[str, ServiceSpec] = SPECS


@dataclass
class PlatformStack:
    """A running platform: the gateway's URL (API and portal), the admin token, every service's port and process,
    schema and database URL, where the logs are."""

    base_url: str
    admin_token: str
    topic_prefix: str
    log_dir: Path
    emulator: Any
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    databases: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: the DolphinScheduler project the publisher deploys to
    ds_project: str = ""

    def url(self, service: str) -> str:
        return f"http://{HOST}:{self.ports[service]}"

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=30.0
        )

    def log_tails(self, lines: int = 40) -> str:
        """The end of every service log, for failure messages."""
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"----- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _wait_ready(url: str, name: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited during start-up (code {proc.returncode}):\n{_tail(log)}")
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}: {r.text[:300]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.3)
    raise RuntimeError(f"{name} not ready after {timeout_s:.0f}s ({last}):\n{_tail(log)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
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


def _service_env(
    spec: ServiceSpec,
    *,
    db_url: str,
    schema: str,
    port: int,
    bootstrap: str,
    topic_prefix: str,
    emulator: Any,
    ports: Mapping[str, int],
    admin_token: str,
    ds_project: str,
    kafka_user: Mapping[str, str] | None,
) -> dict[str, str]:
    p = spec.prefix
    env = {
        **os.environ,
        f"{p}DATABASE_URL": db_url,
        f"{p}DB_SCHEMA": schema,
        f"{p}HTTP_HOST": HOST,
        f"{p}HTTP_PORT": str(port),
        f"{p}LOG_JSON": "false",
        f"{p}OTEL_EXPORTER_OTLP_ENDPOINT": "",
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
    }
    if kafka_user is not None:
        env = {k: v for k, v in env.items() if not k.startswith("KAFKA_SASL_")} | dict(kafka_user)
        # topics and ACLs are the stack's (the service principal may not create topics)
        env[f"{p}ENSURE_TOPICS"] = "false"
    ui_url = emulator.rest_url + "/ui"
    if spec.name == "publisher":
        env |= {
            "PUBLISHER_DS_REST_URL": emulator.rest_url,
            "PUBLISHER_DS_UI_URL": ui_url,
            "PUBLISHER_DS_TOKEN": emulator.access_token,
            "PUBLISHER_DS_GATEWAY_HOST": HOST,
            "PUBLISHER_DS_GATEWAY_PORT": str(emulator.gateway_port),
            "PUBLISHER_DS_GATEWAY_AUTH_TOKEN": emulator.auth_token,
            "PUBLISHER_DS_PROJECT_NAME": ds_project,
            "PUBLISHER_DS_USER": "admin",
            "PUBLISHER_DS_TENANT": "default",
            "PUBLISHER_PUBLISH_POLL_INTERVAL_S": "0.5",
        }
    elif spec.name == "definition":
        env["DEFINITION_PUBLISHER_URL"] = f"http://{HOST}:{ports['publisher']}" if "publisher" in ports else ""
    elif spec.name == "history-sync":
        env |= {
            "HISTORY_DS_REST_URL": emulator.rest_url,
            "HISTORY_DS_TOKEN": emulator.access_token,
            # a short cycle so a run shows in the last 10 within seconds
            "HISTORY_SYNC_INTERVAL_S": "3",
            "HISTORY_LEASE_S": "2",
            "HISTORY_POLL_INTERVAL_S": "0.5",
            "HISTORY_STALE_AFTER_S": "2",
            "HISTORY_DS_RATE_PER_S": "0",
        }
    elif spec.name == "alerting":
        env |= {
            "ALERTING_DEFINITION_URL": f"http://{HOST}:{ports['definition']}",
            "ALERTING_PUBLISHER_URL": f"http://{HOST}:{ports['publisher']}",
            "ALERTING_HISTORY_URL": f"http://{HOST}:{ports['history-sync']}",
            "ALERTING_DS_UI_URL": ui_url,
        }
    elif spec.name == "gateway":
        env |= {
            "GATEWAY_DEFINITION_URL": f"http://{HOST}:{ports['definition']}",
            "GATEWAY_PUBLISHER_URL": f"http://{HOST}:{ports['publisher']}",
            "GATEWAY_HISTORY_URL": f"http://{HOST}:{ports['history-sync']}",
            "GATEWAY_LINEAGE_URL": f"http://{HOST}:{ports['lineage-resolver']}",
            "GATEWAY_BOOTSTRAP_ADMIN_TOKEN": admin_token,
            "GATEWAY_DS_UI_URL": ui_url,
            "GATEWAY_PORTAL_DIR": str(ROOT / "portal" / "dist"),
            # a freshly started history-sync may be slow to answer composed pages at first
            "GATEWAY_HISTORY_TIMEOUT_S": "5",
        }
    return env


async def _stack_acls(admin: KafkaAccess, prefix: str, users: Mapping[str, str]) -> None:
    """The production ACLs for this prefix, and a wait until the broker applies them (it learns them from the
    controller's metadata)."""
    bindings = acl_bindings(prefix, users)
    await create_acls(admin, bindings)
    deadline = time.monotonic() + 30
    while True:
        held = set(await describe_acls(admin))
        if set(bindings) <= held:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the broker did not apply this stack's ACLs: {sorted(set(bindings) - held)[:5]}")
        await asyncio.sleep(0.2)


@contextmanager
def platform_stack(
    postgres_admin_url: str,
    kafka_bootstrap: str,
    *,
    emulator: Any,
    log_dir: Path,
    tag: str = "stack",
    services: tuple[str, ...] = ("definition", "publisher", "history-sync", "lineage-resolver", "gateway"),
    extra_env: Mapping[str, Mapping[str, str]] | None = None,
    kafka_users: Mapping[str, Mapping[str, str]] | None = None,
    topic_config: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[PlatformStack]:
    """Start the platform (see the module docstring); yields a :class:`PlatformStack`. ``extra_env`` adds to a
    service's environment; ``kafka_users`` runs each service as its own Kafka principal; ``topic_config`` gives a
    topic (without the prefix) configs of its own at creation (``max.message.bytes`` …)."""
    suffix = uuid.uuid4().hex[:8]
    topic_prefix = f"{tag}{suffix}."
    admin_token = f"{tag}_" + secrets.token_urlsafe(24)
    ds_project = f"{tag}-platform"
    log_dir.mkdir(parents=True, exist_ok=True)
    for name in services:
        (log_dir / f"{name}.log").unlink(missing_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    made: list[tuple[str, str]] = []
    try:
        urls: dict[str, tuple[str, str]] = {}
        admin = KafkaAccess.from_env(kafka_bootstrap)

        async def provision() -> None:
            for name in services:
                spec = SERVICES[name]
                schema, role = f"{tag}_{spec.schema}_{suffix}", f"svc_{tag}_{spec.schema}_{suffix}"
                db = await provision_service(
                    postgres_admin_url, schema=schema, role=role, password=SecretStr(secrets.token_urlsafe(18))
                )
                made.append((schema, role))
                urls[name] = (db.url.get_secret_value(), schema)
            plain = [t for t in Topics.ALL if t not in (topic_config or {})]
            await ensure_topics(admin, [f"{topic_prefix}{t}" for t in plain], partitions=1)
            for topic, configs in (topic_config or {}).items():
                from aiokafka.admin import AIOKafkaAdminClient, NewTopic

                client = AIOKafkaAdminClient(**admin.client_options())
                await client.start()
                try:
                    await client.create_topics(
                        [
                            NewTopic(f"{topic_prefix}{name}", 1, 1, topic_configs=dict(configs))
                            for name in (topic, Topics.dlq(topic))
                        ]
                    )
                finally:
                    await client.close()
            if kafka_users is not None:
                await _stack_acls(admin, topic_prefix, {n: u["KAFKA_SASL_USERNAME"] for n, u in kafka_users.items()})

        run_async(provision())
        for name in services:
            spec = SERVICES[name]
            if spec.migrations.is_dir():
                url, schema = urls[name]
                upgrade_sync(spec.migrations, url, schema)

        ports = {name: free_port() for name in services}
        pids: dict[str, int] = {}
        for name in services:
            spec = SERVICES[name]
            url, schema = urls[name]
            env = _service_env(
                spec,
                db_url=url,
                schema=schema,
                port=ports[name],
                bootstrap=kafka_bootstrap,
                topic_prefix=topic_prefix,
                emulator=emulator,
                ports=ports,
                admin_token=admin_token,
                ds_project=ds_project,
                kafka_user=(kafka_users or {}).get(name) if kafka_users is not None else None,
            )
            if kafka_users is not None and name == "gateway":
                env = {k: v for k, v in env.items() if not k.startswith("KAFKA_SASL_")}
            env |= dict((extra_env or {}).get(name, {}))
            log = log_dir / f"{name}.log"
            with log.open("ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", spec.module, "serve"],
                    env=env,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            procs.append(proc)
            pids[name] = proc.pid
            _wait_ready(f"http://{HOST}:{ports[name]}/readyz", name, proc, log)

        yield PlatformStack(
            base_url=f"http://{HOST}:{ports['gateway']}",
            admin_token=admin_token,
            topic_prefix=topic_prefix,
            log_dir=log_dir,
            emulator=emulator,
            ports=ports,
            pids=pids,
            databases=urls,
            ds_project=ds_project,
        )
    finally:
        for proc in reversed(procs):
            _stop(proc)

        async def drop() -> None:
            for schema, role in made:
                await drop_service(postgres_admin_url, schema=schema, role=role)

        run_async(drop())
