"""``platform-up`` / ``platform-down``: the whole platform on one machine, without Docker.

``up`` starts (or reuses) PostgreSQL and Kafka, the DolphinScheduler target (a real standalone server by default,
the emulator with ``--ds emulator``, or an external one named by ``PLATFORM_DS_REST_URL``), provisions one schema and
role per service and runs its migrations, creates the topics, then starts every service (uvicorn, in the
background, logs in the state directory), waits until each one is ready and refills the definition service's read
projections from lineage-resolver and history-sync (state from an earlier ``up`` may predate them). It prints the
portal URL, the admin
API token and where DolphinScheduler's UI is. Unless told ``--no-observability`` it also starts the trace backend
(Zipkin, which every service exports its spans to) and Prometheus (scraping every service, loaded with
``deploy/prometheus/rules.yml``) and prints their URLs (``devstack.observability``). ``down`` stops the services, the
DS it started, the observability stack and the local servers.

Generated secrets (database passwords, the admin API token) live in ``<state dir>/platform/secrets.json`` (mode
0600) so a second ``up`` reuses them; each service's identity key (``common.identity``) in
``<state dir>/platform/identity/`` (public keys in ``identity/trusted/``). Each service connects to the local Kafka as
its own SCRAM user (``devstack.kafka.PRINCIPALS``), and ``up`` gives every principal exactly its topics' ACLs
(``common.kafka_acls``); with an external Kafka (``KAFKA_BOOTSTRAP_SERVERS``) the services use the ``KAFKA_SASL_*``
credentials of the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from devstack._proc import DevstackError, kill_tree, process_alive, read_pid, wait_gone, wait_http
from devstack.observability import ZIPKIN_VERSION, Prometheus, ScrapeTarget, Zipkin
from devstack.paths import HOST, env_port, repo_root, state_dir


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    env_prefix: str
    port: int
    schema: str

    @property
    def migrations(self) -> Path:
        return repo_root() / "services" / self.name / "migrations"


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("definition", "definition", "DEFINITION_", 8101, "definition"),
    ServiceSpec("publisher", "publisher", "PUBLISHER_", 8102, "publisher"),
    ServiceSpec("history-sync", "history_sync", "HISTORY_", 8103, "history"),
    ServiceSpec("lineage-resolver", "lineage_resolver", "LINEAGE_", 8104, "lineage"),
    ServiceSpec("alerting", "alerting", "ALERTING_", 8105, "alerting"),
    ServiceSpec("gateway", "gateway", "GATEWAY_", 8080, "gateway"),
)

DS_PROJECT = "workflow-platform"


def platform_dir() -> Path:
    d = state_dir() / "platform"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _secrets() -> dict[str, str]:
    path = platform_dir() / "secrets.json"
    data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for spec in SERVICES:
        key = f"db_password:{spec.name}"
        if key not in data:
            data[key] = secrets.token_urlsafe(18)
            changed = True
    if "admin_token" not in data:
        data["admin_token"] = "adm_" + secrets.token_urlsafe(24)
        changed = True
    if changed:
        path.write_text(json.dumps(data, indent=2))
        path.chmod(0o600)
    return data


@dataclass(frozen=True)
class DsTarget:
    kind: str  # "real" | "emulator" | "external"
    rest_url: str
    ui_url: str
    access_token: str
    gateway_host: str
    gateway_port: int
    gateway_auth_token: str
    user: str
    tenant: str
    project_name: str


def _ds_from_env() -> DsTarget | None:
    url = os.environ.get("PLATFORM_DS_REST_URL")
    if not url:
        return None
    return DsTarget(
        kind="external",
        rest_url=url.rstrip("/"),
        ui_url=url.rstrip("/") + "/ui",
        access_token=os.environ.get("PLATFORM_DS_TOKEN", ""),
        gateway_host=os.environ.get("PLATFORM_DS_GATEWAY_HOST", "127.0.0.1"),
        gateway_port=int(os.environ.get("PLATFORM_DS_GATEWAY_PORT", "25333")),
        gateway_auth_token=os.environ.get("PLATFORM_DS_GATEWAY_AUTH_TOKEN", ""),
        user=os.environ.get("PLATFORM_DS_USER", "platform"),
        tenant=os.environ.get("PLATFORM_DS_TENANT", "default"),
        project_name=os.environ.get("PLATFORM_DS_PROJECT", DS_PROJECT),
    )


def _start_emulator() -> DsTarget:
    pid_file = platform_dir() / "ds-emulator.pid"
    info_file = platform_dir() / "ds-emulator.json"
    pid = read_pid(pid_file)
    if pid is not None and process_alive(pid) and info_file.exists():
        info = json.loads(info_file.read_text())
    else:
        rest_port, gw_port = 12345, 25333
        access = "emu-" + secrets.token_hex(16)
        gw_token = "emu-gw-" + secrets.token_hex(12)
        log = (platform_dir() / "ds-emulator.log").open("ab")
        env = {**os.environ, "DS_EMULATOR_ACCESS_TOKEN": access, "DS_EMULATOR_GATEWAY_AUTH_TOKEN": gw_token}
        proc = subprocess.Popen(
            [sys.executable, "-m", "ds_emulator", "--rest-port", str(rest_port), "--gateway-port", str(gw_port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        pid_file.write_text(str(proc.pid))
        info = {"rest_port": rest_port, "gateway_port": gw_port, "access": access, "gw_token": gw_token}
        info_file.write_text(json.dumps(info))
        info_file.chmod(0o600)
        wait_http(f"http://{HOST}:{rest_port}/dolphinscheduler/actuator/health", "DS emulator", 120, proc.pid)
    rest = f"http://{HOST}:{info['rest_port']}/dolphinscheduler"
    return DsTarget(
        kind="emulator",
        rest_url=rest,
        ui_url=rest + "/ui",
        access_token=info["access"],
        gateway_host=HOST,
        gateway_port=int(info["gateway_port"]),
        gateway_auth_token=info["gw_token"],
        user="admin",
        tenant="default",
        project_name=DS_PROJECT,
    )


def _start_real_ds() -> DsTarget:
    from devstack import dolphin

    ds = dolphin.DolphinStandalone()
    ds.ensure_downloaded()
    if not ds.is_running():
        ds.start()
    boot = dolphin.bootstrap_platform(ds, project_name=DS_PROJECT)
    return DsTarget(
        kind="real",
        rest_url=ds.rest_url,
        ui_url=ds.rest_url + "/ui",
        access_token=boot.access_token,
        gateway_host=HOST,
        gateway_port=ds.gateway_port,
        gateway_auth_token=ds.gateway_auth_token,
        user=boot.user_name,
        tenant=boot.tenant_code,
        project_name=boot.project_name,
    )


def _start_ds(kind: str) -> DsTarget:
    """``real``: a real standalone server or an error; ``emulator``; ``auto``: real when it can be assembled here."""
    if kind in ("real", "auto"):
        from devstack.dolphin import DolphinUnavailableError

        print("starting DolphinScheduler (real standalone server) …", flush=True)
        try:
            return _start_real_ds()
        except DolphinUnavailableError as exc:
            if kind == "real":
                raise DevstackError(str(exc)) from exc
            first = str(exc).splitlines()[0]
            print(f"  a real DolphinScheduler cannot be assembled here ({first}); using the DS emulator.")
            print("  set DEVSTACK_DS_DIST to an official bin tarball, or PLATFORM_DS_REST_URL to an external DS.")
    print("starting the DolphinScheduler emulator …", flush=True)
    return _start_emulator()


def identity_dir() -> Path:
    """The services' identity keys (made once, kept across ``up``)."""
    from common.identity import generate_identity_keys

    directory = platform_dir() / "identity"
    generate_identity_keys(directory, [s.name for s in SERVICES])
    return directory


async def _provision(admin_url: str, bootstrap: str, secret: dict[str, str]) -> dict[str, str]:
    from pydantic import SecretStr

    from common.db import provision_service
    from common.events import Topics
    from common.kafka import ensure_topics
    from common.kafka_access import KafkaAccess
    from common.kafka_acls import acl_bindings, create_acls
    from common.migrations import upgrade

    urls: dict[str, str] = {}
    for spec in SERVICES:
        db = await provision_service(
            admin_url,
            schema=spec.schema,
            role=f"svc_{spec.schema}",
            password=SecretStr(secret[f"db_password:{spec.name}"]),
        )
        if spec.migrations.is_dir():
            await upgrade(spec.migrations, db.url, db.schema)
        urls[spec.name] = db.url.get_secret_value()
    admin = KafkaAccess.from_env(bootstrap)
    await ensure_topics(admin, Topics.ALL)
    if admin.authenticated:
        await create_acls(admin, acl_bindings())
    return urls


def _base_env(spec: ServiceSpec) -> dict[str, str]:
    """This process's environment and the service's own Kafka principal on the local broker (the administrator's
    credentials, which ``ensure_infra`` put here, are not passed on; the gateway uses no Kafka). With an external
    Kafka the environment's ``KAFKA_SASL_*`` stay."""
    from devstack.external import external_kafka_bootstrap

    if external_kafka_bootstrap() is not None:
        return dict(os.environ)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_SASL_")}
    if spec.name != "gateway":
        from devstack.kafka import KafkaServer

        env.update(KafkaServer().client_env(spec.name))
    return env


@dataclass(frozen=True)
class Observability:
    """Where the local trace backend and Prometheus answer (``up`` passes ``None`` instead when told
    ``--no-observability``)."""

    zipkin: Zipkin
    prometheus_port: int


def _observability_ports() -> tuple[int, int]:
    from devstack.observability import DEFAULT_PROMETHEUS_PORT, DEFAULT_ZIPKIN_PORT

    return (
        env_port("DEVSTACK_ZIPKIN_PORT", DEFAULT_ZIPKIN_PORT),
        env_port("DEVSTACK_PROMETHEUS_PORT", DEFAULT_PROMETHEUS_PORT),
    )


def _start_zipkin() -> Observability:
    zipkin_port, prometheus_port = _observability_ports()
    zipkin = Zipkin(zipkin_port)
    print(f"starting the trace backend (Zipkin {ZIPKIN_VERSION}) on {HOST}:{zipkin_port} …", flush=True)
    zipkin.start()
    return Observability(zipkin, prometheus_port)


def scrape_targets(ds: DsTarget | None = None) -> list[ScrapeTarget]:
    """Every service's ``/metrics`` (job ``platform``, label ``service``), and a real DolphinScheduler's API server
    (Spring Boot's Prometheus endpoint; the emulator has no metrics)."""
    targets = [ScrapeTarget("platform", f"{HOST}:{s.port}", {"service": s.name}) for s in SERVICES]
    if ds is not None and ds.kind == "real":
        parts = urlsplit(ds.rest_url)
        targets.append(
            ScrapeTarget(
                "dolphinscheduler",
                parts.netloc,
                {"service": "dolphinscheduler-api"},
                metrics_path=parts.path.rstrip("/") + "/actuator/prometheus",
            )
        )
    return targets


def _start_prometheus(obs: Observability, ds: DsTarget) -> Prometheus:
    prometheus = Prometheus(scrape_targets(ds), port=obs.prometheus_port)
    print(f"starting Prometheus on {HOST}:{obs.prometheus_port} (rules: deploy/prometheus/rules.yml) …", flush=True)
    if prometheus.is_running():
        prometheus.reload()
    prometheus.start()
    return prometheus


def _service_env(
    spec: ServiceSpec,
    db_url: str,
    bootstrap: str,
    ds: DsTarget,
    secret: dict[str, str],
    obs: Observability | None = None,
) -> dict[str, str]:
    p = spec.env_prefix
    keys = identity_dir()
    env = {
        **_base_env(spec),
        f"{p}DATABASE_URL": db_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        # topics and ACLs are provisioned by `up` with the Kafka administrator
        f"{p}ENSURE_TOPICS": "false",
        "IDENTITY_TRUSTED_KEYS_DIR": str(keys / "trusted"),
        f"{p}IDENTITY_KEY_FILE": str(keys / f"{spec.name}.key"),
        f"{p}HTTP_HOST": HOST,
        f"{p}HTTP_PORT": str(spec.port),
        f"{p}LOG_JSON": "true",
        # DolphinScheduler target (publisher and history-sync read what they need)
        f"{p}DS_REST_URL": ds.rest_url,
        f"{p}DS_TOKEN": ds.access_token,
        f"{p}DS_GATEWAY_HOST": ds.gateway_host,
        f"{p}DS_GATEWAY_PORT": str(ds.gateway_port),
        f"{p}DS_GATEWAY_AUTH_TOKEN": ds.gateway_auth_token,
        f"{p}DS_USER": ds.user,
        f"{p}DS_TENANT": ds.tenant,
        f"{p}DS_PROJECT_NAME": ds.project_name,
        f"{p}DS_UI_URL": ds.ui_url,
    }
    if obs is not None:
        # every trace whole at the backend: the services' own spans straight to Zipkin (JSON v2)
        env[f"{p}OTEL_EXPORTER_ZIPKIN_ENDPOINT"] = obs.zipkin.spans_endpoint
        if spec.name == "gateway":
            env["GATEWAY_TRACE_URL_TEMPLATE"] = obs.zipkin.trace_url("{trace_id}")
    if spec.name == "gateway":
        for other in SERVICES:
            if other.name != "gateway":
                env[f"GATEWAY_{other.env_prefix}URL"] = f"http://{HOST}:{other.port}"
        env["GATEWAY_BOOTSTRAP_ADMIN_TOKEN"] = secret["admin_token"]
    if spec.name == "alerting":
        port = {s.name: s.port for s in SERVICES}
        env["ALERTING_DEFINITION_URL"] = f"http://{HOST}:{port['definition']}"
        env["ALERTING_PUBLISHER_URL"] = f"http://{HOST}:{port['publisher']}"
        env["ALERTING_HISTORY_URL"] = f"http://{HOST}:{port['history-sync']}"
        env["ALERTING_PORTAL_URL"] = f"http://{HOST}:{port['gateway']}"
    return env


def _start_service(spec: ServiceSpec, env: dict[str, str]) -> int:
    pid_file = platform_dir() / f"{spec.name}.pid"
    pid = read_pid(pid_file)
    if pid is not None and process_alive(pid):
        return pid
    log_path = platform_dir() / f"{spec.name}.log"
    log = log_path.open("ab")
    # every service reads host and port from its settings (<PREFIX>HTTP_HOST / <PREFIX>HTTP_PORT)
    proc = subprocess.Popen(
        [sys.executable, "-m", spec.module, "serve"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=repo_root(),
        start_new_session=True,
    )
    pid_file.write_text(str(proc.pid))
    wait_http(f"http://{HOST}:{spec.port}/readyz", spec.name, 120, proc.pid, log_path)
    return proc.pid


def _refill_projections(env: dict[str, str]) -> None:
    """The definition service's read projections (dependency sets, last executions) are fed by events; state kept
    from an earlier ``./platform up`` may predate them (an upgrade), so refill them from lineage-resolver and
    history-sync. Both commands are idempotent and safe while the services run."""
    port = {s.name: s.port for s in SERVICES}
    print("refilling the definition service's read projections …", flush=True)
    for command, option, source in (
        ("sync-dependencies", "--lineage-url", "lineage-resolver"),
        ("sync-executions", "--history-url", "history-sync"),
    ):
        cmd = [sys.executable, "-m", "definition", command, option, f"http://{HOST}:{port[source]}"]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            raise DevstackError(f"python -m definition {command} failed:\n{(result.stdout + result.stderr)[-2000:]}")


def up(ds_kind: str, observability: bool = True) -> int:
    from devstack.infra import ensure_infra

    print("starting PostgreSQL and Kafka …", flush=True)
    admin_url, bootstrap = ensure_infra()
    secret = _secrets()
    ds = _ds_from_env()
    if ds is None:
        ds = _start_ds(ds_kind)
    # before the services: they export their spans to it from their first request
    obs = _start_zipkin() if observability else None
    print("provisioning schemas, roles, migrations and topics …", flush=True)
    urls = asyncio.run(_provision(admin_url, bootstrap, secret))
    for spec in SERVICES:
        print(f"starting {spec.name} on {HOST}:{spec.port} …", flush=True)
        _start_service(spec, _service_env(spec, urls[spec.name], bootstrap, ds, secret, obs))
    definition = next(s for s in SERVICES if s.name == "definition")
    _refill_projections(_service_env(definition, urls["definition"], bootstrap, ds, secret, obs))
    prometheus = _start_prometheus(obs, ds) if obs is not None else None
    gw = next(s for s in SERVICES if s.name == "gateway")
    print()
    print(f"Portal:            http://{HOST}:{gw.port}/")
    print(f"API docs:          http://{HOST}:{gw.port}/docs")
    print(f"Admin API token:   {secret['admin_token']}")
    print(f"DolphinScheduler:  {ds.ui_url}  ({ds.kind}; login admin / dolphinscheduler123 for a local server)")
    if obs is not None and prometheus is not None:
        print(f"Traces (Zipkin):   {obs.zipkin.ui_url}")
        print(f"Prometheus:        {prometheus.url}/alerts  (consumer lag: {prometheus.url}/graph)")
    else:
        print("Traces, Prometheus: not started (--no-observability)")
    print(f"Logs:              {platform_dir()}")
    print("Demo data:         ./platform demo   |   stop everything: ./platform down")
    return 0


def down() -> int:
    for spec in reversed(SERVICES):
        _stop_pid(platform_dir() / f"{spec.name}.pid", spec.name)
    _stop_pid(platform_dir() / "ds-emulator.pid", "ds-emulator")
    for daemon in (Prometheus([]), Zipkin()):
        if daemon.stop():
            print(f"stopped {daemon.name}", flush=True)
    try:
        from devstack import dolphin

        ds = dolphin.DolphinStandalone()
        if ds.is_running():
            print("stopping DolphinScheduler …", flush=True)
            ds.stop()
    except ImportError:
        pass
    from devstack.cli import main as devstack_main

    return devstack_main(["down"])


def _stop_pid(pid_file: Path, name: str) -> None:
    pid = read_pid(pid_file)
    if pid is None or not process_alive(pid):
        pid_file.unlink(missing_ok=True)
        return
    print(f"stopping {name} (pid {pid}) …", flush=True)
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:  # no longer the leader of its group (it ended and the pid is in use by another)
        pid_file.unlink(missing_ok=True)
        return
    if not wait_gone(pid, 20):
        kill_tree(pid)
    pid_file.unlink(missing_ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="platform-up", description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("command", nargs="?", default="up", choices=["up", "down"])
    ap.add_argument(
        "--ds",
        choices=["auto", "real", "emulator"],
        default=os.environ.get("PLATFORM_DS", "auto"),
        help="DolphinScheduler target when PLATFORM_DS_REST_URL is not set: auto (default) starts a real standalone "
        "server when one can be assembled here (official release artifacts), else the emulator",
    )
    ap.add_argument(
        "--no-observability",
        dest="observability",
        action="store_false",
        help="leave out the trace backend (Zipkin) and Prometheus, which `up` starts by default "
        "(ports DEVSTACK_ZIPKIN_PORT, default 9411, and DEVSTACK_PROMETHEUS_PORT, default 9090)",
    )
    ns = ap.parse_args(argv)
    try:
        return up(ns.ds, ns.observability) if ns.command == "up" else down()
    except DevstackError as exc:
        print(f"platform: {exc}", file=sys.stderr)
        return 1


def main_down(argv: Sequence[str] | None = None) -> int:
    return main(["down", *(argv or sys.argv[1:])])
