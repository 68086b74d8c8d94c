"""Batched, level-by-level traversals over a :class:`LineageReader` (shared by the resolver, queries and cycles)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Set
from enum import Enum

from .model import TableName, TaskId, TaskTables
from .store import LineageReader

_NO_TABLES: frozenset[TableName] = frozenset()


class Direction(Enum):
    """``DOWN`` follows data forward (writes → readers, source → target); ``UP`` follows it backward."""

    DOWN = "down"
    UP = "up"


def lineage_step(
    state: LineageReader, tables: Collection[TableName], direction: Direction
) -> Mapping[TableName, Set[TableName]]:
    if direction is Direction.DOWN:
        return state.lineage_targets(tables)
    return state.lineage_sources(tables)


def reach_all(state: LineageReader, tables: Iterable[TableName], direction: Direction, hops: int) -> set[TableName]:
    """Tables within ``hops`` table lineage edges of any of ``tables`` (``tables`` included)."""
    seen = set(tables)
    frontier = set(seen)
    for _ in range(hops):
        if not frontier:
            break
        step = lineage_step(state, frontier, direction)
        frontier = {n for nexts in step.values() for n in nexts if n not in seen}
        seen |= frontier
    return seen


def reach_each(
    state: LineageReader, tables: Iterable[TableName], direction: Direction, hops: int
) -> dict[TableName, set[TableName]]:
    """For each table, the tables within ``hops`` lineage edges of it (itself included); one batched read per
    level for all sources together."""
    reach = {t: {t} for t in tables}
    frontier = {t: {t} for t in reach}
    for _ in range(hops):
        if not frontier:
            break
        step = lineage_step(state, set().union(*frontier.values()), direction)
        nxt: dict[TableName, set[TableName]] = {}
        for source, front in frontier.items():
            seen = reach[source]
            new = {n for f in front for n in step.get(f, _NO_TABLES) if n not in seen}
            if new:
                seen |= new
                nxt[source] = new
        frontier = nxt
    return reach


def dependency_sets(
    state: LineageReader, task_ids: Collection[TaskId], direction: Direction, hops: int
) -> dict[TaskId, frozenset[TaskId]]:
    """Recompute, from relations (and lineage when ``hops`` > 0), the downstream (``DOWN``) or upstream (``UP``)
    task set of each task. A task is never in its own set."""
    if not task_ids:
        return {}
    tables = state.tables_of(task_ids)
    down = direction is Direction.DOWN

    def own(tt: TaskTables) -> frozenset[TableName]:
        return tt.writes if down else tt.reads

    own_tables: set[TableName] = set()
    for tt in tables.values():
        own_tables |= own(tt)
    reach: dict[TableName, set[TableName]] | None = None
    wanted: Collection[TableName] = own_tables
    if hops:
        reach = reach_each(state, own_tables, direction, hops)
        wanted = set().union(*reach.values()) if reach else set()
    other = state.readers_of(wanted) if down else state.writers_of(wanted)
    out: dict[TaskId, frozenset[TaskId]] = {}
    for task_id in task_ids:
        members: set[TaskId] = set()
        found_tables = tables.get(task_id)
        if found_tables is not None:
            for table in own(found_tables):
                for reached in reach[table] if reach is not None else (table,):
                    found = other.get(reached)
                    if found:
                        members.update(found)
        members.discard(task_id)
        out[task_id] = frozenset(members)
    return out


def self_tables(state: LineageReader, tables: TaskTables, hops: int) -> tuple[TableName, ...]:
    """The task's read tables that its own writes reach (directly, or within ``hops`` lineage edges)."""
    if not tables.reads or not tables.writes:
        return ()
    if not hops:
        return tuple(sorted(tables.self_tables))
    return tuple(sorted(tables.reads & reach_all(state, tables.writes, Direction.DOWN, hops)))


def tasks_touching(state: LineageReader, tables: Collection[TableName], *, readers: bool) -> set[TaskId]:
    found = state.readers_of(tables) if readers else state.writers_of(tables)
    out: set[TaskId] = set()
    for members in found.values():
        out |= members
    return out
