"""The platform as OS processes, for fault tests and benchmarks that kill, stop and restart parts of it.

``PlatformProcesses`` provisions one schema and role per service on a PostgreSQL server (``common.db``), runs each
service's migrations, creates the topics under a prefix of its own, and starts the services with
``python -m <module> serve`` on free local ports, settings through the environment exactly as a deployment gives
them. Each service can then be killed (``SIGKILL``: no shutdown code runs), stopped (``SIGTERM``) and started again
on the same port with the same schema; its output goes to ``<log dir>/<service>.log`` (appended across restarts).

``ImWebhook`` is a local HTTP server that plays an IM channel (the alerting service's ``webhook`` kind) and keeps
every message it receives.

Nothing here knows DolphinScheduler's implementation: ``DsEndpoint`` says where one is (the emulator in tests).
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from common.db import ServiceDatabase, drop_service, provision_service
from common.events import Topics
from common.kafka import ensure_topics
from common.migrations import upgrade

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[5]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    prefix: str
    schema: str

    @property
    def migrations(self) -> Path:
        return ROOT / "services" / self.name / "migrations"


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("definition", "definition", "DEFINITION_", "definition"),
    ServiceSpec("publisher", "publisher", "PUBLISHER_", "publisher"),
    ServiceSpec("history-sync", "history_sync", "HISTORY_", "history"),
    ServiceSpec("lineage-resolver", "lineage_resolver", "LINEAGE_", "lineage"),
    ServiceSpec("alerting", "alerting", "ALERTING_", "alerting"),
    ServiceSpec("gateway", "gateway", "GATEWAY_", "gateway"),
)
SPECS = {s.name: s for s in SERVICES}


@dataclass(frozen=True)
class DsEndpoint:
    """Where DolphinScheduler is (REST and Python gateway) and as whom the platform works there."""

    rest_url: str
    access_token: str
    gateway_host: str
    gateway_port: int
    gateway_auth_token: str
    project_name: str
    user: str = "admin"
    tenant: str = "default"

    @property
    def ui_url(self) -> str:
        return self.rest_url + "/ui"

    @classmethod
    def of(cls, emulator: Emulator, project_name: str) -> DsEndpoint:
        """A DS emulator (``ds_emulator.EmulatorProcess``, started) as the target, with a project of its own."""
        return cls(
            rest_url=emulator.rest_url,
            access_token=emulator.access_token,
            gateway_host=emulator.host,
            gateway_port=emulator.gateway_port,
            gateway_auth_token=emulator.auth_token,
            project_name=project_name,
        )


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion in a thread of its own (never disturbs a running event loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class ImWebhook:
    """A local IM channel: answers 204 to every POST and keeps the JSON bodies (``messages``)."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        received = self.messages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="im-webhook", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/im"

    def __enter__(self) -> ImWebhook:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class PlatformProcesses:
    """The services as processes (see the module docstring). ``env`` adds or overrides settings per service name
    (``{"publisher": {"PUBLISHER_PUBLISH_LEASE_S": "3"}}``)."""

    admin_url: str
    bootstrap: str
    ds: DsEndpoint
    log_dir: Path
    services: tuple[str, ...] = tuple(s.name for s in SERVICES)
    env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    im_channels: list[dict[str, Any]] = field(default_factory=list)
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    admin_token: str = field(default_factory=lambda: "flt_" + secrets.token_urlsafe(24))
    ports: dict[str, int] = field(default_factory=dict)
    databases: dict[str, ServiceDatabase] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def topic_prefix(self) -> str:
        return f"flt{self.suffix}."

    def url(self, name: str) -> str:
        return f"http://{HOST}:{self.ports[name]}"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log_text(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tails(self, lines: int = 40) -> str:
        """The end of every service log, for failure messages."""
        out = []
        for name in self.services:
            text = self.log_text(name).splitlines()[-lines:]
            out.append(f"----- {name}\n" + "\n".join(text))
        return "\n".join(out)

    # -- set-up ---------------------------------------------------------------------------------------------------

    def provision(self) -> None:
        """Schemas, roles, migrations and topics (run once, before the first ``start``)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)

        async def provision() -> None:
            for name in self.services:
                spec = SPECS[name]
                self.databases[name] = await provision_service(
                    self.admin_url,
                    schema=f"flt_{spec.schema}_{self.suffix}",
                    role=f"svc_flt_{spec.schema}_{self.suffix}",
                    password=SecretStr(secrets.token_urlsafe(18)),
                )
                if spec.migrations.is_dir():
                    db = self.databases[name]
                    await upgrade(spec.migrations, db.url, db.schema)
            await ensure_topics(self.bootstrap, [self.topic(t) for t in Topics.ALL], partitions=1)

        run_async(provision())
        self.ports = {name: free_port() for name in self.services}

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def environment(self, name: str) -> dict[str, str]:
        spec, db = SPECS[name], self.databases[name]
        p, ds = spec.prefix, self.ds
        env = {
            **os.environ,
            f"{p}DATABASE_URL": db.url.get_secret_value(),
            f"{p}DB_SCHEMA": db.schema,
            f"{p}HTTP_HOST": HOST,
            f"{p}HTTP_PORT": str(self.ports[name]),
            f"{p}LOG_JSON": "false",
            f"{p}OTEL_EXPORTER_OTLP_ENDPOINT": "",
            f"{p}OUTBOX_POLL_INTERVAL_S": "0.2",
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_TOPIC_PREFIX": self.topic_prefix,
        }
        others = {s: self.url(s) for s in self.services}
        if name == "publisher":
            env |= {
                "PUBLISHER_DS_REST_URL": ds.rest_url,
                "PUBLISHER_DS_UI_URL": ds.ui_url,
                "PUBLISHER_DS_TOKEN": ds.access_token,
                "PUBLISHER_DS_GATEWAY_HOST": ds.gateway_host,
                "PUBLISHER_DS_GATEWAY_PORT": str(ds.gateway_port),
                "PUBLISHER_DS_GATEWAY_AUTH_TOKEN": ds.gateway_auth_token,
                "PUBLISHER_DS_PROJECT_NAME": ds.project_name,
                "PUBLISHER_DS_USER": ds.user,
                "PUBLISHER_DS_TENANT": ds.tenant,
            }
        elif name == "definition":
            # a SQL task's datasource is checked through the publisher when the task is saved (never the default port)
            env["DEFINITION_PUBLISHER_URL"] = others.get("publisher", "")
        elif name == "history-sync":
            env |= {"HISTORY_DS_REST_URL": ds.rest_url, "HISTORY_DS_TOKEN": ds.access_token}
        elif name == "alerting":
            env |= {
                "ALERTING_CHANNELS": json.dumps(self.im_channels),
                "ALERTING_DS_UI_URL": ds.ui_url,
                "ALERTING_DEFINITION_URL": others.get("definition", ""),
                "ALERTING_PUBLISHER_URL": others.get("publisher", ""),
                "ALERTING_HISTORY_URL": others.get("history-sync", ""),
                "ALERTING_PORTAL_URL": others.get("gateway", ""),
            }
        elif name == "gateway":
            env |= {
                "GATEWAY_DEFINITION_URL": others.get("definition", ""),
                "GATEWAY_PUBLISHER_URL": others.get("publisher", ""),
                "GATEWAY_HISTORY_URL": others.get("history-sync", ""),
                "GATEWAY_LINEAGE_URL": others.get("lineage-resolver", ""),
                "GATEWAY_BOOTSTRAP_ADMIN_TOKEN": self.admin_token,
                "GATEWAY_DS_UI_URL": ds.ui_url,
            }
        return env | dict(self.env.get(name, {}))

    # -- processes ------------------------------------------------------------------------------------------------

    def start(self, names: Iterable[str] | None = None, *, env: Mapping[str, str] | None = None) -> None:
        """Start the services (all, in dependency order, by default) and wait until each answers ``/readyz``."""
        for name in self.services if names is None else names:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                continue
            with self.log_path(name).open("ab") as out:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", SPECS[name].module, "serve"],
                    env=self.environment(name) | dict(env or {}),
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self.wait_ready(name)

    def wait_ready(self, name: str, timeout_s: float = 120.0) -> None:
        proc = self.procs[name]
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited (code {proc.returncode}):\n{self._tail(name)}")
            try:
                r = httpx.get(f"{self.url(name)}/readyz", timeout=3.0)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}: {r.text[:300]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {timeout_s:.0f}s ({last}):\n{self._tail(name)}")

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def kill(self, name: str) -> None:
        """SIGKILL the service's process group: it dies mid-whatever, no shutdown code runs."""
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
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

    def close(self) -> None:
        """Stop every service and drop the schemas and roles (the topics stay: they are prefixed)."""
        for name in reversed(list(self.procs)):
            self.stop(name)

        async def drop() -> None:
            for db in self.databases.values():
                await drop_service(self.admin_url, schema=db.schema, role=db.role)

        run_async(drop())

    def _tail(self, name: str, lines: int = 60) -> str:
        return "\n".join(self.log_text(name).splitlines()[-lines:])

    def __enter__(self) -> PlatformProcesses:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
