"""Task migrations between workflows (preview, then run) — the definition service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from gateway import responses as r
from gateway.auth import acting
from gateway.domain.roles import Role
from gateway.ports import Caller, Json
from gateway.routes.params import PROBLEM_RESPONSES, DepsDep, PassThroughRoute, note
from gateway.schemas import MigrationInput, MigrationPreviewInput

router = APIRouter(prefix="/migrations", tags=["migrations"], responses=PROBLEM_RESPONSES, route_class=PassThroughRoute)

Editor = Annotated[Caller, Depends(acting(Role.EDITOR))]


@router.post("/preview", response_model=r.MigrationPreview)
async def preview_migration(body: MigrationPreviewInput, request: Request, deps: DepsDep, caller: Editor) -> Json:
    note(request, f"preview: task {body.task_id} to workflow {body.target_workflow_id} ({body.mode})")
    return await deps.definition.preview_migration(body.forward(), caller)


@router.post("", response_model=r.MigrationResult)
async def migrate(body: MigrationInput, request: Request, deps: DepsDep, caller: Editor) -> Json:
    note(request, f"task {body.task_id} to workflow {body.target_workflow_id} ({body.mode})")
    return await deps.definition.migrate(body.forward(), caller)
