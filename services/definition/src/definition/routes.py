"""Internal HTTP API (docs/api-contracts.md §1), called by the gateway. Thin: parse, call one use case, answer.

Every call carries a verified identity (``common.identity``, checked by ``common.guard.ServiceGuard`` before the body is
read); a call that changes something needs the role the gateway's route needs, and its verified actor is recorded as
``created_by``/``updated_by``/``operator``. Errors are problem JSON (``common.http``).
"""

from __future__ import annotations

import contextlib
import email.message
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, params
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from common.app import deps_of
from common.bounds import INT4_MAX
from common.errors import ValidationFailed
from common.identity import acting
from common.query import parse_query, query_parameters
from common.roles import Role
from definition import schemas
from definition.db.repository import tasks as task_repo
from definition.db.repository import workflows as workflow_repo
from definition.deps import Deps
from definition.domain.enums import WorkflowAction
from definition.service import migrations, proposals, publishing, tasks, versions, workflows


class _ValidatedJsonRequest(Request):
    """A request whose JSON body is already validated: ``json()`` answers the model."""

    validated: BaseModel | None = None

    async def json(self) -> Any:
        if self.validated is not None:
            return self.validated
        return await super().json()


def _is_json(content_type: str | None) -> bool:
    """FastAPI's test of a JSON body: ``application/json`` or ``application/*+json``."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


class ModelBodyRoute(APIRoute):
    """A route whose pydantic-model body is validated straight from the raw bytes (``model_validate_json``: one pass
    in pydantic-core, instead of ``json.loads`` into Python objects and then validating those; a third less for a
    ~0.4 MB workflow). The validated model is handed to FastAPI's own handler as the parsed body, which takes a model
    instance as it is. A body that does not validate this way goes the standard way, so every error (422 problem
    JSON, 400) is exactly FastAPI's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        bodies = self.dependant.body_params
        info = bodies[0].field_info if len(bodies) == 1 else None
        model = info.annotation if info is not None else None
        if (
            info is None
            or isinstance(info, params.Form)
            or getattr(info, "embed", False)
            or not (isinstance(model, type) and issubclass(model, BaseModel))
        ):
            return handler
        body_model: type[BaseModel] = model

        async def handle(request: Request) -> Response:
            request = _ValidatedJsonRequest(request.scope, request.receive)
            if _is_json(request.headers.get("content-type")):
                raw = await request.body()
                if raw:
                    # a body that fails here is parsed and reported by the standard path below
                    with contextlib.suppress(ValidationError):
                        request.validated = body_model.model_validate_json(raw)
            return await handler(request)

        return handle


router = APIRouter(prefix="/internal", tags=["definition"], route_class=ModelBodyRoute)


def _json_bytes(content: bytes, status_code: int = 200) -> Response:
    """An answer already serialised by the use case (documented by the route's ``response_model``, which FastAPI then
    neither validates nor serialises again)."""
    return Response(content, status_code=status_code, media_type="application/json")


def _deps(request: Request) -> Deps:
    deps: Deps = deps_of(request)
    return deps


async def _deps_dependency(request: Request) -> Deps:
    """``_deps`` as a dependency: async, since FastAPI runs a plain ``def`` dependency in its thread pool (a thread
    hand-off on every request)."""
    return _deps(request)


async def _action_actor(request: Request, action: WorkflowAction) -> str:
    """The verified actor of a workflow action: approve needs ``approver``, online/offline/archive ``publisher`` (as
    the gateway's routes)."""
    return await acting(Role.APPROVER if action is WorkflowAction.APPROVE else Role.PUBLISHER)(request)


_action_actor.required_role = Role.APPROVER  # type: ignore[attr-defined]


def _int_list(value: str | None) -> list[int] | None:
    if value is None:
        return None
    parts = [p.strip() for p in str(value).split(",") if p.strip()]
    try:
        return [int(p) for p in parts]
    except ValueError as exc:
        raise ValidationFailed(f"expected comma-separated integers, got '{value}'") from exc


DepsDep = Annotated[Deps, Depends(_deps_dependency)]
Editor = Annotated[str, Depends(acting(Role.EDITOR))]
Publisher = Annotated[str, Depends(acting(Role.PUBLISHER))]
ActionActor = Annotated[str, Depends(_action_actor)]
PageNo = Annotated[int, Query(ge=1, le=INT4_MAX)]
PageSize = Annotated[int, Query(ge=1, le=200)]


# --- tasks --------------------------------------------------------------------------------------------------------


@router.post("/tasks", status_code=201, response_model=schemas.TaskDetail)
async def create_task(body: schemas.TaskInput, deps: DepsDep, actor: Editor) -> schemas.TaskDetail:
    return await tasks.create_task(deps, body, actor)


@router.put("/tasks/{task_id}", response_model=schemas.Task)
async def update_task(task_id: int, body: schemas.TaskUpdate, deps: DepsDep, actor: Editor) -> schemas.Task:
    """Update a task (``expected_revision``: 409 ``stale-version`` when stale). A task inside a workflow gives that
    workflow a new version (trigger ``task_change``)."""
    return await tasks.update_task(deps, task_id, body, actor)


@router.delete("/tasks/{task_id}", status_code=204)
async def delete_task(task_id: int, deps: DepsDep, actor: Editor) -> Response:
    """Delete a task in no workflow (409 ``task-in-use`` names its workflow); lineage forgets it."""
    await tasks.delete_task(deps, task_id, actor)
    return Response(status_code=204)


@router.put("/tasks/{task_id}/openlineage-job", response_model=schemas.Task)
async def put_task_job(task_id: int, body: schemas.OpenLineageJob, deps: DepsDep, actor: Editor) -> schemas.Task:
    """Set only the task's OpenLineage job identity (409 ``openlineage-job-taken`` names the task that has it);
    lineage-resolver learns of it through the outbox and applies the job's pending lineage."""
    return await tasks.set_task_job(deps, task_id, body, actor)


@router.delete("/tasks/{task_id}/openlineage-job", status_code=204)
async def delete_task_job(task_id: int, deps: DepsDep, actor: Editor) -> Response:
    await tasks.set_task_job(deps, task_id, None, actor)
    return Response(status_code=204)


@router.get("/tasks/{task_id}", response_model=schemas.TaskDetail)
async def get_task(task_id: int, deps: DepsDep) -> schemas.TaskDetail:
    return await tasks.get_task(deps, task_id)


@router.get(
    "/tasks",
    response_model=schemas.Page[schemas.TaskListItem],
    openapi_extra=query_parameters(schemas.TaskListQuery),
)
async def list_tasks(request: Request) -> Response:
    """Tasks by id with their workflow, its DolphinScheduler codes and the dependency counts; the dependency filters
    read the projection of ``task.dependency.changed``. The answer is built by the database in the shape of
    ``response_model`` (tests hold it to the model). The query is one model (``common.query``): this is the
    gateway's busiest call."""
    q = parse_query(schemas.TaskListQuery, request)
    f = task_repo.TaskFilter(
        ids=_int_list(q.ids),
        workflow_id=q.workflow_id,
        unassigned=q.unassigned,
        name=q.name,
        task_type=q.task_type,
        upstream_task_id=q.upstream_task_id,
        downstream_task_id=q.downstream_task_id,
    )
    document = await tasks.list_tasks(_deps(request), f, page=q.page, page_size=q.page_size)
    return Response(document, media_type="application/json")


@router.get("/task-owners", response_model=schemas.TaskOwners)
async def task_owners(
    deps: DepsDep, task_ids: Annotated[str, Query(description="comma-separated task ids")]
) -> schemas.TaskOwners:
    ids = _int_list(task_ids) or []
    if len(ids) > 1000:
        raise ValidationFailed("at most 1000 task ids per request")
    return await tasks.task_owners(deps, ids)


# --- workflows ----------------------------------------------------------------------------------------------------


@router.post("/workflows", status_code=201, response_model=schemas.WorkflowDetail)
async def create_workflow(body: schemas.WorkflowInput, deps: DepsDep, actor: Editor) -> Response:
    return _json_bytes(await workflows.create_workflow(deps, body, actor), 201)


@router.put("/workflows/{workflow_id}", response_model=schemas.WorkflowDetail)
async def update_workflow(workflow_id: int, body: schemas.WorkflowUpdate, deps: DepsDep, actor: Editor) -> Response:
    """Replace the workflow's definition. 409 ``stale-version`` when ``expected_version_no`` is not current. No
    structural change → 200 with the version unchanged (no new version)."""
    return _json_bytes(await workflows.update_workflow(deps, workflow_id, body, actor))


@router.delete("/workflows/{workflow_id}", status_code=204)
async def delete_workflow(
    workflow_id: int,
    deps: DepsDep,
    actor: Editor,
    expected_version_no: Annotated[int | None, Query(ge=0, le=INT4_MAX)] = None,
) -> Response:
    """Delete a workflow never published (its tasks are free again); 409 ``workflow-published`` when it was: archive
    it instead (``actions/archive``), which keeps its history."""
    await workflows.delete_workflow(deps, workflow_id, actor, expected_version_no=expected_version_no)
    return Response(status_code=204)


@router.get("/workflows/{workflow_id}", response_model=schemas.WorkflowDetail)
async def get_workflow(workflow_id: int, deps: DepsDep) -> Response:
    return _json_bytes(await workflows.get_workflow(deps, workflow_id))


@router.get(
    "/workflows",
    response_model=schemas.Page[schemas.WorkflowListItem],
    openapi_extra=query_parameters(schemas.WorkflowListQuery),
)
async def list_workflows(request: Request) -> Response:
    """Workflows with their newest ≤ 10 executions (the projection of ``execution.synced``); ``total`` is exact
    (unfiltered: the counter the ``data_workflow`` triggers keep). The answer is built by the database in the
    shape of ``response_model`` (tests hold it to the model). The query is one model (``common.query``)."""
    q = parse_query(schemas.WorkflowListQuery, request)
    f = workflow_repo.WorkflowFilter(
        name=q.name,
        status=q.status,
        publish_status=q.publish_status,
        last_execution_state=q.last_execution_state,
        needs_attention=q.needs_attention,
    )
    document = await workflows.list_workflows(_deps(request), f, sort=q.sort, page=q.page, page_size=q.page_size)
    return Response(document, media_type="application/json")


@router.get("/workflow-states", response_model=schemas.WorkflowLifecycles)
async def workflow_states(
    deps: DepsDep, ids: Annotated[str, Query(description="comma-separated workflow ids")]
) -> schemas.WorkflowLifecycles:
    """Platform status and what is known of DolphinScheduler's state, per workflow (unknown ids are left out)."""
    workflow_ids = _int_list(ids) or []
    if len(workflow_ids) > 1000:
        raise ValidationFailed("at most 1000 workflow ids per request")
    return await workflows.workflow_states(deps, workflow_ids)


@router.post("/workflows/{workflow_id}/actions/{action}", response_model=schemas.WorkflowDetail)
async def workflow_action(
    workflow_id: int,
    action: WorkflowAction,
    deps: DepsDep,
    actor: ActionActor,
    body: schemas.ActionRequest | None = None,
) -> schemas.WorkflowDetail:
    """Platform state only (no DolphinScheduler call); 409 ``invalid-transition`` with ``allowed_actions``.
    ``approve`` needs ``version_no``, the version reviewed (409 ``stale-version`` when another is current)."""
    version_no = body.version_no if body is not None else None
    return await workflows.apply_action(deps, workflow_id, action, actor, version_no=version_no)


@router.get("/workflows/{workflow_id}/versions", response_model=schemas.Page[schemas.VersionSummary])
async def list_versions(
    workflow_id: int, deps: DepsDep, page: PageNo = 1, page_size: PageSize = 20
) -> schemas.Page[schemas.VersionSummary]:
    """Versions, newest first."""
    return await versions.list_versions(deps, workflow_id, page=page, page_size=page_size)


@router.get("/workflows/{workflow_id}/versions/{version_no}", response_model=schemas.Version)
async def get_version(workflow_id: int, version_no: int, deps: DepsDep) -> schemas.Version:
    return await versions.get_version(deps, workflow_id, version_no)


@router.get("/workflows/{workflow_id}/diff")
async def diff_versions(
    workflow_id: int,
    deps: DepsDep,
    from_no: Annotated[int, Query(alias="from", ge=1, le=INT4_MAX)],
    to_no: Annotated[int, Query(alias="to", ge=1, le=INT4_MAX)],
) -> dict[str, Any]:
    """The ChangeSummary (``definition.domain.diff``) from version ``from`` to version ``to``."""
    return await versions.diff_versions(deps, workflow_id, from_no, to_no)


@router.post("/workflows/{workflow_id}/rollback", response_model=schemas.RollbackResult)
async def rollback(
    workflow_id: int, body: schemas.RollbackRequest, deps: DepsDep, actor: Editor
) -> schemas.RollbackResult:
    return await versions.rollback(deps, workflow_id, body, actor)


@router.post("/workflows/{workflow_id}/publish", status_code=202, response_model=schemas.PublishAccepted)
async def publish(
    workflow_id: int, body: schemas.PublishRequest, deps: DepsDep, actor: Publisher
) -> schemas.PublishAccepted:
    """Emit ``publish.requested`` for the pinned version; 409 ``publish-not-allowed`` with ``allowed_operations``."""
    return await publishing.request_publish(deps, workflow_id, body.operation, actor)


# --- migrations ---------------------------------------------------------------------------------------------------


@router.post("/migrations/preview")
async def preview_migration(body: schemas.MigrationRequest, deps: DepsDep, _actor: Editor) -> dict[str, Any]:
    """MigrationPreview: moved tasks and edges, dropped (cross-workflow) and bridged edges, warnings, both resulting
    DAGs, and ``source_version_no``/``target_version_no`` to pass back as the expected versions."""
    return await migrations.preview_migration(deps, body)


@router.post("/migrations", response_model=schemas.MigrationResult)
async def execute_migration(body: schemas.MigrationExecute, deps: DepsDep, actor: Editor) -> schemas.MigrationResult:
    return await migrations.execute_migration(deps, body, actor)


# --- auto-orchestration proposals (issue 20) ----------------------------------------------------------------------

Admin = Annotated[str, Depends(acting(Role.ADMIN))]


@router.get("/proposals", response_model=schemas.Page[schemas.ProposalSummary])
async def list_proposals(
    deps: DepsDep, page: PageNo = 1, page_size: PageSize = 50, include_dismissed: bool = False
) -> schemas.Page[schemas.ProposalSummary]:
    """Proposed workflows for the tasks in none, the largest first; every such task is in exactly one."""
    return await proposals.list_proposals(deps, include_dismissed=include_dismissed, page=page, page_size=page_size)


@router.post("/proposals/rebuild", response_model=schemas.ProposalRebuild)
async def rebuild_proposals(deps: DepsDep, _actor: Admin) -> schemas.ProposalRebuild:
    """Compute every proposal from scratch (they are kept current incrementally; this is for a repair, or after the
    migration that added them)."""
    return await proposals.rebuild_proposals(deps)


@router.get("/proposals/{proposal_id}/preview")
async def preview_proposal(proposal_id: int, deps: DepsDep) -> dict[str, Any]:
    """What accepting writes, in the shape of a migration preview: ``moved_task_ids``/``moved_edges``, the
    resulting DAG as ``target_after`` (with its DEPENDENT links), ``warnings``, ``target_version_no`` to pass back
    as ``expected_version_no``, and the ``reasons`` (component size, split, cut dependencies)."""
    return await proposals.preview_proposal(deps, proposal_id)


@router.post("/proposals/{proposal_id}/accept", status_code=201, response_model=schemas.ProposalAccepted)
async def accept_proposal(
    proposal_id: int, deps: DepsDep, actor: Editor, body: schemas.ProposalAccept | None = None
) -> schemas.ProposalAccepted:
    """A draft workflow (or a new version of the workflow a task is added to), ``trigger_source``
    ``auto_orchestration``; 409 ``proposal-not-acceptable`` for a proposal holding a lineage cycle."""
    return await proposals.accept_proposal(deps, proposal_id, body or schemas.ProposalAccept(), actor)


@router.post("/proposals/{proposal_id}/dismiss", response_model=schemas.ProposalSummary)
async def dismiss_proposal(proposal_id: int, deps: DepsDep, actor: Editor) -> schemas.ProposalSummary:
    return await proposals.dismiss_proposal(deps, proposal_id, actor)
