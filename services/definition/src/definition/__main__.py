"""Commands: ``python -m definition migrate | serve | sync-dependencies | sync-executions`` (also the ``definition``
script)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from common.migrations import upgrade_sync
from definition.config import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="definition", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade the definition schema to the latest migration")
    sub.add_parser("serve", help="run the HTTP API and the Kafka consumers (uvicorn)")
    sync = sub.add_parser(
        "sync-dependencies",
        help="(re)fill the task dependency projection from lineage-resolver's dependency view (safe while running)",
    )
    sync.add_argument("--lineage-url", help="lineage-resolver's base URL (default: DEFINITION_LINEAGE_URL)")
    sync.add_argument("--batch-size", type=int, default=500, help="task ids per request/transaction (max 1000)")
    runs = sub.add_parser(
        "sync-executions",
        help="(re)fill every workflow's last executions from history-sync's cache (safe while running)",
    )
    runs.add_argument("--history-url", help="history-sync's base URL (default: DEFINITION_HISTORY_URL)")
    runs.add_argument("--batch-size", type=int, default=500, help="workflow ids per request/transaction")
    return parser


async def refill(settings: Settings, command: str, url: str, batch_size: int) -> dict[str, int]:
    """Run a projection refill (``sync-dependencies`` / ``sync-executions``) against the service at ``url``; returns
    its report as a dict."""
    import dataclasses

    from common.db import create_engine, session_factory
    from common.identity import signer_from
    from common.upstream import Upstream
    from definition import clients
    from definition.service import projections

    # this service's own identity: lineage-resolver and history-sync answer it (read only)
    audience = "lineage-resolver" if command == "sync-dependencies" else "history-sync"
    signer = signer_from(settings)
    up = Upstream.at(audience, url, timeout_s=30.0, identity=lambda: signer.token(audience))
    engine = create_engine(settings.database_url, schema=settings.db_schema, pool_size=2)
    try:
        sessions = session_factory(engine)
        if command == "sync-dependencies":
            report: projections.DependencySyncReport | projections.ExecutionsSyncReport
            report = await projections.sync_dependencies(
                sessions, clients.LineageDependencyView(up), batch_size=batch_size
            )
        else:
            report = await projections.sync_executions(
                sessions, clients.HistoryExecutionsView(up), batch_size=batch_size
            )
    finally:
        await up.aclose()
        await engine.dispose()
    return dataclasses.asdict(report)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    if args.command == "migrate":
        upgrade_sync(settings.migrations_path, settings.database_url, settings.db_schema)
        print(json.dumps({"migrated": settings.db_schema}))
        return 0
    if args.command in ("sync-dependencies", "sync-executions"):
        if args.command == "sync-dependencies":
            url = args.lineage_url or settings.lineage_url
        else:
            url = args.history_url or settings.history_url
        print(json.dumps({"synced": asyncio.run(refill(settings, args.command, url, args.batch_size))}))
        return 0
    import uvicorn

    from common.http import KEEP_ALIVE_S

    uvicorn.run(
        "definition.main:create_app",
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
