"""``platform-up`` / ``platform-down``: the whole platform on one machine, without Docker.

``up`` starts (or reuses) PostgreSQL and Kafka, the DolphinScheduler target (a real standalone server by default,
the emulator with ``--ds emulator``, or an external one named by ``PLATFORM_DS_REST_URL``), provisions one schema and
role per service and runs its migrations, creates the topics, then starts every service (uvicorn, in the
background, logs in the state directory), waits until each one is ready and refills the definition service's read
projections from lineage-resolver and history-sync (state from an earlier ``up`` may predate them). It prints the
portal URL, the admin
API token and where DolphinScheduler's UI is. Unless told ``--no-observability`` it also starts the trace backend
(Zipkin, which every service exports its spans to) and Prometheus (scraping every service, loaded with
``deploy/prometheus/rules.yml``) and prints their URLs (``devstack.observability``). Unless told ``--no-sso`` it
starts the identity provider (a local Keycloak with the platform realm, ``devstack.keycloak``) before the gateway,
gives the gateway its OIDC settings (``GATEWAY_OIDC_ISSUER``, ``_CLIENT_ID``, ``_CLIENT_SECRET``, ``_GROUP_ROLES``) and
prints the demo people who sign in to the portal, their roles and dev passwords. ``down`` stops the services, the DS
it started, the observability stack, Keycloak and the local servers.

Generated secrets (database passwords, the admin API token) live in ``<state dir>/platform/secrets.json`` (mode
0600) so a second ``up`` reuses them; each service's identity key (``common.identity``) in
``<state dir>/platform/identity/`` (public keys in ``identity/trusted/``). Each service connects to the local Kafka as
its own SCRAM user (``devstack.kafka.PRINCIPALS``), and ``up`` gives every principal exactly its topics' ACLs
(``common.kafka_acls``); with an external Kafka (``KAFKA_BOOTSTRAP_SERVERS``) the services use the ``KAFKA_SASL_*``
credentials of the environment. The processes are a persistent ``devstack.stack.Stack``.

Ports: the gateway 8080, the services 8101-8105, each changed by ``PLATFORM_<SERVICE>_PORT`` (``PLATFORM_GATEWAY_PORT``,
``PLATFORM_HISTORY_SYNC_PORT`` …); the DS emulator 12345 and 25333 (``DEVSTACK_DS_EMULATOR_PORT``,
``DEVSTACK_DS_EMULATOR_GATEWAY_PORT``); Keycloak 18180 and 18181 (``DEVSTACK_KEYCLOAK_PORT``,
``DEVSTACK_KEYCLOAK_MANAGEMENT_PORT``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from common.provision import SERVICES
from devstack._proc import DevstackError, process_alive, read_pid, wait_http
from devstack.observability import ZIPKIN_VERSION, Prometheus, ScrapeTarget, Zipkin
from devstack.paths import HOST, env_port, state_dir
from devstack.stack import DsEndpoint, Stack, merge_env, stop_pid_file

if TYPE_CHECKING:
    from devstack.keycloak import KeycloakServer

DEFAULT_PORTS = {
    "definition": 8101,
    "publisher": 8102,
    "history-sync": 8103,
    "lineage-resolver": 8104,
    "alerting": 8105,
    "gateway": 8080,
}
DS_PROJECT = "workflow-platform"


def port(name: str) -> int:
    """The local port of a service (``PLATFORM_<SERVICE>_PORT`` or its default)."""
    return env_port(f"PLATFORM_{name.upper().replace('-', '_')}_PORT", DEFAULT_PORTS[name])


def platform_dir() -> Path:
    d = state_dir() / "platform"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _secrets() -> dict[str, str]:
    path = platform_dir() / "secrets.json"
    data: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    wanted = {f"db_password:{s.name}": secrets.token_urlsafe(18) for s in SERVICES}
    wanted["admin_token"] = "adm_" + secrets.token_urlsafe(24)
    missing = {key: value for key, value in wanted.items() if key not in data}
    if missing:
        data |= missing
        path.write_text(json.dumps(data, indent=2))
        path.chmod(0o600)
    return data


def _ds_from_env() -> DsEndpoint | None:
    url = os.environ.get("PLATFORM_DS_REST_URL")
    if not url:
        return None
    return DsEndpoint(
        kind="external",
        rest_url=url.rstrip("/"),
        access_token=os.environ.get("PLATFORM_DS_TOKEN", ""),
        gateway_host=os.environ.get("PLATFORM_DS_GATEWAY_HOST", "127.0.0.1"),
        gateway_port=int(os.environ.get("PLATFORM_DS_GATEWAY_PORT", "25333")),
        gateway_auth_token=os.environ.get("PLATFORM_DS_GATEWAY_AUTH_TOKEN", ""),
        user=os.environ.get("PLATFORM_DS_USER", "platform"),
        tenant=os.environ.get("PLATFORM_DS_TENANT", "default"),
        project_name=os.environ.get("PLATFORM_DS_PROJECT", DS_PROJECT),
    )


def _start_emulator() -> DsEndpoint:
    pid_file = platform_dir() / "ds-emulator.pid"
    info_file = platform_dir() / "ds-emulator.json"
    pid = read_pid(pid_file)
    if pid is not None and process_alive(pid) and info_file.exists():
        info = json.loads(info_file.read_text())
    else:
        rest_port = env_port("DEVSTACK_DS_EMULATOR_PORT", 12345)
        gw_port = env_port("DEVSTACK_DS_EMULATOR_GATEWAY_PORT", 25333)
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
    return DsEndpoint(
        rest_url=f"http://{HOST}:{info['rest_port']}/dolphinscheduler",
        access_token=info["access"],
        gateway_host=HOST,
        gateway_port=int(info["gateway_port"]),
        gateway_auth_token=info["gw_token"],
        project_name=DS_PROJECT,
    )


def _start_real_ds() -> DsEndpoint:
    from devstack import dolphin

    ds = dolphin.DolphinStandalone()
    ds.ensure_downloaded()
    if not ds.is_running():
        ds.start()
    boot = dolphin.bootstrap_platform(ds, project_name=DS_PROJECT)
    return DsEndpoint(
        kind="real",
        rest_url=ds.rest_url,
        access_token=boot.access_token,
        gateway_host=HOST,
        gateway_port=ds.gateway_port,
        gateway_auth_token=ds.gateway_auth_token,
        user=boot.user_name,
        tenant=boot.tenant_code,
        project_name=boot.project_name,
    )


def _start_ds(kind: str) -> DsEndpoint:
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


@dataclass(frozen=True)
class Observability:
    """Where the local trace backend and Prometheus answer (``up`` passes ``None`` instead when told
    ``--no-observability``)."""

    zipkin: Zipkin
    prometheus_port: int

    def env(self) -> dict[str, dict[str, str]]:
        """Every trace whole at the backend: the services' own spans straight to Zipkin (JSON v2)."""
        env = {s.name: {f"{s.env_prefix}OTEL_EXPORTER_ZIPKIN_ENDPOINT": self.zipkin.spans_endpoint} for s in SERVICES}
        env["gateway"]["GATEWAY_TRACE_URL_TEMPLATE"] = self.zipkin.trace_url("{trace_id}")
        return env


def _start_zipkin() -> Observability:
    from devstack.observability import DEFAULT_PROMETHEUS_PORT, DEFAULT_ZIPKIN_PORT

    zipkin_port = env_port("DEVSTACK_ZIPKIN_PORT", DEFAULT_ZIPKIN_PORT)
    zipkin = Zipkin(zipkin_port)
    print(f"starting the trace backend (Zipkin {ZIPKIN_VERSION}) on {HOST}:{zipkin_port} …", flush=True)
    zipkin.start()
    return Observability(zipkin, env_port("DEVSTACK_PROMETHEUS_PORT", DEFAULT_PROMETHEUS_PORT))


def scrape_targets(ds: DsEndpoint | None = None) -> list[ScrapeTarget]:
    """Every service's ``/metrics`` (job ``platform``, label ``service``), and a real DolphinScheduler's API server
    (Spring Boot's Prometheus endpoint; the emulator has no metrics)."""
    targets = [ScrapeTarget("platform", f"{HOST}:{port(s.name)}", {"service": s.name}) for s in SERVICES]
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


def _start_prometheus(obs: Observability, ds: DsEndpoint) -> Prometheus:
    prometheus = Prometheus(scrape_targets(ds), port=obs.prometheus_port)
    print(f"starting Prometheus on {HOST}:{obs.prometheus_port} (rules: deploy/prometheus/rules.yml) …", flush=True)
    if prometheus.is_running():
        prometheus.reload()
    prometheus.start()
    return prometheus


def _start_keycloak() -> KeycloakServer:
    from devstack.keycloak import KeycloakServer

    kc = KeycloakServer()
    print(f"starting the identity provider (Keycloak {kc.version}) on {kc.url} …", flush=True)
    kc.start()
    return kc


def print_people(kc: KeycloakServer) -> None:
    """Who signs in to the portal (dev passwords of the local realm, not secrets)."""
    print(f"Sign-in (SSO):     {kc.issuer}  (admin console {kc.url}/admin: admin / {kc.admin_password()})")
    for p in kc.people:
        print(f"  {p.username:<16} password {p.password:<15} {', '.join(p.roles):<10} {p.name} <{p.email}>")


def platform_stack(
    admin_url: str,
    bootstrap: str,
    ds: DsEndpoint,
    obs: Observability | None = None,
    keycloak: KeycloakServer | None = None,
) -> Stack:
    """The persistent stack ``up`` starts: production schemas, fixed ports, the passwords and keys kept in the state
    directory, JSON logs; with ``keycloak``, the gateway signs people in there. Each service connects to the local
    Kafka as its own principal (the administrator's credentials, which ``ensure_infra`` put here, are not passed on;
    the gateway uses no Kafka); with an external Kafka the environment's ``KAFKA_SASL_*`` stay."""
    from devstack.external import external_kafka_bootstrap

    secret = _secrets()
    users = None
    if external_kafka_bootstrap() is None:
        from devstack.kafka import KafkaServer

        kafka = KafkaServer()
        users = {s.name: kafka.client_env(s.name) for s in SERVICES if s.name != "gateway"}
    # topics and ACLs are provisioned by `up` with the Kafka administrator
    no_topics = {s.name: {f"{s.env_prefix}ENSURE_TOPICS": "false"} for s in SERVICES}
    return Stack(
        admin_url,
        bootstrap,
        ds,
        platform_dir(),
        env=merge_env(no_topics, obs.env() if obs is not None else {}),
        persistent=True,
        admin_token=secret["admin_token"],
        ports={s.name: port(s.name) for s in SERVICES},
        passwords={s.name: secret[f"db_password:{s.name}"] for s in SERVICES},
        kafka_users=users,
        identity_dir=platform_dir() / "identity",
        log_json=True,
        keycloak=keycloak,
    )


def _refill_projections(env: dict[str, str]) -> None:
    """The definition service's read projections (dependency sets, last executions) are fed by events; state kept
    from an earlier ``./platform up`` may predate them (an upgrade), so refill them from lineage-resolver and
    history-sync. Both commands are idempotent and safe while the services run."""
    print("refilling the definition service's read projections …", flush=True)
    for command, option, source in (
        ("sync-dependencies", "--lineage-url", "lineage-resolver"),
        ("sync-executions", "--history-url", "history-sync"),
    ):
        cmd = [sys.executable, "-m", "definition", command, option, f"http://{HOST}:{port(source)}"]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            raise DevstackError(f"python -m definition {command} failed:\n{(result.stdout + result.stderr)[-2000:]}")


def up(ds_kind: str, observability: bool = True, sso: bool = True) -> int:
    from devstack.infra import ensure_infra

    print("starting PostgreSQL and Kafka …", flush=True)
    admin_url, bootstrap = ensure_infra()
    ds = _ds_from_env() or _start_ds(ds_kind)
    # before the services: they export their spans to it from their first request
    obs = _start_zipkin() if observability else None
    kc = _start_keycloak() if sso else None
    stack = platform_stack(admin_url, bootstrap, ds, obs, kc)
    print("provisioning schemas, roles, migrations and topics …", flush=True)
    stack.provision()
    for name in stack.services:
        print(f"starting {name} on {HOST}:{stack.ports[name]} …", flush=True)
        stack.start([name])
    _refill_projections(stack.environment("definition"))
    prometheus = _start_prometheus(obs, ds) if obs is not None else None
    print()
    print(f"Portal:            {stack.base_url}/")
    print(f"API docs:          {stack.base_url}/docs")
    print(f"Admin API token:   {stack.admin_token}")
    if kc is not None:
        print_people(kc)
    else:
        print("Sign-in (SSO):     not started (--no-sso): API keys only")
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
        stop_pid_file(platform_dir() / f"{spec.name}.pid", spec.name)
    stop_pid_file(platform_dir() / "ds-emulator.pid", "ds-emulator")
    for daemon in (Prometheus([]), Zipkin()):
        if daemon.stop():
            print(f"stopped {daemon.name}", flush=True)
    from devstack.keycloak import KeycloakServer

    if KeycloakServer().is_running():
        print("stopping Keycloak …", flush=True)
        KeycloakServer().stop()
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
    ap.add_argument(
        "--no-sso",
        dest="sso",
        action="store_false",
        help="leave out the identity provider (a local Keycloak, ports DEVSTACK_KEYCLOAK_PORT, default 18180, and the "
        "next one): the gateway then takes API keys only",
    )
    ns = ap.parse_args(argv)
    try:
        return up(ns.ds, ns.observability, ns.sso) if ns.command == "up" else down()
    except DevstackError as exc:
        print(f"platform: {exc}", file=sys.stderr)
        return 1


def main_down(argv: Sequence[str] | None = None) -> int:
    return main(["down", *(argv or sys.argv[1:])])
