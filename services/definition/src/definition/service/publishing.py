"""Publish requests: check the workflow's state, pin and approve the version, and emit ``publish.requested``."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from common.approvals import approve
from common.db import unit_of_work
from common.events.models import PublishOperation, PublishRequested
from definition import schemas
from definition.db.repository import publish_requests as publish_repo
from definition.db.repository import versions as version_repo
from definition.db.repository import workflows as workflow_repo
from definition.deps import Deps
from definition.domain.status import check_publish
from definition.service._shared import _locked, _snapshot_of
from definition.service._views import _state


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
    version = await version_repo.version_by_id(session, decision.version_id)
    assert version is not None
    snapshot = await _snapshot_of(session, deps, decision.version_id)
    request_id = uuid.uuid4()
    now = deps.clock()
    await publish_repo.insert_publish_request(
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
    await workflow_repo.update_workflow(session, workflow_id, {"publish_status": "pending"})
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
