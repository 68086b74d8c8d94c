"""Task migration (``reassignTask``): move tasks between workflows, preview first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import unit_of_work
from common.errors import NotFound
from common.events.models import TriggerSource
from common.workflow import StructureSnapshot
from definition import schemas
from definition.db.repository import dependencies as dependency_repo
from definition.db.repository import tasks as task_repo
from definition.db.repository import workflows as workflow_repo
from definition.deps import Deps
from definition.domain.enums import MigrationMode
from definition.domain.errors import MigrationNotPossible
from definition.domain.migration import MigrationPlan, plan_migration
from definition.service._shared import (
    ConcurrentChange,
    _check_version,
    _check_writable,
    _current_snapshot,
    _integrity_conflict,
    _write_version,
)
from definition.service._views import _detail


async def _migration_inputs(
    session: AsyncSession, deps: Deps, body: schemas.MigrationRequest, *, lock: bool
) -> tuple[Row[Any], Row[Any], StructureSnapshot, StructureSnapshot]:
    for _ in range(5):
        owners = await task_repo.task_owners(session, [body.task_id])
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
            rows = {r.id: r for r in await workflow_repo.lock_workflows(session, ids)}
            again = (await task_repo.task_owners(session, [body.task_id])).get(body.task_id)
            if again is None or again[0] != source_id:
                continue
        else:
            rows = {}
            for wid in ids:
                r = await workflow_repo.get_workflow(session, wid)
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
        lineage = await dependency_repo.dependency_sets(session, [t.task_id for t in src.tasks])
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
            lineage = await dependency_repo.dependency_sets(session, [t.task_id for t in src.tasks])
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
            s_row = await workflow_repo.get_workflow(session, source.id)
            t_row = await workflow_repo.get_workflow(session, target.id)
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
