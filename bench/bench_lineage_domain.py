"""Benchmark of the lineage-resolver domain (in memory).

Data (seeded): ~300k tables in 5 warehouse layers (L0 = sources nobody on the platform writes), 200k tasks in layers
1-4; each task writes ~2 tables of its own layer and reads ~3 tables of lower layers, skewed so that a few hub
tables (dimensions) are read by thousands of tasks: ~1M task↔table relations, an acyclic layered graph.

Measured:
1. one lineage event → delta computed and written (``apply_lineage_change``), p50/p99/max over N events
   (mostly re-pointed reads, some changed writes, new tasks, removed tasks, table lineage edges);
2. baseline: building the whole task dependency graph with networkx (``DiGraph``) from the same rows;
3. the full rebuild (``rebuild_from_relations``) and the consistency check of the incremental state.
Time is measured without tracing; peak memory in a second run under ``tracemalloc``.

Run: ``.venv/bin/python bench/bench_lineage_domain.py [--tasks 200000] [--events 1000] [--seed 7]``
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import TypeVar

import networkx as nx

from lineage_resolver.domain import (
    AddTableLineage,
    InMemoryLineageStore,
    LineageChange,
    RelationKind,
    RemoveTask,
    SetTaskTables,
    TableLineageEdge,
    apply_lineage_change,
    check_view,
    rebuild_from_relations,
)

T = TypeVar("T")
Relation = tuple[int, str, RelationKind]
LAYER_SHARE_TABLES = (0.30, 0.25, 0.20, 0.15, 0.10)
LAYER_SHARE_TASKS = (0.0, 0.35, 0.30, 0.20, 0.15)


class Warehouse:
    def __init__(self, n_tasks: int, n_tables: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.tables: list[list[str]] = []
        for layer, share in enumerate(LAYER_SHARE_TABLES):
            self.tables.append([f"hive/dw.l{layer}_t{i}" for i in range(int(n_tables * share))])
        self.task_layer: dict[int, int] = {}
        task_id = 0
        for layer, share in enumerate(LAYER_SHARE_TASKS):
            for _ in range(int(n_tasks * share)):
                task_id += 1
                self.task_layer[task_id] = layer
        self.next_task = task_id + 1

    def read_table(self, below: int) -> str:
        layer = self.rng.randrange(below)
        pool = self.tables[layer]
        # skew: u**4 puts most reads on the first tables of each layer (hubs), with a long tail
        return pool[int(len(pool) * self.rng.random() ** 4)]

    def reads_for(self, layer: int) -> frozenset[str]:
        return frozenset(self.read_table(layer) for _ in range(self.rng.choice((1, 2, 3, 3, 4, 5))))

    def writes_for(self, layer: int) -> frozenset[str]:
        pool = self.tables[layer]
        return frozenset(self.rng.choice(pool) for _ in range(self.rng.choice((1, 2, 2, 3))))

    def relations(self) -> list[Relation]:
        out: list[Relation] = []
        for task_id, layer in self.task_layer.items():
            out.extend((task_id, t, RelationKind.READ) for t in self.reads_for(layer))
            out.extend((task_id, t, RelationKind.WRITE) for t in self.writes_for(layer))
        return out

    def events(self, n: int) -> list[LineageChange]:
        tasks = list(self.task_layer)
        out: list[LineageChange] = []
        for _ in range(n):
            roll = self.rng.random()
            task_id = self.rng.choice(tasks)
            layer = self.task_layer[task_id]
            if roll < 0.70:
                out.append(SetTaskTables(task_id=task_id, reads=self.reads_for(layer)))
            elif roll < 0.80:
                out.append(SetTaskTables(task_id=task_id, writes=self.writes_for(layer)))
            elif roll < 0.90:
                new_id, new_layer = self.next_task, self.rng.randrange(1, 5)
                self.next_task += 1
                self.task_layer[new_id] = new_layer
                out.append(
                    SetTaskTables(task_id=new_id, reads=self.reads_for(new_layer), writes=self.writes_for(new_layer))
                )
            elif roll < 0.95:
                out.append(RemoveTask(task_id=task_id))
            else:
                src = self.read_table(4)
                dst = self.rng.choice(self.tables[4])
                out.append(AddTableLineage(edges=(TableLineageEdge(source=src, target=dst),)))
        return out


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def peak_mib(fn: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak / 2**20


def networkx_graph(relations: list[Relation]) -> nx.DiGraph[int]:
    writers: dict[str, list[int]] = {}
    for task_id, table, kind in relations:
        if kind is RelationKind.WRITE:
            writers.setdefault(table, []).append(task_id)
    graph: nx.DiGraph[int] = nx.DiGraph()
    for task_id, table, kind in relations:
        if kind is RelationKind.READ:
            graph.add_edges_from((w, task_id) for w in writers.get(table, ()) if w != task_id)
    return graph


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--tables", type=int, default=300_000)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    args = parser.parse_args()

    wh = Warehouse(args.tasks, args.tables, args.seed)
    relations, t_gen = timed(wh.relations)
    n_reads = sum(1 for r in relations if r[2] is RelationKind.READ)
    print(
        f"data: {len(wh.task_layer):,} tasks, {sum(map(len, wh.tables)):,} tables, {len(relations):,} relations "
        f"({n_reads:,} reads, {len(relations) - n_reads:,} writes), generated in {t_gen:.1f}s"
    )

    graph, t_nx = timed(lambda: networkx_graph(relations))
    print(f"networkx DiGraph build: {t_nx:.2f}s, {graph.number_of_nodes():,} nodes, {graph.number_of_edges():,} edges")
    n_edges = graph.number_of_edges()
    del graph
    if not args.no_memory:
        print(f"  peak memory {peak_mib(lambda: networkx_graph(relations)):,.0f} MiB (tracemalloc)")

    view, t_rebuild = timed(lambda: rebuild_from_relations(relations))
    n_dep_edges = sum(len(r.downstream) for r in view.values())
    assert n_dep_edges == n_edges, (n_dep_edges, n_edges)
    print(
        f"full rebuild (rebuild_from_relations): {t_rebuild:.2f}s, {len(view):,} view rows, "
        f"{n_dep_edges:,} dependency edges (= networkx)"
    )
    if not args.no_memory:
        print(f"  peak memory {peak_mib(lambda: rebuild_from_relations(relations)):,.0f} MiB (tracemalloc)")

    store, t_load = timed(lambda: InMemoryLineageStore.from_relations(relations))
    store.put_dependency_view_rows(list(view.values()))
    view.clear()
    relations.clear()
    gc.collect()
    print(f"in-memory store load: {t_load:.2f}s")

    events = wh.events(args.events)
    latencies: list[float] = []
    affected: list[int] = []
    changed: list[int] = []
    cycles = 0
    gc.collect()
    gc.disable()  # measure the algorithm, not collector pauses over a million long-lived objects
    try:
        for event in events:
            start = time.perf_counter()
            delta = apply_lineage_change(store, event)
            latencies.append((time.perf_counter() - start) * 1e3)
            affected.append(len(delta.affected_tasks))
            changed.append(len(delta.changes))
            cycles += len(delta.cycles)
    finally:
        gc.enable()
    print(
        f"one event -> delta ({len(events)} events, apply_lineage_change incl. writes and cycle check): "
        f"p50 {pct(latencies, 0.50):.3f} ms, p99 {pct(latencies, 0.99):.3f} ms, max {max(latencies):.3f} ms, "
        f"mean {statistics.fmean(latencies):.3f} ms"
    )
    print(
        f"  affected tasks per event: mean {statistics.fmean(affected):.1f}, p99 {pct(affected, 0.99):.0f}; "
        f"changed tasks per event: mean {statistics.fmean(changed):.1f}; cycles reported: {cycles}"
    )

    diff, t_check = timed(lambda: check_view(store))
    print(f"consistency check (full rebuild from the store + diff): {t_check:.2f}s, clean={diff.is_clean}")
    if not diff.is_clean:
        raise SystemExit("incremental state differs from the full rebuild")
    print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
