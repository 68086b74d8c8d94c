"""Use cases directly on real PostgreSQL: concurrent changes stay exact (advisory locks), multi-command events, and
the full-rebuild command."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import ServiceDatabase, create_engine, session_factory, unit_of_work
from common.errors import TransientError
from common.events import LineageChanged, TableEdge, TaskDependencyChanged, registry
from common.outbox import Outbox
from common.testing.fixtures import ProvisionFn
from lineage_resolver.__main__ import main
from lineage_resolver.config import Settings
from lineage_resolver.db.tables import outbox
from lineage_resolver.deps import Deps, build_deps
from lineage_resolver.domain import (
    AddTableLineage,
    LineageChange,
    RemoveTableLineage,
    RemoveTask,
    SetTaskTables,
    TableLineageEdge,
)
from lineage_resolver.messages import commands_from_event
from lineage_resolver.service import apply_lineage_commands, rebuild_dependency_view


def make_deps(db: ServiceDatabase, engine: AsyncEngine, *, hops: int = 0) -> Deps:
    s = Settings(database_url=db.url, db_schema=db.schema, external_lineage_hops=hops)
    writer = Outbox(outbox, source="/tests", topic_name=s.topic)
    return build_deps(s, engine, session_factory(engine), writer)


@pytest.fixture
async def engine(lineage_db: ServiceDatabase) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(lineage_db.url, schema=lineage_db.schema, pool_size=8)
    yield eng
    await eng.dispose()


async def apply_with_retry(deps: Deps, commands: Sequence[LineageChange], cause: str) -> None:
    """What the consumer runtime does: a transient error rolls back and retries the whole transaction."""
    for attempt in range(50):
        try:
            async with unit_of_work(deps.sessions) as session:
                await apply_lineage_commands(session, deps, commands, cause_event_id=cause)
            return
        except TransientError:
            await asyncio.sleep(0.005 * (attempt + 1))
    raise AssertionError(f"{cause} never got through")


def random_commands(rng: random.Random, n: int) -> list[LineageChange]:
    tables = [f"t{i}" for i in range(6)]
    out: list[LineageChange] = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.75:
            out.append(
                SetTaskTables(
                    task_id=rng.randint(1, 12),
                    reads=frozenset(rng.sample(tables, rng.randint(0, 2))),
                    writes=frozenset(rng.sample(tables, rng.randint(0, 2))),
                )
            )
        elif roll < 0.8:
            out.append(RemoveTask(task_id=rng.randint(1, 12)))
        else:
            s, t = rng.sample(tables, 2)
            edge = (TableLineageEdge(source=s, target=t),)
            out.append(AddTableLineage(edges=edge) if roll < 0.92 else RemoveTableLineage(edges=edge))
    return out


@pytest.mark.parametrize("hops", [0, 1])
async def test_concurrent_changes_leave_an_exact_view_and_chained_events(
    lineage_db: ServiceDatabase, engine: AsyncEngine, hops: int
) -> None:
    deps = make_deps(lineage_db, engine, hops=hops)
    commands = random_commands(random.Random(20 + hops), 80)
    semaphore = asyncio.Semaphore(8)

    async def one(i: int, command: LineageChange) -> None:
        async with semaphore:
            await apply_with_retry(deps, [command], f"c{i}")

    await asyncio.gather(*(one(i, c) for i, c in enumerate(commands)))

    report = await rebuild_dependency_view(deps, apply=False)
    assert report.clean, report

    # per task, in outbox order, each event starts from the sets the previous one ended with (no lost update)
    async with deps.sessions() as session:
        values = (await session.scalars(select(outbox.c.value).order_by(outbox.c.id))).all()
    by_task: dict[int, list[TaskDependencyChanged]] = defaultdict(list)
    for value in values:
        event = registry.decode(value)[1]
        assert isinstance(event, TaskDependencyChanged)
        by_task[event.task_id].append(event)
    assert by_task
    for task_id, events in by_task.items():
        for before, after in itertools.pairwise(events):
            assert (after.old_upstream, after.old_downstream) == (before.new_upstream, before.new_downstream), task_id


async def test_one_event_with_edges_and_task_tables_is_planned_as_a_sequence(
    lineage_db: ServiceDatabase, engine: AsyncEngine
) -> None:
    deps = make_deps(lineage_db, engine, hops=1)
    await apply_with_retry(deps, commands_from_event(LineageChanged(task_id=1, write_tables=("x",))), "e1")
    event = LineageChanged(
        table_edges_added=(TableEdge(source_table="x", target_table="y"),), task_id=2, read_tables=("y",)
    )
    async with unit_of_work(deps.sessions) as session:
        outcome = await apply_lineage_commands(session, deps, commands_from_event(event), cause_event_id="e2")
    assert [(c.task_id, c.new_upstream, c.new_downstream) for c in outcome.changes] == [(1, (), (2,)), (2, (1,), ())]
    assert (await rebuild_dependency_view(deps, apply=False)).clean


async def test_rebuild_command_reports_and_repairs_differences(
    lineage_db: ServiceDatabase,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deps = make_deps(lineage_db, engine)
    for i, event in enumerate(
        [
            LineageChanged(task_id=1, write_tables=("a",)),
            LineageChanged(task_id=2, read_tables=("a",), write_tables=("b",)),
            LineageChanged(task_id=3, read_tables=("b",)),
        ]
    ):
        await apply_with_retry(deps, commands_from_event(event), f"e{i}")
    async with unit_of_work(deps.sessions) as session:
        await session.execute(text("DELETE FROM task_dependency_view WHERE task_id = 3"))
        await session.execute(text("UPDATE task_dependency_view SET downstream_task_ids = '{}' WHERE task_id = 2"))
        await session.execute(text("DELETE FROM outbox"))

    monkeypatch.setenv("LINEAGE_DATABASE_URL", lineage_db.url.get_secret_value())
    monkeypatch.setenv("LINEAGE_DB_SCHEMA", lineage_db.schema)
    code = await asyncio.to_thread(main, ["rebuild"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 1
    assert (report["clean"], report["missing"], report["different"], report["rows_written"]) == (False, [3], [2], 0)

    code = await asyncio.to_thread(main, ["rebuild", "--apply"])
    assert code == 0
    async with deps.sessions() as session:
        emitted = [registry.decode(v)[1] for v in (await session.scalars(select(outbox.c.value))).all()]
    assert sorted(
        (e.task_id, e.new_upstream, e.new_downstream) for e in emitted if isinstance(e, TaskDependencyChanged)
    ) == [
        (2, (1,), (3,)),
        (3, (2,), ()),
    ]
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["rebuild"]) == 0
    assert json.loads(capsys.readouterr().out)["clean"] is True


async def test_migrate_command_runs_as_a_module(service_database: ProvisionFn) -> None:
    db = await service_database("lineage")
    env = {**os.environ, "LINEAGE_DATABASE_URL": db.url.get_secret_value(), "LINEAGE_DB_SCHEMA": db.schema}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "lineage_resolver", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    eng = create_engine(db.url, schema=db.schema, pool_size=1)
    try:
        async with eng.connect() as conn:
            names = set(
                (
                    await conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": db.schema})
                ).all()
            )
    finally:
        await eng.dispose()
    assert {"data_lineage", "table_task_relation", "task_dependency_view", "outbox", "inbox"} <= names
