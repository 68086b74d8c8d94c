"""Time to converge after a fault (issue 23, scenarios 1–2): how long after the fault clears DolphinScheduler holds
the intended state again — and the platform says so — without a human. Target: within 60 s.

The platform runs as OS processes (``devstack.stack``: the six services, real PostgreSQL and Kafka, a DS
emulator) with the **production defaults** of the publisher (lease 30 s, DS retries 4× from 1 s, reconciler backoff
5 s doubling to 30 s); only the emulator's run timing is shortened. Scenarios:

1. ``release``: ``--workflows`` scheduled workflows ONLINE in DS get a new version and are published ``online``
   while DS answers every ``release`` with ``--fault`` (503, 401 or a stall) for ``--fault-s`` seconds: the publishes
   fail after their in-place retries and DS holds them OFFLINE. Measured from the fault clearing to DS holding each
   one ONLINE again (new version, schedule online), and to the platform showing it (published, ONLINE, no attention).
2. ``crash-restart``: the publisher is SIGKILLed while DS stalls a publish's release; the stall clears and the same
   instance starts again. Measured from the restart to DS ONLINE and the record finished.
   ``crash-takeover``: the same, but another instance (a new pod) starts: measured from the kill (the lease runs out).
   ``db-blip``: PostgreSQL stops for 10 s while a publish finishes: measured from PostgreSQL answering again to the
   record and the workflow final (DS was changed before the blip).

Each figure is printed with its ratio to the 60 s target. Run: ``.venv/bin/python bench/bench_convergence.py``
(``--scenarios release,crash-restart,crash-takeover,db-blip``; uses ``DATABASE_URL``/``KAFKA_BOOTSTRAP_SERVERS`` or
the local devstack servers, which it needs to stop and start for ``db-blip``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from common.dolphin import ReleaseState
from common.dolphin.rest import DolphinRestClient
from common.testing.gateway_api import GatewayApi, until
from devstack.stack import QUICK_OUTBOX, DsEndpoint, Stack
from ds_emulator import EmulatorProcess

TARGET_S = 60.0
RELEASE = r"/workflow-definition/\d+/release$"
FAULTS: dict[str, dict[str, Any]] = {
    "503": {"action": "http_status", "match": RELEASE, "status": 503},
    "401": {"action": "unauthorized", "match": RELEASE},
    "stall": {"action": "hang", "match": RELEASE, "hangSeconds": 600},
}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Bench:
    def __init__(self, procs: Stack, emulator: EmulatorProcess) -> None:
        self.procs = procs
        self.emulator = emulator
        headers = {"Authorization": f"Bearer {procs.admin_token}"}
        self.http = httpx.AsyncClient(base_url=procs.url("gateway"), headers=headers, timeout=30.0)
        self.api = GatewayApi(self.http)
        self.ds = DolphinRestClient.create(emulator.rest_url, SecretStr(emulator.access_token))

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.ds.aclose()

    async def ds_holds(self, detail: dict[str, Any], tasks: int, schedule: bool) -> bool:
        """DS holds the workflow ONLINE with ``tasks`` tasks (and its schedule online)."""
        p, c = int(detail["project_code"]), int(detail["workflow_code"])
        dag = await self.ds.get_workflow_definition(p, c)
        if dag.workflow_definition.release_state is not ReleaseState.ONLINE or len(dag.task_definition_list) != tasks:
            return False
        if not schedule:
            return True
        s = await self.ds.get_schedule_of_workflow(p, c)
        return s is not None and s.release_state is ReleaseState.ONLINE

    async def in_ds(self, name: str) -> bool:
        """DS has a workflow of this name (createOrUpdateWorkflow happened)."""
        project = await self.ds.find_project_by_name(self.procs.ds_project)
        if project is None:
            return False
        try:
            await self.ds.get_workflow_definition_by_name(project.code, name)
        except Exception:
            return False
        return True

    async def platform_says_online(self, workflow_id: int) -> bool:
        d = await self.api.workflow(workflow_id)
        ok = (d["publish_status"], d["release_state"], d["needs_attention"]) == ("published", "ONLINE", False)
        return bool(ok)

    async def converged(
        self, workflow_id: int, detail: dict[str, Any], tasks: int, schedule: bool, t0: float
    ) -> tuple[float, float]:
        """Seconds from ``t0`` until DS holds the workflow ONLINE, and until the platform says so."""
        ds_at = platform_at = None
        while ds_at is None or platform_at is None:
            now = time.monotonic()
            if now - t0 > 600:
                raise TimeoutError(f"workflow {workflow_id} did not converge within 600 s")
            if ds_at is None:
                try:
                    if await self.ds_holds(detail, tasks, schedule):
                        ds_at = now - t0
                except Exception:  # noqa: S110 (DS may still be answering the fault)
                    pass
            if platform_at is None and await self.platform_says_online(workflow_id):
                platform_at = now - t0
            await asyncio.sleep(0.25)
        return ds_at, platform_at


def report(name: str, ds: list[float], platform: list[float], since: str) -> None:
    worst = max(ds)
    print(
        f"{name}: DS back in the intended state {worst:.1f} s after {since} (max of {len(ds)}; median "
        f"{statistics.median(ds):.1f} s), the platform says so after {max(platform):.1f} s; target {TARGET_S:.0f} s "
        f"→ ratio {worst / TARGET_S:.2f} (load {load()})",
        flush=True,
    )


async def scenario_release(b: Bench, args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:6]
    ids = [await b.api.new_workflow(f"conv-{run}-{i}", cron=True) for i in range(args.workflows)]
    for w in ids:
        await b.api.publish(w, "online")
    details = {w: await b.api.settled(w) for w in ids}
    for w in ids:
        await b.api.new_version(w)
    rule = dict(FAULTS[args.fault])
    b.emulator.add_fault(rule.pop("action"), **rule)
    started = time.monotonic()
    for w in ids:
        await b.api.publish(w, "online")
    for w in ids:
        d = await b.api.settled(w, timeout_s=args.fault_s + 300)
        if d["release_state"] == "ONLINE":
            raise RuntimeError(f"workflow {w}: the fault did not take effect: {d['publish_status']}")
    wait = args.fault_s - (time.monotonic() - started)
    await asyncio.sleep(max(0.0, wait))
    b.emulator.clear_faults()
    cleared = time.monotonic()
    results = await asyncio.gather(*(b.converged(w, details[w], 3, True, cleared) for w in ids))
    report(
        f"scenario 1, release answered {args.fault} for {args.fault_s:.0f} s ({args.workflows} workflows)",
        [r[0] for r in results],
        [r[1] for r in results],
        "the fault cleared",
    )


async def stalled(b: Bench, name: str) -> tuple[int, float]:
    """A publish ``online`` stuck in DS's release; returns the workflow and when it stalled."""
    workflow_id = await b.api.new_workflow(name, cron=False)
    b.emulator.add_fault("hang", match=RELEASE, hangSeconds=600)
    await b.api.publish(workflow_id, "online")

    await until(lambda: b.in_ds(name), "createOrUpdateWorkflow of the stalled publish", timeout_s=60)
    await asyncio.sleep(1)  # inside the stalled release by now
    return workflow_id, time.monotonic()


async def scenario_crash(b: Bench, takeover: bool) -> None:
    procs = b.procs
    workflow_id, _ = await stalled(b, f"conv-crash-{uuid.uuid4().hex[:6]}")
    procs.kill("publisher")
    killed = time.monotonic()
    b.emulator.clear_faults()
    env = {"PUBLISHER_INSTANCE_ID": f"bench-{uuid.uuid4().hex[:6]}"} if takeover else None
    restarted = time.monotonic()
    procs.start(["publisher"], env=env)
    t0 = killed if takeover else restarted
    d = await b.api.settled(workflow_id)
    ds, platform = await b.converged(workflow_id, d, 2, False, t0)
    name = "scenario 2, publisher SIGKILLed mid-publish, " + (
        "another instance takes over (lease 30 s)" if takeover else "the same instance restarts"
    )
    report(name, [ds], [platform], "the kill" if takeover else "the restart")
    if takeover:  # back to the usual instance for the next scenario
        procs.stop("publisher")
        procs.start(["publisher"])


async def scenario_db_blip(b: Bench, pg: Any) -> None:
    if pg is None:
        print("db-blip: skipped (DATABASE_URL selects a server this benchmark cannot stop)")
        return
    name = f"conv-blip-{uuid.uuid4().hex[:6]}"
    workflow_id = await b.api.new_workflow(name, cron=False)
    b.emulator.add_fault("latency", match=RELEASE, latencyMs=2000)
    b.emulator.add_fault("latency", match=r"/workflow-definition/\d+$", method="GET", latencyMs=2000)
    await b.api.publish(workflow_id, "online")

    await until(lambda: b.in_ds(name), "createOrUpdateWorkflow of the publish", timeout_s=60, every_s=0.05)
    await asyncio.to_thread(pg.stop)
    await asyncio.sleep(10)
    await asyncio.to_thread(pg.start)
    back = time.monotonic()
    b.emulator.clear_faults()

    async def final() -> dict[str, Any] | None:
        try:
            d: dict[str, Any] = await b.api.call("GET", f"/workflows/{workflow_id}")
        except (AssertionError, httpx.HTTPError):
            return None
        return d if d["publish_status"] in ("published", "failed") else None

    d = await until(final, "the workflow final after the blip", timeout_s=300)
    ds, platform = await b.converged(workflow_id, d, 2, False, back)
    records = (await b.api.call("GET", f"/workflows/{workflow_id}/publish-records"))["items"]
    print(f"  db-blip record: {records[0]['status']}, attempts {records[0]['attempts']}")
    report("scenario 2, PostgreSQL stopped 10 s while a publish finished", [ds], [platform], "PostgreSQL came back")


def servers() -> tuple[str, str, Any]:
    url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    pg = None
    if not url:
        from devstack.postgres import PostgresServer

        pg = PostgresServer()
        pg.start()
        url = pg.url
    if not bootstrap:
        from devstack.kafka import KafkaServer

        kafka = KafkaServer()
        kafka.start()
        bootstrap = kafka.bootstrap_servers
    return url, bootstrap, pg


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scenarios", default="release,crash-restart,crash-takeover,db-blip")
    parser.add_argument("--workflows", type=int, default=5)
    parser.add_argument("--fault", choices=sorted(FAULTS), default="503")
    parser.add_argument("--fault-s", type=float, default=45.0)
    args = parser.parse_args()
    url, bootstrap, pg = servers()
    with EmulatorProcess() as emulator, tempfile.TemporaryDirectory(prefix="bench-convergence-") as logs:
        emulator.configure(submitDelaySeconds=0.1, dispatchDelaySeconds=0.1, taskDurationSeconds=0.3)
        ds = DsEndpoint.of(emulator, f"bench-{uuid.uuid4().hex[:6]}")
        procs = Stack(url, bootstrap, ds, Path(logs), env=QUICK_OUTBOX)
        with procs:
            procs.provision()
            started = time.monotonic()
            procs.start()
            print(f"platform started in {time.monotonic() - started:.1f} s (load {load()})", flush=True)
            b = Bench(procs, emulator)
            try:
                for scenario in args.scenarios.split(","):
                    if scenario == "release":
                        await scenario_release(b, args)
                    elif scenario in ("crash-restart", "crash-takeover"):
                        await scenario_crash(b, takeover=scenario == "crash-takeover")
                    elif scenario == "db-blip":
                        await scenario_db_blip(b, pg)
                    else:
                        raise SystemExit(f"unknown scenario {scenario}")
            finally:
                await b.aclose()


if __name__ == "__main__":
    asyncio.run(main())
