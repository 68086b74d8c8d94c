"""``python -m history_sync serve | migrate | sync-once``."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Sequence

from common.db import create_engine, session_factory
from common.main import Command, run, service_main
from common.outbox import Outbox
from history_sync import service
from history_sync.config import Settings
from history_sync.db.tables import outbox_table
from history_sync.deps import Deps
from history_sync.main import create_app, dolphin_client, throttled


async def _sync_once(settings: Settings) -> dict[str, object]:
    """Sync every due workflow once (no Kafka: events stay in the outbox for the service's relay)."""
    engine = create_engine(settings.database_url, schema=settings.db_schema, pool_size=settings.sync_lanes + 2)
    client = dolphin_client(settings)
    dolphin = throttled(settings, client)
    deps = Deps(
        settings=settings,
        sessions=session_factory(engine),
        outbox=Outbox(outbox_table, source=f"/services/{settings.service_name}", topic_name=settings.topic),
        dolphin=dolphin,
    )
    try:
        cpu0 = time.process_time()
        started_at = time.time()
        t0 = time.perf_counter()
        report = await service.sync_due_workflows(deps)
        wall = time.perf_counter() - t0
        finished_at = time.time()
        cpu = time.process_time() - cpu0
        await service.housekeeping(deps)
    finally:
        await client.aclose()
        await engine.dispose()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    r = report.result
    return {
        "synced": r.synced,
        "failed": r.failed,
        "changed": r.changed,
        "lost": r.lost,
        "batches": report.batches,
        "errors": report.errors,
        "wall_s": round(wall, 3),
        # wall-clock bounds of the cycle, to measure one cycle shared by several replicas (first start, last end)
        "started_at": round(started_at, 3),
        "finished_at": round(finished_at, 3),
        "replica": settings.replica_id,
        "cycle_cpu_s": round(cpu, 3),
        "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "max_ds_in_flight": dolphin.max_in_flight,
    }


def _sync(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(run(_sync_once(settings))))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(
        argv,
        Settings,
        create_app,
        serve_help="run the service (HTTP API, consumer, periodic sync)",
        commands=[Command("sync-once", "sync every due workflow once and print a JSON summary", _sync)],
    )


if __name__ == "__main__":
    sys.exit(main())
