"""Concurrency control for lineage changes: transaction-level advisory locks on everything a plan read.

Why not just the change's own tables: the planner recomputes *whole* sets of neighbouring tasks. Task W writes
``r`` and ``x``; change 1 gives task 1 a read of ``r`` and recomputes W's downstream set from the readers of ``r``
*and* ``x``; change 2 gives task 2 a read of ``x`` and recomputes the same set. Locking only {r} and {x} lets both
run at once and the later commit loses the other's reader. So a change locks every key its plan depends on:

- ``table:<name>`` for each table whose readers, writers or lineage edges it read (and the tables it writes);
- ``task:<id>`` for each task whose relations or view row it read (and the tasks it writes).

Every write is covered by a key its writer holds (a task's relations: the task and all its old and new tables; a
lineage edge: both tables; a view row: its task, whose relations are always read before it is recomputed), and
every read by a key its reader holds, so two changes that depend on each other's writes are serialized; independent
ones run in parallel.

The keys are only known while planning, so the use case (``lineage_resolver.service._plan_under_locks``) locks
them as the plan goes — two-phase locking without waits:

1. in a savepoint, take the global lock *shared* and then, before every batched read, *try* to take the keys of
   that read not held yet (:class:`LockingReader`; never waiting while holding others, so no deadlock). A read is
   made only once its keys are held, so the plan (made once) is valid until commit; the savepoint is released and
   its locks stay with the transaction.
2. a key held by another transaction, or more keys than ``max_keys``: roll back to the savepoint (which releases its
   advisory locks) and fall back —
   - past ``max_keys``: take the global lock *exclusive* (one big change at a time; keeps the lock table small) and
     plan once more under it;
   - a busy key: the round protocol. Plan without locks against a :class:`PendingWrites` buffer (nothing is
     written), recording the keys read; take the global lock shared and then all keys in ascending order (blocking;
     every transaction takes its first batch in this one order, so these waits cannot deadlock); plan again under
     the locks; if it read a key not held yet (the data moved in between), *try* to take the new keys and plan
     again; a key held elsewhere raises ``TransientError`` so the runtime rolls back and retries after a backoff.

Either way a plan is accepted only when every key it read was held before that read, so its reads cannot go stale
before commit. Full rebuilds take the global lock exclusive.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Set

from lineage_resolver.domain import (
    AddTableLineage,
    DependencyDelta,
    DependencyRow,
    LineageChange,
    LineageReader,
    RemoveTableLineage,
    RemoveTask,
    SetTaskTables,
    TableEdge,
    TableName,
    TaskId,
    TaskTables,
)


def lock_key(namespace: str, kind: str, value: object) -> int:
    """A signed 64-bit advisory-lock key for ``kind:value`` in ``namespace`` (the service's schema)."""
    digest = hashlib.blake2b(f"{namespace}\x00{kind}\x00{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class KeySpace:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.global_key = lock_key(namespace, "global", "lineage")

    def table(self, name: TableName) -> int:
        return lock_key(self.namespace, "table", name)

    def task(self, task_id: TaskId) -> int:
        return lock_key(self.namespace, "task", task_id)

    def of_commands(self, commands: Iterable[LineageChange]) -> set[int]:
        """Keys of what the commands themselves name (written by them whatever the plan reads)."""
        keys: set[int] = set()
        for command in commands:
            if isinstance(command, SetTaskTables):
                keys.add(self.task(command.task_id))
                keys.update(self.table(t) for t in (command.reads or ()))
                keys.update(self.table(t) for t in (command.writes or ()))
            elif isinstance(command, RemoveTask):
                keys.add(self.task(command.task_id))
            elif isinstance(command, AddTableLineage | RemoveTableLineage):
                for edge in command.edges:
                    keys.update((self.table(edge.source), self.table(edge.target)))
        return keys


class RecordingReader:
    """A :class:`LineageReader` that records the lock keys of everything read through it."""

    def __init__(self, base: LineageReader, keys: KeySpace) -> None:
        self._base = base
        self._space = keys
        self.keys: set[int] = set()

    def _tables(self, tables: Collection[TableName]) -> None:
        self.keys.update(self._space.table(t) for t in tables)

    def _tasks(self, task_ids: Collection[TaskId]) -> None:
        self.keys.update(self._space.task(t) for t in task_ids)

    def tables_of(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, TaskTables]:
        self._tasks(task_ids)
        return self._base.tables_of(task_ids)

    def readers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        self._tables(tables)
        return self._base.readers_of(tables)

    def writers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        self._tables(tables)
        return self._base.writers_of(tables)

    def lineage_targets(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        self._tables(tables)
        return self._base.lineage_targets(tables)

    def lineage_sources(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        self._tables(tables)
        return self._base.lineage_sources(tables)

    def dependency_rows(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, DependencyRow]:
        self._tasks(task_ids)
        return self._base.dependency_rows(task_ids)


class KeysUnavailable(Exception):
    """The lock-as-you-read plan gives up: a key is held by another transaction, or the plan needs more than
    ``max_keys`` keys (``too_many``). The caller rolls back to its savepoint and falls back."""

    def __init__(self, *, too_many: bool) -> None:
        super().__init__("too many lock keys" if too_many else "a lock key is held by another transaction")
        self.too_many = too_many


class LockingReader(RecordingReader):
    """A :class:`RecordingReader` that holds every key before the read that depends on it: ``try_lock`` takes the
    new keys without waiting (``False`` if any is held elsewhere). Raises :class:`KeysUnavailable` instead of reading
    when a key is busy or the keys would pass ``max_keys``; ``keys`` is then the set actually held."""

    def __init__(
        self, base: LineageReader, keys: KeySpace, try_lock: Callable[[Collection[int]], bool], *, max_keys: int
    ) -> None:
        super().__init__(base, keys)
        self._try_lock = try_lock
        self._max_keys = max_keys

    def take(self, keys: Set[int]) -> None:
        new = keys - self.keys
        if not new:
            return
        if len(self.keys) + len(new) > self._max_keys:
            raise KeysUnavailable(too_many=True)
        if not self._try_lock(new):
            raise KeysUnavailable(too_many=False)
        self.keys |= new

    def _tables(self, tables: Collection[TableName]) -> None:
        self._check_size(tables)
        self.take({self._space.table(t) for t in tables})

    def _tasks(self, task_ids: Collection[TaskId]) -> None:
        self._check_size(task_ids)
        self.take({self._space.task(t) for t in task_ids})

    def _check_size(self, items: Collection[object]) -> None:
        """Give up before hashing a batch that alone is past the limit (a hub's readers are thousands)."""
        if len(items) > self._max_keys and len(set(items)) > self._max_keys:
            raise KeysUnavailable(too_many=True)


class PendingWrites:
    """A :class:`LineageReader` over ``base`` with planned deltas laid over it in memory, so the commands of one
    event can be planned one after the other (each sees the previous ones' effects) before anything is written."""

    def __init__(self, base: LineageReader) -> None:
        self._base = base
        self._tasks: dict[TaskId, TaskTables] = {}
        self._edges: dict[TableEdge, bool] = {}
        self._rows: dict[TaskId, DependencyRow] = {}

    def apply(self, delta: DependencyDelta) -> None:
        for tables in delta.task_tables:
            self._tasks[tables.task_id] = tables
        for edge in delta.lineage_added:
            self._edges[edge] = True
        for edge in delta.lineage_removed:
            self._edges[edge] = False
        for row in delta.view_rows:
            self._rows[row.task_id] = row

    def tables_of(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, TaskTables]:
        out = dict(self._base.tables_of([t for t in task_ids if t not in self._tasks]))
        for t in task_ids:
            pending = self._tasks.get(t)
            if pending is not None and not pending.is_empty:
                out[t] = pending
        return out

    def readers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        return self._tasks_by_table(tables, self._base.readers_of(tables), readers=True)

    def writers_of(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TaskId]]:
        return self._tasks_by_table(tables, self._base.writers_of(tables), readers=False)

    def _tasks_by_table(
        self, tables: Collection[TableName], base: Mapping[TableName, Set[TaskId]], *, readers: bool
    ) -> Mapping[TableName, Set[TaskId]]:
        if not self._tasks:
            return base
        out: dict[TableName, Set[TaskId]] = {}
        for table in tables:
            members = {t for t in base.get(table, ()) if t not in self._tasks}
            for task_id, pending in self._tasks.items():
                if table in (pending.reads if readers else pending.writes):
                    members.add(task_id)
            if members:
                out[table] = members
        return out

    def lineage_targets(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        return self._lineage(tables, self._base.lineage_targets(tables), forward=True)

    def lineage_sources(self, tables: Collection[TableName]) -> Mapping[TableName, Set[TableName]]:
        return self._lineage(tables, self._base.lineage_sources(tables), forward=False)

    def _lineage(
        self, tables: Collection[TableName], base: Mapping[TableName, Set[TableName]], *, forward: bool
    ) -> Mapping[TableName, Set[TableName]]:
        if not self._edges:
            return base
        wanted = set(tables)
        out: dict[TableName, set[TableName]] = {k: set(v) for k, v in base.items()}
        for (source, target), present in self._edges.items():
            key, other = (source, target) if forward else (target, source)
            if key not in wanted:
                continue
            if present:
                out.setdefault(key, set()).add(other)
            elif key in out:
                out[key].discard(other)
        return {k: v for k, v in out.items() if v}

    def dependency_rows(self, task_ids: Collection[TaskId]) -> Mapping[TaskId, DependencyRow]:
        out = dict(self._base.dependency_rows([t for t in task_ids if t not in self._rows]))
        for t in task_ids:
            pending = self._rows.get(t)
            if pending is not None and not pending.is_empty:
                out[t] = pending
        return out
