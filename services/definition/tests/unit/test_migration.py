from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.workflow import Param, Schedule, ShellParams, StructureSnapshot
from definition.domain.dag import analyse_dag
from definition.domain.enums import MigrationMode
from definition.domain.errors import MigrationEmptiesWorkflow, MigrationNotPossible
from definition.domain.migration import MigrationPlan, plan_migration

from .conftest import make_snapshot, make_task

ONLY, DOWN, UPDOWN = (
    MigrationMode.ONLY_CURRENT,
    MigrationMode.CASCADE_DOWNSTREAM,
    MigrationMode.CASCADE_UP_AND_DOWNSTREAM,
)


def _edges(s: StructureSnapshot) -> set[tuple[int, int]]:
    return {(e.upstream_task_id, e.downstream_task_id) for e in s.edges}


def _ids(s: StructureSnapshot) -> set[int]:
    return {t.task_id for t in s.tasks}


def _codes(plan: MigrationPlan) -> list[str]:
    return [w.code for w in plan.warnings]


# source: 1 -> 2 -> 3 -> 4, 2 -> 5, 6 -> 3 ; target: 100 -> 101
SOURCE = make_snapshot(1, [1, 2, 3, 4, 5, 6], [(1, 2), (2, 3), (3, 4), (2, 5), (6, 3)])
TARGET = make_snapshot(2, [100, 101], [(100, 101)])


def test_only_current_bridges_the_gap() -> None:
    plan = plan_migration(SOURCE, TARGET, 3, ONLY)
    assert plan.moved_task_ids == (3,)
    assert plan.moved_edges == ()
    assert [(c.upstream_task_id, c.downstream_task_id, c.direction) for c in plan.dropped_edges] == [
        (2, 3, "source_to_target"),
        (3, 4, "target_to_source"),
        (6, 3, "source_to_target"),
    ]
    assert plan.bridged_edges == ((2, 4), (6, 4))
    assert _edges(plan.source_after) == {(1, 2), (2, 5), (2, 4), (6, 4)}
    assert plan.source_after.entry_task_ids == (1, 6)
    assert plan.source_after.exit_task_ids == (4, 5)
    assert _ids(plan.target_after) == {3, 100, 101}
    assert _edges(plan.target_after) == {(100, 101)}
    assert plan.target_after.entry_task_ids == (3, 100)
    assert _codes(plan) == ["cross_workflow_dependencies", "mutual_dependency"]
    assert not plan.source_emptied


def test_bridge_not_added_when_edge_exists() -> None:
    src = make_snapshot(1, [1, 2, 3], [(1, 2), (2, 3), (1, 3)])
    plan = plan_migration(src, TARGET, 2, ONLY)
    assert plan.bridged_edges == ()
    assert _edges(plan.source_after) == {(1, 3)}


def test_cascade_downstream_moves_descendants_without_bridges() -> None:
    plan = plan_migration(SOURCE, TARGET, 3, DOWN)
    assert plan.moved_task_ids == (3, 4)
    assert plan.moved_edges == ((3, 4),)
    assert {c.direction for c in plan.dropped_edges} == {"source_to_target"}
    assert plan.bridged_edges == ()
    assert _ids(plan.source_after) == {1, 2, 5, 6}
    assert _edges(plan.target_after) == {(100, 101), (3, 4)}
    assert _codes(plan) == ["cross_workflow_dependencies"]


def test_cascade_up_and_downstream_takes_ancestors_and_descendants_not_siblings() -> None:
    # 1 -> 2 -> 3, 1 -> 9 (sibling of 2's branch): moving 2 takes 1 and 3 but not 9
    src = make_snapshot(1, [1, 2, 3, 9], [(1, 2), (2, 3), (1, 9)])
    plan = plan_migration(src, TARGET, 2, UPDOWN)
    assert plan.moved_task_ids == (1, 2, 3)
    assert [(c.upstream_task_id, c.downstream_task_id, c.direction) for c in plan.dropped_edges] == [
        (1, 9, "target_to_source")
    ]
    assert _ids(plan.source_after) == {9}


def test_cascade_up_and_downstream_takes_tasks_between_ancestors_and_descendants() -> None:
    # P -> T -> D and P -> R -> D: R is neither ancestor nor descendant of T but sits between them
    p, t, d, r = 1, 2, 3, 4
    src = make_snapshot(1, [p, t, d, r, 5], [(p, t), (t, d), (p, r), (r, d), (r, 5)])
    plan = plan_migration(src, TARGET, t, UPDOWN)
    assert plan.moved_task_ids == (1, 2, 3, 4)
    assert _edges(plan.target_after) == {(100, 101), (1, 2), (2, 3), (1, 4), (4, 3)}
    assert _ids(plan.source_after) == {5}
    assert {c.direction for c in plan.dropped_edges} == {"target_to_source"}


def test_emptying_the_source_needs_confirmation() -> None:
    src = make_snapshot(1, [1, 2], [(1, 2)])
    with pytest.raises(MigrationEmptiesWorkflow) as ei:
        plan_migration(src, TARGET, 1, DOWN)
    assert ei.value.status == 409
    assert ei.value.extras == {"source_workflow_id": 1, "moved_task_ids": [1, 2]}
    plan = plan_migration(src, TARGET, 1, DOWN, allow_empty_source=True)
    assert plan.source_emptied
    assert plan.source_after.tasks == ()
    assert plan.source_after.entry_task_ids == ()
    assert "source_emptied" in _codes(plan)
    assert _edges(plan.target_after) == {(100, 101), (1, 2)}


def test_moving_into_an_empty_target() -> None:
    empty = make_snapshot(3, [])
    plan = plan_migration(SOURCE, empty, 4, ONLY)
    assert _ids(plan.target_after) == {4}
    assert plan.target_after.entry_task_ids == plan.target_after.exit_task_ids == (4,)


@pytest.mark.parametrize(
    ("source", "target", "task", "code"),
    [
        (SOURCE, SOURCE, 1, "same_workflow"),
        (SOURCE, TARGET, 42, "task_not_in_source"),
        (SOURCE, make_snapshot(2, [4, 100]), 3, "task_already_in_target"),
    ],
)
def test_impossible_migrations(source: StructureSnapshot, target: StructureSnapshot, task: int, code: str) -> None:
    with pytest.raises(MigrationNotPossible) as ei:
        plan_migration(source, target, task, DOWN)
    assert ei.value.status == 422
    assert ei.value.extras["errors"][0]["code"] == code


def test_schedule_and_global_param_warnings(schedule: Callable[..., Schedule]) -> None:
    t = make_task(1).model_copy(update={"params": ShellParams(script="run --date ${bizdate} --x ${other}")})
    src = make_snapshot(
        1,
        [1, 2],
        [],
        schedule=schedule(),
        global_params=[Param(name="bizdate"), Param(name="other"), Param(name="unused")],
        tasks=[t, make_task(2)],
    )
    tgt = make_snapshot(2, [100], global_params=[Param(name="other")])
    plan = plan_migration(src, tgt, 1, ONLY)
    warnings = {w.code: w for w in plan.warnings}
    assert set(warnings) == {"schedule_differs", "missing_global_params"}
    assert warnings["missing_global_params"].task_ids == (1,)
    assert "bizdate" in warnings["missing_global_params"].message
    assert "other" not in warnings["missing_global_params"].message


def test_moved_tasks_keep_node_attrs_and_preview_is_json() -> None:
    src = make_snapshot(1, [1, 2], [(1, 2)], tasks=[make_task(1, retries=4), make_task(2)])
    plan = plan_migration(src, TARGET, 1, ONLY)
    moved = next(t for t in plan.target_after.tasks if t.task_id == 1)
    assert moved.node_attrs.retries == 4
    preview = plan.preview()
    assert preview["mode"] == "only_current"
    assert preview["source_after"]["task_ids"] == [2]
    assert preview["target_after"]["edges"] == [[100, 101]]
    assert preview["dropped_edges"] == [
        {"upstream_task_id": 1, "downstream_task_id": 2, "direction": "target_to_source"}
    ]


# ---------------------------------------------------------------- property tests


def _reach(edges: set[tuple[int, int]], nodes: set[int]) -> set[tuple[int, int]]:
    adj: dict[int, list[int]] = {}
    for u, v in edges:
        adj.setdefault(u, []).append(v)
    out: set[tuple[int, int]] = set()
    for s in nodes:
        seen, stack = {s}, [s]
        while stack:
            for w in adj.get(stack.pop(), ()):
                if w not in seen:
                    seen.add(w)
                    stack.append(w)
        out |= {(s, w) for w in seen if w != s}
    return out


@st.composite
def sources(draw: st.DrawFn) -> StructureSnapshot:
    n = draw(st.integers(1, 14))
    pairs = draw(st.sets(st.tuples(st.integers(1, n), st.integers(1, n)), max_size=3 * n))
    return make_snapshot(1, range(1, n + 1), [(u, v) for u, v in pairs if u < v])


@settings(max_examples=200, deadline=None)
@given(sources(), st.sampled_from(list(MigrationMode)), st.data())
def test_migration_invariants(source: StructureSnapshot, mode: MigrationMode, data: st.DataObject) -> None:
    task = data.draw(st.sampled_from(sorted(_ids(source))))
    plan = plan_migration(source, TARGET, task, mode, allow_empty_source=True)
    moved = set(plan.moved_task_ids)
    staying = _ids(source) - moved
    old_edges = _edges(source)
    assert task in moved
    assert _ids(plan.source_after) == staying
    assert _ids(plan.target_after) == _ids(TARGET) | moved
    # both results are valid DAGs
    analyse_dag(sorted(_ids(plan.target_after)), sorted(_edges(plan.target_after)))
    analyse_dag(sorted(staying), sorted(_edges(plan.source_after)), allow_empty=True)
    # every old edge is kept, moved or dropped
    new_src, new_tgt = _edges(plan.source_after), _edges(plan.target_after)
    dropped = {(c.upstream_task_id, c.downstream_task_id) for c in plan.dropped_edges}
    for e in old_edges:
        assert (e in new_src) + (e in new_tgt) + (e in dropped) == 1
    # the source keeps exactly the orderings it had among staying tasks
    old_reach = {(a, b) for a, b in _reach(old_edges, staying) if b in staying}
    assert _reach(new_src, staying) == old_reach
    if mode is MigrationMode.ONLY_CURRENT:
        assert moved == {task}
    if mode is MigrationMode.CASCADE_DOWNSTREAM:
        assert all(c.direction == "source_to_target" for c in plan.dropped_edges)
        assert plan.bridged_edges == ()
    if mode is MigrationMode.CASCADE_UP_AND_DOWNSTREAM:
        descendants = {b for _, b in _reach(old_edges, {task})}
        ancestors = {a for a, b in _reach(old_edges, _ids(source)) if b == task}
        related = descendants | ancestors
        assert related | {task} <= moved


def test_lineage_edges_join_the_moved_task_to_its_producer_and_consumer_in_the_target() -> None:
    # task 4 reads what 100 writes and writes what 101 reads: moved between them, not beside them
    plan = plan_migration(SOURCE, TARGET, 4, ONLY, lineage={4: ((100, 3), (101,))})
    assert plan.lineage_edges == ((4, 101), (100, 4))
    assert _edges(plan.target_after) == {(100, 101), (100, 4), (4, 101)}
    assert plan.target_after.entry_task_ids == (100,)
    assert 4 not in plan.target_after.entry_task_ids
    # lineage to a task staying in the source is a cut edge, not a target edge
    assert (3, 4) in {(c.upstream_task_id, c.downstream_task_id) for c in plan.dropped_edges}
    assert "lineage_edge_skipped" not in _codes(plan)


def test_a_lineage_edge_that_would_close_a_cycle_is_left_out_and_said() -> None:
    # lineage says 101 -> 4 and 4 -> 100, but the target has 100 -> 101: both together close 100 → 101 → 4 → 100
    plan = plan_migration(SOURCE, TARGET, 4, ONLY, lineage={4: ((101,), (100,))})
    assert plan.lineage_edges == ((4, 100),)
    [warning] = [w for w in plan.warnings if w.code == "lineage_edge_skipped"]
    assert warning.task_ids == (101, 4)
    assert "4 → 100 → 101" in warning.message
    assert analyse_dag([t.task_id for t in plan.target_after.tasks], sorted(_edges(plan.target_after)))


@settings(max_examples=200, deadline=None)
@given(
    edges=st.sets(st.tuples(st.integers(100, 105), st.integers(100, 105)).filter(lambda e: e[0] < e[1]), max_size=8),
    ups=st.sets(st.integers(100, 105), max_size=4),
    downs=st.sets(st.integers(100, 105), max_size=4),
)
def test_lineage_edges_never_make_the_target_cyclic(
    edges: set[tuple[int, int]], ups: set[int], downs: set[int]
) -> None:
    target = make_snapshot(2, [100, 101, 102, 103, 104, 105], sorted(edges))
    plan = plan_migration(SOURCE, target, 4, ONLY, lineage={4: (ups, downs)})
    result = _edges(plan.target_after)
    assert set(plan.lineage_edges) <= result
    # every wanted edge is either added or named as skipped
    wanted = {(u, 4) for u in ups} | {(4, d) for d in downs}
    skipped = {w.task_ids for w in plan.warnings if w.code == "lineage_edge_skipped"}
    assert wanted == set(plan.lineage_edges) | skipped
    analyse_dag([t.task_id for t in plan.target_after.tasks], sorted(result))  # raises on a cycle
