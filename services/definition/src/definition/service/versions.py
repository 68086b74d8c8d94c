"""Version use cases: the history of a workflow, one version, the diff of two, and rollback."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from common.db import unit_of_work
from common.errors import NotFound
from common.events.models import TriggerSource
from definition import schemas
from definition.db.repository import tasks as task_repo
from definition.db.repository import versions as version_repo
from definition.db.repository import workflows as workflow_repo
from definition.deps import Deps
from definition.domain.dag import validate_workflow_dag
from definition.domain.diff import change_summary
from definition.service._shared import (
    _check_name_free,
    _check_version,
    _check_writable,
    _current_snapshot,
    _integrity_conflict,
    _locked,
    _snapshot_of,
    _write_version,
)
from definition.service._views import _detail, _version_summary


async def _version_row(session: AsyncSession, workflow_id: int, version_no: int) -> Row[Any]:
    row = await version_repo.version_by_no(session, workflow_id, version_no)
    if row is None:
        if await workflow_repo.get_workflow(session, workflow_id) is None:
            raise NotFound(f"workflow {workflow_id} not found", workflow_id=workflow_id)
        raise NotFound(
            f"workflow {workflow_id} has no version {version_no}", workflow_id=workflow_id, version_no=version_no
        )
    return row


async def list_versions(
    deps: Deps, workflow_id: int, *, page: int, page_size: int
) -> schemas.Page[schemas.VersionSummary]:
    async with unit_of_work(deps.sessions) as session:
        if await workflow_repo.get_workflow(session, workflow_id) is None:
            raise NotFound(f"workflow {workflow_id} not found", workflow_id=workflow_id)
        rows, total = await version_repo.list_versions(session, workflow_id, page=page, page_size=page_size)
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
            catalog = await task_repo.catalog_tasks(session, task_ids)
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
            fresh = await workflow_repo.get_workflow(session, workflow_id)
            assert fresh is not None
            left = sorted({t.task_id for t in old.tasks} - {t.task_id for t in snapshot.tasks})
            return schemas.RollbackResult(**_detail(fresh, snapshot).model_dump(), unassigned_task_ids=left)
    except IntegrityError as exc:
        raise await _integrity_conflict(deps, exc, workflow_id, task_ids) from exc
