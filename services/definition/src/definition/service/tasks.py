"""Task use cases: create, read, list, update and delete tasks, and who owns them.

A task's OpenLineage job identity (namespace + name) is part of the task: set on registration or edit (or alone,
``set_task_job``), in the same transaction as the task and with a ``platform.task.openlineage_job.set`` event in the
outbox (topic ``task.openlineage-job.set``, which only definition may write). Lineage-resolver, which reads the
mapping on every RunEvent, keeps it as a projection of those events and applies the pending lineage of a job it had
seen unmapped. Why definition owns it: a create or edit then records the task and its identity or neither, "one
task per job" is a unique constraint next to the task, and a slow or stopped lineage-resolver never fails (or
half-writes) a task save — the mapping reaches it when it is back (docs/decisions/0102).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import unit_of_work
from common.errors import Conflict, NotFound, StaleVersion
from common.events.models import LineageChanged, OpenLineageJob, TaskOpenLineageJobSet, TriggerSource
from common.workflow import SnapshotTask, branch_problems, datasources_of
from definition import schemas
from definition.db.repository import relations as relation_repo
from definition.db.repository import tasks as task_repo
from definition.deps import Deps
from definition.domain.errors import InvalidWorkflowStructure
from definition.domain.grouping.upkeep import Change
from definition.service._proposal_upkeep import _refresh_proposals
from definition.service._shared import (
    _T,
    TaskInUse,
    _constraint_of,
    _current_snapshot,
    _lock_owner_of,
    _read,
    _write_version,
)
from definition.service._views import _task_view
from definition.service.proposals import _suggested_workflow

log = logging.getLogger(__name__)


OPENLINEAGE_JOB_CONSTRAINT = "uq_data_task_openlineage_namespace_openlineage_name"


class OpenLineageJobTaken(Conflict):
    code = "openlineage-job-taken"
    title = "OpenLineage job of another task"


def _taken(job: schemas.OpenLineageJob, holder: int | None) -> OpenLineageJobTaken:
    return OpenLineageJobTaken(
        f"openlineage_job: OpenLineage job {job.namespace!r}/{job.name!r} is already the identity of task {holder}: "
        "a job is the identity of one task (clear it there first)",
        field="openlineage_job",
        task_id=holder,
    )


def _current_job(row: Any) -> schemas.OpenLineageJob | None:
    if row.openlineage_namespace is None:
        return None
    return schemas.OpenLineageJob(namespace=row.openlineage_namespace, name=row.openlineage_name)


async def _record_job(
    session: AsyncSession, deps: Deps, task_id: int, job: schemas.OpenLineageJob | None, actor: str
) -> None:
    """The task's identity becomes ``job`` (409 when another task has it) and the event goes to the outbox."""
    if job is not None:
        holder = await task_repo.task_of_job(session, job.namespace, job.name)
        if holder is not None and holder != task_id:
            raise _taken(job, holder)
    try:
        async with session.begin_nested():
            revision = await task_repo.set_openlineage_job(
                session, task_id, (job.namespace, job.name) if job is not None else None
            )
    except IntegrityError as exc:
        # a concurrent save gave the job to another task after the check above
        if job is None or _constraint_of(exc) != OPENLINEAGE_JOB_CONSTRAINT:
            raise
        raise _taken(job, await task_repo.task_of_job(session, job.namespace, job.name)) from None
    event_job = OpenLineageJob(namespace=job.namespace, name=job.name) if job is not None else None
    await deps.outbox.add(
        session, TaskOpenLineageJobSet(task_id=task_id, job=event_job, revision=revision, set_by=actor)
    )
    log.info("OpenLineage job of task %d set to %s by %s", task_id, job and f"{job.namespace}/{job.name}", actor)


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
        task_id = await task_repo.insert_task(session, {**_task_values(body, actor), "created_by": actor})
        if body.openlineage_job is not None:
            await _record_job(session, deps, task_id, body.openlineage_job, actor)
        row = await task_repo.get_task(session, task_id)
        assert row is not None
        await _refresh_proposals(session, deps, Change(joined=(task_id,)))
        suggested = await _suggested_workflow(session, task_id)
    task = schemas.TaskDetail(**dict(_task_view(row)), suggested_workflow=suggested)
    return await _with_checks(deps, task, body)


async def _with_checks(deps: Deps, task: _T, body: schemas.TaskInput) -> _T:
    """The saved task with what would stop its publish: a SQL or PROCEDURE task's datasource that DolphinScheduler
    does not have (asked after the save: a slow lookup never holds the transaction, and never fails the save)."""
    wanted = list(dict.fromkeys((name, type_.upper()) for name, type_ in datasources_of(body.params)))
    if deps.datasources is None or not wanted:
        return task
    notices = []
    for name, ds_type in wanted:
        found = await deps.datasources.exists(name, ds_type)
        if found:
            continue
        what = f"{ds_type} datasource '{name}'"
        notices.append(
            schemas.Notice(
                code="unknown_datasource",
                message=f"DolphinScheduler has no {what}: publishing a workflow with this task fails until it exists",
                datasource_name=name,
                datasource_type=ds_type,
            )
            if found is False
            else schemas.Notice(
                code="datasource_unchecked",
                message=f"could not check the {what} against DolphinScheduler now (the publisher did not answer)",
                datasource_name=name,
                datasource_type=ds_type,
            )
        )
    return task.model_copy(update={"warnings": notices}) if notices else task


async def get_task(deps: Deps, task_id: int) -> schemas.TaskDetail:
    """The task; an unassigned one with the workflow its lineage points to, if any."""
    async with unit_of_work(deps.sessions) as session:
        row = await task_repo.get_task(session, task_id)
        if row is None:
            raise NotFound(f"task {task_id} not found", task_id=task_id)
        suggested = await _suggested_workflow(session, task_id) if row.workflow_id is None else None
    return schemas.TaskDetail(**dict(_task_view(row)), suggested_workflow=suggested)


async def list_tasks(deps: Deps, f: task_repo.TaskFilter, *, page: int, page_size: int) -> str:
    """Tasks with owner, DS codes and dependency counts (the dependency projection), filtered by catalog fields
    and/or by ``upstream_task_id``/``downstream_task_id``, as the JSON of ``schemas.Page[schemas.TaskListItem]``
    (built by the database: one statement)."""
    document: str = await _read(deps, task_repo.tasks_page(f, page=page, page_size=page_size))
    return document


async def task_owners(deps: Deps, task_ids: Sequence[int]) -> schemas.TaskOwners:
    async with unit_of_work(deps.sessions) as session:
        owners = await task_repo.task_owners(session, task_ids)
    return schemas.TaskOwners(
        owners={
            str(t): (schemas.TaskOwner(workflow_id=o[0], workflow_name=o[1]) if (o := owners.get(t)) else None)
            for t in task_ids
        }
    )


async def update_task(deps: Deps, task_id: int, body: schemas.TaskUpdate, actor: str) -> schemas.Task:
    """Update the catalog entry; when the task sits in a workflow, that workflow gets a new version
    (``task_change``) with the task's new name, type, description and params (its node attributes stay)."""
    async with unit_of_work(deps.sessions) as session:
        if not await task_repo.update_task(session, task_id, body.expected_revision, _task_values(body, actor)):
            revision = await task_repo.task_revision(session, task_id)
            if revision is None:
                raise NotFound(f"task {task_id} not found", task_id=task_id)
            raise StaleVersion(
                f"task {task_id} is at revision {revision}, not {body.expected_revision}: "
                "it was changed meanwhile; reload it and apply your change again",
                task_id=task_id,
                current_revision=revision,
                expected_revision=body.expected_revision,
            )
        if "openlineage_job" in body.model_fields_set:  # left out: the identity stays as it is
            current = await task_repo.get_task(session, task_id)
            assert current is not None
            if _current_job(current) != body.openlineage_job:
                await _record_job(session, deps, task_id, body.openlineage_job, actor)
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
            # a CONDITIONS or SWITCH task edited in its workflow: its checks and branches must fit the workflow's edges
            problems = branch_problems(
                {task_id: changed.params}, [(e.upstream_task_id, e.downstream_task_id) for e in old.edges]
            )
            if problems:
                raise InvalidWorkflowStructure(problems)
            await _write_version(session, deps, wf, new, old, trigger=TriggerSource.TASK_CHANGE, actor=actor)
        row = await task_repo.get_task(session, task_id)
        assert row is not None
    return await _with_checks(deps, _task_view(row), body)


async def delete_task(deps: Deps, task_id: int, actor: str) -> None:
    """Delete a task that is in no workflow (409 names the workflow otherwise). Lineage forgets it: the task's
    reads and writes go (``lineage.changed`` with ``task_removed``), so its neighbours lose it as a dependency."""
    async with unit_of_work(deps.sessions) as session:
        if not await relation_repo.lock_task(session, task_id):
            raise NotFound(f"task {task_id} not found", task_id=task_id)
        owner = (await task_repo.task_owners(session, [task_id])).get(task_id)
        if owner is not None:
            raise TaskInUse(
                f"task {task_id} is in workflow {owner[0]} ({owner[1]}): remove it from that workflow first",
                task_id=task_id,
                workflow_id=owner[0],
            )
        row = await task_repo.get_task(session, task_id)
        had_job = row is not None and row.openlineage_namespace is not None
        await relation_repo.delete_task(session, task_id)
        if had_job:  # its job is free again: lineage-resolver forgets the identity, in order with its other changes
            revision = await task_repo.next_job_revision(session)
            event = TaskOpenLineageJobSet(task_id=task_id, job=None, revision=revision, set_by=actor)
            await deps.outbox.add(session, event)
        await _refresh_proposals(session, deps, Change(left=(task_id,)))
        await deps.outbox.add(session, LineageChanged(task_id=task_id, task_removed=True))
    log.info("task %d deleted by %s", task_id, actor)


async def set_task_job(deps: Deps, task_id: int, job: schemas.OpenLineageJob | None, actor: str) -> schemas.Task:
    """Set (or clear: ``None``) only the task's OpenLineage job identity; the task gets a new revision when it
    changes. Clearing a task that has none is a 404."""
    async with unit_of_work(deps.sessions) as session:
        if not await relation_repo.lock_task(session, task_id):
            raise NotFound(f"task {task_id} not found", task_id=task_id)
        row = await task_repo.get_task(session, task_id)
        assert row is not None
        current = _current_job(row)
        if job is None and current is None:
            raise NotFound(f"task {task_id} has no OpenLineage job identity", task_id=task_id)
        if current != job:
            await _record_job(session, deps, task_id, job, actor)
            await task_repo.touch_task(session, task_id, actor)
            row = await task_repo.get_task(session, task_id)
            assert row is not None
    return _task_view(row)
