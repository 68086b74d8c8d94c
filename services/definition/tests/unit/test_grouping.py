"""``definition.domain.grouping``: proposals of workflows for unassigned tasks (issue 20)."""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.workflow import DEPENDENT_DATE_VALUES, DependentCycle
from definition.domain.dag import EdgePair
from definition.domain.grouping.groups import Group
from definition.domain.grouping.home import suggest_home
from definition.domain.grouping.partition import _components, circles, group_tasks
from definition.domain.grouping.proposals import ProposalKind, dependent_period, explain, invert, propose
from definition.domain.grouping.upkeep import Change, ProposalBook


def _upstream(edges: list[EdgePair]) -> dict[int, list[int]]:
    up: dict[int, list[int]] = {}
    for u, v in edges:
        up.setdefault(v, []).append(u)
    return up


def _check_partition(tasks: set[int], groups: list[Group], edges: list[EdgePair], max_size: int) -> None:
    seen = [t for g in groups for t in g.task_ids]
    assert sorted(seen) == sorted(tasks), "every task in exactly one group"
    for g in groups:
        assert len(g.task_ids) <= max_size
        assert nx.is_directed_acyclic_graph(nx.DiGraph(g.edges)) if g.edges else True
        members = set(g.task_ids)
        inside = {(u, v) for u, v in edges if u in members and v in members and u != v}
        assert set(g.edges) | set(g.cycle_edges) == inside
        undirected: nx.Graph[int] = nx.Graph()
        undirected.add_nodes_from(g.task_ids)
        undirected.add_edges_from(g.edges)
        undirected.add_edges_from(g.cycle_edges)
        assert nx.is_connected(undirected), "a group is weakly connected"


def _group_graph_is_acyclic(groups: list[Group], edges: list[EdgePair]) -> bool:
    of = {t: i for i, g in enumerate(groups) for t in g.task_ids}
    quotient: nx.DiGraph[int] = nx.DiGraph()
    quotient.add_nodes_from(range(len(groups)))
    quotient.add_edges_from((of[u], of[v]) for u, v in edges if u in of and v in of and of[u] != of[v])
    return nx.is_directed_acyclic_graph(quotient)


@st.composite
def graphs(draw: st.DrawFn, *, acyclic: bool) -> tuple[set[int], list[EdgePair]]:
    n = draw(st.integers(1, 60))
    pairs = st.tuples(st.integers(1, n), st.integers(1, n)).filter(lambda p: p[0] != p[1])
    raw = draw(st.lists(pairs, max_size=3 * n))
    edges = sorted({(min(p), max(p)) for p in raw} if acyclic else set(raw))
    return set(range(1, n + 1)), edges


@settings(max_examples=150, deadline=None)
@given(graphs(acyclic=False), st.integers(1, 12))
def test_every_task_in_exactly_one_connected_acyclic_group_within_the_limit(
    graph: tuple[set[int], list[EdgePair]], max_size: int
) -> None:
    tasks, edges = graph
    _check_partition(tasks, group_tasks(tasks, _upstream(edges), max_size), edges, max_size)


@settings(max_examples=150, deadline=None)
@given(graphs(acyclic=True), st.integers(1, 12))
def test_cut_dependencies_never_make_groups_wait_for_each_other(
    graph: tuple[set[int], list[EdgePair]], max_size: int
) -> None:
    tasks, edges = graph
    assert _group_graph_is_acyclic(group_tasks(tasks, _upstream(edges), max_size), edges)


@settings(max_examples=150, deadline=None)
@given(graphs(acyclic=True), st.integers(1, 12), st.randoms(use_true_random=False))
def test_accepting_every_proposal_keeps_every_dependency_inside_a_workflow_or_as_a_dependent_link(
    graph: tuple[set[int], list[EdgePair]], max_size: int, rnd: random.Random
) -> None:
    tasks, edges = graph
    # some tasks are already in workflows 100/101
    assigned = {t: rnd.choice((100, 101)) for t in tasks if rnd.random() < 0.3}
    unassigned = tasks - set(assigned)
    proposals = propose(unassigned, _upstream(edges), assigned, max_size=max_size)
    assert sorted(t for p in proposals for t in p.task_ids) == sorted(unassigned)
    workflow_of = dict(assigned)
    kept: set[EdgePair] = set()
    links: set[EdgePair] = set()
    for i, p in enumerate(proposals):
        home = p.workflow_id if p.kind is ProposalKind.ADD_TO_WORKFLOW else 1000 + i
        assert home is not None
        workflow_of.update(dict.fromkeys(p.task_ids, home))
        kept.update(p.edges)
        links.update((c.upstream_task_id, c.downstream_task_id) for c in p.cross)
    for u, v in edges:
        if u in assigned and v in assigned:
            continue  # between existing workflows: not this change's business
        if workflow_of[u] == workflow_of[v]:
            assert (u, v) in kept, (u, v)
        else:
            assert (u, v) in links, (u, v)


@settings(max_examples=100, deadline=None)
@given(graphs(acyclic=False), st.integers(1, 12), st.randoms(use_true_random=False))
def test_propose_explains_each_group_as_explain_does(
    graph: tuple[set[int], list[EdgePair]], max_size: int, rnd: random.Random
) -> None:
    # propose collects every group's inner and crossing dependencies in bulk (arrays); explain per group is the
    # reference. A dependency listed twice must not repeat an edge or a reason
    tasks, edges = graph
    assigned = {t: rnd.choice((100, 101)) for t in tasks if rnd.random() < 0.3}
    unassigned = tasks - set(assigned)
    upstream = _upstream(edges)
    groups = group_tasks(unassigned, upstream, max_size)
    expected = [explain(g, unassigned, upstream, invert(upstream), assigned) for g in groups]
    assert propose(unassigned, upstream, assigned, max_size=max_size) == expected
    doubled = {t: [*ups, *ups] for t, ups in upstream.items()}
    assert group_tasks(unassigned, doubled, max_size) == groups
    assert propose(unassigned, doubled, assigned, max_size=max_size) == expected


def test_components_become_groups_and_a_large_one_is_split_along_a_narrow_cut() -> None:
    # two cliques of 6 joined by one dependency, and a separate pair
    a = [(i, j) for i in range(1, 7) for j in range(i + 1, 7)]
    b = [(i, j) for i in range(11, 17) for j in range(i + 1, 17)]
    edges = [*a, *b, (6, 11), (30, 31)]
    groups = group_tasks({*range(1, 7), *range(11, 17), 30, 31}, _upstream(edges), max_size=6)
    assert [g.task_ids for g in groups] == [(1, 2, 3, 4, 5, 6), (11, 12, 13, 14, 15, 16), (30, 31)]
    assert groups[0].split
    assert groups[0].component_size == 12
    assert not groups[2].split
    proposals = propose({*range(1, 7), *range(11, 17), 30, 31}, _upstream(edges), {}, max_size=6)
    cut = [(c.upstream_task_id, c.downstream_task_id, c.outside) for c in proposals[1].cross]
    assert cut == [(6, 11, "upstream")]


def test_a_lineage_cycle_is_set_apart_and_explained() -> None:
    (group,) = group_tasks({1, 2, 3}, _upstream([(1, 2), (2, 3), (3, 1)]), max_size=10)
    assert group.cycle_edges == ((3, 1),)
    assert group.edges == ((1, 2), (2, 3))
    assert group.cycles == ((1, 2, 3, 1),)


def test_a_lone_task_between_tasks_of_one_workflow_is_proposed_as_an_addition_with_its_edges() -> None:
    edges = [(1, 5), (5, 2), (3, 6)]
    proposals = propose({5, 6}, _upstream(edges), {1: 7, 2: 7, 3: 8}, edge_tables={(1, 5): ["ods.a"], (5, 2): ["dw.b"]})
    add, other = proposals
    assert add.kind is ProposalKind.ADD_TO_WORKFLOW
    assert add.workflow_id == 7
    assert add.edges == ((1, 5), (5, 2))
    assert add.tables == ("dw.b", "ods.a")
    # task 6 reads what workflow 8 writes but nothing else: consumers none, producers all in 8 → an addition as well
    assert other.kind is ProposalKind.ADD_TO_WORKFLOW
    assert other.workflow_id == 8


def test_a_task_between_two_workflows_is_a_new_workflow_with_two_dependent_links() -> None:
    (p,) = propose({5}, _upstream([(1, 5), (2, 5)]), {1: 7, 2: 8})
    assert p.kind is ProposalKind.NEW_WORKFLOW
    assert [(c.upstream_task_id, c.other_workflow_id, c.outside) for c in p.cross] == [
        (1, 7, "upstream"),
        (2, 8, "upstream"),
    ]


def test_max_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_size"):
        group_tasks({1}, {}, 0)


@settings(max_examples=60, deadline=None)
@given(graphs(acyclic=True), st.integers(2, 8), st.data())
def test_incremental_refresh_keeps_a_valid_partition(
    graph: tuple[set[int], list[EdgePair]], max_size: int, data: st.DataObject
) -> None:
    tasks, edges = graph
    tasks |= {1, 2}
    book = ProposalBook(max_size=max_size)
    book.rebuild(tasks, _upstream(edges))
    for _ in range(data.draw(st.integers(1, 5))):
        n = max(tasks)
        u, v = sorted(data.draw(st.lists(st.integers(1, n), min_size=2, max_size=2, unique=True)))
        if (u, v) in edges:
            edges.remove((u, v))
            change = Change(removed=((u, v),))
        else:
            edges.append((u, v))
            change = Change(added=((u, v),))
        upstream = _upstream(edges)
        book.update(change, unassigned=tasks, upstream=upstream, downstream=invert(upstream))
        groups = list(book.groups.values())
        _check_partition(tasks, groups, edges, max_size)
        assert _group_graph_is_acyclic(groups, edges)
        assert all(book.group_of[t] == gid for gid, g in book.groups.items() for t in g.task_ids)


def test_refresh_after_a_task_leaves_and_one_joins() -> None:
    edges = [(1, 2), (2, 3), (4, 5)]
    book = ProposalBook(max_size=10)
    book.rebuild({1, 2, 3, 4, 5}, _upstream(edges))
    assert sorted(g.task_ids for g in book.groups.values()) == [(1, 2, 3), (4, 5)]
    up = _upstream(edges)
    # task 2 goes into a workflow: 1 and 3 fall apart
    book.update(Change(left=(2,)), unassigned={1, 3, 4, 5}, upstream=up, downstream=invert(up))
    assert sorted(g.task_ids for g in book.groups.values()) == [(1,), (3,), (4, 5)]
    # it comes back: its dependencies merge the groups again
    book.update(Change(joined=(2,)), unassigned={1, 2, 3, 4, 5}, upstream=up, downstream=invert(up))
    assert sorted(g.task_ids for g in book.groups.values()) == [(1, 2, 3), (4, 5)]


def test_an_added_dependency_merges_groups_that_fit_or_regroups_a_circle() -> None:
    # lineage arriving after registration: lone tasks merge as their dependencies come
    book = ProposalBook(max_size=3)
    book.rebuild({1, 2, 3, 4}, {})
    chain = [(1, 2), (2, 3), (3, 4)]
    for i in range(len(chain)):
        up = _upstream(chain[: i + 1])
        book.update(Change(added=(chain[i],)), unassigned={1, 2, 3, 4}, upstream=up, downstream=invert(up))
    assert sorted(g.task_ids for g in book.groups.values()) == [(1, 2, 3), (4,)]

    edges = [(1, 4), (2, 3)]
    book = ProposalBook(max_size=2)
    book.rebuild({1, 2, 3, 4}, _upstream(edges))
    assert sorted(g.task_ids for g in book.groups.values()) == [(1, 4), (2, 3)]
    # 1→2 runs from one group to the other; together they would exceed the limit: the groups stay
    edges.append((1, 2))
    up = _upstream(edges)
    book.update(Change(added=((1, 2),)), unassigned={1, 2, 3, 4}, upstream=up, downstream=invert(up))
    assert sorted(g.task_ids for g in book.groups.values()) == [(1, 4), (2, 3)]
    # 3→4 runs back: the two groups would wait for each other, so they are formed again (no lineage cycle here)
    edges.append((3, 4))
    up = _upstream(edges)
    assert book.update(Change(added=((3, 4),)), unassigned={1, 2, 3, 4}, upstream=up, downstream=invert(up))
    groups = list(book.groups.values())
    _check_partition({1, 2, 3, 4}, groups, edges, 2)
    assert _group_graph_is_acyclic(groups, edges)


def test_a_circle_between_groups_is_broken_by_splitting_a_group_on_it() -> None:
    edges = [(1, 2), (3, 4)]
    book = ProposalBook(max_size=2)
    book.rebuild({1, 2, 3, 4}, _upstream(edges))
    for e in [(1, 3), (4, 2)]:
        # 1→3 runs from {1, 2} to {3, 4} (too large together); 4→2 runs back: a circle of groups, though the tasks
        # are acyclic (1→3→4→2, 1→2). 2 is the only task of its group that 4→2 reaches and it leads to no task of
        # {3, 4}: {1, 2} is split into 1 and 2, and {3, 4} stays
        edges.append(e)
        up = _upstream(edges)
        new = book.update(Change(added=(e,)), unassigned={1, 2, 3, 4}, upstream=up, downstream=invert(up))
    assert sorted(g.task_ids for g in book.groups.values()) == [(1,), (2,), (3, 4)]
    assert sorted(book.groups[g].task_ids for g in new) == [(1,), (2,), (3, 4)]  # {3, 4} has a new cut dependency
    _check_book(book, {1, 2, 3, 4}, edges, 2)


def test_suggest_home() -> None:
    home = suggest_home({1: 7}, {2: 7, 3: None})
    assert home is not None
    assert home.workflow_id == 7
    assert home.reason == "all_neighbours"
    home = suggest_home({1: 7}, {2: 8})
    assert home is not None
    assert home.workflow_id == 7
    assert home.reason == "all_producers"
    assert suggest_home({1: 7, 2: 8}, {}) is None
    assert suggest_home({}, {}) is None


@pytest.mark.parametrize(
    ("crontab", "expected", "noted"),
    [
        (None, (DependentCycle.DAY, "today"), False),
        ("0 0 2 * * ? *", (DependentCycle.DAY, "today"), False),
        ("0 15 * * * ? *", (DependentCycle.HOUR, "currentHour"), False),
        ("0 0 */4 * * ? *", (DependentCycle.HOUR, "currentHour"), False),
        ("0 0 3 ? * MON *", (DependentCycle.DAY, "today"), True),
        ("0 0 3 1 * ? *", (DependentCycle.DAY, "today"), True),
    ],
)
def test_dependent_period_follows_the_upstream_schedule(
    crontab: str | None, expected: tuple[DependentCycle, str], noted: bool
) -> None:
    cycle, value, note = dependent_period(crontab)
    assert (cycle, value) == expected
    assert value in DEPENDENT_DATE_VALUES[cycle]
    assert (note is not None) == noted


def test_circles() -> None:
    assert circles([(1, 2), (2, 3), (3, 1), (3, 4), (5, 5)]) == {1, 2, 3}
    assert circles([(1, 2), (2, 3)]) == set()


def _check_book(book: ProposalBook, unassigned: set[int], edges: list[EdgePair], max_size: int) -> None:
    groups = list(book.groups.values())
    _check_partition(unassigned, groups, edges, max_size)
    assert _group_graph_is_acyclic(groups, edges)
    assert all(book.group_of[t] == gid for gid, g in book.groups.items() for t in g.task_ids)
    assert set(book.group_of) == unassigned
    # the links cached between updates are the ones the groups have now
    up = _upstream(edges)
    down = invert(up)
    for (gid, downstream), linked in book._linked_cache.items():
        links = down if downstream else up
        assert linked == {book.group_of[w] for t in book.groups[gid].task_ids for w in links.get(t, ())}


@settings(max_examples=80, deadline=None)
@given(graphs(acyclic=True), st.integers(1, 8), st.data())
def test_incremental_upkeep_keeps_every_invariant_after_a_random_sequence_of_events(
    graph: tuple[set[int], list[EdgePair]], max_size: int, data: st.DataObject
) -> None:
    tasks, edges = graph
    tasks |= {1, 2, 3}
    n = max(tasks)
    unassigned = set(tasks)
    book = ProposalBook(max_size=max_size)
    upstream = _upstream(edges)
    downstream = invert(upstream)
    book.rebuild(unassigned, upstream)
    _check_book(book, unassigned, edges, max_size)
    for _ in range(data.draw(st.integers(1, 12))):
        kind = data.draw(st.sampled_from(["add", "add", "add", "remove", "leave", "join"]))
        u, v = sorted(data.draw(st.lists(st.integers(1, n), min_size=2, max_size=2, unique=True)))
        if kind == "add" and (u, v) not in edges:
            edges.append((u, v))
            change = Change(added=((u, v),))
        elif kind == "remove" and edges:
            e = data.draw(st.sampled_from(edges))
            edges.remove(e)
            change = Change(removed=(e,))
        elif kind == "leave" and u in unassigned:
            unassigned.discard(u)
            change = Change(left=(u,))
        elif kind == "join" and u not in unassigned:
            unassigned.add(u)
            change = Change(joined=(u,))
        else:
            continue
        # the same mappings changed in place (as the service's caches are): the book keeps what it derived from them
        upstream.clear()
        upstream.update(_upstream(edges))
        downstream.clear()
        downstream.update(invert(upstream))
        book.update(change, unassigned=unassigned, upstream=upstream, downstream=downstream)
        _check_book(book, unassigned, [(x, y) for x, y in edges if x in unassigned and y in unassigned], max_size)


def test_a_group_formed_again_with_the_same_tasks_keeps_its_id_and_its_links_are_formed_again() -> None:
    """A dependency between two groups that cannot merge (too large) and closes no circle: both groups are formed
    again with the same tasks, keep their ids (the other groups' cached links stay true), and their own cached links
    now include the new dependency."""
    upstream: dict[int, list[int]] = {2: [1], 4: [3]}
    downstream = invert(upstream)
    book = ProposalBook(max_size=2)
    book.rebuild({1, 2, 3, 4}, upstream)
    book.update(Change(), unassigned={1, 2, 3, 4}, upstream=upstream, downstream=downstream)
    a, b = book.group_of[1], book.group_of[3]
    assert book._linked(a, downstream) == {a}
    assert book._linked(b, upstream) == {b}
    upstream[3] = [2]
    downstream[2] = [3]
    new = book.update(Change(added=((2, 3),)), unassigned={1, 2, 3, 4}, upstream=upstream, downstream=downstream)
    assert sorted(new) == sorted([a, b])
    assert (book.group_of[1], book.group_of[3]) == (a, b)
    _check_book(book, {1, 2, 3, 4}, [(1, 2), (3, 4), (2, 3)], 2)
    assert book._linked(a, downstream) == {a, b}


@settings(max_examples=60, deadline=None)
@given(graphs(acyclic=False))
def test_both_ways_of_finding_the_components_agree_with_networkx(graph: tuple[set[int], list[EdgePair]]) -> None:
    # a union-find for the small regions of the upkeep, scipy's sparse graph for larger ones
    tasks, edges = graph
    digraph: nx.DiGraph[int] = nx.DiGraph(edges)
    digraph.add_nodes_from(tasks)
    expected = sorted(sorted(c) for c in nx.weakly_connected_components(digraph))
    src = np.array([u - 1 for u, _ in edges], dtype=np.int64)
    dst = np.array([v - 1 for _, v in edges], dtype=np.int64)
    for small in (len(edges), len(edges) - 1):  # the union-find, then scipy
        labels = _components(len(tasks), src, dst, small=small).tolist()
        found: dict[int, list[int]] = {}
        for i, label in enumerate(labels):
            found.setdefault(label, []).append(i + 1)
        assert sorted(found.values()) == expected
        assert sorted(found) == list(range(len(found)))
