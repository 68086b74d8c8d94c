"""``InMemoryLineageStore``: the dict-backed implementation of :class:`LineageStore` used by tests, benchmarks and as
the reference behaviour the PostgreSQL adapter must match (contract tests)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Set
from typing import TypeVar

from .model import DependencyRow, RelationKind, TableEdge, TableName, TaskId, TaskTables

K = TypeVar("K")
V = TypeVar("V")


class InMemoryLineageStore:
    def __init__(self) -> None:
        self._tasks: dict[TaskId, TaskTables] = {}
        self._readers: dict[TableName, set[TaskId]] = {}
        self._writers: dict[TableName, set[TaskId]] = {}
        self._targets: dict[TableName, set[TableName]] = {}
        self._sources: dict[TableName, set[TableName]] = {}
        self._view: dict[TaskId, DependencyRow] = {}

    @classmethod
    def from_relations(
        cls, relations: Iterable[tuple[TaskId, TableName, RelationKind]], lineage: Iterable[TableEdge] = ()
    ) -> InMemoryLineageStore:
        """Load ``table_task_relation``-shaped rows (the view is left empty; run a rebuild to fill it)."""
        reads: dict[TaskId, set[TableName]] = {}
        writes: dict[TaskId, set[TableName]] = {}
        for task_id, table, kind in relations:
            (reads if kind is RelationKind.READ else writes).setdefault(task_id, set()).add(table)
        store = cls()
        for task_id in reads.keys() | writes.keys():
            store.set_task_tables(
                TaskTables(task_id, frozenset(reads.get(task_id, ())), frozenset(writes.get(task_id, ())))
            )
        store.add_table_lineage(list(lineage))
        return store

    # -- reads -------------------------------------------------------------------------------------------------
    def tables_of(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, TaskTables]:
        return {t: self._tasks[t] for t in task_ids if t in self._tasks}

    def readers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        return _pick(self._readers, tables)

    def writers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        return _pick(self._writers, tables)

    def lineage_targets(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        return _pick(self._targets, tables)

    def lineage_sources(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        return _pick(self._sources, tables)

    def dependency_rows(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, DependencyRow]:
        return {t: self._view[t] for t in task_ids if t in self._view}

    # -- writes ------------------------------------------------------------------------------------------------
    def set_task_tables(self, tables: TaskTables) -> None:
        task_id = tables.task_id
        old = self._tasks.get(task_id)
        if old is not None:
            _unindex(self._readers, old.reads - tables.reads, task_id)
            _unindex(self._writers, old.writes - tables.writes, task_id)
            _index(self._readers, tables.reads - old.reads, task_id)
            _index(self._writers, tables.writes - old.writes, task_id)
        else:
            _index(self._readers, tables.reads, task_id)
            _index(self._writers, tables.writes, task_id)
        if tables.is_empty:
            self._tasks.pop(task_id, None)
        else:
            self._tasks[task_id] = tables

    def add_table_lineage(self, edges: Collection[TableEdge]) -> None:
        for source, target in edges:
            self._targets.setdefault(source, set()).add(target)
            self._sources.setdefault(target, set()).add(source)

    def remove_table_lineage(self, edges: Collection[TableEdge]) -> None:
        for source, target in edges:
            _unindex(self._targets, (source,), target)
            _unindex(self._sources, (target,), source)

    def put_dependency_view_rows(self, rows: Collection[DependencyRow]) -> None:
        for row in rows:
            if row.is_empty:
                self._view.pop(row.task_id, None)
            else:
                self._view[row.task_id] = row

    # -- scans -------------------------------------------------------------------------------------------------
    def iter_task_tables(self) -> Iterator[TaskTables]:
        return iter(list(self._tasks.values()))

    def iter_table_lineage(self) -> Iterator[TableEdge]:
        return iter([(s, t) for s, targets in self._targets.items() for t in targets])

    def iter_dependency_rows(self) -> Iterator[DependencyRow]:
        return iter(list(self._view.values()))

    def view(self) -> dict[TaskId, DependencyRow]:
        """A copy of the whole dependency view (tests)."""
        return dict(self._view)


def _pick(index: dict[K, set[V]], keys: Collection[K]) -> dict[K, set[V]]:
    return {k: index[k] for k in keys if k in index}


def _index(index: dict[K, set[V]], keys: Iterable[K], value: V) -> None:
    for key in keys:
        index.setdefault(key, set()).add(value)


def _unindex(index: dict[K, set[V]], keys: Iterable[K], value: V) -> None:
    for key in keys:
        members = index.get(key)
        if members is not None:
            members.discard(value)
            if not members:
                del index[key]
