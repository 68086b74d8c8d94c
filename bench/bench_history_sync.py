"""history-sync benchmark: one full sync cycle over 10,000 tracked workflows.

Set-up: the DS emulator (REST only) bulk-seeded with N ONLINE workflows of 3 finished instances each, a global 20 ms
latency on every DS REST call, N rows in ``tracked_workflow`` of a fresh schema. The cycle runs in a child process
(``python -m history_sync sync-once``, concurrency 16, no rate limit) that reports its own wall time, CPU seconds
(``resource.getrusage``) and peak RSS (``ru_maxrss``).

Figures:
1. emulator capacity: the same 16-way concurrent instance-list calls from a minimal raw-socket client (what the
   emulator, one Python process, can serve; it must stay well above N / ideal = 800 calls/s), measured on a
   second pass over the sample (the emulator keeps the encoded entries of finished instances, as the cycles see
   them; the first pass is reported too);
2. cold cycle: every workflow is new, so each sync writes 3 cache rows and an ``execution.synced`` event (plus a
   failure alert for every failed instance) in the outbox;
3. warm cycle: nothing changed in DS, so each sync only updates ``tracked_workflow`` (the steady state).
Ideal wall time = N x latency / concurrency (12.5 s for 10,000 x 20 ms / 16); target ratio <= 1.25.
The outbox relay does not run here (its throughput is ``bench_outbox.py``'s subject).

Run: ``.venv/bin/python bench/bench_history_sync.py [--workflows 10000] [--latency-ms 20] [--concurrency 16]``
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


def run_cycle(env: dict[str, str], emulator_pid: int) -> dict[str, Any]:
    cpu0 = proc_cpu_s(emulator_pid)
    out = subprocess.run(
        [sys.executable, "-m", "history_sync", "sync-once"], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"sync-once failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["emulator_cpu_s"] = round(proc_cpu_s(emulator_pid) - cpu0, 2)
    return result


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", type=int, default=10_000)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--lanes", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    from devstack.infra import ensure_infra

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
        sample = min(2000, len(codes))
        # twice over the same workflows: the first pass also encodes each instance's list entry, which the
        # emulator then keeps (they are final); the cycles below read them as the second pass does
        capacity_first = await emulator_capacity(emulator, project, codes, sample, args.concurrency)
        capacity = await emulator_capacity(emulator, project, codes, sample, args.concurrency)

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
        cold = run_cycle(env, emulator.pid)
        async with engine.begin() as conn:
            outbox = int(await conn.scalar(text("SELECT count(*) FROM outbox")) or 0)
            await conn.execute(text("UPDATE tracked_workflow SET next_sync_at = now()"))
        warm = run_cycle(env, emulator.pid)
        await engine.dispose()
    finally:
        emulator.stop()
        await drop_service(admin_url, schema=db.schema, role=db.role)

    ideal = args.workflows * args.latency_ms / 1000 / args.concurrency
    capacity_floor = args.workflows / capacity
    report = {
        "workflows": args.workflows,
        "latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "seed_s": round(seed_s, 2),
        "ideal_s": round(ideal, 2),
        "emulator_capacity_rps": round(capacity, 1),
        "emulator_capacity_first_pass_rps": round(capacity_first, 1),
        "emulator_floor_s": round(capacity_floor, 2),
        "cold": {**cold, "ratio": round(cold["wall_s"] / ideal, 3), "outbox_events": outbox},
        "warm": {**warm, "ratio": round(warm["wall_s"] / ideal, 3)},
    }
    print(json.dumps(report, indent=2))
    print()
    print(f"ideal {ideal:.2f} s = {args.workflows} x {args.latency_ms:.0f} ms / {args.concurrency}")
    print(
        f"emulator alone (raw-socket client, {args.concurrency} connections): {capacity:.0f} req/s "
        f"-> floor {capacity_floor:.2f} s for {args.workflows} calls (first pass over the same workflows, "
        f"encoding their entries: {capacity_first:.0f} req/s)"
    )
    for name, r in (("cold", report["cold"]), ("warm", report["warm"])):
        print(
            f"{name}: wall {r['wall_s']:.2f} s, ratio {r['ratio']:.3f} (target <= 1.25), synced {r['synced']}, "
            f"failed {r['failed']}, changed {r['changed']}, cycle CPU {r['cycle_cpu_s']:.2f} s "
            f"(process {r['process_cpu_s']:.2f} s), peak RSS {r['max_rss_mb']:.0f} MB, "
            f"emulator CPU {r['emulator_cpu_s']:.2f} s, max DS in flight {r['max_ds_in_flight']}"
        )


if __name__ == "__main__":
    asyncio.run(main())
