"""Commands: ``python -m lineage_resolver migrate | rebuild [--apply] | serve`` (also the ``lineage-resolver``
script). ``rebuild`` prints the JSON report; without ``--apply`` it exits 1 when the view differs from a full
recomputation (usable as a scheduled check). Events of ``rebuild --apply`` go to the outbox; the service's relay
publishes them."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Sequence

from common.db import create_engine, session_factory
from common.migrations import upgrade_sync
from common.outbox import Outbox
from lineage_resolver.config import Settings
from lineage_resolver.db.tables import outbox
from lineage_resolver.deps import build_deps
from lineage_resolver.service import RebuildReport, rebuild_dependency_view


async def _rebuild(settings: Settings, *, apply: bool) -> RebuildReport:
    engine = create_engine(settings.database_url, schema=settings.db_schema, pool_size=2)
    try:
        writer = Outbox(outbox, source=f"/services/{settings.service_name}", topic_name=settings.topic)
        deps = build_deps(settings, engine, session_factory(engine), writer)
        return await rebuild_dependency_view(deps, apply=apply)
    finally:
        await engine.dispose()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lineage-resolver", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="upgrade the lineage schema to the latest migration")
    rebuild = sub.add_parser("rebuild", help="recompute task_dependency_view and report differences")
    rebuild.add_argument("--apply", action="store_true", help="write the differing rows and emit their events")
    sub.add_parser("serve", help="run the HTTP API and the lineage.changed consumer (uvicorn)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    if args.command == "migrate":
        upgrade_sync(settings.migrations_path, settings.database_url, settings.db_schema)
        print(json.dumps({"migrated": settings.db_schema}))
        return 0
    if args.command == "rebuild":
        report = asyncio.run(_rebuild(settings, apply=args.apply))
        print(json.dumps({**dataclasses.asdict(report), "clean": report.clean}))
        return 0 if report.clean or args.apply else 1
    import uvicorn

    from common.http import KEEP_ALIVE_S

    uvicorn.run(
        "lineage_resolver.main:create_app",
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_S,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
