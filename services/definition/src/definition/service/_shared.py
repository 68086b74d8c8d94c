"""Steps every use-case group shares: row locks and version checks, the snapshot of a version, and
``_write_version``, the one way a workflow's structure changes (see the package docstring for the concurrency rule).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import Row, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import unit_of_work
from common.errors import Conflict, NotFound, StaleVersion, ValidationFailed
from common.events.models import TriggerSource, WorkflowVersionCreated
from common.workflow import NodeAttrs, SnapshotTask, StructureSnapshot, SubWorkflowParams, TaskParams
from definition import schemas
from definition.db.repository import reads as read_repo
from definition.db.repository import relations as relation_repo
from definition.db.repository import tasks as task_repo
from definition.db.repository import versions as version_repo
from definition.db.repository import workflows as workflow_repo
from definition.db.tables import TASK_OWNERSHIP_CONSTRAINT, WORKFLOW_NAME_CONSTRAINT
from definition.deps import Deps
from definition.domain.dag import DagAnalysis, EdgePair, ownership_conflicts, validate_workflow_dag
from definition.domain.diff import change_summary
from definition.domain.enums import WorkflowStatus
from definition.domain.errors import TaskOwnedByAnotherWorkflow
from definition.domain.grouping.upkeep import Change
from definition.domain.snapshot import build_snapshot
from definition.domain.status import record_new_version
from definition.service._proposal_upkeep import _refresh_proposals
from definition.service._views import _counts, _definition_json, _state
from definition.snapshots import EncodedSnapshot, encode_snapshot

log = logging.getLogger(__name__)

T = TypeVar("T")
_T = TypeVar("_T", bound=schemas.Task)

MANUAL = "manual"
_DEFAULT_ATTRS = NodeAttrs()
_TASK_PARAMS: TypeAdapter[list[TaskParams]] = TypeAdapter(list[TaskParams])
_SNAPSHOT_TASKS = TypeAdapter(list[SnapshotTask])


class WorkflowNameTaken(Conflict):
    code = "workflow-name-taken"
    title = "Workflow name taken"


class ConcurrentChange(Conflict):
    code = "concurrent-change"
    title = "Concurrent change"


class WorkflowArchived(Conflict):
    code = "workflow-archived"
    title = "Workflow archived"


class WorkflowPublished(Conflict):
    code = "workflow-published"
    title = "Workflow published"


class TaskInUse(Conflict):
    code = "task-in-use"
    title = "Task in a workflow"


def _check_version(row: Row[Any], expected: int, *, role: str = "workflow") -> None:
    if row.current_version_no != expected:
        raise StaleVersion(
            f"{role} {row.id} is at version {row.current_version_no}, not {expected}: "
            "it was changed meanwhile; reload it and apply your change again",
            workflow_id=row.id,
            current_version_no=row.current_version_no,
            expected_version_no=expected,
        )


async def _locked(session: AsyncSession, workflow_id: int) -> Row[Any]:
    row = await workflow_repo.lock_workflow(session, workflow_id)
    if row is None:
        raise NotFound(f"workflow {workflow_id} not found", workflow_id=workflow_id)
    return row


def _check_writable(row: Row[Any]) -> None:
    """An archived workflow is read-only: no edit, rollback or migration changes it."""
    if row.status == WorkflowStatus.ARCHIVED.value:
        raise WorkflowArchived(
            f"workflow {row.id} ({row.workflow_name}) is archived: it cannot change any more",
            workflow_id=row.id,
        )


async def _snapshot_of(session: AsyncSession, deps: Deps, version_id: int) -> StructureSnapshot:
    snapshot = deps.snapshots.get(version_id)
    if snapshot is None:
        snapshot = await version_repo.snapshot_of(session, version_id)
        deps.snapshots.put(version_id, snapshot)
    return snapshot


async def _current_snapshot(session: AsyncSession, deps: Deps, row: Row[Any]) -> StructureSnapshot:
    assert row.current_version_id is not None
    return await _snapshot_of(session, deps, row.current_version_id)


async def _current_encoded(session: AsyncSession, deps: Deps, row: Row[Any]) -> EncodedSnapshot:
    """The current version's snapshot with its JSON pieces (encoded once, then held by the cache)."""
    assert row.current_version_id is not None
    encoded = deps.snapshots.get_encoded(row.current_version_id)
    if encoded is None:
        encoded = encode_snapshot(await _snapshot_of(session, deps, row.current_version_id))
        deps.snapshots.put(row.current_version_id, encoded)
    return encoded


async def _check_name_free(session: AsyncSession, name: str, workflow_id: int | None) -> None:
    owner = await workflow_repo.workflow_name_owner(session, name)
    if owner is not None and owner != workflow_id:
        raise WorkflowNameTaken(f"workflow name '{name}' is already used by workflow {owner}", workflow_id=owner)


def _attrs_key(attrs: NodeAttrs) -> tuple[Any, ...]:
    """The attributes' field values: equal keys, equal attributes (what pydantic's ``==`` compares for this frozen
    model), at a fraction of the cost of hashing and comparing the model itself."""
    return tuple(attrs.__dict__.values())


def _relation_rows(
    tasks: Iterable[tuple[int, NodeAttrs]], up: Mapping[int, int], down: Mapping[int, int]
) -> relation_repo.RelationRows:
    """Relation rows of ``(task id, node attributes)`` with the tasks' upstream/downstream counts."""
    rows = relation_repo.RelationRows([], [], [], [])
    # Most tasks of a workflow share their node attributes: serialise each distinct value once.
    attrs_json: dict[tuple[Any, ...], str] = {}
    for task_id, attrs in tasks:
        rows.task_ids.append(task_id)
        key = _attrs_key(attrs)
        text = attrs_json.get(key)
        if text is None:
            text = attrs_json[key] = attrs.model_dump_json()
        rows.attrs.append(text)
        rows.ups.append(up[task_id])
        rows.downs.append(down[task_id])
    return rows


def _pairs(tasks: Iterable[SnapshotTask]) -> list[tuple[int, NodeAttrs]]:
    return [(t.task_id, t.node_attrs) for t in tasks]


async def _sync_relations(
    session: AsyncSession,
    workflow_id: int,
    old: StructureSnapshot | None,
    new: StructureSnapshot,
    version_id: int,
    mode: str,
) -> None:
    """Bring the workflow's ``workflow_task_relation`` rows from ``old`` (what they hold: they always match the
    current version) to ``new``, writing only the rows that change."""
    up, down = _counts(new)
    before = {t.task_id: t for t in old.tasks} if old is not None else {}
    old_up, old_down = _counts(old) if old is not None else (Counter[int](), Counter[int]())
    after = {t.task_id for t in new.tasks}
    await relation_repo.delete_relations(session, workflow_id, sorted(before.keys() - after))
    changed = [
        t
        for t in new.tasks
        if (prev := before.get(t.task_id)) is not None
        and (
            (prev.node_attrs is not t.node_attrs and prev.node_attrs != t.node_attrs)
            or old_up[t.task_id] != up[t.task_id]
            or old_down[t.task_id] != down[t.task_id]
        )
    ]
    await relation_repo.update_relations(session, workflow_id, version_id, _relation_rows(_pairs(changed), up, down))
    added = [t for t in new.tasks if t.task_id not in before]
    await relation_repo.insert_relations(
        session, workflow_id, version_id, mode, _relation_rows(_pairs(added), up, down)
    )


class _Started(NamedTuple):
    """A version whose relations are being written already (see ``create_workflow``)."""

    version_id: int
    #: the write of the relations, running
    relations: asyncio.Future[None]


class _Written(NamedTuple):
    encoded: EncodedSnapshot
    #: the workflow's row after the write
    row: Row[Any]


def _refuse_own_child(snapshot: StructureSnapshot) -> None:
    """A SUB_WORKFLOW task may not run the workflow it is in: DS would recurse without end taking it online (422)."""
    wid = snapshot.workflow_id
    own = [t for t in snapshot.tasks if isinstance(t.params, SubWorkflowParams) and t.params.workflow_id == wid]
    if own:
        raise ValidationFailed(
            f"a workflow cannot be its own sub-workflow: task {own[0].task_id} ({own[0].name}) runs workflow "
            f"{snapshot.workflow_id}, the workflow it is in",
            errors=[
                {"location": "params.workflow_id", "message": "is the workflow the task is in", "type": "value_error"}
            ],
            task_ids=[t.task_id for t in own],
        )


async def _refuse_sub_workflow_cycle(session: AsyncSession, snapshot: StructureSnapshot) -> None:
    """SUB_WORKFLOW tasks may not make workflows run each other (A runs B, B runs A): DS 3.4.2 recurses without end
    taking any of them online (422 naming the cycle). The other workflows' children are their tasks' current params."""
    wid = snapshot.workflow_id
    children = {t.params.workflow_id for t in snapshot.tasks if isinstance(t.params, SubWorkflowParams)}
    if not children:
        return  # no cycle runs through a workflow that runs none (and the hot path asks nothing)
    graph: dict[int, set[int]] = {wid: children}
    for parent, child in await task_repo.sub_workflow_links(session):
        if parent != wid:
            graph.setdefault(parent, set()).add(child)
    came_from: dict[int, int] = {}
    todo = [wid]
    while todo:
        at = todo.pop()
        for child in sorted(graph.get(at, ())):
            if child == wid:
                path = [wid, at]
                while path[-1] != wid:
                    path.append(came_from[path[-1]])
                cycle = " → ".join(str(w) for w in reversed(path))
                raise ValidationFailed(
                    f"SUB_WORKFLOW tasks would make workflows run each other: {cycle} (DolphinScheduler cannot take "
                    "such workflows online)",
                    errors=[{"location": "params.workflow_id", "message": f"cycle {cycle}", "type": "value_error"}],
                    workflow_ids=list(reversed(path)),
                )
            if child not in came_from:
                came_from[child] = at
                todo.append(child)


async def _write_version(
    session: AsyncSession,
    deps: Deps,
    row: Row[Any],
    new: StructureSnapshot,
    old: StructureSnapshot | None,
    *,
    trigger: TriggerSource,
    actor: str,
    mode: str = MANUAL,
    clear_attention: bool = False,
    started: _Started | None = None,
) -> _Written | None:
    """Write version N+1 of the (locked) workflow ``row`` unless nothing changed; returns the new version's snapshot
    with its JSON pieces and the workflow's row after the write, ``None`` when nothing was written. ``started``: the
    version's id and its relations' write, begun by the caller (which then always writes)."""
    _refuse_own_child(new)
    if started is None:  # a new workflow (``started``) no workflow runs yet; the session is busy with its relations
        await _refuse_sub_workflow_cycle(session, new)
    summary = change_summary(old, new, removed_leave=trigger is not TriggerSource.MIGRATION)
    if started is None and old is not None and summary.is_empty:
        return None
    if started is None:
        version_id = await version_repo.begin_version(session)
        # The relations are written while this process serialises the version below (on a new workflow of 2,000
        # tasks they are PostgreSQL's longest write, tens of milliseconds): they need the version's id only. Nothing
        # else uses the session until they are done.
        relations: asyncio.Future[None] = asyncio.ensure_future(
            _sync_relations(session, row.id, old, new, version_id, mode)
        )
    else:
        version_id, relations = started
    try:
        await asyncio.sleep(0)  # the write sends its first statement
        # Every caller passes a canonical snapshot (build_snapshot, plan_migration, a stored version, or one of those
        # with a task or the edges replaced in canonical order), so its JSON is the canonical JSON. The JSON of each
        # task that is the same object in the current version (most of them on an edit: ``deps.tasks``) is reused.
        previous = deps.snapshots.get_encoded(row.current_version_id) if row.current_version_id is not None else None
        encoded = encode_snapshot(new, previous)
        snapshot_json = encoded.json()
        content_hash = hashlib.sha256(snapshot_json.encode()).hexdigest()
        summary_json = summary.model_dump(mode="json")
        # the JSON of that dict, serialised once for the row and the event (a first version lists every edge)
        summary_text = summary.model_dump_json()
        definition_json = _definition_json(new)
    finally:
        await relations
    version_no = row.current_version_no + 1
    version = await version_repo.insert_version(
        session,
        version_id=version_id,
        workflow_id=row.id,
        version_no=version_no,
        snapshot_json=snapshot_json,
        change_summary_json=summary_text,
        trigger_source=trigger.value,
        content_hash=content_hash,
        created_by=actor,
    )
    state = record_new_version(_state(row), version.id)
    values: dict[str, Any] = {
        "current_version_id": version.id,
        "current_version_no": version_no,
        "status": state.status.value,
        "workflow_name": new.workflow_name,
        "description": new.description,
        "definition_json": definition_json,
        "entry_task_ids": list(new.entry_task_ids),
        "exit_task_ids": list(new.exit_task_ids),
        "task_count": len(new.tasks),
        "updated_by": actor,
        "updated_at": func.now(),
    }
    if clear_attention:
        values.update(needs_attention=False, attention_reason=None, attention_details=None)
    fresh = await workflow_repo.update_workflow_row(session, row.id, values)
    before = {t.task_id for t in old.tasks} if old is not None else set()
    after = {t.task_id for t in new.tasks}
    if before != after:
        placed = tuple(sorted(before ^ after))
        await _refresh_proposals(
            session,
            deps,
            Change(joined=tuple(sorted(before - after)), left=tuple(sorted(after - before)), moved=placed),
        )
    deps.snapshots.put(version.id, encoded)
    await deps.outbox.add(
        session,
        WorkflowVersionCreated(
            workflow_id=row.id,
            version_id=version.id,
            version_no=version_no,
            trigger_source=trigger,
            created_by=actor,
            created_at=version.created_at,
            content_hash=content_hash,
            change_summary=summary_json,
            snapshot=new,
        ),
        # serialised above for the version row and the hash: not again for the event
        prepared={"change_summary": summary_text, "snapshot": snapshot_json},
    )
    return _Written(encoded, fresh)


def _constraint_of(exc: IntegrityError) -> str:
    cause = getattr(exc.orig, "__cause__", None)
    name = getattr(cause, "constraint_name", None) or getattr(exc.orig, "constraint_name", None)
    if isinstance(name, str):
        return name
    text = str(exc)
    for known in (TASK_OWNERSHIP_CONSTRAINT, WORKFLOW_NAME_CONSTRAINT):
        if known in text:
            return known
    return ""


async def _integrity_conflict(
    deps: Deps, exc: IntegrityError, workflow_id: int | None, task_ids: Iterable[int], name: str | None = None
) -> Exception:
    """The 409 for a unique constraint that a concurrent transaction won (the app-level checks passed)."""
    constraint = _constraint_of(exc)
    if constraint == TASK_OWNERSHIP_CONSTRAINT:
        async with unit_of_work(deps.sessions) as session:
            owners = await task_repo.task_owners(session, task_ids)
        conflicts = ownership_conflicts(workflow_id, task_ids, {t: o[0] if o else None for t, o in owners.items()})
        if conflicts:
            return TaskOwnedByAnotherWorkflow(conflicts)
        return ConcurrentChange("a concurrent change touched the same tasks; retry", constraint=constraint)
    if constraint == WORKFLOW_NAME_CONSTRAINT:
        return WorkflowNameTaken(f"workflow name '{name}' was just taken by another workflow")
    if constraint.startswith("fk_workflow_task_relation_task_id"):
        return ConcurrentChange("a task of the request was deleted meanwhile; reload and retry", constraint=constraint)
    return exc


def _resolve_attrs(attrs: NodeAttrs | None, task_worker_group: str) -> NodeAttrs:
    """Node attributes as given; ``worker_group`` falls back to the task's own worker group."""
    if attrs is None:
        return (
            _DEFAULT_ATTRS
            if task_worker_group == _DEFAULT_ATTRS.worker_group
            else NodeAttrs(worker_group=task_worker_group)
        )
    if "worker_group" not in attrs.model_fields_set and attrs.worker_group != task_worker_group:
        return attrs.model_copy(update={"worker_group": task_worker_group})
    return attrs


def _content(r: task_repo.CatalogRow) -> tuple[str, str, str, str]:
    """What a catalog task's ``SnapshotTask`` is made of besides its id and node attributes (the ``TaskMemo`` key)."""
    return r.name, r.task_type, r.description, r.params


def _snapshot_tasks(
    deps: Deps, catalog: Sequence[task_repo.CatalogRow], attrs: Mapping[int, NodeAttrs]
) -> list[SnapshotTask]:
    """The catalog rows as ``SnapshotTask``s with their node attributes. A row whose content was validated before
    comes from ``deps.tasks``; the others are validated together, their ``params`` straight from the JSON text read
    (no Python dicts in between)."""
    out: dict[int, SnapshotTask] = {}
    misses: list[tuple[task_repo.CatalogRow, NodeAttrs]] = []
    for r in catalog:
        a = attrs.get(r.id, _DEFAULT_ATTRS)
        task = deps.tasks.get(r.id, _content(r))
        if task is None:
            misses.append((r, a))
            continue
        # field values compared as dicts: what pydantic's ``==`` compares for this frozen model, without its overhead
        if task.node_attrs is not a and task.node_attrs.__dict__ != a.__dict__:
            task = task.model_copy(update={"node_attrs": a})
            deps.tasks.put(r.id, _content(r), task)
        out[r.id] = task
    if misses:
        # the params of all rows from their JSON text in one call, then the tasks around them (model instances, the
        # params and the node attributes, are taken as they are, not validated again)
        params = _TASK_PARAMS.validate_json(f"[{','.join([r.params for r, _ in misses])}]")
        validated = _SNAPSHOT_TASKS.validate_python(
            [
                {
                    "task_id": r.id,
                    "name": r.name,
                    "task_type": r.task_type,
                    "description": r.description,
                    "params": p,
                    "node_attrs": a,
                }
                for (r, a), p in zip(misses, params, strict=True)
            ]
        )
        for (r, _), task in zip(misses, validated, strict=True):
            deps.tasks.put(r.id, _content(r), task)
            out[r.id] = task
    return [out[r.id] for r in catalog]


async def _validated_snapshot(
    session: AsyncSession, workflow_id: int | None, body: schemas.WorkflowInput
) -> tuple[list[task_repo.CatalogRow], DagAnalysis, Mapping[int, NodeAttrs]]:
    task_ids = [t.task_id for t in body.tasks]
    edges: list[EdgePair] = [(e.upstream_task_id, e.downstream_task_id) for e in body.edges]
    catalog = await task_repo.catalog_tasks(session, task_ids)
    dag = validate_workflow_dag(workflow_id, task_ids, edges, {r.id: r.workflow_id for r in catalog})
    worker_groups = {r.id: r.worker_group for r in catalog}
    attrs = {t.task_id: _resolve_attrs(t.node_attrs, worker_groups[t.task_id]) for t in body.tasks}
    return catalog, dag, attrs


def _snapshot(
    deps: Deps,
    workflow_id: int,
    body: schemas.WorkflowInput,
    catalog: Sequence[task_repo.CatalogRow],
    dag: DagAnalysis,
    attrs: Mapping[int, NodeAttrs],
) -> StructureSnapshot:
    return build_snapshot(
        workflow_id=workflow_id,
        workflow_name=body.name,
        # the tasks carry their resolved node attributes already (every key of ``attrs`` is one of them)
        tasks=_snapshot_tasks(deps, catalog, attrs),
        edges=list(dag.edges),
        description=body.description,
        schedule=body.schedule,
        global_params=body.global_params,
        execution_type=body.execution_type,
        timeout_minutes=body.timeout_minutes,
        dag=dag,
    )


async def _lock_owner_of(session: AsyncSession, task_id: int) -> Row[Any] | None:
    """Lock the workflow that owns ``task_id`` (``None``: unassigned); re-checked after the lock, since a
    migration may have moved the task between the lookup and the lock."""
    for _ in range(5):
        owner = (await task_repo.task_owners(session, [task_id])).get(task_id)
        if owner is None:
            return None
        row = await workflow_repo.lock_workflow(session, owner[0])
        again = (await task_repo.task_owners(session, [task_id])).get(task_id)
        if row is not None and again is not None and again[0] == owner[0]:
            return row
    raise ConcurrentChange(f"task {task_id} kept moving between workflows; retry", task_id=task_id)


async def _read(deps: Deps, read: read_repo.Read) -> Any:
    """A read use case of one statement: on the read pool (``common.db.ReadPool``), or in a transaction of
    ``sessions`` when there is none."""
    if deps.reads is not None:
        return await deps.reads.value(read.sql, read.params)
    async with unit_of_work(deps.sessions) as session:
        return await read_repo.read_value(session, read)


#: the author of the versions the platform writes by itself for auto-orchestration
AUTO_ORCHESTRATION_ACTOR = "auto-orchestration"


def _fmt_path(path: Sequence[int]) -> str:
    return " → ".join(str(t) for t in path)
