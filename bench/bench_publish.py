"""Publisher overhead benchmark: deploy + online of N workflows through the DS emulator at 20 ms per DS call.

- ours: the publisher's use cases, called directly (no Kafka, to isolate the publisher's own overhead): for each
  workflow ``accept_publish`` + ``run_publish`` for a deploy, then the same for an online — conversion, task codes,
  every database transaction (accept, claim, codes, finish with outbox row), DS calls and read-backs;
- raw: the same sequence of DS client calls, with the DS JSON converted beforehand, and nothing else.
Both runs are sequential; the DS call counts of both are printed (they must be equal) with the overhead ratio
ours/raw (target ≤ 1.2).

Workflows are a chain of 6 SHELL tasks by default; ``--tasks N`` (N > 6) publishes workflows of N tasks instead, the
mix of ``bench_convert.py`` (half SHELL, a quarter PYTHON, a quarter SQL on three datasources, 1.5 N edges). The
emulator enforces DS 3.4's cap of 100 codes per ``genTaskCodeList``, so a workflow of N new tasks takes ceil(N/100)
calls on both sides.

Run: ``.venv/bin/python bench/bench_publish.py [--workflows 200] [--latency-ms 20] [--tasks 6]`` (uses
``DATABASE_URL`` or the local devstack PostgreSQL; starts its own DS emulator).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import secrets
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench_convert import DATASOURCES, build_snapshot
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine

from common.approvals import approve
from common.db import create_engine, drop_service, provision_service, session_factory, unit_of_work
from common.dolphin import ReleaseState, WorkflowExecutionType
from common.dolphin.gateway import DolphinGatewayClient
from common.dolphin.rest import DolphinRestClient
from common.events.models import PublishOperation, PublishRequested
from common.identity import Signer, TrustedKeys, generate_identity_keys
from common.migrations import upgrade
from common.outbox import Outbox
from common.workflow import Edge, ShellParams, SnapshotTask, SqlParams, StructureSnapshot
from ds_emulator import EmulatorProcess
from publisher.config import MIGRATIONS
from publisher.db.tables import outbox_table
from publisher.deps import Deps, DsTarget
from publisher.domain import DolphinWorkflowDefinition, assign_codes, code_batches, convert
from publisher.service import acceptance, publish_queue, views

CHAIN = 6


def snapshot(workflow_id: int, run: str, tasks: int = CHAIN) -> StructureSnapshot:
    if tasks > CHAIN:
        big = build_snapshot(tasks, tasks * 3 // 2, seed=workflow_id)
        return big.model_copy(update={"workflow_id": workflow_id, "workflow_name": f"{run}-wf-{workflow_id}"})
    chain = tuple(
        SnapshotTask(
            task_id=t, name=f"task-{t}", task_type="SHELL", params=ShellParams(script=f"echo {workflow_id}-{t}")
        )
        for t in range(1, tasks + 1)
    )
    edges = tuple(Edge(upstream_task_id=t, downstream_task_id=t + 1) for t in range(1, tasks))
    return StructureSnapshot(workflow_id=workflow_id, workflow_name=f"{run}-wf-{workflow_id}", tasks=chain, edges=edges)


def datasources_of(snap: StructureSnapshot) -> list[tuple[str, str]]:
    return sorted({(p.datasource_name, p.datasource_type) for t in snap.tasks if isinstance(p := t.params, SqlParams)})


async def gen_codes(gateway: DolphinGatewayClient, count: int) -> list[int]:
    """``count`` fresh codes, in calls of at most 100 (DS 3.4's cap, which the emulator enforces)."""
    codes: list[int] = []
    for size in code_batches(count):
        codes += await gateway.gen_task_code_list(size)
    return codes


def ds_calls() -> Counter[str]:
    out: Counter[str] = Counter()
    for metric in REGISTRY.collect():
        if metric.name == "ds_calls":
            for sample in metric.samples:
                if sample.name == "ds_calls_total":
                    out[f"{sample.labels['api']}:{sample.labels['endpoint']}"] += int(sample.value)
    return out


@functools.cache
def _approval_keys() -> Path:
    """Identity keys of this process (the definition service's signs the approvals; ``approval_keys`` checks them)."""
    directory = Path(tempfile.mkdtemp(prefix="bench-identity-"))
    generate_identity_keys(directory, ["definition"])
    return directory


def approval_keys() -> TrustedKeys:
    """The keys the publisher checks publish approvals with (``Deps.approvals``), as deployed: since zero trust, a
    publish request without the definition service's approval is refused before any DS call."""
    return TrustedKeys(_approval_keys() / "trusted")


def request(snap: StructureSnapshot, operation: str) -> PublishRequested:
    event = PublishRequested(
        request_id=uuid.uuid4(),
        workflow_id=snap.workflow_id,
        operation=PublishOperation(operation),
        version_id=snap.workflow_id,
        version_no=1,
        operator="bench",
        requested_at=datetime.now(UTC),
        snapshot=snap,
    )
    approval = approve(
        Signer("definition", _approval_keys() / "definition.key"),
        request_id=event.request_id,
        workflow_id=event.workflow_id,
        version_id=event.version_id,
        version_no=event.version_no,
        operation=event.operation.value,
        content_hash=snap.content_hash(),
    )
    return event.model_copy(update={"approval": approval})


class Counts:
    """Transactions, single reads and statements of an engine (SQLAlchemy events): each transaction also pays
    ``BEGIN`` and ``COMMIT`` round trips, a single read (``common.db.single_read``, autocommit) none."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.transactions = 0
        self.single_reads = 0
        self.statements = 0
        event.listen(engine.sync_engine, "begin", self._begin)
        event.listen(engine.sync_engine, "before_cursor_execute", self._statement)

    def _begin(self, conn: Connection) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            self.single_reads += 1
        else:
            self.transactions += 1

    def _statement(self, *_: object) -> None:
        self.statements += 1

    def snapshot(self) -> tuple[int, int, int]:
        return self.transactions, self.single_reads, self.statements


async def run_ours(deps: Deps, snaps: list[StructureSnapshot]) -> float:
    started = time.perf_counter()
    for snap in snaps:
        for operation in ("deploy", "online"):
            async with unit_of_work(deps.sessions) as s:
                record_id = await acceptance.accept_publish(s, deps, request(snap, operation))
            assert await publish_queue.run_publish(deps, record_id)
            record = await views.get_record(deps, record_id)
            if record.status != "success":
                raise RuntimeError(f"{operation} of {snap.workflow_id}: {record.status}\n{record.log}")
    return time.perf_counter() - started


async def prepare_raw(
    gateway: DolphinGatewayClient, project: str, snaps: list[StructureSnapshot]
) -> tuple[int, list[tuple[DolphinWorkflowDefinition, list[tuple[str, str]]]]]:
    """Project, converted definitions and their datasources for ``run_raw`` (the publisher ensures its project once
    per process)."""
    await gateway.create_or_grant_project("admin", project, "bench")
    found = await gateway.query_project_by_name("admin", project)
    assert found is not None
    ids = {(n, t): (await gateway.get_datasource(n, t)).id for n, t in DATASOURCES}
    defs = []
    for snap in snaps:
        codes = await gen_codes(gateway, len(snap.tasks))
        mapping, _ = assign_codes([t.task_id for t in snap.tasks], {}, codes)
        defs.append((convert(snap, mapping, datasource_ids=ids), datasources_of(snap)))
    return found.code, defs


async def run_raw(
    gateway: DolphinGatewayClient,
    rest: DolphinRestClient,
    project: str,
    p: int,
    defs: list[tuple[DolphinWorkflowDefinition, list[tuple[str, str]]]],
) -> float:
    """The DS calls the publisher makes for the same work, back to back (conversion done beforehand)."""
    started = time.perf_counter()
    for defn, datasources in defs:
        await gen_codes(gateway, len(defn.task_codes))
        for name, ds_type in datasources:  # deploy
            await gateway.get_datasource(name, ds_type.upper())
        code = await gateway.create_or_update_workflow(
            user_name="admin",
            project_name=project,
            name=defn.name,
            description=defn.description,
            global_params=defn.global_params,
            task_relation_json=defn.task_relation_json,
            task_definition_json=defn.task_definition_json,
            timeout_minutes=defn.timeout,
            release_state=ReleaseState.OFFLINE,
            execution_type=WorkflowExecutionType(defn.execution_type),
        )
        await rest.get_workflow_definition(p, code)  # deploy: read back
        for name, ds_type in datasources:  # online
            await gateway.get_datasource(name, ds_type.upper())
        await rest.get_workflow_definition(p, code)  # online: state before
        await rest.get_schedule_of_workflow(p, code)
        await rest.release_workflow(p, code, ReleaseState.ONLINE)
        await rest.get_workflow_definition(p, code)  # online: read back
    return time.perf_counter() - started


def admin_url() -> tuple[str, object | None]:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"], None
    from devstack.postgres import PostgresServer

    server = PostgresServer()
    started = server.start()
    return server.url, server if started else None


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", type=int, default=200)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--tasks", type=int, default=CHAIN, help=f"tasks per workflow (default a chain of {CHAIN})")
    args = ap.parse_args()

    url, started_pg = admin_url()
    suffix = uuid.uuid4().hex[:6]
    schema = role = f"bench_pub_{suffix}"
    db = await provision_service(url, schema=schema, role=role, password=SecretStr(secrets.token_urlsafe(12)))
    await upgrade(MIGRATIONS, db.url, db.schema)
    engine = create_engine(db.url, schema=db.schema, pool_size=4)
    emulator = EmulatorProcess()
    emulator.start()
    for name, ds_type in DATASOURCES:
        emulator.add_datasource(name, ds_type)
    try:
        rest = DolphinRestClient.create(emulator.rest_url, SecretStr(emulator.access_token))
        gateway = DolphinGatewayClient(emulator.host, emulator.gateway_port, SecretStr(emulator.auth_token))
        deps = Deps(
            sessions=session_factory(engine),
            outbox=Outbox(outbox_table, source="/bench"),
            gateway=gateway,
            rest=rest,
            target=DsTarget("default", f"bench-{suffix}", "admin", "default", "default", emulator.rest_url + "/ui"),
            approvals=approval_keys(),
        )
        # warm-up (connections, py4j, code paths), not measured
        warm_n = 5 if args.tasks <= CHAIN else 2
        await run_ours(deps, [snapshot(10_000_000 + i, "warm", args.tasks) for i in range(warm_n)])
        warm_project = f"bench-raw-warm-{suffix}"
        warm = [snapshot(20_000_000 + i, "rawwarm", args.tasks) for i in range(warm_n)]
        p, defs = await prepare_raw(gateway, warm_project, warm)
        await run_raw(gateway, rest, warm_project, p, defs)

        emulator.set_global_latency(args.latency_ms)
        n = args.workflows
        load_start = os.getloadavg()[0]
        before = ds_calls()
        counts = Counts(engine)
        cpu = time.process_time()
        ours = await run_ours(deps, [snapshot(i + 1, "ours", args.tasks) for i in range(n)])
        ours_cpu = time.process_time() - cpu
        transactions, single_reads, statements = counts.snapshot()
        ours_calls = ds_calls() - before
        raw_project = f"bench-raw-{suffix}"
        p, defs = await prepare_raw(gateway, raw_project, [snapshot(i + 1, "raw", args.tasks) for i in range(n)])
        before = ds_calls()
        cpu = time.process_time()
        raw = await run_raw(gateway, rest, raw_project, p, defs)
        raw_cpu = time.process_time() - cpu
        raw_calls = ds_calls() - before
        await rest.aclose()
        await gateway.aclose()

        print(
            f"publisher bench: {n} workflows of {args.tasks} tasks, deploy + online each, "
            f"{args.latency_ms:.0f} ms DS latency per call"
        )
        print(f"  DS calls ours: {dict(sorted(ours_calls.items()))}")
        print(f"  DS calls raw:  {dict(sorted(raw_calls.items()))}")
        total = sum(ours_calls.values())
        print(f"  ours (use cases, no Kafka): {ours:7.2f} s  ({ours / n * 1000:6.1f} ms per workflow, {total} calls)")
        print(f"  raw DS calls alone:         {raw:7.2f} s  ({raw / n * 1000:6.1f} ms per workflow)")
        print(
            f"  CPU of this process:        ours {ours_cpu / n * 1000:5.1f} ms per workflow, "
            f"raw {raw_cpu / n * 1000:5.1f} ms (1-min load average {load_start:.1f} → {os.getloadavg()[0]:.1f})"
        )
        print(
            f"  database, ours per workflow: {transactions / n:.1f} transactions + {single_reads / n:.1f} single "
            f"reads, {statements / n:.1f} statements (the benchmark's own check of each record included)"
        )
        ratio = ours / raw
        print(f"  overhead ratio ours/raw:    {ratio:7.3f}  (target ≤ 1.2: {'met' if ratio <= 1.2 else 'NOT met'})")
    finally:
        emulator.stop()
        await engine.dispose()
        await drop_service(url, schema=schema, role=role)
        if started_pg is not None:
            started_pg.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    asyncio.run(main())
