"""The three ways a lineage change gets its advisory locks (see ``lineage_resolver.locks``), on real PostgreSQL:
lock as the plan reads (one plan), the global exclusive lock past ``max_lock_keys``, and the round protocol when a
key is held by another transaction — each leaves the view exact and releases what it gave up."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import ServiceDatabase, create_engine, session_factory, unit_of_work
from common.outbox import Outbox
from lineage_resolver import service
from lineage_resolver.config import Settings
from lineage_resolver.db.tables import outbox
from lineage_resolver.deps import Deps, build_deps
from lineage_resolver.domain import LineageChange, SetTaskTables
from lineage_resolver.service import apply_lineage_commands, rebuild_dependency_view

from .test_concurrency_and_rebuild import apply_with_retry, random_commands


async def assert_edges_match_view(deps: Deps) -> None:
    """``task_dependency_edge`` = the view's downstream arrays (the service writes the edge deltas itself)."""
    async with deps.sessions() as session:
        edges = set((await session.execute(text("SELECT * FROM task_dependency_edge"))).all())
        rows = (await session.execute(text("SELECT task_id, downstream_task_ids FROM task_dependency_view"))).all()
    assert edges == {(t, d) for t, downs in rows for d in downs}


def make_deps(db: ServiceDatabase, engine: AsyncEngine, *, max_lock_keys: int = 256) -> Deps:
    s = Settings(database_url=db.url, db_schema=db.schema, max_lock_keys=max_lock_keys)
    return build_deps(s, engine, session_factory(engine), Outbox(outbox, source="/tests", topic_name=s.topic))


@pytest.fixture
async def engine(lineage_db: ServiceDatabase) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(lineage_db.url, schema=lineage_db.schema, pool_size=8)
    yield eng
    await eng.dispose()


class PlanCounter:
    """Counts planner runs (``plan_lineage_change`` calls) and which fallback the use case took."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.plans = 0
        self.rounds = 0
        real_plan, real_rounds = service.plan_lineage_change, service._plan_in_rounds

        def plan(*args: Any, **kwargs: Any) -> Any:
            self.plans += 1
            return real_plan(*args, **kwargs)

        async def rounds(*args: Any, **kwargs: Any) -> Any:
            self.rounds += 1
            return await real_rounds(*args, **kwargs)

        monkeypatch.setattr(service, "plan_lineage_change", plan)
        monkeypatch.setattr(service, "_plan_in_rounds", rounds)


async def advisory_locks(session: Any) -> set[tuple[int, str]]:
    """This transaction's advisory locks (a bigint key is shown as two 32-bit halves in pg_locks)."""
    rows = await session.execute(
        text(
            "SELECT (classid::bigint << 32) | objid::bigint, mode FROM pg_locks "
            "WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
    )
    return {(int(k), str(m)) for k, m in rows}


async def test_uncontended_change_is_planned_once_and_keeps_exactly_the_keys_it_read(
    lineage_db: ServiceDatabase, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = make_deps(lineage_db, engine)
    await apply_with_retry(deps, [SetTaskTables(task_id=1, writes=frozenset({"a"}))], "seed")
    counter = PlanCounter(monkeypatch)
    async with unit_of_work(deps.sessions) as session:
        outcome = await apply_lineage_commands(
            session, deps, [SetTaskTables(task_id=2, reads=frozenset({"a"}))], cause_event_id="e1"
        )
        held = await advisory_locks(session)
    assert (counter.plans, counter.rounds) == (1, 0)
    assert [(c.task_id, c.new_upstream, c.new_downstream) for c in outcome.changes] == [(1, (), (2,)), (2, (1,), ())]
    k = deps.keys
    assert (k.global_key, "ShareLock") in held
    for key in (k.table("a"), k.task(1), k.task(2)):
        assert (key, "ExclusiveLock") in held


async def test_past_max_lock_keys_the_change_locks_everything_exclusively(
    lineage_db: ServiceDatabase, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = make_deps(lineage_db, engine, max_lock_keys=3)
    await apply_with_retry(deps, [SetTaskTables(task_id=1, writes=frozenset({"a"}))], "seed")
    for reader in (2, 3, 4):
        await apply_with_retry(deps, [SetTaskTables(task_id=reader, reads=frozenset({"a"}))], f"r{reader}")
    counter = PlanCounter(monkeypatch)
    async with unit_of_work(deps.sessions) as session:
        outcome = await apply_lineage_commands(
            session, deps, [SetTaskTables(task_id=1, writes=frozenset({"a", "b"}))], cause_event_id="e1"
        )
        held = await advisory_locks(session)
    assert counter.rounds == 0
    assert outcome.changes == ()  # readers of "a" keep task 1 upstream; nobody reads "b"
    # the keys the abandoned attempt took went with its savepoint: only the exclusive global lock is left
    assert held == {(deps.keys.global_key, "ExclusiveLock")}
    assert (await rebuild_dependency_view(deps, apply=False)).clean


async def test_a_busy_key_falls_back_to_the_round_protocol_and_waits_for_it(
    lineage_db: ServiceDatabase, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = make_deps(lineage_db, engine)
    await apply_with_retry(deps, [SetTaskTables(task_id=1, writes=frozenset({"a"}))], "seed")
    counter = PlanCounter(monkeypatch)
    blocker = await engine.connect()
    try:
        await blocker.execute(text("BEGIN"))
        await blocker.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": deps.keys.task(1)})
        change = asyncio.create_task(
            apply_with_retry(deps, [SetTaskTables(task_id=2, reads=frozenset({"a"}))], "e1"),
        )
        await asyncio.sleep(0.5)
        assert not change.done(), "the change must wait for the key another transaction holds"
        assert counter.rounds == 1
        # the holder writes what the waiting change reads: task 1 now writes "a" and "c"
        await blocker.execute(
            text("INSERT INTO table_task_relation (task_id, table_name, relation_type) VALUES (1, 'c', 'write')")
        )
        await blocker.execute(text("COMMIT"))
        await asyncio.wait_for(change, timeout=10)
    finally:
        await blocker.close()
    async with deps.sessions() as session:
        rows = dict((await session.execute(text("SELECT task_id, upstream_task_ids FROM task_dependency_view"))).all())
    assert rows[2] == [1]
    assert (await rebuild_dependency_view(deps, apply=False)).clean


@pytest.mark.parametrize("max_lock_keys", [4, 12])
async def test_concurrent_changes_stay_exact_when_many_take_the_exclusive_lock(
    lineage_db: ServiceDatabase, engine: AsyncEngine, max_lock_keys: int
) -> None:
    deps = make_deps(lineage_db, engine, max_lock_keys=max_lock_keys)
    commands: list[LineageChange] = random_commands(random.Random(max_lock_keys), 60)
    semaphore = asyncio.Semaphore(8)

    async def one(i: int, command: LineageChange) -> None:
        async with semaphore:
            await apply_with_retry(deps, [command], f"c{i}")

    await asyncio.gather(*(one(i, c) for i, c in enumerate(commands)))
    assert (await rebuild_dependency_view(deps, apply=False)).clean
    await assert_edges_match_view(deps)


async def test_edges_follow_the_view_through_a_random_sequence_of_changes(
    lineage_db: ServiceDatabase, engine: AsyncEngine
) -> None:
    deps = make_deps(lineage_db, engine)
    for i, command in enumerate(random_commands(random.Random(5), 120)):
        await apply_with_retry(deps, [command], f"c{i}")
        if i % 20 == 19:
            await assert_edges_match_view(deps)
    assert (await rebuild_dependency_view(deps, apply=False)).clean
