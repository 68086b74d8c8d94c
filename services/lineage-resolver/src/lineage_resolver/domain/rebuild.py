"""Full recomputation of ``task_dependency_view`` and the diff of two views.

Used by the "full rebuild" command and to check that the incremental state is right (the property tests compare the
two after every event). The rebuild interns table names as small ints and keeps only two indexes (reads per task,
writers per table); downstream sets are the inversion of upstream sets, so readers are never indexed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .model import (
    DependencyRow,
    RelationKind,
    ResolverOptions,
    TableEdge,
    TableName,
    TaskDependencyChanged,
    TaskId,
    TaskTables,
)
from .store import LineageStore

View = dict[TaskId, DependencyRow]
DEFAULT_OPTIONS = ResolverOptions()


class _Builder:
    def __init__(self) -> None:
        self.table_ids: dict[TableName, int] = {}
        self.reads: dict[TaskId, set[int]] = {}
        self.writers: dict[int, list[TaskId]] = {}
        self.tasks: set[TaskId] = set()

    def table(self, name: TableName) -> int:
        found = self.table_ids.get(name)
        if found is None:
            found = self.table_ids[name] = len(self.table_ids)
        return found

    def add(self, task_id: TaskId, table: TableName, kind: RelationKind) -> None:
        self.tasks.add(task_id)
        if kind is RelationKind.READ:
            self.reads.setdefault(task_id, set()).add(self.table(table))
        else:
            self.writers.setdefault(self.table(table), []).append(task_id)

    def build(self, lineage: Iterable[TableEdge], hops: int) -> View:
        sources_of: dict[int, list[int]] = {}
        if hops:
            for source, target in lineage:
                sources_of.setdefault(self.table(target), []).append(self.table(source))
        feeders: dict[int, frozenset[TaskId]] = {}  # read table -> tasks whose writes reach it

        def feeders_of(table: int) -> frozenset[TaskId]:
            found = feeders.get(table)
            if found is None:
                seen = {table}
                frontier = [table]
                for _ in range(hops):
                    frontier = [s for t in frontier for s in sources_of.get(t, ()) if s not in seen]
                    seen.update(frontier)
                    if not frontier:
                        break
                found = frozenset(w for t in seen for w in self.writers.get(t, ()))
                feeders[table] = found
            return found

        upstream: dict[TaskId, frozenset[TaskId]] = {}
        downstream: dict[TaskId, list[TaskId]] = {}  # no duplicates: each reader adds itself once per upstream
        for task_id, tables in self.reads.items():
            ups: set[TaskId] = set()
            for table in tables:
                if hops:
                    ups |= feeders_of(table)
                else:
                    ups.update(self.writers.get(table, ()))
            ups.discard(task_id)
            if ups:
                upstream[task_id] = frozenset(ups)
                for up in ups:
                    downs = downstream.get(up)
                    if downs is None:
                        downstream[up] = [task_id]
                    else:
                        downs.append(task_id)
        self.reads.clear()
        self.writers.clear()
        feeders.clear()
        empty: frozenset[TaskId] = frozenset()
        view: View = {}
        for task_id in sorted(upstream.keys() | downstream.keys()):
            down_list = downstream.pop(task_id, None)
            view[task_id] = DependencyRow(
                task_id, upstream.pop(task_id, empty), frozenset(down_list) if down_list else empty
            )
        return view


def rebuild_from_relations(
    relations: Iterable[tuple[TaskId, TableName, RelationKind]],
    lineage: Iterable[TableEdge] = (),
    options: ResolverOptions = DEFAULT_OPTIONS,
) -> View:
    """The whole view from ``table_task_relation`` rows ``(task_id, table, kind)`` (and ``data_lineage`` edges, used
    only when ``options.external_lineage_hops`` > 0). Rows for tasks without any dependency are omitted."""
    builder = _Builder()
    for task_id, table, kind in relations:
        builder.add(task_id, table, kind)
    return builder.build(lineage, options.external_lineage_hops)


def rebuild_dependency_view(
    task_tables: Iterable[TaskTables],
    lineage: Iterable[TableEdge] = (),
    options: ResolverOptions = DEFAULT_OPTIONS,
) -> View:
    """Same as :func:`rebuild_from_relations`, from per-task table sets."""
    builder = _Builder()
    for tables in task_tables:
        for table in tables.reads:
            builder.add(tables.task_id, table, RelationKind.READ)
        for table in tables.writes:
            builder.add(tables.task_id, table, RelationKind.WRITE)
    return builder.build(lineage, options.external_lineage_hops)


@dataclass(frozen=True, slots=True)
class ViewDiff:
    """How ``current`` differs from ``expected``: rows missing, rows that should not exist, rows that differ."""

    missing: tuple[DependencyRow, ...]
    extra: tuple[DependencyRow, ...]
    different: tuple[tuple[DependencyRow, DependencyRow], ...]
    """``(current, expected)`` pairs."""

    @property
    def is_clean(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def rows_to_write(self) -> tuple[DependencyRow, ...]:
        """Rows that turn ``current`` into ``expected`` (empty rows delete)."""
        rows = [*self.missing, *(DependencyRow(r.task_id) for r in self.extra), *(e for _, e in self.different)]
        return tuple(sorted(rows, key=lambda r: r.task_id))

    def changes(self) -> tuple[TaskDependencyChanged, ...]:
        """The events a rebuild that writes :meth:`rows_to_write` emits."""
        pairs = [
            *((DependencyRow(r.task_id), r) for r in self.missing),
            *((r, DependencyRow(r.task_id)) for r in self.extra),
            *self.different,
        ]
        return tuple(TaskDependencyChanged.between(old, new) for old, new in sorted(pairs, key=lambda p: p[0].task_id))


def diff_views(current: Mapping[TaskId, DependencyRow], expected: Mapping[TaskId, DependencyRow]) -> ViewDiff:
    """Compare two views; empty rows count as absent."""
    missing: list[DependencyRow] = []
    different: list[tuple[DependencyRow, DependencyRow]] = []
    for task_id, want in expected.items():
        if want.is_empty:
            continue
        have = current.get(task_id)
        if have is None or have.is_empty:
            missing.append(want)
        elif have.upstream != want.upstream or have.downstream != want.downstream:
            different.append((have, want))
    extra = [
        have
        for task_id, have in current.items()
        if not have.is_empty and (task_id not in expected or expected[task_id].is_empty)
    ]
    return ViewDiff(
        missing=tuple(sorted(missing, key=lambda r: r.task_id)),
        extra=tuple(sorted(extra, key=lambda r: r.task_id)),
        different=tuple(sorted(different, key=lambda p: p[0].task_id)),
    )


def check_view(store: LineageStore, options: ResolverOptions = DEFAULT_OPTIONS) -> ViewDiff:
    """Rebuild from the store's relations and diff against its stored view (read-only)."""
    expected = rebuild_dependency_view(store.iter_task_tables(), store.iter_table_lineage(), options)
    current = {row.task_id: row for row in store.iter_dependency_rows()}
    return diff_views(current, expected)


def full_rebuild(store: LineageStore, options: ResolverOptions = DEFAULT_OPTIONS) -> ViewDiff:
    """Rebuild and write only the rows that differ; the diff's :meth:`ViewDiff.changes` are the events to emit."""
    diff = check_view(store, options)
    rows = diff.rows_to_write()
    if rows:
        store.put_dependency_view_rows(rows)
    return diff
