from __future__ import annotations

from collections.abc import Callable

import pytest

from common.workflow import (
    NodeAttrs,
    Param,
    PythonParams,
    Schedule,
    ShellParams,
    SnapshotTask,
    SqlParams,
    StructureSnapshot,
    TaskType,
)
from definition.domain.dag import analyse_dag
from definition.domain.errors import InvalidSchedule, InvalidWorkflowStructure
from definition.domain.snapshot import CatalogTask, build_snapshot, snapshot_edges


def _catalog(*ids: int) -> list[CatalogTask]:
    out = []
    for i in ids:
        if i % 2:
            out.append(CatalogTask(task_id=i, name=f"t{i}", task_type=TaskType.SHELL, params=ShellParams(script="ls")))
        else:
            out.append(
                CatalogTask(
                    task_id=i,
                    name=f"t{i}",
                    task_type=TaskType.SQL,
                    params=SqlParams(datasource_name="dw", sql="select 1"),
                )
            )
    return out


def test_builds_canonical_snapshot_with_entry_and_exit(schedule: Callable[..., Schedule]) -> None:
    attrs = {2: NodeAttrs(retries=3, worker_group="etl")}
    snap = build_snapshot(
        workflow_id=9,
        workflow_name="daily",
        tasks=_catalog(3, 1, 2),
        edges=[(2, 3), (1, 2)],
        node_attrs=attrs,
        schedule=schedule(),
        global_params=[Param(name="z"), Param(name="a", value="1")],
    )
    assert isinstance(snap, StructureSnapshot)
    assert [t.task_id for t in snap.tasks] == [1, 2, 3]
    assert snapshot_edges(snap) == [(1, 2), (2, 3)]
    assert snap.entry_task_ids == (1,)
    assert snap.exit_task_ids == (3,)
    assert snap.tasks[1].node_attrs.retries == 3
    assert snap.tasks[0].node_attrs == NodeAttrs()
    assert [p.name for p in snap.global_params] == ["a", "z"]
    assert snap == snap.canonical()


def test_hash_is_independent_of_input_order() -> None:
    a = build_snapshot(workflow_id=1, workflow_name="w", tasks=_catalog(1, 2, 3), edges=[(1, 2), (1, 3)])
    b = build_snapshot(workflow_id=1, workflow_name="w", tasks=_catalog(3, 2, 1), edges=[(1, 3), (1, 2)])
    assert a.content_hash() == b.content_hash()
    assert a.canonical_json() == b.model_dump_json()


def test_snapshot_tasks_keep_their_attrs_unless_overridden() -> None:
    t1 = SnapshotTask(
        task_id=1,
        name="a",
        task_type=TaskType.PYTHON,
        params=PythonParams(script="print(1)"),
        node_attrs=NodeAttrs(retries=2),
    )
    t2 = t1.model_copy(update={"task_id": 2})
    snap = build_snapshot(
        workflow_id=1, workflow_name="w", tasks=[t1, t2], edges=[], node_attrs={2: NodeAttrs(priority="HIGH")}
    )
    assert snap.tasks[0].node_attrs.retries == 2
    assert snap.tasks[1].node_attrs.priority == "HIGH"
    assert snap.tasks[1].node_attrs.retries == 0


def test_precomputed_dag_is_used() -> None:
    dag = analyse_dag([1, 2], [(1, 2)])
    snap = build_snapshot(workflow_id=1, workflow_name="w", tasks=_catalog(1, 2), edges=[], dag=dag)
    assert snapshot_edges(snap) == [(1, 2)]


def test_structural_and_cross_field_problems_are_collected() -> None:
    dup = ShellParams(script="x", local_params=(Param(name="p"), Param(name="p")))
    tasks = [*_catalog(1, 2), CatalogTask(task_id=3, name="t3", task_type=TaskType.SHELL, params=dup)]
    with pytest.raises(InvalidWorkflowStructure) as ei:
        build_snapshot(
            workflow_id=1,
            workflow_name="w",
            tasks=tasks,
            edges=[(1, 2), (2, 1)],
            node_attrs={7: NodeAttrs()},
            global_params=[Param(name="g"), Param(name="g")],
        )
    codes = [p["code"] for p in ei.value.extras["errors"]]
    assert codes == ["cycle", "node_attrs_for_unknown_task", "duplicate_param", "duplicate_param"]
    assert ei.value.extras["errors"][3]["task_id"] == 3


def test_catalog_must_match_dag() -> None:
    dag = analyse_dag([1, 2, 3], [])
    with pytest.raises(InvalidWorkflowStructure) as ei:
        build_snapshot(workflow_id=1, workflow_name="w", tasks=_catalog(1, 2, 4), edges=[], dag=dag)
    problems = ei.value.extras["errors"]
    assert [(p["code"], p["task_ids"]) for p in problems] == [
        ("task_not_in_catalog", [3]),
        ("task_not_in_catalog", [4]),
    ]


def test_invalid_schedule_raises_invalid_schedule(schedule: Callable[..., Schedule]) -> None:
    with pytest.raises(InvalidSchedule):
        build_snapshot(workflow_id=1, workflow_name="w", tasks=_catalog(1), edges=[], schedule=schedule("0 0 0 * * *"))
