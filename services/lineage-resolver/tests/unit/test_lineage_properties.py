"""Property tests: incremental == full recomputation == brute-force oracle; events == view diff; cycle and
self-dependency reports are exact and name the tables; OpenLineage == equivalent native events."""

from __future__ import annotations

from collections import deque
from itertools import pairwise
from typing import Any

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from lineage_resolver.domain import (
    AddTableLineage,
    DependencyDelta,
    DependencyRow,
    InMemoryLineageStore,
    JobPattern,
    LineageChange,
    OpenLineageConfig,
    RemoveTableLineage,
    RemoveTask,
    ResolverOptions,
    SetTaskTables,
    TableLineageEdge,
    apply_lineage_change,
    decode_lineage_payload,
    diff_views,
    plan_lineage_change,
    rebuild_dependency_view,
)

TASKS = list(range(1, 7))
TABLES = [f"t{i}" for i in range(5)]

table_sets = st.frozensets(st.sampled_from(TABLES), max_size=3)
set_tables = (
    st.tuples(st.sampled_from(TASKS), st.none() | table_sets, st.none() | table_sets)
    .filter(lambda x: x[1] is not None or x[2] is not None)
    .map(lambda x: SetTaskTables(task_id=x[0], reads=x[1], writes=x[2]))
)
edge = st.tuples(st.sampled_from(TABLES), st.sampled_from(TABLES)).filter(lambda e: e[0] != e[1])
edge_list = st.lists(edge, min_size=1, max_size=3).map(
    lambda es: tuple(TableLineageEdge(source=s, target=t) for s, t in es)
)
events: st.SearchStrategy[LineageChange] = st.one_of(
    set_tables,
    set_tables,
    set_tables,
    st.builds(RemoveTask, task_id=st.sampled_from(TASKS)),
    edge_list.map(lambda es: AddTableLineage(edges=es)),
    edge_list.map(lambda es: RemoveTableLineage(edges=es)),
)


# -- an oracle that shares no code with the resolver ------------------------------------------------------------
def distances(lineage: set[tuple[str, str]], source: str, hops: int) -> dict[str, int]:
    out = {source: 0}
    queue = deque([source])
    while queue:
        table = queue.popleft()
        if out[table] == hops:
            continue
        for s, t in lineage:
            if s == table and t not in out:
                out[t] = out[table] + 1
                queue.append(t)
    return out


def oracle_edges(store: InMemoryLineageStore, hops: int) -> set[tuple[int, int]]:
    tasks = {tt.task_id: tt for tt in store.iter_task_tables()}
    lineage = set(store.iter_table_lineage())
    reach = {t: distances(lineage, t, hops) for t in TABLES}
    return {
        (a, b)
        for a, ta in tasks.items()
        for b, tb in tasks.items()
        if a != b and any(r in reach[w] for w in ta.writes for r in tb.reads)
    }


def oracle_view(store: InMemoryLineageStore, hops: int) -> dict[int, DependencyRow]:
    found = oracle_edges(store, hops)
    nodes = {a for a, _ in found} | {b for _, b in found}
    return {
        n: DependencyRow(n, frozenset(a for a, b in found if b == n), frozenset(b for a, b in found if a == n))
        for n in nodes
    }


def oracle_self_tables(store: InMemoryLineageStore, task_id: int, hops: int) -> tuple[str, ...]:
    tt = store.tables_of([task_id]).get(task_id)
    if tt is None:
        return ()
    lineage = set(store.iter_table_lineage())
    reached = {r for w in tt.writes for r in distances(lineage, w, hops)}
    return tuple(sorted(tt.reads & reached))


def view_edges(view: dict[int, DependencyRow]) -> set[tuple[int, int]]:
    return {(t, d) for t, row in view.items() for d in row.downstream}


def check_cycles(delta: DependencyDelta, store: InMemoryLineageStore, before: set[tuple[int, int]], hops: int) -> None:
    after = view_edges(store.view())
    graph: nx.DiGraph[int] = nx.DiGraph(list(after))
    closing = {(u, v) for u, v in after - before if nx.has_path(graph, v, u)}
    reported_edges = {pair for cycle in delta.cycles for pair in pairwise(cycle.tasks)}
    assert closing <= reported_edges
    assert bool(delta.cycles) == bool(closing)
    lineage = set(store.iter_table_lineage())
    tables = {tt.task_id: tt for tt in store.iter_task_tables()}
    for cycle in delta.cycles:
        assert cycle.tasks[0] == cycle.tasks[-1] == min(cycle.tasks)
        assert len(set(cycle.tasks)) == len(cycle.tasks) - 1
        assert len(cycle.links) == len(cycle.tasks) - 1
        assert cycle.tables
        for (a, b), link in zip(pairwise(cycle.tasks), cycle.links, strict=True):
            assert (a, b) in after
            assert (link.upstream, link.downstream) == (a, b)
            assert link.paths
            if hops == 0:
                assert {p[0] for p in link.paths} == tables[a].writes & tables[b].reads
            for path in link.paths:
                assert path[0] in tables[a].writes
                assert path[-1] in tables[b].reads
                assert len(path) - 1 <= hops
                assert all(step in lineage for step in pairwise(path))


@settings(max_examples=600, deadline=None)
@given(st.lists(events, max_size=25), st.sampled_from([0, 1, 2]))
def test_incremental_view_equals_full_recomputation(changes: list[LineageChange], hops: int) -> None:
    options = ResolverOptions(external_lineage_hops=hops)
    store = InMemoryLineageStore()
    for change in changes:
        before = store.view()
        planned = plan_lineage_change(store, change, options)
        assert store.view() == before  # planning writes nothing
        delta = apply_lineage_change(store, change, options)
        assert delta == planned
        after = store.view()
        assert after == oracle_view(store, hops)
        assert after == rebuild_dependency_view(store.iter_task_tables(), store.iter_table_lineage(), options)
        assert delta.changes == diff_views(before, after).changes()
        assert {r.task_id for r in delta.view_rows} == {c.task_id for c in delta.changes}
        check_cycles(delta, store, view_edges(before), hops)
        if isinstance(change, SetTaskTables) and delta.task_tables:
            expected = oracle_self_tables(store, change.task_id, hops)
            assert [(s.task_id, s.tables) for s in delta.self_dependencies] == (
                [(change.task_id, expected)] if expected else []
            )
        for loop in delta.self_dependencies:
            assert loop.tables == oracle_self_tables(store, loop.task_id, hops)
            assert loop.task_id not in after.get(loop.task_id, DependencyRow(loop.task_id)).upstream
        assert apply_lineage_change(store, change, options).is_noop  # redelivery changes nothing


NAMESPACES = {"pg://h:1": "pg://h:1", "S3://Bkt/": "s3://bkt", "hive": "hive"}
OL_CONFIG = OpenLineageConfig(patterns=(JobPattern(namespace="platform", name_regex=r"task-(?P<task_id>\d+)"),))
datasets = st.lists(st.tuples(st.sampled_from(sorted(NAMESPACES)), st.sampled_from(["a", "b", "C", "/d"])), max_size=3)
ol_events = st.tuples(
    st.sampled_from(TASKS),
    st.sampled_from(["START", "RUNNING", "COMPLETE", "COMPLETE", "COMPLETE", "FAIL", "ABORT", "OTHER"]),
    datasets,
    datasets,
)


def ol_payload(
    task_id: int, event_type: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]]
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": "2025-01-01T00:00:00Z",
        "run": {"runId": f"run-{task_id}"},
        "job": {"namespace": "platform", "name": f"task-{task_id}"},
        "inputs": [{"namespace": ns, "name": n} for ns, n in inputs],
        "outputs": [{"namespace": ns, "name": n} for ns, n in outputs],
    }


def native_name(namespace: str, name: str) -> str:
    return NAMESPACES[namespace] + "/" + name.lstrip("/")


@settings(max_examples=200, deadline=None)
@given(st.lists(ol_events, max_size=20))
def test_openlineage_events_equal_native_events(
    items: list[tuple[int, str, list[tuple[str, str]], list[tuple[str, str]]]],
) -> None:
    via_ol = InMemoryLineageStore()
    native = InMemoryLineageStore()
    for task_id, event_type, inputs, outputs in items:
        ol_deltas = [
            apply_lineage_change(via_ol, c)
            for c in decode_lineage_payload(ol_payload(task_id, event_type, inputs, outputs), OL_CONFIG)
        ]
        native_deltas = []
        if event_type == "COMPLETE" and (inputs or outputs):
            cmd = SetTaskTables(
                task_id=task_id,
                reads=frozenset(native_name(*d) for d in inputs),
                writes=frozenset(native_name(*d) for d in outputs),
            )
            native_deltas.append(apply_lineage_change(native, cmd))
        assert [d.changes for d in ol_deltas] == [d.changes for d in native_deltas]
        assert [d.cycles for d in ol_deltas] == [d.cycles for d in native_deltas]
        assert via_ol.view() == native.view()
