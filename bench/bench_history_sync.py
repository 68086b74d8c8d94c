"""history-sync benchmark: one full sync cycle over N tracked workflows (10,000 by default) by 1 or more replicas.

Set-up: the DS emulator (REST only) bulk-seeded with N ONLINE workflows of 3 finished instances each, a global 20 ms
latency on every DS REST call, N rows in ``tracked_workflow`` of a fresh schema. A cycle runs as R replicas, each a
child process (``python -m history_sync sync-once``, concurrency 16 each, no rate limit, its own replica id) started
together on the same schema; they share the workflows as the service's replicas do (each claims batches of due
workflows with ``FOR UPDATE SKIP LOCKED`` and a lease). Each reports its wall-clock start and end, CPU seconds
(``resource.getrusage``) and peak RSS (``ru_maxrss``); the cycle's wall time runs from the first replica's start of
the cycle to the last one's end (process start-up excluded).

Figures:
1. emulator capacity: the same concurrent instance-list calls from a minimal raw-socket client (what the emulator,
   one Python process, can serve) with 16 connections per replica for each replica count measured, on a second pass
   over the sample (the emulator keeps the encoded entries of finished instances, as the cycles see them; the first
   pass is reported too);
2. cold cycle (by the largest replica count): every workflow is new, so each sync writes 3 cache rows and an
   ``execution.synced`` event (plus a failure alert for every failed instance) in the outbox;
3. warm cycle, once per replica count: nothing changed in DS, so each sync only updates ``tracked_workflow`` (the
   steady state).
Ideal wall time = N x latency / (replicas x concurrency) (12.5 s for 10,000 x 20 ms / 16); target ratio <= 1.25.
Scaling = warm wall of one replica / warm wall of R replicas (ideal: R). Each cycle also prints its CPU per workflow:
the replicas' cycle CPU / N, and the emulator's CPU / N (per instance-list call in a warm cycle); and the load
average at the start and end of the run.
The outbox relay does not run here (its throughput is ``bench_outbox.py``'s subject).

Run: ``.venv/bin/python bench/bench_history_sync.py [--workflows 10000] [--replicas 1] [--latency-ms 20]
[--concurrency 16]``; e.g. ``--workflows 100000 --replicas 1,2,3`` (issue 24).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import text

from common.db import create_engine, drop_service, provision_service
from common.migrations import upgrade
from ds_emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "services" / "history-sync" / "migrations"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a running process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def emulator_capacity(emulator: EmulatorProcess, project: int, codes: list[int], n: int, conc: int) -> float:
    """Instance-list calls per second the emulator serves to ``conc`` keep-alive connections of a minimal client
    (raw asyncio streams, ~0.1 ms of client CPU per call), i.e. what the emulator itself can sustain."""
    pending = list(codes[:n])
    token = emulator.access_token

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(emulator.host, emulator.rest_port)
        try:
            while pending:
                code = pending.pop()
                writer.write(
                    f"GET /dolphinscheduler/projects/{project}/workflow-instances?pageNo=1&pageSize=10"
                    f"&workflowDefinitionCode={code} HTTP/1.1\r\nHost: emulator\r\ntoken: {token}\r\n\r\n".encode()
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                assert b'"code":0' in body
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(conc)))
    return n / (time.perf_counter() - t0)


def run_cycle(env: dict[str, str], emulator_pid: int, replicas: int) -> dict[str, Any]:
    """One cycle by ``replicas`` sync-once processes started together; wall = first start to last end."""
    cpu0 = proc_cpu_s(emulator_pid)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "history_sync", "sync-once"],
            env=dict(env, HISTORY_REPLICA_ID=f"bench-r{i + 1}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(replicas)
    ]
    outputs = [p.communicate() for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"sync-once failed:\n{err[-4000:]}")
    each: list[dict[str, Any]] = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    total = {k: sum(r[k] for r in each) for k in ("synced", "failed", "changed", "batches", "cycle_cpu_s")}
    return {
        **total,
        "cycle_cpu_s": round(total["cycle_cpu_s"], 2),
        "wall_s": round(max(r["finished_at"] for r in each) - min(r["started_at"] for r in each), 3),
        "errors": [e for r in each for e in r["errors"]],
        "process_cpu_s": round(sum(r["process_cpu_s"] for r in each), 2),
        "max_rss_mb": max(r["max_rss_mb"] for r in each),
        "max_ds_in_flight": sum(r["max_ds_in_flight"] for r in each),
        "per_replica": {r["replica"]: {"synced": r["synced"], "wall_s": r["wall_s"]} for r in each},
        "emulator_cpu_s": round(proc_cpu_s(emulator_pid) - cpu0, 2),
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", type=int, default=10_000)
    ap.add_argument(
        "--replicas", default="1", help="replica counts to measure a warm cycle with, comma-separated (e.g. 1,2,3)"
    )
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--lanes", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    counts = sorted({int(r) for r in args.replicas.split(",")})
    if not counts or counts[0] < 1:
        ap.error("--replicas: one or more counts >= 1")
    from devstack.infra import ensure_infra

    load_start = [round(x, 2) for x in os.getloadavg()]

    admin_url, bootstrap = ensure_infra()
    suffix = uuid.uuid4().hex[:6]
    db = await provision_service(
        admin_url, schema=f"bench_hs_{suffix}", role=f"bench_hs_{suffix}", password=SecretStr(secrets.token_urlsafe(12))
    )
    emulator = EmulatorProcess(with_gateway=False)
    emulator.start()
    try:
        await upgrade(MIGRATIONS, db.url, db.schema)
        t0 = time.perf_counter()
        seeded = emulator.seed(
            f"bench-{suffix}", args.workflows, instances_per_workflow=args.instances, failure_every=7
        )
        seed_s = time.perf_counter() - t0
        project, codes = int(seeded["projectCode"]), [int(c) for c in seeded["workflowCodes"]]
        engine = create_engine(db.url, schema=db.schema)
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO tracked_workflow (id, engine_workflow_code, project_code, release_state, "
                    "online_since, last_publish_at, next_sync_at) "
                    "SELECT i, c, :p, 'ONLINE', now(), now(), now() "
                    "FROM unnest(CAST(:codes AS bigint[])) WITH ORDINALITY AS u(c, i)"
                ),
                {"p": project, "codes": codes},
            )
        emulator.set_global_latency(args.latency_ms)
        assert emulator.pid is not None
        sample = min(2000 * counts[-1], len(codes))
        # twice over the same workflows: the first pass also encodes each instance's list entry, which the
        # emulator then keeps (they are final); the cycles below read them as the second pass does
        capacity_first = await emulator_capacity(emulator, project, codes, sample, args.concurrency * counts[-1])
        capacity = {r: await emulator_capacity(emulator, project, codes, sample, args.concurrency * r) for r in counts}

        env = dict(
            os.environ,
            HISTORY_DATABASE_URL=db.url.get_secret_value(),
            HISTORY_DB_SCHEMA=db.schema,
            KAFKA_BOOTSTRAP_SERVERS=bootstrap,
            HISTORY_DS_REST_URL=emulator.rest_url,
            HISTORY_DS_TOKEN=emulator.access_token,
            HISTORY_DS_CONCURRENCY=str(args.concurrency),
            HISTORY_DS_RATE_PER_S="0",
            HISTORY_SYNC_LANES=str(args.lanes),
            HISTORY_CLAIM_BATCH_SIZE=str(args.batch),
            HISTORY_LEASE_S="120",
            # an hour: one `sync-once` then syncs each workflow exactly once (a 5-minute boundary crossed by a slow
            # cycle would make the first workflows due again and count them twice)
            HISTORY_SYNC_INTERVAL_S="3600",
            HISTORY_LOG_LEVEL="WARNING",
            HISTORY_LOG_JSON="false",
        )
        cold = run_cycle(env, emulator.pid, counts[-1])
        async with engine.begin() as conn:
            outbox = int(await conn.scalar(text("SELECT count(*) FROM outbox")) or 0)
        warm: dict[int, dict[str, Any]] = {}
        for r in counts:
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE tracked_workflow SET next_sync_at = now()"))
            # each warm cycle starts from a vacuumed table, whatever cycles ran before it
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await auto.execute(text("VACUUM ANALYZE tracked_workflow"))
            warm[r] = run_cycle(env, emulator.pid, r)
        await engine.dispose()
    finally:
        emulator.stop()
        await drop_service(admin_url, schema=db.schema, role=db.role)

    def ideal_s(replicas: int) -> float:
        return float(args.workflows * args.latency_ms / 1000 / (args.concurrency * replicas))

    report = {
        "load_average": {"start": load_start, "end": [round(x, 2) for x in os.getloadavg()]},
        "workflows": args.workflows,
        "latency_ms": args.latency_ms,
        "concurrency_per_replica": args.concurrency,
        "seed_s": round(seed_s, 2),
        "emulator_capacity_rps": {str(r): round(c, 1) for r, c in capacity.items()},
        "emulator_capacity_first_pass_rps": round(capacity_first, 1),
        "cold": {
            **cold,
            "replicas": counts[-1],
            "ratio": round(cold["wall_s"] / ideal_s(counts[-1]), 3),
            "outbox_events": outbox,
        },
        "warm": {str(r): {**w, "ratio": round(w["wall_s"] / ideal_s(r), 3)} for r, w in warm.items()},
    }
    print(json.dumps(report, indent=2))
    print()
    for r in counts:
        conns = args.concurrency * r
        print(
            f"{r} replica(s): ideal {ideal_s(r):.2f} s = {args.workflows} x {args.latency_ms:.0f} ms / "
            f"({r} x {args.concurrency}); emulator alone (raw-socket client, {conns} connections): "
            f"{capacity[r]:.0f} req/s -> floor {args.workflows / capacity[r]:.2f} s"
        )
    print(f"(first pass over the sample, encoding the entries: {capacity_first:.0f} req/s)")
    print(f"load average: start {report['load_average']['start']}, end {report['load_average']['end']}")
    cycles = [(f"cold, {counts[-1]} replica(s)", counts[-1], report["cold"])]
    cycles += [(f"warm, {r} replica(s)", r, report["warm"][str(r)]) for r in counts]
    for name, r, c in cycles:
        floor = args.workflows / capacity[r]
        print(
            f"{name}: wall {c['wall_s']:.2f} s, ratio to ideal {c['ratio']:.3f} (target <= 1.25), to the emulator's "
            f"floor {c['wall_s'] / floor:.3f}; synced {c['synced']}, failed {c['failed']}, changed {c['changed']}, "
            f"cycle CPU {c['cycle_cpu_s']:.2f} s (processes {c['process_cpu_s']:.2f} s), peak RSS "
            f"{c['max_rss_mb']:.0f} MB, emulator CPU {c['emulator_cpu_s']:.2f} s, max DS in flight "
            f"{c['max_ds_in_flight']}, per replica {c['per_replica']}"
        )
        print(
            f"  CPU per workflow: replicas {1000 * c['cycle_cpu_s'] / args.workflows:.3f} ms (target <= 0.25), "
            f"emulator {1000 * c['emulator_cpu_s'] / args.workflows:.3f} ms per instance-list call"
        )
    if counts[0] == 1:
        one = report["warm"]["1"]["wall_s"]
        scaling = ", ".join(f"{r}: {one / report['warm'][str(r)]['wall_s']:.2f}x" for r in counts[1:])
        if scaling:
            print(f"warm scaling against 1 replica (ideal = the replica count): {scaling}")


if __name__ == "__main__":
    asyncio.run(main())
