"""``python -m definition serve | migrate | sync-dependencies | sync-executions`` (also the ``definition`` script)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from common.main import Command, run, service_main
from definition.config import Settings
from definition.main import create_app


def _dependency_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lineage-url", help="lineage-resolver's base URL (default: DEFINITION_LINEAGE_URL)")
    parser.add_argument("--batch-size", type=int, default=500, help="task ids per request/transaction (max 1000)")


def _execution_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history-url", help="history-sync's base URL (default: DEFINITION_HISTORY_URL)")
    parser.add_argument("--batch-size", type=int, default=500, help="workflow ids per request/transaction")


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


def _sync(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "sync-dependencies":
        url = args.lineage_url or settings.lineage_url
    else:
        url = args.history_url or settings.history_url
    print(json.dumps({"synced": run(refill(settings, args.command, url, args.batch_size))}))
    return 0


COMMANDS = [
    Command(
        "sync-dependencies",
        "(re)fill the task dependency projection from lineage-resolver's dependency view (safe while running)",
        _sync,
        _dependency_arguments,
    ),
    Command(
        "sync-executions",
        "(re)fill every workflow's last executions from history-sync's cache (safe while running)",
        _sync,
        _execution_arguments,
    ),
]


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(
        argv,
        Settings,
        create_app,
        serve_help="run the HTTP API and the Kafka consumers (uvicorn)",
        commands=COMMANDS,
    )


if __name__ == "__main__":
    sys.exit(main())
