from __future__ import annotations

import itertools
import random

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from definition.domain.dag import (
    MAX_REPORTED_CYCLES,
    analyse_dag,
    find_cycle,
    ownership_conflicts,
    validate_workflow_dag,
)
from definition.domain.errors import InvalidWorkflowStructure, TaskOwnedByAnotherWorkflow


def _codes(exc: InvalidWorkflowStructure) -> list[str]:
    return [p["code"] for p in exc.extras["errors"]]


def test_valid_dag_entry_exit_counts_and_order() -> None:
    edges = [(1, 2), (1, 3), (2, 4), (3, 4), (5, 4)]
    dag = analyse_dag([4, 3, 2, 1, 5, 6], edges)
    assert dag.task_ids == (1, 2, 3, 4, 5, 6)
    assert dag.entry_task_ids == (1, 5, 6)
    assert dag.exit_task_ids == (4, 6)
    assert dag.edges == tuple(sorted(edges))
    assert dag.upstream_count == {1: 0, 2: 1, 3: 1, 4: 3, 5: 0, 6: 0}
    assert dag.downstream_count == {1: 2, 2: 1, 3: 1, 4: 0, 5: 1, 6: 0}
    pos = {t: i for i, t in enumerate(dag.topological_order)}
    assert sorted(pos) == [1, 2, 3, 4, 5, 6]
    assert all(pos[u] < pos[v] for u, v in edges)


def test_single_task_is_entry_and_exit() -> None:
    dag = analyse_dag([7], [])
    assert dag.entry_task_ids == dag.exit_task_ids == (7,)


def test_empty_dag_rejected_unless_allowed() -> None:
    with pytest.raises(InvalidWorkflowStructure) as ei:
        analyse_dag([], [])
    assert _codes(ei.value) == ["empty_dag"]
    assert ei.value.status == 422
    assert analyse_dag([], [], allow_empty=True).task_ids == ()


def test_all_structural_problems_are_collected_at_once() -> None:
    edges = [(1, 1), (1, 2), (1, 2), (2, 99), (98, 3), (2, 3), (3, 2)]
    with pytest.raises(InvalidWorkflowStructure) as ei:
        analyse_dag([1, 2, 3, 3], edges)
    problems = {p["code"]: p for p in ei.value.extras["errors"]}
    assert set(problems) == {"duplicate_task", "self_loop", "duplicate_edge", "edge_task_not_in_workflow", "cycle"}
    assert problems["duplicate_task"]["task_ids"] == [3]
    assert problems["self_loop"]["task_ids"] == [1]
    assert problems["duplicate_edge"]["edges"] == [[1, 2]]
    assert problems["edge_task_not_in_workflow"]["task_ids"] == [98, 99]
    assert problems["edge_task_not_in_workflow"]["edges"][0] == {
        "upstream_task_id": 2,
        "downstream_task_id": 99,
        "missing_task_ids": [99],
    }
    assert problems["cycle"]["path"] == [2, 3, 2]
    assert "5 problems" in ei.value.detail


def test_cycle_path_is_reported_in_order() -> None:
    edges = [(1, 3), (3, 7), (7, 9), (9, 3), (9, 10)]
    with pytest.raises(InvalidWorkflowStructure) as ei:
        analyse_dag([1, 3, 7, 9, 10], edges)
    (cycle,) = ei.value.extras["errors"]
    assert cycle["code"] == "cycle"
    assert cycle["path"] == [3, 7, 9, 3]
    assert "3 → 7 → 9 → 3" in ei.value.detail


def test_shortest_cycle_through_smallest_node_is_reported() -> None:
    # 1 -> 2 -> 3 -> 4 -> 1 and the shortcut 2 -> 1: the shortest cycle through 1 is [1, 2, 1]
    with pytest.raises(InvalidWorkflowStructure) as ei:
        analyse_dag([1, 2, 3, 4], [(1, 2), (2, 3), (3, 4), (4, 1), (2, 1)])
    assert [p["path"] for p in ei.value.extras["errors"]] == [[1, 2, 1]]


def test_each_cyclic_component_reported_once() -> None:
    edges = [(1, 2), (2, 1), (10, 11), (11, 12), (12, 10), (2, 10)]
    with pytest.raises(InvalidWorkflowStructure) as ei:
        analyse_dag([1, 2, 10, 11, 12, 20], edges)
    assert [p["path"] for p in ei.value.extras["errors"]] == [[1, 2, 1], [10, 11, 12, 10]]


def test_number_of_listed_cycles_is_capped() -> None:
    n = MAX_REPORTED_CYCLES + 5
    tasks = list(range(2 * n))
    edges = [(2 * i, 2 * i + 1) for i in range(n)] + [(2 * i + 1, 2 * i) for i in range(n)]
    with pytest.raises(InvalidWorkflowStructure) as ei:
        analyse_dag(tasks, edges)
    problems = ei.value.extras["errors"]
    assert len([p for p in problems if p["path"]]) == MAX_REPORTED_CYCLES
    assert problems[-1] == {
        "code": "cycle",
        "path": None,
        "count": 5,
        "message": "5 more dependency cycle(s) not listed",
    }


def test_long_chain_and_long_cycle_have_no_recursion_limit() -> None:
    n = 100_000
    chain = [(i, i + 1) for i in range(n - 1)]
    dag = analyse_dag(list(range(n)), chain)
    assert dag.entry_task_ids == (0,)
    assert dag.exit_task_ids == (n - 1,)
    path = find_cycle(list(range(n)), [*chain, (n - 1, 0)])
    assert path is not None
    assert path == [*range(n), 0]


def test_find_cycle_none_for_dag_and_ignores_self_loops() -> None:
    assert find_cycle([1, 2], [(1, 2)]) is None
    assert find_cycle([1, 2], [(1, 1), (1, 2)]) is None
    assert find_cycle([1, 2], [(1, 2), (2, 1)]) == [1, 2, 1]


def test_unknown_tasks_are_all_listed_with_other_problems() -> None:
    owners: dict[int, int | None] = {1: None, 2: None}
    with pytest.raises(InvalidWorkflowStructure) as ei:
        validate_workflow_dag(5, [1, 2, 30, 40], [(1, 2), (2, 1)], owners)
    assert _codes(ei.value) == ["unknown_task", "cycle"]
    assert ei.value.extras["errors"][0]["task_ids"] == [30, 40]


def test_ownership_conflict_is_409_with_owner_and_modes() -> None:
    owners: dict[int, int | None] = {1: 5, 2: None, 3: 8, 4: 9, 6: 8}
    with pytest.raises(TaskOwnedByAnotherWorkflow) as ei:
        validate_workflow_dag(5, [1, 2, 3, 4, 6], [(1, 2), (2, 3)], owners)
    err = ei.value
    assert err.status == 409
    assert err.code == "task-owned-by-another-workflow"
    assert err.extras["tasks"] == [
        {"task_id": 3, "owner_workflow_id": 8},
        {"task_id": 4, "owner_workflow_id": 9},
        {"task_id": 6, "owner_workflow_id": 8},
    ]
    assert err.extras["owner_workflow_ids"] == [8, 9]
    assert err.extras["migration_modes"] == ["only_current", "cascade_downstream", "cascade_up_and_downstream"]
    assert "task 3 → workflow 8" in err.detail
    assert "cascade_up_and_downstream" in err.detail


def test_structure_errors_take_precedence_over_ownership() -> None:
    with pytest.raises(InvalidWorkflowStructure):
        validate_workflow_dag(5, [1, 2], [(1, 2), (2, 1)], {1: 7, 2: 7})


def test_new_workflow_conflicts_with_every_owned_task() -> None:
    assert ownership_conflicts(None, [1, 2, 3], {1: 4, 2: None, 3: 4}) == [(1, 4), (3, 4)]
    dag = validate_workflow_dag(None, [2], [], {2: None})
    assert dag.task_ids == (2,)


def test_own_tasks_do_not_conflict() -> None:
    dag = validate_workflow_dag(5, [1, 2], [(1, 2)], {1: 5, 2: None})
    assert dag.entry_task_ids == (1,)


# ---------------------------------------------------------------- property tests


@st.composite
def random_dags(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, int]]]:
    n = draw(st.integers(min_value=1, max_value=40))
    ids = draw(st.lists(st.integers(-1000, 10_000), min_size=n, max_size=n, unique=True))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] < p[1]),
            max_size=3 * n,
            unique=True,
        )
    )
    # edges only from earlier to later positions of a random permutation: always acyclic
    return ids, [(ids[a], ids[b]) for a, b in pairs]


def _reachable(edges: list[tuple[int, int]], start: int) -> set[int]:
    adj: dict[int, list[int]] = {}
    for u, v in edges:
        adj.setdefault(u, []).append(v)
    seen, stack = {start}, [start]
    while stack:
        for w in adj.get(stack.pop(), ()):
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return seen


@settings(max_examples=200, deadline=None)
@given(random_dags())
def test_random_dags_validate(dag_in: tuple[list[int], list[tuple[int, int]]]) -> None:
    ids, edges = dag_in
    shuffled = edges[:]
    random.Random(len(edges)).shuffle(shuffled)
    dag = analyse_dag(ids, shuffled)
    assert set(dag.task_ids) == set(ids)
    pos = {t: i for i, t in enumerate(dag.topological_order)}
    assert len(pos) == len(ids)
    assert all(pos[u] < pos[v] for u, v in edges)
    ups = {v for _, v in edges}
    downs = {u for u, _ in edges}
    assert dag.entry_task_ids == tuple(sorted(set(ids) - ups))
    assert dag.exit_task_ids == tuple(sorted(set(ids) - downs))


@settings(max_examples=200, deadline=None)
@given(random_dags(), st.data())
def test_back_edge_yields_a_real_cycle(dag_in: tuple[list[int], list[tuple[int, int]]], data: st.DataObject) -> None:
    ids, edges = dag_in
    candidates = [(u, v) for u in ids for v in _reachable(edges, u) if v != u]
    if not candidates:
        return
    u, v = data.draw(st.sampled_from(sorted(candidates)))
    graph = [*edges, (v, u)]
    with pytest.raises(InvalidWorkflowStructure) as ei:
        analyse_dag(ids, graph)
    cycles = [p["path"] for p in ei.value.extras["errors"]]
    assert all(p["code"] == "cycle" for p in ei.value.extras["errors"])
    edge_set = set(graph)
    for path in cycles:
        assert path[0] == path[-1]
        assert len(set(path[:-1])) == len(path) - 1 >= 2
        assert all((a, b) in edge_set for a, b in itertools.pairwise(path))
    assert find_cycle(ids, graph) == cycles[0]


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 25).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n, unique=True),
        )
    )
)
def test_agrees_with_networkx_on_arbitrary_graphs(case: tuple[int, list[tuple[int, int]]]) -> None:
    n, edges = case
    edges = [(u, v) for u, v in edges if u != v]
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    ours = find_cycle(list(range(n)), edges)
    assert (ours is None) == nx.is_directed_acyclic_graph(g)
    if ours is not None:
        assert all(g.has_edge(a, b) for a, b in itertools.pairwise(ours))
