"""``python -m publisher migrate|check|serve``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m publisher", description="the publisher service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the database migrations to the service's schema")
    sub.add_parser("check", help="check the connection to DolphinScheduler (gateway and REST)")
    sub.add_parser("serve", help="run the service (HTTP API, Kafka consumer, publish workers)")
    args = parser.parse_args(argv)

    from publisher.config import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"bad configuration: {exc}", file=sys.stderr)
        return 2

    if args.command == "migrate":
        from common.migrations import upgrade_sync
        from publisher.main import MIGRATIONS

        upgrade_sync(MIGRATIONS, settings.database_url, settings.db_schema)
        print(f"schema {settings.db_schema} migrated to head")
        return 0
    if args.command == "check":
        from publisher.check import check

        return 0 if asyncio.run(check(settings)) else 1

    import uvicorn

    from common.http import KEEP_ALIVE_S
    from publisher.main import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
