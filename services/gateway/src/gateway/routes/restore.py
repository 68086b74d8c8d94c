"""Restoring DolphinScheduler's state after a failed publish left it other than intended (the publisher's
reconciler): see it, attempt it now (the portal's one-click restore), cancel it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from gateway import responses as r
from gateway.auth import acting
from gateway.domain.roles import Role
from gateway.ports import Caller, Json
from gateway.routes.params import PROBLEM_RESPONSES, DepsDep, IdPath, PassThroughRoute, note

router = APIRouter(tags=["publishing"], responses=PROBLEM_RESPONSES, route_class=PassThroughRoute)

Viewer = Annotated[Caller, Depends(acting(Role.VIEWER))]
Publisher = Annotated[Caller, Depends(acting(Role.PUBLISHER))]


@router.get("/workflows/{workflow_id}/restore", response_model=r.Restore)
async def get_restore(workflow_id: IdPath, deps: DepsDep, caller: Viewer) -> Json:
    """The restore of the workflow's DS state: ``restoring`` (attempts go on, with backoff), ``restored`` or
    ``cancelled``; 404 when no failed publish ever left DS other than intended."""
    return await deps.publisher.get_restore(workflow_id, caller)


@router.post("/workflows/{workflow_id}/restore", status_code=202, response_model=r.Restore)
async def restore_now(workflow_id: IdPath, request: Request, deps: DepsDep, caller: Publisher) -> Json:
    """Attempt the restore now (also after a cancel): the failed publish runs again as a new record; 409 when DS
    holds the intended state already."""
    answer = await deps.publisher.restore_now(workflow_id, caller)
    note(request, f"restore of workflow {workflow_id} in DolphinScheduler asked")
    return answer


@router.post("/workflows/{workflow_id}/restore/cancel", response_model=r.Restore)
async def cancel_restore(workflow_id: IdPath, request: Request, deps: DepsDep, caller: Publisher) -> Json:
    """Stop the automatic restore attempts (DS keeps what it holds; an attempt already started runs to its end)."""
    answer = await deps.publisher.cancel_restore(workflow_id, caller)
    note(request, f"restore of workflow {workflow_id} in DolphinScheduler cancelled")
    return answer
