"""``devstack`` command line: start/stop/inspect the local PostgreSQL and Kafka, and the identity provider.

    devstack up [--only pg|kafka|keycloak]
    devstack down [--only pg|kafka|keycloak] [--purge]
    devstack status [--only pg|kafka|keycloak]  (exit code 3 when a selected local service is not running)
    devstack env                                (eval "$(devstack env)")

Keycloak (``devstack.keycloak``) is started only when named (``--only keycloak``; ``./platform up`` starts it too);
``down`` stops it with the others, ``status`` shows it when it runs.

``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` in the environment select external services, which are
then neither started nor stopped.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from collections.abc import Sequence

from devstack._proc import DevstackError
from devstack.external import (
    DATABASE_URL_ENV,
    KAFKA_BOOTSTRAP_ENV,
    asyncpg_sqlalchemy_url,
    external_database_url,
    external_kafka_bootstrap,
)
from devstack.kafka import KafkaServer
from devstack.postgres import PostgresServer

SERVICES = ("pg", "kafka", "keycloak")
#: what ``up`` and ``status`` mean without ``--only`` (Keycloak takes a minute to start: only when asked for)
INFRA = ("pg", "kafka")


def _selected(only: str | None, default: tuple[str, ...] = INFRA) -> tuple[str, ...]:
    return (only,) if only else default


def _keycloak_up() -> None:
    from devstack.keycloak import KeycloakServer

    kc = KeycloakServer()
    print(f"keycloak: starting {kc.version} on {kc.url} (the first start downloads and builds it) …", flush=True)
    started = kc.start()
    print(f"keycloak: {'started' if started else 'already running'}; issuer {kc.issuer}")
    print(f"  admin console: {kc.url}/admin  (admin / {kc.admin_password()})")
    print(f"  log:  {kc.log_file}")


def _keycloak_status() -> bool:
    from devstack.keycloak import KeycloakServer

    kc = KeycloakServer()
    pid = kc.pid()
    if pid is None:
        print(f"keycloak: stopped (would listen on {kc.url}; log: {kc.log_file})")
        return False
    print(f"keycloak: running (pid {pid}); issuer {kc.issuer}")
    print(f"  log:  {kc.log_file}")
    return True


def _cmd_up(only: str | None) -> int:
    for service in _selected(only):
        if service == "keycloak":
            _keycloak_up()
        elif service == "pg":
            external = external_database_url()
            if external is not None:
                print(f"postgres: using external {DATABASE_URL_ENV}={external} (not started)")
                continue
            pg = PostgresServer()
            print(f"postgres: starting on {pg.host}:{pg.port} …", flush=True)
            started = pg.start()
            print(f"postgres: {'started' if started else 'already running'} on {pg.host}:{pg.port}")
            print(f"  url:  {pg.url}")
            print(f"  data: {pg.data_dir}")
            print(f"  log:  {pg.log_file}")
        else:
            external = external_kafka_bootstrap()
            if external is not None:
                print(f"kafka: using external {KAFKA_BOOTSTRAP_ENV}={external} (not started)")
                continue
            kafka = KafkaServer()
            print(f"kafka: starting {kafka.version} on {kafka.bootstrap_servers} …", flush=True)
            started = kafka.start()
            print(
                f"kafka: {'started' if started else 'already running'} on {kafka.bootstrap_servers} "
                f"(KRaft controller on {kafka.host}:{kafka.controller_port})"
            )
            print(f"  data: {kafka.data_dir}")
            print(f"  log:  {kafka.log_file}")
    print('hint: eval "$(devstack env)" to point the services at this stack')
    return 0


def _cmd_down(only: str | None, purge: bool) -> int:
    for service in _selected(only, SERVICES):
        if service == "keycloak":
            from devstack.keycloak import KeycloakServer

            kc = KeycloakServer()
            was_running = kc.stop()
            if purge:
                kc.purge()
            if was_running or purge or only:
                print(f"keycloak: {'stopped' if was_running else 'not running'}{'; data deleted' if purge else ''}")
        elif service == "pg":
            if external_database_url() is not None:
                print(f"postgres: {DATABASE_URL_ENV} selects an external server; stopping the local one anyway")
            pg = PostgresServer()
            was_running = pg.stop()
            if purge:
                pg.purge()
            print(f"postgres: {'stopped' if was_running else 'not running'}{'; data deleted' if purge else ''}")
        else:
            if external_kafka_bootstrap() is not None:
                print(f"kafka: {KAFKA_BOOTSTRAP_ENV} selects an external cluster; stopping the local one anyway")
            kafka = KafkaServer()
            was_running = kafka.stop()
            if purge:
                kafka.purge()
            print(f"kafka: {'stopped' if was_running else 'not running'}{'; data deleted' if purge else ''}")
    return 0


def _cmd_status(only: str | None) -> int:
    all_up = True
    if only is None:
        # shown, but not counted: it runs only when asked for
        from devstack.keycloak import KeycloakServer

        if KeycloakServer().is_running():
            _keycloak_status()
    for service in _selected(only):
        if service == "keycloak":
            all_up = _keycloak_status() and all_up
        elif service == "pg":
            external = external_database_url()
            if external is not None:
                print(f"postgres: external ({DATABASE_URL_ENV}={external})")
                continue
            pg = PostgresServer()
            pid = pg.pid()
            if pid is None:
                all_up = False
                print(f"postgres: stopped (would listen on {pg.host}:{pg.port}; log: {pg.log_file})")
            else:
                print(f"postgres: running (pid {pid}) on {pg.host}:{pg.port}")
                print(f"  url:  {pg.url}")
                print(f"  log:  {pg.log_file}")
        else:
            external = external_kafka_bootstrap()
            if external is not None:
                print(f"kafka: external ({KAFKA_BOOTSTRAP_ENV}={external})")
                continue
            kafka = KafkaServer()
            pid = kafka.pid()
            if pid is None:
                all_up = False
                print(f"kafka: stopped (would listen on {kafka.bootstrap_servers}; log: {kafka.log_file})")
            else:
                print(f"kafka: running (pid {pid}) on {kafka.bootstrap_servers}, version {kafka.version}")
                print(f"  log:  {kafka.log_file}")
    return 0 if all_up else 3


def _cmd_env() -> int:
    external_db = external_database_url()
    if external_db is not None:
        database_url = asyncpg_sqlalchemy_url(external_db)
    else:
        pg = PostgresServer()
        database_url = pg.async_url
        if not pg.is_running():
            print("devstack: warning: local PostgreSQL is not running (run `devstack up`)", file=sys.stderr)
    external_kafka = external_kafka_bootstrap()
    kafka_env: dict[str, str] = {}
    if external_kafka is not None:
        kafka_env[KAFKA_BOOTSTRAP_ENV] = external_kafka
    else:
        kafka = KafkaServer()
        # the administrator's credentials (the local broker authenticates every client)
        kafka_env.update(kafka.client_env())
        if not kafka.is_running():
            print("devstack: warning: local Kafka is not running (run `devstack up`)", file=sys.stderr)
    print(f"export {DATABASE_URL_ENV}={shlex.quote(database_url)}")
    for key, value in kafka_env.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devstack", description="Local PostgreSQL 15+ and Kafka (KRaft) for development and tests."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local services (no-op for running ones)")
    up.add_argument("--only", choices=SERVICES, help="start only this service")
    down = sub.add_parser("down", help="stop the local services")
    down.add_argument("--only", choices=SERVICES, help="stop only this service")
    down.add_argument("--purge", action="store_true", help="also delete their data")
    status = sub.add_parser("status", help="show what is running (exit 3 if a local service is down)")
    status.add_argument("--only", choices=SERVICES, help="show only this service")
    sub.add_parser("env", help="print shell exports for DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logger = logging.getLogger("devstack")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("devstack: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        if args.command == "up":
            return _cmd_up(args.only)
        if args.command == "down":
            return _cmd_down(args.only, args.purge)
        if args.command == "status":
            return _cmd_status(args.only)
        return _cmd_env()
    except DevstackError as exc:
        print(f"devstack: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("devstack: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
