"""The lifecycle machine's oracle on small cases worked out by hand (no platform needed)."""

from __future__ import annotations

from .model import (
    Task,
    TaskContent,
    Version,
    Workflow,
    allowed_actions,
    allowed_publish_operations,
    apply_action,
    diverges_on_failure,
    expected_record_status,
    lineage_dependencies,
    plan_migration,
    table_impact,
    task_metrics_problems,
)


def _version(tasks: list[int], edges: set[tuple[int, int]], no: int = 1) -> Version:
    contents = tuple((t, TaskContent(f"t{t}", "SHELL", f"echo {t}")) for t in sorted(tasks))
    return Version(no, "manual_edit", "w", contents, frozenset(edges))


def test_only_current_bridges_around_the_moved_task() -> None:
    # A → T → B: T moves, A → B keeps B waiting for A
    plan = plan_migration(_version([1, 2, 3], {(1, 2), (2, 3)}), _version([9], set()), 2, "only_current", set())
    assert plan.moved == {2}
    assert (plan.source_tasks, plan.source_edges) == (frozenset({1, 3}), frozenset({(1, 3)}))
    assert plan.bridged == {(1, 3)}
    assert plan.dropped == {(1, 2), (2, 3)}
    assert (plan.target_tasks, plan.target_edges) == (frozenset({2, 9}), frozenset())


def test_cascades() -> None:
    # 1 → 2 → 3, 4 → 2, 5 alone; moving 2
    source = _version([1, 2, 3, 4, 5], {(1, 2), (2, 3), (4, 2)})
    down = plan_migration(source, _version([9], set()), 2, "cascade_downstream", set())
    assert down.moved == {2, 3}
    assert down.target_edges == {(2, 3)}
    both = plan_migration(source, _version([9], set()), 2, "cascade_up_and_downstream", set())
    assert both.moved == {1, 2, 3, 4}
    assert both.source_tasks == {5}


def test_up_and_downstream_takes_the_tasks_between() -> None:
    # P → R → D and P → T → D: moving T takes P and D (its ancestor and descendant) and R, on a path between them
    source = _version([1, 2, 3, 4, 5], {(1, 2), (2, 3), (1, 4), (4, 3)})
    plan = plan_migration(source, _version([9], set()), 4, "cascade_up_and_downstream", set())
    assert plan.moved == {1, 2, 3, 4}
    assert plan.source_emptied is False


def test_lineage_edges_between_moved_and_target_tasks() -> None:
    plan = plan_migration(_version([1, 2], {(1, 2)}), _version([7, 8], set()), 2, "only_current", {(7, 2), (1, 8)})
    assert plan.lineage_edges == {(7, 2)}


def test_lineage_dependencies_never_self() -> None:
    a = Task("T1", 1, TaskContent("a", "SHELL", "x"), writes=frozenset({"t"}), reads=frozenset({"t"}))
    b = Task("T2", 2, TaskContent("b", "SHELL", "y"), reads=frozenset({"t"}))
    assert lineage_dependencies([a, b]) == {(1, 2)}


def test_status_and_publish_rules() -> None:
    wf = Workflow("W1", 1, [_version([1], set())])
    assert allowed_actions(wf) == ["approve", "archive"]
    assert allowed_publish_operations(wf) == []
    apply_action(wf, "approve")
    assert (wf.status, allowed_actions(wf)) == ("ready", ["online", "archive"])
    assert allowed_publish_operations(wf) == ["deploy", "online"]
    apply_action(wf, "online")
    apply_action(wf, "offline")
    assert allowed_publish_operations(wf) == ["deploy"]  # online refused while offline on the platform; never deployed
    apply_action(wf, "archive")
    assert (allowed_actions(wf), allowed_publish_operations(wf)) == ([], [])
    empty = Workflow("W2", 2, [_version([], set())])
    assert allowed_actions(empty) == ["archive"]
    assert expected_record_status(empty, "online", empty.current, ds_outage=False) == "failed"


def test_a_failed_publish_diverges_when_ds_keeps_another_state() -> None:
    wf = Workflow("W1", 1, [_version([1], set())], ds_code=7, deployed_no=1, ds_release="OFFLINE")
    assert diverges_on_failure(wf, "online")
    assert not diverges_on_failure(wf, "deploy")  # a deploy keeps DS's state
    wf.ds_release = "ONLINE"
    assert diverges_on_failure(wf, "offline")
    assert not diverges_on_failure(Workflow("W2", 2, [_version([1], set())]), "online")  # nothing in DS yet


def _metrics(states: list[str | None], **extra: object) -> dict[str, object]:
    finished = sum(1 for s in states if s)
    succeeded = sum(1 for s in states if s == "SUCCESS")
    return {
        "runs": [{"instance_id": i, "state": s} for i, s in enumerate(states)],
        "finished": finished,
        "succeeded": succeeded,
        "success_rate": succeeded / finished if finished else None,
        "p50_seconds": 1.0 if succeeded else None,
        "p90_seconds": 2.0 if succeeded else None,
        **extra,
    }


def test_task_metrics_problems() -> None:
    assert task_metrics_problems({"workflow_id": None, "metrics": None}) == []
    assert task_metrics_problems({"workflow_id": 1, "metrics": _metrics(["SUCCESS", "FAILURE", None])}) == []
    assert task_metrics_problems({"workflow_id": 1, "metrics": _metrics(["FAILURE"])}) == []
    assert task_metrics_problems({"workflow_id": None, "metrics": _metrics(["SUCCESS"])}) == [
        "a task in no workflow has metrics"
    ]
    [bad_rate] = task_metrics_problems(
        {"workflow_id": 1, "metrics": _metrics(["SUCCESS", "FAILURE"], success_rate=1.0)}
    )
    assert bad_rate.startswith("success rate 1.0")
    [bad_p] = task_metrics_problems({"workflow_id": 1, "metrics": _metrics(["SUCCESS"], p50_seconds=3.0)})
    assert bad_p == "p50 3.0 / p90 2.0"
    assert task_metrics_problems({"workflow_id": 1, "metrics": _metrics([None] * 11)}) != []
    assert task_metrics_problems(
        {"workflow_id": 1, "metrics": _metrics(["FAILURE"], p50_seconds=1.0, p90_seconds=1.0)}
    ) == ["durations without a successful run"]


def test_table_impact_reaches_each_task_once_at_its_shortest_distance() -> None:
    def task(i: int, reads: set[str], writes: set[str]) -> Task:
        return Task(f"T{i}", i, TaskContent(f"t{i}", "SHELL", "x"), reads=frozenset(reads), writes=frozenset(writes))

    # a → 1 → b → 2 → c, and 3 reads a and c (reached at 1 through a); 4 reads only what nobody writes
    tasks = [task(1, {"a"}, {"b"}), task(2, {"b"}, {"c"}), task(3, {"a", "c"}, {"a"}), task(4, {"z"}, set())]
    tables, reached = table_impact(tasks, "a")
    assert reached == {1: 1, 3: 1, 2: 3}
    assert tables == {"a": 0, "b": 2, "c": 4}
    assert table_impact(tasks, "c") == ({"c": 0, "a": 2, "b": 4}, {3: 1, 1: 3, 2: 5})
