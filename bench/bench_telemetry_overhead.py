"""Overhead of telemetry (tracing as deployed, exported to a running trace backend, plus the always-on Prometheus
metrics) on the publish path and on ``GET /api/v1/workflows`` (issues: Operability, 19). Ratio on/off, target ≤ 1.10.

``--backend zipkin`` (the default): the trace backend ``./platform up`` starts (``devstack.observability.Zipkin``,
in-memory storage) runs for the whole benchmark and "on" exports to it with the Zipkin JSON exporter, as ``up``
configures the services: the backend's CPU (on the same two cores) is part of what is measured. ``--backend
otlp-sink``: the earlier set-up, OTLP/HTTP to a local sink that drops the spans.

- publish path: the publisher's use cases (``accept_publish`` + ``run_publish``, deploy then online, as
  ``bench_publish.py``) for ``--workflows`` workflows through the DS emulator at ``--latency-ms`` per DS call, in a
  child process per mode: "on" sets up the process's tracer provider exactly as the service does
  (``common.telemetry.setup_tracing`` with a ``BatchSpanProcessor`` → OTLP/HTTP exporter → a local sink that drops
  the spans, so export cost is real but bounded; httpx instrumented; ``instrument_engine``) and runs each use case
  under a consumer span, as the Kafka middleware would; "off" sets up nothing. Modes alternate (off, on, off, on …)
  and the median of each is compared;
- list path: the gateway list page under load from a second process (``_loadgen.py``), as in
  ``bench_gateway_lists.py`` 1a but with ``--list-workflows`` (10,000) workflows: the four processes started with
  telemetry on (``create_app`` as deployed, OTLP endpoint = the sink; this path is a read, traced at the services'
  read ratio, default 0.1, or ``--read-sampling``; ``--sampling`` sets the ratio of other work) or off
  (``telemetry=False``, see ``_bench_factories.py``), alternating, medians compared (p50, p99, throughput).
"Off" switches tracing off; the RED metrics middleware has no switch (it is part of every app), so its cost is shown
separately, measured in-process per request.

Run: ``.venv/bin/python bench/bench_telemetry_overhead.py [--rounds 3] [--workflows 60] [--list-workflows 10000]
[--backend zipkin|otlp-sink]``
(devstack PostgreSQL and Kafka; own schemas, roles, topics and emulator, all removed at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _platform_stack import (
    OtlpSink,
    Stack,
    devstack,
    load_average,
    run_load,
    seed_definition,
    seed_history,
    timed,
)

from common.settings import ServiceSettings
from devstack.observability import Zipkin
from devstack.stack import free_port

BENCH = Path(__file__).resolve().parent


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# ------------------------------------------------------------------------------------------------------ publish path


async def publish_child(mode: str, workflows: int, latency_ms: float, otlp: str, zipkin: str, admin_url: str) -> None:
    """One measurement in this (child) process; prints a JSON line."""
    from bench_publish import approval_keys, run_ours, snapshot
    from pydantic import SecretStr

    from common.db import create_engine, drop_service, provision_service, session_factory
    from common.dolphin.gateway import DolphinGatewayClient
    from common.dolphin.rest import DolphinRestClient
    from common.migrations import upgrade
    from common.outbox import Outbox
    from ds_emulator import EmulatorProcess
    from publisher.config import MIGRATIONS
    from publisher.db.tables import outbox_table
    from publisher.deps import Deps, DsTarget
    from publisher.service import acceptance, publish_queue

    provider = None
    if mode == "on":
        from common.telemetry import instrument_engine, setup_tracing

        provider = setup_tracing("publisher", otlp_endpoint=otlp, zipkin_endpoint=zipkin, sampling_ratio=1.0)
    suffix = uuid.uuid4().hex[:6]
    schema = role = f"bench_tel_{suffix}"
    db = await provision_service(admin_url, schema=schema, role=role, password=SecretStr(secrets.token_urlsafe(12)))
    await upgrade(MIGRATIONS, db.url, db.schema)
    engine = create_engine(db.url, schema=db.schema, pool_size=4)
    if provider is not None:
        instrument_engine(engine, provider)
    emulator = EmulatorProcess()
    emulator.start()
    try:
        rest = DolphinRestClient.create(emulator.rest_url, SecretStr(emulator.access_token))
        gateway = DolphinGatewayClient(emulator.host, emulator.gateway_port, SecretStr(emulator.auth_token))
        deps = Deps(
            sessions=session_factory(engine),
            outbox=Outbox(outbox_table, source="/bench"),
            gateway=gateway,
            rest=rest,
            target=DsTarget("default", f"bench-{suffix}", "admin", "default", "default", emulator.rest_url + "/ui"),
            approvals=approval_keys(),
        )
        if provider is not None:
            # each use case under a consumer span, as FastStream's telemetry middleware does for a Kafka message
            tracer = provider.get_tracer("bench")
            accept, run = acceptance.accept_publish, publish_queue.run_publish

            async def accept_traced(*a: Any, **k: Any) -> Any:
                with tracer.start_as_current_span("publish.requested process"):
                    return await accept(*a, **k)

            async def run_traced(*a: Any, **k: Any) -> Any:
                with tracer.start_as_current_span("publish.run"):
                    return await run(*a, **k)

            acceptance.accept_publish, publish_queue.run_publish = accept_traced, run_traced  # type: ignore[assignment]
        await run_ours(deps, [snapshot(10_000_000 + i, "warm") for i in range(5)])
        emulator.set_global_latency(latency_ms)
        elapsed = await run_ours(deps, [snapshot(i + 1, f"{mode}{suffix}") for i in range(workflows)])
        if provider is not None:
            provider.force_flush()
        await rest.aclose()
        await gateway.aclose()
        print(json.dumps({"mode": mode, "elapsed_s": elapsed}))
    finally:
        emulator.stop()
        await engine.dispose()
        await drop_service(admin_url, schema=schema, role=role)


def run_publish_child(mode: str, args: argparse.Namespace, otlp: str, zipkin: str, admin_url: str) -> float:
    cmd = [sys.executable, str(BENCH / "bench_telemetry_overhead.py"), "--publish-child", mode]
    cmd += ["--workflows", str(args.workflows), "--latency-ms", str(args.latency_ms), "--otlp", otlp]
    cmd += ["--zipkin", zipkin]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"publish child ({mode}) failed:\n{out.stderr[-3000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["elapsed_s"])


# --------------------------------------------------------------------------------------------------------- list path


def list_round(stack: Stack, telemetry: bool, otlp: str, args: argparse.Namespace) -> dict[str, float]:
    gw = stack.start_platform(otlp=otlp, telemetry=telemetry)
    try:
        r = run_load(
            [
                "--scenario",
                "gw-workflows",
                "--url",
                gw.url,
                f"--token={stack.admin_token}",  # "=": a token may start with "-"
                "--concurrency",
                str(args.concurrency),
                "--requests",
                str(args.requests),
                "--warmup",
                str(args.warmup),
            ]
        )
    finally:
        stack.stop_all()
    lat = r["latencies_ms"]
    fig = {"p50": pct(lat, 50), "p99": pct(lat, 99), "rps": len(lat) / r["elapsed_s"]}
    print(
        f"    telemetry {'on ' if telemetry else 'off'}  p50 {fig['p50']:6.1f} ms  p99 {fig['p99']:6.1f} ms"
        f"  {fig['rps']:6.1f} req/s  (n={len(lat)}, errors {r['errors']}, degraded {r['degraded']},"
        f" load {load_average()})",
        flush=True,
    )
    return fig


def red_metrics_cost_us(n: int = 200_000) -> float:
    """In-process cost of what ``RedMetricsMiddleware`` records per request (counter + histogram, labelled)."""
    from common.red import HTTP_DURATION, HTTP_REQUESTS

    t0 = time.perf_counter()
    for _ in range(n):
        start = time.perf_counter()
        HTTP_REQUESTS.labels("bench", "GET", "/api/v1/workflows", "2xx").inc()
        HTTP_DURATION.labels("bench", "GET", "/api/v1/workflows").observe(time.perf_counter() - start)
    return (time.perf_counter() - t0) / n * 1e6


def med(xs: list[float]) -> float:
    return statistics.median(xs)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workflows", type=int, default=60)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--list-workflows", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument(
        "--sampling", type=float, default=1.0, help="list path: the services' trace sampling ratio when telemetry is on"
    )
    ap.add_argument(
        "--read-sampling",
        type=float,
        default=None,
        help="list path: the ratio of requests that only read (default: the services' default, as deployed)",
    )
    ap.add_argument("--skip-publish", action="store_true")
    ap.add_argument("--skip-list", action="store_true")
    ap.add_argument("--publish-child", choices=["on", "off"])
    ap.add_argument("--otlp", default="")
    ap.add_argument("--zipkin", default="")
    ap.add_argument(
        "--backend",
        choices=["zipkin", "otlp-sink"],
        default="zipkin",
        help="where 'on' exports: a running Zipkin, as ./platform up (default), or an OTLP sink that drops spans",
    )
    args = ap.parse_args()

    admin_url, bootstrap = devstack()
    if args.publish_child:
        await publish_child(args.publish_child, args.workflows, args.latency_ms, args.otlp, args.zipkin, admin_url)
        return

    print(f"telemetry overhead benchmark (load average at start {load_average()})", flush=True)
    with contextlib.ExitStack() as backends:
        sink = backends.enter_context(OtlpSink())
        if args.backend == "zipkin":
            zipkin = Zipkin(free_port(), Path(tempfile.mkdtemp(prefix="bench-zipkin-")))
            zipkin.start()
            backends.callback(zipkin.stop)
            otlp, zipkin_endpoint = "", zipkin.spans_endpoint
            print(f"trace backend: Zipkin at {zipkin.url} (running throughout; 'on' exports to it)", flush=True)
        else:
            otlp, zipkin_endpoint = sink.url, ""
            print(f"trace backend: none, an OTLP sink at {sink.url} that drops the spans", flush=True)
        await measure(args, admin_url, bootstrap, otlp, zipkin_endpoint)
        print(f"OTLP sink received {sink.stats}; load average at end {load_average()}")
        if args.backend == "zipkin":
            print(f"Zipkin holds {zipkin_span_count(zipkin.url)} spans", flush=True)


def zipkin_span_count(url: str) -> str:
    import httpx

    try:
        services = httpx.get(f"{url}/api/v2/services", timeout=10).json()
        traces = httpx.get(f"{url}/api/v2/traces", params={"limit": 100000, "lookback": 86_400_000}, timeout=60).json()
        return f"{sum(len(t) for t in traces)} (in {len(traces)} traces, services {services})"
    except httpx.HTTPError as exc:
        return f"unknown ({exc})"


async def measure(args: argparse.Namespace, admin_url: str, bootstrap: str, otlp: str, zipkin: str) -> None:
    if not args.skip_publish:
        print(
            f"\npublish path: {args.workflows} workflows, deploy + online, {args.latency_ms:.0f} ms DS latency,"
            f" {args.rounds} rounds per mode (child process each)",
            flush=True,
        )
        times: dict[str, list[float]] = {"off": [], "on": []}
        for _ in range(args.rounds):
            for mode in ("off", "on"):
                t = run_publish_child(mode, args, otlp, zipkin, admin_url)
                times[mode].append(t)
                print(f"    telemetry {mode:<3}  {t:7.2f} s   (load {load_average()})", flush=True)
        on, off = med(times["on"]), med(times["off"])
        ratio = on / off
        print(
            f"    median on {on:.2f} s / off {off:.2f} s = ratio {ratio:.3f}"
            f"   (target ≤ 1.10: {'met' if ratio <= 1.10 else 'NOT met'})",
            flush=True,
        )

    if not args.skip_list:
        stack = Stack(
            admin_url,
            bootstrap,
            sampling_ratio=args.sampling,
            read_sampling_ratio=args.read_sampling,
            zipkin_endpoint=zipkin,
        )
        reads = args.read_sampling
        if reads is None:
            reads = ServiceSettings.model_fields["otel_read_sampling_ratio"].default
            reads_label = f"{reads} (the default, as deployed)"
        else:
            reads_label = str(reads)
        try:
            await stack.provision(("definition", "history", "lineage", "gateway"))
            await timed(f"seed {args.list_workflows:,} workflows", seed_definition(stack, args.list_workflows))
            await timed(f"seed {args.list_workflows * 10:,} executions", seed_history(stack, args.list_workflows))
            print(
                f"\nlist path: GET /api/v1/workflows, {args.concurrency} connections, {args.requests} requests"
                f" per round, {args.rounds} rounds per mode; when on, reads (this path) are traced at"
                f" {reads_label}, other work at {args.sampling}",
                flush=True,
            )
            figs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
            for _ in range(args.rounds):
                for telemetry in (False, True):
                    figs[telemetry].append(list_round(stack, telemetry, otlp, args))
            for key, label in (("p50", "p50"), ("p99", "p99")):
                on_v = med([f[key] for f in figs[True]])
                off_v = med([f[key] for f in figs[False]])
                ok = "met" if on_v / off_v <= 1.10 else "NOT met"
                print(f"    {label}: on {on_v:.1f} ms / off {off_v:.1f} ms = {on_v / off_v:.3f} (target ≤ 1.10: {ok})")
            on_r, off_r = med([f["rps"] for f in figs[True]]), med([f["rps"] for f in figs[False]])
            print(f"    throughput: off/on {off_r:.1f}/{on_r:.1f} req/s = cost ratio {off_r / on_r:.3f}")
        finally:
            await stack.cleanup()
    cost = red_metrics_cost_us()
    print(f"\nRED metrics per request (always on, in-process): {cost:.1f} µs")


if __name__ == "__main__":
    asyncio.run(main())
