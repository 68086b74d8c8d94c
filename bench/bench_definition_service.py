"""Definition service benchmark: create and update of a 2,000-task workflow through the running service.

The whole app runs in-process (real PostgreSQL, the outbox relay publishing to real Kafka); requests go through the
ASGI transport, so there is no network. Two figures per operation:

- server: measured by a timing middleware around the app (request parsing and validation, the use case with its
  one transaction — DAG validation, snapshot, diff, version, relations, outbox event — and the JSON response);
- client: the in-process httpx round trip (adds the client's own JSON encoding and decoding of ~1 MB bodies);
- service_cpu: the process CPU time spent during the request (the service's own work, independent of how busy the
  machine is; PostgreSQL's work is not in it). The 1-minute load average is printed: on a shared machine the wall
  times grow with it.

create: ``POST /internal/workflows`` of a fresh workflow of N tasks (each run uses its own N catalog tasks, as a task
belongs to one workflow); update: ``PUT /internal/workflows/{id}`` of one N-task workflow, each run changing node
attributes of one task, one edge and the description (so every run writes a new version). Target: p99 < 250 ms.

Run: ``.venv/bin/python bench/bench_definition_service.py [--tasks 2000] [--runs 30]`` (uses ``DATABASE_URL`` /
``KAFKA_BOOTSTRAP_SERVERS`` or the local devstack servers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import Request, Response
from pydantic import SecretStr
from sqlalchemy import text

from common.db import create_engine, drop_service, provision_service
from common.migrations import upgrade
from common.testing.service import running
from definition.config import MIGRATIONS, Settings
from definition.main import create_app


def edges_of(ids: list[int]) -> list[dict[str, int]]:
    """A layered DAG: each task after the first depends on its predecessor and on the task at half its index."""
    out = []
    for i in range(1, len(ids)):
        out.append({"upstream_task_id": ids[i - 1], "downstream_task_id": ids[i]})
        j = i // 2
        if j != i - 1:
            out.append({"upstream_task_id": ids[j], "downstream_task_id": ids[i]})
    return out


def body(name: str, ids: list[int], run: int = 0) -> dict[str, Any]:
    edges = edges_of(ids)
    if run:
        # one more edge that changes with the run (still acyclic: lower index to higher index)
        k = 2 + run % (len(ids) - 3)
        edges.append({"upstream_task_id": ids[0], "downstream_task_id": ids[k + 1]})
    return {
        "name": name,
        "description": f"benchmark run {run}",
        "tasks": [
            {"task_id": t, "node_attrs": {"retries": 1 if i == run % len(ids) else 0, "priority": "MEDIUM"}}
            for i, t in enumerate(ids)
        ],
        "edges": edges,
        "schedule": {
            "crontab": "0 0 2 * * ?",
            "timezone": "Asia/Shanghai",
            "start_time": "2025-01-01T00:00:00Z",
            "end_time": "2035-01-01T00:00:00Z",
        },
        "global_params": [{"name": "biz_date", "value": "${system.biz.date}"}],
    }


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def stats(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 1),
        "p99_ms": round(pct(values, 99), 1),
        "max_ms": round(max(values), 1),
    }


async def seed_tasks(url: SecretStr, schema: str, count: int) -> list[int]:
    engine = create_engine(url, schema=schema, pool_size=1)
    try:
        async with engine.begin() as conn:
            rows = await conn.execute(
                text(
                    "INSERT INTO data_task (name, task_type, params, worker_group, owner, created_by, updated_by) "
                    "SELECT 'bench-task-' || g, 'SHELL', "
                    "jsonb_build_object('kind', 'SHELL', 'script', 'echo ' || g || ' && sleep 1'), "
                    "'default', 'bench', 'bench', 'bench' FROM generate_series(1, :n) AS g RETURNING id"
                ),
                {"n": count},
            )
            return sorted(r.id for r in rows)
    finally:
        await engine.dispose()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    from devstack.infra import ensure_infra

    admin_url, bootstrap = ensure_infra()
    suffix = uuid.uuid4().hex[:6]
    db = await provision_service(
        admin_url,
        schema=f"bench_def_{suffix}",
        role=f"bench_def_{suffix}",
        password=SecretStr(secrets.token_urlsafe(12)),
    )
    try:
        await upgrade(MIGRATIONS, db.url, db.schema)
        creates = args.warmup + args.runs
        ids = await seed_tasks(db.url, db.schema, args.tasks * (creates + 1))
        settings = Settings(
            database_url=db.url,
            db_schema=db.schema,
            kafka_bootstrap_servers=bootstrap,
            topic_prefix=f"bench{suffix}.",
            log_json=False,
            log_level="WARNING",
        )
        app = create_app(settings, consume=False, telemetry=False)
        server_ms: list[float] = []
        cpu_ms: list[float] = []

        @app.middleware("http")
        async def timing(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            t0, c0 = time.perf_counter(), time.process_time()
            response = await call_next(request)
            server_ms.append((time.perf_counter() - t0) * 1000)
            cpu_ms.append((time.process_time() - c0) * 1000)
            return response

        async with running(app) as client:

            async def timed(call: Awaitable[httpx.Response], expect: int) -> tuple[float, float, dict[str, Any]]:
                t0 = time.perf_counter()
                r = await call
                client_ms = (time.perf_counter() - t0) * 1000
                assert r.status_code == expect, r.text[:500]
                return server_ms[-1], client_ms, r.json()

            create_server: list[float] = []
            create_client: list[float] = []
            create_cpu: list[float] = []
            for run in range(creates):
                chunk = ids[run * args.tasks : (run + 1) * args.tasks]
                s, c, _ = await timed(client.post("/internal/workflows", json=body(f"bench-{run}", chunk)), 201)
                if run >= args.warmup:
                    create_server.append(s)
                    create_client.append(c)
                    create_cpu.append(cpu_ms[-1])

            chunk = ids[creates * args.tasks :]
            _, _, wf = await timed(client.post("/internal/workflows", json=body("bench-updated", chunk)), 201)
            version = wf["current_version_no"]
            update_server: list[float] = []
            update_client: list[float] = []
            update_cpu: list[float] = []
            for run in range(1, args.warmup + args.runs + 1):
                payload = {**body("bench-updated", chunk, run), "expected_version_no": version}
                s, c, out = await timed(client.put(f"/internal/workflows/{wf['id']}", json=payload), 200)
                assert out["current_version_no"] == version + 1
                version += 1
                if run > args.warmup:
                    update_server.append(s)
                    update_client.append(c)
                    update_cpu.append(cpu_ms[-1])
            edges = len(edges_of(chunk))

        result = {
            "tasks": args.tasks,
            "edges": edges,
            "runs": args.runs,
            "create_server": stats(create_server),
            "create_client": stats(create_client),
            "update_server": stats(update_server),
            "update_client": stats(update_client),
            "create_service_cpu": stats(create_cpu),
            "update_service_cpu": stats(update_cpu),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "target_p99_ms": 250,
        }
        print(json.dumps(result, indent=2))
    finally:
        await drop_service(admin_url, schema=db.schema, role=db.role)


if __name__ == "__main__":
    asyncio.run(main())
