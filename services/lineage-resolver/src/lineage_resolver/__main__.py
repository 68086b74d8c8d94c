"""``python -m lineage_resolver serve | migrate | rebuild [--apply]`` (also the ``lineage-resolver``
script). ``rebuild`` prints the JSON report; without ``--apply`` it exits 1 when the view differs from a full
recomputation (usable as a scheduled check). Events of ``rebuild --apply`` go to the outbox; the service's relay
publishes them."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

from common.db import create_engine, session_factory
from common.main import Command, run, service_main
from common.outbox import Outbox
from lineage_resolver.config import Settings
from lineage_resolver.db.tables import outbox
from lineage_resolver.deps import build_deps
from lineage_resolver.main import create_app
from lineage_resolver.service import RebuildReport, rebuild_dependency_view


async def _rebuild(settings: Settings, *, apply: bool) -> RebuildReport:
    engine = create_engine(settings.database_url, schema=settings.db_schema, pool_size=2)
    try:
        writer = Outbox(outbox, source=f"/services/{settings.service_name}", topic_name=settings.topic)
        deps = build_deps(settings, engine, session_factory(engine), writer)
        return await rebuild_dependency_view(deps, apply=apply)
    finally:
        await engine.dispose()


def _rebuild_command(settings: Settings, args: argparse.Namespace) -> int:
    report = run(_rebuild(settings, apply=args.apply))
    print(json.dumps({**dataclasses.asdict(report), "clean": report.clean}))
    return 0 if report.clean or args.apply else 1


def _rebuild_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--apply", action="store_true", help="write the differing rows and emit their events")


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(
        argv,
        Settings,
        create_app,
        serve_help="run the HTTP API and the lineage.changed consumer (uvicorn)",
        commands=[
            Command(
                "rebuild",
                "recompute task_dependency_view and report differences",
                _rebuild_command,
                _rebuild_arguments,
            )
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
