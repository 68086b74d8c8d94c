"""Internal HTTP API (docs/api-contracts.md §1), called by the gateway. Thin: parse, call one use case, answer.

The acting user comes in ``X-Actor`` (recorded as ``created_by``/``updated_by``/``operator``; the configured default,
``system``, when absent). Errors are problem JSON (``common.http``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request

from common.app import deps_of
from common.errors import ValidationFailed
from definition import schemas, service
from definition.db import repository as repo
from definition.deps import Deps
from definition.domain.enums import WorkflowAction

router = APIRouter(prefix="/internal", tags=["definition"])


def _deps(request: Request) -> Deps:
    deps: Deps = deps_of(request)
    return deps


def _actor(request: Request, x_actor: Annotated[str | None, Header()] = None) -> str:
    actor = (x_actor or "").strip()
    return actor or _deps(request).default_actor


def _int_list(value: str | None) -> list[int] | None:
    if value is None:
        return None
    parts = [p.strip() for p in str(value).split(",") if p.strip()]
    try:
        return [int(p) for p in parts]
    except ValueError as exc:
        raise ValidationFailed(f"expected comma-separated integers, got '{value}'") from exc


DepsDep = Annotated[Deps, Depends(_deps)]
ActorDep = Annotated[str, Depends(_actor)]
PageNo = Annotated[int, Query(ge=1)]
PageSize = Annotated[int, Query(ge=1, le=200)]


# --- tasks --------------------------------------------------------------------------------------------------------


@router.post("/tasks", status_code=201, response_model=schemas.Task)
async def create_task(body: schemas.TaskInput, deps: DepsDep, actor: ActorDep) -> schemas.Task:
    return await service.create_task(deps, body, actor)


@router.put("/tasks/{task_id}", response_model=schemas.Task)
async def update_task(task_id: int, body: schemas.TaskUpdate, deps: DepsDep, actor: ActorDep) -> schemas.Task:
    """Update a task (``expected_revision``: 409 ``stale-version`` when stale). A task inside a workflow gives that
    workflow a new version (trigger ``task_change``)."""
    return await service.update_task(deps, task_id, body, actor)


@router.get("/tasks/{task_id}", response_model=schemas.Task)
async def get_task(task_id: int, deps: DepsDep) -> schemas.Task:
    return await service.get_task(deps, task_id)


@router.get("/tasks", response_model=schemas.Page[schemas.Task])
async def list_tasks(
    deps: DepsDep,
    ids: Annotated[str | None, Query(description="comma-separated task ids")] = None,
    workflow_id: int | None = None,
    unassigned: bool = False,
    name: Annotated[str | None, Query(description="contains, case-insensitive")] = None,
    task_type: Literal["SHELL", "SQL", "PYTHON"] | None = None,
    page: PageNo = 1,
    page_size: PageSize = 20,
) -> schemas.Page[schemas.Task]:
    f = repo.TaskFilter(
        ids=_int_list(ids), workflow_id=workflow_id, unassigned=unassigned, name=name, task_type=task_type
    )
    return await service.list_tasks(deps, f, page=page, page_size=page_size)


@router.get("/task-owners", response_model=schemas.TaskOwners)
async def task_owners(
    deps: DepsDep, task_ids: Annotated[str, Query(description="comma-separated task ids")]
) -> schemas.TaskOwners:
    ids = _int_list(task_ids) or []
    if len(ids) > 1000:
        raise ValidationFailed("at most 1000 task ids per request")
    return await service.task_owners(deps, ids)


# --- workflows ----------------------------------------------------------------------------------------------------


@router.post("/workflows", status_code=201, response_model=schemas.WorkflowDetail)
async def create_workflow(body: schemas.WorkflowInput, deps: DepsDep, actor: ActorDep) -> schemas.WorkflowDetail:
    return await service.create_workflow(deps, body, actor)


@router.put("/workflows/{workflow_id}", response_model=schemas.WorkflowDetail)
async def update_workflow(
    workflow_id: int, body: schemas.WorkflowUpdate, deps: DepsDep, actor: ActorDep
) -> schemas.WorkflowDetail:
    """Replace the workflow's definition. 409 ``stale-version`` when ``expected_version_no`` is not current. No
    structural change → 200 with the version unchanged (no new version)."""
    return await service.update_workflow(deps, workflow_id, body, actor)


@router.get("/workflows/{workflow_id}", response_model=schemas.WorkflowDetail)
async def get_workflow(workflow_id: int, deps: DepsDep) -> schemas.WorkflowDetail:
    return await service.get_workflow(deps, workflow_id)


@router.get("/workflows", response_model=schemas.Page[schemas.WorkflowSummary])
async def list_workflows(
    deps: DepsDep,
    name: Annotated[str | None, Query(description="contains, case-insensitive")] = None,
    status: Literal["draft", "ready", "online", "offline"] | None = None,
    publish_status: Literal["never_published", "pending", "published", "failed"] | None = None,
    last_execution_state: str | None = None,
    needs_attention: bool | None = None,
    sort: Literal["name", "-name", "updated_at", "-updated_at"] = "-updated_at",
    page: PageNo = 1,
    page_size: PageSize = 20,
) -> schemas.Page[schemas.WorkflowSummary]:
    f = repo.WorkflowFilter(
        name=name,
        status=status,
        publish_status=publish_status,
        last_execution_state=last_execution_state,
        needs_attention=needs_attention,
    )
    return await service.list_workflows(deps, f, sort=sort, page=page, page_size=page_size)


@router.post("/workflows/{workflow_id}/actions/{action}", response_model=schemas.WorkflowDetail)
async def workflow_action(
    workflow_id: int, action: WorkflowAction, deps: DepsDep, actor: ActorDep
) -> schemas.WorkflowDetail:
    """Platform state only (no DolphinScheduler call); 409 ``invalid-transition`` with ``allowed_actions``."""
    return await service.apply_action(deps, workflow_id, action, actor)


@router.get("/workflows/{workflow_id}/versions", response_model=schemas.Page[schemas.VersionSummary])
async def list_versions(
    workflow_id: int, deps: DepsDep, page: PageNo = 1, page_size: PageSize = 20
) -> schemas.Page[schemas.VersionSummary]:
    """Versions, newest first."""
    return await service.list_versions(deps, workflow_id, page=page, page_size=page_size)


@router.get("/workflows/{workflow_id}/versions/{version_no}", response_model=schemas.Version)
async def get_version(workflow_id: int, version_no: int, deps: DepsDep) -> schemas.Version:
    return await service.get_version(deps, workflow_id, version_no)


@router.get("/workflows/{workflow_id}/diff")
async def diff_versions(
    workflow_id: int,
    deps: DepsDep,
    from_no: Annotated[int, Query(alias="from", ge=1)],
    to_no: Annotated[int, Query(alias="to", ge=1)],
) -> dict[str, Any]:
    """The ChangeSummary (``definition.domain.diff``) from version ``from`` to version ``to``."""
    return await service.diff_versions(deps, workflow_id, from_no, to_no)


@router.post("/workflows/{workflow_id}/rollback", response_model=schemas.WorkflowDetail)
async def rollback(
    workflow_id: int, body: schemas.RollbackRequest, deps: DepsDep, actor: ActorDep
) -> schemas.WorkflowDetail:
    return await service.rollback(deps, workflow_id, body, actor)


@router.post("/workflows/{workflow_id}/publish", status_code=202, response_model=schemas.PublishAccepted)
async def publish(
    workflow_id: int, body: schemas.PublishRequest, deps: DepsDep, actor: ActorDep
) -> schemas.PublishAccepted:
    """Emit ``publish.requested`` for the pinned version; 409 ``publish-not-allowed`` with ``allowed_operations``."""
    return await service.request_publish(deps, workflow_id, body.operation, actor)


# --- migrations ---------------------------------------------------------------------------------------------------


@router.post("/migrations/preview")
async def preview_migration(body: schemas.MigrationRequest, deps: DepsDep) -> dict[str, Any]:
    """MigrationPreview: moved tasks and edges, dropped (cross-workflow) and bridged edges, warnings, both resulting
    DAGs, and ``source_version_no``/``target_version_no`` to pass back as the expected versions."""
    return await service.preview_migration(deps, body)


@router.post("/migrations", response_model=schemas.MigrationResult)
async def execute_migration(body: schemas.MigrationExecute, deps: DepsDep, actor: ActorDep) -> schemas.MigrationResult:
    return await service.execute_migration(deps, body, actor)
