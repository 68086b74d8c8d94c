"""Gateway list pages at scale (issue: API gateway and portal).

Data (seeded with set-based SQL into the tables the services' migrations create):
- definition: ``--workflows`` (100,000) published workflows of 10 tasks each → 1,000,000 ``data_task`` rows, their
  ownership rows and one version per workflow; its read projections as the consumers and
  ``python -m definition sync-dependencies`` leave them: each workflow's last 10 executions (``execution.synced``:
  the same 1,000,000 executions history-sync caches), the workflow counter, and the dependency projection (a copy of
  lineage's view);
- history-sync: every workflow tracked with its last 10 executions cached → 1,000,000 ``workflow_instance_cache`` rows;
- lineage-resolver: ``task_dependency_view`` for the 1,000,000 tasks with ~3,000,000 dependencies (each task depends on
  3 earlier ones, mostly close by).
Processes: definition, history-sync, lineage-resolver and the gateway as real ``uvicorn --factory`` processes with
production telemetry (tracing at sampling 1.0, exported over OTLP/HTTP to a local sink; Prometheus metrics), each with
its own role and schema; the load comes from a second process (``_loadgen.py``, ``--concurrency`` keep-alive
connections, a fixed number of requests after a warm-up).

Figures:
a. ``GET /api/v1/workflows`` (pages 1–50 of 20, with the last 10 runs of each workflow): p50/p99 and throughput, target
   p99 < 50 ms; baseline: the same load generator reading the same data from the services directly (the definition
   list endpoint, which carries the last 10 runs);
b. ``GET /api/v1/tasks?upstreamTaskId=X`` for X matching 1–20 tasks: p99 (target < 30 ms) and throughput; baseline: a
   minimal one-hop FastAPI app (``_baseline_tasks_app.py``, its own uvicorn process) running the same GIN-indexed
   query, joined to the catalog, on the same database in the same run; targets: ≥ ½ of its throughput, ≤ 2× its p99.

Run: ``.venv/bin/python bench/bench_gateway_lists.py [--workflows 100000] [--concurrency 8] [--requests 1500]``
(uses the devstack PostgreSQL and Kafka; drops its schemas, roles and topics at the end; ``--keep`` keeps them and
the processes for profiling until Enter is pressed).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx
from _platform_stack import (
    OtlpSink,
    Stack,
    devstack,
    load_average,
    pick_upstream_ids,
    run_load,
    seed_definition,
    seed_dependency_projection,
    seed_history,
    seed_lineage,
    start_uvicorn,
    timed,
    wait_ready,
)

from common.db import asyncpg_dsn


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def summary(name: str, r: dict[str, Any]) -> dict[str, float]:
    lat = r["latencies_ms"]
    fig = {"p50": pct(lat, 50), "p99": pct(lat, 99), "rps": len(lat) / r["elapsed_s"]}
    extra = f"  errors {r['errors']} {r['error_samples'][:1]}" if r["errors"] else ""
    extra += f"  degraded {r['degraded']}" if r["degraded"] else ""
    print(
        f"    {name:<42} p50 {fig['p50']:7.1f} ms   p99 {fig['p99']:7.1f} ms   {fig['rps']:7.1f} req/s"
        f"   (n={len(lat)}, load {load_average()}){extra}",
        flush=True,
    )
    return fig


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", type=int, default=100_000)
    ap.add_argument("--edges-per-task", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    admin_url, bootstrap = devstack()
    stack = Stack(admin_url, bootstrap)
    print(f"gateway list benchmark (load average at start {load_average()})", flush=True)
    try:
        await timed("schemas + migrations", stack.provision())
        print("seeding:", flush=True)
        await timed(
            f"definition ({args.workflows:,} workflows, {args.workflows * 10:,} tasks)",
            seed_definition(stack, args.workflows),
        )
        await timed(f"history-sync ({args.workflows * 10:,} cached executions)", seed_history(stack, args.workflows))
        edges = await timed("lineage view", seed_lineage(stack, args.workflows * 10, args.edges_per_task))
        print(f"  lineage: {args.workflows * 10:,} tasks, {edges:,} dependency edges", flush=True)
        await timed("definition dependency projection (copy of lineage's view)", seed_dependency_projection(stack))
        ids = await pick_upstream_ids(stack, 500)

        with OtlpSink() as sink:
            gw = stack.start_platform(otlp=sink.url)
            base = start_uvicorn(
                "baseline-tasks",
                "_baseline_tasks_app:create_app",
                {
                    "BASELINE_DSN": asyncpg_dsn(admin_url),
                    "BASELINE_LINEAGE_SCHEMA": stack.schema("lineage"),
                    "BASELINE_DEFINITION_SCHEMA": stack.schema("definition"),
                },
                stack.log_dir,
            )
            stack.procs.append(base)
            wait_ready(base)
            async with httpx.AsyncClient(timeout=10) as http:
                source = (await http.get(base.url + "/source")).json()["view"]
            print(f"  task-list baseline reads {source}", flush=True)
            common = [
                "--concurrency",
                str(args.concurrency),
                "--requests",
                str(args.requests),
                "--warmup",
                str(args.warmup),
            ]
            tok = ["--token", stack.admin_token]
            idarg = ["--ids", ",".join(map(str, ids))]
            defn = stack.upstreams["definition"].url

            print(f"\na. GET /api/v1/workflows (page of 20 + last 10 runs), {args.concurrency} connections", flush=True)
            gw_a = summary("gateway", run_load(["--scenario", "gw-workflows", "--url", gw.url, *tok, *common]))
            direct = summary(
                "direct: definition list (with last 10 runs)",
                run_load(["--scenario", "direct-workflows", "--url", defn, *common]),
            )
            print(
                f"    ratio gateway/direct: p50 {gw_a['p50'] / direct['p50']:.2f}"
                f"  p99 {gw_a['p99'] / direct['p99']:.2f}"
                f"  throughput {gw_a['rps'] / direct['rps']:.2f}"
                f"   target p99 < 50 ms: {'met' if gw_a['p99'] < 50 else 'NOT met'}",
                flush=True,
            )

            print(
                f"\nb. GET /api/v1/tasks?upstreamTaskId=X (X matches 1–20 tasks), {args.concurrency} connections",
                flush=True,
            )
            gw_b = summary("gateway", run_load(["--scenario", "gw-tasks", "--url", gw.url, *tok, *idarg, *common]))
            base_b = summary(
                "baseline: one-hop app, same query",
                run_load(["--scenario", "base-tasks", "--url", base.url, *idarg, *common]),
            )
            thr, p99r = gw_b["rps"] / base_b["rps"], gw_b["p99"] / base_b["p99"]
            print(
                f"    ratio gateway/baseline: throughput {thr:.2f} (target ≥ 0.5: {'met' if thr >= 0.5 else 'NOT met'})"
                f"  p99 {p99r:.2f} (target ≤ 2: {'met' if p99r <= 2 else 'NOT met'})"
                f"   target p99 < 30 ms: {'met' if gw_b['p99'] < 30 else 'NOT met'}",
                flush=True,
            )
            print(f"\n  OTLP sink received {sink.stats}; load average at end {load_average()}")
            if args.keep:
                print(f"kept: gateway {gw.url} token {stack.admin_token} baseline {base.url} logs {stack.log_dir}")
                await asyncio.to_thread(input, "press Enter to clean up ")
    finally:
        t0 = time.perf_counter()
        await stack.cleanup()
        print(f"  cleanup: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
