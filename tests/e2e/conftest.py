"""The whole platform for browser tests: real PostgreSQL and Kafka (the session's devstack servers), a DS emulator of
its own, all five services as OS processes, and the built portal served by the gateway.

Isolation: every ``platform_stack`` gets unique schemas and roles (``e2e_<service>_<suffix>``), a unique topic prefix
(``KAFKA_TOPIC_PREFIX``, which also prefixes the consumer groups), free ports and its own emulator, so it can run
beside other tests on the same servers. At the end the services and the emulator are stopped and the schemas and
roles dropped; the shared PostgreSQL and Kafka servers are never stopped here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from common.db import drop_service, provision_service
from common.events import Topics
from common.kafka import ensure_topics
from common.migrations import upgrade_sync
from common.testing.processes import SERVICES as ALL_SERVICES
from common.testing.processes import ServiceSpec, free_port, run_async
from ds_emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "portal"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))
HOST = "127.0.0.1"
DS_PROJECT = "e2e-platform"

#: what the portal build depends on: a newer file here than ``dist/index.html`` means the build is stale
PORTAL_SOURCES = ("src", "index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.app.json")


#: the services of the portal's platform (no alerting: the browser test sends no alert)
SERVICES: tuple[ServiceSpec, ...] = tuple(s for s in ALL_SERVICES if s.name != "alerting")


@dataclass
class PlatformStack:
    """A running platform: the gateway's URL (API and portal), the admin token, where the logs are."""

    base_url: str
    admin_token: str
    topic_prefix: str
    log_dir: Path
    emulator: EmulatorProcess
    ports: dict[str, int] = field(default_factory=dict)

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


def _newest_mtime(paths: list[Path]) -> float:
    newest = 0.0
    for p in paths:
        if p.is_dir():
            for f in p.rglob("*"):
                if f.is_file():
                    newest = max(newest, f.stat().st_mtime)
        elif p.exists():
            newest = max(newest, p.stat().st_mtime)
    return newest


def portal_build_is_stale() -> bool:
    index = PORTAL / "dist" / "index.html"
    if not index.exists():
        return True
    return _newest_mtime([PORTAL / p for p in PORTAL_SOURCES]) > index.stat().st_mtime


def ensure_portal_built() -> None:
    """``npm ci`` (when node_modules is missing or older than the lock file) and ``npm run build`` when stale."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the portal cannot be built")
    lock = PORTAL / "package-lock.json"
    marker = PORTAL / "node_modules" / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PORTAL, check=True, timeout=600)
    if portal_build_is_stale():
        subprocess.run([npm, "run", "build"], cwd=PORTAL, check=True, timeout=600)


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


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


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
    emulator: EmulatorProcess,
    ports: dict[str, int],
    admin_token: str,
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
    ui_url = emulator.rest_url + "/ui"
    if spec.name == "publisher":
        env |= {
            "PUBLISHER_DS_REST_URL": emulator.rest_url,
            "PUBLISHER_DS_UI_URL": ui_url,
            "PUBLISHER_DS_TOKEN": emulator.access_token,
            "PUBLISHER_DS_GATEWAY_HOST": HOST,
            "PUBLISHER_DS_GATEWAY_PORT": str(emulator.gateway_port),
            "PUBLISHER_DS_GATEWAY_AUTH_TOKEN": emulator.auth_token,
            "PUBLISHER_DS_PROJECT_NAME": DS_PROJECT,
            "PUBLISHER_DS_USER": "admin",
            "PUBLISHER_DS_TENANT": "default",
            "PUBLISHER_PUBLISH_POLL_INTERVAL_S": "0.5",
        }
    elif spec.name == "definition":
        env["DEFINITION_PUBLISHER_URL"] = f"http://{HOST}:{ports['publisher']}"
    elif spec.name == "history-sync":
        env |= {
            "HISTORY_DS_REST_URL": emulator.rest_url,
            "HISTORY_DS_TOKEN": emulator.access_token,
            # a short cycle so the test sees a run in the last 10 within seconds
            "HISTORY_SYNC_INTERVAL_S": "3",
            "HISTORY_LEASE_S": "2",
            "HISTORY_POLL_INTERVAL_S": "0.5",
            "HISTORY_STALE_AFTER_S": "2",
            "HISTORY_DS_RATE_PER_S": "0",
        }
    elif spec.name == "gateway":
        env |= {
            "GATEWAY_DEFINITION_URL": f"http://{HOST}:{ports['definition']}",
            "GATEWAY_PUBLISHER_URL": f"http://{HOST}:{ports['publisher']}",
            "GATEWAY_HISTORY_URL": f"http://{HOST}:{ports['history-sync']}",
            "GATEWAY_LINEAGE_URL": f"http://{HOST}:{ports['lineage-resolver']}",
            "GATEWAY_BOOTSTRAP_ADMIN_TOKEN": admin_token,
            "GATEWAY_DS_UI_URL": ui_url,
            "GATEWAY_PORTAL_DIR": str(PORTAL / "dist"),
            # the browser test waits on a freshly started history-sync; give composed pages some slack
            "GATEWAY_HISTORY_TIMEOUT_S": "5",
        }
    return env


@pytest.fixture(scope="session")
def platform_stack(postgres_admin_url: str, kafka_bootstrap: str) -> Iterator[PlatformStack]:
    """Start the platform once per session (see the module docstring); yields a :class:`PlatformStack`."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; ./platform test installs it as root)")
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    ensure_portal_built()

    suffix = uuid.uuid4().hex[:8]
    topic_prefix = f"e2e{suffix}."
    admin_token = "e2e_" + secrets.token_urlsafe(24)
    log_dir = ARTIFACTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    for old in log_dir.glob("*.log"):
        old.unlink()

    emulator = EmulatorProcess(log_path=log_dir / "ds-emulator.log")
    emulator.start()
    procs: list[subprocess.Popen[bytes]] = []
    made: list[tuple[str, str]] = []
    try:
        # runs finish in about two seconds
        emulator.configure(submitDelaySeconds=0.2, dispatchDelaySeconds=0.2, taskDurationSeconds=1.0)
        urls: dict[str, tuple[str, str]] = {}

        async def provision() -> None:
            for spec in SERVICES:
                schema, role = f"e2e_{spec.schema}_{suffix}", f"svc_e2e_{spec.schema}_{suffix}"
                db = await provision_service(
                    postgres_admin_url, schema=schema, role=role, password=SecretStr(secrets.token_urlsafe(18))
                )
                made.append((schema, role))
                urls[spec.name] = (db.url.get_secret_value(), schema)
            await ensure_topics(kafka_bootstrap, [f"{topic_prefix}{t}" for t in Topics.ALL], partitions=1)

        run_async(provision())
        for spec in SERVICES:
            if spec.migrations.is_dir():
                url, schema = urls[spec.name]
                upgrade_sync(spec.migrations, url, schema)

        ports = {spec.name: free_port() for spec in SERVICES}
        for spec in SERVICES:
            url, schema = urls[spec.name]
            env = _service_env(
                spec,
                db_url=url,
                schema=schema,
                port=ports[spec.name],
                bootstrap=kafka_bootstrap,
                topic_prefix=topic_prefix,
                emulator=emulator,
                ports=ports,
                admin_token=admin_token,
            )
            log = log_dir / f"{spec.name}.log"
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
            _wait_ready(f"http://{HOST}:{ports[spec.name]}/readyz", spec.name, proc, log)

        yield PlatformStack(
            base_url=f"http://{HOST}:{ports['gateway']}",
            admin_token=admin_token,
            topic_prefix=topic_prefix,
            log_dir=log_dir,
            emulator=emulator,
            ports=ports,
        )
    finally:
        for proc in reversed(procs):
            _stop(proc)
        emulator.stop()

        async def drop() -> None:
            for schema, role in made:
                await drop_service(postgres_admin_url, schema=schema, role=role)

        run_async(drop())
