"""Publish records, retry, run now and batch start (the publisher service)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from gateway.auth import acting
from gateway.domain.roles import Role
from gateway.ports import Caller
from gateway.routes.params import PROBLEM_RESPONSES, DepsDep, IdPath, PageQ, note
from gateway.schemas import BatchRunInput, RunInput

router = APIRouter(tags=["publishing"], responses=PROBLEM_RESPONSES)

Viewer = Annotated[Caller, Depends(acting(Role.VIEWER))]
Publisher = Annotated[Caller, Depends(acting(Role.PUBLISHER))]


@router.get("/workflows/{workflow_id}/publish-records")
async def list_publish_records(
    workflow_id: IdPath,
    deps: DepsDep,
    caller: Viewer,
    page: PageQ = 1,
    page_size: Annotated[int, Query(ge=1, le=100, description="items per page (max 100)")] = 20,
) -> dict[str, Any]:
    """Publish records of the workflow, newest first."""
    return await deps.publisher.list_publish_records(workflow_id, page, page_size, caller)


@router.post("/publish-records/{record_id}/retry", status_code=201)
async def retry_publish(record_id: IdPath, request: Request, deps: DepsDep, caller: Publisher) -> dict[str, Any]:
    """Re-run a failed publish (a new record with ``retry_of`` set; 409 when the record is not failed)."""
    answer = await deps.publisher.retry_publish(record_id, caller)
    note(request, f"retry of publish record {record_id} as record {answer.get('id')}")
    return answer


@router.post("/workflows/batch-run")
async def batch_run(body: BatchRunInput, request: Request, deps: DepsDep, caller: Publisher) -> dict[str, Any]:
    """Start (or backfill) several deployed workflows; answers the DolphinScheduler instance ids."""
    note(request, f"batch run of workflows {','.join(str(w) for w in body.workflow_ids)}")
    return await deps.publisher.batch_run(body.forward(), caller)


@router.post("/workflows/{workflow_id}/run")
async def run_workflow(
    workflow_id: IdPath,
    request: Request,
    deps: DepsDep,
    caller: Publisher,
    body: Annotated[RunInput | None, Body()] = None,
) -> dict[str, Any]:
    """Run a deployed workflow now; answers the DolphinScheduler instance ids (409 when never deployed)."""
    answer = await deps.publisher.run_workflow(workflow_id, body.forward() if body else {}, caller)
    note(request, f"run: instances {answer.get('instance_ids')}")
    return answer
