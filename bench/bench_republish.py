"""Bulk republish benchmark (issue 24): N deployed workflows of 10 tasks republished after a converter change, by 1
and by 2 publisher replicas (processes, ``python -m publisher serve``), through the DS emulator.

Set-up (not measured): the emulator is seeded with N ONLINE workflows (``/_emulator/seed``); the publisher's schema
gets, for each, what a deploy by an older converter left (set-based SQL, as the other benchmarks seed): its
``engine_workflow`` row (DS code, ONLINE, a deployed hash the current converter no longer gives), the task codes of
its 10 SHELL tasks, and the successful deploy record of that hash (snapshot, the definition service's approval).
Each scenario resets the deployed hashes, starts the replicas (``PUBLISHER_PUBLISH_WORKERS`` each), runs
``python -m publisher republish start`` (plan, then the replicas execute the run), and measures the run from its
creation to its last item (database timestamps).

Figures:
- at ``--latency-ms`` (20) per DS call, with the rate limit out of the way: wall time against the ideal the DS
  latency allows — DS calls (the replicas' ``ds_calls_total``) × latency / total concurrency (replicas × workers) —
  target ≤ 1.25;
- at 0 ms (DS is not the limit: the publisher's own work is): items per second of 2 replicas against 1 — target
  ≥ 1.8 (it needs a core per replica; the machine's load is printed with it);
- the plan (conversion of every deployed workflow) and the CPU seconds of each replica and of the emulator.

Run: ``.venv/bin/python bench/bench_republish.py [--workflows 10000] [--workers 4] [--latency-ms 20]
[--scenarios 1@20,2@20,1@0,2@0]`` (uses the local devstack PostgreSQL and Kafka; starts its own DS emulator).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from _platform_stack import devstack, load_average

from common.approvals import approve
from common.db import asyncpg_dsn
from common.identity import Signer, generate_identity_keys
from common.workflow import Edge, ShellParams, SnapshotTask, StructureSnapshot
from devstack.stack import DsEndpoint, Stack, free_port
from ds_emulator import EmulatorProcess

TASKS = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def snapshot(workflow_id: int, name: str) -> StructureSnapshot:
    tasks = tuple(
        SnapshotTask(task_id=t, name=f"task-{t}", task_type="SHELL", params=ShellParams(script=f"echo {name} {t}"))
        for t in range(1, TASKS + 1)
    )
    edges = tuple(Edge(upstream_task_id=t, downstream_task_id=t + 1) for t in range(1, TASKS))
    return StructureSnapshot(workflow_id=workflow_id, workflow_name=name, tasks=tasks, edges=edges)


async def seed(conn: asyncpg.Connection, signer: Signer, seeded: dict[str, Any], n: int) -> None:
    """What deploys by an older converter left: engine rows, task codes, one successful deploy record each."""
    project_code, codes, project = int(seeded["projectCode"]), seeded["workflowCodes"], seeded["projectName"]
    engines, task_codes, records = [], [], []
    now = datetime.now(UTC)
    for i in range(n):
        wid = i + 1
        old_hash = f"older-converter-{wid}"
        snap = snapshot(wid, f"{project}-wf-{i}")
        request_id = uuid.uuid4()
        approval = approve(
            signer,
            request_id=request_id,
            workflow_id=wid,
            version_id=wid * 1000 + 1,
            version_no=1,
            operation="online",
            content_hash=snap.content_hash(),
        )
        engines.append((wid, int(codes[i]), project_code, old_hash, wid * 1000 + 1, 1, "ONLINE", False))
        task_codes += [(wid, t, 9_000_000_000_000 + wid * 100 + t) for t in range(1, TASKS + 1)]
        records.append(
            (request_id, wid, wid * 1000 + 1, 1, "online", "success", int(codes[i]), 1, project_code, "ONLINE",
             old_hash, "seeded", "bench", approval, snap.model_dump_json(), now, now)
        )  # fmt: skip
    await conn.copy_records_to_table(
        "engine_workflow",
        records=engines,
        columns=["workflow_id", "workflow_code", "project_code", "last_deployed_hash", "last_deployed_version_id",
                 "engine_version", "release_state", "schedule_online"],
    )  # fmt: skip
    await conn.copy_records_to_table(
        "engine_task_code", records=task_codes, columns=["workflow_id", "task_id", "ds_task_code"]
    )
    await conn.copy_records_to_table(
        "workflow_publish_record",
        records=records,
        columns=["request_id", "workflow_id", "version_id", "version_no", "operation", "status",
                 "engine_workflow_code", "engine_version", "project_code", "release_state", "content_hash", "log",
                 "operator", "approval", "snapshot", "requested_at", "finished_at"],
    )  # fmt: skip
    await conn.execute("ANALYZE")


def ds_calls(urls: list[str]) -> float:
    total = 0.0
    for url in urls:
        for line in httpx.get(f"{url}/metrics", timeout=30).text.splitlines():
            if line.startswith("ds_calls_total{"):
                total += float(line.rsplit(" ", 1)[1])
    return total


async def scenario(
    stack: Stack,
    conn: asyncpg.Connection,
    emulator: EmulatorProcess,
    *,
    replicas: int,
    workers: int,
    latency_ms: float,
    n: int,
) -> dict[str, Any]:
    await conn.execute("UPDATE engine_workflow SET last_deployed_hash = 'older-converter-' || workflow_id")
    emulator.set_global_latency(latency_ms)
    env = stack.environment("publisher") | {
        "PUBLISHER_PUBLISH_WORKERS": str(workers),
        "PUBLISHER_REPUBLISH_INTERVAL_S": "0.2",
        "PUBLISHER_LOG_LEVEL": "WARNING",
    }
    names = []
    for r in range(replicas):
        name = f"publisher-{replicas}x-{r}"
        stack.ports[name] = free_port()
        renv = env | {"PUBLISHER_HTTP_PORT": str(stack.ports[name]), "PUBLISHER_INSTANCE_ID": name}
        stack.spawn(name, [sys.executable, "-m", "publisher", "serve"], renv)
        names.append(name)
    urls = [stack.url(name) for name in names]
    try:
        cpu0 = {name: proc_cpu_s(stack.procs[name].pid) for name in names}
        emu0 = proc_cpu_s(emulator.pid) if emulator.pid else 0.0
        calls0 = ds_calls(urls)
        t0 = time.perf_counter()
        command = [sys.executable, "-m", "publisher", "republish", "start", "--rate", "100000", "--max-in-flight",
                   str(2 * workers * replicas), "--reason", "bench: converter bump", "--every", "5"]  # fmt: skip
        out = await asyncio.to_thread(
            subprocess.run, command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=7200, check=False
        )
        cli_s = time.perf_counter() - t0
        if out.returncode != 0:
            raise RuntimeError(f"republish failed ({out.returncode}): {out.stderr[-3000:]}")
        result = json.loads(out.stdout)
        calls = ds_calls(urls) - calls0
        cpu = {name: proc_cpu_s(stack.procs[name].pid) - cpu0[name] for name in names}
        emu_cpu = (proc_cpu_s(emulator.pid) if emulator.pid else 0.0) - emu0
    finally:
        for name in names:
            stack.stop(name)
    run_id = result["run"]["run_id"]
    times = await conn.fetchrow("SELECT created_at, started_at, finished_at FROM republish_run WHERE id = $1", run_id)
    wall = (times["finished_at"] - times["created_at"]).total_seconds()
    execute = (times["finished_at"] - times["started_at"]).total_seconds()
    return {
        "replicas": replicas,
        "workers": workers,
        "latency_ms": latency_ms,
        "plan": result["plan"],
        "run": result["run"],
        "cli_s": cli_s,
        "wall_s": wall,
        "execute_s": execute,
        # the command plans (converts every workflow) before it writes the run
        "plan_s": float(result["plan"]["planned_in_s"]),
        "calls": calls,
        "cpu_s": cpu,
        "emulator_cpu_s": emu_cpu,
        "n": n,
    }


def report(r: dict[str, Any]) -> None:
    run = r["run"]
    ok = run["republished"] == r["n"] and run["failed"] == 0
    per = r["calls"] / max(1, run["republished"])
    print(
        f"  {r['replicas']} replica(s) × {r['workers']} workers, {r['latency_ms']:.0f} ms/call: "
        f"{run['republished']}/{r['n']} republished ({'all' if ok else 'NOT all'}, failed {run['failed']}), "
        f"run {r['wall_s']:.1f} s (first dispatch → last item {r['execute_s']:.1f} s), "
        f"{run['republished'] / r['wall_s']:.1f} workflows/s, {r['calls']:.0f} DS calls ({per:.1f} per workflow); "
        f"plan {r['plan_s']:.1f} s; CPU s: "
        + ", ".join(f"{k.rsplit('-', 1)[1]}={v:.0f}" for k, v in r["cpu_s"].items())
        + f", emulator={r['emulator_cpu_s']:.0f}",
        flush=True,
    )
    cpu_ms = sum(r["cpu_s"].values()) * 1000 / max(1, run["republished"])
    # one process, one event loop: its CPU per workflow bounds its throughput (1 s / cpu_ms workflows per second)
    need_ms = r["calls"] / max(1, run["republished"]) * r["latency_ms"] / r["workers"]
    print(
        f"    publisher CPU {cpu_ms:.1f} ms per republished workflow (all replicas; "
        + (
            f"≤ {need_ms:.1f} ms lets one replica keep pace with {r['workers']} workers at this latency)"
            if r["latency_ms"] > 0
            else "DS not the limit)"
        ),
        flush=True,
    )
    if r["latency_ms"] > 0:
        ideal = r["calls"] * r["latency_ms"] / 1000 / (r["replicas"] * r["workers"])
        ratio = r["wall_s"] / ideal
        print(
            f"    ideal (calls × latency / {r['replicas'] * r['workers']}): {ideal:.1f} s → ratio {ratio:.3f} "
            f"(target ≤ 1.25: {'met' if ratio <= 1.25 else 'NOT met'})",
            flush=True,
        )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=4, help="PUBLISHER_PUBLISH_WORKERS of each replica (4)")
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument(
        "--scenarios", default="1@L,2@L,1@0,2@0", help="replicas@latency_ms, L = --latency-ms; empty: the plan only"
    )
    args = ap.parse_args()
    n = args.workflows
    admin_url, bootstrap = devstack()
    emulator = EmulatorProcess()
    emulator.start()
    project = f"bench-rp-{uuid.uuid4().hex[:6]}"
    log_dir = Path(tempfile.mkdtemp(prefix="bench-republish-"))
    identity = log_dir / "identity"
    generate_identity_keys(identity, ["definition", "publisher"])
    stack = Stack(
        admin_url,
        bootstrap,
        DsEndpoint.of(emulator, project),
        log_dir,
        ("publisher",),
        tag="benchrp",
        env={
            "publisher": {
                "IDENTITY_TRUSTED_KEYS_DIR": str(identity / "trusted"),
                "PUBLISHER_IDENTITY_KEY_FILE": str(identity / "publisher.key"),
            }
        },
    )
    print(f"republish bench: {n} workflows of {TASKS} tasks; load average {load_average()}, {os.cpu_count()} CPUs")
    try:
        t0 = time.perf_counter()
        await asyncio.to_thread(stack.provision)
        seeded = emulator.seed(project, n, instances_per_workflow=0)
        conn = await asyncpg.connect(asyncpg_dsn(admin_url))
        await conn.execute(f'SET search_path = "{stack.databases["publisher"].schema}"')
        await seed(conn, Signer("definition", identity / "definition.key", ttl_s=7 * 86400), seeded, n)
        print(f"  seeded in {time.perf_counter() - t0:.1f} s", flush=True)
        dry = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "publisher", "republish", "start", "--dry-run"],
            env=stack.environment("publisher") | {"PUBLISHER_LOG_LEVEL": "WARNING"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=7200,
            check=True,
        )
        plan = json.loads(dry.stdout)["plan"]
        print(
            f"  plan (--dry-run): {plan['to_republish']} of {plan['total']} to republish, converted in "
            f"{plan['planned_in_s']:.1f} s ({plan['planned_in_s'] / n * 1000:.2f} ms per workflow)",
            flush=True,
        )
        results: list[dict[str, Any]] = []
        for spec in filter(None, args.scenarios.split(",")):
            replicas, latency = spec.split("@")
            latency_ms = args.latency_ms if latency == "L" else float(latency)
            result = await scenario(
                stack, conn, emulator, replicas=int(replicas), workers=args.workers, latency_ms=latency_ms, n=n
            )
            report(result)
            print(f"    load average {load_average()}", flush=True)
            results.append(result)
        by = {(r["replicas"], r["latency_ms"]): r for r in results}
        if (1, 0.0) in by and (2, 0.0) in by:
            one, two = by[(1, 0.0)], by[(2, 0.0)]
            scale = (two["run"]["republished"] / two["wall_s"]) / (one["run"]["republished"] / one["wall_s"])
            print(f"  2 replicas / 1 replica throughput at 0 ms: {scale:.2f}× (target ≥ 1.8: "
                  f"{'met' if scale >= 1.8 else 'NOT met'})")  # fmt: skip
        await conn.close()
    finally:
        emulator.stop()
        await asyncio.to_thread(stack.close)
        await asyncio.to_thread(stack.drop_topics)
        shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
