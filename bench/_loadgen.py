"""Load generator for the platform HTTP benchmarks, run as its own process by ``_platform_stack.run_load``.

Two ways to load (after ``warmup`` unmeasured requests):
- closed loop (default): ``concurrency`` workers share one aiohttp session (that many keep-alive connections,
  loopback only), each sending its next request when the last one is answered, ``requests`` in total: the
  throughput at saturation, where latency is mostly the queue the workers keep full (p50 ≈ concurrency /
  throughput);
- open loop (``--rate R``): ``requests`` requests arriving at R per second on average (Poisson: exponential gaps,
  fixed seed), whatever the answers, over up to ``concurrency`` connections: latency under a given load. Each
  latency runs from the request's scheduled time, so a request that waited for a connection counts its wait (no
  coordinated omission).
The warm-up runs the same way. Each answer is parsed and checked after the clock stops. Prints one JSON line:
latencies (ms), elapsed, errors, degraded.

The generator shares the machine's cores with what it measures, so it is kept cheap: aiohttp and pydantic-core's
JSON parser cost ~0.5 ms of CPU per page where httpx and ``json`` cost 2.3–3.1 ms, a quarter of the two cores at
the rates measured.

Scenarios (``--scenario``):
- ``gw-workflows``: ``GET {gw}/api/v1/workflows?page=P&page_size=20`` (bearer token, or ``--cookie``: a session);
- ``direct-workflows``: ``GET {definition}/internal/workflows?page=P&page_size=20`` (the page with each workflow's
  last 10 runs: what the gateway passes on);
- ``gw-tasks``: ``GET {gw}/api/v1/tasks?upstreamTaskId=X``;
- ``base-tasks``: ``GET {base}/tasks?upstream_task_id=X`` (the one-hop baseline app).
Pages cycle through 1..``pages``; X cycles through ``--ids``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import time
from typing import Any

import aiohttp
from pydantic_core import from_json


def _full_page(body: dict[str, Any]) -> bool:
    """20 workflows, each with its last 10 runs."""
    items = body["items"]
    return len(items) == 20 and all(len(w.get("last_executions") or []) == 10 for w in items)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--url", required=True, help="gateway, baseline app or definition URL")
    ap.add_argument("--token", default="")
    ap.add_argument("--cookie", default="", help="a Cookie header instead of the bearer token (a person's session)")
    ap.add_argument("--ids", default="")
    ap.add_argument("--pages", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--rate", type=float, default=0.0, help="open loop: mean arrivals per second (0: closed loop)")
    a = ap.parse_args()

    headers = {"Authorization": f"Bearer {a.token}"} if a.token else {}
    if a.cookie:
        headers["Cookie"] = a.cookie
    client = aiohttp.ClientSession(
        headers=headers,
        connector=aiohttp.TCPConnector(limit=a.concurrency),
        timeout=aiohttp.ClientTimeout(total=30),
    )
    pages = itertools.cycle(range(1, a.pages + 1))
    ids = itertools.cycle([int(x) for x in a.ids.split(",")] if a.ids else [0])
    errors: list[str] = []
    degraded = 0

    def request() -> tuple[str, dict[str, str | int]]:
        if a.scenario == "gw-workflows":
            return f"{a.url}/api/v1/workflows", {"page": next(pages), "page_size": 20}
        if a.scenario == "direct-workflows":
            return f"{a.url}/internal/workflows", {"page": next(pages), "page_size": 20}
        if a.scenario == "gw-tasks":
            return f"{a.url}/api/v1/tasks", {"upstreamTaskId": next(ids)}
        if a.scenario == "base-tasks":
            return f"{a.url}/tasks", {"upstream_task_id": next(ids)}
        raise SystemExit(f"unknown scenario {a.scenario}")

    def complete(body: dict[str, Any]) -> bool:
        if a.scenario in ("gw-workflows", "direct-workflows"):
            return not body.get("unavailable") and _full_page(body)
        return not body.get("unavailable") and bool(body["items"])

    async def one(scheduled: float | None = None) -> float:
        """The answer's time (ms) from ``scheduled`` (default: now); the body is checked after the clock stops."""
        nonlocal degraded
        url, params = request()
        t0 = time.perf_counter() if scheduled is None else scheduled
        async with client.get(url, params=params) as r:
            content = await r.read()
            status = r.status
        took = (time.perf_counter() - t0) * 1000
        if status != 200:
            raise ValueError(f"HTTP {status}: {content[:200]!r}")
        if not complete(from_json(content)):
            degraded += 1
        return took

    latencies: list[float] = []

    async def worker(counter: itertools.count[int], total: int, record: bool) -> None:
        while next(counter) < total:
            try:
                took = await one()
            except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            if record:
                latencies.append(took)

    async def arrival(scheduled: float) -> None:
        try:
            latencies.append(await one(scheduled))
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

    async def open_loop(total: int) -> None:
        gaps = random.Random(20261128)
        pending: set[asyncio.Task[None]] = set()
        due = time.perf_counter()
        for _ in range(total):
            due += gaps.expovariate(a.rate)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            task = asyncio.create_task(arrival(due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)

    warm = itertools.count()
    if a.rate > 0:
        # the warm-up at the same load: as many connections as that load keeps busy, no more
        await open_loop(a.warmup)
        latencies.clear()
    else:
        await asyncio.gather(*(worker(warm, a.warmup, False) for _ in range(a.concurrency)))
    degraded = 0
    errors.clear()
    measured = itertools.count()
    t0 = time.perf_counter()
    if a.rate > 0:
        await open_loop(a.requests)
    else:
        await asyncio.gather(*(worker(measured, a.requests, True) for _ in range(a.concurrency)))
    elapsed = time.perf_counter() - t0
    await client.close()
    out: dict[str, Any] = {
        "latencies_ms": latencies,
        "elapsed_s": elapsed,
        "errors": len(errors),
        "error_samples": errors[:5],
        "degraded": degraded,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
