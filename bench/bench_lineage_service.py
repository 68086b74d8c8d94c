"""Benchmark of the lineage-resolver's real service path on PostgreSQL (issue: lineage-resolver).

Data: the generator of ``bench_lineage_domain.py`` (same seed, same distribution): 200,000 tasks, ~1,000,000
task↔table relations in a layered warehouse with hub tables. The bench provisions a schema and role of its own, runs
the service's migrations, seeds ``table_task_relation`` with COPY and ``task_dependency_view`` with the rows of the
domain's full rebuild (so the incremental state is consistent), runs VACUUM ANALYZE (the state autovacuum reaches
after a bulk load: statistics and the visibility map for index-only scans), and then measures:

1. one lineage event end to end, p50/p99/max: a ``LineageChanged`` envelope (the primary form on
   ``lineage.changed``) handed to the service's own ``ConsumerRuntime`` with the subscriber's handler — decode, one
   transaction with the inbox claim, planning under advisory locks, the view and relation writes, the
   ``task.dependency.changed`` events staged in the outbox, commit. Kafka itself is not in the loop (the figure is
   the service's own cost per record). Target: p99 < 100 ms;
2. baseline: building the whole task dependency graph with networkx (``DiGraph``) from the same rows (time and peak
   memory under tracemalloc; the code of the domain bench);
3. the full rebuild as an operator runs it: ``python -m lineage_resolver rebuild`` (dry run: read every relation,
   recompute, diff against the view) in a subprocess — wall time and the child's max RSS — and the same use case
   in-process (time). The check must come out clean (the incremental path kept the view right).

The schema and role are dropped at the end. The 1-minute load average is printed: the machine may be shared.

Run: ``.venv/bin/python bench/bench_lineage_service.py [--tasks 200000] [--events 500] [--seed 7]`` (uses
``DATABASE_URL`` / ``KAFKA_BOOTSTRAP_SERVERS`` or the local devstack servers).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from bench_lineage_domain import Relation, Warehouse, networkx_graph, pct, peak_mib, timed
from pydantic import SecretStr

from common.consumer import ConsumerRuntime, Outcome, Record
from common.db import asyncpg_dsn, create_engine, drop_service, provision_service, session_factory
from common.events import LineageChanged, TableEdge, Topics, registry
from common.migrations import upgrade
from common.outbox import Outbox
from lineage_resolver.config import MIGRATIONS, Settings
from lineage_resolver.db.tables import inbox, outbox
from lineage_resolver.deps import build_deps
from lineage_resolver.domain import (
    AddTableLineage,
    LineageChange,
    RemoveTableLineage,
    RemoveTask,
    SetTaskTables,
    rebuild_from_relations,
)
from lineage_resolver.messages import ForeignLineageDecoder
from lineage_resolver.service import rebuild_dependency_view
from lineage_resolver.subscribers import lineage_changed_handler

TARGET_P99_MS = 100.0
SEEDED_TABLES = ("table_task_relation", "task_dependency_view")


def envelope_of(change: LineageChange) -> LineageChanged:
    """The domain bench's command as the ``LineageChanged`` event a producer would publish."""
    if isinstance(change, SetTaskTables):
        return LineageChanged(
            task_id=change.task_id,
            read_tables=tuple(sorted(change.reads)) if change.reads is not None else None,
            write_tables=tuple(sorted(change.writes)) if change.writes is not None else None,
        )
    if isinstance(change, RemoveTask):
        return LineageChanged(task_id=change.task_id, task_removed=True)
    if isinstance(change, AddTableLineage | RemoveTableLineage):
        edges = tuple(TableEdge(source_table=e.source, target_table=e.target) for e in change.edges)
        if isinstance(change, AddTableLineage):
            return LineageChanged(table_edges_added=edges)
        return LineageChanged(table_edges_removed=edges)
    raise TypeError(change)


async def seed(dsn: str, relations: list[Relation]) -> tuple[float, float, int]:
    """COPY the relations and the rebuilt view (secondary indexes dropped meanwhile and recreated as the migrations
    defined them); returns (seconds for relations, seconds for the view, view rows)."""
    conn = await asyncpg.connect(dsn)
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = ANY($1::text[]) AND indexname LIKE 'ix\\_%'",
            list(SEEDED_TABLES),
        )
        for ix in indexes:
            await conn.execute(f'DROP INDEX "{ix["indexname"]}"')
        t0 = time.perf_counter()
        await conn.copy_records_to_table(
            "table_task_relation",
            records=((t, name, kind.value) for t, name, kind in relations),
            columns=("task_id", "table_name", "relation_type"),
        )
        t_rel = time.perf_counter() - t0
        t0 = time.perf_counter()
        view = rebuild_from_relations(relations)
        await conn.copy_records_to_table(
            "task_dependency_view",
            records=(
                (r.task_id, sorted(r.upstream), sorted(r.downstream), r.upstream_count, r.downstream_count)
                for r in view.values()
            ),
            columns=("task_id", "upstream_task_ids", "downstream_task_ids", "upstream_count", "downstream_count"),
        )
        n_view = len(view)
        del view
        for ix in indexes:
            await conn.execute(ix["indexdef"])
        # the steady state autovacuum reaches after a bulk load: statistics, and the visibility map that lets
        # readers_of / writers_of run as index-only scans (without it every hub table's readers are heap fetches)
        for table in SEEDED_TABLES:
            await conn.execute(f"VACUUM (ANALYZE) {table}")
        t_view = time.perf_counter() - t0
    finally:
        await conn.close()
    return t_rel, t_view, n_view


class _NoDlq:
    def __init__(self) -> None:
        self.reasons: list[str] = []

    async def send(self, topic: str, *, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.reasons.append(dict(headers).get("x-dlq-reason", b"").decode())


def rebuild_subprocess(settings: Settings) -> tuple[float, float, dict[str, Any]]:
    """``python -m lineage_resolver rebuild`` (dry run): wall seconds, the child's max RSS in MiB, its report."""
    env = {
        **os.environ,
        "LINEAGE_DATABASE_URL": settings.database_url.get_secret_value(),
        "LINEAGE_DB_SCHEMA": settings.db_schema,
    }
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lineage_resolver", "rebuild"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"rebuild exited {proc.returncode}: {out}")
    return elapsed, usage.ru_maxrss / 1024, report


def ratio(value: float, base: float) -> str:
    return f"{value / base:.4f}× baseline" if base else "n/a"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--tables", type=int, default=300_000)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc run of the baseline")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the event loop phase to this file")
    parser.add_argument(
        "--keep", action="store_true", help="keep the seeded schema and role at the end (prints how to --reuse it)"
    )
    parser.add_argument(
        "--reuse",
        metavar="SCHEMA:PASSWORD",
        help="measure on a schema left by --keep instead of seeding a new one (development only: the schema holds "
        "the effects of earlier runs' events; combine with --round so the events are new ones)",
    )
    parser.add_argument(
        "--round",
        type=int,
        default=0,
        help="draw the events from a different random stream (same generator and mix); 0 = the standard events",
    )
    parser.add_argument("--skip-rebuild", action="store_true", help="skip the full-rebuild figures")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("lineage_resolver").setLevel(logging.ERROR)  # cycle / self-dependency notes per event

    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    wh = Warehouse(args.tasks, args.tables, args.seed)
    relations, t_gen = timed(wh.relations)
    print(f"data: {len(wh.task_layer):,} tasks, {len(relations):,} relations, generated in {t_gen:.1f}s")

    graph, t_nx = timed(lambda: networkx_graph(relations))
    n_edges = graph.number_of_edges()
    del graph
    nx_mib = 0.0 if args.no_memory else peak_mib(lambda: networkx_graph(relations))
    print(
        f"baseline networkx DiGraph build from the rows: {t_nx * 1e3:,.0f} ms, {n_edges:,} dependency edges"
        + ("" if args.no_memory else f", peak {nx_mib:,.0f} MiB (tracemalloc)")
    )

    from devstack.infra import ensure_infra

    admin_url, bootstrap = ensure_infra()
    if args.reuse:
        schema, _, password = args.reuse.partition(":")
        suffix = schema.removeprefix("lineage_bench_")
    else:
        suffix = uuid.uuid4().hex[:6]
        schema, password = f"lineage_bench_{suffix}", secrets.token_urlsafe(12)
    # provisioning is idempotent: on --reuse it only returns the existing schema's URL
    db = await provision_service(admin_url, schema=schema, role=schema, password=SecretStr(password))
    try:
        await upgrade(MIGRATIONS, db.url, db.schema)
        if args.reuse:
            print(f"reusing schema {schema} (seeded by an earlier --keep run; holds its events' effects)")
        else:
            t_rel, t_view, n_view = await seed(asyncpg_dsn(db.url), relations)
            print(
                f"seeded schema {schema}: {len(relations):,} relations by COPY in {t_rel:.1f}s; "
                f"{n_view:,} view rows (domain rebuild + COPY + indexes + VACUUM ANALYZE) in {t_view:.1f}s"
            )
        relations.clear()
        gc.collect()

        settings = Settings(
            database_url=db.url,
            db_schema=db.schema,
            kafka_bootstrap_servers=bootstrap,
            topic_prefix=f"bench{suffix}.",
            log_json=False,
        )
        engine = create_engine(db.url, schema=db.schema, pool_size=4)
        try:
            sessions = session_factory(engine)
            writer = Outbox(outbox, source=f"/services/{settings.service_name}", topic_name=settings.topic)
            deps = build_deps(settings, engine, sessions, writer)
            topic = settings.topic(Topics.LINEAGE_CHANGED)
            dlq = _NoDlq()
            runtime = ConsumerRuntime(
                name=settings.group_id,
                sessions=sessions,
                inbox=inbox,
                dlq=dlq,
                max_attempts=settings.consumer_max_attempts,
                foreign_decoder=ForeignLineageDecoder(settings.openlineage, topic=topic),
            )
            handler = lineage_changed_handler(deps)
            if args.round:
                wh.rng.seed(f"{args.seed}:round:{args.round}")
            records = [
                Record(topic, 0, offset, b"k", registry.encode(envelope_of(change), source="/bench").to_bytes())
                for offset, change in enumerate(wh.events(args.events))
            ]
            # warm-up: prepared statements and the pool's connections (one record, not measured, not repeated)
            warm = records.pop(0)
            await runtime.handle(warm, handler)

            latencies: list[float] = []
            outcomes: dict[Outcome, int] = {}
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            for record in records:
                start = time.perf_counter()
                outcome = await runtime.handle(record, handler)
                latencies.append((time.perf_counter() - start) * 1e3)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            staged = await _count_outbox(engine)
            load = os.getloadavg()[0]
            p50, p99, worst = pct(latencies, 0.50), pct(latencies, 0.99), max(latencies)
            print(
                f"one event end to end ({len(latencies)} LineageChanged records through ConsumerRuntime: inbox claim, "
                f"plan under locks, writes, outbox, commit): {dict((o.value, n) for o, n in outcomes.items())}, "
                f"{staged:,} task.dependency.changed staged; load {load:.2f}"
            )
            for name, value in (("p50", p50), ("p99", p99), ("max", worst), ("mean", statistics.fmean(latencies))):
                print(f"  {name:4} {value:8.1f} ms   {ratio(value / 1e3, t_nx)}")
            print(f"  target p99 < {TARGET_P99_MS:.0f} ms: {'met' if p99 < TARGET_P99_MS else 'NOT met'}")
            if dlq.reasons:
                print(f"  dead-lettered: {dlq.reasons[:3]}")

            if args.skip_rebuild:
                return
            report, t_inproc = None, time.perf_counter()
            report = await rebuild_dependency_view(deps, apply=False)
            t_inproc = time.perf_counter() - t_inproc
        finally:
            await engine.dispose()
        t_sub, rss_sub, sub_report = rebuild_subprocess(settings)
        print(
            f"full rebuild, dry run (rebuild_dependency_view in-process): {t_inproc:.1f}s, clean={report.clean}   "
            f"{ratio(t_inproc, t_nx)}"
        )
        print(
            f"full rebuild, `python -m lineage_resolver rebuild` subprocess: {t_sub:.1f}s wall (incl. start-up), "
            f"max RSS {rss_sub:,.0f} MiB, clean={sub_report.get('clean')}   {ratio(t_sub, t_nx)}"
            + ("" if args.no_memory else f"; networkx peak {nx_mib:,.0f} MiB (tracemalloc, Python heap only)")
        )
        if not report.clean:
            print(
                f"  differs: missing {len(report.missing)}, extra {len(report.extra)}, "
                f"different {len(report.different)}"
            )
    finally:
        if args.keep:
            print(f"kept schema {db.schema}: rerun with --reuse {db.schema}:{password} --round N")
        else:
            await drop_service(admin_url, schema=db.schema, role=db.role)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


async def _count_outbox(engine: Any) -> int:
    from sqlalchemy import text

    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one())


if __name__ == "__main__":
    asyncio.run(main())
