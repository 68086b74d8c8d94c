"""DAG validation for workflow structures.

Pure functions over plain ids: a workflow is a list of task ids plus ``(upstream_task_id, downstream_task_id)``
pairs. The HTTP/DB layers convert their DTOs and rows to these before calling.

Public API
----------
``analyse_dag(task_ids, edges, *, allow_empty=False) -> DagAnalysis``
    Structural checks only. Collects *all* problems and raises one ``InvalidWorkflowStructure`` (422) whose
    ``extras["errors"]`` lists them: ``empty_dag``, ``duplicate_task``, ``self_loop``, ``duplicate_edge``,
    ``edge_task_not_in_workflow`` and one ``cycle`` item per strongly connected component (``path`` is a real cycle,
    first node repeated at the end, e.g. ``[3, 7, 9, 3]``; at most ``MAX_REPORTED_CYCLES``).

``validate_workflow_dag(workflow_id, task_ids, edges, task_owners) -> DagAnalysis``
    What create/update workflow calls. ``task_owners`` maps every task id that exists in the task catalog to the id
    of the workflow that owns it (``None`` = unassigned); ids absent from it are unknown. Raises
    ``InvalidWorkflowStructure`` (422, including ``unknown_task`` listing all unknown ids) first; only a structurally
    valid request can get ``TaskOwnedByAnotherWorkflow`` (409, with ``tasks=[{task_id, owner_workflow_id}]`` and the
    three ``migration_modes``).

``ownership_conflicts(workflow_id, task_ids, task_owners) -> list[tuple[int, int]]``
    ``(task_id, owner_workflow_id)`` for every task owned by a workflow other than ``workflow_id`` (``None`` for a
    workflow that does not exist yet: every owned task conflicts).

``find_cycle(task_ids, edges) -> list[int] | None``
    One cycle path, or ``None``; ignores self-loops and edges to unknown nodes.

Implementation: task ids are mapped to dense indices; successors are lists of ints; Kahn's algorithm gives the
topological order, entry/exit tasks and the acyclicity verdict in O(V + E) without recursion. Only when a cycle exists
do we run an iterative Tarjan SCC over the leftover nodes and a BFS per component for the shortest cycle through its
smallest task id, so the report is deterministic and short.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, repeat
from typing import Any

from definition.domain.errors import InvalidWorkflowStructure, TaskOwnedByAnotherWorkflow

__all__ = [
    "MAX_REPORTED_CYCLES",
    "DagAnalysis",
    "EdgePair",
    "analyse_dag",
    "find_cycle",
    "ownership_conflicts",
    "validate_workflow_dag",
]

#: ``(upstream_task_id, downstream_task_id)``
EdgePair = tuple[int, int]

#: Cycles beyond this many (one per strongly connected component) are counted but not listed.
MAX_REPORTED_CYCLES = 20
_MAX_LISTED = 50


@dataclass(frozen=True, slots=True)
class DagAnalysis:
    """The facts about a valid DAG that the definition service stores.

    ``task_ids``/``entry_task_ids``/``exit_task_ids`` are sorted; ``edges`` are unique and sorted;
    ``topological_order`` is one valid order (upstream before downstream); the count maps hold every task.
    """

    task_ids: tuple[int, ...]
    edges: tuple[EdgePair, ...]
    entry_task_ids: tuple[int, ...]
    exit_task_ids: tuple[int, ...]
    topological_order: tuple[int, ...]
    upstream_count: Mapping[int, int]
    downstream_count: Mapping[int, int]


@dataclass(slots=True)
class _Graph:
    """Compressed sparse rows: the successors of index ``i`` are ``targets[offsets[i]:offsets[i + 1]]``, sorted.
    Indices follow sorted task ids, so index order is task id order."""

    ids: list[int]
    targets: list[int]
    offsets: list[int]
    indeg: list[int]
    edges: list[EdgePair]  # unique valid edges, sorted (the caller's tuples, reused)
    problems: list[dict[str, Any]]

    def successors(self) -> list[list[int]]:
        t, o = self.targets, self.offsets
        return [t[o[i] : o[i + 1]] for i in range(len(self.ids))]


def _clip(items: list[Any]) -> list[Any]:
    return items[:_MAX_LISTED]


def _build(task_ids: Sequence[int], edges: Iterable[EdgePair], allow_empty: bool) -> _Graph:
    # Hot path (10k tasks, 20k edges): nearly everything runs inside C builtins (sorted, dict, map, Counter) and
    # allocates only lists and ints, so the garbage collector is not woken by tens of thousands of new tuples.
    problems: list[dict[str, Any]] = []
    ids = sorted(set(task_ids))
    n = len(ids)
    if n == 0 and not allow_empty:
        problems.append({"code": "empty_dag", "message": "a workflow needs at least one task"})
    if n != len(task_ids):
        dup = sorted(t for t, c in Counter(task_ids).items() if c > 1)
        problems.append(
            {"code": "duplicate_task", "task_ids": dup, "message": f"task ids listed more than once: {_fmt(dup)}"}
        )
    index = dict(zip(ids, range(n), strict=True))

    edge_list = edges if isinstance(edges, list) else list(edges)
    if edge_list:
        ups, downs = zip(*edge_list, strict=True)
        iu = list(map(index.get, ups))
        iv = list(map(index.get, downs))
        if None in iu or None in iv or any(map(operator.eq, iu, iv)):
            bad = [e for e, a, b in zip(edge_list, iu, iv, strict=True) if a is None or b is None or a == b]
            _bad_edge_problems(bad, index, problems)
            keep = [a is not None and b is not None and a != b for a, b in zip(iu, iv, strict=True)]
            edge_list = list(compress(edge_list, keep))
            iu = list(compress(iu, keep))
            iv = list(compress(iv, keep))
        # one int key per edge, ordered like (upstream id, downstream id); the dict also drops duplicates
        keys = map(operator.add, map(operator.mul, iu, repeat(n)), iv)
        by_key: dict[int, EdgePair] = dict(zip(keys, edge_list, strict=True))
        if len(by_key) != len(edge_list):
            dups = sorted(e for e, c in Counter(edge_list).items() if c > 1)
            problems.append(
                {
                    "code": "duplicate_edge",
                    "edges": [list(e) for e in _clip(dups)],
                    "count": len(dups),
                    "message": "edges listed more than once: " + _fmt_edges(dups),
                }
            )
        sorted_keys = sorted(by_key)
        unique_edges = list(map(by_key.__getitem__, sorted_keys))
        sources = list(map(operator.floordiv, sorted_keys, repeat(n)))
        targets = list(map(operator.mod, sorted_keys, repeat(n)))
    else:
        unique_edges, sources, targets = [], [], []
    outdeg = Counter(sources)
    offsets = [0, *accumulate(map(outdeg.get, range(n), repeat(0)))]
    indeg_counts = Counter(targets)
    indeg = list(map(indeg_counts.get, range(n), repeat(0)))
    return _Graph(ids=ids, targets=targets, offsets=offsets, indeg=indeg, edges=unique_edges, problems=problems)


def _bad_edge_problems(bad: list[EdgePair], index: dict[int, int], problems: list[dict[str, Any]]) -> None:
    self_loops = sorted({u for u, v in bad if u == v and u in index})
    dangling = sorted(
        (e, sorted({x for x in e if x not in index})) for e in bad if e[0] not in index or e[1] not in index
    )
    if self_loops:
        problems.append(
            {
                "code": "self_loop",
                "task_ids": self_loops,
                "message": f"tasks that depend on themselves: {_fmt(self_loops)}",
            }
        )
    if dangling:
        missing_all = sorted({m for _, ms in dangling for m in ms})
        problems.append(
            {
                "code": "edge_task_not_in_workflow",
                "edges": [
                    {"upstream_task_id": e[0], "downstream_task_id": e[1], "missing_task_ids": ms}
                    for e, ms in _clip(dangling)
                ],
                "task_ids": missing_all,
                "count": len(dangling),
                "message": f"{len(dangling)} edge(s) reference tasks that are not in the workflow: {_fmt(missing_all)}",
            }
        )


def _fmt(ids: Sequence[int]) -> str:
    shown = ", ".join(str(i) for i in ids[:20])
    return shown + (f" (+{len(ids) - 20} more)" if len(ids) > 20 else "")


def _fmt_edges(edges: Sequence[EdgePair]) -> str:
    shown = ", ".join(f"{u}→{v}" for u, v in edges[:10])
    return shown + (f" (+{len(edges) - 10} more)" if len(edges) > 10 else "")


def _kahn(g: _Graph) -> list[int]:
    """Indices in topological order; shorter than ``len(g.ids)`` iff the graph has a cycle."""
    deg = g.indeg.copy()
    targets, offsets = g.targets, g.offsets
    order = list(compress(range(len(deg)), map(operator.not_, deg)))
    append = order.append
    # The list grows while we iterate over it: that is the queue.
    for i in order:
        for j in targets[offsets[i] : offsets[i + 1]]:
            d = deg[j] - 1
            deg[j] = d
            if not d:
                append(j)
    return order


def _nontrivial_sccs(succ: list[list[int]], nodes: list[int], member: list[bool]) -> list[list[int]]:
    """Strongly connected components with 2+ nodes of the subgraph induced by ``member`` (iterative Tarjan)."""
    n = len(succ)
    disc = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in nodes:
        if disc[root] != -1:
            continue
        disc[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        work: list[list[int]] = [[root, 0]]
        while work:
            frame = work[-1]
            v, pos = frame
            children = succ[v]
            if pos < len(children):
                frame[1] = pos + 1
                w = children[pos]
                if not member[w]:
                    continue
                if disc[w] == -1:
                    disc[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append([w, 0])
                elif on_stack[w] and disc[w] < low[v]:
                    low[v] = disc[w]
                continue
            work.pop()
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == disc[v]:
                comp: list[int] = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(comp)
    return out


def _shortest_cycle_through(start: int, succ: list[list[int]], in_comp: list[bool]) -> list[int]:
    """Index path ``[start, ..., start]`` of a shortest cycle through ``start`` inside its SCC (BFS)."""
    parent: dict[int, int] = {start: -1}
    frontier = [start]
    while frontier:
        nxt: list[int] = []
        for v in frontier:
            for w in succ[v]:
                if not in_comp[w]:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    path.reverse()
                    path.append(start)
                    return path
                if w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError("a strongly connected component always has a cycle through each node")


def _cycles(g: _Graph, order_len: int, order: list[int]) -> tuple[list[list[int]], int]:
    """Cycle paths (task ids) for up to ``MAX_REPORTED_CYCLES`` SCCs, and the total number of cyclic SCCs."""
    n = len(g.ids)
    member = [True] * n
    for i in order[:order_len]:
        member[i] = False
    ids = g.ids
    leftover = [i for i in range(n) if member[i]]  # index order is task id order
    succ = g.successors()
    comps = _nontrivial_sccs(succ, leftover, member)
    comps.sort(key=min)
    paths: list[list[int]] = []
    in_comp = [False] * n
    for comp in comps[:MAX_REPORTED_CYCLES]:
        for i in comp:
            in_comp[i] = True
        start = min(comp)
        paths.append([ids[i] for i in _shortest_cycle_through(start, succ, in_comp)])
        for i in comp:
            in_comp[i] = False
    return paths, len(comps)


def _analyse(g: _Graph) -> DagAnalysis | None:
    order = _kahn(g)
    n = len(g.ids)
    if len(order) < n:
        paths, total = _cycles(g, len(order), order)
        for path in paths:
            g.problems.append(
                {
                    "code": "cycle",
                    "path": path,
                    "message": "dependency cycle " + " → ".join(str(t) for t in path),
                }
            )
        if total > len(paths):
            g.problems.append(
                {
                    "code": "cycle",
                    "path": None,
                    "count": total - len(paths),
                    "message": f"{total - len(paths)} more dependency cycle(s) not listed",
                }
            )
        return None
    if g.problems:
        return None
    ids = g.ids
    indeg = g.indeg
    outdeg = list(map(operator.sub, g.offsets[1:], g.offsets))
    return DagAnalysis(
        task_ids=tuple(ids),
        edges=tuple(g.edges),
        entry_task_ids=tuple(compress(ids, map(operator.not_, indeg))),
        exit_task_ids=tuple(compress(ids, map(operator.not_, outdeg))),
        topological_order=tuple(map(ids.__getitem__, order)),
        upstream_count=dict(zip(ids, indeg, strict=True)),
        downstream_count=dict(zip(ids, outdeg, strict=True)),
    )


def analyse_dag(task_ids: Sequence[int], edges: Iterable[EdgePair], *, allow_empty: bool = False) -> DagAnalysis:
    """Check the structure of a workflow DAG and compute its entry/exit tasks.

    :param task_ids: the workflow's tasks (order does not matter; duplicates are an error).
    :param edges: ``(upstream, downstream)`` pairs; both ends must be in ``task_ids``.
    :param allow_empty: accept zero tasks (only migration uses this, for an emptied source).
    :raises InvalidWorkflowStructure: listing every problem found.
    """
    g = _build(task_ids, edges, allow_empty)
    result = _analyse(g)
    if result is None:
        raise InvalidWorkflowStructure(g.problems)
    return result


def ownership_conflicts(
    workflow_id: int | None, task_ids: Iterable[int], task_owners: Mapping[int, int | None]
) -> list[tuple[int, int]]:
    """``(task_id, owner_workflow_id)``, sorted, for each task owned by a workflow other than ``workflow_id``."""
    out: set[tuple[int, int]] = set()
    for t in task_ids:
        owner = task_owners.get(t)
        if owner is not None and owner != workflow_id:
            out.add((t, owner))
    return sorted(out)


def validate_workflow_dag(
    workflow_id: int | None,
    task_ids: Sequence[int],
    edges: Iterable[EdgePair],
    task_owners: Mapping[int, int | None],
) -> DagAnalysis:
    """Full validation for create/update workflow (seed §6.1 step 3).

    :param workflow_id: the workflow being saved, ``None`` when it is being created.
    :param task_owners: ``task_id -> owner workflow id or None`` for every requested task that exists in the task
        catalog; a requested id missing from this mapping is reported as ``unknown_task``.
    :raises InvalidWorkflowStructure: unknown tasks and/or structural problems (all of them, in one error).
    :raises TaskOwnedByAnotherWorkflow: the structure is valid but some tasks belong to another workflow.
    """
    g = _build(task_ids, edges, allow_empty=False)
    unknown = [t for t in g.ids if t not in task_owners]
    if unknown:
        g.problems.insert(
            0,
            {
                "code": "unknown_task",
                "task_ids": unknown,
                "message": f"unknown task ids: {_fmt(unknown)}",
            },
        )
    result = _analyse(g)
    if result is None:
        raise InvalidWorkflowStructure(g.problems)
    conflicts = ownership_conflicts(workflow_id, result.task_ids, task_owners)
    if conflicts:
        raise TaskOwnedByAnotherWorkflow(conflicts)
    return result


def find_cycle(task_ids: Sequence[int], edges: Iterable[EdgePair]) -> list[int] | None:
    """A shortest cycle through the smallest task id of the first cyclic component, or ``None`` when acyclic.

    Self-loops, duplicate edges and edges to ids outside ``task_ids`` are ignored (``analyse_dag`` reports them).
    """
    g = _build(task_ids, edges, allow_empty=True)
    order = _kahn(g)
    if len(order) == len(g.ids):
        return None
    paths, _ = _cycles(g, len(order), order)
    return paths[0]
