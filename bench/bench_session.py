"""What a person's session check costs against an API key's (issue 22): ``GET /api/v1/workflows`` through the
gateway with a session cookie and with a bearer key, in one run, rounds alternating; target: the session's p99
≤ 1.1× the key's.

The platform as in ``bench_zero_trust.py``'s list path (definition, history-sync, lineage-resolver and the gateway as
processes, telemetry as deployed, ``--workflows`` workflows with 10 executions each), one gateway for every round.
The gateway is configured for OIDC; the person's session is written straight into its ``web_session`` table (a
sign-in at a provider would store the same row): the measured path is the one every request of a signed-in person
takes (cookie → the process's verified sessions, else the database row, expiry checks). The access token is valid
for the whole run, so no refresh happens (Keycloak's default: one refresh per 5 minutes of a busy session).
Both caches (keys, sessions) at their defaults (5 s).

Figures per mode: medians over the rounds of throughput and p99, and the gateway's CPU time per request
(``psutil``, the gateway process only). Run: ``.venv/bin/python bench/bench_session.py [--rounds 5]
[--requests 1000] [--workflows 2000]`` (devstack PostgreSQL and Kafka; own schemas, removed at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from _platform_stack import (
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
from pydantic import SecretStr

from devstack.stack import free_port
from gateway.domain.sessions import hash_session_id, new_session_id
from gateway.sessions import SESSION_COOKIE, Tokens, token_box

MODES = ("api-key", "session")
CLIENT_SECRET = "bench-client-secret"


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def oidc_env() -> dict[str, str]:
    """OIDC settings of a provider that is never called: discovery happens at sign-in and refresh only."""
    return {
        "GATEWAY_OIDC_ISSUER": f"http://{HOST}:{free_port()}/realms/bench",
        "GATEWAY_OIDC_CLIENT_ID": "bench-portal",
        "GATEWAY_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "GATEWAY_OIDC_GROUP_ROLES": json.dumps({"platform-admins": ["admin"]}),
    }


async def seed_session(stack: Stack) -> str:
    """A signed-in person's session row (admin, as the bench key); the answer is the cookie's value."""
    session_id = new_session_id()
    tokens = Tokens("bench-refresh", "bench-id-token", "bench-access").encrypt(token_box(SecretStr(CLIENT_SECRET)))
    until = datetime.now(UTC) + timedelta(days=1)
    await stack.sql(
        "gateway",
        "INSERT INTO web_session (id_hash, subject, name, display_name, email, roles, tokens, access_expires_at) "  # noqa: S608
        f"VALUES ('{hash_session_id(session_id)}', 'bench-sub', 'bench.person', 'Bench Person', "
        f"'bench@example.com', ARRAY['admin'], decode('{tokens.hex()}', 'hex'), '{until.isoformat()}')",
    )
    return session_id


def gateway_process(gw: ServiceProc) -> psutil.Process:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == gw.port and conn.pid:
            return psutil.Process(conn.pid)
    raise RuntimeError(f"no process listens on {gw.url}")


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def one_round(
    gw: ServiceProc, proc: psutil.Process, credential: list[str], mode: str, a: argparse.Namespace
) -> dict[str, float]:
    before = cpu_s(proc)
    r = run_load(
        [
            "--scenario",
            "gw-workflows",
            "--url",
            gw.url,
            *credential,
            "--concurrency",
            str(a.concurrency),
            "--requests",
            str(a.requests),
            "--warmup",
            str(a.warmup),
        ]
    )
    cpu = cpu_s(proc) - before
    lat = r["latencies_ms"]
    if r["errors"]:
        raise RuntimeError(f"{mode}: {len(r['errors'])} errors, e.g. {r['errors'][:3]}")
    fig = {
        "p50": pct(lat, 50),
        "p99": pct(lat, 99),
        "rps": len(lat) / r["elapsed_s"],
        # the warm-up's requests are in the process's CPU time too
        "cpu_ms": 1000 * cpu / (len(lat) + a.warmup),
    }
    print(
        f"    {mode:<7}  p50 {fig['p50']:6.1f} ms  p99 {fig['p99']:6.1f} ms  {fig['rps']:6.1f} req/s"
        f"  gateway CPU {fig['cpu_ms']:.2f} ms/req  (n={len(lat)}, load {load_average()})",
        flush=True,
    )
    return fig


def report(figs: dict[str, list[dict[str, float]]]) -> None:
    med = {m: {k: statistics.median(f[k] for f in figs[m]) for k in ("p50", "p99", "rps", "cpu_ms")} for m in MODES}
    key, session = med["api-key"], med["session"]
    print("GET /api/v1/workflows, medians of the rounds:")
    for m in MODES:
        f = med[m]
        print(
            f"  {m:<8} {f['rps']:7.1f} req/s  p50 {f['p50']:6.1f} ms  p99 {f['p99']:6.1f} ms"
            f"  CPU {f['cpu_ms']:.2f} ms/req"
        )
    p99 = session["p99"] / key["p99"]
    print(f"  throughput session / key: {session['rps'] / key['rps']:.3f}")
    print(f"  p99 session / key: {p99:.3f} (target ≤ 1.1: {'met' if p99 <= 1.1 else 'NOT met'})")
    print(f"  gateway CPU per request session / key: {session['cpu_ms'] / key['cpu_ms']:.3f}")


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workflows", type=int, default=2000)
    a = ap.parse_args()
    admin_url, bootstrap = devstack()
    print(f"session vs API key benchmark (load average at start {load_average()})", flush=True)
    stack = Stack(admin_url, bootstrap)
    with OtlpSink() as sink:
        try:
            await stack.provision(("definition", "history", "lineage", "gateway"))
            await timed(f"seed {a.workflows:,} workflows", seed_definition(stack, a.workflows))
            await timed(f"seed {a.workflows * 10:,} executions", seed_history(stack, a.workflows))
            session_id = await seed_session(stack)
            ups = {svc: stack.start(svc, otlp=sink.url, wait=False) for svc in ("definition", "history", "lineage")}
            for sp in ups.values():
                stack.wait_ready(sp)
            gw = stack.start(
                "gateway",
                otlp=sink.url,
                extra={
                    "GATEWAY_DEFINITION_URL": ups["definition"].url,
                    "GATEWAY_HISTORY_URL": ups["history"].url,
                    "GATEWAY_LINEAGE_URL": ups["lineage"].url,
                    "GATEWAY_PUBLISHER_URL": f"http://{HOST}:{free_port()}",
                    "GATEWAY_BOOTSTRAP_ADMIN_TOKEN": stack.admin_token,
                    "GATEWAY_DS_UI_URL": "http://ds.example.internal:12345/dolphinscheduler/ui",
                    **oidc_env(),
                },
            )
            proc = gateway_process(gw)
            credentials: dict[str, list[str]] = {
                "api-key": [f"--token={stack.admin_token}"],
                "session": [f"--cookie={SESSION_COOKIE}={session_id}"],
            }
            print(
                f"\nGET /api/v1/workflows, {a.concurrency} connections, {a.requests} requests per round"
                f" ({a.warmup} warm-up), modes alternating, one gateway",
                flush=True,
            )
            figs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
            for _ in range(a.rounds):
                for mode in MODES:
                    figs[mode].append(one_round(gw, proc, credentials[mode], mode, a))
            print(f"\nload average at the end {load_average()}")
            report(figs)
        finally:
            stack.stop_all()
            await stack.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
