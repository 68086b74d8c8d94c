"""Publish records, retry, run now and batch start (the publisher service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response

from gateway import responses as r
from gateway import service
from gateway.auth import acting
from gateway.domain.links import with_trace_links
from gateway.domain.roles import Role
from gateway.ports import Caller, Json
from gateway.routes.params import PROBLEM_RESPONSES, DepsDep, IdPath, PageQ, PassThroughRoute, note
from gateway.schemas import BatchRunInput, RunInput

router = APIRouter(tags=["publishing"], responses=PROBLEM_RESPONSES, route_class=PassThroughRoute)

Viewer = Annotated[Caller, Depends(acting(Role.VIEWER))]
Publisher = Annotated[Caller, Depends(acting(Role.PUBLISHER))]


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="one key per intended run (the portal sends one per click): the same key gives the same answer "
        "and starts the workflow once, also when the first answer was lost",
    ),
]


@router.get("/workflows/{workflow_id}/publish-records", response_model=r.PublishRecordPage)
async def list_publish_records(
    workflow_id: IdPath,
    deps: DepsDep,
    caller: Viewer,
    page: PageQ = 1,
    page_size: Annotated[int, Query(ge=1, le=100, description="items per page (max 100)")] = 20,
) -> Json:
    """Publish records of the workflow, newest first, each with the link to its trace (``trace_link``) when a
    trace backend's UI is configured and the publish's trace was recorded."""
    records = await deps.publisher.list_publish_records(workflow_id, page, page_size, caller)
    return with_trace_links(deps.settings.trace_url_template, records)


@router.post("/publish-records/{record_id}/retry", status_code=201, response_model=r.PublishRecord)
async def retry_publish(
    record_id: IdPath,
    request: Request,
    response: Response,
    deps: DepsDep,
    caller: Publisher,
    key: IdempotencyKey = None,
) -> Json:
    """Re-run a failed publish (a new record with ``retry_of`` set; 409 when the record is not failed or was retried
    already, or when it would put a workflow online in DolphinScheduler that is offline or archived on the platform).
    The same ``Idempotency-Key`` gives the same record again (``Idempotent-Replayed: true``)."""
    answer = await service.retry_publish(deps, record_id, caller, key)
    if answer.get("replayed"):
        response.headers["Idempotent-Replayed"] = "true"
    note(request, f"retry of publish record {record_id} as record {answer.get('id')}")
    return answer


@router.post("/workflows/batch-run", response_model=r.BatchRunResult)
async def batch_run(body: BatchRunInput, request: Request, deps: DepsDep, caller: Publisher) -> Json:
    """Start (or backfill) several deployed workflows, each on its own, and report each one: ``results`` lists every
    workflow with ``status`` ``started`` (its DolphinScheduler instance ids), ``failed`` (DolphinScheduler's code and
    message) or ``unknown`` (no answer from DolphinScheduler: it may have started); ``instance_ids`` holds every
    instance started. 200 even when some failed (the others stay started); 409 when one was never deployed or is
    offline on the platform (nothing started)."""
    note(request, f"batch run of workflows {','.join(str(w) for w in body.workflow_ids)}")
    return await service.batch_run(deps, body.forward(), caller)


@router.post(
    "/workflows/{workflow_id}/run",
    response_model=r.RunView,
    responses={202: {"model": r.RunView, "description": "outcome unknown, being checked"}},
)
async def run_workflow(
    workflow_id: IdPath,
    request: Request,
    response: Response,
    deps: DepsDep,
    caller: Publisher,
    key: IdempotencyKey = None,
    body: Annotated[RunInput | None, Body()] = None,
) -> Json:
    """Run a deployed workflow now; answers the run (``run_id``, ``state``) and the DolphinScheduler instance ids.
    409 when it was never deployed, when it is offline on the platform, or while another run of it is starting.
    202 (``state: unknown``) when DolphinScheduler did not answer in time: the run is checked against its instances
    (poll ``GET …/runs/{run_id}``), never started twice."""
    answer = await service.run_workflow(deps, workflow_id, body.forward() if body else {}, caller, key)
    if answer.get("state") == "unknown":
        response.status_code = 202
    if answer.get("replayed"):
        response.headers["Idempotent-Replayed"] = "true"
    note(request, f"run {answer.get('run_id')}: {answer.get('state')}, instances {answer.get('instance_ids')}")
    return answer


@router.get("/workflows/{workflow_id}/runs/{run_id}", response_model=r.RunView)
async def get_run(workflow_id: IdPath, run_id: IdPath, deps: DepsDep, caller: Viewer) -> Json:
    """A run now: ``started`` (with the DolphinScheduler instance ids), ``unknown`` (being checked),
    ``not_started`` or ``failed`` (with the problem)."""
    return await deps.publisher.get_run(workflow_id, run_id, caller)
