"""Lineage from other systems (``POST /api/v1/lineage``: the OpenLineage HTTP transport's endpoint, and native
lineage commands; a ``lineage`` key may call it and nothing else) and the OpenLineage job ↔ task mapping: a task's
job identity, pattern rules, the recently seen jobs no rule maps. The identity is part of the task (definition's:
set here, or with the task's create and edit bodies); the rest is the lineage-resolver's, which learns of every
identity change from definition's outbox (docs/decisions/0102-openlineage-job-identity.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from common.errors import NotFound
from gateway.auth import acting
from gateway.domain.roles import Role
from gateway.lineage_events import LINEAGE_BODY_SCHEMA, JobPatternIn, classify, decode_body
from gateway.ports import Caller, Json
from gateway.responses import openlineage as r
from gateway.routes.params import PROBLEM_RESPONSES, DepsDep, IdPath, PassThroughRoute, note
from gateway.schemas import OpenLineageJobInput

router = APIRouter(tags=["lineage"], responses=PROBLEM_RESPONSES, route_class=PassThroughRoute)

Viewer = Annotated[Caller, Depends(acting(Role.VIEWER))]
Editor = Annotated[Caller, Depends(acting(Role.EDITOR))]
LineageSender = Annotated[Caller, Depends(acting(Role.LINEAGE))]

_INTAKE_RESPONSES: dict[int | str, dict[str, object]] = {
    413: {"description": "The body (or its gzip-decompressed form) is over the size limit (problem JSON)"},
    415: {"description": "A Content-Encoding other than identity or gzip (problem JSON)"},
}


@router.post(
    "/lineage",
    response_model=r.LineageAccepted,
    openapi_extra=LINEAGE_BODY_SCHEMA,
    responses=_INTAKE_RESPONSES,
)
async def post_lineage(request: Request, deps: DepsDep, caller: LineageSender) -> Json:
    """An OpenLineage ``RunEvent`` as the OpenLineage HTTP transport sends it (point an integration at the platform's
    URL with a ``lineage`` API key), or a native lineage command. A COMPLETE run replaces its task's read and write
    tables; a job no rule maps is kept with its datasets (``status: unmapped``) until it is mapped
    (``PUT /tasks/{id}/openlineage-job`` or a pattern rule), then its lineage is applied."""
    body = decode_body(
        await request.body(), request.headers.get("content-encoding"), max_bytes=deps.settings.max_body_bytes
    )
    kind = classify(body)
    if kind == "static":
        note(request, "lineage static event ignored")
        return {
            "event_id": "",
            "status": "ignored",
            "kind": "openlineage",
            "reason": "a DatasetEvent or JobEvent carries no run: only RunEvents update task lineage",
            "task_id": None,
            "job_namespace": None,
            "job_name": None,
            "changed_tasks": [],
        }
    note(request, f"lineage {kind}")
    return await deps.lineage.post_event(body, caller)


def _identity(task: Json) -> Json:
    job = task.get("openlineage_job")
    if not job:
        raise NotFound(f"task {task['id']} has no OpenLineage job identity", task_id=task["id"])
    return {
        "task_id": task["id"],
        "namespace": job["namespace"],
        "name": job["name"],
        "task_revision": task["revision"],
    }


@router.get("/tasks/{task_id}/openlineage-job", response_model=r.OpenLineageJobIdentity)
async def get_task_job(task_id: IdPath, deps: DepsDep, caller: Viewer) -> Json:
    """The OpenLineage job (namespace + name) the task is known as to the integrations that send its lineage (also
    the task's ``openlineage_job``)."""
    return _identity(await deps.definition.get_task(task_id, caller))


@router.put("/tasks/{task_id}/openlineage-job", response_model=r.OpenLineageJobIdentity)
async def put_task_job(
    task_id: IdPath, body: OpenLineageJobInput, request: Request, deps: DepsDep, caller: Editor
) -> Json:
    """Set only the task's OpenLineage job identity (replacing its previous one; 409 ``openlineage-job-taken`` names
    the task that has this job). It is recorded with the task; the lineage the job sent while it was unmapped is
    applied by the lineage service moments later (and the job leaves the unmapped jobs)."""
    note(request, f"openlineage job of task {task_id}")
    return _identity(await deps.definition.put_task_job(task_id, body.forward(), caller))


@router.delete("/tasks/{task_id}/openlineage-job", status_code=204)
async def delete_task_job(task_id: IdPath, request: Request, deps: DepsDep, caller: Editor) -> Response:
    note(request, f"openlineage job of task {task_id} removed")
    await deps.definition.delete_task_job(task_id, caller)
    return Response(status_code=204)


@router.get("/openlineage/patterns", response_model=r.OpenLineageJobPatternPage)
async def list_patterns(deps: DepsDep, caller: Viewer) -> Json:
    """The pattern rules, in the order they are tried (after the tasks' own job identities)."""
    return await deps.lineage.list_patterns(caller)


@router.post("/openlineage/patterns", status_code=201, response_model=r.OpenLineageJobPatternSet)
async def create_pattern(body: JobPatternIn, request: Request, deps: DepsDep, caller: Editor) -> Json:
    """A new rule (409 when the same rule exists); the unmapped jobs it maps have their lineage applied."""
    note(request, "openlineage pattern created")
    return await deps.lineage.create_pattern(body.model_dump(), caller)


@router.put("/openlineage/patterns/{pattern_id}", response_model=r.OpenLineageJobPatternSet)
async def update_pattern(
    pattern_id: IdPath, body: JobPatternIn, request: Request, deps: DepsDep, caller: Editor
) -> Json:
    note(request, f"openlineage pattern {pattern_id} updated")
    return await deps.lineage.update_pattern(pattern_id, body.model_dump(), caller)


@router.delete("/openlineage/patterns/{pattern_id}", status_code=204)
async def delete_pattern(pattern_id: IdPath, request: Request, deps: DepsDep, caller: Editor) -> Response:
    note(request, f"openlineage pattern {pattern_id} deleted")
    await deps.lineage.delete_pattern(pattern_id, caller)
    return Response(status_code=204)


@router.get("/openlineage/unmapped-jobs", response_model=r.UnmappedJobPage)
async def list_unmapped_jobs(
    deps: DepsDep,
    caller: Viewer,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    q: Annotated[str | None, Query(max_length=200, description="part of the job namespace or name")] = None,
) -> Json:
    """Recently seen OpenLineage jobs no rule maps to a task (the most recently seen first), with the datasets of
    their latest run: map one with ``PUT /tasks/{id}/openlineage-job`` and its lineage is applied."""
    return await deps.lineage.unmapped_jobs({"limit": limit, "q": q}, caller)
