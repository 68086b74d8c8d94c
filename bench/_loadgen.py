"""Load generator for the platform HTTP benchmarks, run as its own process by ``_platform_stack.run_load``.

``concurrency`` workers share one pooled ``httpx.AsyncClient`` (that many keep-alive connections, loopback only) and
run ``requests`` operations in total after ``warmup`` unmeasured ones; an operation is one of the scenarios below,
timed from its first request to its last answer. Prints one JSON line: latencies (ms), elapsed, errors, degraded.

Scenarios (``--scenario``):
- ``gw-workflows``: ``GET {gw}/api/v1/workflows?page=P&page_size=20`` (bearer token);
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
import time
from typing import Any

import httpx


def _full_page(body: dict[str, Any]) -> bool:
    """20 workflows, each with its last 10 runs."""
    items = body["items"]
    return len(items) == 20 and all(len(w.get("last_executions") or []) == 10 for w in items)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--url", required=True, help="gateway, baseline app or definition URL")
    ap.add_argument("--token", default="")
    ap.add_argument("--ids", default="")
    ap.add_argument("--pages", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    a = ap.parse_args()

    headers = {"Authorization": f"Bearer {a.token}"} if a.token else {}
    limits = httpx.Limits(max_connections=a.concurrency, max_keepalive_connections=a.concurrency)
    client = httpx.AsyncClient(headers=headers, limits=limits, timeout=30)
    pages = itertools.cycle(range(1, a.pages + 1))
    ids = itertools.cycle([int(x) for x in a.ids.split(",")] if a.ids else [0])
    errors: list[str] = []
    degraded = 0

    async def one() -> None:
        nonlocal degraded
        if a.scenario == "gw-workflows":
            r = await client.get(f"{a.url}/api/v1/workflows", params={"page": next(pages), "page_size": 20})
            r.raise_for_status()
            body = r.json()
            if body.get("unavailable") or not _full_page(body):
                degraded += 1
        elif a.scenario == "direct-workflows":
            r = await client.get(f"{a.url}/internal/workflows", params={"page": next(pages), "page_size": 20})
            r.raise_for_status()
            if not _full_page(r.json()):
                degraded += 1
        elif a.scenario == "gw-tasks":
            r = await client.get(f"{a.url}/api/v1/tasks", params={"upstreamTaskId": next(ids)})
            r.raise_for_status()
            body = r.json()
            if body.get("unavailable") or not body["items"]:
                degraded += 1
        elif a.scenario == "base-tasks":
            r = await client.get(f"{a.url}/tasks", params={"upstream_task_id": next(ids)})
            r.raise_for_status()
            if not r.json()["items"]:
                degraded += 1
        else:
            raise SystemExit(f"unknown scenario {a.scenario}")

    latencies: list[float] = []

    async def worker(counter: itertools.count[int], total: int, record: bool) -> None:
        while next(counter) < total:
            t0 = time.perf_counter()
            try:
                await one()
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            if record:
                latencies.append((time.perf_counter() - t0) * 1000)

    warm = itertools.count()
    await asyncio.gather(*(worker(warm, a.warmup, False) for _ in range(a.concurrency)))
    degraded = 0
    errors.clear()
    measured = itertools.count()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(measured, a.requests, True) for _ in range(a.concurrency)))
    elapsed = time.perf_counter() - t0
    await client.aclose()
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
