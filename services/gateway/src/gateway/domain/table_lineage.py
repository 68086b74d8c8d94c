"""Lineage for people (issue 21 item 3): a table's neighbourhood and its impact with the tasks named and grouped by
workflow, and a workflow DAG's drawn edges checked against lineage. Pure: lineage-resolver's answers and the
definition service's tasks in, the public answers out."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from common.errors import ValidationFailed
from gateway.domain.links import workflow_link

Json = dict[str, Any]

#: drawn edges per check at most (a DAG of 500 tasks rarely has more than a few per task)
MAX_EDGES = 2000


def parse_edges(raw: str | None, *, limit: int = MAX_EDGES) -> list[tuple[int, int]]:
    """``"1-2,2-3"`` → ``[(1, 2), (2, 3)]`` (each ``upstream-downstream``); 422 naming ``edges`` otherwise."""
    edges: list[tuple[int, int]] = []
    for part in (p.strip() for p in (raw or "").split(",")):
        if not part:
            continue
        up, sep, down = part.partition("-")
        if not sep or not up.isdigit() or not down.isdigit() or int(up) < 1 or int(down) < 1:
            raise ValidationFailed(f"edges: {part[:40]!r} is not an edge 'upstream-downstream' of two task ids")
        if up == down:
            raise ValidationFailed(f"edges: {part!r} joins a task to itself")
        edges.append((int(up), int(down)))
    if len(edges) > limit:
        raise ValidationFailed(f"edges: at most {limit} edges per request")
    return list(dict.fromkeys(edges))


def _closure(edges: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Every (a, b) with a path a → … → b along ``edges``."""
    out: dict[int, set[int]] = {}
    for u, d in edges:
        out.setdefault(u, set()).add(d)
    pairs: set[tuple[int, int]] = set()
    for start in out:
        seen: set[int] = set()
        stack = list(out[start])
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(out.get(n, ()))
        pairs.update((start, n) for n in seen)
    return pairs


def check_dag(edges: Collection[tuple[int, int]], links: Json) -> Json:
    """Compare drawn ``edges`` with lineage-resolver's ``/internal/task-links`` answer for the DAG's tasks.

    - ``suggested``: a direct lineage dependency the drawn DAG does not already imply (not even through other drawn
      edges), with its tables; ``closes_cycle`` when the drawn DAG has a path the other way (accepting it would make
      a cycle: fix the flagged edge first).
    - ``flagged``: a drawn edge lineage contradicts: ``reverse`` (lineage says the data flows the other way) or
      ``no_data_link`` (lineage knows both tasks and finds no data path from the upstream to the downstream; not
      said when the look-up was ``truncated``).
    - ``confirmed``: drawn edges lineage backs (a data path, direct or through other tasks).
    - ``unknown_task_ids``: tasks lineage has no tables for (their edges are neither confirmed nor flagged).
    """
    direct = {(int(x["upstream_task_id"]), int(x["downstream_task_id"])): list(x["tables"]) for x in links["direct"]}
    reachable = {(int(u), int(d)) for u, d in links["reachable"]}
    known = {int(t) for t in links["known"]}
    truncated = bool(links["truncated"])
    drawn = set(edges)
    implied = _closure(drawn)
    suggested = [
        {"upstream_task_id": u, "downstream_task_id": d, "tables": tables, "closes_cycle": (d, u) in implied}
        for (u, d), tables in sorted(direct.items())
        if (u, d) not in implied
    ]
    flagged: list[Json] = []
    confirmed: list[tuple[int, int]] = []
    for u, d in sorted(drawn):
        if (u, d) in reachable or (u, d) in direct:
            confirmed.append((u, d))
        elif (d, u) in reachable or (d, u) in direct:
            flagged.append(
                {"upstream_task_id": u, "downstream_task_id": d, "reason": "reverse", "tables": direct.get((d, u), [])}
            )
        elif u in known and d in known and not truncated:
            flagged.append({"upstream_task_id": u, "downstream_task_id": d, "reason": "no_data_link", "tables": []})
    tasks = sorted({t for e in drawn for t in e} | {int(t) for t in links["task_ids"]})
    return {
        "suggested": suggested,
        "flagged": flagged,
        "confirmed": confirmed,
        "unknown_task_ids": [t for t in tasks if t not in known],
        "truncated": truncated,
    }


def _task_fields(task_id: int, tasks: Mapping[int, Json]) -> Json:
    """Name, type and workflow of a task as the definition service has it (``null``s: it does not know the task, or
    it could not be asked)."""
    t = tasks.get(task_id)
    wid = t.get("workflow_id") if t else None
    return {
        "task_id": task_id,
        "name": t.get("name") if t else None,
        "task_type": t.get("task_type") if t else None,
        "workflow_id": wid,
        "workflow_name": t.get("workflow_name") if t else None,
        "workflow_link": workflow_link(wid),
    }


def _workflows(rows: Iterable[Json], distance_of: Mapping[int, int] | None = None) -> list[Json]:
    """The workflows of ``rows`` (tasks with ``workflow_id``), once each, with their tasks; with ``distance_of`` the
    nearest task's distance, nearest first."""
    found: dict[int, Json] = {}
    for row in rows:
        wid = row.get("workflow_id")
        if wid is None:
            continue
        w = found.setdefault(
            wid,
            {"workflow_id": wid, "workflow_name": row.get("workflow_name"), "workflow_link": workflow_link(wid)},
        )
        w.setdefault("task_ids", []).append(row["task_id"])
        if distance_of is not None:
            d = distance_of[row["task_id"]]
            w["distance"] = min(w.get("distance", d), d)
    out = list(found.values())
    if distance_of is not None:
        out.sort(key=lambda w: (w["distance"], w["workflow_id"]))
    else:
        out.sort(key=lambda w: w["workflow_id"])
    return out


def compose_lineage(answer: Json, tasks: Mapping[int, Json], unavailable: list[str]) -> Json:
    """lineage-resolver's ``/internal/tables/{name}/lineage`` with each task named and its workflow, and the
    workflows involved."""
    rows = [
        {
            **_task_fields(int(t["task_id"]), tasks),
            "upstream_distance": t["upstream_distance"],
            "downstream_distance": t["downstream_distance"],
            "reads": t["reads"],
            "writes": t["writes"],
        }
        for t in answer["tasks"]
    ]
    return {
        "table": answer["table"],
        "depth": answer["depth"],
        "tables": answer["tables"],
        "tasks": rows,
        "table_edges": answer["table_edges"],
        "workflows": _workflows(rows),
        "truncated": answer["truncated"],
        "unavailable": unavailable,
    }


def compose_impact(answer: Json, tasks: Mapping[int, Json], unavailable: list[str]) -> Json:
    """lineage-resolver's ``/internal/tables/{name}/affected``: every affected task once (its distance, the path it
    is reached by, its workflow) and every affected workflow once, nearest first."""
    rows = [
        {**_task_fields(int(t["task_id"]), tasks), "distance": t["distance"], "path": t["path"]}
        for t in answer["tasks"]
    ]
    distance = {r["task_id"]: r["distance"] for r in rows}
    return {
        "table": answer["table"],
        "depth": answer["depth"],
        "tables": answer["tables"],
        "tasks": rows,
        "workflows": _workflows(rows, distance),
        "truncated": answer["truncated"],
        "unavailable": unavailable,
    }
