"""Two replicas as two OS processes on one schema: every workflow synced exactly once per cycle, and a replica
killed (SIGKILL) in the middle of a cycle leaves no workflow unsynced for more than one cycle."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from common.testing.kafka_helpers import eventually
from history_sync.db.tables import sync_run, tracked_workflow

from .conftest import Db, Ds, publish_completed, track

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WORKFLOWS = 30
INTERVAL_S = 4.0


async def _setup(hdb: Db, ds: Ds) -> list[int]:
    ids = []
    for n in range(WORKFLOWS):
        code = await ds.deploy(f"replica-{n}")
        await ds.online(code)
        await ds.run(code)
        await track(hdb.sessions, publish_completed(100 + n, code, ds.project_code))
        ids.append(100 + n)
    # every DS instance list takes 200 ms, so a cycle is long enough to be interrupted
    ds.emulator.add_fault("latency", match=r"^/projects/\d+/workflow-instances$", latencyMs=200)
    return ids


def _spawn(hdb: Db, ds: Ds, kafka_bootstrap: str, topic_prefix: str, replica: str, log_dir: Path) -> Any:
    env = dict(
        os.environ,
        HISTORY_DATABASE_URL=hdb.db.url.get_secret_value(),
        HISTORY_DB_SCHEMA=hdb.db.schema,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        KAFKA_TOPIC_PREFIX=topic_prefix,
        HISTORY_DS_REST_URL=ds.emulator.rest_url,
        HISTORY_DS_TOKEN=ds.emulator.access_token,
        HISTORY_DS_READ_ATTEMPTS="1",
        HISTORY_SYNC_INTERVAL_S=str(INTERVAL_S),
        HISTORY_LEASE_S="2.0",
        HISTORY_POLL_INTERVAL_S="0.2",
        HISTORY_CLAIM_BATCH_SIZE="3",
        HISTORY_SYNC_LANES="2",
        HISTORY_DS_CONCURRENCY="3",
        HISTORY_DS_RATE_PER_S="0",
        HISTORY_REPLICA_ID=replica,
        HISTORY_LOG_JSON="false",
        HISTORY_LOG_LEVEL="WARNING",
    )
    log = (log_dir / f"{replica}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "history_sync", "serve", "--port", "0"], env=env, stdout=log, stderr=log
    )


@asynccontextmanager
async def replicas(spawn: Callable[[str], Any], *names: str) -> AsyncIterator[dict[str, Any]]:
    procs = {name: spawn(name) for name in names}
    try:
        yield procs
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


async def _runs(hdb: Db) -> list[Any]:
    async with hdb.sessions() as s:
        return list((await s.execute(select(sync_run).order_by(sync_run.c.id))).all())


def _per_cycle(runs: list[Any]) -> dict[int, Counter[int]]:
    out: dict[int, Counter[int]] = {}
    for r in runs:
        out.setdefault(r.cycle, Counter())[r.workflow_id] += 1
    return out


async def _wait_cycles(hdb: Db, n: int, timeout_s: float = 90) -> None:
    async def enough() -> bool:
        return len(_per_cycle(await _runs(hdb))) >= n

    await eventually(enough, timeout_s=timeout_s, every_s=0.5)


async def test_two_replica_processes_sync_every_workflow_exactly_once_per_cycle(
    hdb: Db, ds: Ds, kafka_bootstrap: str, topic_prefix: str, topics: None, tmp_path: Path
) -> None:
    ids = await _setup(hdb, ds)
    spawn = lambda name: _spawn(hdb, ds, kafka_bootstrap, topic_prefix, name, tmp_path)  # noqa: E731
    async with replicas(spawn, "r1", "r2") as procs:
        await _wait_cycles(hdb, 5)
        assert all(p.poll() is None for p in procs.values()), "a replica died"
    runs = await _runs(hdb)
    per_cycle = _per_cycle(runs)
    # never twice in one cycle, not even in the first or the last (interrupted) cycle
    for cycle, counts in per_cycle.items():
        assert max(counts.values()) == 1, f"cycle {cycle}: {counts.most_common(3)}"
    # every cycle between the first and the last covers every workflow
    cycles = sorted(per_cycle)
    middle = cycles[1:-1]
    assert len(middle) >= 3
    for cycle in middle:
        assert set(per_cycle[cycle]) == set(ids), f"cycle {cycle} missed {set(ids) - set(per_cycle[cycle])}"
    # the work was split between the two processes
    by_replica = Counter(r.replica for r in runs if r.cycle in middle)
    assert set(by_replica) == {"r1", "r2"}, by_replica
    assert min(by_replica.values()) >= len(middle) * WORKFLOWS // 5, by_replica
    assert all(r.ok for r in runs)


async def test_replica_killed_mid_cycle_is_covered_within_the_next_cycle(
    hdb: Db, ds: Ds, kafka_bootstrap: str, topic_prefix: str, topics: None, tmp_path: Path
) -> None:
    ids = await _setup(hdb, ds)
    spawn = lambda name: _spawn(hdb, ds, kafka_bootstrap, topic_prefix, name, tmp_path)  # noqa: E731
    async with replicas(spawn, "r1", "r2") as procs:
        await _wait_cycles(hdb, 3)
        # wait for r1 to hold leases in the middle of a cycle, then kill it without warning
        deadline = time.monotonic() + 30
        held: set[int] = set()
        while not held:
            assert time.monotonic() < deadline, "r1 never held a lease"
            async with hdb.sessions() as s:
                held = set(
                    (await s.scalars(select(tracked_workflow.c.id).where(tracked_workflow.c.lease_owner == "r1"))).all()
                )
            if held:
                os.kill(procs["r1"].pid, signal.SIGKILL)
                killed_at = time.time()
            else:
                await asyncio.sleep(0.02)
        procs["r1"].wait()
        kill_cycle = int(killed_at // INTERVAL_S)
        # r2 alone until two more cycles have completed
        await asyncio.sleep((kill_cycle + 3) * INTERVAL_S - time.time() + 1.5)
        assert procs["r2"].poll() is None
    runs = await _runs(hdb)
    per_cycle = _per_cycle(runs)
    r1_done_in_kill_cycle = {r.workflow_id for r in runs if r.replica == "r1" and r.cycle == kill_cycle}
    interrupted = held - r1_done_in_kill_cycle
    assert interrupted, "the kill did not land while r1 held unfinished work"
    for cycle, counts in per_cycle.items():
        assert max(counts.values()) == 1, f"cycle {cycle}: {counts.most_common(3)}"
    # what r1 was syncing is synced by r2 in the same or the next cycle
    for wid in interrupted:
        assert any(
            r.workflow_id == wid and r.replica == "r2" and r.cycle in (kill_cycle, kill_cycle + 1) for r in runs
        ), f"workflow {wid} was not picked up within a cycle of the kill"
    # the cycles after the kill are complete, all by r2
    for cycle in (kill_cycle + 1, kill_cycle + 2):
        assert set(per_cycle.get(cycle, {})) == set(ids), f"cycle {cycle} incomplete"
        assert {r.replica for r in runs if r.cycle == cycle} == {"r2"}
    # and nothing stays leased to the dead replica
    async with hdb.sessions() as s:
        left = (await s.scalars(select(tracked_workflow.c.id).where(tracked_workflow.c.lease_owner == "r1"))).all()
    assert list(left) == []
