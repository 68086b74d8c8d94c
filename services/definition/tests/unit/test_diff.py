from __future__ import annotations

import json
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from common.workflow import (
    ExecutionType,
    ExternalDependency,
    NodeAttrs,
    Param,
    Schedule,
    ShellParams,
    StructureSnapshot,
)
from definition.domain.diff import ChangeSummary, change_summary

from .conftest import make_snapshot, make_task

MakeSnapshot = Callable[..., StructureSnapshot]


def test_first_version() -> None:
    snap = make_snapshot(1, [1, 2, 3], [(1, 2), (2, 3)], global_params=[Param(name="dt")])
    c = change_summary(None, snap)
    assert c.is_initial
    assert not c.is_empty
    assert c.tasks_added == (1, 2, 3)
    assert c.edges_added == ((1, 2), (2, 3))
    assert c.global_params is not None
    assert c.global_params.added == ("dt",)
    assert c.summary == "initial version: 3 tasks, 2 edges"


def test_identical_versions_have_empty_diff() -> None:
    snap = make_snapshot(1, [1, 2], [(1, 2)])
    c = change_summary(snap, snap.model_copy())
    assert c.is_empty
    assert c.summary == "no changes"
    assert c == ChangeSummary()


def test_structural_changes_and_summary() -> None:
    old = make_snapshot(1, [1, 2, 3], [(1, 2), (2, 3)])
    new = make_snapshot(1, [1, 2, 4, 5], [(1, 2), (2, 4), (2, 5)])
    c = change_summary(old, new)
    assert c.tasks_added == (4, 5)
    assert c.tasks_removed == (3,)
    assert c.edges_added == ((2, 4), (2, 5))
    assert c.edges_removed == ((2, 3),)
    assert c.summary == "+2 tasks, −1 task, +2 edges, −1 edge"


def test_task_attribute_changes_per_field() -> None:
    old = make_snapshot(1, [1, 2], [(1, 2)])
    t1 = make_task(1, script="echo new", retries=3, worker_group="etl")
    t2 = make_task(2).model_copy(update={"name": "renamed"})
    new = make_snapshot(1, [1, 2], [(1, 2)], tasks=[t1, t2])
    c = change_summary(old, new)
    by_task = {t.task_id: t for t in c.tasks_changed}
    assert by_task[1].fields == ("params.script", "node_attrs.retries", "node_attrs.worker_group")
    assert by_task[1].changes[0].old == "echo hi"
    assert by_task[1].changes[0].new == "echo new"
    assert by_task[1].changes[1].old == 0
    assert by_task[1].changes[1].new == 3
    assert by_task[2].fields == ("name",)
    assert c.summary == "2 tasks modified"


def test_local_params_change_is_reported_as_one_field() -> None:
    old = make_snapshot(1, [1])
    t = make_task(1).model_copy(update={"params": ShellParams(script="echo hi", local_params=(Param(name="x"),))})
    c = change_summary(old, make_snapshot(1, [1], tasks=[t]))
    (tc,) = c.tasks_changed
    assert tc.fields == ("params.local_params",)
    assert tc.changes[0].new == [{"name": "x", "value": "", "direction": "IN", "type": "VARCHAR"}]


def test_schedule_added_changed_removed(schedule: Callable[..., Schedule]) -> None:
    none = make_snapshot(1, [1])
    daily = make_snapshot(1, [1], schedule=schedule())
    hourly = make_snapshot(1, [1], schedule=schedule("0 0 * * * ?"))
    added = change_summary(none, daily)
    assert added.schedule is not None
    assert added.schedule.kind == "added"
    assert added.summary == "schedule added"
    changed = change_summary(daily, hourly).schedule
    assert changed is not None
    assert changed.kind == "changed"
    assert changed.old is not None
    assert changed.new is not None
    assert (changed.old.crontab, changed.new.crontab) == ("0 0 2 * * ?", "0 0 * * * ?")
    assert change_summary(hourly, none).summary == "schedule removed"


def test_global_params_and_workflow_fields() -> None:
    old = make_snapshot(1, [1], global_params=[Param(name="a"), Param(name="b", value="1")])
    new = make_snapshot(1, [1], global_params=[Param(name="b", value="2"), Param(name="c")]).model_copy(
        update={"workflow_name": "renamed", "execution_type": ExecutionType.SERIAL_WAIT, "timeout_minutes": 30}
    )
    c = change_summary(old, new)
    assert c.global_params is not None
    assert (c.global_params.added, c.global_params.removed) == (("c",), ("a",))
    assert [f.field for f in c.global_params.changed] == ["b"]
    assert [(f.field, f.old, f.new) for f in c.workflow_fields] == [
        ("workflow_name", "wf-1", "renamed"),
        ("execution_type", "PARALLEL", "SERIAL_WAIT"),
        ("timeout_minutes", 0, 30),
    ]
    assert c.summary == (
        "global params changed, workflow name changed, execution type changed, timeout minutes changed"
    )


def test_json_round_trip(schedule: Callable[..., Schedule]) -> None:
    old = make_snapshot(1, [1, 2], [(1, 2)])
    new = make_snapshot(1, [2, 3], [(2, 3)], schedule=schedule(), tasks=[make_task(2, retries=1), make_task(3)])
    c = change_summary(old, new)
    stored = json.dumps(c.model_dump(mode="json"))
    assert ChangeSummary.model_validate(json.loads(stored)) == c
    assert c.summary == "+1 task, −1 task, +1 edge, −1 edge, 1 task modified, schedule added"


# ---------------------------------------------------------------- property tests


@st.composite
def snapshots(draw: st.DrawFn) -> StructureSnapshot:
    ids = sorted(draw(st.sets(st.integers(1, 30), min_size=1, max_size=15)))
    pairs = draw(st.sets(st.tuples(st.sampled_from(ids), st.sampled_from(ids)), max_size=25))
    edges = [(u, v) for u, v in pairs if u < v]
    tasks = [make_task(t, retries=draw(st.integers(0, 2)), script=draw(st.sampled_from(["a", "b"]))) for t in ids]
    return make_snapshot(1, ids, edges, tasks=tasks)


@settings(max_examples=150, deadline=None)
@given(snapshots())
def test_diff_with_itself_is_empty(a: StructureSnapshot) -> None:
    assert change_summary(a, a).is_empty


@settings(max_examples=150, deadline=None)
@given(snapshots(), snapshots())
def test_applying_the_diff_yields_the_new_sets(a: StructureSnapshot, b: StructureSnapshot) -> None:
    c = change_summary(a, b)
    nodes = {t.task_id for t in a.tasks}
    edges = {(e.upstream_task_id, e.downstream_task_id) for e in a.edges}
    assert not set(c.tasks_added) & nodes
    assert set(c.tasks_removed) <= nodes
    assert (nodes - set(c.tasks_removed)) | set(c.tasks_added) == {t.task_id for t in b.tasks}
    assert (edges - set(c.edges_removed)) | set(c.edges_added) == {
        (e.upstream_task_id, e.downstream_task_id) for e in b.edges
    }
    a_tasks = {t.task_id: t for t in a.tasks}
    b_tasks = {t.task_id: t for t in b.tasks}
    changed = {tc.task_id for tc in c.tasks_changed}
    assert changed == {t for t in a_tasks.keys() & b_tasks.keys() if a_tasks[t] != b_tasks[t]}
    for tc in c.tasks_changed:
        old = a_tasks[tc.task_id].node_attrs.model_dump(mode="json")
        for ch in tc.changes:
            if ch.field.startswith("node_attrs."):
                old[ch.field.removeprefix("node_attrs.")] = ch.new
        assert NodeAttrs.model_validate(old) == b_tasks[tc.task_id].node_attrs
    assert c.is_empty == (a == b)


def test_dependent_links_are_part_of_the_diff() -> None:
    """Issue 20: links added, removed and changed (a new DS code of the upstream) are structural changes; a diff
    without links keeps its JSON shape."""
    base = make_snapshot(1, [1, 2], [(1, 2)])
    link = ExternalDependency(upstream_workflow_id=9, upstream_task_id=40, task_ids=(1,))
    linked = base.model_copy(update={"external_dependencies": (link,)})
    added = change_summary(base, linked)
    assert not added.is_empty
    assert added.dependent_links is not None
    assert added.dependent_links.added == (40,)
    assert added.summary == "+1 DEPENDENT link"
    deployed = linked.model_copy(
        update={"external_dependencies": (link.model_copy(update={"upstream_workflow_code": 77}),)}
    )
    changed = change_summary(linked, deployed)
    assert changed.dependent_links is not None
    assert [c.field for c in changed.dependent_links.changed] == ["40"]
    assert changed.summary == "1 DEPENDENT link changed"
    removed = change_summary(deployed, base)
    assert removed.dependent_links is not None
    assert removed.dependent_links.removed == (40,)
    assert change_summary(linked, linked).is_empty
    assert "dependent_links" not in change_summary(base, base).model_dump(mode="json")
    first = change_summary(None, linked)
    assert first.dependent_links is not None
    assert first.dependent_links.added == (40,)
    assert ChangeSummary.model_validate(json.loads(added.model_dump_json())) == added
