"""``platform-provision``: prepare PostgreSQL, Kafka and DolphinScheduler for a deployed platform.

Commands (all configuration comes from the environment, so containers and Kubernetes Jobs need no arguments with
secrets in them):

- ``all`` (the default): for every service create its role and schema (``common.db.provision_service``, needs the
  admin URL), run its migrations as the service's own role, and create the Kafka topics with their ``.dlq``.
  Options ``--skip-migrations`` / ``--skip-topics`` / ``--service NAME`` (repeatable) narrow it down.
- ``migrate --service NAME``: run one service's migrations with the service's own ``<PREFIX>DATABASE_URL`` (no admin
  rights needed; what the per-service Kubernetes migration Jobs run).
- ``wait-migrated --service NAME``: wait until the service's schema is at the head revision of the migrations in
  this image (the init container of each Deployment); exits 1 after ``--timeout`` seconds.
- ``acls``: the Kafka ACLs of every service principal and of the external lineage producers
  (``common.kafka_acls``), also part of ``all`` when the admin authenticates (``KAFKA_SASL_USERNAME``).
- ``identity-keys --out DIR``: an Ed25519 key pair per service (``DIR/<service>.key``, ``DIR/trusted/<service>.pem``)
  for the service identities (``common.identity``); an existing private key is kept.
- ``ds-bootstrap``: idempotently create the DolphinScheduler tenant, user, project and the platform's access token
  (with the given token value) through the DS REST API, logged in as the DS admin. For a fresh DS (compose); in
  production the DS administrators do this once and hand over the token.

Environment:

- ``PLATFORM_ADMIN_DATABASE_URL``: PostgreSQL URL of a role that may create roles and schemas (``all``).
- ``PLATFORM_DB_STATEMENT_TIMEOUT`` / ``PLATFORM_DB_LOCK_TIMEOUT`` (default 60s / 10s): set on every service role.
- ``PLATFORM_DB_PASSWORD_<SERVICE>`` (``DEFINITION``, ``PUBLISHER``, ``HISTORY_SYNC``, ``LINEAGE_RESOLVER``,
  ``GATEWAY``): the password ``all`` gives the service's role (``svc_<schema>``).
- ``<PREFIX>DATABASE_URL`` (``migrate``, ``wait-migrated``) and ``<PREFIX>DB_SCHEMA`` (optional).
- ``KAFKA_BOOTSTRAP_SERVERS``, ``KAFKA_TOPIC_PREFIX`` (optional), ``PLATFORM_TOPIC_PARTITIONS``
  (default: each topic's own count, ``common.events.Topics.PARTITIONS``; a number gives every topic that many),
  ``PLATFORM_TOPIC_REPLICATION_FACTOR`` (default 1); the administrator's ``KAFKA_SASL_USERNAME`` /
  ``KAFKA_SASL_PASSWORD(_FILE)`` (a super user of the cluster); ``PLATFORM_KAFKA_USER_<SERVICE>`` (``DEFINITION``, …,
  ``LINEAGE_PRODUCER``): a principal's Kafka user name when it is not the service's name.
- ``PLATFORM_DS_REST_URL``, ``PLATFORM_DS_ADMIN_USER`` / ``PLATFORM_DS_ADMIN_PASSWORD``, ``PLATFORM_DS_TENANT``,
  ``PLATFORM_DS_USER`` / ``PLATFORM_DS_USER_PASSWORD``, ``PLATFORM_DS_PROJECT``, ``PLATFORM_DS_TOKEN``
  (``ds-bootstrap``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

log = logging.getLogger("platform-provision")


class ProvisionError(Exception):
    """A configuration or remote error that ends the command with exit code 1 and a one-line message."""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    env_prefix: str
    schema: str

    @property
    def role(self) -> str:
        return f"svc_{self.schema}"

    @property
    def password_env(self) -> str:
        return "PLATFORM_DB_PASSWORD_" + self.name.upper().replace("-", "_")

    def migrations_dir(self) -> Path | None:
        """``services/<name>/migrations`` of the installed (editable) package, or None if it has none."""
        from common.migrations import migrations_of

        try:
            path = migrations_of(self.module)
        except ModuleNotFoundError:
            raise ProvisionError(f"module {self.module!r} of service {self.name} is not installed") from None
        return path if (path / "env.py").is_file() else None


#: every deployed service: name, Python module, settings prefix and PostgreSQL schema (devstack.stack runs them)
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("definition", "definition", "DEFINITION_", "definition"),
    ServiceSpec("publisher", "publisher", "PUBLISHER_", "publisher"),
    ServiceSpec("history-sync", "history_sync", "HISTORY_", "history"),
    ServiceSpec("lineage-resolver", "lineage_resolver", "LINEAGE_", "lineage"),
    ServiceSpec("alerting", "alerting", "ALERTING_", "alerting"),
    ServiceSpec("gateway", "gateway", "GATEWAY_", "gateway"),
)


def service(name: str) -> ServiceSpec:
    for s in SERVICES:
        if s.name == name:
            return s
    raise ProvisionError(f"unknown service {name!r} (known: {', '.join(s.name for s in SERVICES)})")


def _require(env: Mapping[str, str], key: str) -> str:
    value = env.get(key, "").strip()
    if not value:
        raise ProvisionError(f"{key} is not set")
    return value


def _schema_of(spec: ServiceSpec, env: Mapping[str, str]) -> str:
    return env.get(f"{spec.env_prefix}DB_SCHEMA", "").strip() or spec.schema


# -- all ---------------------------------------------------------------------------------------------------------


async def provision_all(
    env: Mapping[str, str],
    *,
    services: Sequence[ServiceSpec] = SERVICES,
    migrate: bool = True,
    topics: bool = True,
    acls: bool = True,
) -> None:
    from common.db import LOCK_TIMEOUT, STATEMENT_TIMEOUT, provision_service
    from common.migrations import upgrade

    admin_url = SecretStr(_require(env, "PLATFORM_ADMIN_DATABASE_URL"))
    passwords = {s.name: _require(env, s.password_env) for s in services}  # fail before changing anything
    bootstrap = _require(env, "KAFKA_BOOTSTRAP_SERVERS") if topics else ""
    for spec in services:
        db = await provision_service(
            admin_url,
            schema=spec.schema,
            role=spec.role,
            password=SecretStr(passwords[spec.name]),
            statement_timeout=env.get("PLATFORM_DB_STATEMENT_TIMEOUT", "").strip() or STATEMENT_TIMEOUT,
            lock_timeout=env.get("PLATFORM_DB_LOCK_TIMEOUT", "").strip() or LOCK_TIMEOUT,
        )
        log.info("schema %s and role %s ready", spec.schema, spec.role)
        if migrate:
            migrations = spec.migrations_dir()
            if migrations is None:
                log.info("service %s has no migrations", spec.name)
            else:
                await upgrade(migrations, db.url, db.schema)
                log.info("schema %s migrated to head", spec.schema)
    if topics:
        await create_topics(env, bootstrap)
    if acls and env.get("KAFKA_SASL_USERNAME"):
        await create_acls(env)


def kafka_principals(env: Mapping[str, str]) -> dict[str, str]:
    """Service (or ``lineage-producer``) → its Kafka user name (``PLATFORM_KAFKA_USER_<NAME>``, default the name)."""
    from common.kafka_acls import GRANTS

    return {n: env.get("PLATFORM_KAFKA_USER_" + n.upper().replace("-", "_"), "").strip() or n for n in GRANTS}


async def create_acls(env: Mapping[str, str]) -> None:
    from common.kafka_access import KafkaAccess
    from common.kafka_acls import acl_bindings
    from common.kafka_acls import create_acls as create

    access = KafkaAccess.from_env(_require(env, "KAFKA_BOOTSTRAP_SERVERS"), env)
    if not access.authenticated:
        raise ProvisionError("creating Kafka ACLs needs the administrator's KAFKA_SASL_USERNAME and password")
    bindings = acl_bindings(env.get("KAFKA_TOPIC_PREFIX", ""), kafka_principals(env))
    await create(access, bindings)
    log.info("Kafka ACLs ready: %d rules for %s", len(bindings), ", ".join(sorted(kafka_principals(env).values())))


async def create_topics(env: Mapping[str, str], bootstrap: str) -> None:
    from common.events import Topics
    from common.kafka import ensure_topics
    from common.kafka_access import KafkaAccess

    prefix = env.get("KAFKA_TOPIC_PREFIX", "")
    names = {f"{prefix}{t}": Topics.PARTITIONS[t] for t in Topics.ALL}
    every = env.get("PLATFORM_TOPIC_PARTITIONS", "").strip()
    await ensure_topics(
        KafkaAccess.from_env(bootstrap, env),
        names,
        partitions=int(every) if every else names,
        replication_factor=int(env.get("PLATFORM_TOPIC_REPLICATION_FACTOR", "1")),
    )
    log.info("topics ready: %s (and their .dlq)", ", ".join(names))


# -- migrate / wait-migrated -------------------------------------------------------------------------------------


def _own_database(spec: ServiceSpec, env: Mapping[str, str]) -> tuple[SecretStr, str, Path]:
    url = SecretStr(_require(env, f"{spec.env_prefix}DATABASE_URL"))
    migrations = spec.migrations_dir()
    if migrations is None:
        raise ProvisionError(f"service {spec.name} has no migrations directory")
    return url, _schema_of(spec, env), migrations


async def migrate_one(spec: ServiceSpec, env: Mapping[str, str]) -> None:
    from common.migrations import upgrade

    url, schema, migrations = _own_database(spec, env)
    await upgrade(migrations, url, schema)
    log.info("schema %s migrated to head", schema)


def head_revisions(migrations: Path) -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory(str(migrations)).get_heads())


async def current_revisions(url: SecretStr, schema: str) -> set[str]:
    """The revisions recorded in ``<schema>.alembic_version`` (empty when the table does not exist yet)."""
    import asyncpg

    from common.db import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        exists = await conn.fetchval(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'alembic_version'",
            schema,
        )
        if not exists:
            return set()
        rows = await conn.fetch(f'SELECT version_num FROM "{schema}".alembic_version')  # noqa: S608 - checked ident
        return {str(r["version_num"]) for r in rows}
    finally:
        await conn.close()


async def wait_migrated(spec: ServiceSpec, env: Mapping[str, str], *, wait_s: float, interval: float = 2.0) -> None:
    url, schema, migrations = _own_database(spec, env)
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        raise ProvisionError(f"not a valid schema name: {schema!r}")
    heads = head_revisions(migrations)
    deadline = time.monotonic() + wait_s
    last = "not checked"
    while True:
        try:
            current = await current_revisions(url, schema)
            if current == heads:
                log.info("schema %s is at head %s", schema, ", ".join(sorted(heads)))
                return
            last = f"at {sorted(current) or 'no revision'}, head is {sorted(heads)}"
        except Exception as exc:  # unreachable, role or schema not there yet: provisioning may still be running
            last = f"database not ready ({type(exc).__name__})"
        if time.monotonic() >= deadline:
            raise ProvisionError(f"schema {schema} of {spec.name} not migrated after {wait_s:.0f}s: {last}")
        log.info("waiting for the migrations of %s: %s", spec.name, last)
        await asyncio.sleep(interval)


# -- ds-bootstrap ------------------------------------------------------------------------------------------------


class _DsRest:
    def __init__(self, base_url: str, timeout: float) -> None:
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.http.request(method, path, **kwargs)
        if r.status_code == 401:
            raise ProvisionError(f"DolphinScheduler {path}: unauthorized")
        r.raise_for_status()
        body = r.json()
        if int(body.get("code", -1)) != 0:
            raise ProvisionError(f"DolphinScheduler {path}: code {body.get('code')}: {body.get('msg')}")
        return body.get("data")

    def login(self, user: str, password: str) -> None:
        data = self.call("POST", "/login", data={"userName": user, "userPassword": password})
        self.http.headers["sessionId"] = str(data["sessionId"])

    def paged(self, path: str, search: str) -> list[dict[str, Any]]:
        data = self.call("GET", path, params={"pageNo": 1, "pageSize": 100, "searchVal": search})
        return list(data.get("totalList") or [])

    def close(self) -> None:
        self.http.close()


def ds_bootstrap(env: Mapping[str, str], *, timeout: float = 30.0) -> None:
    base = _require(env, "PLATFORM_DS_REST_URL")
    token = _require(env, "PLATFORM_DS_TOKEN")
    tenant = env.get("PLATFORM_DS_TENANT", "platform")
    user = env.get("PLATFORM_DS_USER", "platform")
    user_password = _require(env, "PLATFORM_DS_USER_PASSWORD")
    project = env.get("PLATFORM_DS_PROJECT", "workflow-platform")
    from common.telemetry import register_secrets

    register_secrets([token, user_password, env.get("PLATFORM_DS_ADMIN_PASSWORD")])

    admin = _DsRest(base, timeout)
    try:
        admin.login(env.get("PLATFORM_DS_ADMIN_USER", "admin"), _require(env, "PLATFORM_DS_ADMIN_PASSWORD"))
        tenants = {t["tenantCode"]: t for t in admin.call("GET", "/tenants/list")}
        if tenant not in tenants:
            queues = admin.call("GET", "/queues/list") or [{"id": 1}]
            admin.call("POST", "/tenants", data={"tenantCode": tenant, "queueId": queues[0]["id"], "description": ""})
            tenants = {t["tenantCode"]: t for t in admin.call("GET", "/tenants/list")}
        users = {u["userName"]: u for u in admin.paged("/users/list-paging", user)}
        if user not in users:
            admin.call(
                "POST",
                "/users/create",
                data={
                    "userName": user,
                    "userPassword": user_password,
                    "tenantId": tenants[tenant]["id"],
                    "email": f"{user}@localhost.localdomain",
                    "queue": "",
                    "state": 1,
                },
            )
            users = {u["userName"]: u for u in admin.paged("/users/list-paging", user)}
        user_id = int(users[user]["id"])
    finally:
        admin.close()

    rest = _DsRest(base, timeout)
    try:
        rest.login(user, user_password)
        if not [p for p in rest.paged("/projects", project) if p["name"] == project]:
            rest.call("POST", "/projects", data={"projectName": project, "description": "workflow platform"})
        existing = rest.call("GET", f"/access-tokens/user/{user_id}") or []
        if not any(str(t.get("token")) == token for t in existing):
            expire = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)).strftime("%Y-%m-%d %H:%M:%S")
            rest.call("POST", "/access-tokens", data={"userId": user_id, "expireTime": expire, "token": token})
    finally:
        rest.close()
    log.info("DolphinScheduler tenant %s, user %s, project %s and the access token are ready", tenant, user, project)


# -- command line ------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="platform-provision", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    everything = sub.add_parser("all", help="roles, schemas, migrations and topics of every service")
    everything.add_argument("--service", action="append", default=[], help="only this service (repeatable)")
    everything.add_argument("--skip-migrations", action="store_true")
    everything.add_argument("--skip-topics", action="store_true")
    everything.add_argument("--skip-acls", action="store_true")
    sub.add_parser("acls", help="the Kafka ACLs of every service principal and of the external lineage producers")
    keys = sub.add_parser("identity-keys", help="an Ed25519 key pair per service (service identities)")
    keys.add_argument("--out", required=True, type=Path, help="directory: <service>.key and trusted/<service>.pem")
    migrate = sub.add_parser("migrate", help="one service's migrations, as the service's own role")
    migrate.add_argument("--service", required=True)
    wait = sub.add_parser("wait-migrated", help="wait until a service's schema is at the head revision")
    wait.add_argument("--service", required=True)
    wait.add_argument("--timeout", type=float, default=600.0)
    sub.add_parser("ds-bootstrap", help="create the DS tenant, user, project and access token")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    environ = os.environ if env is None else env
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from common.telemetry import register_secrets

    register_secrets(
        [environ.get("PLATFORM_ADMIN_DATABASE_URL")]
        + [environ.get(s.password_env) for s in SERVICES]
        + [environ.get(f"{s.env_prefix}DATABASE_URL") for s in SERVICES]
        + [environ.get("KAFKA_SASL_PASSWORD")]
    )
    command = args.command or "all"
    try:
        if command == "all":
            selected = [service(n) for n in getattr(args, "service", [])] or list(SERVICES)
            asyncio.run(
                provision_all(
                    environ,
                    services=selected,
                    migrate=not getattr(args, "skip_migrations", False),
                    topics=not getattr(args, "skip_topics", False),
                    acls=not getattr(args, "skip_acls", False),
                )
            )
        elif command == "acls":
            asyncio.run(create_acls(environ))
        elif command == "identity-keys":
            from common.identity import generate_identity_keys

            generate_identity_keys(args.out, [s.name for s in SERVICES])
            log.info("identity keys in %s (public keys in %s)", args.out, args.out / "trusted")
        elif command == "migrate":
            asyncio.run(migrate_one(service(args.service), environ))
        elif command == "wait-migrated":
            asyncio.run(wait_migrated(service(args.service), environ, wait_s=args.timeout))
        else:
            ds_bootstrap(environ)
    except ProvisionError as exc:
        print(f"platform-provision: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
