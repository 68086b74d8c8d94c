"""Read-only views for people: the neighbourhood of one table (its writers and readers, the tables a few hops up and
downstream) and the lineage links among a set of tasks (what a workflow editor compares its drawn edges with).

Both walk level by level with one batched port read per level and per kind, and both are bounded: a depth and caps
on what they collect (a hub table read by thousands of tasks answers with the first ones by id and ``truncated``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from ._traverse import Direction
from .model import DependencyRow, TableEdge, TableName, TaskId
from .store import LineageReader


def table_known(store: LineageReader, table: TableName) -> bool:
    """Whether lineage knows ``table`` at all: a task reads or writes it, or a lineage edge names it."""
    one = [table]
    return bool(
        store.writers_of(one) or store.readers_of(one) or store.lineage_targets(one) or store.lineage_sources(one)
    )


@dataclass(frozen=True, slots=True)
class TableNeighbourhood:
    """Tables and tasks around ``table``. A hop is one table → table step, through a task (it reads one and writes
    the other) or a lineage edge; ``upstream``/``downstream`` map each table to its hops from the centre (the centre
    is 0 in both; a table on a cycle can be in both). ``task_*`` give each task's hops (the hop at which it was met)
    and ``reads``/``writes`` its relations to the tables listed; ``table_edges`` are the lineage edges among them."""

    table: TableName
    depth: int
    upstream: Mapping[TableName, int]
    downstream: Mapping[TableName, int]
    task_upstream: Mapping[TaskId, int]
    task_downstream: Mapping[TaskId, int]
    reads: Mapping[TaskId, frozenset[TableName]]
    writes: Mapping[TaskId, frozenset[TableName]]
    table_edges: frozenset[TableEdge]
    truncated: bool


class _Caps:
    def __init__(self, max_tables: int, max_tasks: int) -> None:
        self.max_tables = max_tables
        self.max_tasks = max_tasks
        self.tables: set[TableName] = set()
        self.tasks: set[TaskId] = set()
        self.truncated = False

    def admit_table(self, table: TableName) -> bool:
        if table in self.tables:
            return True
        if len(self.tables) >= self.max_tables:
            self.truncated = True
            return False
        self.tables.add(table)
        return True

    def admit_task(self, task_id: TaskId) -> bool:
        if task_id in self.tasks:
            return True
        if len(self.tasks) >= self.max_tasks:
            self.truncated = True
            return False
        self.tasks.add(task_id)
        return True


def table_neighbourhood(
    store: LineageReader, table: TableName, *, depth: int, max_tables: int = 500, max_tasks: int = 500
) -> TableNeighbourhood:
    """The writers and readers of ``table`` and the tables within ``depth`` hops up- and downstream, with the tasks
    between them (each side's walk stops at the caps; ``truncated`` says so)."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    caps = _Caps(max_tables, max_tasks)
    caps.admit_table(table)
    edges: set[TableEdge] = set()
    sides = {d: _walk(store, table, d, depth, caps, edges) for d in (Direction.UP, Direction.DOWN)}
    tasks = sorted(caps.tasks)
    found = store.tables_of(tasks)
    reads: dict[TaskId, frozenset[TableName]] = {}
    writes: dict[TaskId, frozenset[TableName]] = {}
    for task_id in tasks:
        tt = found.get(task_id)
        reads[task_id] = tt.reads & caps.tables if tt is not None else frozenset()
        writes[task_id] = tt.writes & caps.tables if tt is not None else frozenset()
    up_tables, up_tasks = sides[Direction.UP]
    down_tables, down_tasks = sides[Direction.DOWN]
    return TableNeighbourhood(
        table=table,
        depth=depth,
        upstream=up_tables,
        downstream=down_tables,
        task_upstream=up_tasks,
        task_downstream=down_tasks,
        reads=reads,
        writes=writes,
        table_edges=frozenset(edges),
        truncated=caps.truncated,
    )


def _walk(
    store: LineageReader, table: TableName, direction: Direction, depth: int, caps: _Caps, edges: set[TableEdge]
) -> tuple[dict[TableName, int], dict[TaskId, int]]:
    """One side: up (writers of the frontier, the tables they read, lineage sources) or down (readers, the tables
    they write, lineage targets)."""
    down = direction is Direction.DOWN
    tables: dict[TableName, int] = {table: 0}
    tasks: dict[TaskId, int] = {}
    frontier = [table]
    for hop in range(1, depth + 1):
        if not frontier:
            break
        via_tasks = store.readers_of(frontier) if down else store.writers_of(frontier)
        via_edges = store.lineage_targets(frontier) if down else store.lineage_sources(frontier)
        met: list[TaskId] = []
        for t in sorted({t for ids in via_tasks.values() for t in ids}):
            if t not in tasks and caps.admit_task(t):
                tasks[t] = hop
                met.append(t)
        candidates: list[TableName] = []
        for source in frontier:
            for other in sorted(via_edges.get(source, ())):
                if other in tables or caps.admit_table(other):
                    edges.add((source, other) if down else (other, source))
                candidates.append(other)
        of_tasks = store.tables_of(met)
        for t in met:
            tt = of_tasks.get(t)
            if tt is not None:
                candidates.extend(sorted(tt.writes if down else tt.reads))
        nxt: list[TableName] = []
        for name in candidates:
            if name not in tables and caps.admit_table(name):
                tables[name] = hop
                nxt.append(name)
        frontier = nxt
    return tables, tasks


@dataclass(frozen=True, slots=True)
class TaskLinks:
    """Lineage among a set of tasks: ``direct`` dependencies between two of them (upstream, downstream) with the
    tables the upstream writes and the downstream reads (empty: through table lineage); ``reachable`` pairs where
    the second is downstream of the first within ``depth`` dependencies, through any tasks (the direct ones
    included); ``known`` the tasks lineage has tables for (of an unknown task nothing can be said)."""

    direct: Mapping[tuple[TaskId, TaskId], frozenset[TableName]]
    reachable: frozenset[tuple[TaskId, TaskId]]
    known: frozenset[TaskId]
    truncated: bool


def task_links(store: LineageReader, task_ids: Collection[TaskId], *, depth: int, max_visits: int) -> TaskLinks:
    """Direct and transitive dependencies among ``task_ids`` from the dependency view: one batched read per level
    for every source together; ``max_visits`` bounds the (source, task) pairs visited (``truncated``: some pairs
    beyond it are not in ``reachable``)."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    wanted = frozenset(task_ids)
    rows = store.dependency_rows(wanted)
    tables = store.tables_of(wanted)
    direct: dict[tuple[TaskId, TaskId], frozenset[TableName]] = {}
    for u in sorted(wanted):
        row = rows.get(u)
        for d in sorted(row.downstream & wanted) if row is not None else ():
            up_tables, down_tables = tables.get(u), tables.get(d)
            shared = up_tables.writes & down_tables.reads if up_tables and down_tables else frozenset()
            direct[(u, d)] = frozenset(shared)
    reach: dict[TaskId, set[TaskId]] = {s: set() for s in wanted}
    frontier: dict[TaskId, set[TaskId]] = {s: {s} for s in wanted}
    visits = 0
    truncated = False
    level_rows: Mapping[TaskId, DependencyRow] = rows
    for level in range(depth):
        if not frontier:
            break
        if level:
            level_rows = store.dependency_rows(set().union(*frontier.values()))
        nxt: dict[TaskId, set[TaskId]] = {}
        for source, front in frontier.items():
            seen = reach[source]
            new = {m for n in front for m in _down(level_rows, n) if m != source and m not in seen}
            if visits + len(new) > max_visits:
                truncated = True
                break
            visits += len(new)
            if new:
                seen |= new
                nxt[source] = new
        if truncated:
            break
        frontier = nxt
    pairs = frozenset((s, d) for s, found in reach.items() for d in found & wanted)
    return TaskLinks(direct=direct, reachable=pairs, known=frozenset(tables), truncated=truncated)


def _down(rows: Mapping[TaskId, DependencyRow], task_id: TaskId) -> Iterable[TaskId]:
    row = rows.get(task_id)
    return row.downstream if row is not None else ()
