# ruff: noqa: S608  (SQL text built from integers and schema names this benchmark generates; no outside input)
"""Shared pieces of the platform HTTP benchmarks (``bench_gateway_lists.py``, ``bench_telemetry_overhead.py``).

- ``Stack``: the platform's schemas, roles, migrations and settings from ``devstack.stack.Stack`` (on the running
  devstack PostgreSQL), seeds the tables with set-based SQL, starts the services as ``uvicorn --factory`` processes
  (with or without telemetry or identity checks, ``_bench_factories``) on free localhost ports and removes everything
  again (processes, schemas, roles, Kafka topics);
- ``OtlpSink``: a local OTLP/HTTP endpoint that accepts and drops trace exports (export cost is real, bounded);
- ``run_load``: runs ``_loadgen.py`` in a second process and returns its latencies.

Seeding writes directly into the tables the migrations created (same columns, constraints and indexes): secondary
indexes of a big table are dropped before its load and recreated from their own definitions afterwards (faster than
maintaining them row by row, GIN above all), foreign-key triggers are skipped during the load
(``session_replication_role = replica``; the data is consistent by construction), then ``VACUUM (ANALYZE)`` (the
state autovacuum reaches after a bulk insert).
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from common.db import asyncpg_dsn
from common.identity import Signer
from devstack.stack import SPECS, free_port
from devstack.stack import Stack as DevStack

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
HOST = "127.0.0.1"
TASKS_PER_WORKFLOW = 10
RUNS_PER_WORKFLOW = 10


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# ------------------------------------------------------------------------------------------------------- OTLP sink


class _SinkHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.received_bytes += length  # type: ignore[attr-defined]
        self.server.exports += 1  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class OtlpSink:
    """An OTLP/HTTP collector stand-in: accepts ``POST /v1/traces`` and drops the spans."""

    def __init__(self) -> None:
        self.server = http.server.ThreadingHTTPServer((HOST, 0), _SinkHandler)
        self.server.received_bytes = 0  # type: ignore[attr-defined]
        self.server.exports = 0  # type: ignore[attr-defined]
        self.url = f"http://{HOST}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpSink:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def stats(self) -> str:
        return f"{self.server.exports} exports, {self.server.received_bytes / 1e6:.1f} MB"  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------------------------ stack


@dataclass(frozen=True)
class ServiceProc:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def run_load(args: list[str], timeout_s: float = 900) -> dict[str, Any]:
    """Run the load generator in its own process; its last stdout line is a JSON summary."""
    out = subprocess.run(
        [sys.executable, str(BENCH / "_loadgen.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=REPO,
    )
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


#: the benchmarks' short names of the services
SERVICE_NAME = {
    "definition": "definition",
    "history": "history-sync",
    "lineage": "lineage-resolver",
    "gateway": "gateway",
    "publisher": "publisher",
}
FACTORY = {
    "definition": "definition.main:create_app",
    "history": "history_sync.main:create_app",
    "lineage": "lineage_resolver.main:create_app",
    "gateway": "gateway.main:create_app",
    "publisher": "_bench_factories:publisher_app",
}
FACTORY_NO_TELEMETRY = {k: f"_bench_factories:{k}_no_telemetry" for k in FACTORY}


@dataclass
class Stack:
    admin_url: str
    bootstrap: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    admin_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    #: ``*_OTEL_SAMPLING_RATIO`` of the services started with telemetry on
    sampling_ratio: float = 1.0
    #: trace sampling of requests that only read; ``None``: the services' default (as deployed)
    read_sampling_ratio: float | None = None
    #: ``*_OTEL_EXPORTER_ZIPKIN_ENDPOINT`` of the services (a running Zipkin, as ``./platform up`` sets it); empty: none
    zipkin_endpoint: str = ""
    log_dir: Path = field(default_factory=lambda: Path(os.environ.get("TMPDIR", "/tmp")))
    upstreams: dict[str, ServiceProc] = field(default_factory=dict)
    platform: DevStack | None = None

    @property
    def stack(self) -> DevStack:
        assert self.platform is not None, "provision() first"
        return self.platform

    @property
    def identity_dir(self) -> Path:
        return self.log_dir / "identity"

    def identity_token(self, audience: str, actor: str = "bench", roles: tuple[str, ...] = ("admin",)) -> str:
        """A token the gateway would send ``audience`` for ``actor`` (for load sent straight at a service)."""
        signer = Signer("gateway", self.identity_dir / "gateway.key", ttl_s=600)
        return signer.token(audience, actor, roles)

    def schema(self, svc: str) -> str:
        return self.stack.databases[SERVICE_NAME[svc]].schema

    async def provision(self, services: tuple[str, ...] = ("definition", "history", "lineage", "gateway")) -> None:
        """Schemas, roles, migrations and identity keys (the services create their topics at start, as deployed
        without ``platform-provision``)."""
        self.log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-stack-{self.tag}"
        self.platform = DevStack(
            self.admin_url,
            self.bootstrap,
            None,
            self.log_dir,
            tuple(SERVICE_NAME[s] for s in services),
            tag="bench",
            suffix=self.tag,
            admin_token=self.admin_token,
            identity_dir=self.identity_dir,
            log_json=True,
            topics=False,
        )
        await asyncio.to_thread(self.platform.provision)

    async def sql(self, svc: str, *statements: str) -> None:
        """Run statements as the superuser with the service's schema on the search path."""
        conn = await asyncpg.connect(asyncpg_dsn(self.admin_url))
        try:
            await conn.execute(f'SET search_path = "{self.schema(svc)}"')
            await conn.execute("SET maintenance_work_mem = '512MB'")
            await conn.execute("SET work_mem = '256MB'")
            for st in statements:
                await conn.execute(st)
        finally:
            await conn.close()

    async def bulk(self, svc: str, table: str, *statements: str) -> None:
        """Load ``table`` with ``statements``: secondary (non-constraint) indexes dropped and rebuilt, FK triggers
        skipped, then VACUUM (ANALYZE)."""
        conn = await asyncpg.connect(asyncpg_dsn(self.admin_url))
        schema = self.schema(svc)
        try:
            await conn.execute(f'SET search_path = "{schema}"')
            await conn.execute("SET maintenance_work_mem = '1GB'")
            await conn.execute("SET work_mem = '256MB'")
            await conn.execute("SET max_parallel_maintenance_workers = 2")
            defs = await conn.fetch(
                """
                SELECT i.relname AS name, pg_get_indexdef(x.indexrelid) AS def
                FROM pg_index x
                JOIN pg_class i ON i.oid = x.indexrelid
                JOIN pg_class t ON t.oid = x.indrelid
                JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = $1 AND t.relname = $2
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
                """,
                schema,
                table,
            )
            for d in defs:
                await conn.execute(f'DROP INDEX "{schema}"."{d["name"]}"')
            async with conn.transaction():
                await conn.execute("SET LOCAL session_replication_role = replica")
                for st in statements:
                    await conn.execute(st)
            for d in defs:
                await conn.execute(d["def"])
            # the state autovacuum reaches after a bulk insert: statistics and the visibility map (index-only scans)
            await conn.execute(f'VACUUM (ANALYZE) "{schema}"."{table}"')
        finally:
            await conn.close()

    async def settle(self) -> float:
        """Leave autovacuum nothing to do, then write a checkpoint, so that the measurements do not share the machine
        with the aftermath of the seeding (rows updated after a table's load, the catalogs of the schemas and
        indexes made and dropped): every table of the stack's schemas and the busiest catalogs are vacuumed and
        analysed now (an autovacuum worker on one of them gives way to the VACUUM). Returns the seconds it took."""
        started = time.monotonic()
        conn = await asyncpg.connect(asyncpg_dsn(self.admin_url))
        try:
            tables = await conn.fetch(
                "SELECT format('%I.%I', schemaname, relname) AS name FROM pg_stat_user_tables "
                "WHERE schemaname = ANY($1::text[])",
                [db.schema for db in self.stack.databases.values()],
            )
            catalogs = ["pg_catalog.pg_class", "pg_catalog.pg_attribute", "pg_catalog.pg_depend", "pg_catalog.pg_type"]
            for name in [*(t["name"] for t in tables), *catalogs]:
                await conn.execute(f"VACUUM (ANALYZE) {name}")
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()
        return time.monotonic() - started

    def env(self, svc: str, otlp: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        p = SPECS[SERVICE_NAME[svc]].env_prefix
        env = self.stack.environment(SERVICE_NAME[svc]) | {
            f"{p}LOG_JSON": "true",
            f"{p}OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
            f"{p}OTEL_EXPORTER_ZIPKIN_ENDPOINT": self.zipkin_endpoint,
            f"{p}OTEL_SAMPLING_RATIO": str(self.sampling_ratio),
        }
        if self.read_sampling_ratio is not None:
            env[f"{p}OTEL_READ_SAMPLING_RATIO"] = str(self.read_sampling_ratio)
        if svc == "history":
            env["HISTORY_SYNC_ENABLED"] = "false"  # no DS here: serve the seeded cache only
            env["HISTORY_DS_REST_URL"] = f"http://{HOST}:9/dolphinscheduler"
        return {**env, **(extra or {})}

    def start_uvicorn(self, name: str, factory: str, env: dict[str, str], *, wait: bool = True) -> ServiceProc:
        """``factory`` (``module:function``, ``bench/`` on the path) served by uvicorn as ``name`` on a free port."""
        port = self.stack.ports[name] = free_port()
        command = [sys.executable, "-m", "uvicorn", "--factory", factory, "--app-dir", str(BENCH), "--host", HOST]
        command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
        self.stack.spawn(name, command, {**os.environ, **env}, wait=wait)
        return ServiceProc(name, port)

    def wait_ready(self, sp: ServiceProc) -> None:
        self.stack.wait_ready(sp.name)

    def start(
        self, svc: str, *, otlp: str, telemetry: bool = True, extra: dict[str, str] | None = None, wait: bool = True
    ) -> ServiceProc:
        factory = FACTORY[svc] if telemetry else FACTORY_NO_TELEMETRY[svc]
        return self.start_uvicorn(
            f"{svc}-{'on' if telemetry else 'off'}", factory, self.env(svc, otlp, extra), wait=wait
        )

    def start_platform(self, *, otlp: str, telemetry: bool = True) -> ServiceProc:
        """definition, history-sync, lineage-resolver and the gateway in front of them; returns the gateway."""
        ups = {
            svc: self.start(svc, otlp=otlp, telemetry=telemetry, wait=False)
            for svc in ("definition", "history", "lineage")
        }
        for sp in ups.values():
            self.wait_ready(sp)
        self.upstreams = ups
        return self.start_gateway(otlp=otlp, telemetry=telemetry)

    def start_gateway(self, *, otlp: str, telemetry: bool = True, ds_links: bool = True) -> ServiceProc:
        """A gateway in front of ``self.upstreams``; ``ds_links``: with ``GATEWAY_DS_UI_URL`` set, as deployed."""
        ups = self.upstreams
        gw = self.start(
            "gateway",
            otlp=otlp,
            telemetry=telemetry,
            extra={
                "GATEWAY_DEFINITION_URL": ups["definition"].url,
                "GATEWAY_HISTORY_URL": ups["history"].url,
                "GATEWAY_LINEAGE_URL": ups["lineage"].url,
                "GATEWAY_PUBLISHER_URL": f"http://{HOST}:{free_port()}",  # not used by the measured pages
                "GATEWAY_BOOTSTRAP_ADMIN_TOKEN": self.admin_token,
                "GATEWAY_DS_UI_URL": "http://ds.example.internal:12345/dolphinscheduler/ui" if ds_links else "",
            },
        )
        return gw

    def stop_all(self) -> None:
        self.stack.stop_all()

    async def cleanup(self) -> None:
        """Stop the processes, drop the schemas, roles and topics."""
        if self.platform is not None:
            await asyncio.to_thread(self.platform.close)
            await asyncio.to_thread(self.platform.drop_topics)


# ----------------------------------------------------------------------------------------------------------- seeding


def _execution_sql(w: str, r: str) -> dict[str, str]:
    """The r-th newest execution (0 = newest) of workflow ``w`` as history-sync caches it and reports it in
    ``execution.synced``: one formula for ``seed_history`` and the definition service's projection of it."""
    running = f"{r} = 0 AND {w} % 7 = 0"
    start = f"now() - make_interval(hours => {r} + 1, secs => {w} % 3600)"
    return {
        "instance_id": f"({w} - 1) * {RUNS_PER_WORKFLOW} + {r} + 1",
        "state": f"CASE WHEN {running} THEN 'RUNNING_EXECUTION' WHEN ({w} + {r}) % 9 = 0 THEN 'FAILURE' "
        "ELSE 'SUCCESS' END",
        "start_time": start,
        "end_time": f"CASE WHEN {running} THEN NULL ELSE {start} + make_interval(secs => 60 + {w} % 300) END",
        "duration": f"CASE WHEN {running} THEN NULL ELSE (1 + {w} % 5) || 'm ' || ({w} % 60) || 's' END",
    }


async def seed_definition(stack: Stack, workflows: int) -> None:
    """``workflows`` published workflows of 10 SHELL tasks each (a chain), one version each (snapshot of its tasks),
    task ownership rows; tasks ``(w-1)*10+1 … w*10`` belong to workflow ``w``. Each workflow carries the projection
    of its last ``execution.synced`` (the same 10 executions ``seed_history`` caches; last state = the newest's), and
    the workflow counter holds the number of workflows (the triggers that keep it are skipped by the bulk load, so it
    is set the way migration 0002 sets it for existing workflows)."""
    n_tasks = workflows * TASKS_PER_WORKFLOW
    k = TASKS_PER_WORKFLOW
    await stack.bulk(
        "definition",
        "data_task",
        f"""
        INSERT INTO data_task (id, name, task_type, description, params, worker_group, owner, revision,
                               created_by, updated_by, created_at, updated_at)
        OVERRIDING SYSTEM VALUE
        SELECT g, 'task-' || g, 'SHELL', 'bench task ' || g,
               jsonb_build_object('kind', 'SHELL', 'script', 'echo step ' || g, 'local_params', '[]'::jsonb,
                                  'resources', '[]'::jsonb),
               'default', 'team-' || (g % 50), 1, 'bench', 'bench',
               now() - make_interval(secs => {n_tasks} - g), now() - make_interval(secs => {n_tasks} - g)
        FROM generate_series(1, {n_tasks}) g
        """,
        f"SELECT setval(pg_get_serial_sequence('data_task', 'id'), {n_tasks})",
    )
    snapshot = f"""
        json_build_object(
          'workflow_id', w, 'workflow_name', 'wf-' || w, 'description', '',
          'tasks', (SELECT json_agg(json_build_object(
                       'task_id', t, 'name', 'task-' || t, 'task_type', 'SHELL', 'description', 'bench task ' || t,
                       'params', json_build_object('kind', 'SHELL', 'script', 'echo step ' || t)) ORDER BY t)
                    FROM generate_series((w - 1) * {k} + 1, w * {k}) t),
          'edges', (SELECT json_agg(json_build_object('upstream_task_id', t, 'downstream_task_id', t + 1) ORDER BY t)
                    FROM generate_series((w - 1) * {k} + 1, w * {k} - 1) t),
          'entry_task_ids', json_build_array((w - 1) * {k} + 1),
          'exit_task_ids', json_build_array(w * {k}))
    """
    await stack.bulk(
        "definition",
        "workflow_version",
        f"""
        INSERT INTO workflow_version (id, workflow_id, version_no, structure_snapshot, change_summary, trigger_source,
                                      content_hash, created_by, created_at)
        OVERRIDING SYSTEM VALUE
        SELECT w, w, 1, s, '{{}}'::jsonb, 'manual_edit', md5(s::text), 'bench', now() - make_interval(secs => w)
        FROM generate_series(1, {workflows}) w, LATERAL (SELECT {snapshot} AS s) x
        """,
        f"SELECT setval(pg_get_serial_sequence('workflow_version', 'id'), {workflows})",
    )
    newest = _execution_sql("w", "0")
    run = _execution_sql("w", "r")
    runs = f"""(SELECT jsonb_agg(jsonb_build_object('instance_id', {run["instance_id"]}, 'state', {run["state"]},
                          'start_time', {run["start_time"]}, 'end_time', {run["end_time"]},
                          'duration', {run["duration"]}) ORDER BY r)
                FROM generate_series(0, {RUNS_PER_WORKFLOW} - 1) r)"""
    await stack.bulk(
        "definition",
        "data_workflow",
        f"""
        INSERT INTO data_workflow (id, workflow_code, workflow_name, description, status, publish_status,
            current_version_id, current_version_no, approved_version_id, last_published_version_id, project_code,
            release_state, definition_json, entry_task_ids, exit_task_ids, task_count, last_execution_state,
            last_execution_at, last_executions, executions_synced_at, needs_attention, created_by, updated_by,
            created_at, updated_at)
        OVERRIDING SYSTEM VALUE
        SELECT w, 10000000000 + w, 'wf-' || w, 'bench workflow ' || w, 'online', 'published',
               w, 1, w, w, 9000000000 + (w % 20), 'ONLINE',
               jsonb_build_object('tasks', '[]'::jsonb, 'edges', '[]'::jsonb, 'execution_type', 'PARALLEL'),
               ARRAY[(w - 1) * {k} + 1]::bigint[], ARRAY[w * {k}]::bigint[], {k}, {newest["state"]},
               {newest["start_time"]}, {runs}, now(), w % 997 = 0, 'bench', 'bench',
               now() - make_interval(secs => 2 * {workflows} - w), now() - make_interval(secs => {workflows} - w)
        FROM generate_series(1, {workflows}) w
        """,
        f"SELECT setval(pg_get_serial_sequence('data_workflow', 'id'), {workflows})",
        "DELETE FROM workflow_counter",
        "INSERT INTO workflow_counter (slot, n) SELECT 0, count(*) FROM data_workflow",
    )
    await stack.bulk(
        "definition",
        "workflow_task_relation",
        f"""
        INSERT INTO workflow_task_relation (workflow_id, task_id, node_attrs, upstream_task_count,
                                            downstream_task_count, version_id, workflow_inheritance_mode)
        SELECT (t - 1) / {k} + 1, t, '{{}}'::jsonb, CASE WHEN (t - 1) % {k} = 0 THEN 0 ELSE 1 END,
               CASE WHEN t % {k} = 0 THEN 0 ELSE 1 END, (t - 1) / {k} + 1, 'manual'
        FROM generate_series(1, {n_tasks}) t
        """,
    )


async def seed_history(stack: Stack, workflows: int) -> None:
    """Every workflow tracked (synced just now, next sync far away) with its last 10 executions cached."""
    await stack.bulk(
        "history",
        "tracked_workflow",
        f"""
        INSERT INTO tracked_workflow (id, engine_workflow_code, project_code, release_state, online_since,
            last_publish_at, last_synced_at, next_sync_at, sync_count, updated_at)
        SELECT w, 10000000000 + w, 9000000000 + (w % 20), 'ONLINE', now() - interval '30 days',
               now() - interval '30 days', now(), now() + interval '30 days', 100, now()
        FROM generate_series(1, {workflows}) w
        """,
    )
    runs = RUNS_PER_WORKFLOW
    e = _execution_sql("w", "r")
    await stack.bulk(
        "history",
        "workflow_instance_cache",
        f"""
        INSERT INTO workflow_instance_cache (workflow_id, instance_id, rank, state, start_time, end_time, duration,
            command_type, ds_command_type, run_times, host, engine_version, platform_version_id, synced_at)
        SELECT w, {e["instance_id"]}, r, {e["state"]}, {e["start_time"]}, {e["end_time"]}, {e["duration"]},
               CASE WHEN r % 3 = 0 THEN 'manual' ELSE 'scheduled' END,
               CASE WHEN r % 3 = 0 THEN 'START_PROCESS' ELSE 'SCHEDULER' END,
               1, 'worker-' || (w % 8) || ':1234', 1, w, now()
        FROM generate_series(1, {workflows}) w, generate_series(0, {runs} - 1) r
        """,
    )


async def seed_lineage(stack: Stack, tasks: int, edges_per_task: int) -> int:
    """``task_dependency_view`` for ``tasks`` tasks with about ``tasks * edges_per_task`` dependencies: task ``t``
    depends on ``edges_per_task`` earlier tasks, mostly near it (a long-tailed random distance), so every task has a
    handful of downstream tasks. Returns the number of dependency edges."""
    await stack.sql(
        "lineage",
        "SELECT setseed(0.42)",
        f"""
        CREATE UNLOGGED TABLE bench_edge AS
        SELECT DISTINCT t - 1 - floor(power(random(), 3) * least(t - 1, 5000))::bigint AS up, t AS down
        FROM generate_series(2, {tasks}) t, generate_series(1, {edges_per_task}) j
        """,
    )
    await stack.bulk(
        "lineage",
        "task_dependency_view",
        f"""
        INSERT INTO task_dependency_view (task_id, upstream_task_ids, downstream_task_ids, upstream_count,
                                          downstream_count, updated_at)
        SELECT g, coalesce(u.ids, '{{}}'), coalesce(d.ids, '{{}}'), coalesce(cardinality(u.ids), 0),
               coalesce(cardinality(d.ids), 0), now()
        FROM generate_series(1, {tasks}) g
        LEFT JOIN (SELECT down AS t, array_agg(up ORDER BY up) AS ids FROM bench_edge GROUP BY down) u ON u.t = g
        LEFT JOIN (SELECT up AS t, array_agg(down ORDER BY down) AS ids FROM bench_edge GROUP BY up) d ON d.t = g
        """,
    )
    conn = await asyncpg.connect(asyncpg_dsn(stack.admin_url))
    try:
        n = await conn.fetchval(f'SELECT count(*) FROM "{stack.schema("lineage")}".bench_edge')
        await conn.execute(f'DROP TABLE "{stack.schema("lineage")}".bench_edge')
    finally:
        await conn.close()
    return int(n)


async def seed_dependency_projection(stack: Stack) -> None:
    """The definition service's dependency projection as ``python -m definition sync-dependencies`` (or the
    ``task.dependency.changed`` consumer) leaves it: lineage-resolver's view, row for row."""
    await stack.bulk(
        "definition",
        "task_dependency_projection",
        f"""
        INSERT INTO task_dependency_projection (task_id, upstream_task_ids, downstream_task_ids, upstream_count,
                                                downstream_count, updated_at)
        SELECT task_id, upstream_task_ids, downstream_task_ids, upstream_count, downstream_count, updated_at
        FROM "{stack.schema("lineage")}".task_dependency_view
        """,
    )


async def pick_upstream_ids(stack: Stack, count: int, lo: int = 1, hi: int = 20) -> list[int]:
    """Task ids X whose ``upstreamTaskId=X`` filter matches between ``lo`` and ``hi`` tasks (their downstream
    count), spread over the id range."""
    conn = await asyncpg.connect(asyncpg_dsn(stack.admin_url))
    try:
        rows = await conn.fetch(
            f"""
            SELECT task_id FROM "{stack.schema("lineage")}".task_dependency_view
            WHERE downstream_count BETWEEN $1 AND $2 AND task_id % 97 = 0
            ORDER BY md5(task_id::text) LIMIT $3
            """,
            lo,
            hi,
            count,
        )
    finally:
        await conn.close()
    return [int(r["task_id"]) for r in rows]


def devstack() -> tuple[str, str]:
    from devstack.infra import ensure_infra

    admin_url, bootstrap = ensure_infra()
    return str(admin_url), str(bootstrap)


async def timed(label: str, coro: Any) -> Any:
    t0 = time.perf_counter()
    out = await coro
    print(f"  {label}: {time.perf_counter() - t0:.1f} s", flush=True)
    return out


def run(main: Any) -> None:
    asyncio.run(main())
