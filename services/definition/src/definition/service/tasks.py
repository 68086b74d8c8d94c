"""Task use cases: create, read, list, update and delete tasks, and who owns them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from common.db import unit_of_work
from common.errors import NotFound, StaleVersion
from common.events.models import LineageChanged, TriggerSource
from common.workflow import SnapshotTask, branch_problems, datasources_of
from definition import schemas
from definition.db.repository import relations as relation_repo
from definition.db.repository import tasks as task_repo
from definition.deps import Deps
from definition.domain.errors import InvalidWorkflowStructure
from definition.domain.grouping.upkeep import Change
from definition.service._proposal_upkeep import _refresh_proposals
from definition.service._shared import _T, TaskInUse, _current_snapshot, _lock_owner_of, _read, _write_version
from definition.service._views import _task_view
from definition.service.proposals import _suggested_workflow

log = logging.getLogger(__name__)


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
        await relation_repo.delete_task(session, task_id)
        await _refresh_proposals(session, deps, Change(left=(task_id,)))
        await deps.outbox.add(session, LineageChanged(task_id=task_id, task_removed=True))
    log.info("task %d deleted by %s", task_id, actor)
