"""Benchmark of the publisher's converter (``publisher.domain.convert``) against pydolphinscheduler.

Run: ``.venv/bin/python bench/bench_convert.py [--runs N] [--baseline-runs M]``

Both sides start from the same ``StructureSnapshot``: 2,000 tasks (about half SHELL, a quarter PYTHON, a quarter SQL,
with mixed retries, timeouts, priorities, worker groups, environments, resources and local params) and 3,000 edges.

- ours: ``convert(snapshot, codes, datasource_ids=...)``, which returns the task definition JSON, relation JSON,
  locations, schedule, global params and the content hash.
- baseline: pydolphinscheduler 4.1.0 builds the same workflow the way an SDK user would (a ``Workflow`` with
  ``Shell``/``Python``/``Sql`` tasks and ``>>`` dependencies) and produces its task definition and relation JSON
  (``json.dumps(wf.task_definition_json)``, ``json.dumps(wf.task_relation_json)``). Its gateway is replaced by an
  in-process fake (task code by name, environment, datasource), as in the unit tests, so no network time is counted.

Prints median and p99 of each and the speed-up (target: ours at least 5x faster). Exits 1 below the target.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import random
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from common.workflow import (
    Edge,
    NodeAttrs,
    Param,
    ParamType,
    Priority,
    PythonParams,
    ShellParams,
    SnapshotTask,
    SqlParams,
    StructureSnapshot,
    TimeoutStrategy,
)
from publisher.domain import convert

TARGET_SPEEDUP = 5.0
DATASOURCES = {("warehouse", "POSTGRESQL"): 11, ("orders", "MYSQL"): 12, ("lake", "HIVE"): 13}
ENVIRONMENTS = {"env-3": 3, "env-4": 4}


def build_snapshot(n_tasks: int, n_edges: int, seed: int) -> StructureSnapshot:
    rnd = random.Random(seed)
    tasks = []
    for tid in range(1, n_tasks + 1):
        timeout = rnd.choice([0, 0, 0, 30, 120])
        attrs = NodeAttrs(
            worker_group=rnd.choice(["default", "default", "etl", "gpu"]),
            retries=rnd.choice([0, 0, 1, 3]),
            retry_interval_minutes=rnd.choice([1, 1, 5]),
            timeout_minutes=timeout,
            timeout_strategy=rnd.choice([TimeoutStrategy.WARN, TimeoutStrategy.FAILED]) if timeout else None,
            priority=rnd.choice(list(Priority)),
            delay_minutes=rnd.choice([0, 0, 0, 5]),
            enabled=rnd.random() > 0.03,
            environment_code=rnd.choice([-1, -1, 3, 4]),
            cpu_quota=rnd.choice([-1, -1, 100]),
            memory_max_mb=rnd.choice([-1, -1, 2048]),
        )
        local: tuple[Param, ...] = ()
        if rnd.random() < 0.3:
            local = (Param(name="dt", value="${system.biz.date}"), Param(name="batch", value=str(tid)))
        if rnd.random() < 0.1:
            local += (Param(name="rows", direction="OUT", type=ParamType.INTEGER),)
        roll = rnd.random()
        params: ShellParams | PythonParams | SqlParams
        if roll < 0.5:
            params = ShellParams(
                script=f"set -euo pipefail\nexport PART={tid}\n./bin/extract --part $PART --day ${{dt}}\necho done",
                local_params=local,
                resources=("bin/extract", "conf/extract.yaml") if rnd.random() < 0.2 else (),
            )
        elif roll < 0.75:
            params = PythonParams(
                script=f"import json, sys\nrows = [{{'id': i}} for i in range({tid % 50})]\nprint(json.dumps(rows))",
                local_params=local,
            )
        else:
            ds_name, ds_type = rnd.choice(list(DATASOURCES))
            params = SqlParams(
                datasource_name=ds_name,
                datasource_type=ds_type,
                sql=f"insert into mart.part_{tid} select id, amount from staging.orders where dt = '${{dt}}'",  # noqa: S608
                sql_type=rnd.choice(["query", "non_query", "non_query"]),
                pre_statements=("set statement_timeout = 600000",) if rnd.random() < 0.3 else (),
                post_statements=(f"analyze mart.part_{tid}",) if rnd.random() < 0.2 else (),
                local_params=local,
            )
        tasks.append(
            SnapshotTask(
                task_id=tid,
                name=f"{params.kind.lower()}_{tid:05d}",
                task_type=params.kind,
                description=f"step {tid}" if rnd.random() < 0.5 else "",
                params=params,
                node_attrs=attrs,
            )
        )
    edges: set[tuple[int, int]] = set()
    while len(edges) < n_edges:
        down = rnd.randint(2, n_tasks)
        span = rnd.randint(1, 30) if rnd.random() < 0.9 else rnd.randint(1, down - 1)
        edges.add((max(1, down - span), down))
    return StructureSnapshot(
        workflow_id=1,
        workflow_name="bench-2000",
        tasks=tuple(tasks),
        edges=tuple(Edge(upstream_task_id=u, downstream_task_id=d) for u, d in sorted(edges)),
        global_params=(Param(name="region", value="eu"),),
    )


# --- pydolphinscheduler with an in-process fake gateway (as in services/publisher/tests/unit/conftest.py) ------


class FakeEntryPoint:
    def __init__(self, codes_by_name: dict[str, int]) -> None:
        self.codes_by_name = codes_by_name

    def getCodeAndVersion(self, project: str, workflow: str, task_name: str) -> dict[str, int]:
        return {"code": self.codes_by_name[task_name], "version": 1}

    def getEnvironmentInfo(self, name: str) -> int:
        return ENVIRONMENTS[name]

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected gateway call {name}")


def load_pyds(codes_by_name: dict[str, int]) -> SimpleNamespace:
    os.environ.setdefault("PYDS_JAVA_GATEWAY_ADDRESS", "127.0.0.1")
    os.environ.setdefault("PYDS_JAVA_GATEWAY_PORT", "9")  # nothing listens: refused at once at import
    for noisy in ("py4j", "pydolphinscheduler"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    warnings.simplefilter("ignore")
    mods = {
        name: importlib.import_module(f"pydolphinscheduler.{path}")
        for name, path in {
            "java_gateway": "java_gateway",
            "workflow": "core.workflow",
            "parameter": "core.parameter",
            "shell": "tasks.shell",
            "python": "tasks.python",
            "sql": "tasks.sql",
            "datasource": "models.datasource",
        }.items()
    }
    ns = SimpleNamespace(**mods)
    ns.java_gateway.gateway._gateway = SimpleNamespace(entry_point=FakeEntryPoint(codes_by_name))

    def task_usage(cls: Any, name: str, type_: str | None = None) -> Any:
        assert type_ is not None
        return ns.datasource.TaskUsage(id=DATASOURCES[(name, type_.upper())], type=type_.upper())

    ns.datasource.Datasource.get_task_usage_4j = classmethod(task_usage)
    return ns


def build_with_pyds(pyds: SimpleNamespace, snap: StructureSnapshot) -> tuple[str, str]:
    ptype = pyds.parameter.ParameterType
    built: dict[int, Any] = {}
    with pyds.workflow.Workflow(
        name=snap.workflow_name,
        description=snap.description,
        execution_type=snap.execution_type.value,
        timeout=snap.timeout_minutes,
        param={p.name: p.value for p in snap.global_params},
    ) as wf:
        for t in snap.tasks:
            a, p = t.node_attrs, t.params
            common: dict[str, Any] = {
                "description": t.description,
                "flag": "YES" if a.enabled else "NO",
                "task_priority": a.priority.value,
                "worker_group": a.worker_group,
                "environment_name": None if a.environment_code == -1 else f"env-{a.environment_code}",
                "delay_time": a.delay_minutes,
                "fail_retry_times": a.retries,
                "fail_retry_interval": a.retry_interval_minutes,
                "timeout_notify_strategy": a.timeout_strategy.value if a.timeout_strategy else None,
                "timeout": a.timeout_minutes,
                "input_params": {
                    q.name: getattr(ptype, q.type.value)(q.value) for q in p.local_params if q.direction == "IN"
                },
                "output_params": {
                    q.name: getattr(ptype, q.type.value)(q.value) for q in p.local_params if q.direction == "OUT"
                },
            }
            if isinstance(p, SqlParams):
                built[t.task_id] = pyds.sql.Sql(
                    name=t.name,
                    datasource_name=p.datasource_name,
                    datasource_type=p.datasource_type,
                    sql=p.sql,
                    sql_type="0" if p.sql_type == "query" else "1",
                    pre_statements=list(p.pre_statements),
                    post_statements=list(p.post_statements),
                    display_rows=p.display_rows,
                    **common,
                )
            else:
                cls, script_kw = (
                    (pyds.shell.Shell, "command") if isinstance(p, ShellParams) else (pyds.python.Python, "definition")
                )
                built[t.task_id] = cls(
                    name=t.name,
                    **{script_kw: p.script},
                    resource_list=[{"resourceName": r} for r in p.resources],
                    cpu_quota=a.cpu_quota,
                    memory_max=a.memory_max_mb,
                    **common,
                )
        for e in snap.edges:
            built[e.upstream_task_id] >> built[e.downstream_task_id]
    return json.dumps(wf.task_definition_json), json.dumps(wf.task_relation_json)


# --- timing ------------------------------------------------------------------------------------------------


def timed(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=200, help="timed runs of ours (default 200)")
    parser.add_argument("--baseline-runs", type=int, default=15, help="timed runs of pydolphinscheduler (default 15)")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--edges", type=int, default=3000)
    args = parser.parse_args()

    snap = build_snapshot(args.tasks, args.edges, seed=2024)
    codes = {t.task_id: 1_700_000_000_000 + t.task_id for t in snap.tasks}
    kinds = {k: sum(1 for t in snap.tasks if t.task_type == k) for k in ("SHELL", "PYTHON", "SQL")}
    print(f"DAG: {len(snap.tasks)} tasks ({', '.join(f'{v} {k}' for k, v in kinds.items())}), {len(snap.edges)} edges")

    defn = convert(snap, codes, datasource_ids=DATASOURCES)
    n_rel = len(json.loads(defn.task_relation_json))
    print(
        f"output: {len(defn.task_definition_json) / 1e6:.2f} MB task definitions, "
        f"{len(defn.task_relation_json) / 1e6:.2f} MB relations ({n_rel} incl. root edges)"
    )
    ours = timed(lambda: convert(snap, codes, datasource_ids=DATASOURCES), args.runs, warmup=5)

    pyds = load_pyds({t.name: codes[t.task_id] for t in snap.tasks})
    sdk_defs, sdk_rels = build_with_pyds(pyds, snap)
    assert len(json.loads(sdk_defs)) == len(snap.tasks)
    assert len(json.loads(sdk_rels)) == n_rel
    base = timed(lambda: build_with_pyds(pyds, snap), args.baseline_runs, warmup=1)

    m_ours, m_base = statistics.median(ours), statistics.median(base)
    for label, xs in (("ours     convert()          ", ours), ("baseline pydolphinscheduler", base)):
        print(
            f"{label}  runs={len(xs):4d}  median {statistics.median(xs):8.2f} ms  "
            f"p99 {pct(xs, 99):8.2f} ms  min {min(xs):8.2f} ms"
        )
    ratio = m_base / m_ours
    verdict = "OK" if ratio >= TARGET_SPEEDUP else "BELOW TARGET"
    print(f"speed-up (median): {ratio:.1f}x  (target >= {TARGET_SPEEDUP:.0f}x)  {verdict}")
    return 0 if ratio >= TARGET_SPEEDUP else 1


if __name__ == "__main__":
    sys.exit(main())
