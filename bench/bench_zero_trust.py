"""What the zero-trust checks cost (issue: zero trust): ``GET /api/v1/workflows`` and the publish path with the
identity checks (as deployed) and without them, in one run, in alternating rounds; targets: throughput ≥ 0.9× and
p99 ≤ 1.15× of the run without.

"With" is the services as deployed: the gateway signs an identity token per user and service (reused for 30 s), every
service verifies it before reading the body (``common.guard.ServiceGuard``; a verified token is remembered until it
expires) and writes an audit row for each call that changes something; the definition service signs each publish
approval and the publisher verifies it before calling DS. "Without" is the same code with those parts taken out
(``_bench_factories.<svc>_no_identity``: no guard, no token, no approval). Both: Kafka with SASL/SCRAM as deployed,
telemetry as deployed (OTLP to a local sink), the gateway's API-key check.

- list path: 10,000 workflows with 10 executions each (as ``bench_telemetry_overhead.py``), ``--concurrency``
  connections from the load generator process, ``--requests`` per round;
- publish path: ``--workflows`` approved workflows per round published (``deploy``) through the gateway, four at a
  time, the DS emulator answering each call after ``--latency-ms``; figures: workflows per second from the first
  request to the last one seen published, and p50 / p99 of request → seen published (polled every 50 ms).

Run: ``.venv/bin/python bench/bench_zero_trust.py [--rounds 3] [--requests 1000] [--workflows 30]`` (devstack
PostgreSQL and Kafka; own schemas, roles, topics, keys and emulator, removed at the end). Also prints the in-process
cost of signing and verifying one token.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import httpx
from _platform_stack import (
    FACTORY,
    HOST,
    OtlpSink,
    ServiceProc,
    Stack,
    devstack,
    load_average,
    run_load,
    seed_definition,
    seed_history,
    timed,
)

from devstack.stack import free_port

MODES = ("without", "with")


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def factory(svc: str, mode: str) -> str:
    return FACTORY[svc] if mode == "with" else f"_bench_factories:{svc}_no_identity"


def start(stack: Stack, svc: str, mode: str, otlp: str, extra: dict[str, str] | None = None) -> ServiceProc:
    return stack.start_uvicorn(f"{svc}-{mode}", factory(svc, mode), stack.env(svc, otlp, extra), wait=False)


def start_platform(stack: Stack, mode: str, otlp: str, emulator: Any | None = None) -> ServiceProc:
    """definition, history-sync, lineage-resolver (and the publisher with an emulator) and the gateway."""
    ups = {svc: start(stack, svc, mode, otlp) for svc in ("definition", "history", "lineage")}
    publisher_url = f"http://{HOST}:{free_port()}"
    if emulator is not None:
        ups["publisher"] = start(
            stack,
            "publisher",
            mode,
            otlp,
            {
                "PUBLISHER_DS_REST_URL": emulator.rest_url,
                "PUBLISHER_DS_TOKEN": emulator.access_token,
                "PUBLISHER_DS_GATEWAY_HOST": emulator.host,
                "PUBLISHER_DS_GATEWAY_PORT": str(emulator.gateway_port),
                "PUBLISHER_DS_GATEWAY_AUTH_TOKEN": emulator.auth_token,
                "PUBLISHER_DS_PROJECT_NAME": f"bench-{stack.tag}",
                "PUBLISHER_DS_USER": "admin",  # the emulator's user
                "PUBLISHER_PUBLISH_POLL_INTERVAL_S": "0.2",
            },
        )
        publisher_url = ups["publisher"].url
    for sp in ups.values():
        stack.wait_ready(sp)
    gw = start(
        stack,
        "gateway",
        mode,
        otlp,
        {
            "GATEWAY_DEFINITION_URL": ups["definition"].url,
            "GATEWAY_HISTORY_URL": ups["history"].url,
            "GATEWAY_LINEAGE_URL": ups["lineage"].url,
            "GATEWAY_PUBLISHER_URL": publisher_url,
            "GATEWAY_BOOTSTRAP_ADMIN_TOKEN": stack.admin_token,
            "GATEWAY_DS_UI_URL": "http://ds.example.internal:12345/dolphinscheduler/ui",
        },
    )
    stack.wait_ready(gw)
    return gw


def stop_platform(stack: Stack) -> None:
    stack.stop_all()


# --------------------------------------------------------------------------------------------------------- list path


def list_round(stack: Stack, mode: str, otlp: str, args: argparse.Namespace) -> dict[str, float]:
    gw = start_platform(stack, mode, otlp)
    try:
        r = run_load(
            [
                "--scenario",
                "gw-workflows",
                "--url",
                gw.url,
                f"--token={stack.admin_token}",
                "--concurrency",
                str(args.concurrency),
                "--requests",
                str(args.requests),
                "--warmup",
                str(args.warmup),
            ]
        )
    finally:
        stop_platform(stack)
    lat = r["latencies_ms"]
    fig = {"p50": pct(lat, 50), "p99": pct(lat, 99), "rps": len(lat) / r["elapsed_s"]}
    print(
        f"    {mode:<7}  p50 {fig['p50']:6.1f} ms  p99 {fig['p99']:6.1f} ms  {fig['rps']:6.1f} req/s"
        f"  (n={len(lat)}, errors {r['errors']}, load {load_average()})",
        flush=True,
    )
    return fig


# ------------------------------------------------------------------------------------------------------ publish path


def seed_workflows(api: httpx.Client, n: int) -> list[int]:
    """``n`` approved two-task workflows, never published."""
    ids = []
    for _ in range(n):
        tag = uuid.uuid4().hex[:8]
        tasks = []
        for i in range(2):
            r = api.post(
                "/api/v1/tasks",
                json={"name": f"zt-{tag}-{i}", "task_type": "SHELL", "params": {"script": f"echo {tag} {i}"}},
            )
            r.raise_for_status()
            tasks.append(r.json()["id"])
        r = api.post(
            "/api/v1/workflows",
            json={
                "name": f"zt-{tag}",
                "tasks": [{"task_id": t} for t in tasks],
                "edges": [{"upstream_task_id": tasks[0], "downstream_task_id": tasks[1]}],
            },
        )
        r.raise_for_status()
        wf = r.json()
        api.post(
            f"/api/v1/workflows/{wf['id']}/approve", json={"version_no": wf["current_version_no"]}
        ).raise_for_status()
        ids.append(wf["id"])
    return ids


async def publish_round(gw: ServiceProc, token: str, workflows: list[int], mode: str) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    asked: dict[int, float] = {}
    seen: dict[int, float] = {}
    async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=60) as api:
        queue = list(workflows)
        started = time.perf_counter()

        async def worker() -> None:
            while queue:
                wid = queue.pop(0)
                asked[wid] = time.perf_counter()
                r = await api.post(f"/api/v1/workflows/{wid}/publish", json={"operation": "deploy"})
                r.raise_for_status()

        async def watcher() -> None:
            deadline = time.perf_counter() + 300
            while len(seen) < len(workflows):
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{len(workflows) - len(seen)} workflows not published in 300 s")
                r = await api.get(
                    "/api/v1/workflows",
                    params={"publish_status": "published", "page_size": 200, "sort": "-updated_at"},
                )
                now = time.perf_counter()
                for item in r.json()["items"]:
                    if item["id"] in asked and item["id"] not in seen:
                        seen[item["id"]] = now
                failed = await api.get("/api/v1/workflows", params={"publish_status": "failed", "page_size": 1})
                if failed.json()["total"]:
                    raise RuntimeError(f"a publish failed ({mode}): {failed.json()['items'][0]}")
                await asyncio.sleep(0.05)

        await asyncio.gather(*(worker() for _ in range(4)), watcher())
    elapsed = max(seen.values()) - started
    lat = [(seen[w] - asked[w]) * 1000 for w in workflows]
    fig = {"p50": pct(lat, 50), "p99": pct(lat, 99), "rps": len(workflows) / elapsed}
    print(
        f"    {mode:<7}  p50 {fig['p50']:7.1f} ms  p99 {fig['p99']:7.1f} ms  {fig['rps']:5.2f} workflows/s"
        f"  (n={len(workflows)}, load {load_average()})",
        flush=True,
    )
    return fig


# ------------------------------------------------------------------------------------------------------------ figures


def token_costs(n: int = 2000) -> tuple[float, float]:
    """In-process µs to sign and to verify one EdDSA token (what the reuse and the memory of tokens save)."""
    import tempfile
    from pathlib import Path

    from common.identity import Signer, TrustedKeys, Verifier, generate_identity_keys

    with tempfile.TemporaryDirectory() as d:
        generate_identity_keys(Path(d), ["gateway"])
        signer = Signer("gateway", Path(d) / "gateway.key")
        verifier = Verifier("definition", TrustedKeys(Path(d) / "trusted"))
        t0 = time.perf_counter()
        tokens = [signer.sign({"sub": f"u{i}", "aud": "definition", "exp": 2**31}, use="call") for i in range(n)]
        sign_us = (time.perf_counter() - t0) / n * 1e6
        t0 = time.perf_counter()
        for t in tokens:
            verifier._verified.clear()
            try:
                verifier.verify(t)
            except Exception:  # noqa: S112 - the claims are not a user's: the signature check is what is timed
                continue
        verify_us = (time.perf_counter() - t0) / n * 1e6
    return sign_us, verify_us


def report(title: str, figs: dict[str, list[dict[str, float]]], unit: str) -> None:
    med = {m: {k: statistics.median(f[k] for f in figs[m]) for k in ("p50", "p99", "rps")} for m in MODES}
    tput = med["with"]["rps"] / med["without"]["rps"]
    p99 = med["with"]["p99"] / med["without"]["p99"]
    print(f"  {title} (medians of {len(figs['with'])} rounds each)")
    w = med["with"]
    print(f"    with     p50 {w['p50']:.1f} ms  p99 {w['p99']:.1f} ms  {w['rps']:.2f} {unit}")
    print(
        f"    without  p50 {med['without']['p50']:.1f} ms  p99 {med['without']['p99']:.1f} ms"
        f"  {med['without']['rps']:.2f} {unit}"
    )
    print(
        f"    ratio    throughput {tput:.3f} (target ≥ 0.90: {'met' if tput >= 0.9 else 'NOT met'})"
        f"   p99 {p99:.3f} (target ≤ 1.15: {'met' if p99 <= 1.15 else 'NOT met'})",
        flush=True,
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--list-workflows", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--workflows", type=int, default=30, help="publish path: workflows per round")
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--skip-list", action="store_true")
    ap.add_argument("--skip-publish", action="store_true")
    args = ap.parse_args()

    admin_url, bootstrap = devstack()
    sign_us, verify_us = token_costs()
    print(f"zero-trust overhead benchmark (load average at start {load_average()})", flush=True)
    print(f"  one EdDSA token in process: sign {sign_us:.0f} µs, verify {verify_us:.0f} µs", flush=True)
    stack = Stack(admin_url, bootstrap)
    with OtlpSink() as sink:
        try:
            await stack.provision(("definition", "history", "lineage", "gateway", "publisher"))
            if not args.skip_list:
                await timed(f"seed {args.list_workflows:,} workflows", seed_definition(stack, args.list_workflows))
                await timed(f"seed {args.list_workflows * 10:,} executions", seed_history(stack, args.list_workflows))
                print(
                    f"\nlist path: GET /api/v1/workflows, {args.concurrency} connections, {args.requests} requests"
                    f" per round, modes alternating",
                    flush=True,
                )
                figs: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
                for _ in range(args.rounds):
                    for mode in MODES:
                        figs[mode].append(list_round(stack, mode, sink.url, args))
            if not args.skip_publish:
                from ds_emulator import EmulatorProcess

                with EmulatorProcess() as emulator:
                    emulator.set_global_latency(args.latency_ms)
                    gw = start_platform(stack, "with", sink.url, emulator)
                    with httpx.Client(
                        base_url=gw.url, headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=60
                    ) as api:
                        seeded = seed_workflows(api, args.workflows * (args.rounds * len(MODES) + 1))
                    # a round not counted: DS's project, the first task codes, the services' first requests
                    await publish_round(gw, stack.admin_token, seeded[-args.workflows :], "warm-up")
                    stop_platform(stack)
                    print(
                        f"\npublish path: {args.workflows} workflows per round published (deploy) through the gateway,"
                        f" 4 at a time, {args.latency_ms:.0f} ms DS latency, modes alternating",
                        flush=True,
                    )
                    pubs: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
                    for r in range(args.rounds):
                        for i, mode in enumerate(MODES):
                            part = seeded[(r * len(MODES) + i) * args.workflows :][: args.workflows]
                            gw = start_platform(stack, mode, sink.url, emulator)
                            try:
                                pubs[mode].append(await publish_round(gw, stack.admin_token, part, mode))
                            finally:
                                stop_platform(stack)
            print()
            if not args.skip_list:
                report("GET /api/v1/workflows", figs, "req/s")
            if not args.skip_publish:
                report("publish path (request → published)", pubs, "workflows/s")
        finally:
            await stack.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
