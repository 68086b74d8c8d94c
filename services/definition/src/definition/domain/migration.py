"""Planning ``reassignTask(task_id, target_workflow_id, mode)`` (seed §4.2): which tasks move, what happens to the
edges, and the two resulting DAGs. Pure: the caller loads both current snapshots, calls ``plan_migration``, shows
``plan.preview()`` or, to execute, writes ``plan.source_after`` and ``plan.target_after`` as new versions
(``trigger_source=migration``) and moves the ``workflow_task_relation`` rows of ``plan.moved_task_ids``.

Which tasks move (decisions)
----------------------------
* ``only_current``: the task alone.
* ``cascade_downstream``: the task and everything downstream of it in the source (its descendants). This set is
  closed downwards, so no staying task depends on a moving one.
* ``cascade_up_and_downstream``: the task, its ancestors, its descendants, *and every task on a path from one of
  its ancestors to one of its descendants* (the convex closure), not the weakly connected component. The component
  would also drag along unrelated siblings (A→T and A→X moves X although X and T do not depend on each other), often
  the whole workflow. Plain "ancestors ∪ descendants" would leave a task R of P→R→D (P an ancestor, D a descendant)
  behind, so the target would wait for the source which waits for the target inside one chain; taking R along avoids
  that.

Edges (decisions)
-----------------
* Edges between two moving tasks move to the target (``moved_edges``); edges between two staying tasks stay.
* Edges with one end moving are dropped (``dropped_edges``) and reported as cross-workflow dependencies with their
  direction; the platform does not enforce those across workflows, so the preview warns about them
  (``cross_workflow_dependencies``, and ``mutual_dependency`` when they go both ways).
* Bridging: for every pair of staying tasks A, B such that the source had a path A ⇝ B whose inner tasks all move, the
  source gets a new edge A→B (``bridged_edges``, unless it already exists). For ``only_current`` this is exactly
  "A→T→B becomes A→B": B read what A wrote, possibly through T, and must still not start before A finishes once T is
  gone; dropping the ordering would silently let B run on stale data. Bridging only adds orderings that already held
  transitively, so the source stays acyclic (a bridge may be transitively redundant; that is harmless).
* The target gets the moving tasks with their ``node_attrs`` and internal edges, disjoint from its own tasks, so it
  stays acyclic. Both results are validated with ``dag.analyse_dag`` anyway.

Lineage (decision, seed §4.6)
----------------------------
``lineage`` gives, per task, the tasks lineage says it depends on and that depend on it (the definition service's
projection of ``task.dependency.changed``). Joining the target creates new neighbours: for each moved task, every
lineage dependency on a task already in the target becomes an edge there (``lineage_edges``), so a task moved next
to the producer of the table it reads runs after it, not beside it. Edges are added in sorted order; one that would
close a cycle with the target's edges (which can only happen when lineage and hand-drawn edges disagree) is left out
and named in a ``lineage_edge_skipped`` warning with the path it would close.

Emptying the source (decision)
------------------------------
Moving every task out of the source is rejected with ``MigrationEmptiesWorkflow`` (409) unless the caller passes
``allow_empty_source=True`` (the user confirmed in the preview, which the caller can compute with the flag set to
show the warning). Then ``source_emptied`` is true, ``source_after`` has no tasks and the plan carries a
``source_emptied`` warning: the caller should take the source offline (it cannot be published: an empty DAG is
invalid).

Other warnings: ``schedule_differs`` (moved tasks will run on the target's schedule) and ``missing_global_params``
(a moved task's params mention ``${name}`` of a source global param that the target does not define).

Errors: ``MigrationNotPossible`` (422: same workflow, task not in source, task ids already in the target);
``MigrationEmptiesWorkflow`` (409).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from common.workflow import Edge, StructureSnapshot
from definition.domain.dag import EdgePair, analyse_dag
from definition.domain.enums import MigrationMode
from definition.domain.errors import MigrationEmptiesWorkflow, MigrationNotPossible

__all__ = ["CutEdge", "MigrationPlan", "MigrationWarning", "plan_migration"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class CutEdge(_Model):
    """A source edge with exactly one end moving; after the migration it crosses workflows."""

    upstream_task_id: int
    downstream_task_id: int
    #: ``source_to_target``: a moved task depended on a staying one; ``target_to_source``: the reverse
    direction: Literal["source_to_target", "target_to_source"]


MigrationWarningCode = Literal[
    "cross_workflow_dependencies",
    "lineage_edge_skipped",
    "mutual_dependency",
    "source_emptied",
    "schedule_differs",
    "missing_global_params",
]


class MigrationWarning(_Model):
    code: MigrationWarningCode
    message: str
    task_ids: tuple[int, ...] = ()


class MigrationPlan(_Model):
    task_id: int
    mode: MigrationMode
    source_workflow_id: int
    target_workflow_id: int
    moved_task_ids: tuple[int, ...]
    moved_edges: tuple[EdgePair, ...]
    dropped_edges: tuple[CutEdge, ...]
    bridged_edges: tuple[EdgePair, ...]
    #: lineage-derived edges between moved tasks and the target's own tasks, added to the target
    lineage_edges: tuple[EdgePair, ...] = ()
    source_emptied: bool
    warnings: tuple[MigrationWarning, ...]
    source_after: StructureSnapshot
    target_after: StructureSnapshot

    def preview(self) -> dict[str, Any]:
        """JSON for the preview endpoint: the plan with task/edge id lists of the results instead of snapshots."""
        data = self.model_dump(mode="json", exclude={"source_after", "target_after"})
        for key, snap in (("source_after", self.source_after), ("target_after", self.target_after)):
            data[key] = {
                "workflow_id": snap.workflow_id,
                "task_ids": [t.task_id for t in snap.tasks],
                "edges": [[e.upstream_task_id, e.downstream_task_id] for e in snap.edges],
                "entry_task_ids": list(snap.entry_task_ids),
                "exit_task_ids": list(snap.exit_task_ids),
            }
        return data


def _reach(starts: Iterable[int], adj: dict[int, list[int]]) -> set[int]:
    seen = set(starts)
    stack = list(seen)
    while stack:
        v = stack.pop()
        for w in adj.get(v, ()):
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return seen


def _moving(task_id: int, mode: MigrationMode, succ: dict[int, list[int]], pred: dict[int, list[int]]) -> set[int]:
    if mode is MigrationMode.ONLY_CURRENT:
        return {task_id}
    desc = _reach([task_id], succ)
    if mode is MigrationMode.CASCADE_DOWNSTREAM:
        return desc
    anc = _reach([task_id], pred)
    between = _reach(anc, succ) & _reach(desc, pred)
    return anc | desc | between


def _bridges(
    moved: set[int], cut_in: list[EdgePair], succ: dict[int, list[int]], existing: set[EdgePair]
) -> list[EdgePair]:
    """Edges A→B between staying tasks for each path A ⇝ B whose inner tasks all move."""
    entries: dict[int, list[int]] = {}
    for a, y in cut_in:
        entries.setdefault(a, []).append(y)
    out: set[EdgePair] = set()
    for a, ys in entries.items():
        seen = set(ys)
        stack = list(ys)
        while stack:
            x = stack.pop()
            for b in succ.get(x, ()):
                if b in moved:
                    if b not in seen:
                        seen.add(b)
                        stack.append(b)
                elif b != a and (a, b) not in existing:
                    out.add((a, b))
    return sorted(out)


def _lineage_edges(
    moved: set[int],
    staying_in_target: set[int],
    edges: list[EdgePair],
    lineage: Mapping[int, tuple[Iterable[int], Iterable[int]]],
) -> tuple[list[EdgePair], list[tuple[EdgePair, list[int]]]]:
    """Lineage edges between moved tasks and the target's tasks, each added unless it closes a cycle; returns (added,
    skipped with the cycle's path)."""
    wanted: set[EdgePair] = set()
    for m in moved:
        ups, downs = lineage.get(m, ((), ()))
        wanted.update((u, m) for u in ups if u in staying_in_target)
        wanted.update((m, d) for d in downs if d in staying_in_target)
    succ: dict[int, set[int]] = {}
    for u, v in edges:
        succ.setdefault(u, set()).add(v)
    added: list[EdgePair] = []
    skipped: list[tuple[EdgePair, list[int]]] = []
    for u, v in sorted(wanted - set(edges)):
        path = _path(v, u, succ)
        if path is not None:
            skipped.append(((u, v), [u, *path]))
            continue
        succ.setdefault(u, set()).add(v)
        added.append((u, v))
    return added, skipped


def _path(start: int, goal: int, succ: Mapping[int, set[int]]) -> list[int] | None:
    """A path ``start`` ⇝ ``goal`` along ``succ`` (breadth first), or ``None``."""
    parent: dict[int, int] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt: list[int] = []
        for x in frontier:
            if x == goal:
                out = [x]
                while out[-1] != start:
                    out.append(parent[out[-1]])
                return out[::-1]
            for y in succ.get(x, ()):
                if y not in seen:
                    seen.add(y)
                    parent[y] = x
                    nxt.append(y)
        frontier = nxt
    return None


def _with_structure(
    snap: StructureSnapshot, tasks: Iterable[Any], edges: list[EdgePair], allow_empty: bool
) -> StructureSnapshot:
    task_tuple = tuple(sorted(tasks, key=lambda t: t.task_id))
    dag = analyse_dag([t.task_id for t in task_tuple], edges, allow_empty=allow_empty)
    return snap.model_copy(
        update={
            "tasks": task_tuple,
            "edges": tuple(Edge.model_construct(upstream_task_id=u, downstream_task_id=v) for u, v in dag.edges),
            "entry_task_ids": dag.entry_task_ids,
            "exit_task_ids": dag.exit_task_ids,
        }
    )


def plan_migration(
    source: StructureSnapshot,
    target: StructureSnapshot,
    task_id: int,
    mode: MigrationMode,
    *,
    allow_empty_source: bool = False,
    lineage: Mapping[int, tuple[Iterable[int], Iterable[int]]] | None = None,
) -> MigrationPlan:
    """Plan moving ``task_id`` (and, per ``mode``, related tasks) from ``source`` to ``target``.

    :param source: current snapshot of the workflow that owns ``task_id``.
    :param target: current snapshot of the destination workflow (may have no tasks).
    :param lineage: task id -> (upstream task ids, downstream task ids) by lineage, for the source's tasks.
    :raises MigrationNotPossible: same workflow, task not in source, or moving tasks already in the target.
    :raises MigrationEmptiesWorkflow: every source task would move and ``allow_empty_source`` is false.
    """
    problems: list[dict[str, Any]] = []
    if source.workflow_id == target.workflow_id:
        problems.append(
            {"code": "same_workflow", "message": f"task {task_id} is already in workflow {target.workflow_id}"}
        )
    source_tasks = {t.task_id: t for t in source.tasks}
    if task_id not in source_tasks:
        problems.append(
            {
                "code": "task_not_in_source",
                "task_id": task_id,
                "message": f"task {task_id} is not in workflow {source.workflow_id}",
            }
        )
    if problems:
        raise MigrationNotPossible(problems)

    edges = sorted({(e.upstream_task_id, e.downstream_task_id) for e in source.edges})
    succ: dict[int, list[int]] = {}
    pred: dict[int, list[int]] = {}
    for u, v in edges:
        succ.setdefault(u, []).append(v)
        pred.setdefault(v, []).append(u)
    moved = _moving(task_id, mode, succ, pred)

    clash = sorted(moved & {t.task_id for t in target.tasks})
    if clash:
        raise MigrationNotPossible(
            [
                {
                    "code": "task_already_in_target",
                    "task_ids": clash,
                    "message": f"tasks {clash} are already in workflow {target.workflow_id}",
                }
            ]
        )
    emptied = len(moved) == len(source_tasks)
    if emptied and not allow_empty_source:
        raise MigrationEmptiesWorkflow(source.workflow_id, sorted(moved))

    moved_edges: list[EdgePair] = []
    kept: list[EdgePair] = []
    cut: list[CutEdge] = []
    cut_in: list[EdgePair] = []
    for u, v in edges:
        mu, mv = u in moved, v in moved
        if mu and mv:
            moved_edges.append((u, v))
        elif not mu and not mv:
            kept.append((u, v))
        else:
            if mv:
                cut_in.append((u, v))
            cut.append(
                CutEdge(
                    upstream_task_id=u,
                    downstream_task_id=v,
                    direction="source_to_target" if mv else "target_to_source",
                )
            )
    bridged = _bridges(moved, cut_in, succ, set(kept))

    source_after = _with_structure(
        source, (t for tid, t in source_tasks.items() if tid not in moved), kept + bridged, allow_empty=True
    )
    target_edges = sorted({(e.upstream_task_id, e.downstream_task_id) for e in target.edges}) + moved_edges
    lineage_edges, skipped = _lineage_edges(moved, {t.task_id for t in target.tasks}, target_edges, lineage or {})
    target_after = _with_structure(
        target,
        [*target.tasks, *(source_tasks[t] for t in moved)],
        target_edges + lineage_edges,
        allow_empty=False,
    )

    warnings: list[MigrationWarning] = []
    for (u, v), path in skipped:
        warnings.append(
            MigrationWarning(
                code="lineage_edge_skipped",
                message=f"lineage says task {u} → task {v}, but in workflow {target.workflow_id} that edge would "
                f"close the cycle {' → '.join(map(str, path))}; it is left out: fix the lineage or the drawn edges",
                task_ids=(u, v),
            )
        )
    if cut:
        involved = tuple(sorted({c.upstream_task_id for c in cut} | {c.downstream_task_id for c in cut}))
        warnings.append(
            MigrationWarning(
                code="cross_workflow_dependencies",
                message=f"{len(cut)} dependency edge(s) will cross workflows {source.workflow_id} and "
                f"{target.workflow_id}; the scheduler will not enforce them",
                task_ids=involved,
            )
        )
        directions = {c.direction for c in cut}
        if len(directions) == 2:
            warnings.append(
                MigrationWarning(
                    code="mutual_dependency",
                    message=f"workflows {source.workflow_id} and {target.workflow_id} will depend on each other",
                    task_ids=involved,
                )
            )
    if emptied:
        warnings.append(
            MigrationWarning(
                code="source_emptied",
                message=f"workflow {source.workflow_id} will have no tasks left; take it offline",
            )
        )
    if source.schedule != target.schedule:
        warnings.append(
            MigrationWarning(
                code="schedule_differs",
                message=f"moved tasks will run on workflow {target.workflow_id}'s schedule",
                task_ids=tuple(sorted(moved)),
            )
        )
    target_params = {p.name for p in target.global_params}
    missing_names: set[str] = set()
    users: set[int] = set()
    wanted = [p.name for p in source.global_params if p.name not in target_params]
    if wanted:
        for tid in moved:
            text = source_tasks[tid].params.model_dump_json()
            for name in wanted:
                if "${" + name + "}" in text:
                    missing_names.add(name)
                    users.add(tid)
    if missing_names:
        warnings.append(
            MigrationWarning(
                code="missing_global_params",
                message="moved tasks use global params the target does not define: " + ", ".join(sorted(missing_names)),
                task_ids=tuple(sorted(users)),
            )
        )

    return MigrationPlan(
        task_id=task_id,
        mode=mode,
        source_workflow_id=source.workflow_id,
        target_workflow_id=target.workflow_id,
        moved_task_ids=tuple(sorted(moved)),
        moved_edges=tuple(moved_edges),
        dropped_edges=tuple(cut),
        bridged_edges=tuple(bridged),
        lineage_edges=tuple(lineage_edges),
        source_emptied=emptied,
        warnings=tuple(warnings),
        source_after=source_after,
        target_after=target_after,
    )
