"""Workflows: the composed list and detail pages, and the definition service's workflow operations."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from common.bounds import INT4_MAX
from common.query import parse_query, query_parameters
from gateway import responses as r
from gateway import service
from gateway.auth import acting
from gateway.domain.roles import Role
from gateway.ports import Caller, Json
from gateway.routes.params import (
    PROBLEM_RESPONSES,
    DepsDep,
    IdPath,
    NumberPath,
    PageQ,
    PageSizeQ,
    PassThroughRoute,
    json_page,
    note,
)
from gateway.schemas import ApproveInput, PublishInput, RollbackInput, WorkflowInput, WorkflowListQuery, WorkflowUpdate

router = APIRouter(prefix="/workflows", tags=["workflows"], responses=PROBLEM_RESPONSES, route_class=PassThroughRoute)

Viewer = Annotated[Caller, Depends(acting(Role.VIEWER))]
Editor = Annotated[Caller, Depends(acting(Role.EDITOR))]
Approver = Annotated[Caller, Depends(acting(Role.APPROVER))]
Publisher = Annotated[Caller, Depends(acting(Role.PUBLISHER))]


@router.get("", response_model=r.WorkflowPage, openapi_extra=query_parameters(WorkflowListQuery))
async def list_workflows(request: Request, deps: DepsDep, caller: Viewer) -> Response:
    """Workflows with their last 10 executions (``null`` and ``executions_unavailable: true`` when the history
    service is slow or down) and the DolphinScheduler link. The query is one model (``common.query``)."""
    q = parse_query(WorkflowListQuery, request)
    return json_page(await service.list_workflows(deps, q.model_dump(), caller))


@router.post("", status_code=201, response_model=r.WorkflowDetail)
async def create_workflow(body: WorkflowInput, deps: DepsDep, caller: Editor) -> Json:
    return await deps.definition.create_workflow(body.forward(), caller)


@router.get("/{workflow_id}", response_model=r.WorkflowView)
async def get_workflow(workflow_id: IdPath, deps: DepsDep, caller: Viewer) -> Json:
    """The workflow (DAG, state) with its first page of versions and publish records, its last executions and the
    DolphinScheduler link; a part that could not be fetched is ``null`` and listed in ``unavailable``."""
    return await service.workflow_detail(deps, workflow_id, caller)


@router.put("/{workflow_id}", response_model=r.WorkflowDetail)
async def update_workflow(workflow_id: IdPath, body: WorkflowUpdate, deps: DepsDep, caller: Editor) -> Json:
    return await deps.definition.update_workflow(workflow_id, body.forward(), caller)


@router.post("/{workflow_id}/approve", response_model=r.WorkflowDetail)
async def approve_workflow(
    workflow_id: IdPath, body: ApproveInput, request: Request, deps: DepsDep, caller: Approver
) -> Json:
    """Approve the version you reviewed (``version_no``); 409 ``stale-version`` when another version was saved
    since, so an edit made after the review is never approved unseen."""
    note(request, f"approve version {body.version_no}")
    return await deps.definition.workflow_action(workflow_id, "approve", caller, body.forward())


@router.post("/{workflow_id}/archive", response_model=r.WorkflowDetail)
async def archive_workflow(workflow_id: IdPath, request: Request, deps: DepsDep, caller: Publisher) -> Json:
    """Archive a workflow for good: read-only from now on, its tasks free for other workflows, its versions, publish
    records and executions kept; DolphinScheduler takes it (and its schedule) offline when it was deployed."""
    note(request, "archive")
    return await deps.definition.workflow_action(workflow_id, "archive", caller)


@router.delete("/{workflow_id}", status_code=204)
async def delete_workflow(
    workflow_id: IdPath,
    request: Request,
    deps: DepsDep,
    caller: Editor,
    expected_version_no: Annotated[
        int | None, Query(ge=0, le=INT4_MAX, description="refuse (409) when another version was saved since")
    ] = None,
) -> Response:
    """Delete a workflow that was never published (its tasks are free again). One that was published is archived
    instead (409 ``workflow-published``): its history stays."""
    note(request, "delete")
    await deps.definition.delete_workflow(workflow_id, caller, expected_version_no=expected_version_no)
    return Response(status_code=204)


@router.post("/{workflow_id}/online", response_model=r.WorkflowDetail)
async def online_workflow(workflow_id: IdPath, deps: DepsDep, caller: Publisher) -> Json:
    """Platform state only (DolphinScheduler is not touched: publish ``online`` does that)."""
    return await deps.definition.workflow_action(workflow_id, "online", caller)


@router.post("/{workflow_id}/offline", response_model=r.WorkflowDetail)
async def offline_workflow(workflow_id: IdPath, deps: DepsDep, caller: Publisher) -> Json:
    """Platform state only (DolphinScheduler is not touched: publish ``offline`` does that)."""
    return await deps.definition.workflow_action(workflow_id, "offline", caller)


@router.get("/{workflow_id}/versions", response_model=r.VersionPage)
async def list_versions(
    workflow_id: IdPath, deps: DepsDep, caller: Viewer, page: PageQ = 1, page_size: PageSizeQ = 20
) -> Json:
    return await deps.definition.list_versions(workflow_id, page, page_size, caller)


@router.get("/{workflow_id}/versions/{version_no}", response_model=r.Version)
async def get_version(workflow_id: IdPath, version_no: NumberPath, deps: DepsDep, caller: Viewer) -> Json:
    return await deps.definition.get_version(workflow_id, version_no, caller)


@router.get("/{workflow_id}/diff", response_model=r.ChangeSummary)
async def diff_versions(
    workflow_id: IdPath,
    deps: DepsDep,
    caller: Viewer,
    from_no: Annotated[int, Query(alias="from", ge=1, le=INT4_MAX)],
    to_no: Annotated[int, Query(alias="to", ge=1, le=INT4_MAX)],
) -> Json:
    return await deps.definition.diff(workflow_id, from_no, to_no, caller)


@router.post("/{workflow_id}/rollback", response_model=r.RollbackResult)
async def rollback_workflow(
    workflow_id: IdPath, body: RollbackInput, request: Request, deps: DepsDep, caller: Editor
) -> Json:
    note(request, f"rollback to version {body.to_version_no}")
    return await deps.definition.rollback(workflow_id, body.forward(), caller)


@router.post("/{workflow_id}/publish", status_code=202, response_model=r.PublishAccepted)
async def publish_workflow(
    workflow_id: IdPath, body: PublishInput, request: Request, deps: DepsDep, caller: Publisher
) -> Json:
    """Ask for ``deploy`` / ``online`` / ``offline`` in DolphinScheduler (202: the publisher does it)."""
    note(request, f"publish {body.operation}")
    return await deps.definition.publish(workflow_id, body.forward(), caller)
