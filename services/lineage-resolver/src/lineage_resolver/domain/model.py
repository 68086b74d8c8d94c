"""Value types of the lineage domain.

Internal values (``TaskTables``, ``DependencyRow``, reports, ``DependencyDelta``) are frozen ``dataclass(slots=True)``
rather than pydantic models: a full rebuild creates one ``DependencyRow`` per task (hundreds of thousands), and these
values never cross a process boundary unconverted. ``TaskDependencyChanged`` is the payload the service emits, so it is
a frozen pydantic model with sorted tuples (stable JSON).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

TaskId = int
TableName = str
TableEdge = tuple[TableName, TableName]
"""A table→table lineage edge ``(source, target)``: data of ``source`` flows into ``target``."""

_EMPTY_TABLES: frozenset[TableName] = frozenset()
_EMPTY_TASKS: frozenset[TaskId] = frozenset()


class RelationKind(StrEnum):
    """``table_task_relation.relation_type``."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class TaskTables:
    """The tables one task reads and writes (its rows in ``table_task_relation``). Both empty = no rows."""

    task_id: TaskId
    reads: frozenset[TableName] = _EMPTY_TABLES
    writes: frozenset[TableName] = _EMPTY_TABLES

    @property
    def is_empty(self) -> bool:
        return not self.reads and not self.writes

    @property
    def self_tables(self) -> frozenset[TableName]:
        """Tables the task both reads and writes (a direct self-dependency, ignored as a task dependency)."""
        return self.reads & self.writes


@dataclass(frozen=True, slots=True)
class DependencyRow:
    """One row of ``task_dependency_view``. A row with both sets empty means "no row" (it is deleted)."""

    task_id: TaskId
    upstream: frozenset[TaskId] = _EMPTY_TASKS
    downstream: frozenset[TaskId] = _EMPTY_TASKS

    @property
    def upstream_count(self) -> int:
        return len(self.upstream)

    @property
    def downstream_count(self) -> int:
        return len(self.downstream)

    @property
    def is_empty(self) -> bool:
        return not self.upstream and not self.downstream


class TaskDependencyChanged(BaseModel):
    """A task whose upstream and/or downstream task set changed (payload of ``task.dependency.changed``)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["task.dependency.changed"] = "task.dependency.changed"
    version: Literal[1] = 1
    task_id: TaskId
    old_upstream: tuple[TaskId, ...]
    new_upstream: tuple[TaskId, ...]
    old_downstream: tuple[TaskId, ...]
    new_downstream: tuple[TaskId, ...]

    @classmethod
    def between(cls, old: DependencyRow, new: DependencyRow) -> TaskDependencyChanged:
        old_up, new_up = _sorted_pair(old.upstream, new.upstream)
        old_down, new_down = _sorted_pair(old.downstream, new.downstream)
        return cls(
            task_id=new.task_id,
            old_upstream=old_up,
            new_upstream=new_up,
            old_downstream=old_down,
            new_downstream=new_down,
        )

    @property
    def upstream_added(self) -> frozenset[TaskId]:
        return frozenset(self.new_upstream) - frozenset(self.old_upstream)

    @property
    def upstream_removed(self) -> frozenset[TaskId]:
        return frozenset(self.old_upstream) - frozenset(self.new_upstream)

    @property
    def downstream_added(self) -> frozenset[TaskId]:
        return frozenset(self.new_downstream) - frozenset(self.old_downstream)

    @property
    def downstream_removed(self) -> frozenset[TaskId]:
        return frozenset(self.old_downstream) - frozenset(self.new_downstream)


@dataclass(frozen=True, slots=True)
class SelfDependency:
    """A task that reads what it writes. Never a task dependency; reported so the producer can be told."""

    task_id: TaskId
    tables: tuple[TableName, ...]
    """The task's read tables that its own writes reach (directly, or through external lineage when enabled)."""


@dataclass(frozen=True, slots=True)
class DependencyLink:
    """Why ``upstream`` is a dependency of ``downstream``: the table paths from one of upstream's written tables to
    one of downstream's read tables. A path of length 1 is a table written by one and read by the other; longer paths
    go through external table lineage (only when ``external_lineage_hops`` > 0)."""

    upstream: TaskId
    downstream: TaskId
    paths: tuple[tuple[TableName, ...], ...]

    @property
    def tables(self) -> tuple[TableName, ...]:
        return _distinct(t for path in self.paths for t in path)


@dataclass(frozen=True, slots=True)
class CycleReport:
    """A cycle among task dependencies closed by a change.

    ``tasks`` is closed (first == last) and rotated to start at its smallest task id; ``links[i]`` explains the edge
    ``tasks[i] -> tasks[i+1]``.
    """

    tasks: tuple[TaskId, ...]
    links: tuple[DependencyLink, ...]

    @property
    def tables(self) -> tuple[TableName, ...]:
        """Every table on the cycle, in cycle order, each once."""
        return _distinct(t for link in self.links for t in link.tables)

    def describe(self) -> str:
        parts = [str(self.tasks[0])]
        for link in self.links:
            via = ", ".join(">".join(p) for p in link.paths)
            parts.append(f"-[{via}]-> {link.downstream}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class DependencyDelta:
    """The outcome of one lineage change: what to write, what to emit, what to report.

    - ``task_tables``: relation writes (a ``TaskTables`` with both sets empty deletes the task's relations).
    - ``lineage_added`` / ``lineage_removed``: table lineage edges that actually change (idempotent re-sends are
      dropped).
    - ``view_rows``: ``task_dependency_view`` rows to upsert; an empty row means delete.
    - ``changes``: one ``TaskDependencyChanged`` per task whose upstream or downstream set changed, sorted by task id.
    - ``self_dependencies`` and ``cycles``: reports; neither blocks the change.
    - ``affected_tasks``: every task whose sets were recomputed (for metrics and tracing).
    """

    task_tables: tuple[TaskTables, ...] = ()
    lineage_added: frozenset[TableEdge] = frozenset()
    lineage_removed: frozenset[TableEdge] = frozenset()
    view_rows: tuple[DependencyRow, ...] = ()
    changes: tuple[TaskDependencyChanged, ...] = ()
    self_dependencies: tuple[SelfDependency, ...] = ()
    cycles: tuple[CycleReport, ...] = ()
    affected_tasks: frozenset[TaskId] = field(default_factory=frozenset)

    @property
    def is_noop(self) -> bool:
        """Nothing to write (an idempotent re-delivery, or a change that changes nothing)."""
        return not (self.task_tables or self.lineage_added or self.lineage_removed or self.view_rows)


@dataclass(frozen=True, slots=True)
class ResolverOptions:
    """How lineage becomes task dependencies.

    ``external_lineage_hops``: 0 (default) means table→table lineage never creates a task dependency. ``k`` > 0 means
    task A is also upstream of task B when a table A writes reaches a table B reads through at most ``k`` table
    lineage edges (views, replication, loads done outside the platform). Must be the same for incremental updates and
    full rebuilds, or the two disagree.
    ``check_cycles``: search for cycles closed by each change (bidirectional BFS over the dependency view).
    """

    external_lineage_hops: int = 0
    check_cycles: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.external_lineage_hops <= 16:
            raise ValueError("external_lineage_hops must be between 0 and 16")


def _sorted_pair(old: frozenset[TaskId], new: frozenset[TaskId]) -> tuple[tuple[TaskId, ...], tuple[TaskId, ...]]:
    """Both sets as sorted tuples. Hub tasks have tens of thousands of dependents and a change moves a few, so the
    new order is patched from the old one (bisect) instead of sorting twice."""
    old_sorted = sorted(old)
    if new == old:
        same = tuple(old_sorted)
        return same, same
    removed = old - new
    added = new - old
    if len(removed) + len(added) > 64:
        return tuple(old_sorted), tuple(sorted(new))
    patched = list(old_sorted)
    for task_id in removed:
        del patched[bisect_left(patched, task_id)]
    for task_id in added:
        insort(patched, task_id)
    return tuple(old_sorted), tuple(patched)


def _distinct(items: Iterable[TableName]) -> tuple[TableName, ...]:
    return tuple(dict.fromkeys(items))
