"""``gateway.domain.proposals``: the tables that tie a proposal's tasks together."""

from __future__ import annotations

from gateway.domain.proposals import TaskTables, parse_task_tables, tasks_to_look_up, with_tables


def tt(reads: tuple[str, ...] = (), writes: tuple[str, ...] = ()) -> TaskTables:
    return TaskTables(frozenset(reads), frozenset(writes))


PREVIEW = {
    "moved_task_ids": [1, 2, 3],
    "reasons": {
        "split": True,
        "cut_dependencies": [
            {"upstream_task_id": 3, "downstream_task_id": 9, "outside": "downstream"},
            {"upstream_task_id": 8, "downstream_task_id": 1, "outside": "upstream"},
        ],
    },
}


def test_tables_written_and_read_inside_tie_the_tasks() -> None:
    tables = {
        1: tt(reads=("raw.a",), writes=("stg.a",)),
        2: tt(reads=("stg.a",), writes=("mart.b",)),
        3: tt(reads=("stg.a", "mart.b"), writes=("mart.c",)),
        8: tt(writes=("raw.a",)),
        9: tt(reads=("mart.z",)),  # through table lineage: no table in common
    }
    out = with_tables(PREVIEW, tables)
    assert out["reasons"]["tables"] == [
        {"table": "mart.b", "writers": [2], "readers": [3]},
        {"table": "stg.a", "writers": [1], "readers": [2, 3]},
    ]
    assert [c["tables"] for c in out["reasons"]["cut_dependencies"]] == [[], ["raw.a"]]
    assert out["reasons"]["split"] is True
    assert "tables" not in PREVIEW["reasons"]  # the input is not changed


def test_a_table_a_task_reads_and_writes_alone_ties_nothing() -> None:
    out = with_tables({"moved_task_ids": [1], "reasons": {}}, {1: tt(reads=("t",), writes=("t",))})
    assert out["reasons"]["tables"] == []


def test_without_lineage_the_tables_are_unknown() -> None:
    out = with_tables(PREVIEW, None)
    assert out["reasons"]["tables"] is None
    assert out["reasons"]["cut_dependencies"] == PREVIEW["reasons"]["cut_dependencies"]


def test_look_up_the_members_and_both_ends_of_each_cut_once() -> None:
    assert tasks_to_look_up(PREVIEW) == [1, 2, 3, 9, 8]
    assert parse_task_tables([{"task_id": 4, "reads": ["a"], "writes": []}]) == {4: tt(reads=("a",))}
