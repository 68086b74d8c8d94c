"""Read-only graph queries over the store: dependencies of a task (direct or transitive) and the impact of a table
change. Breadth-first, one batched port read per level, with a depth limit; cycles cannot loop (visited sets)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

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


PathStep = tuple[Literal["table"], TableName] | tuple[Literal["task"], TaskId]
"""One node of an impact path: a table or a task."""


@dataclass(frozen=True, slots=True)
class TableImpact:
    """What a change to some tables reaches, downstream, with the step at which each is first reached.

    Steps: table → table (lineage edge) = 1, table → a task reading it = 1, task → a table it writes = 1. The changed
    tables are at step 0. ``workflows`` are the workflows of the reached tasks (empty without a lookup).
    ``task_via`` / ``table_via``: what each was first reached from (a path back to a changed table, :func:`path_to`);
    ``truncated``: the walk stopped at ``max_nodes`` reached tables and tasks (what is listed is still correct).
    """

    tables: Mapping[TableName, int]
    tasks: Mapping[TaskId, int]
    workflows: frozenset[int]
    task_via: Mapping[TaskId, TableName] = field(default_factory=dict)
    table_via: Mapping[TableName, PathStep] = field(default_factory=dict)
    truncated: bool = False


def table_impact(
    store: LineageReader,
    tables: Iterable[TableName],
    *,
    max_depth: int | None = None,
    workflow_of: WorkflowLookup | None = None,
    max_nodes: int | None = None,
) -> TableImpact:
    """Follow data downstream from ``tables`` through table lineage *and* through tasks (read → write), since both
    carry a change onward; external lineage counts here whatever ``external_lineage_hops`` says. Each table and task
    is listed once, at its shortest distance, with what it was first reached from (sorted order within a level, so
    the paths are stable). ``max_nodes`` bounds the tables and tasks reached (``truncated`` then says so)."""
    _check_depth(max_depth)
    reached_tables: dict[TableName, int] = {t: 0 for t in tables}
    reached_tasks: dict[TaskId, int] = {}
    task_via: dict[TaskId, TableName] = {}
    table_via: dict[TableName, PathStep] = {}
    table_frontier: list[TableName] = sorted(reached_tables)
    task_frontier: list[TaskId] = []
    step = 0
    truncated = False

    def room() -> bool:
        nonlocal truncated
        if max_nodes is not None and len(reached_tables) + len(reached_tasks) >= max_nodes:
            truncated = True
        return not truncated

    while (table_frontier or task_frontier) and (max_depth is None or step < max_depth) and not truncated:
        step += 1
        next_tables: list[TableName] = []
        next_tasks: list[TaskId] = []
        if table_frontier:
            targets = store.lineage_targets(table_frontier)
            readers = store.readers_of(table_frontier)
            for source in table_frontier:
                for target in sorted(targets.get(source, ())):
                    if target not in reached_tables and room():
                        reached_tables[target] = step
                        table_via[target] = ("table", source)
                        next_tables.append(target)
                for task_id in sorted(readers.get(source, ())):
                    if task_id not in reached_tasks and room():
                        reached_tasks[task_id] = step
                        task_via[task_id] = source
                        next_tasks.append(task_id)
        if task_frontier:
            written_by = store.tables_of(task_frontier)
            for task_id in task_frontier:
                tt = written_by.get(task_id)
                for written in sorted(tt.writes) if tt is not None else ():
                    if written not in reached_tables and room():
                        reached_tables[written] = step
                        table_via[written] = ("task", task_id)
                        next_tables.append(written)
        table_frontier, task_frontier = next_tables, next_tasks
    workflows: frozenset[int] = frozenset()
    if workflow_of is not None and reached_tasks:
        workflows = frozenset(workflow_of(frozenset(reached_tasks)).values())
    return TableImpact(
        tables=reached_tables,
        tasks=reached_tasks,
        workflows=workflows,
        task_via=task_via,
        table_via=table_via,
        truncated=truncated,
    )


def path_to(impact: TableImpact, task_id: TaskId) -> list[PathStep]:
    """The path by which ``task_id`` was first reached: a changed table, then alternately tables and tasks (a table
    may follow a table: a lineage edge), ending at the task."""
    path: list[PathStep] = [("task", task_id)]
    table = impact.task_via[task_id]
    while True:
        path.append(("table", table))
        via = impact.table_via.get(table)
        if via is None:
            break
        ref = via[1]
        if isinstance(ref, int):
            path.append(("task", ref))
            table = impact.task_via[ref]
        else:
            table = ref
    path.reverse()
    return path


def _check_depth(max_depth: int | None) -> None:
    if max_depth is not None and max_depth < 1:
        raise ValueError("max_depth must be at least 1 (or None for no limit)")
