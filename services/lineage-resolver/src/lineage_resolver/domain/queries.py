"""Read-only graph queries over the store: dependencies of a task (direct or transitive) and the impact of a table
change. Breadth-first, one batched port read per level, with a depth limit; cycles cannot loop (visited sets)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ._traverse import Direction
from .model import TableName, TaskId
from .store import LineageReader

WorkflowLookup = Callable[[frozenset[TaskId]], Mapping[TaskId, int]]
"""Batched task → workflow id lookup (the definition service owns the assignment); unknown tasks omitted."""


def upstream_of(store: LineageReader, task_id: TaskId, *, max_depth: int | None = 1) -> dict[TaskId, int]:
    """Tasks upstream of ``task_id`` with their distance (1 = direct), up to ``max_depth`` (``None``: all)."""
    return _dependency_bfs(store, task_id, Direction.UP, max_depth)


def downstream_of(store: LineageReader, task_id: TaskId, *, max_depth: int | None = 1) -> dict[TaskId, int]:
    """Tasks downstream of ``task_id`` with their distance (1 = direct), up to ``max_depth`` (``None``: all)."""
    return _dependency_bfs(store, task_id, Direction.DOWN, max_depth)


def _dependency_bfs(
    store: LineageReader, task_id: TaskId, direction: Direction, max_depth: int | None
) -> dict[TaskId, int]:
    _check_depth(max_depth)
    found: dict[TaskId, int] = {}
    frontier = [task_id]
    depth = 0
    while frontier and (max_depth is None or depth < max_depth):
        depth += 1
        rows = store.dependency_rows(frontier)
        nxt: list[TaskId] = []
        for node in frontier:
            row = rows.get(node)
            if row is None:
                continue
            for m in row.upstream if direction is Direction.UP else row.downstream:
                if m != task_id and m not in found:
                    found[m] = depth
                    nxt.append(m)
        frontier = nxt
    return found


@dataclass(frozen=True, slots=True)
class TableImpact:
    """What a change to some tables reaches, downstream, with the step at which each is first reached.

    Steps: table → table (lineage edge) = 1, table → a task reading it = 1, task → a table it writes = 1. The changed
    tables are at step 0. ``workflows`` are the workflows of the reached tasks (empty without a lookup).
    """

    tables: Mapping[TableName, int]
    tasks: Mapping[TaskId, int]
    workflows: frozenset[int]


def table_impact(
    store: LineageReader,
    tables: Iterable[TableName],
    *,
    max_depth: int | None = None,
    workflow_of: WorkflowLookup | None = None,
) -> TableImpact:
    """Follow data downstream from ``tables`` through table lineage *and* through tasks (read → write), since both
    carry a change onward; external lineage counts here whatever ``external_lineage_hops`` says."""
    _check_depth(max_depth)
    reached_tables: dict[TableName, int] = {t: 0 for t in tables}
    reached_tasks: dict[TaskId, int] = {}
    table_frontier: list[TableName] = list(reached_tables)
    task_frontier: list[TaskId] = []
    step = 0
    while (table_frontier or task_frontier) and (max_depth is None or step < max_depth):
        step += 1
        next_tables: list[TableName] = []
        next_tasks: list[TaskId] = []
        if table_frontier:
            for targets in store.lineage_targets(table_frontier).values():
                for target in targets:
                    if target not in reached_tables:
                        reached_tables[target] = step
                        next_tables.append(target)
            for readers in store.readers_of(table_frontier).values():
                for task_id in readers:
                    if task_id not in reached_tasks:
                        reached_tasks[task_id] = step
                        next_tasks.append(task_id)
        if task_frontier:
            for tt in store.tables_of(task_frontier).values():
                for written in tt.writes:
                    if written not in reached_tables:
                        reached_tables[written] = step
                        next_tables.append(written)
        table_frontier, task_frontier = next_tables, next_tasks
    workflows: frozenset[int] = frozenset()
    if workflow_of is not None and reached_tasks:
        workflows = frozenset(workflow_of(frozenset(reached_tasks)).values())
    return TableImpact(tables=reached_tables, tasks=reached_tasks, workflows=workflows)


def _check_depth(max_depth: int | None) -> None:
    if max_depth is not None and max_depth < 1:
        raise ValueError("max_depth must be at least 1 (or None for no limit)")
