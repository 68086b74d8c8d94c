"""Contract every ``LineageStore`` adapter must pass. ``LineageStoreContract`` is meant to be subclassed by the
PostgreSQL adapter's integration tests with its own ``store`` fixture; here it runs against the in-memory store."""

from __future__ import annotations

import pytest

from lineage_resolver.domain import DependencyRow, InMemoryLineageStore, LineageStore, TaskTables


class LineageStoreContract:
    @pytest.fixture
    def store(self) -> LineageStore:
        raise NotImplementedError

    def test_task_tables_roundtrip_and_indexes(self, store: LineageStore) -> None:
        store.set_task_tables(TaskTables(1, frozenset({"a", "b"}), frozenset({"c"})))
        store.set_task_tables(TaskTables(2, frozenset({"a"}), frozenset({"c", "d"})))
        assert store.tables_of([1, 2, 3]) == {
            1: TaskTables(1, frozenset({"a", "b"}), frozenset({"c"})),
            2: TaskTables(2, frozenset({"a"}), frozenset({"c", "d"})),
        }
        assert {k: set(v) for k, v in store.readers_of(["a", "b", "c", "zz"]).items()} == {"a": {1, 2}, "b": {1}}
        assert {k: set(v) for k, v in store.writers_of(["c", "d", "a"]).items()} == {"c": {1, 2}, "d": {2}}

    def test_replacing_and_clearing_task_tables(self, store: LineageStore) -> None:
        store.set_task_tables(TaskTables(1, frozenset({"a"}), frozenset({"c"})))
        store.set_task_tables(TaskTables(1, frozenset({"b"}), frozenset({"c"})))
        assert dict(store.readers_of(["a", "b"])) == {"b": {1}}
        store.set_task_tables(TaskTables(1))
        assert store.tables_of([1]) == {}
        assert dict(store.readers_of(["b"])) == {}
        assert dict(store.writers_of(["c"])) == {}
        assert list(store.iter_task_tables()) == []

    def test_table_lineage(self, store: LineageStore) -> None:
        store.add_table_lineage([("a", "b"), ("a", "c"), ("b", "c")])
        store.add_table_lineage([("a", "b")])
        assert {k: set(v) for k, v in store.lineage_targets(["a", "c"]).items()} == {"a": {"b", "c"}}
        assert {k: set(v) for k, v in store.lineage_sources(["c"]).items()} == {"c": {"a", "b"}}
        store.remove_table_lineage([("a", "c"), ("x", "y")])
        assert sorted(store.iter_table_lineage()) == [("a", "b"), ("b", "c")]

    def test_view_rows_upsert_and_delete(self, store: LineageStore) -> None:
        first = DependencyRow(1, frozenset({2}), frozenset())
        store.put_dependency_view_rows([first, DependencyRow(3, frozenset(), frozenset({1}))])
        store.put_dependency_view_rows([DependencyRow(3)])
        assert store.dependency_rows([1, 3]) == {1: first}
        assert list(store.iter_dependency_rows()) == [first]


class TestInMemoryLineageStore(LineageStoreContract):
    @pytest.fixture
    def store(self) -> LineageStore:
        return InMemoryLineageStore()
