"""Native commands: parsing, validation, poison messages."""

from __future__ import annotations

import pytest

from common.errors import DomainError, PoisonMessage
from lineage_resolver.domain import (
    AddTableLineage,
    InvalidLineageMessage,
    RemoveTableLineage,
    RemoveTask,
    SetTaskTables,
    parse_lineage_change,
)


def test_set_task_tables_parses_and_strips_names() -> None:
    cmd = parse_lineage_change(
        {"type": "task.tables.set", "task_id": 7, "reads": [" hive/a ", "hive/b"], "writes": [], "future": 1}
    )
    assert cmd == SetTaskTables(task_id=7, reads=frozenset({"hive/a", "hive/b"}), writes=frozenset())
    assert cmd.version == 1


def test_set_task_tables_from_json_bytes_and_none_side() -> None:
    cmd = parse_lineage_change(b'{"type": "task.tables.set", "task_id": 3, "writes": ["x"]}')
    assert isinstance(cmd, SetTaskTables)
    assert cmd.reads is None
    assert cmd.writes == frozenset({"x"})


def test_other_command_types() -> None:
    assert parse_lineage_change({"type": "task.removed", "task_id": 3}) == RemoveTask(task_id=3)
    add = parse_lineage_change({"type": "table.lineage.added", "edges": [{"source": "a", "target": "b"}]})
    assert isinstance(add, AddTableLineage)
    assert [e.as_tuple() for e in add.edges] == [("a", "b")]
    rem = parse_lineage_change({"type": "table.lineage.removed", "edges": [{"source": "a", "target": "b"}]})
    assert isinstance(rem, RemoveTableLineage)


def test_commands_are_frozen() -> None:
    cmd = RemoveTask(task_id=1)
    with pytest.raises(ValueError, match="frozen"):
        cmd.task_id = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"type": "task.tables.set", "task_id": 1}, "at least one of reads or writes"),
        ({"type": "task.tables.set", "task_id": 0, "reads": []}, "task_id"),
        ({"type": "task.tables.set", "task_id": 1, "reads": ["  "]}, "reads"),
        ({"type": "table.lineage.added", "edges": []}, "edges"),
        ({"type": "table.lineage.added", "edges": [{"source": "a", "target": "a"}]}, "to itself"),
        ({"type": "task.renamed", "task_id": 1}, "type"),
        ({"type": "task.removed", "task_id": 1, "version": 2}, "version"),
    ],
)
def test_invalid_commands_are_poison(payload: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidLineageMessage, match=fragment) as info:
        parse_lineage_change(payload)
    assert isinstance(info.value, PoisonMessage)
    assert isinstance(info.value, DomainError)
    assert info.value.code == "invalid-lineage-message"
    assert not info.value.retryable


def test_invalid_json_is_poison() -> None:
    with pytest.raises(InvalidLineageMessage):
        parse_lineage_change("{not json")
