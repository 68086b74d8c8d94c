"""Workflow use cases: create, update, read, list, lifecycle actions and delete."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError

from common.db import unit_of_work
from common.errors import NotFound, StaleVersion, ValidationFailed
from common.events.models import PublishOperation, TriggerSource
from definition import schemas
from definition.db.repository import relations as relation_repo
from definition.db.repository import versions as version_repo
from definition.db.repository import workflows as workflow_repo
from definition.deps import Deps
from definition.domain.enums import WorkflowAction, WorkflowStatus
from definition.domain.grouping.upkeep import Change
from definition.domain.status import allowed_publish_operations, transition
from definition.service._proposal_upkeep import _refresh_proposals
from definition.service._shared import (
    MANUAL,
    WorkflowPublished,
    _check_name_free,
    _check_version,
    _check_writable,
    _current_encoded,
    _current_snapshot,
    _integrity_conflict,
    _locked,
    _read,
    _relation_rows,
    _snapshot,
    _Started,
    _validated_snapshot,
    _write_version,
    _Written,
)
from definition.service._views import _detail, _detail_json, _state
from definition.service.proposals import _with_links
from definition.service.publishing import _request_publish

log = logging.getLogger(__name__)


async def create_workflow(deps: Deps, body: schemas.WorkflowInput, actor: str) -> bytes:
    """Create the workflow with its first version; the answer is the ``WorkflowDetail`` as JSON bytes."""
    try:
        async with unit_of_work(deps.sessions) as session:
            catalog, dag, attrs = await _validated_snapshot(session, None, body)
            await _check_name_free(session, body.name, None)
            row = await workflow_repo.insert_workflow(
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
            version_id = await version_repo.begin_version(session)
            rows = _relation_rows([(t, attrs[t]) for t in dag.task_ids], dag.upstream_count, dag.downstream_count)
            relations = asyncio.ensure_future(relation_repo.insert_relations(session, row.id, version_id, MANUAL, rows))
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
        row = await workflow_repo.get_workflow(session, workflow_id)
        if row is None:
            raise NotFound(f"workflow {workflow_id} not found", workflow_id=workflow_id)
        encoded = await _current_encoded(session, deps, row)
    return _detail_json(row, encoded)


async def workflow_states(deps: Deps, workflow_ids: Sequence[int]) -> schemas.WorkflowLifecycles:
    async with unit_of_work(deps.sessions) as session:
        rows = await workflow_repo.workflow_states(session, workflow_ids)
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


async def list_workflows(deps: Deps, f: workflow_repo.WorkflowFilter, *, sort: str, page: int, page_size: int) -> str:
    """A page of workflows with their last executions (the ``execution.synced`` projection) and the exact total, as
    the JSON of ``schemas.Page[schemas.WorkflowListItem]`` (built by the database: one statement, no row decoding)."""
    document: str = await _read(deps, workflow_repo.workflows_page(f, sort=sort, page=page, page_size=page_size))
    return document


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
        await workflow_repo.update_workflow(
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
            owned = await relation_repo.workflow_task_ids(session, workflow_id)
            await relation_repo.delete_relations(session, workflow_id, owned)
            await _refresh_proposals(session, deps, Change(joined=tuple(owned), moved=tuple(owned)))
            await workflow_repo.update_workflow(
                session, workflow_id, {"needs_attention": False, "attention_reason": None, "attention_details": None}
            )
        if action in (WorkflowAction.OFFLINE, WorkflowAction.ARCHIVE) and in_ds and may_run:
            # platform offline forbids new instances (seed §6.3): DS takes the workflow and its schedule offline too
            reason = "archive" if action is WorkflowAction.ARCHIVE else "platform_offline"
            await _request_publish(session, deps, row, PublishOperation.OFFLINE, actor, reason=reason)
        fresh = await workflow_repo.get_workflow(session, workflow_id)
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
        freed = await relation_repo.workflow_task_ids(session, workflow_id)
        await relation_repo.delete_workflow(session, workflow_id)
        await _refresh_proposals(session, deps, Change(joined=tuple(freed), moved=tuple(freed)))
    log.info("workflow %d (%s) deleted by %s", workflow_id, row.workflow_name, actor)
