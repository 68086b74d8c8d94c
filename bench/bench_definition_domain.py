"""Benchmark of the definition service's domain logic.

Run: ``.venv/bin/python bench/bench_definition_domain.py [--runs N]``

1. DAG validation of a random 10,000-task / 20,000-edge DAG with our validator (``analyse_dag`` and the full
   ``validate_workflow_dag`` with the ownership lookup) against networkx's own check on the same, pre-built graph
   (``nx.is_directed_acyclic_graph`` + ``nx.find_cycle``). Our timings include building the graph from plain id
   lists; networkx's do not (shown separately). Median of N runs and the ratio.
2. The same graph with one back edge closing a long cycle: time to reject it and report the path.
3. ``change_summary`` of two 2,000-task versions (p50/p99 over N runs), plus building one 2,000-task snapshot and
   planning a migration on it, for scale.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import time
from collections.abc import Callable
from datetime import datetime

import networkx as nx

from common.workflow import Edge, NodeAttrs, Param, Schedule, ShellParams, SnapshotTask, StructureSnapshot, TaskType
from definition.domain.dag import analyse_dag, find_cycle, validate_workflow_dag
from definition.domain.diff import change_summary
from definition.domain.enums import MigrationMode
from definition.domain.errors import InvalidWorkflowStructure
from definition.domain.migration import plan_migration
from definition.domain.snapshot import build_snapshot


def random_dag(n: int, m: int, seed: int, *, local: bool = False) -> tuple[list[int], list[tuple[int, int]]]:
    """``n`` tasks with shuffled ids and ``m`` unique edges from earlier to later positions of a random order.

    ``local=False``: both ends uniform (a shallow, wide graph). ``local=True``: 80% of edges span at most 50
    positions (a deep graph, like long pipelines)."""
    rng = random.Random(seed)
    ids = rng.sample(range(1, 10 * n), n)
    edges: set[tuple[int, int]] = set()
    while len(edges) < m:
        if local:
            a = rng.randrange(n - 1)
            span = rng.randint(1, 50) if rng.random() < 0.8 else rng.randint(1, n - 1 - a)
            b = min(n - 1, a + span)
        else:
            a, b = sorted(rng.sample(range(n), 2))
        edges.add((ids[a], ids[b]))
    out = list(edges)
    rng.shuffle(out)
    return ids, out


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def _nx_full(graph: nx.DiGraph) -> None:
    nx.is_directed_acyclic_graph(graph)
    with contextlib.suppress(nx.NetworkXNoCycle):
        nx.find_cycle(graph)


def bench_dag_shape(runs: int, *, local: bool) -> None:
    n, m = 10_000, 20_000
    ids, edges = random_dag(n, m, seed=7, local=local)
    owners: dict[int, int | None] = dict.fromkeys(ids, 1)
    g = nx.DiGraph()
    g.add_nodes_from(ids)
    g.add_edges_from(edges)

    def nx_build_and_check() -> None:
        h = nx.DiGraph()
        h.add_nodes_from(ids)
        h.add_edges_from(edges)
        nx.is_directed_acyclic_graph(h)

    shape = "deep (local edges)" if local else "uniform random"
    print(f"DAG validation, {n:,} tasks / {len(edges):,} edges, {shape} (median of {runs} runs)")
    ours = statistics.median(timed(lambda: analyse_dag(ids, edges), runs))
    ours_full = statistics.median(timed(lambda: validate_workflow_dag(1, ids, edges, owners), runs))
    is_dag = statistics.median(timed(lambda: nx.is_directed_acyclic_graph(g), runs))
    is_dag_build = statistics.median(timed(nx_build_and_check, runs))
    print(f"  analyse_dag (from plain id lists)              {ours:9.2f} ms")
    print(f"  validate_workflow_dag (+ unknown/ownership)    {ours_full:9.2f} ms")
    print(f"  nx.is_directed_acyclic_graph (prebuilt graph)  {is_dag:9.2f} ms   ratio nx/ours {is_dag / ours:5.1f}x")
    ratio = is_dag_build / ours
    print(f"  nx build DiGraph + is_directed_acyclic_graph   {is_dag_build:9.2f} ms   ratio nx/ours {ratio:5.1f}x")
    if local:
        # nx.find_cycle restarts its edge DFS per start node; on deep acyclic graphs that is quadratic
        # (minutes at this size), so it is only measured on the uniform graph.
        print("  nx.is_directed_acyclic_graph + nx.find_cycle   skipped: quadratic on deep acyclic graphs")
    else:
        full = statistics.median(timed(lambda: _nx_full(g), runs))
        print(f"  nx.is_directed_acyclic_graph + nx.find_cycle   {full:9.2f} ms   ratio nx/ours {full / ours:5.1f}x")

    # close a long cycle: an edge from the end of a longest path back to its start
    longest = nx.dag_longest_path(g)
    back = (longest[-1], longest[0])
    cyclic = [*edges, back]
    gc = g.copy()
    gc.add_edge(*back)

    def ours_reject() -> None:
        try:
            analyse_dag(ids, cyclic)
        except InvalidWorkflowStructure:
            return
        raise AssertionError("cycle not detected")

    reported = find_cycle(ids, cyclic)
    assert reported is not None
    t_ours = statistics.median(timed(ours_reject, runs))
    t_nx = statistics.median(timed(lambda: nx.find_cycle(gc), runs))
    print(f"  + back edge: analyse_dag rejects, reports path {t_ours:9.2f} ms   (cycle of {len(reported) - 1} tasks)")
    print(f"  + back edge: nx.find_cycle                     {t_nx:9.2f} ms")


def bench_dag(runs: int) -> None:
    bench_dag_shape(runs, local=False)
    print()
    bench_dag_shape(runs, local=True)


def snapshot_of(n_tasks: int, seed: int, schedule: Schedule | None) -> StructureSnapshot:
    ids, edges = random_dag(n_tasks, 2 * n_tasks, seed, local=True)
    ids.sort()
    dag = analyse_dag(ids, edges)
    return StructureSnapshot(
        workflow_id=1,
        workflow_name="bench",
        tasks=tuple(
            SnapshotTask(
                task_id=t,
                name=f"task-{t}",
                task_type=TaskType.SHELL,
                params=ShellParams(script=f"run job {t} --date ${{bizdate}}", local_params=(Param(name="x"),)),
                node_attrs=NodeAttrs(retries=t % 3, worker_group="etl"),
            )
            for t in ids
        ),
        edges=tuple(Edge(upstream_task_id=u, downstream_task_id=v) for u, v in dag.edges),
        schedule=schedule,
        global_params=(Param(name="bizdate", value="${system.biz.date}"),),
        entry_task_ids=dag.entry_task_ids,
        exit_task_ids=dag.exit_task_ids,
    )


def bench_diff(runs: int) -> None:
    sched = Schedule(crontab="0 0 2 * * ?", start_time=datetime(2025, 1, 1), end_time=datetime(2030, 1, 1))
    a = snapshot_of(2_000, seed=11, schedule=sched)
    rng = random.Random(3)
    tasks = list(a.tasks)
    for i in rng.sample(range(len(tasks)), 40):  # 2% of tasks edited
        t = tasks[i]
        tasks[i] = t.model_copy(update={"node_attrs": t.node_attrs.model_copy(update={"retries": 9})})
    removed = {t.task_id for t in rng.sample(tasks, 10)}
    kept = [t for t in tasks if t.task_id not in removed]
    added = [kept[0].model_copy(update={"task_id": 100_000 + i}) for i in range(15)]
    edges = [e for e in a.edges if e.upstream_task_id not in removed and e.downstream_task_id not in removed]
    edges += [Edge(upstream_task_id=kept[0].task_id, downstream_task_id=t.task_id) for t in added]
    b = a.model_copy(
        update={
            "tasks": tuple(kept + added),
            "edges": tuple(edges),
            "schedule": sched.model_copy(update={"crontab": "0 30 3 * * ?"}),
        }
    )
    summary = change_summary(a, b)
    same = timed(lambda: change_summary(a, a.model_copy()), runs)
    diff = timed(lambda: change_summary(a, b), runs)
    print(f"\nchange_summary of two {len(a.tasks):,}-task versions ({len(a.edges):,} edges), {runs} runs")
    print(f"  changed versions:   p50 {pct(diff, 50):6.2f} ms   p99 {pct(diff, 99):6.2f} ms   ({summary.summary})")
    print(f"  identical versions: p50 {pct(same, 50):6.2f} ms   p99 {pct(same, 99):6.2f} ms")

    pairs = [(e.upstream_task_id, e.downstream_task_id) for e in a.edges]
    build = timed(
        lambda: build_snapshot(
            workflow_id=1,
            workflow_name="bench",
            tasks=a.tasks,
            edges=pairs,
            schedule=sched,
            global_params=a.global_params,
        ),
        max(5, runs // 10),
    )
    target = StructureSnapshot(workflow_id=2, workflow_name="target", tasks=())
    mid = a.tasks[len(a.tasks) // 2].task_id
    mig = timed(lambda: plan_migration(a, target, mid, MigrationMode.CASCADE_UP_AND_DOWNSTREAM), max(5, runs // 10))
    print(f"  build_snapshot (2,000 tasks): median {statistics.median(build):6.2f} ms")
    print(f"  plan_migration up+downstream: median {statistics.median(mig):6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=21, help="runs per DAG measurement (diff uses 10x)")
    args = parser.parse_args()
    bench_dag(args.runs)
    bench_diff(args.runs * 10)


if __name__ == "__main__":
    main()
