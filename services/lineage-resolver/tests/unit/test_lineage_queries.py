"""Graph queries: upstream/downstream with depth, table impact with workflows."""

from __future__ import annotations

import pytest

from lineage_resolver.domain import (
    AddTableLineage,
    InMemoryLineageStore,
    SetTaskTables,
    TableLineageEdge,
    apply_lineage_change,
    downstream_of,
    path_to,
    table_impact,
    table_known,
    table_neighbourhood,
    task_links,
    upstream_of,
)


def chain_store() -> InMemoryLineageStore:
    """1 -> 2 -> 3 -> 4 via t1, t2, t3; 5 also reads t1; table lineage t3 -> ext1 -> ext2; 6 reads ext2."""
    store = InMemoryLineageStore()
    specs = {1: ((), ("t1",)), 2: (("t1",), ("t2",)), 3: (("t2",), ("t3",)), 4: (("t3",), ()), 5: (("t1",), ())}
    specs[6] = (("ext2",), ("out6",))
    for task_id, (reads, writes) in specs.items():
        apply_lineage_change(store, SetTaskTables(task_id=task_id, reads=frozenset(reads), writes=frozenset(writes)))
    apply_lineage_change(
        store,
        AddTableLineage(
            edges=(TableLineageEdge(source="t3", target="ext1"), TableLineageEdge(source="ext1", target="ext2"))
        ),
    )
    return store


def test_direct_and_transitive_dependencies() -> None:
    store = chain_store()
    assert downstream_of(store, 1) == {2: 1, 5: 1}
    assert downstream_of(store, 1, max_depth=2) == {2: 1, 5: 1, 3: 2}
    assert downstream_of(store, 1, max_depth=None) == {2: 1, 5: 1, 3: 2, 4: 3}
    assert upstream_of(store, 4, max_depth=None) == {3: 1, 2: 2, 1: 3}
    assert upstream_of(store, 1, max_depth=None) == {}
    assert upstream_of(store, 99) == {}


def test_transitive_query_terminates_on_cycles() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, SetTaskTables(task_id=1, reads=frozenset({"b"}), writes=frozenset({"a"})))
    apply_lineage_change(store, SetTaskTables(task_id=2, reads=frozenset({"a"}), writes=frozenset({"b"})))
    assert downstream_of(store, 1, max_depth=None) == {2: 1}
    assert upstream_of(store, 2, max_depth=None) == {1: 1}


def test_depth_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        upstream_of(chain_store(), 1, max_depth=0)


def test_table_impact_follows_tasks_and_external_lineage() -> None:
    store = chain_store()
    workflows = {1: 100, 2: 100, 3: 200, 4: 200, 5: 300, 6: 400}
    impact = table_impact(store, ["t2"], workflow_of=lambda ids: {i: workflows[i] for i in ids if i in workflows})
    assert impact.tasks == {3: 1, 4: 3, 6: 5}
    assert impact.tables == {"t2": 0, "t3": 2, "ext1": 3, "ext2": 4, "out6": 6}
    assert impact.workflows == {200, 400}


def test_table_impact_depth_limit_and_no_lookup() -> None:
    impact = table_impact(chain_store(), ["t2"], max_depth=2)
    assert impact.tasks == {3: 1}
    assert impact.tables == {"t2": 0, "t3": 2}
    assert impact.workflows == frozenset()
    assert table_impact(chain_store(), ["nothing"]).tasks == {}


def test_impact_paths_follow_tasks_and_lineage_edges_and_stop_at_the_cap() -> None:
    store = chain_store()
    impact = table_impact(store, ["t2"])
    assert path_to(impact, 6) == [
        ("table", "t2"),
        ("task", 3),
        ("table", "t3"),
        ("table", "ext1"),
        ("table", "ext2"),
        ("task", 6),
    ]
    assert impact.truncated is False
    capped = table_impact(store, ["t1"], max_nodes=3)
    assert capped.truncated is True
    assert len(capped.tables) + len(capped.tasks) == 3
    for task_id in capped.tasks:  # every listed task still has its whole path
        assert path_to(capped, task_id)[0] == ("table", "t1")


def test_table_neighbourhood_by_hops_with_caps() -> None:
    store = chain_store()
    assert table_known(store, "ext1")
    assert table_known(store, "out6")
    assert not table_known(store, "nope")
    g = table_neighbourhood(store, "t2", depth=1)
    assert dict(g.upstream) == {"t2": 0, "t1": 1}
    assert dict(g.downstream) == {"t2": 0, "t3": 1}
    assert (dict(g.task_upstream), dict(g.task_downstream)) == ({2: 1}, {3: 1})
    assert g.reads[3] == {"t2"}
    assert g.writes[3] == {"t3"}
    far = table_neighbourhood(store, "t2", depth=3)
    assert dict(far.downstream) == {"t2": 0, "t3": 1, "ext1": 2, "ext2": 3}
    assert far.table_edges == {("t3", "ext1"), ("ext1", "ext2")}
    assert 6 not in far.task_downstream  # 6 reads ext2 (hop 3): it would take hop 4
    capped = table_neighbourhood(store, "t1", depth=3, max_tasks=1)
    assert capped.truncated is True
    assert len(capped.task_upstream.keys() | capped.task_downstream.keys()) == 1


def test_task_links_direct_reachable_known_and_the_visit_cap() -> None:
    store = chain_store()
    links = task_links(store, [1, 3, 4, 5, 99], depth=5, max_visits=1000)
    assert dict(links.direct) == {(1, 5): frozenset({"t1"}), (3, 4): frozenset({"t3"})}
    assert links.reachable == {(1, 3), (1, 4), (1, 5), (3, 4)}
    assert links.known == {1, 3, 4, 5}
    assert task_links(store, [1, 4], depth=2, max_visits=1000).reachable == set()
    capped = task_links(store, [1, 4], depth=5, max_visits=1)
    assert capped.truncated is True
