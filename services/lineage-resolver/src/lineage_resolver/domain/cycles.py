"""Cycles among task dependencies, explained by the tables that form them.

A change *closes* a cycle when one of the dependency edges it adds lies on a cycle of the new dependency graph. For
each new edge ``u -> v`` the search looks for a path ``v ->* u`` with a bidirectional BFS over the dependency view
(downstream sets from ``v``, upstream sets from ``u``, always expanding the smaller frontier, one batched read per
level). It stops as soon as the frontiers meet or either side is exhausted, which in a DAG is usually after a few
levels on the smaller side.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

from ._traverse import Direction, lineage_step
from .model import CycleReport, DependencyLink, DependencyRow, TableName, TaskId
from .store import LineageReader


def added_edges(pairs: Iterable[tuple[DependencyRow, DependencyRow]]) -> set[tuple[TaskId, TaskId]]:
    """Dependency edges ``(upstream, downstream)`` present in the new rows and not in the old ones."""
    out: set[tuple[TaskId, TaskId]] = set()
    for old, new in pairs:
        out.update((new.task_id, v) for v in new.downstream - old.downstream)
        out.update((u, new.task_id) for u in new.upstream - old.upstream)
    return out


def cycles_closed_by(
    state: LineageReader, new_edges: Iterable[tuple[TaskId, TaskId]], hops: int
) -> tuple[CycleReport, ...]:
    """Cycles in ``state`` (the state *after* the change) that go through one of ``new_edges``."""
    reports: dict[tuple[TaskId, ...], CycleReport] = {}
    covered: set[tuple[TaskId, TaskId]] = set()
    for u, v in sorted(new_edges):
        if (u, v) in covered:
            continue
        path = find_path(state, v, u)
        if path is None:
            continue
        ring = _rotate([u, *path[:-1]])
        tasks = (*ring, ring[0])
        covered.update(pairwise(tasks))
        if tasks not in reports:
            links = tuple(explain_dependency(state, a, b, hops) for a, b in pairwise(tasks))
            reports[tasks] = CycleReport(tasks=tasks, links=links)
    return tuple(reports[k] for k in sorted(reports))


def find_path(state: LineageReader, start: TaskId, goal: TaskId) -> list[TaskId] | None:
    """A shortest dependency path ``start ->* goal`` (downstream direction) in the view, or ``None``."""
    if start == goal:
        return [start]
    parent: dict[TaskId, TaskId | None] = {start: None}
    child: dict[TaskId, TaskId | None] = {goal: None}
    forward: list[TaskId] = [start]
    backward: list[TaskId] = [goal]
    while forward and backward:
        expand_forward = len(forward) <= len(backward)
        frontier = forward if expand_forward else backward
        rows = state.dependency_rows(frontier)
        seen, other = (parent, child) if expand_forward else (child, parent)
        nxt: list[TaskId] = []
        for node in frontier:
            row = rows.get(node)
            if row is None:
                continue
            for m in sorted([m for m in (row.downstream if expand_forward else row.upstream) if m not in seen]):
                seen[m] = node
                if m in other:
                    return _join(parent, child, m)
                nxt.append(m)
        if expand_forward:
            forward = nxt
        else:
            backward = nxt
    return None


def explain_dependency(state: LineageReader, upstream: TaskId, downstream: TaskId, hops: int) -> DependencyLink:
    """The tables that make ``upstream`` a dependency of ``downstream``: every table written by one and read by the
    other; if there is none and ``hops`` > 0, one shortest path through external table lineage."""
    tables = state.tables_of([upstream, downstream])
    writes = tables[upstream].writes if upstream in tables else frozenset()
    reads = tables[downstream].reads if downstream in tables else frozenset()
    direct = sorted(writes & reads)
    if direct or not hops:
        return DependencyLink(upstream, downstream, tuple((t,) for t in direct))
    path = _table_path(state, writes, reads, hops)
    return DependencyLink(upstream, downstream, (path,) if path else ())


def _table_path(
    state: LineageReader, sources: frozenset[TableName], goals: frozenset[TableName], hops: int
) -> tuple[TableName, ...] | None:
    parent: dict[TableName, TableName | None] = {s: None for s in sources}
    frontier = sorted(sources)
    for _ in range(hops):
        step = lineage_step(state, frontier, Direction.DOWN)
        nxt: list[TableName] = []
        for table in frontier:
            for target in sorted(step.get(table, ())):
                if target in parent:
                    continue
                parent[target] = table
                if target in goals:
                    path = [target]
                    prev = parent[target]
                    while prev is not None:
                        path.append(prev)
                        prev = parent[prev]
                    return tuple(reversed(path))
                nxt.append(target)
        frontier = nxt
    return None


def _join(parent: dict[TaskId, TaskId | None], child: dict[TaskId, TaskId | None], meet: TaskId) -> list[TaskId]:
    head: list[TaskId] = []
    node: TaskId | None = meet
    while node is not None:
        head.append(node)
        node = parent[node]
    head.reverse()
    node = child[meet]
    while node is not None:
        head.append(node)
        node = child[node]
    return head


def _rotate(ring: list[TaskId]) -> tuple[TaskId, ...]:
    i = ring.index(min(ring))
    return tuple(ring[i:] + ring[:i])
