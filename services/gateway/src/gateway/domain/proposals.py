"""What ties a proposal's tasks together, in tables: the definition service knows task ids only, lineage-resolver
knows which tables each task reads and writes; the gateway puts the two side by side for the person deciding."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskTables:
    reads: frozenset[str]
    writes: frozenset[str]


NO_TABLES = TaskTables(frozenset(), frozenset())


def tasks_to_look_up(preview: Mapping[str, Any]) -> list[int]:
    """The proposal's tasks and the tasks at the other end of each dependency its boundary cuts."""
    ids = dict.fromkeys(int(t) for t in preview.get("moved_task_ids", []))
    for cut in (preview.get("reasons") or {}).get("cut_dependencies", []):
        ids.update(dict.fromkeys((int(cut["upstream_task_id"]), int(cut["downstream_task_id"]))))
    return list(ids)


def with_tables(preview: dict[str, Any], tables: Mapping[int, TaskTables] | None) -> dict[str, Any]:
    """``preview`` with ``reasons.tables``: each table a task of the proposal writes and another of its tasks reads
    (its writers and readers among them), and each cut dependency's ``tables`` (written upstream, read downstream;
    empty when the dependency runs through table lineage). ``tables`` ``None`` (lineage could not be asked):
    ``reasons.tables`` is ``None`` and the preview is otherwise the same."""
    reasons = dict(preview.get("reasons") or {})
    if tables is None:
        return {**preview, "reasons": {**reasons, "tables": None}}
    members = [int(t) for t in preview.get("moved_task_ids", [])]
    writers: dict[str, set[int]] = {}
    readers: dict[str, set[int]] = {}
    for t in members:
        found = tables.get(t, NO_TABLES)
        for name in found.writes:
            writers.setdefault(name, set()).add(t)
        for name in found.reads:
            readers.setdefault(name, set()).add(t)
    tying = [
        {"table": name, "writers": sorted(writers[name]), "readers": sorted(readers[name] - writers[name])}
        for name in sorted(writers.keys() & readers.keys())
        if readers[name] - writers[name]
    ]
    cuts = [
        {**cut, "tables": _shared(tables, int(cut["upstream_task_id"]), int(cut["downstream_task_id"]))}
        for cut in reasons.get("cut_dependencies", [])
    ]
    return {**preview, "reasons": {**reasons, "tables": tying, "cut_dependencies": cuts}}


def _shared(tables: Mapping[int, TaskTables], upstream: int, downstream: int) -> list[str]:
    return sorted(tables.get(upstream, NO_TABLES).writes & tables.get(downstream, NO_TABLES).reads)


def parse_task_tables(items: Iterable[Mapping[str, Any]]) -> dict[int, TaskTables]:
    """lineage-resolver's ``/internal/task-tables`` rows by task id."""
    return {
        int(i["task_id"]): TaskTables(frozenset(i.get("reads") or ()), frozenset(i.get("writes") or ())) for i in items
    }
