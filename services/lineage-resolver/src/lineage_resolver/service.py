"""Use cases of the lineage-resolver: one function each, one transaction each (the caller's, or their own).

``apply_lineage_commands`` is the write path for Kafka (inside the ``ConsumerRuntime`` transaction that also claims
the event in the inbox) and for ``POST /internal/lineage`` (its own transaction): plan under advisory locks
(:mod:`lineage_resolver.locks`), write the deltas, and stage one ``task.dependency.changed`` per task whose sets
changed in the outbox, all in that one transaction.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

import anyio.from_thread
import anyio.to_thread
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import unit_of_work
from common.errors import NotFound, TransientError
from common.events import DependencyCycle, TaskDependencyChanged
from lineage_resolver.db import jobs
from lineage_resolver.db.repository import LineageRepository, ViewRecord
from lineage_resolver.db.store import PostgresLineageStore
from lineage_resolver.deps import Deps
from lineage_resolver.domain import (
    CycleReport,
    DependencyDelta,
    DependencyRow,
    LineageChange,
    LineageReader,
    LineageStore,
    RemoveTask,
    ResolverOptions,
    SelfDependency,
    TableImpact,
    TableNeighbourhood,
    TaskId,
    TaskLinks,
    TaskTables,
    ViewDiff,
    check_view,
    downstream_of,
    full_rebuild,
    plan_lineage_change,
    table_impact,
    table_known,
    table_neighbourhood,
    task_links,
    upstream_of,
)
from lineage_resolver.domain import (
    TaskDependencyChanged as DomainChange,
)
from lineage_resolver.locks import KeySpace, KeysUnavailable, LockingReader, PendingWrites, RecordingReader

log = logging.getLogger(__name__)

#: planning rounds before giving up on a moving lock set (each extra round means the data changed under us)
MAX_LOCK_ROUNDS = 4
#: outbox rows per statement when a rebuild stages its events
REBUILD_OUTBOX_BATCH = 1000
#: PostgreSQL SQLSTATEs that are worth a retry: serialization failure, deadlock, lock not available
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


class LockContention(TransientError):
    code = "lineage-lock-contention"
    title = "Concurrent lineage change"


@dataclass(frozen=True, slots=True)
class LineageOutcome:
    """What one lineage event did (or would do, for a dry run)."""

    event_id: str
    commands: int
    changes: tuple[TaskDependencyChanged, ...]
    cycles: tuple[CycleReport, ...]
    self_dependencies: tuple[SelfDependency, ...]
    applied: bool


def store_on(session: AsyncSession) -> PostgresLineageStore:
    """The domain port on ``session``, for planners running in a worker thread (``anyio.to_thread``)."""
    return PostgresLineageStore(LineageRepository(session), anyio.from_thread.run)


# -- write path -------------------------------------------------------------------------------------------------


async def apply_lineage_commands(
    session: AsyncSession,
    deps: Deps,
    commands: Sequence[LineageChange],
    *,
    cause_event_id: str,
    dry_run: bool = False,
) -> LineageOutcome:
    """Apply the commands of one lineage event in the caller's transaction and stage the resulting events."""
    repo = LineageRepository(session)
    store = PostgresLineageStore(repo, anyio.from_thread.run)
    try:
        deltas = await _plan_under_locks(session, repo, store, deps, commands)
        if not dry_run:
            await _write_all(repo, deltas)
    except DBAPIError as exc:
        if _sqlstate(exc) in RETRYABLE_SQLSTATES:
            raise TransientError(f"lineage change hit a transient database conflict ({_sqlstate(exc)})") from exc
        raise
    cycles = tuple(c for d in deltas for c in d.cycles)
    changes = _merge_changes(deltas, cycles, cause_event_id)
    if not dry_run:
        await deps.outbox.add_many(session, changes)  # one statement, ids in ``_merge_changes`` order
        removed = [c.task_id for c in commands if isinstance(c, RemoveTask)]
        if removed:  # a removed task's OpenLineage job identity goes with it
            await jobs.delete_identities(session, removed)
    self_deps = tuple(s for d in deltas for s in d.self_dependencies)
    for cycle in cycles:
        log.warning("lineage change %s closes a dependency cycle: %s", cause_event_id, cycle.describe())
    for loop in self_deps:
        log.info("task %d reads tables it writes: %s", loop.task_id, ", ".join(loop.tables))
    return LineageOutcome(
        event_id=cause_event_id,
        commands=len(commands),
        changes=changes,
        cycles=cycles,
        self_dependencies=self_deps,
        applied=not dry_run,
    )


async def submit_lineage(deps: Deps, commands: Sequence[LineageChange], *, dry_run: bool = False) -> LineageOutcome:
    """``POST /internal/lineage``: the same use case in its own transaction (no inbox: commands are idempotent)."""
    async with unit_of_work(deps.sessions) as session:
        return await apply_lineage_commands(
            session, deps, commands, cause_event_id=f"http:{uuid.uuid4()}", dry_run=dry_run
        )


def _plan_sequence(
    reader: LineageReader, commands: Sequence[LineageChange], options: ResolverOptions
) -> list[DependencyDelta]:
    """Plan every command of the event against a write buffer (nothing is written): each sees the previous ones."""
    pending = PendingWrites(reader)
    deltas: list[DependencyDelta] = []
    for command in commands:
        delta = plan_lineage_change(pending, command, options)
        pending.apply(delta)
        deltas.append(delta)
    return deltas


def _plan_all(
    store: LineageStore, commands: Sequence[LineageChange], options: ResolverOptions, keys: KeySpace
) -> tuple[list[DependencyDelta], set[int]]:
    """Plan without locks, recording the keys read (the round protocol)."""
    recorder = RecordingReader(store, keys)
    deltas = _plan_sequence(recorder, commands, options)
    return deltas, recorder.keys | keys.of_commands(commands)


def _plan_locking(
    store: LineageStore,
    commands: Sequence[LineageChange],
    options: ResolverOptions,
    keys: KeySpace,
    try_lock: Callable[[Collection[int]], bool],
    max_keys: int,
) -> list[DependencyDelta]:
    """Plan with each read's keys taken before the read (raises :class:`KeysUnavailable`)."""
    locking = LockingReader(store, keys, try_lock, max_keys=max_keys)
    locking.take(keys.of_commands(commands))
    return _plan_sequence(locking, commands, options)


async def _plan_under_locks(
    session: AsyncSession,
    repo: LineageRepository,
    store: LineageStore,
    deps: Deps,
    commands: Sequence[LineageChange],
) -> list[DependencyDelta]:
    """See :mod:`lineage_resolver.locks`: lock as the plan reads (one plan); else exclusive, or the round protocol."""

    def try_lock(keys: Collection[int]) -> bool:
        return anyio.from_thread.run(partial(repo.try_lock_all, keys))

    savepoint = await session.begin_nested()
    try:
        await repo.lock_shared(deps.keys.global_key)
        deltas = await anyio.to_thread.run_sync(
            _plan_locking, store, commands, deps.options, deps.keys, try_lock, deps.max_lock_keys
        )
    except KeysUnavailable as exc:
        await savepoint.rollback()  # releases every advisory lock taken since the savepoint
        if not exc.too_many:
            return await _plan_in_rounds(repo, store, deps, commands)
        await repo.lock_exclusive(deps.keys.global_key)  # nobody else plans or writes: no keys to record
        return await anyio.to_thread.run_sync(_plan_sequence, store, commands, deps.options)
    await savepoint.commit()  # RELEASE SAVEPOINT: the locks stay with the transaction
    return deltas


async def _plan_in_rounds(
    repo: LineageRepository, store: LineageStore, deps: Deps, commands: Sequence[LineageChange]
) -> list[DependencyDelta]:
    """The fallback when a key is busy: a plan is accepted once every key it read was held before it ran."""
    held: set[int] = set()
    exclusive = False
    for round_no in range(MAX_LOCK_ROUNDS):
        deltas, needed = await anyio.to_thread.run_sync(_plan_all, store, commands, deps.options, deps.keys)
        if exclusive or (round_no > 0 and needed <= held):
            return deltas
        if round_no == 0:
            if len(needed) > deps.max_lock_keys:
                await repo.lock_exclusive(deps.keys.global_key)
                exclusive = True
            else:
                await repo.lock_shared(deps.keys.global_key)
                await repo.lock_all(needed)
                held |= needed
            continue
        missing = needed - held
        if len(held) + len(missing) > deps.max_lock_keys:
            raise LockContention("the change grew past the lock limit while it was planned; retrying")
        if not await repo.try_lock_all(missing):
            raise LockContention("a concurrent lineage change holds tables this change now reaches; retrying")
        held |= missing
    raise LockContention(f"lineage kept changing under this change for {MAX_LOCK_ROUNDS} rounds; retrying")


async def _write_all(repo: LineageRepository, deltas: Sequence[DependencyDelta]) -> None:
    """Write the deltas in order, as ``domain.write_delta`` does, straight on the event loop (no worker thread:
    nothing to compute). Each delta's changes carry the view rows as stored before it (planned under the locks; the
    previous delta's rows for a later command), so the edge table's delta is written from the sets."""
    for delta in deltas:
        for tables in delta.task_tables:
            await repo.set_task_tables(tables)
        if delta.lineage_added:
            await repo.add_table_lineage(sorted(delta.lineage_added))
        if delta.lineage_removed:
            await repo.remove_table_lineage(sorted(delta.lineage_removed))
        if delta.view_rows:
            stored = {
                c.task_id: DependencyRow(c.task_id, frozenset(c.old_upstream), frozenset(c.old_downstream))
                for c in delta.changes
            }
            await repo.put_dependency_view_rows(delta.view_rows, previous=stored)


def _merge_changes(
    deltas: Sequence[DependencyDelta], cycles: Sequence[CycleReport], cause_event_id: str
) -> tuple[TaskDependencyChanged, ...]:
    """One event per task across the event's commands: old sets before the first, new sets after the last; the
    tasks whose links changed most first (then by id). One event on a hub table changes one task's links by
    thousands (a new writer: its downstream set) and each reader's by one: staged first, the hub task's event
    reaches the definition service first, which then handles every workflow it touches at once (one flag, or one
    version, explaining every link) instead of after thousands of one-link events (issue 24)."""
    first: dict[TaskId, DomainChange] = {}
    last: dict[TaskId, DomainChange] = {}
    for delta in deltas:
        for change in delta.changes:
            first.setdefault(change.task_id, change)
            last[change.task_id] = change
    out: list[tuple[int, TaskDependencyChanged]] = []
    for task_id in sorted(last):
        old, new = first[task_id], last[task_id]
        if old.old_upstream == new.new_upstream and old.old_downstream == new.new_downstream:
            continue
        cycle = next((c for c in cycles if task_id in c.tasks), None)
        moved = len(set(old.old_upstream) ^ set(new.new_upstream)) + len(
            set(old.old_downstream) ^ set(new.new_downstream)
        )
        out.append((moved, _event(old, new, cycle, cause_event_id)))
    out.sort(key=lambda x: (-x[0], x[1].task_id))
    return tuple(e for _, e in out)


def _event(old: DomainChange, new: DomainChange, cycle: CycleReport | None, cause: str) -> TaskDependencyChanged:
    """The platform event from the domain's change (``old`` gives the old sets, ``new`` the new ones)."""
    return TaskDependencyChanged(
        task_id=new.task_id,
        old_upstream=old.old_upstream,
        new_upstream=new.new_upstream,
        old_downstream=old.old_downstream,
        new_downstream=new.new_downstream,
        cycle=DependencyCycle(task_path=cycle.tasks, tables=cycle.tables) if cycle is not None else None,
        cause_event_id=cause,
    )


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(code) if code is not None else None


# -- full rebuild -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RebuildReport:
    """The difference between the incremental view and a full recomputation (and what an apply wrote)."""

    dry_run: bool
    missing: tuple[TaskId, ...]
    extra: tuple[TaskId, ...]
    different: tuple[TaskId, ...]
    rows_written: int
    events_emitted: int

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.different)


async def rebuild_dependency_view(deps: Deps, *, apply: bool) -> RebuildReport:
    """Recompute ``task_dependency_view`` from the stored relations and report every difference from the
    incremental state. ``apply`` writes the differing rows and emits their events; it takes the global lock
    exclusively, so no lineage change runs meanwhile. A dry run reads one snapshot and blocks nothing."""
    if not apply:
        async with deps.snapshots() as session, session.begin():
            diff = await anyio.to_thread.run_sync(check_view, store_on(session), deps.options)
        return _report(diff, dry_run=True, written=0, emitted=0)
    async with unit_of_work(deps.sessions) as session:
        repo = LineageRepository(session)
        await repo.lock_exclusive(deps.keys.global_key)
        diff = await anyio.to_thread.run_sync(full_rebuild, store_on(session), deps.options)
        cause = f"rebuild:{uuid.uuid4()}"
        events = 0
        batch: list[TaskDependencyChanged] = []
        for change in diff.changes():
            batch.append(_event(change, change, None, cause))
            if len(batch) == REBUILD_OUTBOX_BATCH:
                events += len(await deps.outbox.add_many(session, batch))
                batch.clear()
        events += len(await deps.outbox.add_many(session, batch))
    report = _report(diff, dry_run=False, written=len(diff.rows_to_write()), emitted=events)
    if not report.clean:
        log.warning(
            "full rebuild repaired the dependency view",
            extra={"missing": len(report.missing), "extra": len(report.extra), "different": len(report.different)},
        )
    return report


def _report(diff: ViewDiff, *, dry_run: bool, written: int, emitted: int) -> RebuildReport:
    return RebuildReport(
        dry_run=dry_run,
        missing=tuple(r.task_id for r in diff.missing),
        extra=tuple(r.task_id for r in diff.extra),
        different=tuple(current.task_id for current, _ in diff.different),
        rows_written=written,
        events_emitted=emitted,
    )


# -- queries ------------------------------------------------------------------------------------------------------


class Direction(StrEnum):
    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


async def task_dependencies(deps: Deps, task_id: TaskId, direction: Direction, depth: int) -> dict[TaskId, int]:
    """Tasks upstream or downstream of ``task_id`` with their distance (1 = direct), up to ``depth``."""
    walk = upstream_of if direction is Direction.UPSTREAM else downstream_of
    async with deps.snapshots() as session, session.begin():
        store = store_on(session)
        return await anyio.to_thread.run_sync(lambda: walk(store, task_id, max_depth=depth))


async def dependency_view(deps: Deps, task_ids: Sequence[TaskId]) -> dict[TaskId, ViewRecord]:
    async with deps.snapshots() as session, session.begin():
        return await LineageRepository(session).view_records(task_ids)


async def task_tables(deps: Deps, task_ids: Sequence[TaskId]) -> dict[TaskId, TaskTables]:
    async with deps.snapshots() as session, session.begin():
        return await LineageRepository(session).tables_of(task_ids)


async def filter_tasks(
    deps: Deps, *, upstream: TaskId | None, downstream: TaskId | None, after: TaskId | None, limit: int
) -> list[TaskId]:
    async with deps.snapshots() as session, session.begin():
        return await LineageRepository(session).tasks_with(
            upstream=upstream, downstream=downstream, after=after, limit=limit
        )


async def impact_of_table(deps: Deps, table: str, depth: int) -> TableImpact:
    """Tables and tasks downstream of ``table`` (task ids only: workflows are the definition service's to map)."""
    async with deps.snapshots() as session, session.begin():
        store = store_on(session)
        return await anyio.to_thread.run_sync(lambda: table_impact(store, [table], max_depth=depth))


class UnknownTable(NotFound):
    code = "unknown-table"
    title = "Table not known to lineage"

    def __init__(self, table: str) -> None:
        super().__init__(
            f"table {table!r} is not known to lineage: no task reads or writes it and no lineage edge names it",
            table=table,
        )


@dataclass(frozen=True, slots=True)
class TableMatch:
    table: str
    readers: int
    writers: int


async def search_tables(deps: Deps, fragment: str, limit: int) -> list[TableMatch]:
    """Table names containing ``fragment`` with their reader and writer counts."""
    async with deps.snapshots() as session, session.begin():
        repo = LineageRepository(session)
        names = await repo.search_tables(fragment, limit)
        counts = await repo.relation_counts(names)
    return [TableMatch(n, *counts.get(n, (0, 0))) for n in names]


async def table_lineage(deps: Deps, table: str, depth: int, *, max_tables: int, max_tasks: int) -> TableNeighbourhood:
    """The neighbourhood of ``table`` (404 ``unknown-table`` when lineage does not know it)."""
    async with deps.snapshots() as session, session.begin():
        store = store_on(session)

        def walk() -> TableNeighbourhood | None:
            if not table_known(store, table):
                return None
            return table_neighbourhood(store, table, depth=depth, max_tables=max_tables, max_tasks=max_tasks)

        found = await anyio.to_thread.run_sync(walk)
    if found is None:
        raise UnknownTable(table)
    return found


async def affected_by_table(deps: Deps, table: str, depth: int, *, max_nodes: int) -> TableImpact:
    """What a late or changed ``table`` reaches downstream, with a path to each task (404 when unknown)."""
    async with deps.snapshots() as session, session.begin():
        store = store_on(session)

        def walk() -> TableImpact | None:
            if not table_known(store, table):
                return None
            return table_impact(store, [table], max_depth=depth, max_nodes=max_nodes)

        found = await anyio.to_thread.run_sync(walk)
    if found is None:
        raise UnknownTable(table)
    return found


async def links_among(deps: Deps, task_ids: Sequence[TaskId], depth: int, *, max_visits: int) -> TaskLinks:
    """Lineage dependencies among ``task_ids``: direct (with tables) and transitive within ``depth``."""
    async with deps.snapshots() as session, session.begin():
        store = store_on(session)
        return await anyio.to_thread.run_sync(lambda: task_links(store, task_ids, depth=depth, max_visits=max_visits))
