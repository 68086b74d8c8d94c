"""``python -m alerting [serve|migrate|inspect]``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from alerting import service
from alerting.config import Settings
from alerting.main import MIGRATIONS, create_app, offline_deps
from common.migrations import upgrade


async def _inspect(settings: Settings) -> str:
    async with offline_deps(settings) as deps:
        report = await service.run_inspection(deps, "cli")
    assert report is not None
    return report.model_dump_json(indent=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="alerting")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the service (HTTP API, consumers, delivery, daily inspection)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    sub.add_parser("migrate", help="apply the database migrations to the service's schema")
    sub.add_parser("inspect", help="run the consistency inspection once, open its tickets, print the report")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "migrate":
        asyncio.run(upgrade(MIGRATIONS, settings.database_url, settings.db_schema))
        return 0
    if args.command == "inspect":
        print(asyncio.run(_inspect(settings)))
        return 0
    import uvicorn

    from common.http import KEEP_ALIVE_S

    host = getattr(args, "host", None) or settings.http_host
    port = getattr(args, "port", None)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=settings.http_port if port is None else port,
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
