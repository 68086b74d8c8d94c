"""Build the canonical ``StructureSnapshot`` of a workflow version (seed §4.3).

Public API
----------
``CatalogTask``
    A task as the task catalog (``definition.data_task``) describes it: id, name, type, description, params.

``build_snapshot(*, workflow_id, workflow_name, tasks, edges, node_attrs=None, description="", schedule=None,
global_params=(), execution_type=PARALLEL, timeout_minutes=0, dag=None) -> StructureSnapshot``
    Checks everything a version must satisfy and returns the snapshot in canonical order (tasks by id, edges by
    pair, global params by name) with ``entry_task_ids``/``exit_task_ids`` filled in:

    * the DAG (``dag.analyse_dag``; pass an already computed ``DagAnalysis`` of the same tasks/edges to skip it),
    * every ``node_attrs`` key is one of the tasks (``node_attrs_for_unknown_task``); missing keys get defaults,
    * the tasks given are exactly the DAG's tasks (``task_not_in_catalog`` / ``duplicate_task``),
    * parameter names are unique among global params and within each task's local params (``duplicate_param``),
    * the schedule (``cron.validate_schedule``).

    Structural problems raise ``InvalidWorkflowStructure``; schedule problems ``InvalidSchedule``.

Ownership of tasks is not checked here (that needs the catalog's owner column: ``dag.validate_workflow_dag``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from common.workflow import (
    Edge,
    ExecutionType,
    NodeAttrs,
    Param,
    Schedule,
    SnapshotTask,
    StructureSnapshot,
    TaskParams,
    TaskType,
    branch_problems,
)
from definition.domain.cron import validate_schedule
from definition.domain.dag import DagAnalysis, EdgePair, analyse_dag
from definition.domain.errors import InvalidWorkflowStructure

__all__ = ["CatalogTask", "build_snapshot", "snapshot_edges"]

_DEFAULT_ATTRS = NodeAttrs()
_EDGES = TypeAdapter(tuple[Edge, ...])


class CatalogTask(BaseModel):
    """A task from the task catalog, before it is placed in a workflow."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    task_id: int
    name: Annotated[str, Field(min_length=1, max_length=200)]
    task_type: TaskType
    description: str = ""
    params: TaskParams


def _duplicate_names(params: Iterable[Param]) -> list[str]:
    counts = Counter(p.name for p in params)
    return sorted(name for name, c in counts.items() if c > 1)


def build_snapshot(
    *,
    workflow_id: int,
    workflow_name: str,
    tasks: Iterable[CatalogTask | SnapshotTask],
    edges: Iterable[EdgePair],
    node_attrs: Mapping[int, NodeAttrs] | None = None,
    description: str = "",
    schedule: Schedule | None = None,
    global_params: Iterable[Param] = (),
    execution_type: ExecutionType = ExecutionType.PARALLEL,
    timeout_minutes: int = 0,
    dag: DagAnalysis | None = None,
) -> StructureSnapshot:
    """Validate and assemble one canonical snapshot.

    ``tasks`` may also be ``SnapshotTask`` objects (e.g. from an older snapshot, for rollback or migration); their own
    ``node_attrs`` are kept unless ``node_attrs`` overrides them.
    """
    task_list = list(tasks)
    edge_list = list(edges)
    attrs = node_attrs or {}
    problems: list[dict[str, Any]] = []

    if dag is None:
        try:
            dag = analyse_dag([t.task_id for t in task_list], edge_list)
        except InvalidWorkflowStructure as exc:
            problems.extend(exc.problems)
            dag = None

    by_id: dict[int, CatalogTask | SnapshotTask] = {}
    for t in task_list:
        by_id.setdefault(t.task_id, t)
    if dag is not None:
        missing = sorted(set(dag.task_ids) - by_id.keys())
        extra = sorted(by_id.keys() - set(dag.task_ids))
        if missing:
            problems.append(
                {
                    "code": "task_not_in_catalog",
                    "task_ids": missing,
                    "message": f"no catalog entry given for tasks {missing}",
                }
            )
        if extra:
            problems.append(
                {
                    "code": "task_not_in_catalog",
                    "task_ids": extra,
                    "message": f"catalog entries given for tasks outside the DAG: {extra}",
                }
            )

    stray = sorted(attrs.keys() - by_id.keys())
    if stray:
        problems.append(
            {
                "code": "node_attrs_for_unknown_task",
                "task_ids": stray,
                "message": f"node_attrs given for tasks that are not in the workflow: {stray}",
            }
        )

    gparams = tuple(global_params)
    dup_global = _duplicate_names(gparams)
    if dup_global:
        problems.append(
            {
                "code": "duplicate_param",
                "scope": "global",
                "names": dup_global,
                "message": f"global parameter names used more than once: {', '.join(dup_global)}",
            }
        )
    for t in task_list:
        if len(t.params.local_params) < 2:
            continue
        dup_local = _duplicate_names(t.params.local_params)
        if dup_local:
            problems.append(
                {
                    "code": "duplicate_param",
                    "scope": "task",
                    "task_id": t.task_id,
                    "names": dup_local,
                    "message": f"task {t.task_id}: local parameter names used more than once: {', '.join(dup_local)}",
                }
            )

    if dag is not None:
        # CONDITIONS and SWITCH tasks: checked tasks directly upstream, branch targets directly downstream
        problems.extend(branch_problems({t.task_id: t.params for t in task_list}, dag.edges))

    if problems:
        raise InvalidWorkflowStructure(problems)
    assert dag is not None
    if schedule is not None:
        validate_schedule(schedule)

    snap_tasks: list[SnapshotTask] = []
    for tid in dag.task_ids:
        t = by_id[tid]
        if isinstance(t, SnapshotTask):
            a = attrs.get(tid)
            keep = a is None or a is t.node_attrs or a == t.node_attrs
            snap_tasks.append(t if keep else t.model_copy(update={"node_attrs": a}))
        else:
            snap_tasks.append(
                SnapshotTask(
                    task_id=t.task_id,
                    name=t.name,
                    task_type=t.task_type,
                    description=t.description,
                    params=t.params,
                    node_attrs=attrs.get(tid, _DEFAULT_ATTRS),
                )
            )
    return StructureSnapshot(
        workflow_id=workflow_id,
        workflow_name=workflow_name,
        description=description,
        tasks=tuple(snap_tasks),
        # One validator call for thousands of edges (cheaper than building them one by one in Python).
        edges=_EDGES.validate_python([{"upstream_task_id": u, "downstream_task_id": v} for u, v in dag.edges]),
        schedule=schedule,
        global_params=tuple(sorted(gparams, key=lambda p: p.name)),
        execution_type=execution_type,
        timeout_minutes=timeout_minutes,
        entry_task_ids=dag.entry_task_ids,
        exit_task_ids=dag.exit_task_ids,
    )


def snapshot_edges(snapshot: StructureSnapshot) -> list[EdgePair]:
    """The snapshot's edges as ``(upstream, downstream)`` pairs."""
    return [(e.upstream_task_id, e.downstream_task_id) for e in snapshot.edges]
