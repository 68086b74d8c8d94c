"""Incremental resolution: dependencies, idempotency, affected tasks only, self-dependencies, cycles, hops."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Set

import pytest

from lineage_resolver.domain import (
    AddTableLineage,
    DependencyRow,
    InMemoryLineageStore,
    RemoveTableLineage,
    RemoveTask,
    ResolverOptions,
    SetTaskTables,
    TableLineageEdge,
    TaskTables,
    apply_lineage_change,
    check_view,
    plan_lineage_change,
)

A, B, C, D = 1, 2, 3, 4
HOPS1 = ResolverOptions(external_lineage_hops=1)
HOPS2 = ResolverOptions(external_lineage_hops=2)


def tables(task_id: int, reads: set[str] | None = None, writes: set[str] | None = None) -> SetTaskTables:
    return SetTaskTables(
        task_id=task_id,
        reads=None if reads is None else frozenset(reads),
        writes=None if writes is None else frozenset(writes),
    )


def edges(*pairs: tuple[str, str]) -> tuple[TableLineageEdge, ...]:
    return tuple(TableLineageEdge(source=s, target=t) for s, t in pairs)


def deps(store: InMemoryLineageStore) -> dict[int, tuple[set[int], set[int]]]:
    return {t: (set(r.upstream), set(r.downstream)) for t, r in store.view().items()}


def test_writer_is_upstream_of_reader() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, set(), {"t1"}))
    delta = apply_lineage_change(store, tables(B, {"t1"}, {"t2"}))
    assert deps(store) == {A: (set(), {B}), B: ({A}, set())}
    assert [(c.task_id, c.old_downstream, c.new_downstream, c.old_upstream, c.new_upstream) for c in delta.changes] == [
        (A, (), (B,), (), ()),
        (B, (), (), (), (A,)),
    ]
    assert {r.task_id: (r.upstream_count, r.downstream_count) for r in delta.view_rows} == {A: (0, 1), B: (1, 0)}


def test_reader_first_then_writer_gives_same_result() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(B, {"t1"}, set()))
    apply_lineage_change(store, tables(A, set(), {"t1"}))
    assert deps(store) == {A: (set(), {B}), B: ({A}, set())}


def test_same_change_twice_is_a_noop() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, set(), {"t1"}))
    apply_lineage_change(store, tables(B, {"t1"}, set()))
    again = apply_lineage_change(store, tables(B, {"t1"}, set()))
    assert again.is_noop
    assert again.changes == ()


def test_none_side_keeps_existing_tables() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, {"src"}, {"t1"}))
    apply_lineage_change(store, tables(A, reads={"other"}))
    assert store.tables_of([A])[A] == TaskTables(A, frozenset({"other"}), frozenset({"t1"}))
    apply_lineage_change(store, tables(A, writes=set()))
    assert store.tables_of([A])[A] == TaskTables(A, frozenset({"other"}), frozenset())


def test_replacing_reads_moves_the_dependency() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, set(), {"t1"}))
    apply_lineage_change(store, tables(C, set(), {"t3"}))
    apply_lineage_change(store, tables(B, {"t1"}, set()))
    delta = apply_lineage_change(store, tables(B, {"t3"}, set()))
    assert deps(store) == {C: (set(), {B}), B: ({C}, set())}
    changed = {c.task_id: c for c in delta.changes}
    assert set(changed) == {A, B, C}
    assert changed[A].downstream_removed == {B}
    assert changed[C].downstream_added == {B}
    assert changed[B].upstream_added == {C}
    assert changed[B].upstream_removed == {A}
    assert A not in store.view()  # row deleted when both sets become empty
    assert DependencyRow(A) in delta.view_rows


def test_remove_task_drops_it_from_neighbours() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, set(), {"t1"}))
    apply_lineage_change(store, tables(B, {"t1"}, {"t2"}))
    apply_lineage_change(store, tables(C, {"t2"}, set()))
    delta = apply_lineage_change(store, RemoveTask(task_id=B))
    assert deps(store) == {}
    assert store.tables_of([B]) == {}
    assert store.readers_of(["t1"]) == {}
    assert {c.task_id for c in delta.changes} == {A, B, C}
    assert apply_lineage_change(store, RemoveTask(task_id=B)).is_noop


def test_fan_in_and_fan_out() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, set(), {"t1", "t2"}))
    apply_lineage_change(store, tables(B, set(), {"t1"}))
    apply_lineage_change(store, tables(C, {"t1"}, set()))
    apply_lineage_change(store, tables(D, {"t1", "t2"}, set()))
    assert deps(store) == {A: (set(), {C, D}), B: (set(), {C, D}), C: ({A, B}, set()), D: ({A, B}, set())}
    delta = apply_lineage_change(store, tables(A, writes={"t2"}))
    assert deps(store)[C] == ({B}, set())
    assert deps(store)[D] == ({A, B}, set())
    assert {c.task_id for c in delta.changes} == {A, C}


def test_plan_does_not_write() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, set(), {"t1"}))
    delta = plan_lineage_change(store, tables(B, {"t1"}, set()))
    assert delta.changes
    assert store.view() == {}
    assert store.tables_of([B]) == {}


class RecordingStore(InMemoryLineageStore):
    """Records which tasks and tables the resolver loads."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks_loaded: set[int] = set()
        self.tables_loaded: set[str] = set()

    def tables_of(self, task_ids: Collection[int]) -> Mapping[int, TaskTables]:
        self.tasks_loaded |= set(task_ids)
        return super().tables_of(task_ids)

    def readers_of(self, tables: Collection[str]) -> Mapping[str, Set[int]]:
        self.tables_loaded |= set(tables)
        return super().readers_of(tables)

    def writers_of(self, tables: Collection[str]) -> Mapping[str, Set[int]]:
        self.tables_loaded |= set(tables)
        return super().writers_of(tables)

    def dependency_rows(self, task_ids: Collection[int]) -> Mapping[int, DependencyRow]:
        self.tasks_loaded |= set(task_ids)
        return super().dependency_rows(task_ids)


def test_only_affected_rows_are_loaded() -> None:
    store = RecordingStore()
    # 50 independent chains i*10+1 -> i*10+2 over tables c{i}
    for i in range(50):
        apply_lineage_change(store, tables(i * 10 + 1, set(), {f"c{i}"}))
        apply_lineage_change(store, tables(i * 10 + 2, {f"c{i}"}, set()))
    store.tasks_loaded.clear()
    store.tables_loaded.clear()
    delta = apply_lineage_change(store, tables(999, {"c7"}, {"x"}))
    assert delta.affected_tasks == {71, 999}
    assert store.tasks_loaded <= {71, 72, 999}
    assert store.tables_loaded <= {"c7", "x"}
    assert deps(store)[71] == (set(), {72, 999})


def test_self_dependency_is_ignored_and_reported() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, set(), {"t"}))
    delta = apply_lineage_change(store, tables(B, {"t", "acc"}, {"acc"}))
    assert [(s.task_id, s.tables) for s in delta.self_dependencies] == [(B, ("acc",))]
    assert deps(store) == {A: (set(), {B}), B: ({A}, set())}
    assert B not in deps(store)[B][0]


def test_self_dependency_through_external_lineage_when_enabled() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, {"v"}, {"t"}), HOPS1)
    assert apply_lineage_change(store, tables(B, set(), {"x"}), HOPS1).self_dependencies == ()
    delta = apply_lineage_change(store, AddTableLineage(edges=edges(("t", "v"))), HOPS1)
    assert [(s.task_id, s.tables) for s in delta.self_dependencies] == [(A, ("v",))]
    assert deps(store) == {}


def test_cycle_is_reported_with_tasks_and_tables_and_still_applied() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, set(), {"t1"}))
    assert apply_lineage_change(store, tables(B, {"t1"}, {"t2"})).cycles == ()
    delta = apply_lineage_change(store, tables(A, reads={"t2"}))
    assert len(delta.cycles) == 1
    cycle = delta.cycles[0]
    assert cycle.tasks == (A, B, A)
    assert cycle.tables == ("t1", "t2")
    assert [(link.upstream, link.downstream, link.paths) for link in cycle.links] == [
        (A, B, (("t1",),)),
        (B, A, (("t2",),)),
    ]
    assert cycle.describe() == "1 -[t1]-> 2 -[t2]-> 1"
    assert deps(store) == {A: ({B}, {B}), B: ({A}, {A})}


def test_longer_cycle_is_rotated_to_smallest_task_and_names_every_table() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(C, {"t3"}, {"t1"}))
    apply_lineage_change(store, tables(B, {"t1"}, {"t2"}))
    delta = apply_lineage_change(store, tables(A, {"t2"}, {"t3", "t3b"}))
    assert [c.tasks for c in delta.cycles] == [(A, C, B, A)]
    assert delta.cycles[0].tables == ("t3", "t1", "t2")


def test_cycle_not_reported_for_unrelated_change_in_cyclic_graph() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, {"t2"}, {"t1"}))
    assert apply_lineage_change(store, tables(B, {"t1"}, {"t2"})).cycles
    delta = apply_lineage_change(store, tables(C, {"t1"}, set()))
    assert delta.changes
    assert delta.cycles == ()


def test_cycle_check_can_be_disabled() -> None:
    store = InMemoryLineageStore()
    off = ResolverOptions(check_cycles=False)
    apply_lineage_change(store, tables(A, {"t2"}, {"t1"}), off)
    assert apply_lineage_change(store, tables(B, {"t1"}, {"t2"}), off).cycles == ()


def test_table_lineage_alone_creates_no_dependency_by_default() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, set(), {"t1"}))
    apply_lineage_change(store, tables(B, {"t2"}, set()))
    delta = apply_lineage_change(store, AddTableLineage(edges=edges(("t1", "t2"))))
    assert delta.lineage_added == {("t1", "t2")}
    assert delta.changes == ()
    assert deps(store) == {}
    assert store.lineage_targets(["t1"]) == {"t1": {"t2"}}
    assert apply_lineage_change(store, AddTableLineage(edges=edges(("t1", "t2")))).is_noop
    removed = apply_lineage_change(store, RemoveTableLineage(edges=edges(("t1", "t2"), ("t9", "t8"))))
    assert removed.lineage_removed == {("t1", "t2")}
    assert store.lineage_targets(["t1"]) == {}


def test_external_lineage_hops_create_and_remove_dependencies() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, set(), {"t1"}), HOPS1)
    apply_lineage_change(store, tables(B, {"t2"}, set()), HOPS1)
    apply_lineage_change(store, tables(C, {"t3"}, set()), HOPS1)
    delta = apply_lineage_change(store, AddTableLineage(edges=edges(("t1", "t2"), ("t2", "t3"))), HOPS1)
    assert deps(store) == {A: (set(), {B}), B: ({A}, set())}  # t1->t2->t3 is 2 hops: C not reached
    assert {c.task_id for c in delta.changes} == {A, B}
    assert check_view(store, HOPS1).is_clean
    removed = apply_lineage_change(store, RemoveTableLineage(edges=edges(("t1", "t2"))), HOPS1)
    assert deps(store) == {}
    assert {c.task_id for c in removed.changes} == {A, B}


def test_two_hops_reach_further_and_cycle_tables_follow_the_lineage_path() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, {"u"}, {"t1"}), HOPS2)
    apply_lineage_change(store, tables(B, {"t3"}, {"w"}), HOPS2)
    apply_lineage_change(store, AddTableLineage(edges=edges(("t1", "t2"), ("t2", "t3"))), HOPS2)
    assert deps(store) == {A: (set(), {B}), B: ({A}, set())}
    delta = apply_lineage_change(store, tables(A, reads={"w"}), HOPS2)
    assert [c.tasks for c in delta.cycles] == [(A, B, A)]
    assert delta.cycles[0].links[0].paths == (("t1", "t2", "t3"),)
    assert delta.cycles[0].tables == ("t1", "t2", "t3", "w")


def test_task_change_with_hops_reaches_readers_beyond_lineage() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, AddTableLineage(edges=edges(("t1", "t2"))), HOPS1)
    apply_lineage_change(store, tables(B, {"t2"}, set()), HOPS1)
    delta = apply_lineage_change(store, tables(A, set(), {"t1"}), HOPS1)
    assert {c.task_id for c in delta.changes} == {A, B}
    assert deps(store) == {A: (set(), {B}), B: ({A}, set())}


def test_stale_view_is_healed_by_recompute() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, set(), {"t1"}))
    apply_lineage_change(store, tables(B, {"t1"}, set()))
    store.put_dependency_view_rows([DependencyRow(B, frozenset({77}), frozenset())])
    delta = apply_lineage_change(store, tables(B, {"t1", "t5"}, set()))
    assert deps(store)[B] == ({A}, set())
    assert [c.old_upstream for c in delta.changes if c.task_id == B] == [(77,)]


@pytest.mark.parametrize("hops", [-1, 17])
def test_hops_out_of_range_are_rejected(hops: int) -> None:
    with pytest.raises(ValueError, match="external_lineage_hops"):
        ResolverOptions(external_lineage_hops=hops)


def test_edge_added_in_the_middle_of_a_two_hop_path_updates_both_ends() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, writes={"w"}), HOPS2)
    apply_lineage_change(store, tables(B, reads={"y"}), HOPS2)
    apply_lineage_change(store, AddTableLineage(edges=edges(("w", "x"))), HOPS2)
    delta = apply_lineage_change(store, AddTableLineage(edges=edges(("x", "y"))), HOPS2)
    assert {c.task_id for c in delta.changes} == {A, B}
    assert deps(store) == {A: (set(), {B}), B: ({A}, set())}
    apply_lineage_change(store, AddTableLineage(edges=edges(("v", "w"))), HOPS2)
    apply_lineage_change(store, tables(C, writes={"v"}), HOPS2)
    assert deps(store)[B] == ({A}, set())  # v -> w -> x -> y is three hops
    assert check_view(store, HOPS2).is_clean


def test_long_cycle_is_found_across_many_levels_and_branches() -> None:
    store = InMemoryLineageStore()
    for i in range(1, 11):  # chain 1 -> 2 -> ... -> 10 via c1..c9, each with side readers
        apply_lineage_change(store, tables(i, {f"c{i - 1}"} if i > 1 else set(), {f"c{i}"}))
        for j in range(3):
            apply_lineage_change(store, tables(100 + 10 * i + j, {f"c{i}"}, {f"side{i}_{j}"}))
    delta = apply_lineage_change(store, tables(1, reads={"c10"}))
    assert [c.tasks for c in delta.cycles] == [(*range(1, 11), 1)]
    assert delta.cycles[0].tables == (*(f"c{i}" for i in range(1, 10)), "c10")


def test_batch_of_edges_forming_a_path_is_resolved_as_a_whole() -> None:
    store = InMemoryLineageStore()
    apply_lineage_change(store, tables(A, writes={"x"}), HOPS2)
    apply_lineage_change(store, tables(B, reads={"z"}), HOPS2)
    delta = apply_lineage_change(store, AddTableLineage(edges=edges(("x", "y"), ("y", "z"))), HOPS2)
    assert {c.task_id for c in delta.changes} == {A, B}
    assert deps(store) == {A: (set(), {B}), B: ({A}, set())}
    removed = apply_lineage_change(store, RemoveTableLineage(edges=edges(("x", "y"), ("y", "z"))), HOPS2)
    assert {c.task_id for c in removed.changes} == {A, B}
    assert deps(store) == {}
