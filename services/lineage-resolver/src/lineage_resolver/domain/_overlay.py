"""A read-only view of a :class:`LineageReader` with pending changes laid over it.

It lets the resolver compute the state *after* a change without writing anything (so ``plan_lineage_change`` is
pure and works as a preview), and lets the PostgreSQL adapter keep loading only the rows it is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Set

from .model import DependencyRow, TableEdge, TableName, TaskId, TaskTables
from .store import LineageReader


class Overlay:
    def __init__(
        self,
        base: LineageReader,
        *,
        tasks: Mapping[TaskId, TaskTables] | None = None,
        added: Collection[TableEdge] = (),
        removed: Collection[TableEdge] = (),
        rows: Collection[DependencyRow] = (),
    ) -> None:
        self._base = base
        self._tasks = dict(tasks or {})
        self._added_out: dict[TableName, set[TableName]] = {}
        self._added_in: dict[TableName, set[TableName]] = {}
        self._removed_out: dict[TableName, set[TableName]] = {}
        self._removed_in: dict[TableName, set[TableName]] = {}
        for s, t in added:
            self._added_out.setdefault(s, set()).add(t)
            self._added_in.setdefault(t, set()).add(s)
        for s, t in removed:
            self._removed_out.setdefault(s, set()).add(t)
            self._removed_in.setdefault(t, set()).add(s)
        self._rows = {r.task_id: r for r in rows}

    def with_rows(self, rows: Collection[DependencyRow]) -> Overlay:
        out = Overlay(self._base, tasks=self._tasks, rows=[*self._rows.values(), *rows])
        out._added_out, out._added_in = self._added_out, self._added_in
        out._removed_out, out._removed_in = self._removed_out, self._removed_in
        return out

    def tables_of(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, TaskTables]:
        if not self._tasks:
            return self._base.tables_of(task_ids)
        rest = [t for t in task_ids if t not in self._tasks]
        out = dict(self._base.tables_of(rest)) if rest else {}
        for t in task_ids:
            tt = self._tasks.get(t)
            if tt is not None and not tt.is_empty:
                out[t] = tt
        return out

    def readers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        return self._patch_tasks(self._base.readers_of(tables), tables, lambda tt: tt.reads)

    def writers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        return self._patch_tasks(self._base.writers_of(tables), tables, lambda tt: tt.writes)

    def lineage_targets(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        return _patch_edges(self._base.lineage_targets(tables), tables, self._added_out, self._removed_out)

    def lineage_sources(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        return _patch_edges(self._base.lineage_sources(tables), tables, self._added_in, self._removed_in)

    def dependency_rows(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, DependencyRow]:
        if not self._rows:
            return self._base.dependency_rows(task_ids)
        rest = [t for t in task_ids if t not in self._rows]
        out = dict(self._base.dependency_rows(rest)) if rest else {}
        for t in task_ids:
            row = self._rows.get(t)
            if row is not None and not row.is_empty:
                out[t] = row
        return out

    def _patch_tasks(
        self,
        found: Mapping[TableName, Set[TaskId]],
        tables: Collection[TableName],
        side: Callable[[TaskTables], frozenset[TableName]],
    ) -> Mapping[TableName, Set[TaskId]]:
        if not self._tasks:
            return found
        out: dict[TableName, Set[TaskId]] = {}
        for table in tables:
            members: Set[TaskId] = found.get(table, frozenset())
            add = [t for t, tt in self._tasks.items() if table in side(tt) and t not in members]
            drop = [t for t, tt in self._tasks.items() if table not in side(tt) and t in members]
            if add or drop:  # copy only when an overridden task's membership differs (hub sets are large)
                patched = set(members)
                patched.update(add)
                patched.difference_update(drop)
                members = patched
            if members:
                out[table] = members
        return out


def _patch_edges(
    found: Mapping[TableName, Set[TableName]],
    tables: Collection[TableName],
    added: Mapping[TableName, set[TableName]],
    removed: Mapping[TableName, set[TableName]],
) -> Mapping[TableName, Set[TableName]]:
    if not added and not removed:
        return found
    out = dict(found)
    for table in tables:
        plus = added.get(table)
        minus = removed.get(table)
        if plus is None and minus is None:
            continue
        members = set(found.get(table, ()))
        if plus:
            members |= plus
        if minus:
            members -= minus
        if members:
            out[table] = members
        else:
            out.pop(table, None)
    return out
