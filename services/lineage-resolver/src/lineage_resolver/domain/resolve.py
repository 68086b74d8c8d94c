"""Incremental resolution: one lineage change → the task dependencies it changes, and nothing more.

``plan_lineage_change`` is pure: it reads the store through batched port calls, lays the change over it (an
:class:`~._overlay.Overlay`) and returns a :class:`DependencyDelta`. ``apply_lineage_change`` plans, then writes the
delta through the port. The affected tasks are:

- task ``T``'s reads/writes change: ``T``, the writers of ``T``'s old ∪ new read tables (their downstream sets may
  change) and the readers of ``T``'s old ∪ new write tables (their upstream sets may change). With
  ``external_lineage_hops = k`` the read/write tables are first widened to the tables within ``k`` lineage edges
  upstream/downstream of them.
- a table lineage edge ``x -> y`` is added or removed: nothing when ``k = 0``; otherwise the writers of the tables
  within ``k - 1`` edges upstream of ``x`` (downstream sets) and the readers of the tables within ``k - 1`` edges
  downstream of ``y`` (upstream sets).

Only the direction that can change is recomputed for each affected task (from relations, not patched from the old
view); the other direction is kept from the stored row. A task whose sets are unchanged gets no row and no event.
"""

from __future__ import annotations

from typing import Any

from ._overlay import Overlay
from ._traverse import Direction, dependency_sets, reach_all, self_tables, tasks_touching
from .commands import AddTableLineage, LineageChange, RemoveTableLineage, RemoveTask, SetTaskTables
from .cycles import added_edges, cycles_closed_by
from .model import (
    CycleReport,
    DependencyDelta,
    DependencyRow,
    ResolverOptions,
    SelfDependency,
    TableEdge,
    TableName,
    TaskDependencyChanged,
    TaskId,
    TaskTables,
)
from .store import LineageReader, LineageStore

DEFAULT_OPTIONS = ResolverOptions()


def plan_lineage_change(
    store: LineageReader, change: LineageChange, options: ResolverOptions = DEFAULT_OPTIONS
) -> DependencyDelta:
    """Compute what ``change`` does to the relations, the lineage and the dependency view, without writing."""
    if isinstance(change, SetTaskTables):
        return _plan_task_tables(store, change.task_id, change.reads, change.writes, options)
    if isinstance(change, RemoveTask):
        return _plan_task_tables(store, change.task_id, frozenset(), frozenset(), options)
    if isinstance(change, AddTableLineage):
        return _plan_lineage_edges(store, {e.as_tuple() for e in change.edges}, True, options)
    if isinstance(change, RemoveTableLineage):
        return _plan_lineage_edges(store, {e.as_tuple() for e in change.edges}, False, options)
    raise TypeError(f"unknown lineage change {type(change).__name__}")  # pragma: no cover - union is closed


def write_delta(store: LineageStore, delta: DependencyDelta) -> None:
    """Persist a planned delta: relations first, then lineage, then the view rows."""
    for tables in delta.task_tables:
        store.set_task_tables(tables)
    if delta.lineage_added:
        store.add_table_lineage(sorted(delta.lineage_added))
    if delta.lineage_removed:
        store.remove_table_lineage(sorted(delta.lineage_removed))
    if delta.view_rows:
        store.put_dependency_view_rows(delta.view_rows)


def apply_lineage_change(
    store: LineageStore, change: LineageChange, options: ResolverOptions = DEFAULT_OPTIONS
) -> DependencyDelta:
    """Plan ``change`` against ``store`` and write the result. Cyclic changes are applied too (see the package
    docstring); the cycles are in ``delta.cycles``."""
    delta = plan_lineage_change(store, change, options)
    write_delta(store, delta)
    return delta


def _plan_task_tables(
    store: LineageReader,
    task_id: TaskId,
    reads: frozenset[TableName] | None,
    writes: frozenset[TableName] | None,
    options: ResolverOptions,
) -> DependencyDelta:
    old = store.tables_of([task_id]).get(task_id) or TaskTables(task_id)
    new = TaskTables(
        task_id,
        old.reads if reads is None else frozenset(reads),
        old.writes if writes is None else frozenset(writes),
    )
    if new == old:
        return DependencyDelta()
    hops = options.external_lineage_hops
    state = Overlay(store, tasks={task_id: new})
    read_side = reach_all(store, old.reads | new.reads, Direction.UP, hops)
    write_side = reach_all(store, old.writes | new.writes, Direction.DOWN, hops)
    down_tasks = {task_id} | tasks_touching(store, read_side, readers=False)
    up_tasks = {task_id} | tasks_touching(store, write_side, readers=True)
    pairs = _recompute(store, state, down_tasks, up_tasks, hops)
    own_loop = self_tables(state, new, hops)
    return _finish(
        state,
        pairs,
        options,
        task_tables=(new,),
        self_dependencies=(SelfDependency(task_id, own_loop),) if own_loop else (),
        affected_tasks=frozenset(down_tasks | up_tasks),
    )


def _plan_lineage_edges(
    store: LineageReader, edges: set[TableEdge], add: bool, options: ResolverOptions
) -> DependencyDelta:
    existing = store.lineage_targets({s for s, _ in edges})
    effective = frozenset(e for e in edges if (e[1] in existing.get(e[0], ())) != add)
    if not effective:
        return DependencyDelta()
    hops = options.external_lineage_hops
    added, removed = (effective, frozenset[TableEdge]()) if add else (frozenset[TableEdge](), effective)
    if not hops:
        return DependencyDelta(lineage_added=added, lineage_removed=removed)
    state = Overlay(store, added=added, removed=removed)
    graph: LineageReader = state if add else store  # the graph that contains the edges
    src_side = reach_all(graph, {s for s, _ in effective}, Direction.UP, hops - 1)
    dst_side = reach_all(graph, {t for _, t in effective}, Direction.DOWN, hops - 1)
    down_tasks = tasks_touching(store, src_side, readers=False)
    up_tasks = tasks_touching(store, dst_side, readers=True)
    pairs = _recompute(store, state, down_tasks, up_tasks, hops)
    loops: list[SelfDependency] = []
    if add:
        candidates = down_tasks & up_tasks
        for tables in state.tables_of(sorted(candidates)).values():
            found = self_tables(state, tables, hops)
            if found:
                loops.append(SelfDependency(tables.task_id, found))
    return _finish(
        state,
        pairs,
        options,
        lineage_added=added,
        lineage_removed=removed,
        self_dependencies=tuple(sorted(loops, key=lambda s: s.task_id)),
        affected_tasks=frozenset(down_tasks | up_tasks),
    )


def _recompute(
    base: LineageReader, state: LineageReader, down_tasks: set[TaskId], up_tasks: set[TaskId], hops: int
) -> list[tuple[DependencyRow, DependencyRow]]:
    """``(old, new)`` rows of the affected tasks whose sets changed, by task id."""
    new_down = dependency_sets(state, down_tasks, Direction.DOWN, hops)
    new_up = dependency_sets(state, up_tasks, Direction.UP, hops)
    affected = down_tasks | up_tasks
    old_rows = base.dependency_rows(affected)
    pairs: list[tuple[DependencyRow, DependencyRow]] = []
    for task_id in sorted(affected):
        old = old_rows.get(task_id) or DependencyRow(task_id)
        new = DependencyRow(task_id, new_up.get(task_id, old.upstream), new_down.get(task_id, old.downstream))
        if new.upstream != old.upstream or new.downstream != old.downstream:
            pairs.append((old, new))
    return pairs


def _finish(
    state: Overlay,
    pairs: list[tuple[DependencyRow, DependencyRow]],
    options: ResolverOptions,
    **fields: Any,
) -> DependencyDelta:
    rows = tuple(new for _, new in pairs)
    cycles: tuple[CycleReport, ...] = ()
    if options.check_cycles and pairs:
        cycles = cycles_closed_by(state.with_rows(rows), added_edges(pairs), options.external_lineage_hops)
    return DependencyDelta(
        view_rows=rows,
        changes=tuple(TaskDependencyChanged.between(old, new) for old, new in pairs),
        cycles=cycles,
        **fields,
    )
