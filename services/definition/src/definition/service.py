"""Use cases of the definition service: one function per use case, one database transaction each.

Every use case that changes a workflow's structure goes through ``_write_version``, which writes version N+1 (canonical
snapshot, structural diff, trigger source, author), moves ``data_workflow`` to it, brings
``workflow_task_relation`` in line with it and stages ``workflow.version.created`` in the outbox, all in the caller's
transaction.

Concurrency (decision): every writer of a workflow first takes its row lock (``SELECT … FOR UPDATE``; two workflows are
locked in id order), then compares ``current_version_no`` with the caller's ``expected_version_no``. Writers of one
workflow are therefore serialised: version numbers are contiguous, and a caller that read an older version gets
409 ``stale-version`` instead of overwriting a change it never saw. The one-workflow-per-task rule is the UNIQUE
constraint on ``workflow_task_relation.task_id``; the application's own check only produces the nicer message, and a
race that slips past it ends in the constraint, which is mapped to the same 409.

An update that changes nothing structurally writes no version and answers 200 with the unchanged workflow (decision).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, NamedTuple, TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Row, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from common.approvals import approve
from common.db import unit_of_work
from common.errors import Conflict, NotFound, StaleVersion, ValidationFailed
from common.events.models import (
    ExecutionSummary,
    ExecutionSynced,
    LineageChanged,
    PublishCompleted,
    PublishOperation,
    PublishOutcome,
    PublishRequested,
    TaskDependencyChanged,
    TriggerSource,
    WorkflowVersionCreated,
)
from common.workflow import (
    Edge,
    ExternalDependency,
    NodeAttrs,
    SnapshotTask,
    SqlParams,
    StructureSnapshot,
    TaskParams,
)
from definition import schemas
from definition.db import repository as repo
from definition.db.tables import TASK_OWNERSHIP_CONSTRAINT, WORKFLOW_NAME_CONSTRAINT
from definition.deps import Deps
from definition.domain.dag import DagAnalysis, EdgePair, analyse_dag, ownership_conflicts, validate_workflow_dag
from definition.domain.diff import change_summary
from definition.domain.enums import MigrationMode, WorkflowAction, WorkflowStatus
from definition.domain.errors import InvalidWorkflowStructure, MigrationNotPossible, TaskOwnedByAnotherWorkflow
from definition.domain.grouping import (
    Change,
    Proposal,
    affected,
    circles,
    dependent_period,
    explain,
    group_tasks,
    propose,
    suggest_home,
)
from definition.domain.migration import MigrationPlan, plan_migration
from definition.domain.snapshot import build_snapshot
from definition.domain.status import (
    WorkflowState,
    allowed_actions,
    allowed_publish_operations,
    check_publish,
    record_new_version,
    transition,
)
from definition.ports import DependencyView, ExecutionsView
from definition.snapshots import EncodedSnapshot, dump_around, encode_snapshot, fields_around

log = logging.getLogger(__name__)

T = TypeVar("T")
_T = TypeVar("_T", bound=schemas.Task)

MANUAL = "manual"
_DEFAULT_ATTRS = NodeAttrs()
_TASK_PARAMS: TypeAdapter[list[TaskParams]] = TypeAdapter(list[TaskParams])
_SNAPSHOT_TASKS = TypeAdapter(list[SnapshotTask])
_WORKFLOW_TASKS = TypeAdapter(list[schemas.WorkflowTask])
_DETAIL_BEFORE, _DETAIL_AFTER = fields_around(schemas.WorkflowDetail, "tasks", "edges")


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


# ---------------------------------------------------------------------------------------------------------------
# Mapping rows and snapshots to API models


def _state(row: Row[Any]) -> WorkflowState:
    return WorkflowState(
        status=WorkflowStatus(row.status),
        current_version_id=row.current_version_id,
        approved_version_id=row.approved_version_id,
        last_published_version_id=row.last_published_version_id,
        workflow_code=row.workflow_code,
        task_count=row.task_count,
    )


_UPSTREAM = attrgetter("upstream_task_id")
_DOWNSTREAM = attrgetter("downstream_task_id")


def _counts(snapshot: StructureSnapshot) -> tuple[Counter[int], Counter[int]]:
    """``(upstream count, downstream count)`` per task id."""
    return Counter(map(_DOWNSTREAM, snapshot.edges)), Counter(map(_UPSTREAM, snapshot.edges))


def _summary(row: Row[Any]) -> schemas.WorkflowSummary:
    return schemas.WorkflowSummary(**_summary_fields(row))


def _summary_fields(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.workflow_name,
        "description": row.description,
        "status": row.status,
        "publish_status": row.publish_status,
        "workflow_code": row.workflow_code,
        "project_code": row.project_code,
        "release_state": row.release_state,
        "schedule_online": row.schedule_online,
        "current_version_no": row.current_version_no,
        "approved": _state(row).current_is_approved,
        "last_published_version_no": row.last_published_version_no,
        "last_execution_state": row.last_execution_state,
        "last_execution_at": row.last_execution_at,
        # a failed publish that left DS other than intended needs attention too (and says so first)
        "needs_attention": row.needs_attention or row.ds_attention is not None,
        "attention_reason": row.ds_attention["reason"] if row.ds_attention is not None else row.attention_reason,
        "task_count": row.task_count,
        "updated_at": row.updated_at,
        "updated_by": row.updated_by,
    }


def _detail(row: Row[Any], snapshot: StructureSnapshot) -> schemas.WorkflowDetail:
    up, down = _counts(snapshot)
    # One validator call for all rows (``params``/``node_attrs`` are model instances and pass through as they are):
    # much cheaper than building 2,000 models one by one in Python.
    tasks = _WORKFLOW_TASKS.validate_python(
        [
            {
                "task_id": t.task_id,
                "name": t.name,
                "task_type": t.task_type,
                "description": t.description,
                "params": t.params,
                "node_attrs": t.node_attrs,
                "upstream_count": up[t.task_id],
                "downstream_count": down[t.task_id],
            }
            for t in snapshot.tasks
        ]
    )
    return _detail_model(row, snapshot, tasks, list(snapshot.edges))


def _detail_json(row: Row[Any], encoded: EncodedSnapshot) -> bytes:
    """Exactly the bytes of ``_detail(row, encoded.snapshot).model_dump_json()`` (what FastAPI would send for it),
    without building and serialising one ``WorkflowTask`` per task: the detail's other fields are dumped by pydantic
    and the tasks and edges come from the snapshot's JSON pieces (a ``WorkflowTask`` is a ``SnapshotTask`` — same
    fields, same order, same types — followed by its two counts)."""
    snapshot = encoded.snapshot
    up, down = _counts(snapshot)
    tasks = ",".join(
        [
            f'{j[:-1]},"upstream_count":{up[t.task_id]},"downstream_count":{down[t.task_id]}}}'
            for t, j in zip(snapshot.tasks, encoded.tasks, strict=True)
        ]
    )
    middle = f'"tasks":[{tasks}],"edges":{encoded.edges}'
    return dump_around(_detail_model(row, snapshot, [], []), _DETAIL_BEFORE, middle, _DETAIL_AFTER).encode()


def _detail_model(
    row: Row[Any], snapshot: StructureSnapshot, tasks: list[schemas.WorkflowTask], edges: list[Edge]
) -> schemas.WorkflowDetail:
    state = _state(row)
    return schemas.WorkflowDetail(
        **_summary_fields(row),
        tasks=tasks,
        edges=edges,
        entry_task_ids=list(snapshot.entry_task_ids),
        exit_task_ids=list(snapshot.exit_task_ids),
        schedule=snapshot.schedule,
        global_params=list(snapshot.global_params),
        execution_type=snapshot.execution_type,
        timeout_minutes=snapshot.timeout_minutes,
        allowed_actions=[str(a) for a in allowed_actions(state)],
        allowed_publish_operations=[str(o) for o in allowed_publish_operations(state)],
        attention_details=row.attention_details,
        ds_attention=row.ds_attention,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _task_view(row: Row[Any]) -> schemas.Task:
    return schemas.Task(
        id=row.id,
        name=row.name,
        task_type=row.task_type,
        description=row.description,
        params=row.params,
        worker_group=row.worker_group,
        owner=row.owner,
        revision=row.revision,
        workflow_id=row.workflow_id,
        workflow_name=row.workflow_name,
        workflow_code=row.workflow_code,
        project_code=row.project_code,
        created_by=row.created_by,
        updated_by=row.updated_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _version_summary(row: Row[Any]) -> schemas.VersionSummary:
    return schemas.VersionSummary(
        id=row.id,
        version_no=row.version_no,
        trigger_source=row.trigger_source,
        created_by=row.created_by,
        created_at=row.created_at,
        content_hash=row.content_hash,
        summary=row.summary or "",
    )


def _definition_json(snapshot: StructureSnapshot) -> dict[str, Any]:
    """``data_workflow.definition_json``: the DAG of the current version (node attributes live in the relations)."""
    return {
        "task_ids": [t.task_id for t in snapshot.tasks],
        "edges": [[e.upstream_task_id, e.downstream_task_id] for e in snapshot.edges],
        "schedule": snapshot.schedule.model_dump(mode="json") if snapshot.schedule else None,
        "global_params": [p.model_dump(mode="json") for p in snapshot.global_params],
        "execution_type": str(snapshot.execution_type),
        "timeout_minutes": snapshot.timeout_minutes,
        # the workflows its DEPENDENT links wait for (issue 20): found again when their DS codes change
        **(
            {"upstream_workflow_ids": sorted({d.upstream_workflow_id for d in snapshot.external_dependencies})}
            if snapshot.external_dependencies
            else {}
        ),
    }


# ---------------------------------------------------------------------------------------------------------------
# Shared steps


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
    row = await repo.lock_workflow(session, workflow_id)
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
        snapshot = await repo.snapshot_of(session, version_id)
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
    owner = await repo.workflow_name_owner(session, name)
    if owner is not None and owner != workflow_id:
        raise WorkflowNameTaken(f"workflow name '{name}' is already used by workflow {owner}", workflow_id=owner)


def _attrs_key(attrs: NodeAttrs) -> tuple[Any, ...]:
    """The attributes' field values: equal keys, equal attributes (what pydantic's ``==`` compares for this frozen
    model), at a fraction of the cost of hashing and comparing the model itself."""
    return tuple(attrs.__dict__.values())


def _relation_rows(
    tasks: Iterable[tuple[int, NodeAttrs]], up: Mapping[int, int], down: Mapping[int, int]
) -> repo.RelationRows:
    """Relation rows of ``(task id, node attributes)`` with the tasks' upstream/downstream counts."""
    rows = repo.RelationRows([], [], [], [])
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
    await repo.delete_relations(session, workflow_id, sorted(before.keys() - after))
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
    await repo.update_relations(session, workflow_id, version_id, _relation_rows(_pairs(changed), up, down))
    added = [t for t in new.tasks if t.task_id not in before]
    await repo.insert_relations(session, workflow_id, version_id, mode, _relation_rows(_pairs(added), up, down))


class _Started(NamedTuple):
    """A version whose relations are being written already (see ``create_workflow``)."""

    version_id: int
    #: the write of the relations, running
    relations: asyncio.Future[None]


class _Written(NamedTuple):
    encoded: EncodedSnapshot
    #: the workflow's row after the write
    row: Row[Any]


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
    summary = change_summary(old, new, removed_leave=trigger is not TriggerSource.MIGRATION)
    if started is None and old is not None and summary.is_empty:
        return None
    if started is None:
        version_id = await repo.begin_version(session)
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
    version = await repo.insert_version(
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
    fresh = await repo.update_workflow_row(session, row.id, values)
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
            owners = await repo.task_owners(session, task_ids)
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


def _content(r: repo.CatalogRow) -> tuple[str, str, str, str]:
    """What a catalog task's ``SnapshotTask`` is made of besides its id and node attributes (the ``TaskMemo`` key)."""
    return r.name, r.task_type, r.description, r.params


def _snapshot_tasks(
    deps: Deps, catalog: Sequence[repo.CatalogRow], attrs: Mapping[int, NodeAttrs]
) -> list[SnapshotTask]:
    """The catalog rows as ``SnapshotTask``s with their node attributes. A row whose content was validated before
    comes from ``deps.tasks``; the others are validated together, their ``params`` straight from the JSON text read
    (no Python dicts in between)."""
    out: dict[int, SnapshotTask] = {}
    misses: list[tuple[repo.CatalogRow, NodeAttrs]] = []
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
) -> tuple[list[repo.CatalogRow], DagAnalysis, Mapping[int, NodeAttrs]]:
    task_ids = [t.task_id for t in body.tasks]
    edges: list[EdgePair] = [(e.upstream_task_id, e.downstream_task_id) for e in body.edges]
    catalog = await repo.catalog_tasks(session, task_ids)
    dag = validate_workflow_dag(workflow_id, task_ids, edges, {r.id: r.workflow_id for r in catalog})
    worker_groups = {r.id: r.worker_group for r in catalog}
    attrs = {t.task_id: _resolve_attrs(t.node_attrs, worker_groups[t.task_id]) for t in body.tasks}
    return catalog, dag, attrs


def _snapshot(
    deps: Deps,
    workflow_id: int,
    body: schemas.WorkflowInput,
    catalog: Sequence[repo.CatalogRow],
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


# ---------------------------------------------------------------------------------------------------------------
# Tasks


def _task_values(body: schemas.TaskInput, actor: str) -> dict[str, Any]:
    return {
        "name": body.name,
        "task_type": body.task_type.value,
        "description": body.description,
        "params": body.params.model_dump(mode="json"),
        "worker_group": body.worker_group,
        "owner": body.owner,
        "updated_by": actor,
    }


async def create_task(deps: Deps, body: schemas.TaskInput, actor: str) -> schemas.TaskDetail:
    """Register a task; the answer names the workflow its lineage points to, if any (lineage may know the task's
    tables already: it keys them by task id), and the task joins the proposals."""
    async with unit_of_work(deps.sessions) as session:
        task_id = await repo.insert_task(session, {**_task_values(body, actor), "created_by": actor})
        row = await repo.get_task(session, task_id)
        assert row is not None
        await _refresh_proposals(session, deps, Change(joined=(task_id,)))
        suggested = await _suggested_workflow(session, task_id)
    task = schemas.TaskDetail(**dict(_task_view(row)), suggested_workflow=suggested)
    return await _with_checks(deps, task, body)


async def _with_checks(deps: Deps, task: _T, body: schemas.TaskInput) -> _T:
    """The saved task with what would stop its publish: a SQL task's datasource that DolphinScheduler does not have
    (asked after the save: a slow lookup never holds the transaction, and never fails the save)."""
    params = body.params
    if deps.datasources is None or not isinstance(params, SqlParams):
        return task
    found = await deps.datasources.exists(params.datasource_name, params.datasource_type.upper())
    if found:
        return task
    what = f"{params.datasource_type.upper()} datasource '{params.datasource_name}'"
    notice = (
        schemas.Notice(
            code="unknown_datasource",
            message=f"DolphinScheduler has no {what}: publishing a workflow with this task fails until it exists",
        )
        if found is False
        else schemas.Notice(
            code="datasource_unchecked",
            message=f"could not check the {what} against DolphinScheduler now (the publisher did not answer)",
        )
    )
    return task.model_copy(update={"warnings": [notice]})


async def get_task(deps: Deps, task_id: int) -> schemas.TaskDetail:
    """The task; an unassigned one with the workflow its lineage points to, if any."""
    async with unit_of_work(deps.sessions) as session:
        row = await repo.get_task(session, task_id)
        if row is None:
            raise NotFound(f"task {task_id} not found", task_id=task_id)
        suggested = await _suggested_workflow(session, task_id) if row.workflow_id is None else None
    return schemas.TaskDetail(**dict(_task_view(row)), suggested_workflow=suggested)


async def list_tasks(deps: Deps, f: repo.TaskFilter, *, page: int, page_size: int) -> str:
    """Tasks with owner, DS codes and dependency counts (the dependency projection), filtered by catalog fields
    and/or by ``upstream_task_id``/``downstream_task_id``, as the JSON of ``schemas.Page[schemas.TaskListItem]``
    (built by the database: one statement)."""
    document: str = await _read(deps, repo.tasks_page(f, page=page, page_size=page_size))
    return document


async def task_owners(deps: Deps, task_ids: Sequence[int]) -> schemas.TaskOwners:
    async with unit_of_work(deps.sessions) as session:
        owners = await repo.task_owners(session, task_ids)
    return schemas.TaskOwners(
        owners={
            str(t): (schemas.TaskOwner(workflow_id=o[0], workflow_name=o[1]) if (o := owners.get(t)) else None)
            for t in task_ids
        }
    )


async def _lock_owner_of(session: AsyncSession, task_id: int) -> Row[Any] | None:
    """Lock the workflow that owns ``task_id`` (``None``: unassigned); re-checked after the lock, since a
    migration may have moved the task between the lookup and the lock."""
    for _ in range(5):
        owner = (await repo.task_owners(session, [task_id])).get(task_id)
        if owner is None:
            return None
        row = await repo.lock_workflow(session, owner[0])
        again = (await repo.task_owners(session, [task_id])).get(task_id)
        if row is not None and again is not None and again[0] == owner[0]:
            return row
    raise ConcurrentChange(f"task {task_id} kept moving between workflows; retry", task_id=task_id)


async def update_task(deps: Deps, task_id: int, body: schemas.TaskUpdate, actor: str) -> schemas.Task:
    """Update the catalog entry; when the task sits in a workflow, that workflow gets a new version
    (``task_change``) with the task's new name, type, description and params (its node attributes stay)."""
    async with unit_of_work(deps.sessions) as session:
        if not await repo.update_task(session, task_id, body.expected_revision, _task_values(body, actor)):
            revision = await repo.task_revision(session, task_id)
            if revision is None:
                raise NotFound(f"task {task_id} not found", task_id=task_id)
            raise StaleVersion(
                f"task {task_id} is at revision {revision}, not {body.expected_revision}: "
                "it was changed meanwhile; reload it and apply your change again",
                task_id=task_id,
                current_revision=revision,
                expected_revision=body.expected_revision,
            )
        wf = await _lock_owner_of(session, task_id)
        if wf is not None:
            old = await _current_snapshot(session, deps, wf)
            changed = SnapshotTask.model_validate(
                {
                    "task_id": task_id,
                    "name": body.name,
                    "task_type": body.task_type,
                    "description": body.description,
                    "params": body.params,
                }
            )
            new = old.model_copy(
                update={
                    "tasks": tuple(
                        changed.model_copy(update={"node_attrs": t.node_attrs}) if t.task_id == task_id else t
                        for t in old.tasks
                    )
                }
            )
            await _write_version(session, deps, wf, new, old, trigger=TriggerSource.TASK_CHANGE, actor=actor)
        row = await repo.get_task(session, task_id)
        assert row is not None
    return await _with_checks(deps, _task_view(row), body)


# ---------------------------------------------------------------------------------------------------------------
# Workflows


async def create_workflow(deps: Deps, body: schemas.WorkflowInput, actor: str) -> bytes:
    """Create the workflow with its first version; the answer is the ``WorkflowDetail`` as JSON bytes."""
    try:
        async with unit_of_work(deps.sessions) as session:
            catalog, dag, attrs = await _validated_snapshot(session, None, body)
            await _check_name_free(session, body.name, None)
            row = await repo.insert_workflow(
                session,
                {
                    "workflow_name": body.name,
                    "description": body.description,
                    "status": WorkflowStatus.DRAFT.value,
                    "created_by": actor,
                    "updated_by": actor,
                },
            )
            # A relation per task: the longest write. Begun now, from what the validation produced (the tasks'
            # resolved node attributes, the DAG's counts: what the snapshot will hold), so that PostgreSQL writes them
            # while this process builds and serialises the snapshot; ``_write_version`` waits for them.
            version_id = await repo.begin_version(session)
            rows = _relation_rows([(t, attrs[t]) for t in dag.task_ids], dag.upstream_count, dag.downstream_count)
            relations = asyncio.ensure_future(repo.insert_relations(session, row.id, version_id, MANUAL, rows))
            try:
                await asyncio.sleep(0)  # the write sends its statement
                snapshot = _snapshot(deps, row.id, body, catalog, dag, attrs)
                if body.external_dependencies:
                    snapshot = await _with_links(session, deps, snapshot, body.external_dependencies, None)
            except BaseException:
                await asyncio.gather(relations, return_exceptions=True)
                raise
            written = await _write_version(
                session,
                deps,
                row,
                snapshot,
                None,
                trigger=TriggerSource.MANUAL_EDIT,
                actor=actor,
                started=_Started(version_id, relations),
            )
            assert written is not None
    except IntegrityError as exc:
        raise await _integrity_conflict(deps, exc, None, [t.task_id for t in body.tasks], body.name) from exc
    return _detail_json(written.row, written.encoded)


async def update_workflow(deps: Deps, workflow_id: int, body: schemas.WorkflowUpdate, actor: str) -> bytes:
    """A manual edit. No structural change → no new version (200 with the version unchanged). A new version clears
    ``needs_attention``: the manual edit is the manual handling the flag asked for. The answer is the
    ``WorkflowDetail`` as JSON bytes."""
    try:
        async with unit_of_work(deps.sessions) as session:
            row = await _locked(session, workflow_id)
            _check_writable(row)
            _check_version(row, body.expected_version_no)
            catalog, dag, attrs = await _validated_snapshot(session, workflow_id, body)
            await _check_name_free(session, body.name, workflow_id)
            new = _snapshot(deps, workflow_id, body, catalog, dag, attrs)
            old = await _current_snapshot(session, deps, row)
            if body.external_dependencies is not None or old.external_dependencies:
                new = await _with_links(session, deps, new, body.external_dependencies, old)
            written = await _write_version(
                session, deps, row, new, old, trigger=TriggerSource.MANUAL_EDIT, actor=actor, clear_attention=True
            )
            if written is None:
                written = _Written(await _current_encoded(session, deps, row), row)
    except IntegrityError as exc:
        raise await _integrity_conflict(deps, exc, workflow_id, [t.task_id for t in body.tasks], body.name) from exc
    return _detail_json(written.row, written.encoded)


async def get_workflow(deps: Deps, workflow_id: int) -> bytes:
    """The ``WorkflowDetail`` as JSON bytes."""
    async with unit_of_work(deps.sessions) as session:
        row = await repo.get_workflow(session, workflow_id)
        if row is None:
            raise NotFound(f"workflow {workflow_id} not found", workflow_id=workflow_id)
        encoded = await _current_encoded(session, deps, row)
    return _detail_json(row, encoded)


async def workflow_states(deps: Deps, workflow_ids: Sequence[int]) -> schemas.WorkflowLifecycles:
    async with unit_of_work(deps.sessions) as session:
        rows = await repo.workflow_states(session, workflow_ids)
    return schemas.WorkflowLifecycles(
        items=[
            schemas.WorkflowLifecycle(
                id=r.id,
                name=r.workflow_name,
                status=r.status,
                publish_status=r.publish_status,
                release_state=r.release_state,
                workflow_code=r.workflow_code,
                current_version_no=r.current_version_no,
            )
            for r in rows
        ]
    )


async def list_workflows(deps: Deps, f: repo.WorkflowFilter, *, sort: str, page: int, page_size: int) -> str:
    """A page of workflows with their last executions (the ``execution.synced`` projection) and the exact total, as
    the JSON of ``schemas.Page[schemas.WorkflowListItem]`` (built by the database: one statement, no row decoding)."""
    document: str = await _read(deps, repo.workflows_page(f, sort=sort, page=page, page_size=page_size))
    return document


async def _read(deps: Deps, read: repo.Read) -> Any:
    """A read use case of one statement: on the read pool (``common.db.ReadPool``), or in a transaction of
    ``sessions`` when there is none."""
    if deps.reads is not None:
        return await deps.reads.value(read.sql, read.params)
    async with unit_of_work(deps.sessions) as session:
        return await repo.read_value(session, read)


async def apply_action(
    deps: Deps, workflow_id: int, action: WorkflowAction, actor: str, *, version_no: int | None = None
) -> schemas.WorkflowDetail:
    """approve | online | offline: platform state only, DolphinScheduler is not called. Who may approve is the
    gateway's concern (roles).

    ``approve`` names the version the approver reviewed (``version_no``): when another version was saved since,
    nothing is approved (409 ``stale-version``), so an edit made between the review and the click is never approved
    unseen."""
    if action is WorkflowAction.APPROVE and version_no is None:
        raise ValidationFailed(
            "approve needs version_no: the version you reviewed (the current version is the one approved)",
            errors=[{"location": "body.version_no", "message": "Field required", "type": "missing"}],
        )
    async with unit_of_work(deps.sessions) as session:
        row = await _locked(session, workflow_id)
        if action is WorkflowAction.APPROVE and version_no is not None and row.current_version_no != version_no:
            raise StaleVersion(
                f"workflow {workflow_id} is at version {row.current_version_no}, not version {version_no} that you "
                f"reviewed: review version {row.current_version_no} and approve it",
                workflow_id=workflow_id,
                current_version_no=row.current_version_no,
                expected_version_no=version_no,
            )
        state = _state(row)
        new = transition(state, action)
        await repo.update_workflow(
            session,
            workflow_id,
            {
                "status": new.status.value,
                "approved_version_id": new.approved_version_id,
                "updated_by": actor,
                "updated_at": func.now(),
            },
        )
        in_ds = PublishOperation.OFFLINE in allowed_publish_operations(state)
        # DS may run it: ONLINE there, a publish under way, or a failed publish left DS other than intended (the
        # publisher's restore would put it back ONLINE: the offline publish is newer and ends that restore)
        may_run = row.release_state != "OFFLINE" or row.publish_status == "pending" or row.ds_attention is not None
        if action is WorkflowAction.ARCHIVE:
            # the history stays (versions, publish records, executions); the tasks are free for other workflows
            owned = await repo.workflow_task_ids(session, workflow_id)
            await repo.delete_relations(session, workflow_id, owned)
            await _refresh_proposals(session, deps, Change(joined=tuple(owned), moved=tuple(owned)))
            await repo.update_workflow(
                session, workflow_id, {"needs_attention": False, "attention_reason": None, "attention_details": None}
            )
        if action in (WorkflowAction.OFFLINE, WorkflowAction.ARCHIVE) and in_ds and may_run:
            # platform offline forbids new instances (seed §6.3): DS takes the workflow and its schedule offline too
            reason = "archive" if action is WorkflowAction.ARCHIVE else "platform_offline"
            await _request_publish(session, deps, row, PublishOperation.OFFLINE, actor, reason=reason)
        fresh = await repo.get_workflow(session, workflow_id)
        assert fresh is not None
        return _detail(fresh, await _current_snapshot(session, deps, fresh))


async def delete_workflow(deps: Deps, workflow_id: int, actor: str, *, expected_version_no: int | None) -> None:
    """Delete a workflow that never reached DolphinScheduler, with its versions; its tasks are free again. One that
    was published is archived instead (409): its history must stay."""
    async with unit_of_work(deps.sessions) as session:
        row = await _locked(session, workflow_id)
        if expected_version_no is not None:
            _check_version(row, expected_version_no)
        if row.workflow_code is not None or row.publish_status != "never_published":
            raise WorkflowPublished(
                f"workflow {workflow_id} ({row.workflow_name}) was published to DolphinScheduler: archive it instead, "
                "which keeps its history",
                workflow_id=workflow_id,
            )
        freed = await repo.workflow_task_ids(session, workflow_id)
        await repo.delete_workflow(session, workflow_id)
        await _refresh_proposals(session, deps, Change(joined=tuple(freed), moved=tuple(freed)))
    log.info("workflow %d (%s) deleted by %s", workflow_id, row.workflow_name, actor)


async def delete_task(deps: Deps, task_id: int, actor: str) -> None:
    """Delete a task that is in no workflow (409 names the workflow otherwise). Lineage forgets it: the task's
    reads and writes go (``lineage.changed`` with ``task_removed``), so its neighbours lose it as a dependency."""
    async with unit_of_work(deps.sessions) as session:
        if not await repo.lock_task(session, task_id):
            raise NotFound(f"task {task_id} not found", task_id=task_id)
        owner = (await repo.task_owners(session, [task_id])).get(task_id)
        if owner is not None:
            raise TaskInUse(
                f"task {task_id} is in workflow {owner[0]} ({owner[1]}): remove it from that workflow first",
                task_id=task_id,
                workflow_id=owner[0],
            )
        await repo.delete_task(session, task_id)
        await _refresh_proposals(session, deps, Change(left=(task_id,)))
        await deps.outbox.add(session, LineageChanged(task_id=task_id, task_removed=True))
    log.info("task %d deleted by %s", task_id, actor)


# ---------------------------------------------------------------------------------------------------------------
# Versions


async def _version_row(session: AsyncSession, workflow_id: int, version_no: int) -> Row[Any]:
    row = await repo.version_by_no(session, workflow_id, version_no)
    if row is None:
        if await repo.get_workflow(session, workflow_id) is None:
            raise NotFound(f"workflow {workflow_id} not found", workflow_id=workflow_id)
        raise NotFound(
            f"workflow {workflow_id} has no version {version_no}", workflow_id=workflow_id, version_no=version_no
        )
    return row


async def list_versions(
    deps: Deps, workflow_id: int, *, page: int, page_size: int
) -> schemas.Page[schemas.VersionSummary]:
    async with unit_of_work(deps.sessions) as session:
        if await repo.get_workflow(session, workflow_id) is None:
            raise NotFound(f"workflow {workflow_id} not found", workflow_id=workflow_id)
        rows, total = await repo.list_versions(session, workflow_id, page=page, page_size=page_size)
    return schemas.Page[schemas.VersionSummary](
        items=[_version_summary(r) for r in rows], total=total, page=page, page_size=page_size
    )


async def get_version(deps: Deps, workflow_id: int, version_no: int) -> schemas.Version:
    async with unit_of_work(deps.sessions) as session:
        row = await _version_row(session, workflow_id, version_no)
        snapshot = await _snapshot_of(session, deps, row.id)
    return schemas.Version(
        **_version_summary(row).model_dump(),
        change_summary=row.change_summary,
        structure_snapshot=snapshot.model_dump(mode="json"),
    )


async def diff_versions(deps: Deps, workflow_id: int, from_no: int, to_no: int) -> dict[str, Any]:
    """The structural diff from version ``from_no`` to version ``to_no`` (either order)."""
    async with unit_of_work(deps.sessions) as session:
        a = await _version_row(session, workflow_id, from_no)
        b = await _version_row(session, workflow_id, to_no)
        old = await _snapshot_of(session, deps, a.id)
        new = await _snapshot_of(session, deps, b.id)
    return change_summary(old, new).model_dump(mode="json")


async def rollback(deps: Deps, workflow_id: int, body: schemas.RollbackRequest, actor: str) -> schemas.RollbackResult:
    """A new version equal to version ``to_version_no`` (trigger ``rollback``). Its tasks must still exist and be
    owned by this workflow or by none. Rolling back to a structure equal to the current one writes nothing. Tasks of
    the current version that the old one lacks are now in no workflow: the answer and the version's change summary
    say so (``unassigned_task_ids``)."""
    task_ids: list[int] = []
    try:
        async with unit_of_work(deps.sessions) as session:
            row = await _locked(session, workflow_id)
            _check_writable(row)
            _check_version(row, body.expected_version_no)
            target = await _version_row(session, workflow_id, body.to_version_no)
            snapshot = await _snapshot_of(session, deps, target.id)
            task_ids = [t.task_id for t in snapshot.tasks]
            catalog = await repo.catalog_tasks(session, task_ids)
            validate_workflow_dag(
                workflow_id,
                task_ids,
                [(e.upstream_task_id, e.downstream_task_id) for e in snapshot.edges],
                {r.id: r.workflow_id for r in catalog},
            )
            await _check_name_free(session, snapshot.workflow_name, workflow_id)
            old = await _current_snapshot(session, deps, row)
            written = await _write_version(
                session, deps, row, snapshot, old, trigger=TriggerSource.ROLLBACK, actor=actor, clear_attention=True
            )
            if not written:
                return schemas.RollbackResult(**_detail(row, old).model_dump(), unassigned_task_ids=[])
            fresh = await repo.get_workflow(session, workflow_id)
            assert fresh is not None
            left = sorted({t.task_id for t in old.tasks} - {t.task_id for t in snapshot.tasks})
            return schemas.RollbackResult(**_detail(fresh, snapshot).model_dump(), unassigned_task_ids=left)
    except IntegrityError as exc:
        raise await _integrity_conflict(deps, exc, workflow_id, task_ids) from exc


# ---------------------------------------------------------------------------------------------------------------
# Publish


async def request_publish(
    deps: Deps, workflow_id: int, operation: PublishOperation, actor: str
) -> schemas.PublishAccepted:
    """Check the state (``domain.status.check_publish``), pin the version, record the request and emit
    ``publish.requested`` with the pinned snapshot; ``publish_status`` becomes ``pending``."""
    async with unit_of_work(deps.sessions) as session:
        row = await _locked(session, workflow_id)
        return await _request_publish(session, deps, row, operation, actor)


async def _request_publish(
    session: AsyncSession,
    deps: Deps,
    row: Row[Any],
    operation: PublishOperation,
    actor: str,
    *,
    reason: str | None = None,
) -> schemas.PublishAccepted:
    """``request_publish`` in the caller's transaction, of the locked workflow ``row``."""
    workflow_id = int(row.id)
    decision = check_publish(_state(row), operation)
    version = await repo.version_by_id(session, decision.version_id)
    assert version is not None
    snapshot = await _snapshot_of(session, deps, decision.version_id)
    request_id = uuid.uuid4()
    now = deps.clock()
    await repo.insert_publish_request(
        session,
        {
            "request_id": request_id,
            "workflow_id": workflow_id,
            "version_id": decision.version_id,
            "operation": operation.value,
            "status": "pending",
            "requested_by": actor,
            "requested_at": now,
        },
    )
    await repo.update_workflow(session, workflow_id, {"publish_status": "pending"})
    approval = (
        approve(
            deps.signer,
            request_id=request_id,
            workflow_id=workflow_id,
            version_id=decision.version_id,
            version_no=version.version_no,
            operation=operation.value,
            content_hash=version.content_hash,
        )
        if deps.signer is not None
        else None
    )
    await deps.outbox.add(
        session,
        PublishRequested(
            request_id=request_id,
            workflow_id=workflow_id,
            operation=operation,
            version_id=decision.version_id,
            version_no=version.version_no,
            operator=actor,
            requested_at=now,
            snapshot=snapshot,
            reason=reason,
            approval=approval,
        ),
    )
    return schemas.PublishAccepted(
        request_id=request_id,
        workflow_id=workflow_id,
        version_id=decision.version_id,
        version_no=version.version_no,
        operation=operation,
    )


async def apply_publish_completed(session: AsyncSession, deps: Deps, event: PublishCompleted) -> None:
    """``publish.completed``: the request's outcome, and the workflow's publish state. ``skipped_unchanged`` counts
    as published. ``publish_status`` stays ``pending`` while a newer request of the workflow is still open.

    Results arrive in the order the publisher finished them (one workflow's records run in order, keyed by the
    workflow), except a copy: a late duplicate with a new event id, a dead letter replayed. A result whose record is
    not newer than the one applied (``last_publish_record_id``) only records its request's outcome: it never undoes
    a later publish (as an older ``execution.synced`` never undoes a newer one).

    The release state is DS's, read back by the publisher (also after a failure). A failure that left DS other than
    intended (``diverged``) is kept as ``ds_attention`` — the workflow needs attention while it lasts — until a
    later result says DS holds its intended state again (the publisher restores it, or a person publishes again)."""
    row = await repo.lock_workflow(session, event.workflow_id)
    if row is None or not await repo.version_exists(session, event.workflow_id, event.version_id):
        log.warning(
            "publish.completed for an unknown workflow/version ignored",
            extra={"workflow_id": event.workflow_id, "version_id": event.version_id},
        )
        return
    if event.refused and not await repo.publish_request_exists(session, event.request_id):
        # a request this service never made (forged, or replayed under a new id), refused by the publisher before any
        # DS call: it changes nothing the platform says about the workflow (the publisher recorded and alerted it)
        log.warning(
            "publish.completed of a refused request this service never made (record %d): ignored",
            event.record_id,
            extra={"workflow_id": event.workflow_id, "request_id": str(event.request_id)},
        )
        return
    succeeded = event.outcome in (PublishOutcome.SUCCESS, PublishOutcome.SKIPPED_UNCHANGED)
    error = None
    if event.outcome is PublishOutcome.FAILED:
        code = f"[{event.error_code}] " if event.error_code is not None else ""
        error = f"{code}{event.error_message or 'publish failed'}"
    requested_at = await repo.record_publish_outcome(
        session,
        {
            "request_id": event.request_id,
            "workflow_id": event.workflow_id,
            "version_id": event.version_id,
            "operation": event.operation.value,
            "status": event.outcome.value,
            "requested_by": event.operator,
            "requested_at": event.completed_at,
            "completed_at": event.completed_at,
            "record_id": event.record_id,
            "error": error,
        },
    )
    applied = row.last_publish_record_id
    if applied is not None and event.record_id <= applied:
        log.info(
            "publish.completed of record %d not newer than the applied record %d: the workflow is left as it is",
            event.record_id,
            applied,
            extra={"workflow_id": event.workflow_id},
        )
        return
    newer_pending = await repo.newer_pending_request(session, event.workflow_id, event.request_id, requested_at)
    values: dict[str, Any] = {
        "publish_status": "pending" if newer_pending else ("published" if succeeded else "failed"),
        "last_publish_record_id": event.record_id,
    }
    if event.engine_workflow_code is not None:
        values["workflow_code"] = event.engine_workflow_code
    if event.project_code is not None:
        values["project_code"] = event.project_code
    if event.release_state is not None or event.diverged:
        values["release_state"] = event.release_state  # None: DS could not be read back, its state is unknown
    if event.schedule_online is not None:
        values["schedule_online"] = event.schedule_online
    elif event.release_state == "OFFLINE":
        values["schedule_online"] = False  # DS takes the schedule offline with the workflow
    if succeeded and event.operation in (PublishOperation.DEPLOY, PublishOperation.ONLINE):
        values["last_published_version_id"] = event.version_id
    if event.diverged:
        values["ds_attention"] = _ds_attention(event, error)
    elif succeeded or event.intended_release_state is not None:
        values["ds_attention"] = None  # DS holds what this newest result intended
    await repo.update_workflow(session, event.workflow_id, values)
    if event.engine_workflow_code is not None and event.project_code is not None:
        await _follow_upstream_codes(session, deps, row, event.engine_workflow_code, event.project_code)


#: the author of the versions the platform writes by itself for auto-orchestration
AUTO_ORCHESTRATION_ACTOR = "auto-orchestration"


async def _follow_upstream_codes(
    session: AsyncSession, deps: Deps, upstream: Row[Any], workflow_code: int, project_code: int
) -> None:
    """The workflows whose DEPENDENT links wait for ``upstream`` get a new version (``auto_orchestration``) when its
    DolphinScheduler codes are not the ones their current version names (first deploy, or deployed again under
    new codes): a publish sends exactly what was approved, so the new codes need a version (and an approval)."""
    for dependent_id in await repo.dependents_of(session, upstream.id):
        row = await repo.lock_workflow(session, dependent_id)
        if row is None or row.status == WorkflowStatus.ARCHIVED.value:
            continue
        old = await _current_snapshot(session, deps, row)
        links = tuple(
            d.model_copy(
                update={
                    "upstream_workflow_code": workflow_code,
                    "upstream_project_code": project_code,
                    "upstream_workflow_name": upstream.workflow_name,
                }
            )
            if d.upstream_workflow_id == upstream.id
            else d
            for d in old.external_dependencies
        )
        if links == old.external_dependencies:
            continue
        new = old.model_copy(update={"external_dependencies": links})
        await _write_version(
            session, deps, row, new, old, trigger=TriggerSource.AUTO_ORCHESTRATION, actor=AUTO_ORCHESTRATION_ACTOR
        )


def _ds_attention(event: PublishCompleted, error: str | None) -> dict[str, Any]:
    """What the workflow's attention says while DS is left other than intended by a failed publish."""
    held = (
        f"DolphinScheduler now holds it {event.release_state}"
        if event.release_state is not None
        else "what DolphinScheduler holds could not be read"
    )
    reason = (
        f"{held} after publish record {event.record_id} ({event.operation.value}) failed; intended "
        f"{event.intended_release_state}. The publisher keeps restoring it (or restore / cancel it by hand)."
    )
    return {
        "kind": "ds_state",
        "reason": reason,
        "record_id": event.record_id,
        "operation": event.operation.value,
        "intended_release_state": event.intended_release_state,
        "release_state": event.release_state,
        "error": error,
        "since": event.completed_at.isoformat(),
    }


#: the fields of an execution the workflow list shows (``schemas.LastExecution``)
LAST_EXECUTION_FIELDS = frozenset({"instance_id", "state", "start_time", "end_time", "duration"})
MAX_LAST_EXECUTIONS = 10


async def apply_execution_synced(session: AsyncSession, deps: Deps, event: ExecutionSynced) -> None:
    """``execution.synced``: the newest execution's state and start time, and the newest ≤ 10 executions (list
    fields only) for the workflow list, in the consumer's transaction (``updated_at`` is not touched: it tracks
    definition changes). An event synced before the one already applied (``synced_at``) changes nothing."""
    written = await _store_executions(
        session, event.workflow_id, event.executions, event.synced_at, state=event.last_execution_state
    )
    if written:
        return
    if await repo.workflow_exists(session, event.workflow_id):
        log.info(
            "execution.synced older than the executions already stored ignored",
            extra={"workflow_id": event.workflow_id},
        )
    else:
        log.info("execution.synced for an unknown workflow ignored", extra={"workflow_id": event.workflow_id})


async def _store_executions(
    session: AsyncSession,
    workflow_id: int,
    executions: Sequence[ExecutionSummary],
    synced_at: datetime,
    *,
    state: str | None = None,
) -> bool:
    """Write the projection of a workflow's last executions unless a later sync is stored; whether it was written."""
    newest = executions[0] if executions else None
    state = state or (newest.state if newest else None)
    at = (newest.start_time or newest.end_time or synced_at) if newest else None
    listed = [e.model_dump(mode="json", include=set(LAST_EXECUTION_FIELDS)) for e in executions[:MAX_LAST_EXECUTIONS]]
    return await repo.set_executions(session, workflow_id, state=state, at=at, executions=listed, synced_at=synced_at)


@dataclass(frozen=True)
class ExecutionsSyncReport:
    workflows: int
    rows_written: int
    batches: int


async def sync_executions(
    sessions: async_sessionmaker[AsyncSession], view: ExecutionsView, *, batch_size: int = 500
) -> ExecutionsSyncReport:
    """(Re)fill every workflow's last executions from history-sync's cache, ``batch_size`` workflows per batch (one
    read of the cache, one transaction each). history-sync emits ``execution.synced`` only when a workflow's
    executions change, so a deployment that gains the projection (definition migration 0002), or a consumer that
    skipped events, needs this once. Safe while the consumer runs: a row is written only when the cache's
    ``synced_at`` is not older than the stored one, so a newer event is never undone."""
    size = max(1, min(batch_size, view.max_batch))
    after, workflows, written, batches = 0, 0, 0, 0
    while True:
        async with unit_of_work(sessions) as session:
            ids = await repo.workflow_ids_after(session, after, size)
        if not ids:
            return ExecutionsSyncReport(workflows=workflows, rows_written=written, batches=batches)
        cached = await view.cached_executions(ids)
        async with unit_of_work(sessions) as session:
            for c in cached:
                written += await _store_executions(session, c.workflow_id, c.executions, c.synced_at)
        workflows += len(ids)
        batches += 1
        after = ids[-1]


# ---------------------------------------------------------------------------------------------------------------
# Lineage


def _fmt_path(path: Sequence[int]) -> str:
    return " → ".join(str(t) for t in path)


async def apply_dependency_change(
    session: AsyncSession, deps: Deps, event: TaskDependencyChanged, *, event_id: str
) -> None:
    """``task.dependency.changed``: apply lineage-derived edges inside one workflow, or flag for a human.

    Rule (decision): lineage adds exactly the edges it reports as new and removes exactly the edges it reports as
    gone; edges drawn by hand are not told apart (a hand-drawn edge that lineage later reports as removed goes).
    A link to an unassigned task, and a removed link between different workflows (there is no edge to remove), is
    ignored. A new link across workflows, or one that closes a cycle (the event's ``cycle``, or our own check of the
    workflow's DAG), changes nothing and sets ``needs_attention`` on every workflow involved, with the reason.
    """
    t = event.task_id
    # The dependency projection mirrors lineage's view for EVERY event, cycle or not (lineage writes the new sets
    # to its view either way), before any of the early returns below.
    await repo.put_dependencies(session, t, event.new_upstream, event.new_downstream)
    added = [(u, t) for u in sorted(set(event.new_upstream) - set(event.old_upstream))] + [
        (t, d) for d in sorted(set(event.new_downstream) - set(event.old_downstream))
    ]
    removed = [(u, t) for u in sorted(set(event.old_upstream) - set(event.new_upstream))] + [
        (t, d) for d in sorted(set(event.old_downstream) - set(event.new_downstream))
    ]
    await _apply_to_workflows(session, deps, event, added, removed, event_id=event_id)
    # the proposals around the task (issue 20), whatever happened to workflows above; last, as everywhere: the
    # proposals' lock is taken after the workflow rows (the reverse order deadlocks with a workflow write)
    await _refresh_proposals(session, deps, Change(added=tuple(added), removed=tuple(removed)))


async def _apply_to_workflows(
    session: AsyncSession,
    deps: Deps,
    event: TaskDependencyChanged,
    added: list[EdgePair],
    removed: list[EdgePair],
    *,
    event_id: str,
) -> None:
    t = event.task_id
    involved = {t, *event.old_upstream, *event.new_upstream, *event.old_downstream, *event.new_downstream}
    if event.cycle is not None:
        involved.update(event.cycle.task_path)
    owners = {k: v[0] for k, v in (await repo.task_owners(session, involved)).items() if v is not None}
    home = owners.get(t)
    if home is None:
        log.info("dependency change of an unassigned task ignored", extra={"task_id": t, "event_id": event_id})
        return
    base: dict[str, Any] = {
        "source": "task.dependency.changed",
        "event_id": event_id,
        "task_id": t,
        "edges_added": [list(e) for e in added],
        "edges_removed": [list(e) for e in removed],
    }

    if event.cycle is not None:
        path, tables = list(event.cycle.task_path), list(event.cycle.tables)
        workflows = sorted({home, *(owners[x] for x in path if x in owners)})
        reason = (
            f"lineage change of task {t} closes a dependency cycle {_fmt_path(path)}"
            + (f" through tables {', '.join(tables)}" if tables else "")
            + "; not applied: fix the lineage or the tasks' reads/writes"
        )
        await repo.set_attention(
            session,
            workflows,
            reason,
            {**base, "kind": "cycle", "workflows": workflows, "cycle": {"task_path": path, "tables": tables}},
        )
        return

    relevant = [e for e in added if e[0] in owners and e[1] in owners]
    cross = [e for e in relevant if owners[e[0]] != owners[e[1]]]
    if cross:
        workflows = sorted({home, *(owners[x] for e in cross for x in e)})
        links = ", ".join(f"task {u} (workflow {owners[u]}) → task {d} (workflow {owners[d]})" for u, d in cross[:10])
        reason = (
            f"lineage change of task {t} links tasks across workflows: {links}; not applied: "
            "move the tasks into one workflow (migration) or handle the dependency by hand"
        )
        await repo.set_attention(
            session,
            workflows,
            reason,
            {
                **base,
                "kind": "cross_workflow",
                "workflows": workflows,
                "cross_edges": [
                    {
                        "upstream_task_id": u,
                        "upstream_workflow_id": owners[u],
                        "downstream_task_id": d,
                        "downstream_workflow_id": owners[d],
                    }
                    for u, d in cross
                ],
            },
        )
        return

    row = await _lock_owner_of(session, t)
    if row is None or row.id != home:  # moved meanwhile: the next event (or a human) sees the new placement
        return
    inside = {e for e in relevant if owners[e[0]] == home}
    gone = {e for e in removed if owners.get(e[0]) == home and owners.get(e[1]) == home}
    old = await _current_snapshot(session, deps, row)
    current = {(e.upstream_task_id, e.downstream_task_id) for e in old.edges}
    edges = (current | inside) - gone
    if edges == current:
        return
    try:
        dag = analyse_dag([x.task_id for x in old.tasks], sorted(edges))
    except InvalidWorkflowStructure as exc:
        cycles = [p for p in exc.problems if p.get("code") == "cycle"]
        closed: list[int] = (cycles[0].get("path") or []) if cycles else []
        reason = (
            f"lineage change of task {t} would close a dependency cycle {_fmt_path(closed)} "
            f"in workflow {home}; not applied"
        )
        await repo.set_attention(
            session,
            [home],
            reason,
            {**base, "kind": "cycle", "workflows": [home], "cycle": {"task_path": closed, "tables": []}},
        )
        return
    new = old.model_copy(
        update={
            "edges": tuple(Edge(upstream_task_id=u, downstream_task_id=v) for u, v in dag.edges),
            "entry_task_ids": dag.entry_task_ids,
            "exit_task_ids": dag.exit_task_ids,
        }
    )
    await _write_version(session, deps, row, new, old, trigger=TriggerSource.LINEAGE_CHANGE, actor=deps.lineage_actor)


@dataclass(frozen=True)
class DependencySyncReport:
    tasks: int
    rows_written: int
    batches: int


async def sync_dependencies(
    sessions: async_sessionmaker[AsyncSession], view: DependencyView, *, batch_size: int = 500
) -> DependencySyncReport:
    """(Re)fill the dependency projection from lineage-resolver's view for every catalog task, ``batch_size`` task
    ids per batch (one read of the view, one transaction each). Safe while the consumer runs: a batch takes the
    database clock before it reads the view and overwrites only rows written before that moment, so a change the
    consumer applied meanwhile is never replaced by the older read."""
    size = max(1, min(batch_size, view.max_batch))
    after, tasks, written, batches = 0, 0, 0, 0
    while True:
        async with unit_of_work(sessions) as session:
            ids = await repo.task_ids_after(session, after, size)
            since = await repo.database_now(session)
        if not ids:
            return DependencySyncReport(tasks=tasks, rows_written=written, batches=batches)
        sets = await view.dependency_sets(ids)
        rows = repo.DependencyRows([], [], [])
        for d in sets:
            rows.task_ids.append(d.task_id)
            rows.ups.append(_pg_array(d.upstream))
            rows.downs.append(_pg_array(d.downstream))
        async with unit_of_work(sessions) as session:
            written += await repo.refill_dependencies(session, rows, fetched_after=since)
        tasks += len(ids)
        batches += 1
        after = ids[-1]


def _pg_array(ids: Iterable[int]) -> str:
    return "{" + ",".join(str(i) for i in sorted(set(ids))) + "}"


# ---------------------------------------------------------------------------------------------------------------
# Migration (reassignTask)


async def _migration_inputs(
    session: AsyncSession, deps: Deps, body: schemas.MigrationRequest, *, lock: bool
) -> tuple[Row[Any], Row[Any], StructureSnapshot, StructureSnapshot]:
    for _ in range(5):
        owners = await repo.task_owners(session, [body.task_id])
        if body.task_id not in owners:
            raise NotFound(f"task {body.task_id} not found", task_id=body.task_id)
        owner = owners[body.task_id]
        if owner is None:
            raise MigrationNotPossible(
                [
                    {
                        "code": "task_unassigned",
                        "task_id": body.task_id,
                        "message": f"task {body.task_id} is in no workflow; add it to workflow "
                        f"{body.target_workflow_id} with an edit instead",
                    }
                ]
            )
        source_id = owner[0]
        ids = {source_id, body.target_workflow_id}
        if lock:
            rows = {r.id: r for r in await repo.lock_workflows(session, ids)}
            again = (await repo.task_owners(session, [body.task_id])).get(body.task_id)
            if again is None or again[0] != source_id:
                continue
        else:
            rows = {}
            for wid in ids:
                r = await repo.get_workflow(session, wid)
                if r is not None:
                    rows[wid] = r
        if body.target_workflow_id not in rows:
            raise NotFound(f"workflow {body.target_workflow_id} not found", workflow_id=body.target_workflow_id)
        source, target = rows[source_id], rows[body.target_workflow_id]
        _check_writable(target)
        return (
            source,
            target,
            await _current_snapshot(session, deps, source),
            await _current_snapshot(session, deps, target),
        )
    raise ConcurrentChange(f"task {body.task_id} kept moving between workflows; retry", task_id=body.task_id)


def _preview(plan: MigrationPlan, source: Row[Any], target: Row[Any]) -> dict[str, Any]:
    data = plan.preview()
    data["source_version_no"] = source.current_version_no
    data["target_version_no"] = target.current_version_no
    return data


async def preview_migration(deps: Deps, body: schemas.MigrationRequest) -> dict[str, Any]:
    async with unit_of_work(deps.sessions) as session:
        source, target, src, tgt = await _migration_inputs(session, deps, body, lock=False)
        lineage = await repo.dependency_sets(session, [t.task_id for t in src.tasks])
    plan = plan_migration(
        src, tgt, body.task_id, body.mode, allow_empty_source=body.allow_empty_source, lineage=lineage
    )
    return _preview(plan, source, target)


async def execute_migration(deps: Deps, body: schemas.MigrationExecute, actor: str) -> schemas.MigrationResult:
    """Move the planned tasks in ONE transaction: both workflows locked in id order, both expected versions checked,
    relations moved, a ``migration`` version written for each, two ``workflow.version.created`` events."""
    plan: MigrationPlan | None = None
    try:
        async with unit_of_work(deps.sessions) as session:
            source, target, src, tgt = await _migration_inputs(session, deps, body, lock=True)
            _check_version(source, body.expected_source_version_no, role="source workflow")
            if target.id != source.id:
                _check_version(target, body.expected_target_version_no, role="target workflow")
            lineage = await repo.dependency_sets(session, [t.task_id for t in src.tasks])
            plan = plan_migration(
                src, tgt, body.task_id, body.mode, allow_empty_source=body.allow_empty_source, lineage=lineage
            )
            mode = MigrationMode(body.mode).value
            await _write_version(
                session,
                deps,
                source,
                plan.source_after,
                src,
                trigger=TriggerSource.MIGRATION,
                actor=actor,
                clear_attention=True,
            )
            await _write_version(
                session,
                deps,
                target,
                plan.target_after,
                tgt,
                trigger=TriggerSource.MIGRATION,
                actor=actor,
                mode=mode,
                clear_attention=True,
            )
            s_row = await repo.get_workflow(session, source.id)
            t_row = await repo.get_workflow(session, target.id)
            assert s_row is not None
            assert t_row is not None
            return schemas.MigrationResult(
                source=_detail(s_row, plan.source_after),
                target=_detail(t_row, plan.target_after),
                preview=_preview(plan, source, target),
            )
    except IntegrityError as exc:
        moved = list(plan.moved_task_ids) if plan else [body.task_id]
        raise await _integrity_conflict(deps, exc, body.target_workflow_id, moved) from exc


# ---------------------------------------------------------------------------------------------------------------
# Auto-orchestration (issue 20): proposals of workflows for the tasks in none
#
# The proposals are kept current in the transaction of every change that can alter them: a dependency change
# (``apply_dependency_change``), a task created or deleted, a workflow's task set changed (``_write_version``) or a
# workflow deleted. Each regroups only the proposals the change breaks (``grouping.affected``); ``rebuild_proposals``
# computes all of them from scratch (after the migration that added them, or to repair).


def _proposal_row(p: Proposal, dismissed: bool) -> repo.ProposalRow:
    return repo.ProposalRow(
        fingerprint=p.fingerprint,
        kind=p.kind.value,
        workflow_id=p.workflow_id,
        task_ids=list(p.task_ids),
        details={
            "edges": [list(e) for e in p.edges],
            "cycle_edges": [list(e) for e in p.cycle_edges],
            "cycles": [list(c) for c in p.cycles],
            "component_size": p.component_size,
            "cross": [
                {
                    "upstream_task_id": c.upstream_task_id,
                    "downstream_task_id": c.downstream_task_id,
                    "other_workflow_id": c.other_workflow_id,
                    "outside": c.outside,
                    "kept_as": c.kept_as,
                }
                for c in p.cross
            ],
        },
        dismissed=dismissed,
    )


async def _store_proposals(session: AsyncSession, proposals: Sequence[Proposal]) -> list[int]:
    dismissed = await repo.dismissed_among(session, [p.fingerprint for p in proposals])
    return await repo.insert_proposals(session, [_proposal_row(p, p.fingerprint in dismissed) for p in proposals])


async def _regroup(session: AsyncSession, deps: Deps, region: set[int], proposal_ids: Iterable[int]) -> list[int]:
    """Replace the proposals ``proposal_ids`` by the groups of the unassigned tasks of ``region``."""
    await repo.delete_proposals(session, proposal_ids)
    unassigned = await repo.unassigned_of(session, region)
    sets = await repo.dependency_sets(session, unassigned)
    upstream = {t: ups for t, (ups, _) in sets.items()}
    downstream = {t: downs for t, (_, downs) in sets.items()}
    outside = {x for ups, downs in sets.values() for x in (*ups, *downs)} - unassigned
    owners = await repo.task_owners(session, outside)
    workflow_of = {t: o[0] for t, o in owners.items() if o is not None}
    known_unassigned = unassigned | {t for t, o in owners.items() if o is None}
    groups = group_tasks(unassigned, upstream, deps.proposal_max_size)
    return await _store_proposals(
        session, [explain(g, known_unassigned, upstream, downstream, workflow_of) for g in groups]
    )


async def _refresh_proposals(session: AsyncSession, deps: Deps, change: Change) -> None:
    """Apply a change to the proposals with the least regrouping (``grouping.affected``): broken proposals formed
    again as their connected pieces, new unassigned tasks as proposals of their own, and the proposals on a circle
    of cut dependencies that an added dependency closed regrouped together (``group_tasks`` keeps its result free
    of circles; the circle is found with recursive queries from the two ends)."""
    if not (change.added or change.removed or change.joined or change.left or change.moved):
        return
    await repo.lock_proposals_table(session)
    ends = {x for e in (*change.added, *change.removed) for x in e} | {*change.joined, *change.left, *change.moved}
    sets = await repo.dependency_sets(session, change.moved)
    neighbours = {t: (*ups, *downs) for t, (ups, downs) in sets.items()}
    proposal_of = await repo.proposals_of_tasks(session, ends | {x for n in neighbours.values() for x in n})
    dirty, lone, cross = affected(change, proposal_of.get, lambda t: neighbours.get(t, ()))
    for gid in sorted(dirty):
        await _regroup(session, deps, set(await repo.proposal_members(session, [gid])), [gid])
    if lone:
        await _regroup(session, deps, lone, [])
        for t, (ups, downs) in (await repo.dependency_sets(session, lone)).items():
            cross += [(u, t) for u in ups] + [(t, d) for d in downs]
    for u, v in cross:
        of = await repo.proposals_of_tasks(session, [u, v])
        a, b = of.get(u), of.get(v)
        if a is None or b is None or a == b:
            continue
        members = await repo.proposal_members(session, [a, b])
        if len(members) <= deps.proposal_max_size:
            # the two proposals now depend on each other: one proposal, unless another path joins them (a circle)
            succ = await repo.proposal_neighbours(session, [a, b], downstream=True) - {a, b}
            pred = await repo.proposal_neighbours(session, [a, b], downstream=False) - {a, b}
            if not (succ and pred and await repo.proposal_reach(session, sorted(succ), downstream=True) & pred):
                await _regroup(session, deps, set(members), [a, b])
                continue
        forward = await repo.proposal_reach(session, [b], downstream=True)
        if a not in forward:
            continue
        # before this change no circle existed: every circle now runs through a → b
        on_paths = forward & await repo.proposal_reach(session, [a], downstream=False)
        tangled = circles(await repo.proposal_links(session, sorted(on_paths)))
        await _regroup(session, deps, set(await repo.proposal_members(session, tangled)), tangled)


async def rebuild_proposals(deps: Deps) -> schemas.ProposalRebuild:
    """Every proposal computed from scratch (one transaction; dismissed task sets stay dismissed)."""
    async with unit_of_work(deps.sessions) as session:
        await repo.lock_proposals_table(session)
        unassigned = await repo.all_unassigned(session)
        upstream = await repo.all_dependencies(session)
        owners = await repo.all_owners(session)
        proposals = propose(unassigned, upstream, owners, max_size=deps.proposal_max_size)
        await repo.delete_proposals(session, None)
        await _store_proposals(session, proposals)
    return schemas.ProposalRebuild(proposals=len(proposals), tasks=len(unassigned))


def _proposal_view(row: Row[Any]) -> schemas.ProposalSummary:
    d = row.details
    return schemas.ProposalSummary(
        id=row.id,
        kind=row.kind,
        fingerprint=row.fingerprint,
        workflow_id=row.workflow_id,
        task_ids=list(row.task_ids),
        task_count=row.task_count,
        edges=[(u, v) for u, v in d["edges"]],
        cycle_edges=[(u, v) for u, v in d["cycle_edges"]],
        cycles=d["cycles"],
        component_size=d["component_size"],
        split=d["component_size"] > row.task_count or any(c["other_workflow_id"] is None for c in d["cross"]),
        cross_dependencies=[schemas.CrossDependencyOut.model_validate(c) for c in d["cross"]],
        dismissed=row.dismissed,
        created_at=row.created_at,
    )


async def list_proposals(
    deps: Deps, *, include_dismissed: bool, page: int, page_size: int
) -> schemas.Page[schemas.ProposalSummary]:
    async with unit_of_work(deps.sessions) as session:
        total, rows = await repo.list_proposals(
            session, include_dismissed=include_dismissed, page=page, page_size=page_size
        )
    return schemas.Page(items=[_proposal_view(r) for r in rows], total=total, page=page, page_size=page_size)


async def _proposal(session: AsyncSession, proposal_id: int, *, lock: bool = False) -> Row[Any]:
    row = await repo.get_proposal(session, proposal_id, lock=lock)
    if row is None:
        raise NotFound(
            f"proposal {proposal_id} not found (proposals are regrouped when lineage or workflows change: list them "
            "again)",
            proposal_id=proposal_id,
        )
    return row


class ProposalNotAcceptable(Conflict):
    code = "proposal-not-acceptable"
    title = "Proposal cannot be accepted"


async def _dependent_links(
    session: AsyncSession, deps: Deps, proposal: schemas.ProposalSummary
) -> tuple[list[ExternalDependency], list[str]]:
    """The proposal's dependencies on tasks of existing workflows, as DEPENDENT links (one per upstream task),
    with the upstream workflow's DolphinScheduler codes when it was deployed and the period its schedule runs."""
    waits: dict[int, tuple[int, set[int]]] = {}
    for c in proposal.cross_dependencies:
        if c.outside == "upstream" and c.other_workflow_id is not None:
            waits.setdefault(c.upstream_task_id, (c.other_workflow_id, set()))[1].add(c.downstream_task_id)
    if not waits:
        return [], []
    names = {r.id: r.name for r in await repo.catalog_tasks(session, waits)}
    links: list[ExternalDependency] = []
    notes: list[str] = []
    upstream_rows: dict[int, tuple[Row[Any], StructureSnapshot]] = {}
    for upstream_task, (workflow_id, task_ids) in sorted(waits.items()):
        if workflow_id not in upstream_rows:
            row = await repo.get_workflow(session, workflow_id)
            if row is None:
                continue
            upstream_rows[workflow_id] = (row, await _current_snapshot(session, deps, row))
        row, snapshot = upstream_rows[workflow_id]
        cycle, date_value, note = dependent_period(snapshot.schedule.crontab if snapshot.schedule else None)
        if note is not None:
            notes.append(f"link to task {upstream_task} of workflow {workflow_id}: {note}")
        links.append(
            ExternalDependency(
                upstream_workflow_id=workflow_id,
                upstream_task_id=upstream_task,
                task_ids=tuple(task_ids),
                cycle=cycle,
                date_value=date_value,
                upstream_project_code=row.project_code,
                upstream_workflow_code=row.workflow_code,
                upstream_workflow_name=row.workflow_name,
                upstream_task_name=names.get(upstream_task, ""),
            )
        )
    return links, notes


class InvalidDependentLinks(ValidationFailed):
    code = "invalid-dependent-links"
    title = "Invalid DEPENDENT links"


async def _with_links(
    session: AsyncSession,
    deps: Deps,
    snapshot: StructureSnapshot,
    links: Sequence[schemas.DependentLinkInput] | None,
    old: StructureSnapshot | None,
) -> StructureSnapshot:
    """``snapshot`` with its DEPENDENT links: ``links`` as given (the upstream's workflow, codes and names looked
    up), or, with ``None``, ``old``'s links whose waiting tasks are still in the workflow (each narrowed to them)."""
    tasks = {t.task_id for t in snapshot.tasks}
    if links is None:
        kept: list[ExternalDependency] = []
        for d in old.external_dependencies if old is not None else ():
            waiting = tuple(t for t in d.task_ids if t in tasks)
            if waiting:
                kept.append(d if waiting == d.task_ids else d.model_copy(update={"task_ids": waiting}))
        return snapshot.model_copy(update={"external_dependencies": tuple(kept)}).canonical()
    problems: list[dict[str, Any]] = []
    owners = await repo.task_owners(session, {link.upstream_task_id for link in links})
    names = {r.id: r.name for r in await repo.catalog_tasks(session, {link.upstream_task_id for link in links})}
    seen: set[int] = set()
    out: list[ExternalDependency] = []
    for i, link in enumerate(links):
        where = f"external_dependencies[{i}]"
        owner = owners.get(link.upstream_task_id)
        outside = sorted(set(link.task_ids) - tasks)
        if link.upstream_task_id in seen:
            problems.append({"code": "duplicate_link", "field": where, "message": "one link per upstream task"})
        elif owner is None:
            problems.append(
                {
                    "code": "upstream_task_unassigned",
                    "field": where,
                    "message": f"task {link.upstream_task_id} is in no workflow (or does not exist)",
                }
            )
        elif owner[0] == snapshot.workflow_id:
            problems.append(
                {
                    "code": "upstream_in_this_workflow",
                    "field": where,
                    "message": f"task {link.upstream_task_id} is in this workflow: draw an edge instead",
                }
            )
        elif outside:
            problems.append(
                {"code": "task_not_in_workflow", "field": where, "message": f"tasks {outside} are not in the workflow"}
            )
        else:
            upstream = await _workflow_row(session, owner[0])
            try:
                out.append(
                    ExternalDependency(
                        upstream_workflow_id=upstream.id,
                        upstream_task_id=link.upstream_task_id,
                        task_ids=tuple(link.task_ids),
                        cycle=link.cycle,
                        date_value=link.date_value,
                        upstream_project_code=upstream.project_code,
                        upstream_workflow_code=upstream.workflow_code,
                        upstream_workflow_name=upstream.workflow_name,
                        upstream_task_name=names.get(link.upstream_task_id, ""),
                    )
                )
            except ValidationError as exc:  # a date value that is not one of the cycle's
                problems.append({"code": "invalid_period", "field": where, "message": str(exc.errors()[0]["msg"])})
        seen.add(link.upstream_task_id)
    if problems:
        raise InvalidDependentLinks("; ".join(f"{p['field']}: {p['message']}" for p in problems), problems=problems)
    return snapshot.model_copy(update={"external_dependencies": tuple(out)}).canonical()


def _workflow_body(
    snapshot: StructureSnapshot | None, proposal: schemas.ProposalSummary, name: str, description: str
) -> schemas.WorkflowInput:
    """The workflow after accepting: the proposal's tasks and edges, added to ``snapshot``'s when there is one."""
    tasks = [schemas.WorkflowTaskInput(task_id=t) for t in proposal.task_ids]
    edges = [schemas.EdgeModel(upstream_task_id=u, downstream_task_id=v) for u, v in proposal.edges]
    if snapshot is None:
        return schemas.WorkflowInput(name=name, description=description, tasks=tasks, edges=edges)
    return schemas.WorkflowInput(
        name=snapshot.workflow_name,
        description=snapshot.description,
        tasks=[schemas.WorkflowTaskInput(task_id=t.task_id, node_attrs=t.node_attrs) for t in snapshot.tasks] + tasks,
        edges=[
            schemas.EdgeModel(upstream_task_id=e.upstream_task_id, downstream_task_id=e.downstream_task_id)
            for e in snapshot.edges
        ]
        + edges,
        schedule=snapshot.schedule,
        global_params=list(snapshot.global_params),
        execution_type=snapshot.execution_type,
        timeout_minutes=snapshot.timeout_minutes,
    )


def _dag_of(snapshot: StructureSnapshot) -> dict[str, Any]:
    return {
        "workflow_id": snapshot.workflow_id,
        "task_ids": [t.task_id for t in snapshot.tasks],
        "edges": [[e.upstream_task_id, e.downstream_task_id] for e in snapshot.edges],
        "entry_task_ids": list(snapshot.entry_task_ids),
        "exit_task_ids": list(snapshot.exit_task_ids),
        "external_dependencies": [d.model_dump(mode="json") for d in snapshot.external_dependencies],
    }


class _Planned(NamedTuple):
    proposal: schemas.ProposalSummary
    #: ``add_to_workflow``: the (locked when accepting) workflow and its current snapshot
    target: Row[Any] | None
    old: StructureSnapshot | None
    new: StructureSnapshot
    preview: dict[str, Any]


async def _plan_proposal(
    session: AsyncSession, deps: Deps, proposal_id: int, body: schemas.ProposalAccept, *, lock: bool
) -> _Planned:
    """What accepting the proposal writes, and its preview: the same shape as a migration preview (moved tasks and
    edges, the resulting DAG as ``target_after``, warnings, ``target_version_no`` to pass back), plus the reasons
    and the DEPENDENT links."""
    if lock:
        # the order every writer keeps: the workflow row, then the proposals' lock, then proposal rows (a regrouping
        # holds the proposals' lock while it deletes proposals, a workflow write takes it after its workflow row)
        seen = _proposal_view(await _proposal(session, proposal_id))
        if seen.workflow_id is not None:
            await _locked(session, seen.workflow_id)
        await repo.lock_proposals_table(session)
    proposal = _proposal_view(await _proposal(session, proposal_id, lock=lock))
    if lock and proposal.workflow_id != seen.workflow_id:
        raise ProposalNotAcceptable(
            f"proposal {proposal_id} changed while it was accepted: list the proposals again", proposal_id=proposal_id
        )
    if proposal.cycle_edges:
        raise ProposalNotAcceptable(
            f"proposal {proposal_id} holds a lineage cycle ({'; '.join(_fmt_path(c) for c in proposal.cycles)}): "
            "fix the tasks' reads and writes first",
            proposal_id=proposal_id,
            cycles=proposal.cycles,
        )
    target: Row[Any] | None = None
    old: StructureSnapshot | None = None
    if proposal.kind == "add_to_workflow":
        assert proposal.workflow_id is not None
        target = await (
            _locked(session, proposal.workflow_id) if lock else _workflow_row(session, proposal.workflow_id)
        )
        _check_writable(target)
        old = await _current_snapshot(session, deps, target)
    name = body.name or f"auto-{(await repo.catalog_tasks(session, proposal.task_ids[:1]))[0].name}"[:128]
    workflow_body = _workflow_body(old, proposal, name, body.description)
    catalog, dag, attrs = await _validated_snapshot(session, target.id if target is not None else None, workflow_body)
    new = _snapshot(deps, target.id if target is not None else 0, workflow_body, catalog, dag, attrs)
    links, notes = await _dependent_links(session, deps, proposal) if body.dependent_links else ([], [])
    kept = list(old.external_dependencies) if old is not None else []
    if links or kept:
        by_upstream = {d.upstream_task_id: d for d in kept}
        for link in links:
            prev = by_upstream.get(link.upstream_task_id)
            by_upstream[link.upstream_task_id] = (
                link
                if prev is None
                else prev.model_copy(update={"task_ids": tuple(sorted({*prev.task_ids, *link.task_ids}))})
            )
        new = new.model_copy(update={"external_dependencies": tuple(by_upstream.values())}).canonical()
    warnings = []
    not_yet = [c for c in proposal.cross_dependencies if c.other_workflow_id is None]
    if not_yet:
        warnings.append(
            {
                "code": "cross_proposal_dependencies",
                "message": f"{len(not_yet)} dependencies link this proposal's tasks with tasks of other proposals: "
                "they become DEPENDENT links once those are accepted too",
                "task_ids": sorted(
                    {c.upstream_task_id if c.outside == "downstream" else c.downstream_task_id for c in not_yet}
                ),
            }
        )
    warnings.extend({"code": "dependent_period", "message": n, "task_ids": []} for n in notes)
    undeployed = sorted({d.upstream_workflow_id for d in links if d.upstream_workflow_code is None})
    if undeployed:
        warnings.append(
            {
                "code": "upstream_not_deployed",
                "message": f"workflows {undeployed} are not deployed yet: publishing waits until they are",
                "task_ids": [],
            }
        )
    preview = {
        "proposal_id": proposal.id,
        "kind": proposal.kind,
        "fingerprint": proposal.fingerprint,
        "target_workflow_id": target.id if target is not None else None,
        "moved_task_ids": proposal.task_ids,
        "moved_edges": [list(e) for e in proposal.edges],
        "dropped_edges": [],
        "bridged_edges": [],
        "lineage_edges": [list(e) for e in proposal.edges],
        "external_dependencies": [d.model_dump(mode="json") for d in links],
        "reasons": {
            "component_size": proposal.component_size,
            "split": proposal.split,
            "cut_dependencies": [c.model_dump(mode="json") for c in proposal.cross_dependencies],
        },
        "warnings": warnings,
        "target_after": _dag_of(new),
        "target_version_no": target.current_version_no if target is not None else None,
    }
    return _Planned(proposal, target, old, new, preview)


async def _workflow_row(session: AsyncSession, workflow_id: int) -> Row[Any]:
    row = await repo.get_workflow(session, workflow_id)
    if row is None:
        raise NotFound(f"workflow {workflow_id} not found", workflow_id=workflow_id)
    return row


async def preview_proposal(deps: Deps, proposal_id: int) -> dict[str, Any]:
    async with unit_of_work(deps.sessions) as session:
        planned = await _plan_proposal(session, deps, proposal_id, schemas.ProposalAccept(), lock=False)
    return planned.preview


async def accept_proposal(
    deps: Deps, proposal_id: int, body: schemas.ProposalAccept, actor: str
) -> schemas.ProposalAccepted:
    """Accept: a draft workflow with the proposal's tasks and edges, or a new version of the workflow a task is
    added to (``trigger_source=auto_orchestration``), with the DEPENDENT links to other workflows' tasks (unless
    ``dependent_links`` is false). The proposal goes with the regrouping its tasks' new placement causes."""
    try:
        async with unit_of_work(deps.sessions) as session:
            planned = await _plan_proposal(session, deps, proposal_id, body, lock=True)
            if planned.target is not None:
                if body.expected_version_no is not None:
                    _check_version(planned.target, body.expected_version_no)
                written = await _write_version(
                    session,
                    deps,
                    planned.target,
                    planned.new,
                    planned.old,
                    trigger=TriggerSource.AUTO_ORCHESTRATION,
                    actor=actor,
                )
                assert written is not None
                row = written.row
                snapshot = planned.new
            else:
                await _check_name_free(session, planned.new.workflow_name, None)
                row = await repo.insert_workflow(
                    session,
                    {
                        "workflow_name": planned.new.workflow_name,
                        "description": planned.new.description,
                        "status": WorkflowStatus.DRAFT.value,
                        "created_by": actor,
                        "updated_by": actor,
                    },
                )
                snapshot = planned.new.model_copy(update={"workflow_id": row.id})
                written = await _write_version(
                    session, deps, row, snapshot, None, trigger=TriggerSource.AUTO_ORCHESTRATION, actor=actor
                )
                assert written is not None
                row = written.row
            preview = {**planned.preview, "target_workflow_id": row.id, "target_after": _dag_of(snapshot)}
            return schemas.ProposalAccepted(proposal_id=proposal_id, workflow=_detail(row, snapshot), preview=preview)
    except IntegrityError as exc:
        name = body.name or ""
        raise await _integrity_conflict(deps, exc, None, list(planned.proposal.task_ids), name) from exc


async def dismiss_proposal(deps: Deps, proposal_id: int, actor: str) -> schemas.ProposalSummary:
    """Dismiss: the proposal is no longer listed, nor is the same task set when a regrouping forms it again."""
    async with unit_of_work(deps.sessions) as session:
        row = await _proposal(session, proposal_id, lock=True)
        await repo.dismiss_proposal(session, proposal_id, row.fingerprint, actor)
        row = await _proposal(session, proposal_id)
    return _proposal_view(row)


async def _suggested_workflow(session: AsyncSession, task_id: int) -> schemas.SuggestedWorkflow | None:
    """The workflow an unassigned task's lineage points to (``grouping.suggest_home``)."""
    sets = (await repo.dependency_sets(session, [task_id])).get(task_id)
    if sets is None:
        return None
    ups, downs = sets
    owners = await repo.task_owners(session, {*ups, *downs})
    home = suggest_home(
        {u: o[0] if (o := owners.get(u)) else None for u in ups},
        {d: o[0] if (o := owners.get(d)) else None for d in downs},
    )
    if home is None:
        return None
    name = next(o[1] for o in owners.values() if o is not None and o[0] == home.workflow_id)
    return schemas.SuggestedWorkflow(
        workflow_id=home.workflow_id,
        workflow_name=name,
        reason=home.reason,
        upstream_task_ids=list(home.upstream_task_ids),
        downstream_task_ids=list(home.downstream_task_ids),
    )
