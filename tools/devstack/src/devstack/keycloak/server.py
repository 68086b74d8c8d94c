"""A local Keycloak with the platform's realm: :class:`KeycloakServer` (start, stop, kill, purge, like the local
Kafka) and :class:`KeycloakAdmin` (Keycloak's admin REST API, for tests: a person's groups, their sessions).

The server runs from the cached, built distribution (``devstack.keycloak.runtime``) with a Keycloak home of its own
in ``<state dir>/keycloak/home``: ``bin``, ``lib``, ``conf``, ``themes`` and ``providers`` link to the distribution,
``data/`` is this server's (the H2 file database, ``data/import/platform-realm.json``). ``kc.sh start --optimized``
binds 127.0.0.1 only — HTTP on :attr:`KeycloakServer.port` (``DEVSTACK_KEYCLOAK_PORT``, default 18180), the
management interface (``/health/ready``) on :attr:`KeycloakServer.management_port`
(``DEVSTACK_KEYCLOAK_MANAGEMENT_PORT``, default the next port) — with the issuer fixed to
``http://127.0.0.1:<port>/realms/platform`` and ``--import-realm``: the realm file kept in this package
(:data:`REALM_FILE`) is imported on the first start; later starts keep the realm as it is (changes made through the
admin API survive a restart), unless the realm file changed since: then the database is made again from it (dev
data only). Log: ``<state dir>/keycloak/keycloak.log`` (Keycloak rotates it at each start and at 10 MB); the JVM's
own output in ``keycloak.out``. A graceful stop leaves a class-data archive (``keycloak-cds.jsa``) that halves the
CPU of the next start. The master realm's administrator is ``admin`` with a password generated into
``<state dir>/keycloak/admin.json`` (mode 0600).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from devstack._proc import (
    DevstackError,
    port_accepts,
    require_free_port,
    tail,
)
from devstack._server import PidFileServer, port_pair
from devstack.keycloak.runtime import KEYCLOAK_VERSION, ensure_built, ensure_dist, find_java_home
from devstack.paths import HOST, state_dir

PORT_ENV = "DEVSTACK_KEYCLOAK_PORT"
MANAGEMENT_PORT_ENV = "DEVSTACK_KEYCLOAK_MANAGEMENT_PORT"
#: below the kernel's ephemeral range (see ``devstack.paths``)
DEFAULT_PORT = 18180
REALM = "platform"
CLIENT_ID = "platform-portal"
REALM_FILE = "platform-realm.json"
#: the gateway's callback path and where RP-initiated logout returns to (registered for any loopback port)
CALLBACK_PATH = "/auth/callback"
#: which platform roles each group of the realm grants (``GATEWAY_OIDC_GROUP_ROLES``)
GROUP_ROLES: dict[str, list[str]] = {
    "platform-viewers": ["viewer"],
    "platform-editors": ["editor"],
    "platform-approvers": ["approver"],
    "platform-publishers": ["publisher"],
    "platform-admins": ["admin"],
}
ADMIN_USER = "admin"
#: heap of the Keycloak JVM: enough for a dev realm with a handful of people (measured: ~470 MB resident)
HEAP_OPTS = "-Xms64m -Xmx512m"
log = logging.getLogger(__name__)


def realm_text() -> str:
    """The realm file shipped with this package."""
    return resources.files("devstack.keycloak").joinpath(REALM_FILE).read_text(encoding="utf-8")


def realm() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(realm_text())
    return data


@dataclass(frozen=True)
class DemoPerson:
    """A person of the dev realm (a dev-only password, printed by ``./platform up``)."""

    username: str
    password: str
    name: str
    email: str
    groups: tuple[str, ...]

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(role for group in self.groups for role in GROUP_ROLES.get(group, []))


def demo_people() -> tuple[DemoPerson, ...]:
    """The realm file's people, in its order (one per group)."""
    people = []
    for user in realm()["users"]:
        password = next(c["value"] for c in user["credentials"] if c["type"] == "password")
        groups = tuple(g.rsplit("/", 1)[-1] for g in user.get("groups", []))
        name = f"{user['firstName']} {user['lastName']}"
        people.append(DemoPerson(user["username"], password, name, user["email"], groups))
    return tuple(people)


def client_secret() -> str:
    """The dev secret of the ``platform-portal`` client (in the realm file: dev only)."""
    return str(next(c["secret"] for c in realm()["clients"] if c["clientId"] == CLIENT_ID))


class KeycloakServer(PidFileServer):
    """A local Keycloak with the platform realm; ``start()`` is idempotent and keeps the data across restarts;
    ``purge()`` deletes this server's data (the cached distribution stays)."""

    lock_name = "keycloak"

    def __init__(
        self,
        *,
        port: int | None = None,
        management_port: int | None = None,
        work_dir: Path | None = None,
        version: str = KEYCLOAK_VERSION,
    ) -> None:
        self.host = HOST
        self.port, self.management_port = port_pair(
            port,
            management_port,
            port_env=PORT_ENV,
            default=DEFAULT_PORT,
            second_env=MANAGEMENT_PORT_ENV,
            what="Keycloak's HTTP and management",
        )
        self.version = version
        self.work_dir = work_dir if work_dir is not None else state_dir() / "keycloak"
        self.home = self.work_dir / "home"
        self.log_file = self.work_dir / "keycloak.log"
        self.stdout_file = self.work_dir / "keycloak.out"
        self.pid_file = self.work_dir / "keycloak.pid"
        self.admin_file = self.work_dir / "admin.json"
        self.realm_mark = self.work_dir / "realm.sha256"
        self.cds_archive = self.work_dir / "keycloak-cds.jsa"
        self._proc: subprocess.Popen[bytes] | None = None
        #: seconds the last ``start()`` that started the server took (download and build included)
        self.last_start_s: float | None = None

    # ----------------------------------------------------------------- what clients need
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{REALM}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    @property
    def client_id(self) -> str:
        return CLIENT_ID

    @property
    def client_secret(self) -> str:
        return client_secret()

    @property
    def people(self) -> tuple[DemoPerson, ...]:
        return demo_people()

    def person(self, username: str) -> DemoPerson:
        for p in self.people:
            if p.username == username:
                return p
        raise KeyError(f"no demo person {username!r} in the realm file (have: {[p.username for p in self.people]})")

    def gateway_env(self, group_roles: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
        """The gateway's OIDC settings for this provider (``group_roles`` replaces :data:`GROUP_ROLES`)."""
        roles = GROUP_ROLES if group_roles is None else group_roles
        return {
            "GATEWAY_OIDC_ISSUER": self.issuer,
            "GATEWAY_OIDC_CLIENT_ID": self.client_id,
            "GATEWAY_OIDC_CLIENT_SECRET": self.client_secret,
            "GATEWAY_OIDC_GROUP_ROLES": json.dumps({g: list(r) for g, r in roles.items()}),
        }

    def admin_password(self) -> str:
        """The master realm administrator's password, generated once into ``admin.json``."""
        data: dict[str, str] = json.loads(self.admin_file.read_text()) if self.admin_file.exists() else {}
        if ADMIN_USER not in data:
            data[ADMIN_USER] = secrets.token_urlsafe(18)
            self.work_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.admin_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=2)
        return data[ADMIN_USER]

    def admin(self) -> KeycloakAdmin:
        """A client of the admin REST API (as the master realm's administrator)."""
        return KeycloakAdmin(self.url, ADMIN_USER, self.admin_password())

    def password_login(self, username: str, password: str | None = None) -> dict[str, Any]:
        """The token response of a Resource Owner Password grant of ``username`` (the dev client allows it for
        tests): ``id_token``, ``access_token``, ``refresh_token`` …"""
        secret = password if password is not None else self.person(username).password
        r = httpx.post(
            self.token_url,
            data={
                "grant_type": "password",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "username": username,
                "password": secret,
                "scope": "openid",
            },
            timeout=30.0,
        )
        if r.status_code != 200:
            raise DevstackError(f"password login of {username} refused: HTTP {r.status_code} {r.text[:300]}")
        body: dict[str, Any] = r.json()
        return body

    # ----------------------------------------------------------------- state
    def _is_ours(self, cmdline: list[str]) -> bool:
        return any(str(self.home) in part for part in cmdline)

    def _signal_graceful(self, pid: int) -> None:
        os.killpg(pid, signal.SIGTERM)  # kc.sh (the group's leader) forwards it to the JVM

    def _probe(self) -> bool:
        """Ready: the management interface says so and the realm's discovery document answers."""
        try:
            health = httpx.get(f"http://{self.host}:{self.management_port}/health/ready", timeout=3.0)
            if health.status_code != 200:
                return False
            discovery = httpx.get(self.discovery_url, timeout=3.0)
            return discovery.status_code == 200 and discovery.json().get("issuer") == self.issuer
        except (httpx.HTTPError, ValueError):
            return False

    def is_ready(self) -> bool:
        return self.is_running() and self._probe()

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise DevstackError(
                    f"Keycloak exited while starting; last lines of {self.log_file}:\n{tail(self.log_file)}\n"
                    f"--- {self.stdout_file}:\n{tail(self.stdout_file, 15)}"
                )
            if port_accepts(self.host, self.management_port) and self._probe():
                return
            time.sleep(0.5)
        raise DevstackError(
            f"Keycloak did not serve the {REALM} realm on {self.url} within {timeout:.0f}s; "
            f"see {self.log_file}:\n{tail(self.log_file)}"
        )

    # ----------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 300.0) -> bool:
        """Start Keycloak (downloading, building and importing the realm the first time). Returns False if it was
        already running."""
        with self._lock():
            if self.is_running():
                running_port = self._running_port()
                if running_port is not None and running_port != self.port:
                    raise DevstackError(
                        f"Keycloak from {self.work_dir} is already running on port {running_port}, not {self.port}; "
                        f"stop it first (`devstack down --only keycloak`) or use {PORT_ENV}={running_port}"
                    )
                self.wait_ready(timeout)
                return False
            started = time.monotonic()
            java_home = find_java_home()
            dist = ensure_dist(self.version)
            env = self._env(java_home)
            ensure_built(dist, java_home, env)
            require_free_port(self.host, self.port, "Keycloak", PORT_ENV)
            require_free_port(self.host, self.management_port, "Keycloak's management interface", MANAGEMENT_PORT_ENV)
            self._prepare_home(dist)
            self.pid_file.unlink(missing_ok=True)
            with self.stdout_file.open("ab") as out:
                self._proc = subprocess.Popen(
                    [str(dist / "bin" / "kc.sh"), f"-Dkc.home.dir={self.home}", *self.start_args()],
                    cwd=self.work_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            self._record(self._proc.pid, self.port)
            try:
                self.wait_ready(timeout)
            except DevstackError:
                self._terminate(graceful_timeout=10)
                raise
            self.realm_mark.write_text(_realm_hash() + "\n")
            self.last_start_s = time.monotonic() - started
            return True

    def start_args(self) -> list[str]:
        """``kc.sh`` arguments of a start (runtime options; the build-time ones are in ``runtime.BUILD_OPTIONS``)."""
        return [
            "start",
            "--optimized",
            "--http-enabled=true",
            f"--http-host={self.host}",
            f"--http-port={self.port}",
            f"--http-management-port={self.management_port}",
            # the issuer and every URL Keycloak hands out are fixed to this address, whatever a client calls it
            f"--hostname={self.url}",
            "--hostname-backchannel-dynamic=true",
            # one node: no cluster discovery on the network
            "--cache=local",
            "--import-realm",
            "--log=file",
            f"--log-file={self.log_file}",
            # readiness probes while starting would fill the log
            "--log-level=INFO,io.smallrye.health:WARN",
        ]

    def _env(self, java_home: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KC_", "JAVA_OPTS", "KEYCLOAK_"))}
        return env | {
            "JAVA_HOME": str(java_home),
            "JAVA_OPTS_KC_HEAP": HEAP_OPTS,
            # the C1 compiler only, and a class-data archive of the classes a start loads, written when the JVM
            # exits and mapped by the next start (measured: 11.8 → 6.9 s of CPU per start; ~140 MB on disk)
            "JAVA_OPTS_APPEND": " ".join(
                ("-XX:TieredStopAtLevel=1", "-XX:+AutoCreateSharedArchive", f"-XX:SharedArchiveFile={self.cds_archive}")
            ),
            # only read while the master realm has no administrator yet (the first start)
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password(),
        }

    def _prepare_home(self, dist: Path) -> None:
        """This server's Keycloak home: links to the distribution, its own data and the realm to import; a realm
        file changed since the last import makes the database again (dev data)."""
        self.home.mkdir(parents=True, exist_ok=True)
        for name in ("bin", "lib", "conf", "themes", "providers"):
            link = self.home / name
            if link.is_symlink() and link.resolve() == (dist / name).resolve():
                continue
            if link.is_symlink() or link.is_file():
                link.unlink()
            elif link.exists():
                shutil.rmtree(link)
            link.symlink_to(dist / name)
        database = self.home / "data" / "h2"
        recorded = self.realm_mark.read_text().strip() if self.realm_mark.exists() else None
        if database.exists() and recorded != _realm_hash():
            log.warning("the realm file changed since Keycloak imported it: its database is made again from it")
            shutil.rmtree(database)
        imports = self.home / "data" / "import"
        imports.mkdir(parents=True, exist_ok=True)
        (imports / REALM_FILE).write_text(realm_text(), encoding="utf-8")

    def restart(self, timeout: float = 300.0) -> None:
        self.stop()
        self.start(timeout)


def _realm_hash() -> str:
    return hashlib.sha256(realm_text().encode()).hexdigest()


class KeycloakAdmin:
    """Keycloak's admin REST API on the platform realm, as the master realm's administrator (tests: change a
    person's groups, end their sessions)."""

    def __init__(self, url: str, username: str, password: str, realm_name: str = REALM) -> None:
        self.url = url
        self.realm = realm_name
        self._username = username
        self._password = password
        self._token: str | None = None
        self._expires = 0.0

    def _bearer(self) -> str:
        if self._token is None or time.monotonic() > self._expires:
            r = httpx.post(
                f"{self.url}/realms/master/protocol/openid-connect/token",
                data={
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": self._username,
                    "password": self._password,
                },
                timeout=30.0,
            )
            if r.status_code != 200:
                raise DevstackError(f"Keycloak refused the administrator's login: HTTP {r.status_code}")
            body = r.json()
            self._token = str(body["access_token"])
            self._expires = time.monotonic() + float(body.get("expires_in", 60)) - 10
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """``method`` on ``/admin/realms/<realm><path>``; raises DevstackError on an error answer."""
        r = httpx.request(
            method,
            f"{self.url}/admin/realms/{self.realm}{path}",
            headers={"Authorization": f"Bearer {self._bearer()}"},
            timeout=30.0,
            **kwargs,
        )
        if r.status_code >= 400:
            raise DevstackError(f"Keycloak admin API: {method} {path} → HTTP {r.status_code} {r.text[:300]}")
        return r

    def user_id(self, username: str) -> str:
        users = self.request("GET", "/users", params={"username": username, "exact": "true"}).json()
        if not users:
            raise DevstackError(f"no user {username!r} in realm {self.realm}")
        return str(users[0]["id"])

    def group_id(self, name: str) -> str:
        groups = self.request("GET", "/groups", params={"search": name, "exact": "true"}).json()
        for group in groups:
            if group["name"] == name:
                return str(group["id"])
        raise DevstackError(f"no group {name!r} in realm {self.realm}")

    def groups_of(self, username: str) -> list[str]:
        uid = self.user_id(username)
        return sorted(g["name"] for g in self.request("GET", f"/users/{uid}/groups").json())

    def set_groups(self, username: str, groups: Sequence[str]) -> None:
        """Make ``username`` a member of exactly ``groups`` (effective at their next sign-in or token refresh)."""
        uid = self.user_id(username)
        held = {g["name"]: g["id"] for g in self.request("GET", f"/users/{uid}/groups").json()}
        for name, gid in held.items():
            if name not in groups:
                self.request("DELETE", f"/users/{uid}/groups/{gid}")
        for name in groups:
            if name not in held:
                self.request("PUT", f"/users/{uid}/groups/{self.group_id(name)}")

    def sessions(self, username: str) -> list[dict[str, Any]]:
        """The person's active sessions."""
        body: list[dict[str, Any]] = self.request("GET", f"/users/{self.user_id(username)}/sessions").json()
        return body

    def logout(self, username: str) -> None:
        """End every session of ``username`` (their refresh tokens stop working)."""
        self.request("POST", f"/users/{self.user_id(username)}/logout")

    def set_enabled(self, username: str, enabled: bool) -> None:
        uid = self.user_id(username)
        self.request("PUT", f"/users/{uid}", json={"enabled": enabled})
