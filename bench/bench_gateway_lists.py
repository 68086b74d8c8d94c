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
production telemetry (tracing at the default sampling, exported over OTLP/HTTP to a local sink; Prometheus metrics;
``--read-sampling 1.0`` records every read), each with its own role and schema; the load comes from a second process
(``_loadgen.py``), in two ways, each after a warm-up, in ``--rounds`` rounds (3) that alternate the two sides of a
comparison (the machine's speed drifts over minutes):
- a given load: ``--rate`` requests per second arriving at random (open loop, Poisson), latency from each request's
  scheduled time: the p50/p99 a user sees while the platform serves that load;
- saturation: ``--concurrency`` keep-alive connections each sending its next request as soon as the last one is
  answered (closed loop): the throughput; its latency is mostly the queue the connections keep full.

Figures (each for the gateway and its baseline, same load):
a. ``GET /api/v1/workflows`` (pages 1–50 of 20, with the last 10 runs of each workflow): p50/p99 at the given load
   (target p99 < 50 ms) and at saturation, and throughput; baseline: reading the same data from the services
   directly (the definition list endpoint, which carries the last 10 runs);
b. ``GET /api/v1/tasks?upstreamTaskId=X`` for X matching 1–20 tasks: p99 at the given load (target < 30 ms) and at
   saturation, and throughput; baseline: a minimal one-hop FastAPI app (``_baseline_tasks_app.py``, its own uvicorn
   process) running the same GIN-indexed query, joined to the catalog, on the same database in the same run;
   targets: ≥ ½ of its throughput (saturation), ≤ 2× its p99 (at the given load and at saturation).

Run: ``.venv/bin/python bench/bench_gateway_lists.py [--workflows 100000] [--rate 100] [--concurrency 8]
[--requests 1500] [--rounds 3]``
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
    timed,
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
        f"    {name:<52} p50 {fig['p50']:7.1f} ms   p99 {fig['p99']:7.1f} ms   {fig['rps']:7.1f} req/s"
        f"   (n={len(lat)}, load {load_average()}){extra}",
        flush=True,
    )
    return fig


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs of one load as one: all their latencies, their time added up."""
    return {
        "latencies_ms": [x for r in runs for x in r["latencies_ms"]],
        "elapsed_s": sum(r["elapsed_s"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "error_samples": [x for r in runs for x in r["error_samples"]],
        "degraded": sum(r["degraded"] for r in runs),
    }


def rps(r: dict[str, Any]) -> float:
    return len(r["latencies_ms"]) / float(r["elapsed_s"])


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", type=int, default=100_000)
    ap.add_argument("--edges-per-task", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--rate", type=float, default=100.0, help="the given load, requests per second (open loop)")
    ap.add_argument("--read-sampling", type=float, default=None, help="trace sampling of reads (default: as deployed)")
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="each figure in this many rounds, the two sides alternating (the machine's speed drifts over minutes)",
    )
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    admin_url, bootstrap = devstack()
    stack = Stack(admin_url, bootstrap, read_sampling_ratio=args.read_sampling)
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
        await timed("vacuum, analyse and checkpoint after the seeding", stack.settle())

        with OtlpSink() as sink:
            gw = stack.start_platform(otlp=sink.url)
            base = stack.start_uvicorn(
                "baseline-tasks",
                "_baseline_tasks_app:create_app",
                {
                    "BASELINE_DSN": asyncpg_dsn(admin_url),
                    "BASELINE_LINEAGE_SCHEMA": stack.schema("lineage"),
                    "BASELINE_DEFINITION_SCHEMA": stack.schema("definition"),
                },
            )
            async with httpx.AsyncClient(timeout=10) as http:
                source = (await http.get(base.url + "/source")).json()["view"]
            print(f"  task-list baseline reads {source}", flush=True)
            per_round = max(1, args.requests // args.rounds)
            saturate = ["--concurrency", str(args.concurrency), "--requests", str(per_round)]
            saturate += ["--warmup", str(args.warmup)]
            steady = ["--rate", str(args.rate), "--concurrency", "64", "--requests", str(per_round)]
            steady += ["--warmup", str(args.warmup)]
            tok = [f"--token={stack.admin_token}"]  # "=": a token may start with "-"
            idarg = ["--ids", ",".join(map(str, ids))]
            defn = stack.upstreams["definition"].url
            at_rate = f"at {args.rate:g} req/s"
            sat = f"saturation, {args.concurrency} connections"

            def figures(
                ours: tuple[str, list[str]], reference: tuple[str, list[str]]
            ) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict[str, float]]:
                """The figures of both sides, measured in ``--rounds`` rounds that alternate which side goes first,
                each figure over all its rounds; the throughput ratio of each round is printed too."""
                runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
                for r in range(args.rounds):
                    sides = (0, 1) if r % 2 == 0 else (1, 0)
                    for mode, load in (("rate", steady), ("sat", saturate)):
                        for side in sides:
                            scenario = (ours, reference)[side][1]
                            runs.setdefault((side, mode), []).append(run_load([*scenario, *load]))
                out = []
                for side, (label, _) in enumerate((ours, reference)):
                    out.append(summary(f"{label}, {at_rate}", pooled(runs[side, "rate"])))
                    out.append(summary(f"{label}, {sat}", pooled(runs[side, "sat"])))
                each = [rps(a) / rps(b) for a, b in zip(runs[0, "sat"], runs[1, "sat"], strict=True)]
                print(f"    throughput ratio of each round: {', '.join(f'{x:.2f}' for x in each)}", flush=True)
                return out[0], out[1], out[2], out[3]

            print("\na. GET /api/v1/workflows (page of 20 + last 10 runs)", flush=True)
            gw_a, gw_a_sat, direct, direct_sat = figures(
                ("gateway", ["--scenario", "gw-workflows", "--url", gw.url, *tok]),
                (
                    "direct: definition list",
                    # with the identity token the gateway would send (a service answers nothing without one)
                    [
                        "--scenario",
                        "direct-workflows",
                        "--url",
                        defn,
                        f"--token={stack.identity_token('definition')}",
                    ],
                ),
            )
            print(
                f"    ratio gateway/direct {at_rate}: p50 {gw_a['p50'] / direct['p50']:.2f}"
                f"  p99 {gw_a['p99'] / direct['p99']:.2f};"
                f"  at saturation: p99 {gw_a_sat['p99'] / direct_sat['p99']:.2f}"
                f"  throughput {gw_a_sat['rps'] / direct_sat['rps']:.2f}",
                flush=True,
            )
            print(
                f"    target p99 < 50 ms {at_rate}: {'met' if gw_a['p99'] < 50 else 'NOT met'}"
                f"  (at saturation: {'met' if gw_a_sat['p99'] < 50 else 'NOT met'})",
                flush=True,
            )

            print("\nb. GET /api/v1/tasks?upstreamTaskId=X (X matches 1–20 tasks)", flush=True)
            gw_b, gw_b_sat, base_b, base_b_sat = figures(
                ("gateway", ["--scenario", "gw-tasks", "--url", gw.url, *tok, *idarg]),
                ("baseline: one-hop app", ["--scenario", "base-tasks", "--url", base.url, *idarg]),
            )
            thr = gw_b_sat["rps"] / base_b_sat["rps"]
            p99r, p99r_sat = gw_b["p99"] / base_b["p99"], gw_b_sat["p99"] / base_b_sat["p99"]
            print(
                f"    ratio gateway/baseline: throughput {thr:.2f}"
                f" (target ≥ 0.5: {'met' if thr >= 0.5 else 'NOT met'});"
                f"  p99 {at_rate} {p99r:.2f}, at saturation {p99r_sat:.2f}"
                f" (target ≤ 2: {'met' if max(p99r, p99r_sat) <= 2 else 'NOT met'})",
                flush=True,
            )
            print(
                f"    target p99 < 30 ms {at_rate}: {'met' if gw_b['p99'] < 30 else 'NOT met'}"
                f"  (at saturation: {'met' if gw_b_sat['p99'] < 30 else 'NOT met'})",
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
