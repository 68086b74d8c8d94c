"""Benchmark of the auto-orchestration grouping (issue 20, ``definition.domain.grouping``), in memory.

Data: the lineage benchmark's warehouse (``bench_lineage_domain.Warehouse``: 200k tasks, ~1M task↔table relations,
hub tables read by thousands of tasks), its task dependencies computed by the lineage-resolver domain. Every task is
unassigned (the worst case: the platform proposes workflows for all of them), or ``--assigned`` of them are in 100
existing workflows.

Measured:
1. baseline: networkx's own connected-components pass over the same graph (``nx.Graph`` from the dependency edges,
   then ``connected_components``), time and peak memory;
2. proposals from scratch (``propose``: components, splits of the large ones, untangling, add-to proposals, the
   reasons of each), time and peak memory, as a multiple of the baseline (target ≤ 2×);
3. one lineage event → the proposals it breaks formed again (``ProposalBook.update`` plus the reasons of the new
   groups), p50/p99/max over N events of the lineage benchmark's mix (target p99 < 100 ms); the lineage domain's
   own delta is computed first and not timed. Then the quality drift: dependencies kept inside, against a rebuild.
Time is measured without tracing and with the collector paused (as the lineage benchmark); peak memory in a second
run under ``tracemalloc``. Each time is printed as wall time and as the process's CPU time (``time.process_time``): on
a machine shared with other work the wall time is mostly the wait for a core (the same code's rounds differ by 2-3x
at load 5-10), the CPU time much less so; both ratios are printed.

Run: ``.venv/bin/python bench/bench_auto_orchestration.py [--tasks 200000] [--events 1000] [--max-size 200]``
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import networkx as nx
from bench_lineage_domain import Warehouse, pct, peak_mib, timed

from definition.domain.grouping.proposals import explain, propose
from definition.domain.grouping.upkeep import Change, ProposalBook
from lineage_resolver.domain import InMemoryLineageStore, RemoveTask, apply_lineage_change, rebuild_from_relations

T = TypeVar("T")


def cpu_timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """``(result, wall seconds, CPU seconds of this process)``."""
    cpu = time.process_time()
    result, wall = timed(fn)
    return result, wall, time.process_time() - cpu


def baseline(tasks: list[int], upstream: dict[int, frozenset[int]]) -> list[set[int]]:
    graph: nx.Graph[int] = nx.Graph()
    graph.add_nodes_from(tasks)
    graph.add_edges_from((u, t) for t, ups in upstream.items() for u in ups)
    return list(nx.connected_components(graph))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--tables", type=int, default=300_000)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--max-size", type=int, default=200)
    parser.add_argument("--assigned", type=float, default=0.0, help="share of tasks already in workflows (0-1)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="full runs of each side (the best is reported)")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    args = parser.parse_args()

    wh = Warehouse(args.tasks, args.tables, args.seed)
    relations = wh.relations()
    view = rebuild_from_relations(relations)
    upstream = {t: row.upstream for t, row in view.items() if row.upstream}
    tasks = list(wh.task_layer)
    rnd = random.Random(args.seed)
    workflow_of = {t: 1 + rnd.randrange(100) for t in tasks if rnd.random() < args.assigned}
    unassigned = [t for t in tasks if t not in workflow_of]
    n_edges = sum(len(u) for u in upstream.values())
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"data: {len(tasks):,} tasks ({len(unassigned):,} unassigned), {len(relations):,} relations, "
        f"{n_edges:,} dependency edges; max size {args.max_size}"
    )

    gc.collect()
    gc.disable()
    try:
        base_times, full_times, base_cpu, full_cpu = [], [], [], []
        for _ in range(args.rounds):  # alternating, so both sides see the same machine load
            components, t, cpu_s = cpu_timed(lambda: baseline(unassigned, upstream))
            base_times.append(t)
            base_cpu.append(cpu_s)
            proposals, t, cpu_s = cpu_timed(lambda: propose(unassigned, upstream, workflow_of, max_size=args.max_size))
            full_times.append(t)
            full_cpu.append(cpu_s)
    finally:
        gc.enable()
    sizes = sorted((len(c) for c in components), reverse=True)
    t_base, t_full = min(base_times), min(full_times)
    c_base, c_full = min(base_cpu), min(full_cpu)
    print(
        f"baseline networkx Graph + connected_components: {t_base:.2f}s (rounds: "
        f"{', '.join(f'{x:.2f}' for x in base_times)}), CPU {c_base:.2f}s (rounds: "
        f"{', '.join(f'{x:.2f}' for x in base_cpu)}); {len(components):,} components, largest {sizes[:3]}"
    )
    kinds = Counter(p.kind.value for p in proposals)
    split = sum(1 for p in proposals if p.split)
    print(
        f"proposals from scratch (propose): {t_full:.2f}s = {t_full / t_base:.2f}x the baseline (rounds: "
        f"{', '.join(f'{x:.2f}' for x in full_times)}); CPU {c_full:.2f}s = {c_full / c_base:.2f}x (rounds: "
        f"{', '.join(f'{x:.2f}' for x in full_cpu)}); {len(proposals):,} proposals {dict(kinds)}, {split:,} from "
        f"splits, largest {max(len(p.task_ids) for p in proposals)}"
    )
    assert sorted(t for p in proposals for t in p.task_ids) == sorted(unassigned)
    kept = sum(len(p.edges) for p in proposals if p.kind.value == "new_workflow")
    print(f"  dependencies kept inside proposals: {kept:,} of {n_edges:,} ({kept / n_edges:.1%}); the rest cut")
    if not args.no_memory:
        m_base = peak_mib(lambda: baseline(unassigned, upstream))
        m_full = peak_mib(lambda: propose(unassigned, upstream, workflow_of, max_size=args.max_size))
        print(f"  peak memory: baseline {m_base:,.0f} MiB, propose {m_full:,.0f} MiB (tracemalloc)")
    del proposals, components

    # --- incremental -------------------------------------------------------------------------------------------
    store = InMemoryLineageStore.from_relations(relations)
    store.put_dependency_view_rows(list(view.values()))
    downstream = {t: row.downstream for t, row in view.items() if row.downstream}
    ups: dict[int, frozenset[int]] = dict(upstream)
    free = set(unassigned)
    book = ProposalBook(max_size=args.max_size)
    _, t_book = timed(lambda: book.rebuild(free, ups))
    print(f"ProposalBook.rebuild: {t_book:.2f}s, {len(book.groups):,} groups")
    relations.clear()
    view.clear()
    events = wh.events(args.events)
    latencies: list[float] = []
    cpu_latencies: list[float] = []
    regrouped: list[int] = []
    gc.collect()
    gc.disable()
    try:
        for event in events:
            delta = apply_lineage_change(store, event)
            added: set[tuple[int, int]] = set()
            removed: set[tuple[int, int]] = set()
            for c in delta.changes:
                ups[c.task_id] = frozenset(c.new_upstream)
                downstream[c.task_id] = frozenset(c.new_downstream)
                t = c.task_id
                added.update((u, t) for u in set(c.new_upstream) - set(c.old_upstream))
                removed.update((u, t) for u in set(c.old_upstream) - set(c.new_upstream))
                added.update((t, d) for d in set(c.new_downstream) - set(c.old_downstream))
                removed.update((t, d) for d in set(c.old_downstream) - set(c.new_downstream))
            left: tuple[int, ...] = ()
            joined: tuple[int, ...] = ()
            if isinstance(event, RemoveTask):
                free.discard(event.task_id)
                left = (event.task_id,)
            elif (t := getattr(event, "task_id", None)) and t not in free and t not in workflow_of:
                free.add(t)
                joined = (t,)
            change = Change(added=tuple(sorted(added)), removed=tuple(sorted(removed)), joined=joined, left=left)
            cpu_start = time.process_time()
            start = time.perf_counter()
            new = book.update(change, unassigned=free, upstream=ups, downstream=downstream)
            for gid in new:
                explain(book.groups[gid], free, ups, downstream, workflow_of)
            latencies.append((time.perf_counter() - start) * 1e3)
            cpu_latencies.append((time.process_time() - cpu_start) * 1e3)
            regrouped.append(sum(len(book.groups[g].task_ids) for g in new))
    finally:
        gc.enable()
    print(
        f"one lineage event -> proposals updated ({len(events)} events, update + reasons): "
        f"p50 {pct(latencies, 0.50):.2f} ms, p99 {pct(latencies, 0.99):.2f} ms, max {max(latencies):.2f} ms, "
        f"mean {statistics.fmean(latencies):.2f} ms; CPU p50 {pct(cpu_latencies, 0.50):.2f} ms, "
        f"p99 {pct(cpu_latencies, 0.99):.2f} ms, max {max(cpu_latencies):.2f} ms"
    )
    print(f"  tasks regrouped per event: mean {statistics.fmean(regrouped):.0f}, p99 {pct(regrouped, 0.99):.0f}")
    placed = sorted(t for g in book.groups.values() for t in g.task_ids)
    assert placed == sorted(free), "after the events every unassigned task is in exactly one group"
    assert all(len(g.task_ids) <= args.max_size for g in book.groups.values())
    kept_now = sum(len(g.edges) for g in book.groups.values())
    fresh = ProposalBook(max_size=args.max_size)
    fresh.rebuild(free, ups)
    kept_fresh = sum(len(g.edges) for g in fresh.groups.values())
    print(
        f"  drift: {len(book.groups):,} groups keep {kept_now:,} dependencies inside, a rebuild now "
        f"{len(fresh.groups):,} groups, {kept_fresh:,}"
    )
    print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
