# ruff: noqa: S608  (SQL text built from integers and schema names this benchmark generates; no outside input)
"""Lineage storm (issue 24 item 3): one lineage event on a hub table read by 5,000 tasks in 500 workflows.

Data (seeded with set-based SQL into the tables the services' migrations create, ``_platform_stack``):
- definition: ``--workflows`` (2,000) published workflows of 10 tasks each with their last 10 executions (the list
  pages are full pages), history-sync's cache of the same executions;
- lineage-resolver: tasks ``1 … --readers`` (5,000: every task of workflows 1–500) read the table ``dw.hub``;
  nobody writes it yet.
Processes: definition, history-sync, lineage-resolver and the gateway as real ``uvicorn --factory`` processes (as
``bench_gateway_lists.py`` starts them, production telemetry exported to a local sink), over the devstack PostgreSQL
and Kafka.

The storm: ``lineage.changed`` on Kafka saying the first task of the next workflow (501) now writes ``dw.hub``.
lineage-resolver makes it 5,001 ``task.dependency.changed`` events (the writer gains 5,000 downstream tasks, each
reader one upstream task); the links cross workflows, so the definition service flags the 501 workflows for manual
handling (``needs_attention``; no version). Each round clears the flags, then a new writer (the first task of the next
workflow) starts writing the table: a new cause.

Figures, each round (``--rounds``, 2):
a. the time from sending the event to the last affected workflow flagged, as the gateway's list shows it
   (``GET /api/v1/workflows?needs_attention=true``, polled every 0.2 s), and its rate (events/s);
b. exactly once: the workflows flagged are the affected ones, each by this event (its id in the details), no
   version written, and the rows of ``data_workflow`` written during the storm per flagged workflow (PostgreSQL's
   ``n_tup_upd``);
c. the p50/p99 of ``GET /api/v1/workflows`` (pages 1–50 of 20, with the last 10 runs) at ``--rate`` requests per
   second (open loop, Poisson arrivals, latency from each request's scheduled time) during the storm, against the
   same load without it: ``--quiet-s`` seconds just before and as long as the storm lasted just after (at most
   ``--after-max-s``), so that both sides span about the same time of a shared machine (target: storm p99 ≤ 2×);
   the p99 of each tenth of the storm and of the window after shows where the slow answers fall;
d. the CPU time each service process spent during the storm (``/proc/<pid>/stat``): definition's in all and per
   event; lineage-resolver, history-sync and the gateway beside it (PostgreSQL and Kafka are not counted).

The definition service consumes ``task.dependency.changed`` in batches (``DEFINITION_DEPENDENCY_BATCH_SIZE``, 200 by
default); ``--dependency-batch-size 1`` runs it one event per transaction, as before batching.

Run: ``.venv/bin/python bench/bench_lineage_storm.py [--workflows 2000] [--readers 5000] [--rate 20] [--rounds 2]
[--dependency-batch-size N]``
(uses the devstack PostgreSQL and Kafka; drops its schemas, roles and topics at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
from _platform_stack import (
    TASKS_PER_WORKFLOW,
    OtlpSink,
    Stack,
    devstack,
    load_average,
    seed_definition,
    seed_history,
    timed,
)
from aiokafka import AIOKafkaProducer

from common.db import asyncpg_dsn
from common.events import LineageChanged, registry
from common.kafka_access import client_options

HUB = "dw.hub"
PAGES = 50


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))] if s else float("nan")


@dataclass
class Sampler:
    """Open-loop load on the gateway list: Poisson arrivals at ``rate``/s, each latency from its scheduled time,
    kept with that time (so a window can be cut out of it)."""

    url: str
    token: str
    rate: float
    samples: list[tuple[float, float]] = field(default_factory=list)
    started: float = 0.0
    errors: list[str] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        gaps = random.Random(20261207)
        page = 0
        pending: set[asyncio.Task[None]] = set()
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(limit=64),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as client:

            async def one(due: float, p: int) -> None:
                try:
                    params = {"page": p, "page_size": 20}
                    async with client.get(f"{self.url}/api/v1/workflows", params=params) as r:
                        await r.read()
                        status = r.status
                    if status != 200:
                        self.errors.append(f"HTTP {status}")
                        return
                    self.samples.append((due, (time.perf_counter() - due) * 1000))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}"[:200])

            due = self.started = time.perf_counter()
            while not stop.is_set():
                due += gaps.expovariate(self.rate)
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                page = page % PAGES + 1
                task = asyncio.create_task(one(due, page))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.gather(*pending)

    def window(self, start: float, end: float) -> list[float]:
        return [ms for at, ms in self.samples if start <= at <= end]


def line(label: str, lat: list[float]) -> dict[str, float]:
    fig = {"p50": pct(lat, 50), "p99": pct(lat, 99)}
    print(
        f"    {label:<34} p50 {fig['p50']:7.1f} ms   p99 {fig['p99']:7.1f} ms   (n={len(lat)}, load {load_average()})",
        flush=True,
    )
    return fig


def timeline(sampler: Sampler, start: float, end: float) -> str:
    """The p99 (ms) of each tenth of a window: where in it the slow answers fall."""
    step = (end - start) / 10
    return " ".join(f"{pct(sampler.window(start + i * step, start + (i + 1) * step), 99):.0f}" for i in range(10))


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system), from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def seed_readers(stack: Stack, readers: int) -> None:
    await stack.bulk(
        "lineage",
        "table_task_relation",
        f"""
        INSERT INTO table_task_relation (task_id, table_name, relation_type)
        SELECT t, '{HUB}', 'read' FROM generate_series(1, {readers}) t
        """,
    )


#: answers other than 200 to the progress polls (status → count): a poll that fails is retried, and reported
POLL_ERRORS: dict[int, int] = {}


async def _total(http: aiohttp.ClientSession, url: str, params: dict[str, Any]) -> int | None:
    async with http.get(url, params=params) as r:
        if r.status != 200:
            POLL_ERRORS[r.status] = POLL_ERRORS.get(r.status, 0) + 1
            return None
        body: dict[str, Any] = await r.json()
    return int(body["total"])


async def flagged_total(http: aiohttp.ClientSession, gw: str) -> int:
    total = await _total(http, f"{gw}/api/v1/workflows", {"needs_attention": "true", "page_size": 1})
    return -1 if total is None else total


async def linked_total(http: aiohttp.ClientSession, gw: str, writer: int) -> int:
    """The tasks the gateway's task list shows downstream of ``writer``: the definition service consumed their
    ``task.dependency.changed`` (its dependency projection)."""
    total = await _total(http, f"{gw}/api/v1/tasks", {"upstreamTaskId": writer, "page_size": 1})
    return -1 if total is None else total


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", type=int, default=2000)
    ap.add_argument("--readers", type=int, default=5000, help="tasks reading the hub table (10 per workflow)")
    ap.add_argument("--rate", type=float, default=20.0, help="list requests per second during both windows")
    ap.add_argument("--quiet-s", type=float, default=30.0, help="length of the window without the storm")
    ap.add_argument(
        "--after-max-s", type=float, default=600.0, help="the window after the storm lasts as long as it, at most this"
    )
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--timeout-s", type=float, default=900.0)
    ap.add_argument(
        "--dependency-batch-size",
        type=int,
        default=None,
        help="the definition service's task.dependency.changed records per poll (default: the service's, 200)",
    )
    args = ap.parse_args()
    if args.dependency_batch_size is not None:
        os.environ["DEFINITION_DEPENDENCY_BATCH_SIZE"] = str(args.dependency_batch_size)
    if args.readers % TASKS_PER_WORKFLOW or args.readers // TASKS_PER_WORKFLOW + args.rounds > args.workflows:
        raise SystemExit("--readers must fill whole workflows, with a workflow left for each round's writer")

    admin_url, bootstrap = devstack()
    stack = Stack(admin_url, bootstrap)
    affected_n = args.readers // TASKS_PER_WORKFLOW
    print(
        f"lineage storm benchmark: {args.readers:,} readers of {HUB} in {affected_n} workflows "
        f"(load average at start {load_average()})",
        flush=True,
    )
    producer = AIOKafkaProducer(**client_options(bootstrap), acks="all", enable_idempotence=True)
    await producer.start()
    conn: asyncpg.Connection | None = None
    try:
        await timed("schemas + migrations", stack.provision())
        await timed(f"definition ({args.workflows:,} workflows)", seed_definition(stack, args.workflows))
        await timed("history-sync", seed_history(stack, args.workflows))
        await timed(f"lineage ({args.readers:,} readers of {HUB})", seed_readers(stack, args.readers))
        await timed("vacuum, analyse and checkpoint after the seeding", stack.settle())
        d = stack.schema("definition")
        conn = await asyncpg.connect(asyncpg_dsn(admin_url))
        pre = {int(r["id"]) for r in await conn.fetch(f'SELECT id FROM "{d}".data_workflow WHERE needs_attention')}

        with OtlpSink() as sink:
            gw = stack.start_platform(otlp=sink.url).url
            pids = {name: proc.pid for name, proc in stack.stack.procs.items()}
            definition = stack.upstreams["definition"].name
            topic = stack.stack.topic(LineageChanged.TOPIC)
            results = []
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {stack.admin_token}"}) as http:
                for rnd in range(args.rounds):
                    writer_wf = affected_n + 1 + rnd
                    writer = (writer_wf - 1) * TASKS_PER_WORKFLOW + 1
                    affected = set(range(1, affected_n + 1)) | {writer_wf}
                    await conn.execute(
                        f'UPDATE "{d}".data_workflow SET needs_attention = false, attention_reason = NULL, '
                        f"attention_details = NULL WHERE id = ANY($1::bigint[])",
                        sorted(affected - pre),
                    )
                    expected = len(affected | pre)
                    versions0 = await conn.fetchval(f'SELECT count(*) FROM "{d}".workflow_version')
                    print(f"\nround {rnd + 1}: task {writer} (workflow {writer_wf}) starts writing {HUB}", flush=True)
                    sampler = Sampler(gw, stack.admin_token, args.rate)
                    stop = asyncio.Event()
                    load = asyncio.create_task(sampler.run(stop))
                    await asyncio.sleep(args.quiet_s + 3.0)  # 3 s of warm-up, not measured
                    await asyncio.sleep(1.0)  # the statistics of the clearing are flushed before the count
                    upd0 = await conn.fetchval(
                        "SELECT n_tup_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'data_workflow'",
                        d,
                    )
                    event = LineageChanged(task_id=writer, write_tables=(HUB,))
                    envelope = registry.encode(event, source="/bench/lineage-storm")
                    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
                    t0 = time.perf_counter()
                    await producer.send_and_wait(topic, envelope.to_bytes(), key=event.key().encode())
                    seen, linked, t_flagged = 0, 0, None
                    while linked < args.readers:
                        if time.perf_counter() - t0 > args.timeout_s:
                            raise SystemExit(
                                f"storm not done after {args.timeout_s} s: {seen}/{expected} flagged, "
                                f"{linked}/{args.readers} readers linked"
                            )
                        await asyncio.sleep(0.2)
                        if t_flagged is None:
                            seen = await flagged_total(http, gw)
                            if seen >= expected:
                                t_flagged = time.perf_counter()
                        linked = await linked_total(http, gw, writer)
                    t1 = time.perf_counter()
                    cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
                    if t_flagged is None:
                        seen = await flagged_total(http, gw)
                        t_flagged = t1
                    storm_s = t1 - t0
                    after_s = min(storm_s, args.after_max_s)
                    await asyncio.sleep(after_s)  # the same load without the storm, as long as the storm (capped)
                    t2 = time.perf_counter()
                    stop.set()
                    await load
                    await asyncio.sleep(2.0)  # PostgreSQL flushes its table statistics at most once a second
                    upd1 = await conn.fetchval(
                        "SELECT n_tup_upd FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'data_workflow'",
                        d,
                    )
                    rows = await conn.fetch(
                        f"SELECT id, attention_details->>'cause_event_id' AS cause FROM \"{d}\".data_workflow "
                        "WHERE needs_attention"
                    )
                    by_event = {int(r["id"]) for r in rows if r["cause"] == envelope.id}
                    versions1 = await conn.fetchval(f'SELECT count(*) FROM "{d}".workflow_version')
                    events = args.readers + 1
                    print(
                        f"  a. event → the {len(affected)} workflows flagged (gateway): {t_flagged - t0:.1f} s; "
                        f"→ all {events:,} task.dependency.changed consumed (the gateway's task list): "
                        f"{storm_s:.1f} s ({events / storm_s:,.0f} events/s; load {load_average()})",
                        flush=True,
                    )
                    once = by_event == affected and versions1 == versions0
                    print(
                        f"  b. flagged by this event: {len(by_event)} (the affected: {by_event == affected}); "
                        f"versions written: {versions1 - versions0}; data_workflow rows written during the storm: "
                        f"{upd1 - upd0} ({(upd1 - upd0) / len(affected):.2f} per flagged workflow)"
                        f"  → {'exactly once' if once else 'NOT exactly once'}",
                        flush=True,
                    )
                    before = sampler.window(sampler.started + 3.0, t0 - 1.0)
                    after = sampler.window(t1 + 1.0, t2)
                    line(f"c. list, {args.quiet_s:.0f} s before the storm", before)
                    line(f"   list, {after_s:.0f} s after the storm", after)
                    quiet = line("   list, without the storm (both)", before + after)
                    storm = line(f"   list, during the storm ({storm_s:.0f} s)", sampler.window(t0, t1))
                    print(f"     p99 by tenth of the storm: {timeline(sampler, t0, t1)}", flush=True)
                    print(f"     p99 by tenth of the after window: {timeline(sampler, t1 + 1.0, t2)}", flush=True)
                    ratio = storm["p99"] / quiet["p99"]
                    print(
                        f"     p99 storm/quiet: {ratio:.2f} (target ≤ 2: {'met' if ratio <= 2 else 'NOT met'})"
                        + (f"; errors {len(sampler.errors)}: {sampler.errors[:2]}" if sampler.errors else "")
                        + (f"; progress polls answered {POLL_ERRORS}" if POLL_ERRORS else ""),
                        flush=True,
                    )
                    cpu = {name: cpu1[name] - cpu0[name] for name in pids}
                    others = ", ".join(f"{name} {c:.1f} s" for name, c in sorted(cpu.items()) if name != definition)
                    mine = cpu[definition]
                    print(
                        f"  d. CPU during the storm: definition {mine:.1f} s ({mine / storm_s:.0%} of one core; "
                        f"{mine * 1000 / events:.1f} ms per event); {others}",
                        flush=True,
                    )
                    results.append((storm_s, ratio, once))
            print(
                "\nsummary: "
                + "; ".join(
                    f"round {i + 1}: {s:.1f} s, p99 ratio {r:.2f}, {'once' if o else 'NOT once'}"
                    for i, (s, r, o) in enumerate(results)
                )
                + f" (load average {load_average()})",
                flush=True,
            )
    finally:
        if conn is not None:
            await conn.close()
        await producer.stop()
        await stack.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
