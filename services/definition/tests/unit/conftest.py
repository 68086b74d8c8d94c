"""Factories for the definition domain unit tests (plain functions exposed as fixtures)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import pytest

from common.workflow import Edge, NodeAttrs, Param, Schedule, ShellParams, SnapshotTask, StructureSnapshot, TaskType
from definition.domain.dag import analyse_dag

MakeTask = Callable[..., SnapshotTask]
MakeSnapshot = Callable[..., StructureSnapshot]


def make_task(task_id: int, *, script: str = "echo hi", **attrs: Any) -> SnapshotTask:
    return SnapshotTask(
        task_id=task_id,
        name=f"task-{task_id}",
        task_type=TaskType.SHELL,
        params=ShellParams(script=script),
        node_attrs=NodeAttrs(**attrs),
    )


def make_snapshot(
    workflow_id: int,
    task_ids: Iterable[int],
    edges: Iterable[tuple[int, int]] = (),
    *,
    schedule: Schedule | None = None,
    global_params: Iterable[Param] = (),
    tasks: Iterable[SnapshotTask] | None = None,
) -> StructureSnapshot:
    ids = list(task_ids)
    edge_list = list(edges)
    dag = analyse_dag(ids, edge_list, allow_empty=True)
    return StructureSnapshot(
        workflow_id=workflow_id,
        workflow_name=f"wf-{workflow_id}",
        tasks=tuple(tasks) if tasks is not None else tuple(make_task(t) for t in sorted(ids)),
        edges=tuple(Edge(upstream_task_id=u, downstream_task_id=v) for u, v in dag.edges),
        schedule=schedule,
        global_params=tuple(global_params),
        entry_task_ids=dag.entry_task_ids,
        exit_task_ids=dag.exit_task_ids,
    )


def daily(crontab: str = "0 0 2 * * ?", tz: str = "Asia/Shanghai") -> Schedule:
    return Schedule(crontab=crontab, timezone=tz, start_time=datetime(2025, 1, 1), end_time=datetime(2030, 1, 1))


@pytest.fixture
def task() -> MakeTask:
    return make_task


@pytest.fixture
def snapshot() -> MakeSnapshot:
    return make_snapshot


@pytest.fixture
def schedule() -> Callable[..., Schedule]:
    return daily
