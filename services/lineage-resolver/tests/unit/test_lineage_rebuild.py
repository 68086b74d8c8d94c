"""Full rebuild, view diff, repair."""

from __future__ import annotations

from lineage_resolver.domain import (
    DependencyRow,
    InMemoryLineageStore,
    RelationKind,
    ResolverOptions,
    TaskTables,
    check_view,
    diff_views,
    full_rebuild,
    rebuild_dependency_view,
    rebuild_from_relations,
)

R, W = RelationKind.READ, RelationKind.WRITE


def row(task_id: int, up: set[int], down: set[int]) -> DependencyRow:
    return DependencyRow(task_id, frozenset(up), frozenset(down))


RELATIONS = [
    (1, "t1", W),
    (2, "t1", R),
    (2, "t2", W),
    (3, "t2", R),
    (3, "t1", R),
    (4, "x", R),
    (4, "x", W),  # self-dependency only: no row
    (5, "ext", R),
]


def test_rebuild_from_relations() -> None:
    view = rebuild_from_relations(RELATIONS)
    assert view == {1: row(1, set(), {2, 3}), 2: row(2, {1}, {3}), 3: row(3, {1, 2}, set())}


def test_rebuild_with_external_lineage_hops() -> None:
    lineage = [("t2", "mid"), ("mid", "ext")]
    assert 5 not in rebuild_from_relations(RELATIONS, lineage, ResolverOptions(external_lineage_hops=1))
    view = rebuild_from_relations(RELATIONS, lineage, ResolverOptions(external_lineage_hops=2))
    assert view[5] == row(5, {2}, set())
    assert view[2] == row(2, {1}, {3, 5})
    assert rebuild_from_relations(RELATIONS, lineage) == rebuild_from_relations(RELATIONS)


def test_rebuild_from_task_tables_matches_relations() -> None:
    store = InMemoryLineageStore.from_relations(RELATIONS)
    assert rebuild_dependency_view(store.iter_task_tables()) == rebuild_from_relations(RELATIONS)
    assert store.tables_of([4]) == {4: TaskTables(4, frozenset({"x"}), frozenset({"x"}))}


def test_diff_views_and_changes() -> None:
    current = {1: row(1, set(), {2}), 2: row(2, {1}, set()), 9: row(9, {8}, set()), 7: DependencyRow(7)}
    expected = {1: row(1, set(), {2, 3}), 2: row(2, {1}, set()), 3: row(3, {1}, set())}
    diff = diff_views(current, expected)
    assert not diff.is_clean
    assert diff.missing == (row(3, {1}, set()),)
    assert diff.extra == (row(9, {8}, set()),)
    assert diff.different == ((row(1, set(), {2}), row(1, set(), {2, 3})),)
    assert diff.rows_to_write() == (row(1, set(), {2, 3}), row(3, {1}, set()), DependencyRow(9))
    summary = [(c.task_id, c.old_downstream, c.new_downstream, c.old_upstream, c.new_upstream) for c in diff.changes()]
    assert summary == [
        (1, (2,), (2, 3), (), ()),
        (3, (), (), (), (1,)),
        (9, (), (), (8,), ()),
    ]
    assert diff_views(expected, expected).is_clean


def test_full_rebuild_repairs_the_store() -> None:
    store = InMemoryLineageStore.from_relations(RELATIONS)
    assert not check_view(store).is_clean
    diff = full_rebuild(store)
    assert len(diff.missing) == 3
    assert check_view(store).is_clean
    assert store.view() == rebuild_from_relations(RELATIONS)
    store.put_dependency_view_rows([row(42, {1}, set())])
    assert full_rebuild(store).extra == (row(42, {1}, set()),)
    assert 42 not in store.view()
    assert full_rebuild(store).is_clean
